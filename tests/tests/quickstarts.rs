//! The quick starts of docs/plugins.md, run as they are written: for each language,
//! the setup block and the language's block, in one shell, against a fresh host,
//! with the `scrm` of this build first on the `PATH`. Each must end with the
//! replayed message tagged by the plugin it scaffolded, built and installed.

use scrm_e2e::fleet::scrm_binary;
use scrm_e2e::*;
use tokio::process::Command;

/// The shell block that follows `<!-- quickstart: NAME -->` in docs/plugins.md.
fn block(doc: &str, name: &str) -> String {
    let marker = format!("<!-- quickstart: {name} -->");
    let at = doc
        .find(&marker)
        .unwrap_or_else(|| panic!("docs/plugins.md has no {marker}"));
    let rest = &doc[at + marker.len()..];
    let start = rest.find("```sh\n").expect("a sh block after the marker") + "```sh\n".len();
    let end = rest[start..].find("\n```").expect("the block's end");
    rest[start..start + end].to_owned()
}

async fn run(lang: &str, work: &str) {
    let doc = std::fs::read_to_string(repo_root().join("docs/plugins.md")).unwrap();
    let script = format!("{}\n{}\n", block(&doc, "setup"), block(&doc, lang));
    let host = Host::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let bin_dir = scrm_binary().unwrap().parent().unwrap().to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // Asynchronously: the host runs on this test's runtime and must answer meanwhile.
    let o = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(tmp.path())
        .env("PATH", path)
        .env("SCRM_SERVER", &host.base)
        .env("SCRM_ADMIN_TOKEN", TOKEN)
        // The build tools, shared with the other tests' builds (documented knobs).
        .env(
            "SCRM_PLUGIN_WORK_DIR",
            repo_root().join("target/guests").join(work),
        )
        .env(
            "CARGO_TARGET_DIR",
            repo_root().join("target/guests/scaffold-rust"),
        )
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .output()
        .await
        .unwrap();
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(
        o.status.success(),
        "{lang} quick start failed:\n{err}\n{out}"
    );
    let last = out.lines().last().unwrap_or_default();
    assert!(last.contains(r#""tags":["refund"]"#), "{lang}: {last}");
    assert!(
        last.contains(r#""classifier":"my-tagger@1 sha256:"#),
        "{lang}: {last}"
    );
}

#[tokio::test]
async fn the_python_quick_start_works_as_written() {
    run("python", "py-work").await;
}

#[tokio::test]
async fn the_javascript_quick_start_works_as_written() {
    run("js", "js-work").await;
}

#[tokio::test]
async fn the_rust_quick_start_works_as_written() {
    run("rust", "rust-work").await;
}
