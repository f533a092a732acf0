//! Helpers of the flow tests: a host with tenant `acme` on a local Cloud API server,
//! customers' webhooks, flows added and enabled, templates registered.

use crate::graph::{ACCESS_TOKEN, Graph, SentMessage};
use crate::{APP_SECRET, Host, TOKEN, eventually, guest};
use reqwest::StatusCode;
use scrm::config::Settings;
use serde_json::{Value, json};
use std::time::{SystemTime, UNIX_EPOCH};

pub const PN: &str = "100200300";
pub const WEI: &str = "393471234567";

/// A host on `dir` sending through `graph`, with tenant `acme` owning [`PN`]; then
/// `configure` changes the settings.
pub async fn acme_host(
    dir: &std::path::Path,
    graph: &Graph,
    configure: impl FnOnce(&mut Settings),
) -> Host {
    let url = graph.url();
    let host = Host::start_configured(dir, |s| {
        s.whatsapp.graph_url = url;
        s.whatsapp.backoff_base_ms = 50;
        s.whatsapp.max_attempts = 2;
        // Automation is a quick exchange: no per-recipient pacing in these tests.
        s.whatsapp.limits.recipient_interval_ms = 1;
        s.flows.settle_ms = 200;
        configure(s);
    })
    .await;
    host.tenant("acme", &[PN], "IT").await;
    host.ok(
        "PUT",
        "/v1/tenants/acme/secrets/whatsapp_access_token",
        Some(json!({"value": ACCESS_TOKEN})),
    )
    .await;
    host
}

pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A signed webhook: `from` (profile name `name`) writes `text` now.
pub async fn inbound(host: &Host, from: &str, name: &str, wamid: &str, text: &str) {
    inbound_message(
        host,
        name,
        json!({"from": from, "id": wamid, "timestamp": now_secs().to_string(),
               "type": "text", "text": {"body": text}}),
    )
    .await;
}

/// A signed webhook carrying one message object (any type) from `message.from`.
pub async fn inbound_message(host: &Host, name: &str, message: Value) {
    let from = message["from"].clone();
    let body = json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA1", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550000000", "phone_number_id": PN},
            "contacts": [{"profile": {"name": name}, "wa_id": from}],
            "messages": [message]
        }}]}]
    });
    let (status, _) = host
        .post_signed(&serde_json::to_vec(&body).unwrap(), APP_SECRET)
        .await;
    assert_eq!(status, StatusCode::OK);
    host.settle().await;
}

/// Adds the flow built from `package` to the host's catalog.
pub async fn add_flow(host: &Host, package: &str) -> Value {
    let bytes = std::fs::read(guest(package)).unwrap();
    let resp = host
        .http
        .post(format!("{}/v1/flows", host.base))
        .bearer_auth(TOKEN)
        .body(bytes)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let v: Value = resp.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{v}");
    v
}

/// Waits until the tenant's flow `name` has handled `n` jobs (any end state).
pub async fn handled(host: &Host, name: &str, n: usize) -> Value {
    let path = format!("/v1/tenants/acme/flows/{name}");
    eventually(|| async {
        let v = host.ok("GET", &path, None).await;
        let recent = v["recent"].as_array().map_or(0, Vec::len);
        Ok((recent >= n).then_some(v))
    })
    .await
    .unwrap_or_else(|e| panic!("flow {name} did not handle {n} events: {e}"))
}

/// Waits until the Cloud API server got `n` messages; all of them.
pub async fn sent_at_least(graph: &Graph, n: usize) -> Vec<SentMessage> {
    eventually(|| async {
        let sent = graph.sent_messages();
        Ok((sent.len() >= n).then_some(sent))
    })
    .await
    .unwrap_or_else(|e| panic!("fewer than {n} messages reached the Cloud API: {e}"))
}

/// Registers the approved template `name` (`language`) with body `text`.
pub async fn add_template(host: &Host, name: &str, language: &str, text: &str) {
    let template = json!({"name": name, "language": language, "category": "MARKETING",
        "components": [{"type": "BODY", "text": text}]});
    let resp = host
        .http
        .put(format!(
            "{}/v1/tenants/acme/templates/{name}/{language}",
            host.base
        ))
        .bearer_auth(TOKEN)
        .json(&template)
        .send()
        .await
        .expect("the host answers");
    assert!(
        resp.status().is_success(),
        "{}",
        resp.text().await.unwrap_or_default()
    );
}
