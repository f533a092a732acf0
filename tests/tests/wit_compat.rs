//! The WIT package's compatibility promise (docs/plugins.md#versions-and-compatibility):
//! the host loads and calls plugins built against every version it has shipped.
//! `tests/compat/wit-0.1.0` is a copy of the first released version; the
//! classifier and responder beside it are built from source against it for every
//! run, then installed on the current host and driven by real webhooks, and run
//! with `scrm plugin run`. `tests/compat/wit-0.1.1` (flows and couriers, before
//! `assist`) has a flow built against it, enabled and driven the same way.
//!
//! When a new version ships, copy the previous one here with a guest of its own.

use scrm_e2e::fleet::scrm_binary;
use scrm_e2e::*;
use serde_json::{Value, json};

/// `scrm ARGS` with the tests' compile cache; its exit code and standard output
/// (with its standard error appended, for failure messages).
fn scrm(args: &[&str]) -> (i32, String) {
    let out = std::process::Command::new(scrm_binary().expect("the scrm binary"))
        .args(args)
        .env(
            "SCRM_COMPILE_CACHE_DIR",
            repo_root().join("target/compile-cache"),
        )
        .output()
        .expect("run scrm");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let code = out.status.code().unwrap_or(-1);
    if code != 0 {
        return (code, text + &String::from_utf8_lossy(&out.stderr));
    }
    (code, text)
}

#[tokio::test]
async fn a_classifier_built_against_wit_0_1_0_is_loaded_and_called_with_every_capability() {
    let wasm = guest("compat-classifier-0-1-0");
    let (code, out) = scrm(&["plugin", "inspect", wasm.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0, "{out}");
    let info: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(info["world"], "scrm:plugin/classifier@0.1.0", "{info}");

    let host = Host::start().await;
    host.tenant("acme", &["100"], "US").await;
    let installed = host
        .install(
            "acme",
            "classifier",
            &wasm,
            Some("price: pricing\nrefund: complaint\n"),
        )
        .await;
    assert_eq!(installed["slot"], "classifier");
    let body = text_webhook(
        "100",
        "16505551234",
        &[
            ("wamid.c1", "What is the PRICE?"),
            ("wamid.c2", "I want a refund"),
        ],
    );
    host.post_signed(&body, APP_SECRET).await;
    host.settle().await;
    let msgs = host.messages("acme").await;
    let by_id = |id: &str| msgs.iter().find(|m| m["wamid"] == id).unwrap().clone();
    let (first, second) = (by_id("wamid.c1"), by_id("wamid.c2"));
    assert_eq!(first["tags"], json!(["pricing"]), "{first}");
    assert_eq!(first["classification"]["priority"], "high", "{first}");
    // kv counts across calls; the clock reads the host's time.
    let entities = |m: &Value| m["classification"]["entities"].clone();
    assert_eq!(
        entities(&first),
        json!([{"kind": "seen", "value": "1"}, {"kind": "clock", "value": "ok"}]),
        "{first}"
    );
    assert_eq!(second["tags"], json!(["complaint"]));
    assert_eq!(entities(&second)[0]["value"], "2", "{second}");
}

#[tokio::test]
async fn a_responder_built_against_wit_0_1_0_is_loaded_and_answers() {
    let wasm = guest("compat-responder-0-1-0");
    let host = Host::start().await;
    host.tenant("acme", &["100"], "US").await;
    host.install("acme", "responder", &wasm, Some("hours: 9 to 5"))
        .await;
    let body = text_webhook(
        "100",
        "16505551234",
        &[("wamid.r1", "What are your hours?")],
    );
    host.post_signed(&body, APP_SECRET).await;
    host.settle().await;
    let m = host.messages("acme").await;
    assert_eq!(
        m[0]["actions"],
        json!([
            {"type": "reply", "text": "9 to 5"},
            {"type": "tag", "tag": "answered"},
            {"type": "set_field", "name": "last_keyword", "value": "hours"},
        ]),
        "{}",
        m[0]
    );
}

#[test]
fn plugin_run_calls_a_wit_0_1_0_classifier_with_its_key_value_store_kept_across_messages() {
    let wasm = guest("compat-classifier-0-1-0");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("rules.txt");
    std::fs::write(&config, "color: colour-question\n").unwrap();
    let (code, out) = scrm(&[
        "plugin",
        "run",
        wasm.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        "--fixtures",
        fixtures_dir().to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(code, 0, "{out}");
    let calls: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|l| l["call"] == "classify")
        .collect();
    assert!(calls.len() > 5, "{out}");
    for (n, c) in calls.iter().enumerate() {
        assert_eq!(
            c["result"]["entities"][0]["value"],
            (n + 1).to_string(),
            "{c}"
        );
    }
    assert!(
        calls
            .iter()
            .any(|c| c["result"]["tags"] == json!(["colour-question"])),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flow_built_against_wit_0_1_1_is_enabled_and_answers() {
    use scrm_e2e::flows::{WEI, acme_host, inbound, sent_at_least};
    let wasm = guest("compat-flow-0-1-1");
    let (status, info) = scrm(&["plugin", "inspect", wasm.to_str().unwrap(), "--json"]);
    assert_eq!(status, 0, "{info}");
    let info: Value = serde_json::from_str(&info).unwrap();
    assert_eq!(info["world"], "scrm:plugin/flow@0.1.1", "{info}");
    let dir = tempfile::tempdir().unwrap();
    let graph = scrm_e2e::graph::Graph::start().await;
    let host = acme_host(dir.path(), &graph, |_| {}).await;
    let resp = host
        .http
        .post(format!("{}/v1/flows", host.base))
        .bearer_auth(TOKEN)
        .body(std::fs::read(&wasm).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status().as_u16(),
        201,
        "{}",
        resp.text().await.unwrap_or_default()
    );
    host.ok(
        "PUT",
        "/v1/tenants/acme/flows/compat-flow",
        Some(json!({"set": {"answer": "still loaded"}})),
    )
    .await;
    inbound(&host, WEI, "Wei Chen", "wamid.c1", "hello").await;
    let sent = sent_at_least(&graph, 1).await;
    assert_eq!(sent[0].body["text"]["body"], "still loaded, Wei Chen");
}
