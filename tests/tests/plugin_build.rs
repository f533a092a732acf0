//! `scrm plugin build --dir` in the three languages, run as a user runs it: the
//! binary, a project directory, the component's path on stdout. A Python plugin's
//! pure-Python requirements from PyPI are bundled (`tests/guests/emoji-classifier-py`
//! uses `emoji`), a native one is refused with the reason, the JavaScript reference
//! plugin is bundled with its npm TOML package, and a directory that is no plugin
//! project is refused with exit code 1.

use scrm_e2e::fleet::scrm_binary;
use scrm_e2e::*;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

/// Runs `scrm plugin build --dir DIR ARGS…` with the tools shared with the other
/// tests' builds (`target/guests/WORK`).
fn build(dir: &Path, work: &str, args: &[&str]) -> Output {
    Command::new(scrm_binary().unwrap())
        .args(["plugin", "build", "--dir"])
        .arg(dir)
        .arg("--work-dir")
        .arg(repo_root().join("target/guests").join(work))
        .args(args)
        .output()
        .expect("run scrm")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[tokio::test]
async fn a_python_plugin_gets_its_pure_python_requirements_from_pypi() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("emoji.wasm");
    let dir = repo_root().join("tests/guests/emoji-classifier-py");
    let o = build(&dir, "py-work", &["-o", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        out.to_str().unwrap()
    );
    assert!(
        stderr(&o).contains("componentize-py: world classifier"),
        "{}",
        stderr(&o)
    );

    // The component imports `emoji` at start: without the package bundled, every
    // call would fail.
    let host = Host::start().await;
    host.tenant("acme", &["1001"], "IT").await;
    host.install("acme", "classifier", &out, None).await;
    let body = text_webhook(
        "1001",
        "393471234567",
        &[("wamid.e1", "👍 🔥"), ("wamid.e2", "thanks 👍")],
    );
    let (status, text) = host.post_signed(&body, APP_SECRET).await;
    assert_eq!(status, 200, "{text}");
    host.settle().await;
    let msgs = host.messages("acme").await;
    let tags = |wamid: &str| -> Vec<String> {
        let m = msgs.iter().find(|m| m["wamid"] == wamid).expect(wamid);
        assert_eq!(m["classify_error"], Value::Null, "{m}");
        let mut t: Vec<String> = m["tags"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        t.sort();
        t
    };
    assert_eq!(
        tags("wamid.e1"),
        ["emoji-only", "emoji:fire", "emoji:thumbs_up"]
    );
    assert_eq!(tags("wamid.e2"), ["emoji:thumbs_up"]);
}

#[test]
fn a_python_requirement_with_native_code_is_refused_with_the_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(
        dir.join("pyproject.toml"),
        format!(
            "[project]\nname = \"native\"\n[tool.scrm]\nworld = \"classifier\"\nwit = {:?}\n",
            repo_root().join("wit").display().to_string()
        ),
    )
    .unwrap();
    std::fs::write(dir.join("app.py"), "").unwrap();
    std::fs::write(dir.join("requirements.txt"), "numpy==2.1.0\n").unwrap();
    let o = build(dir, "py-work", &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("pip install -r requirements.txt failed"),
        "{}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("pure-Python packages only"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn the_javascript_reference_plugin_is_bundled_with_its_npm_packages() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("kc.wasm");
    let dir = repo_root().join("plugins/keyword-classifier-js");
    let o = build(&dir, "js-work", &["-o", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("esbuild: bundling src/classifier.js"),
        "{}",
        stderr(&o)
    );
    // The bundle carries the npm TOML package the plugin imports.
    let bundle = std::fs::read_to_string(
        repo_root().join("target/guests/js-work/keyword-classifier-js.bundle.js"),
    )
    .unwrap();
    assert!(bundle.contains("smol-toml"), "the bundle has no smol-toml");
    assert!(
        !bundle.contains("from \"smol-toml\""),
        "smol-toml left unbundled"
    );
    let wasm = std::fs::read(&out).unwrap();
    assert_eq!(&wasm[..4], b"\0asm", "not a WebAssembly file");
}

#[test]
fn a_directory_that_is_no_plugin_project_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let o = build(tmp.path(), "py-work", &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("not a plugin project"),
        "{}",
        stderr(&o)
    );

    std::fs::write(tmp.path().join("package.json"), "{\"name\": \"x\"}").unwrap();
    let o = build(tmp.path(), "js-work", &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no \"scrm\" section"), "{}", stderr(&o));

    std::fs::remove_file(tmp.path().join("package.json")).unwrap();
    std::fs::write(
        tmp.path().join("pyproject.toml"),
        "[tool.scrm]\nworld = \"classifier\"\n",
    )
    .unwrap();
    let o = build(tmp.path(), "py-work", &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no WIT directory at"), "{}", stderr(&o));
}
