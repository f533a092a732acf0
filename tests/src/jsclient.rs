//! whatsapp-api-js, a JavaScript WhatsApp Cloud API client from npm, for tests of
//! scrm's drop-in Cloud API endpoint: [`run`] installs `tests/js-client/` into
//! `target/js-client` once (`npm ci` from the committed lock file; see
//! [`crate::proc::npm_project`]) and runs one of its scripts with Node.js, reading
//! the JSON it prints.

use crate::proc::root;
use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::OnceLock;

/// `target/js-client`, installed if missing or out of date.
///
/// # Errors
/// When npm is missing or `npm ci` fails.
pub fn install() -> Result<PathBuf> {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = root().map_err(|e| format!("{e:#}"))?;
        crate::proc::npm_project(
            &root.join("tests/js-client"),
            &root.join("target/js-client"),
            "node_modules/whatsapp-api-js/package.json",
        )
        .map_err(|e| format!("{e:#}"))
    })
    .clone()
    .map_err(anyhow::Error::msg)
}

/// Runs `tests/js-client/{script}` with `args` (from the installed project, so its
/// imports resolve) without blocking the test's runtime; the JSON it printed.
///
/// # Errors
/// When the install fails, the script exits non-zero or prints no JSON.
pub async fn run(script: &str, args: &[&str]) -> Result<Value> {
    let dir = tokio::task::spawn_blocking(install).await??;
    let source = root()?.join("tests/js-client").join(script);
    let copy = dir.join(script);
    std::fs::copy(&source, &copy).with_context(|| format!("copy {}", source.display()))?;
    let out = tokio::process::Command::new("node")
        .arg(&copy)
        .args(args)
        .current_dir(&dir)
        .output()
        .await
        .with_context(|| format!("run {}", copy.display()))?;
    if !out.status.success() {
        bail!(
            "{} failed ({}): {}",
            source.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    serde_json::from_slice(&out.stdout).with_context(|| {
        format!(
            "{} printed no JSON: {}",
            source.display(),
            String::from_utf8_lossy(&out.stdout)
        )
    })
}
