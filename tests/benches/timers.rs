//! Durable flow timers at scale (BENCHMARKS.md): 1,000,000 pending timers of one
//! tenant's flow, spread over 1,000 contacts with conversations, on SQLite.
//!
//! 1. Schedules them through the store's timer upsert (`FlowRepo::schedule_timer`,
//!    the path flows use), 10,000 per transaction, all due in a day: timers/s.
//! 2. Host memory: the process's resident set before and after (the timers live in
//!    the store, not in the host's memory).
//! 3. Makes them all due at once and lets the flow worker fire them (claim, build the
//!    event with the contact's facts, run the flow — `hostile-flow`, which does
//!    nothing on a `quiet` timer — and record the outcome): fired timers/s, sustained over
//!    the whole million, and the resident set afterwards.
//!
//! `cargo bench -p scrm-e2e --bench timers`; `SCRM_BENCH_TIMERS` sets the count
//! (default 1,000,000), `SCRM_BENCH_TIMER_CONTACTS` the contacts (default 1,000).

use scrm_e2e::graph::{ACCESS_TOKEN, Graph};
use scrm_e2e::{APP_SECRET, Host, guest};
use scrm_store::flows::NewTimer;
use serde_json::json;
use std::time::{Duration, Instant};

const PN: &str = "100200300";

/// This process's resident set, MiB.
fn rss_mib() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: f64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0.0);
    pages * 4096.0 / (1024.0 * 1024.0)
}

/// One webhook body with a message from each of the senders `first..first + n`.
fn contacts_webhook(first: usize, n: usize) -> Vec<u8> {
    let messages: Vec<_> = (first..first + n)
        .map(|i| {
            json!({"from": format!("39347{i:07}"), "id": format!("wamid.t.{i}"),
                   "timestamp": (scrm_store::now_ms() / 1000).to_string(), "type": "text", "text": {"body": "hi"}})
        })
        .collect();
    let profiles: Vec<_> = (first..first + n)
        .map(|i| json!({"profile": {"name": format!("Customer {i}")}, "wa_id": format!("39347{i:07}")}))
        .collect();
    serde_json::to_vec(&json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA1", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550000000", "phone_number_id": PN},
            "contacts": profiles, "messages": messages
        }}]}]
    }))
    .unwrap()
}

async fn fired(host: &Host) -> u64 {
    let metrics = host.metrics().await;
    metrics
        .lines()
        .filter(|l| l.starts_with("scrm_flow_jobs_total{") && l.contains("result=\"done\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[tokio::main]
async fn main() {
    let n = scrm_e2e::bench::env_size("SCRM_BENCH_TIMERS", 1_000_000);
    let contacts = scrm_e2e::bench::env_size("SCRM_BENCH_TIMER_CONTACTS", 1_000);
    let graph = Graph::start().await;
    let dir = tempfile::tempdir().unwrap();
    let url = graph.url();
    let host = Host::start_configured(dir.path(), |s| {
        s.whatsapp.graph_url = url;
        s.flows.settle_ms = 0;
    })
    .await;
    host.tenant("acme", &[PN], "IT").await;
    host.ok(
        "PUT",
        "/v1/tenants/acme/secrets/whatsapp_access_token",
        Some(json!({"value": ACCESS_TOKEN})),
    )
    .await;
    for first in (0..contacts).step_by(500) {
        let body = contacts_webhook(first, 500.min(contacts - first));
        let (status, _) = host.post_signed(&body, APP_SECRET).await;
        assert!(status.is_success());
    }
    host.settle().await;
    let flow = std::fs::read(guest("hostile-flow")).unwrap();
    let resp = host
        .http
        .post(format!("{}/v1/flows", host.base))
        .bearer_auth(scrm_e2e::TOKEN)
        .body(flow)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    host.ok("PUT", "/v1/tenants/acme/flows/hostile-flow", None)
        .await;
    let ids: Vec<i64> = host
        .with_conn(|c| {
            c.query(
                "SELECT id FROM contacts WHERE tenant_id = 'acme' ORDER BY id",
                &[],
                |r| r.get(0),
            )
        })
        .await
        .unwrap();
    eprintln!("{} contacts with conversations", ids.len());

    // 1. Schedule.
    let rss_before = rss_mib();
    let due = scrm_store::now_ms() + 86_400_000;
    let started = Instant::now();
    let per_tx = 10_000;
    for first in (0..n).step_by(per_tx) {
        let ids = ids.clone();
        host.with_conn(move |c| {
            scrm_store::transaction(c, |tx| {
                for i in first..(first + per_tx).min(n) {
                    let key = format!("t{i}");
                    scrm_store::FlowRepo::schedule_timer(
                        tx,
                        &NewTimer {
                            kind: "timer",
                            tenant: "acme",
                            flow: "hostile-flow",
                            contact_id: ids[i % ids.len()],
                            key: &key,
                            due_at: due,
                            fire_at: due,
                            event: "{}",
                            payload: b"quiet",
                        },
                    )?;
                }
                Ok(())
            })
        })
        .await
        .unwrap();
    }
    let scheduling = started.elapsed();
    let rss_loaded = rss_mib();

    // 2. All due now: fire.
    let now = scrm_store::now_ms();
    host.with_conn(move |c| {
        c.execute(
            "UPDATE flow_jobs SET due_at = ?1, fire_at = ?1 WHERE state = 'pending'",
            scrm_store::params![now],
        )
    })
    .await
    .unwrap();
    let before = fired(&host).await;
    let started = Instant::now();
    let mut peak_rss = rss_mib();
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        peak_rss = peak_rss.max(rss_mib());
        let done = fired(&host).await - before;
        if done >= n as u64 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(3_600),
            "only {done} of {n} timers fired in an hour"
        );
    }
    let firing = started.elapsed();
    let pending: i64 = host
        .with_conn(|c| {
            c.query_one(
                "SELECT count(*) FROM flow_jobs WHERE state = 'pending'",
                &[],
                |r| r.get(0),
            )
        })
        .await
        .unwrap();
    println!("timers: {n} over {} contacts, SQLite", ids.len());
    println!(
        "  scheduled in {:.1} s: {:.0} timers/s",
        scheduling.as_secs_f64(),
        n as f64 / scheduling.as_secs_f64()
    );
    println!(
        "  fired in {:.1} s: {:.0} timers/s sustained; {pending} still pending",
        firing.as_secs_f64(),
        n as f64 / firing.as_secs_f64()
    );
    println!(
        "  resident set: {rss_before:.0} MiB before scheduling, {rss_loaded:.0} MiB with {n} pending \
         (+{:.1} MiB), peak {peak_rss:.0} MiB while firing (+{:.1} MiB)",
        rss_loaded - rss_before,
        peak_rss - rss_before
    );
}
