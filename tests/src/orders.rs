//! The steps of the order-status tests (`tests/tests/order_status*.rs`): a host
//! that sends through the local Cloud API with a flow settle delay fit for tests,
//! the AfterShip courier installed against the local AfterShip, the `order-status`
//! flow enabled, and what reached the customer.

use crate::aftership::{self, AfterShip};
use crate::graph::{self, Graph};
use crate::{Host, eventually, guest};
use serde_json::{Value, json};

/// A host sending through `graph` (no per-recipient pacing, flow timers settled
/// after 100 ms) with tenant `acme`: its Cloud API token, the AfterShip key and
/// `secrets` as tenant secrets, real-time CRM sync pulling when the test asks.
pub async fn sending_host(graph: &Graph, secrets: &[(&str, &str)]) -> Host {
    let url = graph.url();
    let host = Host::start_configured_temp(move |s| {
        s.whatsapp.graph_url = url;
        s.whatsapp.backoff_base_ms = 50;
        s.whatsapp.limits.recipient_interval_ms = 1;
        s.flows.settle_ms = 100;
    })
    .await;
    let mut all = secrets.to_vec();
    all.push(("aftership_key", aftership::API_KEY));
    all.push(("whatsapp_access_token", graph::ACCESS_TOKEN));
    crate::crm::configure_tenant(host, "acme", &all, 0).await
}

/// Installs the `aftership-courier` plugin in `acme`'s courier slot, against
/// `ship`, with the key as the `as-api-key` credential.
pub async fn install_courier(host: &Host, ship: &AfterShip) {
    let courier = host.upload(&guest("aftership-courier")).await;
    assert_eq!(courier["slot"], "courier", "{courier}");
    let policy = json!({
        "allow": ["127.0.0.1"],
        "allow_private": [format!("127.0.0.1:{}", ship.addr().port())],
        "credentials": [{"host": "127.0.0.1", "header": "as-api-key", "secret": "aftership_key"}]
    });
    host.ok(
        "PUT",
        "/v1/tenants/acme/plugins/courier",
        Some(json!({"sha256": courier["sha256"], "http": policy,
                    "config": format!("base_url = \"{}\"\n", ship.url())})),
    )
    .await;
}

/// Adds the `order-status` flow and its notice template `order_update` (it), and
/// enables it for `acme` polling every second.
pub async fn enable_order_status(host: &Host) {
    let bytes = std::fs::read(guest("order-status")).expect("read the flow");
    let resp = host
        .http
        .post(format!("{}/v1/flows", host.base))
        .bearer_auth(crate::TOKEN)
        .body(bytes)
        .send()
        .await
        .expect("add the flow");
    assert!(
        resp.status().is_success(),
        "{}",
        resp.text().await.unwrap_or_default()
    );
    let template = json!({"name": "order_update", "language": "it", "category": "UTILITY",
        "components": [{"type": "BODY", "text": "Ordine {{1}}: {{2}}. {{3}}"}]});
    host.ok(
        "PUT",
        "/v1/tenants/acme/templates/order_update/it",
        Some(template),
    )
    .await;
    host.ok(
        "PUT",
        "/v1/tenants/acme/flows/order-status",
        Some(json!({"set": {"poll_interval": "1s"}})),
    )
    .await;
}

/// The texts the Cloud API got so far.
pub fn texts(graph: &Graph) -> Vec<String> {
    graph
        .sent_messages()
        .iter()
        .map(|m| {
            m.body["text"]["body"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

/// Waits until a text sent to the customer contains `needle`; all texts then.
///
/// # Panics
/// When none does within 30 s.
pub async fn sent_containing(graph: &Graph, needle: &str) -> Vec<String> {
    eventually(|| async {
        let all = texts(graph);
        Ok(all.iter().any(|t| t.contains(needle)).then_some(all))
    })
    .await
    .unwrap_or_else(|e| panic!("no message with {needle:?}: {e}; sent: {:#?}", texts(graph)))
}

/// The flow's status for `acme` (`recent`, `waiting`).
pub async fn flow_status(host: &Host) -> Value {
    host.ok("GET", "/v1/tenants/acme/flows/order-status", None)
        .await
}
