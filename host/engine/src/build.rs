//! Building Rust plugin crates into components: `cargo build --target wasm32-wasip2`,
//! installing the target with rustup when it is missing. Used by `scrm plugin build`
//! and by the test suites, which build every plugin from source.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The target plugins are built for.
pub const TARGET: &str = "wasm32-wasip2";

/// Why a plugin could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// cargo or rustup could not be run.
    #[error("cannot run {tool}: {source}")]
    Spawn {
        /// The program.
        tool: &'static str,
        /// Why.
        source: std::io::Error,
    },
    /// cargo failed; its output says why.
    #[error("cargo build of {package} failed:\n{stderr}")]
    Cargo {
        /// The package.
        package: String,
        /// cargo's stderr.
        stderr: String,
    },
    /// cargo succeeded but produced no component.
    #[error("cargo built {package} but produced no .wasm; is its crate-type [\"cdylib\"]?")]
    NoArtifact {
        /// The package.
        package: String,
    },
}

/// Makes sure the `wasm32-wasip2` standard library is installed.
///
/// # Errors
/// When rustup exists but cannot add the target.
pub fn ensure_target() -> Result<(), BuildError> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output();
    match installed {
        // No rustup: trust that the toolchain has the target (or cargo will say so).
        Err(_) => Ok(()),
        Ok(out)
            if String::from_utf8_lossy(&out.stdout)
                .lines()
                .any(|l| l.trim() == TARGET) =>
        {
            Ok(())
        }
        Ok(_) => {
            let out = Command::new("rustup")
                .args(["target", "add", TARGET])
                .output()
                .map_err(|source| BuildError::Spawn {
                    tool: "rustup",
                    source,
                })?;
            if out.status.success() {
                Ok(())
            } else {
                Err(BuildError::Cargo {
                    package: format!("(rustup target add {TARGET})"),
                    stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
                })
            }
        }
    }
}

/// Builds `package` from the cargo workspace or crate at `manifest_dir` with cargo
/// `profile` into `target_dir`, and returns the component's path.
///
/// # Errors
/// [`BuildError`] with cargo's output when the build fails.
pub fn build_rust_plugin(
    manifest_dir: &Path,
    package: &str,
    profile: &str,
    target_dir: &Path,
) -> Result<PathBuf, BuildError> {
    ensure_target()?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(manifest_dir)
        .args([
            "build",
            "--quiet",
            "--message-format=json",
            "--target",
            TARGET,
        ])
        .args(["--profile", profile, "-p", package])
        .arg("--target-dir")
        .arg(target_dir)
        // Flags meant for the host build (e.g. coverage) must not leak into guests.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .output()
        .map_err(|source| BuildError::Spawn {
            tool: "cargo",
            source,
        })?;
    if !out.status.success() {
        return Err(BuildError::Cargo {
            package: package.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .flat_map(|m| {
            m["filenames"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter_map(|f| f.as_str().map(PathBuf::from))
                .collect::<Vec<_>>()
        })
        .rfind(|p| p.extension().is_some_and(|e| e == "wasm"))
        .ok_or_else(|| BuildError::NoArtifact {
            package: package.to_string(),
        })
}
