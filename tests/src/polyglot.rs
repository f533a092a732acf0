//! Building the JavaScript and Python plugins from source for the tests.
//!
//! [`js_guest`] builds `plugins/keyword-classifier-js` with componentize-js (after
//! `npm ci` in the plugin directory); [`py_guest`] builds
//! `plugins/keyword-classifier-py` with componentize-py (pip-installed from the
//! plugin's `requirements.txt` into `target/py-build-venv`). Each builds at most once
//! per test process, into `target/guests/{js,py}/`, and reuses a component that is
//! newer than every source file (the plugin's files and `wit/`), so a repeated run
//! costs a few `stat` calls. Neither component imports a WASI interface beyond those
//! the `classifier` world names (`-d stdio random clocks http fetch-event`,
//! `--stub-wasi`).
//!
//! ```no_run
//! let wasm = scrm_e2e::polyglot::js_guest(); // target/guests/js/keyword-classifier-js.wasm
//! ```

use crate::repo_root;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Instant, SystemTime};

/// The JavaScript keyword classifier, built once per process; its path.
///
/// # Panics
/// When npm or componentize-js fails; the message names the tool and its stderr.
pub fn js_guest() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            build_js().unwrap_or_else(|e| panic!("building the JavaScript plugin: {e:#}"))
        })
        .clone()
}

/// The Python keyword classifier, built once per process; its path.
///
/// # Panics
/// When python3, pip or componentize-py fails; the message names the tool and its
/// stderr.
pub fn py_guest() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| build_py().unwrap_or_else(|e| panic!("building the Python plugin: {e:#}")))
        .clone()
}

fn build_js() -> Result<PathBuf> {
    let root = root()?;
    let dir = root.join("plugins/keyword-classifier-js");
    let out = root.join("target/guests/js/keyword-classifier-js.wasm");
    let sources = [
        dir.join("package.json"),
        dir.join("package-lock.json"),
        dir.join("src"),
        root.join("wit"),
    ];
    if is_fresh(&out, &sources)? {
        return Ok(out);
    }
    let started = Instant::now();
    // `npm ci` wipes and reinstalls node_modules (≈ 400 MB); skip it while npm's own
    // record of the install is newer than the lock file.
    let installed = dir.join("node_modules/.package-lock.json");
    if !is_fresh(
        &installed,
        &[dir.join("package.json"), dir.join("package-lock.json")],
    )? {
        run(
            "npm ci",
            Command::new("npm").current_dir(&dir).args([
                "ci",
                "--no-audit",
                "--no-fund",
                "--prefer-offline",
            ]),
        )?;
    }
    let tmp = temp_path(&out)?;
    run(
        "componentize-js",
        Command::new(dir.join("node_modules/.bin/componentize-js"))
            .current_dir(&dir)
            .arg("src/classifier.js")
            .arg("--wit")
            .arg(root.join("wit"))
            .args(["-n", "classifier"])
            .args(["-d", "stdio", "random", "clocks", "http", "fetch-event"])
            .arg("-o")
            .arg(&tmp),
    )?;
    finish(&tmp, &out, started)
}

fn build_py() -> Result<PathBuf> {
    let root = root()?;
    let dir = root.join("plugins/keyword-classifier-py");
    let out = root.join("target/guests/py/keyword-classifier-py.wasm");
    let requirements = dir.join("requirements.txt");
    let sources = [dir.join("app.py"), requirements.clone(), root.join("wit")];
    if is_fresh(&out, &sources)? {
        return Ok(out);
    }
    let started = Instant::now();
    let venv = root.join("target/py-build-venv");
    let python = venv.join("bin/python3");
    let stamp = venv.join(".requirements-installed");
    if !is_fresh(&stamp, std::slice::from_ref(&requirements))? {
        if !python.exists() {
            run(
                "python3 -m venv",
                Command::new("python3").args(["-m", "venv"]).arg(&venv),
            )?;
        }
        run(
            "pip install",
            Command::new(&python)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                ])
                .arg("-r")
                .arg(&requirements),
        )?;
        std::fs::write(&stamp, b"").with_context(|| format!("write {}", stamp.display()))?;
    }
    // componentize-py bundles the site-packages of the active virtualenv; an empty
    // one keeps the build venv (componentize-py itself) out of the component.
    let empty_venv = root.join("target/guests/py/empty-venv");
    std::fs::create_dir_all(&empty_venv)
        .with_context(|| format!("create {}", empty_venv.display()))?;
    let tmp = temp_path(&out)?;
    run(
        "componentize-py",
        Command::new(venv.join("bin/componentize-py"))
            .current_dir(&dir)
            .env("VIRTUAL_ENV", &empty_venv)
            .arg("-d")
            .arg(root.join("wit"))
            .args(["-w", "classifier", "componentize", "app", "-o"])
            .arg(&tmp)
            .arg("--stub-wasi"),
    )?;
    finish(&tmp, &out, started)
}

/// The repository root without `..` parts (the guest toolchains resolve paths
/// inside their own WebAssembly sandboxes).
fn root() -> Result<PathBuf> {
    let root = repo_root();
    root.canonicalize()
        .with_context(|| format!("resolve {}", root.display()))
}

/// Runs `cmd`, failing with `tool`'s name, exit status and stderr.
fn run(tool: &str, cmd: &mut Command) -> Result<()> {
    let output = cmd
        .output()
        .with_context(|| format!("cannot run {tool} ({cmd:?}); is it installed?"))?;
    if !output.status.success() {
        bail!(
            "{tool} failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr),
            String::from_utf8_lossy(&output.stdout),
        );
    }
    Ok(())
}

/// A sibling of `out` to build into, so that a failed or concurrent build never
/// leaves a truncated component at `out`.
fn temp_path(out: &Path) -> Result<PathBuf> {
    let dir = out.parent().context("output has a parent directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    Ok(out.with_extension(format!("{}.tmp.wasm", std::process::id())))
}

fn finish(tmp: &Path, out: &Path, started: Instant) -> Result<PathBuf> {
    std::fs::rename(tmp, out)
        .with_context(|| format!("move {} to {}", tmp.display(), out.display()))?;
    eprintln!(
        "built {} in {:.1} s",
        out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(out.to_path_buf())
}

/// True when `out` exists and is newer than every file under `sources`.
fn is_fresh(out: &Path, sources: &[PathBuf]) -> Result<bool> {
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
fn newest(path: &Path) -> Result<SystemTime> {
    let meta = std::fs::metadata(path).with_context(|| format!("stat {}", path.display()))?;
    let mut t = meta.modified()?;
    if meta.is_dir() {
        for entry in std::fs::read_dir(path).with_context(|| format!("read {}", path.display()))? {
            t = t.max(newest(&entry?.path())?);
        }
    }
    Ok(t)
}
