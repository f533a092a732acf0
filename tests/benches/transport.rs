//! Whole-system WhatsApp transport figures (issue 4, BENCHMARKS.md):
//!
//! 1. inbound webhook throughput with the keyword classifier on: messages/s from
//!    the first POST until every message is stored and tagged; and the ack latency
//!    (POST → 200) at fixed offered rates, open loop;
//! 2. outbound pacing accuracy: 100 numbers at 80 msg/s each, sent through the real
//!    outbox to a local Cloud API server; per-number achieved rate and the most
//!    messages any number sent in one second.
//!
//! `cargo bench -p scrm-e2e --bench transport` (add `-- inbound` or `-- outbound` for
//! one part). Plain binary: the figures are whole-system, not criterion loops.

use scrm_e2e::graph::{ACCESS_TOKEN, Graph};
use scrm_e2e::{APP_SECRET, Host, guest};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const PN: &str = "106540352242922";

fn webhook(i: usize) -> Vec<u8> {
    let from = format!("39347{:07}", i % 5000);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    serde_json::to_vec(&json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA1", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550000000", "phone_number_id": PN},
            "contacts": [{"profile": {"name": "Customer"}, "wa_id": from}],
            "messages": [{"from": from, "id": format!("wamid.bench.{i}"), "timestamp": now.to_string(),
                          "type": "text", "text": {"body": "Hi, how much is the red dress in size M? I want to order two"}}]
        }}]}]
    }))
    .unwrap()
}

fn signature(body: &[u8]) -> String {
    scrm_wire::signature::sign(APP_SECRET.as_bytes(), body)
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn inbound() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start_configured(dir.path(), |_| {}).await;
    host.tenant("acme", &[PN], "IT").await;
    host.install("acme", "classifier", &guest("keyword-classifier"), None)
        .await;
    let url = format!("{}/webhooks/whatsapp", host.base);
    let http = reqwest::Client::new();

    // Throughput: 5,000 webhooks, 32 in flight, until all are tagged.
    let n = 5_000;
    let bodies: Vec<(Vec<u8>, String)> = (0..n)
        .map(|i| {
            let b = webhook(i);
            let s = signature(&b);
            (b, s)
        })
        .collect();
    let bodies = Arc::new(bodies);
    let started = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let (http, url, bodies, next) = (http.clone(), url.clone(), bodies.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some((b, s)) = bodies.get(i) else { break };
                let r = http
                    .post(&url)
                    .header("X-Hub-Signature-256", s)
                    .body(b.clone())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let acked = started.elapsed();
    host.settle().await;
    let stored = started.elapsed();
    let first = host
        .ok("GET", "/v1/tenants/acme/messages?limit=1", None)
        .await;
    assert!(
        first["items"][0]["tags"]
            .as_array()
            .is_some_and(|t| !t.is_empty()),
        "the classifier ran: {first}"
    );
    println!(
        "inbound throughput (classifier on): {n} webhooks acked in {:.2} s ({:.0}/s), all stored and tagged in {:.2} s = {:.0} messages/s",
        acked.as_secs_f64(),
        n as f64 / acked.as_secs_f64(),
        stored.as_secs_f64(),
        n as f64 / stored.as_secs_f64()
    );

    // Ack latency at fixed offered rates, open loop, 5 s each.
    for rate in [100u64, 500, 1_000, 2_000] {
        let total = (rate * 5) as usize;
        let offset = 100_000 * rate as usize;
        let interval = Duration::from_nanos(1_000_000_000 / rate);
        let start = tokio::time::Instant::now();
        let mut handles = Vec::with_capacity(total);
        for i in 0..total {
            tokio::time::sleep_until(start + interval * i as u32).await;
            let body = webhook(offset + i);
            let sig = signature(&body);
            let (http, url) = (http.clone(), url.clone());
            handles.push(tokio::spawn(async move {
                let t = Instant::now();
                let r = http
                    .post(&url)
                    .header("X-Hub-Signature-256", sig)
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                t.elapsed()
            }));
        }
        let mut lat = Vec::with_capacity(total);
        for h in handles {
            lat.push(h.await.unwrap());
        }
        let offered_for = start.elapsed();
        lat.sort();
        println!(
            "ack latency at {rate}/s offered ({total} webhooks, achieved {:.0}/s): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            total as f64 / offered_for.as_secs_f64(),
            pct(&lat, 0.5).as_secs_f64() * 1e3,
            pct(&lat, 0.99).as_secs_f64() * 1e3,
            lat.last().unwrap().as_secs_f64() * 1e3
        );
        host.settle().await;
    }
}

async fn outbound(numbers: usize) {
    let per_number = 240; // 3 s at 80 msg/s
    let graph = Graph::start().await;
    let dir = tempfile::tempdir().unwrap();
    let url = graph.url();
    let host = Host::start_configured(dir.path(), |s| s.whatsapp.graph_url = url).await;
    let pnids: Vec<String> = (0..numbers).map(|i| format!("5550000{i:03}")).collect();
    let refs: Vec<&str> = pnids.iter().map(String::as_str).collect();
    host.tenant("acme", &refs, "IT").await;
    host.ok(
        "PUT",
        "/v1/tenants/acme/limits",
        Some(json!({"daily_cap": "unlimited", "mps": 80})),
    )
    .await;
    // Enqueue everything while the token is missing (held, not sent), then set it: the
    // sender starts with a full outbox, as after an outage.
    let started = Instant::now();
    let http = reqwest::Client::new();
    let mut tasks = Vec::new();
    for (n, pn) in pnids.iter().enumerate() {
        let (http, base, pn) = (http.clone(), host.base.clone(), pn.clone());
        tasks.push(tokio::spawn(async move {
            for k in 0..per_number {
                let body = json!({"from": pn, "to": format!("3934{:08}", n * 1000 + k), "type": "template",
                                  "category": "utility", "template": {"name": "order_update", "language": {"code": "it"}}});
                let r = http
                    .post(format!("{base}/v1/tenants/acme/messages"))
                    .bearer_auth(scrm_e2e::TOKEN)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 202);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let total = numbers * per_number;
    println!(
        "outbound: enqueued {total} sends in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    let go = Instant::now();
    host.ok(
        "PUT",
        "/v1/tenants/acme/secrets/whatsapp_access_token",
        Some(json!({"value": ACCESS_TOKEN})),
    )
    .await;
    loop {
        if graph.sent_count() >= total {
            break;
        }
        assert!(
            go.elapsed() < Duration::from_secs(300),
            "only {} of {total} sent",
            graph.sent_count()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let drained = go.elapsed();
    let mut per: HashMap<String, Vec<Instant>> = HashMap::new();
    for m in graph.sent_messages() {
        per.entry(m.phone_number_id).or_default().push(m.at);
    }
    let mut rates = Vec::new();
    let mut max_in_second = 0;
    for times in per.values_mut() {
        times.sort();
        let span = (*times.last().unwrap() - times[0]).as_secs_f64();
        rates.push((times.len() - 1) as f64 / span);
        let mut j = 0;
        for i in 0..times.len() {
            while times[i] - times[j] >= Duration::from_secs(1) {
                j += 1;
            }
            max_in_second = max_in_second.max(i - j + 1);
        }
    }
    rates.sort_by(f64::total_cmp);
    let mean = rates.iter().sum::<f64>() / rates.len() as f64;
    println!(
        "outbound pacing, {numbers} numbers × {per_number} sends at 80 msg/s each: drained in {:.2} s ({:.0} msg/s overall); per-number rate min {:.1} / mean {:.1} / max {:.1} msg/s; most sends by one number in any 1 s window: {max_in_second}",
        drained.as_secs_f64(),
        total as f64 / drained.as_secs_f64(),
        rates[0],
        mean,
        rates[rates.len() - 1]
    );
    let _: Value = host
        .ok("GET", "/v1/tenants/acme/outbox?limit=1", None)
        .await;
}

fn main() {
    let arg = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        if arg.as_deref() != Some("outbound") {
            inbound().await;
        }
        if arg.as_deref() != Some("inbound") {
            // Few numbers: pacing accuracy with the machine not saturated; 100 numbers:
            // what one process on this machine sustains.
            outbound(10).await;
            outbound(100).await;
        }
    });
}
