//! This running host: its name on the claims and leases it takes in a shared
//! database, and its hold on an SQLite data directory (which one process at a time
//! may use).

use anyhow::Context;
use rand::RngCore;
use std::io::{Read, Seek, Write};
use std::path::Path;

/// A name for a running host: the machine's host name, the process id and a random
/// part (a restart is a new host: its predecessor's claims expire with their leases).
pub fn new_host_id() -> String {
    let machine = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "host".into());
    format!(
        "{machine}:{}:{:08x}",
        std::process::id(),
        rand::rng().next_u32()
    )
}

/// Takes the data directory's lock file (`scrm.lock`, holding the holder's pid) for
/// as long as the returned file lives. `Ok(Err(pid))` when another process holds it.
///
/// # Errors
/// When the lock file cannot be opened or locked for another reason.
pub fn lock_data_dir(dir: &Path) -> anyhow::Result<Result<std::fs::File, String>> {
    let path = dir.join("scrm.lock");
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("cannot open lock file {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {
            file.set_len(0)?;
            file.seek(std::io::SeekFrom::Start(0))?;
            write!(file, "{}", std::process::id())?;
            file.flush()?;
            Ok(Ok(file))
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            Ok(Err(holder.trim().to_string()))
        }
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}
