//! Two-way CRM sync figures (BENCHMARKS.md):
//!
//! - `realtime`: WhatsApp message → note in a real Tryton (tests/src/tryton.rs), real-time
//!   mode. Latency from the webhook POST until the host recorded the CRM write as done
//!   (the connector had Tryton's answer), p50 / p95, at a fixed offered rate, open
//!   loop.
//!
//! - `backfill`: the chat history of 100,000 stored messages (5,000 contacts) written to
//!   the local HubSpot server (tests/src/hubspot.rs) by `POST …/crm/backfill`, with the
//!   server's and the host's rate limits raised so that the host's own throughput is
//!   measured; messages/s and HubSpot requests per message. `SCRM_BENCH_BACKFILL` sets
//!   the count.
//!
//! `cargo bench -p scrm-e2e --bench crm` (add `-- realtime` or `-- backfill` for one part). Plain binary:
//! the figures are whole-system, not criterion loops.

use scrm_e2e::tryton::Tryton;
use scrm_e2e::{APP_SECRET, Host, guest};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const PN: &str = "106540352242922";

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn webhook(i: usize, contacts: usize) -> Vec<u8> {
    let from = format!("39347{:07}", i % contacts);
    serde_json::to_vec(&json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA1", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550000000", "phone_number_id": PN},
            "contacts": [{"profile": {"name": format!("Customer {}", i % contacts)}, "wa_id": from}],
            "messages": [{"from": from, "id": format!("wamid.crm.{i}"),
                          "timestamp": (now_ms() / 1000).to_string(),
                          "type": "text", "text": {"body": format!("Question number {i} about my order")}}]
        }}]}]
    }))
    .unwrap()
}

fn pct(sorted: &[i64], p: f64) -> i64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn realtime() {
    let crm = tokio::task::spawn_blocking(Tryton::start)
        .await
        .unwrap()
        .expect("start Tryton");
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start_configured(dir.path(), |_| {}).await;
    host.tenant("acme", &[PN], "IT").await;
    host.ok(
        "PUT",
        "/v1/tenants/acme/secrets/tryton_key",
        Some(json!({"value": crm.key})),
    )
    .await;
    host.ok(
        "PUT",
        "/v1/tenants/acme/crm",
        Some(json!({"mode": "realtime", "pull_seconds": 0})),
    )
    .await;
    host.install(
        "acme",
        "mapper",
        &guest("crm-mapper"),
        Some("contact_object = \"party\"\nrequired = [\"phone\"]\n"),
    )
    .await;
    let port = crm.base.rsplit(':').next().unwrap();
    let connector = host.upload(&guest("tryton-connector")).await;
    host.ok(
        "PUT",
        "/v1/tenants/acme/plugins/connector",
        Some(json!({
            "sha256": connector["sha256"],
            "config": format!("url = \"{}\"\ndb = \"{}\"\n", crm.base, crm.db),
            "http": {
                "allow": ["127.0.0.1"],
                "allow_private": [format!("127.0.0.1:{port}")],
                "credentials": [{"host": "127.0.0.1", "header": "authorization",
                                 "secret": "tryton_key", "prefix": "Bearer "}]
            }
        })),
    )
    .await;

    let (n, contacts, rate) = (300usize, 30usize, 5.0f64);
    let http = reqwest::Client::new();
    let url = format!("{}/webhooks/whatsapp", host.base);
    let mut sent: HashMap<String, i64> = HashMap::new();
    let start = Instant::now();
    for i in 0..n {
        let due = start + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(due.into()).await;
        let body = webhook(i, contacts);
        let sig = scrm_wire::signature::sign(APP_SECRET.as_bytes(), &body);
        sent.insert(format!("wamid.crm.{i}"), now_ms());
        let resp = http
            .post(&url)
            .header("content-type", "application/json")
            .header("x-hub-signature-256", sig)
            .body(body)
            .send()
            .await
            .expect("post");
        assert!(resp.status().is_success());
    }
    // Wait until every write is done.
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let v = host.ok("GET", "/v1/tenants/acme/crm", None).await;
        if v["jobs"]["queued"].is_null() && v["jobs"]["done"].as_u64() >= Some(n as u64) {
            assert!(v["jobs"]["dead"].is_null(), "dead CRM writes: {v}");
            break;
        }
        assert!(Instant::now() < deadline, "CRM writes did not finish: {v}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let messages: HashMap<i64, String> = host
        .messages("acme")
        .await
        .iter()
        .map(|m| {
            (
                m["id"].as_i64().unwrap(),
                m["wamid"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let jobs: Vec<Value> = host.all("/v1/tenants/acme/crm/jobs?state=done").await;
    let mut lat: Vec<i64> = jobs
        .iter()
        .filter(|j| j["kind"] == "message")
        .map(|j| {
            let wamid = &messages[&j["message_id"].as_i64().unwrap()];
            j["updated_at"].as_i64().unwrap() - sent[wamid]
        })
        .collect();
    lat.sort_unstable();
    println!(
        "realtime sync to Tryton: {} messages from {contacts} contacts at {rate}/s offered; \
         webhook POST → CRM write done: p50 {} ms, p95 {} ms, p99 {} ms, max {} ms",
        lat.len(),
        pct(&lat, 0.5),
        pct(&lat, 0.95),
        pct(&lat, 0.99),
        lat.last().unwrap()
    );
}

async fn backfill() {
    use scrm_e2e::hubspot::{ACCESS_TOKEN, HubSpot};
    let n: usize = std::env::var("SCRM_BENCH_BACKFILL")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let contacts = (n / 20).max(1);
    let hub = HubSpot::start().await;
    hub.set_rate_limit(u32::MAX, Duration::from_secs(1));
    hub.set_search_rate_limit(u32::MAX, Duration::from_secs(1));
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start_configured(dir.path(), |_| {}).await;
    host.tenant("acme", &[PN], "IT").await;
    host.ok(
        "PUT",
        "/v1/tenants/acme/secrets/hubspot_token",
        Some(json!({"value": ACCESS_TOKEN})),
    )
    .await;
    host.ok(
        "PUT",
        "/v1/tenants/acme/crm",
        Some(json!({"mode": "realtime", "pull_seconds": 0,
                    "rate_requests": 1_000_000, "rate_seconds": 1})),
    )
    .await;

    // The history: n messages in webhooks of 100, stored before the CRM is connected.
    let started = Instant::now();
    let http = reqwest::Client::new();
    let url = format!("{}/webhooks/whatsapp", host.base);
    let ts = (now_ms() / 1000 - 86_400).to_string();
    for chunk in 0..n.div_ceil(100) {
        let mut msgs = Vec::new();
        let mut profiles = Vec::new();
        for i in chunk * 100..((chunk + 1) * 100).min(n) {
            let from = format!("39347{:07}", i % contacts);
            profiles.push(
                json!({"profile": {"name": format!("Customer {}", i % contacts)}, "wa_id": from}),
            );
            msgs.push(
                json!({"from": from, "id": format!("wamid.hist.{i}"), "timestamp": ts,
                             "type": "text", "text": {"body": format!("History message {i}")}}),
            );
        }
        let body = serde_json::to_vec(&json!({
            "object": "whatsapp_business_account",
            "entry": [{"id": "WABA1", "changes": [{"field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "15550000000", "phone_number_id": PN},
                "contacts": profiles, "messages": msgs
            }}]}]
        }))
        .unwrap();
        let sig = scrm_wire::signature::sign(APP_SECRET.as_bytes(), &body);
        let resp = http
            .post(&url)
            .header("content-type", "application/json")
            .header("x-hub-signature-256", sig)
            .body(body)
            .send()
            .await
            .expect("post");
        assert!(resp.status().is_success());
    }
    host.settle().await;
    eprintln!(
        "stored {n} messages in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    host.install(
        "acme",
        "mapper",
        &guest("crm-mapper"),
        Some("required = [\"phone\"]\n"),
    )
    .await;
    let connector = host.upload(&guest("hubspot-connector")).await;
    host.ok(
        "PUT",
        "/v1/tenants/acme/plugins/connector",
        Some(json!({
            "sha256": connector["sha256"],
            "config": format!("base_url = \"{}\"\npull_settle_ms = 0\n", hub.url()),
            "http": {
                "allow": ["127.0.0.1"],
                "allow_private": [hub.addr().to_string()],
                "credentials": [{"host": "127.0.0.1", "header": "authorization",
                                 "secret": "hubspot_token", "prefix": "Bearer "}]
            }
        })),
    )
    .await;
    let before = hub.requests().len();
    let started = Instant::now();
    let queued = host
        .ok(
            "POST",
            "/v1/tenants/acme/crm/backfill",
            Some(json!({"days": 180})),
        )
        .await;
    assert_eq!(queued["queued"].as_u64(), Some(n as u64), "{queued}");
    let deadline = Instant::now() + Duration::from_secs(3_600);
    loop {
        let v = host.ok("GET", "/v1/tenants/acme/crm", None).await;
        if v["backfill"]["queued"].is_null() {
            assert!(v["backfill"]["dead"].is_null(), "dead backfill writes: {v}");
            break;
        }
        assert!(Instant::now() < deadline, "backfill did not finish: {v}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    let requests = hub.requests().len() - before;
    let communications = hub.all("communications").len();
    assert_eq!(communications, n, "every message written once");
    println!(
        "backfill to the local HubSpot: {n} messages from {contacts} contacts in {secs:.1} s = \
         {:.0} messages/s; {requests} HubSpot requests ({:.2} per message)",
        n as f64 / secs,
        requests as f64 / n as f64
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let which: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let all = which.is_empty();
    if all || which.iter().any(|w| w == "realtime") {
        realtime().await;
    }
    if all || which.iter().any(|w| w == "backfill") {
        backfill().await;
    }
}
