//! `scrm plugin new` in each language and world, followed as a user would:
//! scaffold, run the project's own tests with the language's runner, build it with
//! `scrm plugin build`, check it with `scrm plugin test` (every conformance check of
//! its world passes; a connector's against the local HubSpot-shaped CRM). A
//! classifier or responder is then installed with the project's sample config into
//! a real host, sent a webhook, and seen to tag the message as the sample config
//! says. Bad names and directories that are not empty are refused with exit code 1.

use scrm_e2e::fleet::scrm_binary;
use scrm_e2e::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn scrm(args: &[&str]) -> Output {
    Command::new(scrm_binary().unwrap())
        .args(args)
        .output()
        .expect("run scrm")
}

/// Runs `cmd` in `dir`, asserting it succeeds; its stdout.
fn ok(what: &str, cmd: &mut Command) -> String {
    let o = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        o.status.success(),
        "{what} failed:\n{}{}",
        String::from_utf8_lossy(&o.stderr),
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Scaffolds `world` in `lang` into a temp dir; the temp dir and the project's path.
fn scaffold(world: &str, lang: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(format!("my-{world}-{lang}"));
    let o = scrm(&[
        "plugin",
        "new",
        &format!("my-{world}-{lang}"),
        "--world",
        world,
        "--lang",
        lang,
        "--dir",
        dir.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        dir.to_str().unwrap()
    );
    for file in ["README.md", "config.toml", ".gitignore"] {
        assert!(dir.join(file).is_file(), "{lang}: no {file}");
    }
    (tmp, dir)
}

/// Builds the project with `scrm plugin build` (tools shared with the other tests'
/// builds); the component's path.
fn build(lang: &str, dir: &Path, work: &str) -> PathBuf {
    let work = repo_root().join("target/guests").join(work);
    let wasm = ok(
        &format!("{lang}: scrm plugin build"),
        Command::new(scrm_binary().unwrap())
            .args(["plugin", "build", "--dir"])
            .arg(dir)
            .arg("--work-dir")
            .arg(&work)
            .env(
                "CARGO_TARGET_DIR",
                repo_root().join("target/guests/scaffold-rust"),
            ),
    );
    PathBuf::from(wasm.trim())
}

/// Builds the project and checks it as its world needs: every world passes the
/// conformance suite; a classifier or responder is also installed
/// ([`runs_in_a_host`]).
async fn build_and_check(world: &str, lang: &str, dir: &Path, work: &str) {
    let wasm = build(lang, dir, work);
    passes_conformance(world, lang, &wasm, &dir.join("config.toml"));
    if matches!(world, "classifier" | "responder") {
        runs_in_a_host(world, lang, dir, &wasm).await;
    }
}

/// Checks, through a real host, that the sample config acts on a refund request —
/// a classifier tags it, a responder tags and answers it — and on nothing else.
async fn runs_in_a_host(world: &str, lang: &str, dir: &Path, wasm: &Path) {
    let config = std::fs::read_to_string(dir.join("config.toml")).unwrap();
    let host = Host::start().await;
    host.tenant("acme", &["1001"], "IT").await;
    host.install("acme", world, wasm, Some(&config)).await;
    let body = text_webhook(
        "1001",
        "393471234567",
        &[("wamid.r", "I want a REFUND please"), ("wamid.h", "hello")],
    );
    let (status, text) = host.post_signed(&body, APP_SECRET).await;
    assert_eq!(status, 200, "{text}");
    host.settle().await;
    let msgs = host.messages("acme").await;
    let m = |wamid: &str| {
        msgs.iter()
            .find(|m| m["wamid"] == wamid)
            .expect(wamid)
            .clone()
    };
    let (refund, hello) = (m("wamid.r"), m("wamid.h"));
    let at = format!("{world} {lang}: {refund} {hello}");
    assert_eq!(refund["tags"], json!(["refund"]), "{at}");
    assert_eq!(hello["tags"], json!([]), "{at}");
    if world == "classifier" {
        assert_eq!(refund["classify_error"], Value::Null, "{at}");
        return;
    }
    assert_eq!(refund["respond_error"], Value::Null, "{at}");
    assert_eq!(
        refund["actions"][0],
        json!({"type": "tag", "tag": "refund"}),
        "{at}"
    );
    assert_eq!(refund["actions"][1]["type"], "reply", "{at}");
    assert!(
        refund["actions"][1]["text"]
            .as_str()
            .is_some_and(|t| t.contains("refund")),
        "{at}"
    );
    assert_eq!(hello["actions"], json!([]), "{at}");
}

/// `scrm plugin test` on the built component with the sample config: every check
/// of its world passes. Compiled into the cache the test hosts share, so the host
/// that installs it next does not compile it again.
fn passes_conformance(world: &str, lang: &str, wasm: &Path, config: &Path) {
    let o = Command::new(scrm_binary().unwrap())
        .args(["plugin", "test"])
        .arg(wasm)
        .arg("--config")
        .arg(config)
        .env(
            "SCRM_COMPILE_CACHE_DIR",
            repo_root().join("target/compile-cache"),
        )
        .output()
        .expect("run scrm plugin test");
    let report = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{world} {lang}: scrm plugin test failed:\n{report}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        report.trim_end().ends_with(" passed, 0 failed") && !report.contains("\nFAIL "),
        "{world} {lang}: {report}"
    );
}

/// A Rust project: `cargo test`, then build and check.
async fn rust(world: &str) {
    let (_tmp, dir) = scaffold(world, "rust");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = ok(
        "cargo test",
        Command::new(cargo)
            .current_dir(&dir)
            .args(["test", "--quiet"])
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env(
                "CARGO_TARGET_DIR",
                repo_root().join("target/guests/scaffold-rust"),
            ),
    );
    assert!(out.contains("1 passed"), "{out}");
    build_and_check(world, "rust", &dir, "rust-work").await;
}

/// A JavaScript project: `npm install`, `npm test`, then build and check.
async fn javascript(world: &str) {
    let (_tmp, dir) = scaffold(world, "js");
    assert!(dir.join(format!("wit/{world}.wit")).is_file());
    ok(
        "npm install",
        Command::new("npm").current_dir(&dir).args([
            "install",
            "--no-audit",
            "--no-fund",
            "--prefer-offline",
        ]),
    );
    let out = ok(
        "npm test",
        Command::new("npm").current_dir(&dir).arg("test"),
    );
    assert!(out.contains("# pass 2"), "{out}");
    build_and_check(world, "js", &dir, "js-work").await;
}

/// A Python project: `python3 -m unittest`, then build and check; the build wrote
/// the world's bindings for editors.
async fn python(world: &str) {
    let (_tmp, dir) = scaffold(world, "python");
    assert!(dir.join(format!("wit/{world}.wit")).is_file());
    let o = Command::new("python3")
        .current_dir(&dir)
        .args(["-m", "unittest"])
        .output()
        .unwrap();
    // unittest reports on stderr.
    let report = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success() && report.contains("Ran 2 tests"),
        "{report}"
    );
    build_and_check(world, "python", &dir, "py-work").await;
    let exports =
        std::fs::read_to_string(dir.join("typings/wit_world/exports/__init__.py")).unwrap();
    assert!(exports.contains("def "), "{exports}");
}

#[tokio::test]
async fn a_rust_classifier_scaffold_tests_builds_and_tags() {
    rust("classifier").await;
}

#[tokio::test]
async fn a_rust_responder_scaffold_tests_builds_and_answers() {
    rust("responder").await;
}

#[tokio::test]
async fn a_javascript_classifier_scaffold_tests_builds_and_tags() {
    javascript("classifier").await;
}

#[tokio::test]
async fn a_javascript_responder_scaffold_tests_builds_and_answers() {
    javascript("responder").await;
}

#[tokio::test]
async fn a_python_classifier_scaffold_tests_builds_and_tags() {
    python("classifier").await;
}

#[tokio::test]
async fn a_python_responder_scaffold_tests_builds_and_answers() {
    python("responder").await;
}

#[tokio::test]
async fn a_rust_mapper_scaffold_tests_builds_and_conforms() {
    rust("mapper").await;
}

#[tokio::test]
async fn a_javascript_mapper_scaffold_tests_builds_and_conforms() {
    javascript("mapper").await;
}

#[tokio::test]
async fn a_python_mapper_scaffold_tests_builds_and_conforms() {
    python("mapper").await;
}

#[tokio::test]
async fn a_rust_connector_scaffold_tests_builds_and_conforms() {
    rust("connector").await;
}

#[tokio::test]
async fn a_javascript_connector_scaffold_tests_builds_and_conforms() {
    javascript("connector").await;
}

#[tokio::test]
async fn a_python_connector_scaffold_tests_builds_and_conforms() {
    python("connector").await;
}

#[test]
fn bad_names_and_used_directories_are_refused() {
    let o = scrm(&[
        "plugin",
        "new",
        "My Plugin",
        "--world",
        "classifier",
        "--lang",
        "rust",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("invalid plugin name"));

    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("keep.txt"), "mine").unwrap();
    let dir = tmp.path().to_str().unwrap();
    let o = scrm(&[
        "plugin",
        "new",
        "x",
        "--world",
        "classifier",
        "--lang",
        "js",
        "--dir",
        dir,
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("is not empty"));
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("keep.txt")).unwrap(),
        "mine"
    );

    let o = scrm(&["plugin", "new", "x", "--world", "geocoder", "--lang", "js"]);
    assert_ne!(o.status.code(), Some(0), "a world without a template");
}
