//! The external programs the harness installs and runs ([`crate::prism`]'s Prism,
//! [`crate::tryton`]'s trytond): a file lock that makes test binaries take turns on
//! a one-time install, running a command to completion, a free loopback port, and a
//! server process that cannot outlive the test process.
//!
//! ```no_run
//! # fn demo() -> anyhow::Result<()> {
//! use scrm_e2e::proc::{Supervised, free_port, lock, root, run};
//! use std::process::Command;
//! let root = root()?;
//! {
//!     let _turn = lock(&root.join("target/demo.lock"))?; // one installer at a time
//!     run(Command::new("python3").args(["-m", "venv"]).arg(root.join("target/demo")))?;
//! }
//! let port = free_port()?;
//! let child = Command::new(root.join("target/demo/bin/python"))
//!     .args(["-m", "http.server", &port.to_string()])
//!     .spawn()?;
//! let server = Supervised::watch(child, "demo")?;
//! drop(server); // killed, and reaped
//! # Ok(())
//! # }
//! ```

use crate::repo_root;
use anyhow::{Context, Result, bail};
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

/// The repository root without `..` parts.
///
/// # Errors
/// When the root cannot be resolved.
pub fn root() -> Result<PathBuf> {
    let root = repo_root();
    root.canonicalize()
        .with_context(|| format!("resolve {}", root.display()))
}

/// Takes the exclusive lock on `path` (created, with its directory, if missing)
/// until the file is dropped.
///
/// # Errors
/// When the directory or the file cannot be created, or the lock not taken.
pub fn lock(path: &Path) -> Result<File> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("create {}", parent.display()))?;
    }
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .with_context(|| format!("open {}", path.display()))?;
    file.lock()
        .with_context(|| format!("lock {}", path.display()))?;
    Ok(file)
}

/// Runs `cmd` with no stdin until it exits; its stdout.
///
/// # Errors
/// When `cmd` cannot be started, or exits unsuccessfully (the message holds its
/// stderr and stdout).
pub fn run(cmd: &mut Command) -> Result<Vec<u8>> {
    let shown = format!("{cmd:?}");
    let output = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {shown}"))?;
    if !output.status.success() {
        bail!(
            "{shown} failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr),
            String::from_utf8_lossy(&output.stdout)
        );
    }
    Ok(output.stdout)
}

/// The npm project `source` (its `package.json` and committed `package-lock.json`)
/// installed with `npm ci` into `dir`, once: it is kept while
/// `dir/installed-package-lock.json` equals the lock file and `dir/{probe}` exists.
/// Test binaries that start at once take turns on `dir/install.lock`.
///
/// # Errors
/// When npm is missing or `npm ci` fails (the message holds npm's output).
pub fn npm_project(source: &Path, dir: &Path, probe: &str) -> Result<PathBuf> {
    let lock = lock(&dir.join("install.lock"))?;
    let wanted = std::fs::read(source.join("package-lock.json"))
        .with_context(|| format!("read {}/package-lock.json", source.display()))?;
    let stamp = dir.join("installed-package-lock.json");
    if dir.join(probe).exists() && std::fs::read(&stamp).is_ok_and(|s| s == wanted) {
        return Ok(dir.to_path_buf());
    }
    let _ = std::fs::remove_file(&stamp);
    for file in ["package.json", "package-lock.json"] {
        std::fs::copy(source.join(file), dir.join(file))
            .with_context(|| format!("copy {file} to {}", dir.display()))?;
    }
    let started = std::time::Instant::now();
    run(Command::new("npm").current_dir(dir).args([
        "ci",
        "--no-audit",
        "--no-fund",
        "--prefer-offline",
    ]))
    .with_context(|| format!("npm ci in {}", dir.display()))?;
    std::fs::write(&stamp, &wanted).with_context(|| format!("write {}", stamp.display()))?;
    eprintln!(
        "installed {} into {} in {:.1} s",
        source.display(),
        dir.display(),
        started.elapsed().as_secs_f64()
    );
    drop(lock);
    Ok(dir.to_path_buf())
}

/// A Python virtual environment at `venv` holding exactly `requirements` (pip,
/// from PyPI), made once: it is kept while `venv/scrm-requirements.txt` equals the
/// file and `venv/{probe}` exists. Test binaries that start at once take turns on
/// `{venv}.lock`, and the later ones find the install done.
///
/// # Errors
/// When `python3 -m venv` or `pip install` fails (the message holds their output).
pub fn venv(requirements: &Path, venv: &Path, probe: &str) -> Result<PathBuf> {
    let _lock = lock(&venv.with_extension("lock"))?;
    let wanted =
        std::fs::read(requirements).with_context(|| format!("read {}", requirements.display()))?;
    let stamp = venv.join("scrm-requirements.txt");
    if venv.join(probe).exists() && std::fs::read(&stamp).is_ok_and(|s| s == wanted) {
        return Ok(venv.to_path_buf());
    }
    let started = std::time::Instant::now();
    run(Command::new("python3")
        .args(["-m", "venv", "--clear"])
        .arg(venv))
    .with_context(|| {
        format!(
            "create {} (is python3 with the venv module installed?)",
            venv.display()
        )
    })?;
    run(Command::new(venv.join("bin/pip"))
        .args([
            "install",
            "--disable-pip-version-check",
            "--no-input",
            "--quiet",
            "-r",
        ])
        .arg(requirements))
    .with_context(|| format!("pip install -r {}", requirements.display()))?;
    std::fs::write(&stamp, &wanted).with_context(|| format!("write {}", stamp.display()))?;
    eprintln!(
        "installed {} into {} in {:.1} s",
        requirements.display(),
        venv.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(venv.to_path_buf())
}

/// A loopback port that was free a moment ago; another process may take it before
/// the caller's server binds it (see [`retry_while_port_taken`]).
///
/// # Errors
/// When no port can be bound.
pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .context("find a free port")?
        .port())
}

/// Calls `start` up to three times while it fails with an error that mentions
/// `in_use`: the server's words for a port another process took between
/// [`free_port`] and its bind.
///
/// # Errors
/// `start`'s error: any other one at once, or the third port clash.
pub fn retry_while_port_taken<T>(in_use: &str, mut start: impl FnMut() -> Result<T>) -> Result<T> {
    let mut attempt = 1;
    loop {
        match start() {
            Err(e) if attempt < 3 && format!("{e:#}").contains(in_use) => attempt += 1,
            result => return result,
        }
    }
}

/// A server process, killed when dropped or [`stop`](Supervised::stop)ped, and by a
/// watchdog when the test process exits without dropping it (statics are never
/// dropped).
#[derive(Debug)]
pub struct Supervised {
    child: Child,
    watchdog: Option<(Child, ChildStdin)>,
}

impl Supervised {
    /// Starts a watchdog (`sh`, shown as `{name}-watchdog`) that kills `child` when
    /// the watchdog's stdin closes.
    ///
    /// # Errors
    /// When `sh` cannot be started.
    pub fn watch(child: Child, name: &str) -> Result<Supervised> {
        let mut watchdog = Command::new("sh")
            .arg("-c")
            .arg("read _ignored; kill \"$1\" 2>/dev/null")
            .arg(format!("{name}-watchdog"))
            .arg(child.id().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("start the {name} watchdog (sh)"))?;
        let stdin = watchdog.stdin.take().context("watchdog stdin")?;
        Ok(Supervised {
            child,
            watchdog: Some((watchdog, stdin)),
        })
    }

    /// The server process.
    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Kills the server and reaps it; a no-op the second time.
    pub fn stop(&mut self) {
        // Closing the watchdog's stdin makes it kill the server; the server is not
        // reaped before that, so its pid cannot have been reused.
        if let Some((mut watchdog, stdin)) = self.watchdog.take() {
            drop(stdin);
            let _ = watchdog.wait();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_clash_is_retried_twice_then_returned() {
        let mut calls = 0;
        let r: Result<()> = retry_while_port_taken("EADDRINUSE", || {
            calls += 1;
            bail!("listen EADDRINUSE 127.0.0.1:{calls}")
        });
        assert_eq!(calls, 3);
        assert!(format!("{:#}", r.unwrap_err()).ends_with(":3"));

        let mut calls = 0;
        let r = retry_while_port_taken("EADDRINUSE", || {
            calls += 1;
            if calls < 2 {
                bail!("EADDRINUSE")
            } else {
                Ok(calls)
            }
        });
        assert_eq!(r.unwrap(), 2);
    }

    #[test]
    fn other_failures_are_not_retried() {
        let mut calls = 0;
        let r: Result<()> = retry_while_port_taken("EADDRINUSE", || {
            calls += 1;
            bail!("spec not found")
        });
        assert!(r.is_err());
        assert_eq!(calls, 1);
    }

    #[test]
    fn a_failed_command_reports_its_output() {
        let e = run(Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"])).unwrap_err();
        let text = format!("{e:#}");
        assert!(text.contains("failed (exit status: 3)"), "{text}");
        assert!(text.ends_with("err\nout\n"), "{text}");
        assert_eq!(
            run(Command::new("sh").args(["-c", "echo hi"])).unwrap(),
            b"hi\n"
        );
    }
}
