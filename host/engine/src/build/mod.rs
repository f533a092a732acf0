//! Building plugin projects into components, in the three languages scrm supports:
//! Rust (`cargo build --target wasm32-wasip2`, installing the target with rustup when
//! it is missing), JavaScript (npm, bundled with esbuild, componentized with
//! componentize-js: [`js`]) and Python (componentize-py in a build virtualenv, the
//! project's pure-Python requirements beside it: [`python`]). Used by `scrm plugin
//! build` and by the test suites, which build every plugin from source.
//!
//! [`build_project`] tells the language by the project's files: `Cargo.toml`,
//! `package.json` (with a `"scrm"` section) or `pyproject.toml` (with `[tool.scrm]`).

pub mod js;
pub mod python;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The target plugins are built for.
pub const TARGET: &str = "wasm32-wasip2";

/// The WASI features componentize-js leaves out of a JavaScript component: the
/// plugin worlds import no WASI interface of their own.
pub const JS_DISABLED_FEATURES: &[&str] = &["stdio", "random", "clocks", "http", "fetch-event"];

/// Why a plugin could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A tool could not be run.
    #[error("cannot run {tool}: {error}; is it installed?")]
    Spawn {
        /// The program.
        tool: String,
        /// Why.
        error: std::io::Error,
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
    /// Another tool (npm, esbuild, componentize-js, pip, componentize-py) failed.
    #[error("{tool} failed ({status}):\n{output}")]
    Tool {
        /// What ran.
        tool: String,
        /// Its exit status.
        status: String,
        /// Its stderr, then its stdout.
        output: String,
    },
    /// The directory is not a plugin project this builder knows, or its manifest
    /// lacks what the build needs; the text says what to add.
    #[error("{dir}: {why}")]
    Project {
        /// The project directory.
        dir: String,
        /// What is missing or wrong.
        why: String,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        error: std::io::Error,
    },
}

impl BuildError {
    fn project(dir: &Path, why: impl Into<String>) -> BuildError {
        BuildError::Project {
            dir: dir.display().to_string(),
            why: why.into(),
        }
    }

    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BuildError + '_ {
        move |error| BuildError::Io {
            path: path.display().to_string(),
            error,
        }
    }
}

/// The languages a plugin project can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// A cargo crate (`Cargo.toml`).
    Rust,
    /// An npm package (`package.json` with a `"scrm"` section).
    JavaScript,
    /// A Python project (`pyproject.toml` with a `[tool.scrm]` table).
    Python,
}

impl Language {
    /// The language of the project at `dir`, by its manifest.
    ///
    /// # Errors
    /// When `dir` holds none of the three manifests.
    pub fn of(dir: &Path) -> Result<Language, BuildError> {
        if dir.join("Cargo.toml").is_file() {
            Ok(Language::Rust)
        } else if dir.join("package.json").is_file() {
            Ok(Language::JavaScript)
        } else if dir.join("pyproject.toml").is_file() {
            Ok(Language::Python)
        } else {
            Err(BuildError::project(
                dir,
                "not a plugin project: no Cargo.toml, package.json or pyproject.toml \
                 (docs/plugins.md shows each)",
            ))
        }
    }
}

/// Where a build puts things.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// The component's path; by default cargo's (`DIR/target`, or `CARGO_TARGET_DIR`,
    /// then `wasm32-wasip2/PROFILE/NAME.wasm`) for Rust and `DIR/dist/NAME.wasm` for JavaScript and Python.
    pub out: Option<PathBuf>,
    /// Where the build keeps its tools (the Python build's virtualenv) and
    /// intermediate files; by default `DIR/target/scrm-build`.
    pub work_dir: Option<PathBuf>,
    /// The cargo profile of a Rust build; by default `release`.
    pub profile: Option<String>,
    /// The cargo package of a Rust build; by default the `Cargo.toml`'s package.
    pub package: Option<String>,
}

impl BuildOptions {
    fn work_dir(&self, dir: &Path) -> PathBuf {
        self.work_dir
            .clone()
            .unwrap_or_else(|| dir.join("target/scrm-build"))
    }

    /// Where a JavaScript or Python build writes the component of project `name`.
    fn out_or_dist(&self, dir: &Path, name: &str) -> PathBuf {
        self.out
            .clone()
            .unwrap_or_else(|| dir.join("dist").join(format!("{name}.wasm")))
    }
}

/// The text of the project's manifest `file`.
fn read_manifest(dir: &Path, file: &str) -> Result<String, BuildError> {
    let path = dir.join(file);
    std::fs::read_to_string(&path).map_err(BuildError::io(&path))
}

/// Builds the plugin project at `dir` into a component and returns its path; each
/// step, and each tool it installs with its version, is told to `report` first.
///
/// # Errors
/// [`BuildError`] naming the step and the tool's output.
pub fn build_project(
    dir: &Path,
    options: &BuildOptions,
    report: &dyn Fn(&str),
) -> Result<PathBuf, BuildError> {
    let dir = &resolved(dir)?;
    match Language::of(dir)? {
        Language::Rust => {
            let package = match &options.package {
                Some(p) => p.clone(),
                None => cargo_package(dir)?,
            };
            let profile = options.profile.as_deref().unwrap_or("release");
            report(&format!(
                "cargo build -p {package} --target {TARGET} --profile {profile}"
            ));
            // cargo's own setting, as a user of cargo expects; else the project's.
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| dir.join("target"));
            let built = build_rust_plugin(dir, &package, profile, &target)?;
            match &options.out {
                Some(out) => {
                    copy(&built, out)?;
                    Ok(out.clone())
                }
                None => Ok(built),
            }
        }
        Language::JavaScript => js::build(dir, options, report),
        Language::Python => python::build(dir, options, report),
    }
}

/// The package named by the `Cargo.toml` at `dir`.
fn cargo_package(dir: &Path) -> Result<String, BuildError> {
    let text = read_manifest(dir, "Cargo.toml")?;
    let manifest: toml::Table = toml::from_str(&text)
        .map_err(|e| BuildError::project(dir, format!("Cargo.toml is not valid TOML: {e}")))?;
    manifest
        .get("package")
        .and_then(|p| p.get("name"))
        .and_then(toml::Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| {
            BuildError::project(
                dir,
                "Cargo.toml has no [package] (a workspace: name the plugin with -p)",
            )
        })
}

/// Runs `cmd`, failing with `tool`'s exit status and output.
fn run(tool: &str, cmd: &mut Command) -> Result<(), BuildError> {
    let output = cmd.output().map_err(|error| BuildError::Spawn {
        tool: tool.to_owned(),
        error,
    })?;
    if output.status.success() {
        return Ok(());
    }
    Err(BuildError::Tool {
        tool: tool.to_owned(),
        status: output.status.to_string(),
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&output.stderr),
            String::from_utf8_lossy(&output.stdout)
        ),
    })
}

/// A sibling of `out` to build into, so that a failed or concurrent build never
/// leaves a truncated component at `out`.
fn temp_path(out: &Path) -> Result<PathBuf, BuildError> {
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).map_err(BuildError::io(dir))?;
    }
    Ok(out.with_extension(format!("{}.tmp.wasm", std::process::id())))
}

/// Moves a finished component from `tmp` to `out`.
fn finish(tmp: &Path, out: &Path) -> Result<PathBuf, BuildError> {
    std::fs::rename(tmp, out).map_err(BuildError::io(out))?;
    Ok(out.to_path_buf())
}

fn copy(from: &Path, to: &Path) -> Result<(), BuildError> {
    let tmp = temp_path(to)?;
    std::fs::copy(from, &tmp).map_err(BuildError::io(to))?;
    finish(&tmp, to).map(|_| ())
}

/// `path` made absolute and without `..` parts: the guest toolchains resolve paths
/// inside their own WebAssembly sandboxes.
fn resolved(path: &Path) -> Result<PathBuf, BuildError> {
    path.canonicalize().map_err(BuildError::io(path))
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
                .map_err(|error| BuildError::Spawn {
                    tool: "rustup".into(),
                    error,
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
        .map_err(|error| BuildError::Spawn {
            tool: "cargo".into(),
            error,
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

/// True when `out` exists and is newer than every file under `sources`: a build
/// whose inputs have not changed since can be skipped.
///
/// # Errors
/// When a source cannot be read.
pub fn is_fresh(out: &Path, sources: &[PathBuf]) -> Result<bool, BuildError> {
    let Ok(built) = std::fs::metadata(out).and_then(|m| m.modified()) else {
        return Ok(false);
    };
    for source in sources {
        if newest(source)? >= built {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The newest modification time of `path` or, for a directory, of anything in it.
fn newest(path: &Path) -> Result<std::time::SystemTime, BuildError> {
    let meta = std::fs::metadata(path).map_err(BuildError::io(path))?;
    let mut t = meta.modified().map_err(BuildError::io(path))?;
    if meta.is_dir() {
        for entry in std::fs::read_dir(path).map_err(BuildError::io(path))? {
            let entry = entry.map_err(BuildError::io(path))?;
            t = t.max(newest(&entry.path())?);
        }
    }
    Ok(t)
}

/// The WIT directory `wit` (from the manifest's `field`) made absolute; an error
/// that says what to set when it is missing.
fn wit_dir(dir: &Path, wit: &Path, field: &str) -> Result<PathBuf, BuildError> {
    let path = dir.join(wit);
    if !path.is_dir() {
        return Err(BuildError::project(
            dir,
            format!(
                "no WIT directory at {}: point {field} at scrm's wit/ (scrm plugin new copies it into the project)",
                path.display()
            ),
        ));
    }
    resolved(&path)
}
