//! JavaScript plugins: an npm package whose `package.json` names the plugin's world
//! and entry module in a `"scrm"` section:
//!
//! ```json
//! {
//!   "name": "my-classifier",
//!   "type": "module",
//!   "scrm": { "world": "classifier", "entry": "src/classifier.js", "wit": "wit" },
//!   "dependencies": { "smol-toml": "1.4.2" },
//!   "devDependencies": {
//!     "@bytecodealliance/componentize-js": "0.23.0",
//!     "@bytecodealliance/preview2-shim": "0.25.0",
//!     "esbuild": "0.25.9"
//!   }
//! }
//! ```
//!
//! The build installs the packages (`npm ci`, or `npm install` without a lock file;
//! skipped while npm's record of the install is newer than both files), bundles the
//! entry module and the npm packages it imports into one ES module with esbuild (the
//! WIT imports, `scrm:*` and `wasi:*`, left to the host), and componentizes that
//! module with componentize-js against the WIT directory (`wit`, relative to the
//! project; default `wit`). componentize-js takes one module tree and resolves no
//! npm package itself: the bundle is what lets a plugin use npm's libraries.

use super::{
    BuildError, BuildOptions, JS_DISABLED_FEATURES, finish, is_fresh, read_manifest, resolved, run,
    temp_path, wit_dir,
};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The componentize-js version scrm's plugins are built and tested with.
pub const COMPONENTIZE_JS: &str = "0.23.0";
/// The preview2-shim version that goes with it.
pub const PREVIEW2_SHIM: &str = "0.25.0";
/// The esbuild version scrm's plugins are bundled with.
pub const ESBUILD: &str = "0.25.9";

/// What `package.json` says about the plugin.
#[derive(Debug)]
struct Manifest {
    name: String,
    world: String,
    entry: PathBuf,
    wit: PathBuf,
    /// `name@version` of every dependency, for the report.
    packages: Vec<String>,
}

impl Manifest {
    fn read(dir: &Path) -> Result<Manifest, BuildError> {
        let text = read_manifest(dir, "package.json")?;
        let json: Value = serde_json::from_str(&text).map_err(|e| {
            BuildError::project(dir, format!("package.json is not valid JSON: {e}"))
        })?;
        let scrm = json.get("scrm").ok_or_else(|| {
            BuildError::project(
                dir,
                "package.json has no \"scrm\" section; add \"scrm\": {\"world\": \"classifier\", \
                 \"entry\": \"src/index.js\"} (see docs/plugins.md)",
            )
        })?;
        let field = |name: &str| {
            scrm.get(name).and_then(Value::as_str).ok_or_else(|| {
                BuildError::project(
                    dir,
                    format!("package.json's \"scrm\" section has no \"{name}\" string"),
                )
            })
        };
        let name = json
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| BuildError::project(dir, "package.json has no \"name\""))?;
        let mut packages = Vec::new();
        for section in ["dependencies", "devDependencies"] {
            if let Some(deps) = json.get(section).and_then(Value::as_object) {
                packages.extend(
                    deps.iter()
                        .map(|(n, v)| format!("{n}@{}", v.as_str().unwrap_or("?"))),
                );
            }
        }
        Ok(Manifest {
            name: name.rsplit('/').next().unwrap_or(name).to_owned(),
            world: field("world")?.to_owned(),
            entry: PathBuf::from(field("entry")?),
            wit: PathBuf::from(scrm.get("wit").and_then(Value::as_str).unwrap_or("wit")),
            packages,
        })
    }
}

/// Builds the JavaScript plugin at `dir`; see the module docs.
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
    install(&dir, &manifest, report)?;
    let work = options.work_dir(&dir);
    std::fs::create_dir_all(&work).map_err(BuildError::io(&work))?;
    let bundle = work.join(format!("{}.bundle.js", manifest.name));
    report(&format!(
        "esbuild: bundling {} and the npm packages it imports into {}",
        manifest.entry.display(),
        bundle.display()
    ));
    run(
        "esbuild",
        Command::new(dir.join("node_modules/.bin/esbuild"))
            .current_dir(&dir)
            .arg(&manifest.entry)
            .args([
                "--bundle",
                "--format=esm",
                "--platform=neutral",
                "--main-fields=module,main",
                "--external:scrm:*",
                "--external:wasi:*",
                "--log-level=warning",
            ])
            .arg(format!("--outfile={}", bundle.display())),
    )?;
    let out = options.out_or_dist(&dir, &manifest.name);
    let wit = wit_dir(&dir, &manifest.wit, "package.json's scrm.wit")?;
    let tmp = temp_path(&out)?;
    report(&format!(
        "componentize-js: world {} of {} into {}",
        manifest.world,
        wit.display(),
        out.display()
    ));
    run(
        "componentize-js",
        Command::new(dir.join("node_modules/.bin/componentize-js"))
            .current_dir(&dir)
            .arg(&bundle)
            .arg("--wit")
            .arg(&wit)
            .args(["-n", &manifest.world])
            .arg("-d")
            .args(JS_DISABLED_FEATURES)
            .arg("-o")
            .arg(&tmp),
    )?;
    finish(&tmp, &out)
}

/// Installs the project's npm packages unless npm's record of the install is newer
/// than `package.json` and the lock file; then checks the build's tools are there.
fn install(dir: &Path, manifest: &Manifest, report: &dyn Fn(&str)) -> Result<(), BuildError> {
    let lock = dir.join("package-lock.json");
    let installed = dir.join("node_modules/.package-lock.json");
    let mut inputs = vec![dir.join("package.json")];
    if lock.exists() {
        inputs.push(lock.clone());
    }
    if !is_fresh(&installed, &inputs)? {
        let how = if lock.exists() { "ci" } else { "install" };
        report(&format!(
            "npm {how}: installing {}",
            manifest.packages.join(", ")
        ));
        run(
            &format!("npm {how}"),
            Command::new("npm").current_dir(dir).args([
                how,
                "--no-audit",
                "--no-fund",
                "--prefer-offline",
            ]),
        )?;
    }
    for (tool, package, version) in [
        (
            "componentize-js",
            "@bytecodealliance/componentize-js",
            COMPONENTIZE_JS,
        ),
        ("esbuild", "esbuild", ESBUILD),
    ] {
        if !dir.join("node_modules/.bin").join(tool).exists() {
            return Err(BuildError::project(
                dir,
                format!(
                    "no {tool} in node_modules: add \"{package}\": \"{version}\" to package.json's \
                     devDependencies"
                ),
            ));
        }
    }
    Ok(())
}
