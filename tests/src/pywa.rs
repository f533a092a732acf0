//! pywa, the Python WhatsApp Cloud API client from PyPI, for tests of scrm's
//! drop-in Cloud API endpoint: [`install`] makes `target/pywa-venv` from
//! `tests/pywa/requirements.txt` once per machine (≈ 5 s; see
//! [`crate::proc::venv`]), and [`run`] runs one of the scripts in `tests/pywa/`
//! with it, reading the JSON the script prints.

use crate::proc::root;
use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::OnceLock;

/// The venv with pywa, made if missing or out of date.
///
/// # Errors
/// When the venv cannot be made or pip fails.
pub fn install() -> Result<PathBuf> {
    static VENV: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    VENV.get_or_init(|| {
        let root = root().map_err(|e| format!("{e:#}"))?;
        crate::proc::venv(
            &root.join("tests/pywa/requirements.txt"),
            &root.join("target/pywa-venv"),
            "bin/python",
        )
        .map_err(|e| format!("{e:#}"))
    })
    .clone()
    .map_err(anyhow::Error::msg)
}

/// Runs `tests/pywa/{script}` with `args` under the venv's Python (without
/// blocking the test's runtime); the JSON it printed.
///
/// # Errors
/// When the install fails, the script exits non-zero or prints no JSON.
pub async fn run(script: &str, args: &[&str]) -> Result<Value> {
    let venv = tokio::task::spawn_blocking(install).await??;
    let script = root()?.join("tests/pywa").join(script);
    let out = tokio::process::Command::new(venv.join("bin/python"))
        .arg(&script)
        .args(args)
        .output()
        .await
        .with_context(|| format!("run {}", script.display()))?;
    if !out.status.success() {
        bail!(
            "{} failed ({}): {}",
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    serde_json::from_slice(&out.stdout).with_context(|| {
        format!(
            "{} printed no JSON: {}",
            script.display(),
            String::from_utf8_lossy(&out.stdout)
        )
    })
}
