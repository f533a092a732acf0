//! Building the JavaScript and Python plugins from source for the tests, with the
//! product's own builders (`scrm_engine::build`, what `scrm plugin build` runs).
//!
//! [`js_guest`] builds `plugins/keyword-classifier-js` (npm, esbuild, componentize-js);
//! [`py_guest`] builds `plugins/keyword-classifier-py` (componentize-py in a build
//! virtualenv under `target/guests/py-work`); [`python_project`] any Python project.
//! Each builds at most once per test process, into `target/guests/{js,py}/`, and
//! reuses a component that is newer than every source file (the plugin's files and
//! `wit/`), so a repeated run costs a few `stat` calls.
//!
//! ```no_run
//! let wasm = scrm_e2e::polyglot::js_guest(); // target/guests/js/keyword-classifier-js.wasm
//! ```

use crate::repo_root;
use anyhow::{Context, Result};
use scrm_engine::build;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

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
    build_with(&out, &sources, || {
        build::js::build(&dir, &options(&root, &out, "js-work"), &report)
    })
}

fn build_py() -> Result<PathBuf> {
    let root = root()?;
    let dir = root.join("plugins/keyword-classifier-py");
    let out = root.join("target/guests/py/keyword-classifier-py.wasm");
    let sources = [
        dir.join("app.py"),
        dir.join("pyproject.toml"),
        root.join("wit"),
    ];
    build_with(&out, &sources, || {
        build::python::build(&dir, &options(&root, &out, "py-work"), &report)
    })
}

/// Builds a Python plugin project at `dir` (under the repository root) into
/// `target/guests/py/NAME.wasm` unless that is newer than every file of the project
/// and `wit/`; its path.
///
/// # Errors
/// When the build fails; the error names the tool and its output.
pub fn python_project(dir: &str, name: &str) -> Result<PathBuf> {
    let root = root()?;
    let dir = root.join(dir);
    let out = root.join(format!("target/guests/py/{name}.wasm"));
    let sources = [dir.clone(), root.join("wit")];
    build_with(&out, &sources, || {
        build::python::build(&dir, &options(&root, &out, "py-work"), &report)
    })
}

/// Runs `build` unless `out` is newer than every file under `sources`.
fn build_with(
    out: &Path,
    sources: &[PathBuf],
    build: impl FnOnce() -> Result<PathBuf, build::BuildError>,
) -> Result<PathBuf> {
    if build::is_fresh(out, sources)? {
        return Ok(out.to_path_buf());
    }
    let started = Instant::now();
    let built = build()?;
    eprintln!(
        "built {} in {:.1} s",
        built.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(built)
}

/// The build's options: the component at `out`, the tools and intermediate files
/// under `target/guests/WORK` (shared by every build of the language).
fn options(root: &Path, out: &Path, work: &str) -> build::BuildOptions {
    build::BuildOptions {
        out: Some(out.to_path_buf()),
        work_dir: Some(root.join("target/guests").join(work)),
        ..Default::default()
    }
}

fn report(step: &str) {
    eprintln!("{step}");
}

/// The repository root without `..` parts (the guest toolchains resolve paths
/// inside their own WebAssembly sandboxes).
fn root() -> Result<PathBuf> {
    let root = repo_root();
    root.canonicalize()
        .with_context(|| format!("resolve {}", root.display()))
}
