//! Hosts as separate `scrm serve` processes — several on one PostgreSQL database, or
//! one on an SQLite data directory — that a test can kill with SIGKILL and restart.
//! Each is driven over HTTP through a [`Host`] view ([`HostProcess::host`]).
//!
//! The `scrm` binary is the one cargo built next to the test (`target/debug/scrm`,
//! or `target/release/scrm` for benchmarks). `cargo test --workspace` builds it; a
//! run of this crate alone needs `cargo build -p scrm --bin scrm` first (a nested
//! cargo would wait forever on the outer one's lock).

use crate::proc::{Supervised, free_port};
use crate::{Host, TOKEN};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `f` on a thread outside tokio: the synchronous PostgreSQL driver (a test's
/// own queries, `scrm_store::testing`) blocks on a runtime of its own, which tokio
/// forbids inside its runtime.
pub fn off_runtime<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    std::thread::scope(|s| s.spawn(f).join().expect("the blocking call panicked"))
}

/// The `scrm` binary of this build.
///
/// # Errors
/// When it is missing (with the command that builds it).
pub fn scrm_binary() -> Result<PathBuf> {
    // Test and bench binaries live in <target>/<profile>/deps.
    let exe = std::env::current_exe().context("current exe")?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .context("the test binary's target directory")?;
    let bin = profile_dir.join("scrm");
    if !bin.exists() {
        let release = if profile_dir.ends_with("release") {
            " --release"
        } else {
            ""
        };
        bail!(
            "{} is missing: build it first with `cargo build{release} -p scrm --bin scrm`",
            bin.display()
        );
    }
    let older = |p: &Path| p.metadata().and_then(|m| m.modified()).ok();
    if older(&bin) < older(&exe) {
        eprintln!(
            "note: {} is older than this test binary; `cargo build -p scrm --bin scrm` if it is stale",
            bin.display()
        );
    }
    Ok(bin)
}

/// The secrets key every host of a fleet is given (32 bytes, base64), as an
/// operator gives every host the same `SCRM_SECRETS_KEY`.
pub const FLEET_SECRETS_KEY: &str = "c2NybS10ZXN0LWZsZWV0LXNlY3JldHMta2V5LTMyYiE=";

/// One `scrm serve` process.
#[derive(Debug)]
pub struct HostProcess {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Its data directory.
    pub data_dir: PathBuf,
    database_url: Option<String>,
    graph_url: String,
    port: u16,
    process: Option<Supervised>,
}

impl HostProcess {
    /// Starts `scrm serve` on a free port with `data_dir`, on `database_url` (else
    /// SQLite in the data directory), sending to the Cloud API at `graph_url`, and
    /// waits until it answers.
    ///
    /// # Errors
    /// When it cannot be started or does not answer within 60 s.
    pub async fn start(
        data_dir: &Path,
        database_url: Option<&str>,
        graph_url: &str,
    ) -> Result<HostProcess> {
        let mut p = HostProcess {
            base: String::new(),
            data_dir: data_dir.to_path_buf(),
            database_url: database_url.map(str::to_string),
            graph_url: graph_url.to_string(),
            port: 0,
            process: None,
        };
        p.spawn().await?;
        Ok(p)
    }

    async fn spawn(&mut self) -> Result<()> {
        let bin = scrm_binary()?;
        self.port = free_port()?;
        self.base = format!("http://127.0.0.1:{}", self.port);
        let mut cmd = Command::new(bin);
        cmd.arg("serve")
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--graph-url")
            .arg(&self.graph_url)
            .env("SCRM_ADMIN_TOKEN", TOKEN)
            // Hosts sharing a database share the key its secrets are sealed with.
            .env("SCRM_SECRETS_KEY", FLEET_SECRETS_KEY)
            .env(
                "SCRM_COMPILE_CACHE_DIR",
                crate::repo_root().join("target/compile-cache"),
            )
            .env("SCRM_LOG", "warn")
            .env_remove("SCRM_DATABASE_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        if let Some(url) = &self.database_url {
            cmd.arg("--database-url").arg(url);
        }
        let child = cmd.spawn().context("start scrm serve")?;
        let mut process = Supervised::watch(child, "scrm")?;
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = http.get(format!("{}/healthz", self.base)).send().await
                && r.status().is_success()
            {
                break;
            }
            if let Some(status) = process.child().try_wait()? {
                bail!("scrm serve exited before answering: {status}");
            }
            if Instant::now() > deadline {
                bail!("scrm serve did not answer on {} within 60 s", self.base);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.process = Some(process);
        Ok(())
    }

    /// The running process's id.
    pub fn pid(&mut self) -> Option<u32> {
        self.process.as_mut().map(|p| p.child().id())
    }

    /// An HTTP view of this host, with the operator token.
    pub fn host(&self) -> Host {
        Host::remote(&self.base, &self.data_dir)
    }

    /// Kills the process with SIGKILL, mid-whatever it was doing.
    pub fn kill(&mut self) {
        if let Some(mut p) = self.process.take() {
            let _ = p.child().kill();
            p.stop();
        }
    }

    /// Starts it again on the same data directory and database (a new port).
    ///
    /// # Errors
    /// As [`HostProcess::start`].
    pub async fn restart(&mut self) -> Result<()> {
        self.kill();
        self.spawn().await
    }
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
