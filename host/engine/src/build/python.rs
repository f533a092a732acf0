//! Python plugins: a project whose `pyproject.toml` names the plugin's world and
//! module in a `[tool.scrm]` table:
//!
//! ```toml
//! [project]
//! name = "my-classifier"
//! version = "0.1.0"
//!
//! [tool.scrm]
//! world = "classifier"
//! module = "app"      # app.py, beside pyproject.toml
//! wit = "wit"         # the WIT directory, relative to the project
//! stub_wasi = true    # false for a plugin that makes HTTP requests (see below)
//! ```
//!
//! The build keeps componentize-py ([`COMPONENTIZE_PY`]) in a virtualenv of its own
//! under the work directory (created and installed once), installs the packages the
//! project's `requirements.txt` lists (if any) into the work directory as pure-Python
//! wheels only — componentize-py cannot load native extensions, so pip is told to
//! refuse them — and componentizes the module with both on its path. `VIRTUAL_ENV`
//! points at an empty directory so that the build's own virtualenv (componentize-py
//! itself) stays out of the component, and every WASI import is replaced by a
//! trapping stub (`--stub-wasi`), unless `stub_wasi = false`: the stubs replace the
//! world's own `wasi:http` and `wasi:io` too, so a plugin that makes HTTP requests
//! (a connector) is built against WASI instead, which the host links with an empty
//! context (no files, environment or sockets).
//!
//! With `typings = "DIR"` in `[tool.scrm]`, the build also writes the world's Python
//! bindings (the `wit_world` package, with type hints) into `DIR` whenever the WIT
//! package is newer, for editors and type checkers to complete and check the types
//! (`scrm plugin new` sets `typings = "typings"` and points pyright there).

use super::{
    BuildError, BuildOptions, finish, is_fresh, read_manifest, resolved, run, temp_path, wit_dir,
};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The componentize-py version scrm's plugins are built and tested with.
pub const COMPONENTIZE_PY: &str = "0.25.1";

/// What `pyproject.toml` says about the plugin.
#[derive(Debug)]
struct Manifest {
    name: String,
    world: String,
    module: String,
    wit: PathBuf,
    /// Where to write the bindings for editors, if anywhere.
    typings: Option<PathBuf>,
    /// Whether to replace the WASI imports with trapping stubs (`--stub-wasi`).
    stub_wasi: bool,
}

impl Manifest {
    fn read(dir: &Path) -> Result<Manifest, BuildError> {
        let text = read_manifest(dir, "pyproject.toml")?;
        let doc: toml::Table = toml::from_str(&text).map_err(|e| {
            BuildError::project(dir, format!("pyproject.toml is not valid TOML: {e}"))
        })?;
        let scrm = doc.get("tool").and_then(|t| t.get("scrm")).ok_or_else(|| {
            BuildError::project(
                dir,
                "pyproject.toml has no [tool.scrm] table; add one with world = \"classifier\" \
                     and module = \"app\" (see docs/plugins.md)",
            )
        })?;
        let field = |name: &str| {
            scrm.get(name).and_then(toml::Value::as_str).ok_or_else(|| {
                BuildError::project(
                    dir,
                    format!("pyproject.toml's [tool.scrm] has no {name} string"),
                )
            })
        };
        let name = doc
            .get("project")
            .and_then(|p| p.get("name"))
            .and_then(toml::Value::as_str)
            .unwrap_or("plugin");
        Ok(Manifest {
            name: name.to_owned(),
            world: field("world")?.to_owned(),
            module: scrm
                .get("module")
                .and_then(toml::Value::as_str)
                .unwrap_or("app")
                .to_owned(),
            wit: PathBuf::from(
                scrm.get("wit")
                    .and_then(toml::Value::as_str)
                    .unwrap_or("wit"),
            ),
            typings: scrm
                .get("typings")
                .and_then(toml::Value::as_str)
                .map(PathBuf::from),
            stub_wasi: match scrm.get("stub_wasi") {
                None => true,
                Some(v) => v.as_bool().ok_or_else(|| {
                    BuildError::project(
                        dir,
                        "pyproject.toml's [tool.scrm] stub_wasi is not true or false",
                    )
                })?,
            },
        })
    }
}

/// Builds the Python plugin at `dir`; see the module docs.
///
/// # Errors
/// [`BuildError`] naming the step that failed and the tool's output.
pub fn build(
    dir: &Path,
    options: &BuildOptions,
    report: &dyn Fn(&str),
) -> Result<PathBuf, BuildError> {
    let dir = resolved(dir)?;
    let manifest = Manifest::read(&dir)?;
    let work = options.work_dir(&dir);
    std::fs::create_dir_all(&work).map_err(BuildError::io(&work))?;
    let work = resolved(&work)?;
    // Builds sharing a work directory (tests, several projects) take turns.
    let lock_path = work.join(".scrm-build.lock");
    let lock = std::fs::File::create(&lock_path).map_err(BuildError::io(&lock_path))?;
    lock.lock().map_err(BuildError::io(&lock_path))?;
    let componentize = build_venv(&work, report)?;
    let wit = wit_dir(&dir, &manifest.wit, "[tool.scrm] wit")?;
    if let Some(typings) = &manifest.typings {
        write_typings(
            &componentize,
            &wit,
            &manifest.world,
            &dir.join(typings),
            report,
        )?;
    }
    let packages = requirements(&dir, &manifest.name, &work, report)?;
    let empty_venv = work.join("empty-venv");
    std::fs::create_dir_all(&empty_venv).map_err(BuildError::io(&empty_venv))?;
    let out = options.out_or_dist(&dir, &manifest.name);
    let tmp = temp_path(&out)?;
    report(&format!(
        "componentize-py: world {} of {}, module {}, into {}",
        manifest.world,
        wit.display(),
        manifest.module,
        out.display()
    ));
    let mut cmd = Command::new(componentize);
    cmd.current_dir(&dir)
        .env("VIRTUAL_ENV", &empty_venv)
        .arg("-d")
        .arg(&wit)
        .args(["-w", &manifest.world, "componentize", &manifest.module])
        .args(["-p", "."]);
    if let Some(packages) = &packages {
        cmd.arg("-p").arg(packages);
    }
    cmd.arg("-o").arg(&tmp);
    if manifest.stub_wasi {
        cmd.arg("--stub-wasi");
    }
    run("componentize-py", &mut cmd)?;
    finish(&tmp, &out)
}

/// The build's own virtualenv with componentize-py, created and installed when
/// missing; the path of its `componentize-py`.
fn build_venv(work: &Path, report: &dyn Fn(&str)) -> Result<PathBuf, BuildError> {
    let venv = work.join(format!("componentize-py-{COMPONENTIZE_PY}"));
    let tool = venv.join("bin/componentize-py");
    if tool.exists() {
        return Ok(tool);
    }
    report(&format!(
        "installing componentize-py {COMPONENTIZE_PY} into {} (python3 -m venv, pip)",
        venv.display()
    ));
    run(
        "python3 -m venv",
        Command::new("python3").args(["-m", "venv"]).arg(&venv),
    )?;
    run(
        "pip install componentize-py",
        Command::new(venv.join("bin/python3"))
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .arg(format!("componentize-py=={COMPONENTIZE_PY}")),
    )?;
    Ok(tool)
}

/// Installs what `requirements.txt` lists (pure-Python wheels only) into the work
/// directory (a directory per project), unless the install there was made from the
/// same list; its path, or `None` when the project lists nothing.
fn requirements(
    dir: &Path,
    project: &str,
    work: &Path,
    report: &dyn Fn(&str),
) -> Result<Option<PathBuf>, BuildError> {
    let file = dir.join("requirements.txt");
    let Ok(text) = std::fs::read_to_string(&file) else {
        return Ok(None);
    };
    let wanted: Vec<&str> = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .collect();
    if wanted.is_empty() {
        return Ok(None);
    }
    let target = work.join("site-packages").join(project);
    let stamp = target.join(".scrm-requirements.txt");
    if std::fs::read_to_string(&stamp).is_ok_and(|done| done == text) {
        return Ok(Some(target));
    }
    report(&format!(
        "pip: installing {} into {} (pure-Python wheels only)",
        wanted.join(", "),
        target.display()
    ));
    if target.exists() {
        std::fs::remove_dir_all(&target).map_err(BuildError::io(&target))?;
    }
    let python = work
        .join(format!("componentize-py-{COMPONENTIZE_PY}"))
        .join("bin/python3");
    run(
        "pip install -r requirements.txt",
        Command::new(python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--only-binary=:all:",
                "--platform",
                "any",
                "--implementation",
                "py",
                "--target",
            ])
            .arg(&target)
            .arg("-r")
            .arg(&file),
    )
    .map_err(|e| match e {
        BuildError::Tool {
            tool,
            status,
            output,
        } => BuildError::Tool {
            tool,
            status,
            output: format!(
                "{output}\n(a plugin can use pure-Python packages only: componentize-py cannot \
                 load native extensions)"
            ),
        },
        other => other,
    })?;
    std::fs::write(&stamp, &text).map_err(BuildError::io(&stamp))?;
    Ok(Some(target))
}

/// Writes the bindings of `world` for editors into `to`, unless they are newer than
/// the WIT package.
fn write_typings(
    componentize: &Path,
    wit: &Path,
    world: &str,
    to: &Path,
    report: &dyn Fn(&str),
) -> Result<(), BuildError> {
    if is_fresh(&to.join("wit_world"), &[wit.to_path_buf()])? {
        return Ok(());
    }
    report(&format!(
        "componentize-py bindings: the {world} world's Python types into {}",
        to.display()
    ));
    run(
        "componentize-py bindings",
        Command::new(componentize)
            .arg("-d")
            .arg(wit)
            .args(["-w", world, "bindings"])
            .arg(to),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(tool_scrm: &str) -> Result<Manifest, BuildError> {
        let dir = tempfile::tempdir().unwrap();
        let text =
            format!("[project]\nname = \"p\"\n\n[tool.scrm]\nworld = \"connector\"\n{tool_scrm}");
        std::fs::write(dir.path().join("pyproject.toml"), text).unwrap();
        Manifest::read(dir.path())
    }

    #[test]
    fn wasi_is_stubbed_unless_the_project_says_stub_wasi_false() {
        assert!(manifest("").unwrap().stub_wasi);
        assert!(!manifest("stub_wasi = false\n").unwrap().stub_wasi);
        let e = manifest("stub_wasi = \"no\"\n").unwrap_err().to_string();
        assert!(e.contains("stub_wasi"), "{e}");
    }
}
