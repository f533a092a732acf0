//! Timers fire once across several hosts: two hosts on one PostgreSQL database, 150
//! customers each get a timer due at once, and every timer's flow call runs exactly
//! once — the flow counts its firings per customer in its key-value store — and each
//! customer gets one answer.

use scrm_e2e::backend::{self, Backend};
use scrm_e2e::flows::{acme_host, add_flow, now_secs};
use scrm_e2e::graph::Graph;
use scrm_e2e::{APP_SECRET, Host, eventually};
use serde_json::json;

const CUSTOMERS: usize = 150;

fn webhook(first: usize, n: usize) -> Vec<u8> {
    let messages: Vec<_> = (first..first + n)
        .map(|i| json!({"from": format!("39347{i:07}"), "id": format!("wamid.fleet.{i}"),
                        "timestamp": now_secs().to_string(), "type": "text", "text": {"body": "timer please"}}))
        .collect();
    let contacts: Vec<_> = (first..first + n)
        .map(|i| json!({"profile": {"name": format!("C{i}")}, "wa_id": format!("39347{i:07}")}))
        .collect();
    serde_json::to_vec(&json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA1", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550000000", "phone_number_id": scrm_e2e::flows::PN},
            "contacts": contacts, "messages": messages
        }}]}]
    }))
    .unwrap()
}

#[tokio::test]
async fn timers_fire_once_across_two_hosts() {
    let Some(_pg) = backend::enter(Backend::Postgres, "timers_fire_once_across_two_hosts") else {
        return;
    };
    let graph = Graph::start().await;
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = acme_host(dir_a.path(), &graph, |s| s.flows.batch = 16).await;
    let url = a.database_url.clone().expect("on PostgreSQL");
    let key_file = dir_a.path().join("secrets.key");
    let graph_url = graph.url();
    let b = Host::start_configured(dir_b.path(), |s| {
        s.database_url = Some(url.into());
        s.secrets_key_file = key_file;
        s.whatsapp.graph_url = graph_url;
        s.whatsapp.limits.recipient_interval_ms = 1;
        s.flows.settle_ms = 200;
        s.flows.batch = 16;
    })
    .await;
    add_flow(&a, "hostile-flow").await;
    a.ok("PUT", "/v1/tenants/acme/flows/hostile-flow", None)
        .await;
    // Half the customers write to each host; each message sets its customer's timer.
    for (i, host) in [&a, &b].into_iter().enumerate() {
        for first in (i * CUSTOMERS / 2..(i + 1) * CUSTOMERS / 2).step_by(25) {
            let (status, _) = host.post_signed(&webhook(first, 25), APP_SECRET).await;
            assert!(status.is_success());
        }
    }
    eventually(|| async { Ok((graph.sent_count() >= CUSTOMERS).then_some(())) })
        .await
        .unwrap_or_else(|e| panic!("{e}: {} answers", graph.sent_count()));
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let texts: Vec<String> = graph
        .sent_messages()
        .iter()
        .map(|m| {
            m.body["text"]["body"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(texts.len(), CUSTOMERS, "one answer per customer");
    assert!(texts.iter().all(|t| t == "fired 1"), "{texts:?}");
    let counts: Vec<Vec<u8>> = a
        .with_conn(|c| {
            c.query(
                "SELECT value FROM plugin_kv WHERE tenant_id = 'acme' AND key LIKE 'fired/%'",
                &[],
                |r| r.get(0),
            )
        })
        .await
        .unwrap();
    assert_eq!(counts.len(), CUSTOMERS);
    assert!(
        counts.iter().all(|v| v == b"1"),
        "every timer's flow ran once"
    );
    let done: i64 = a
        .with_conn(|c| {
            c.query_one(
                "SELECT count(*) FROM flow_jobs WHERE kind = 'timer' AND state = 'done'",
                &[],
                |r| r.get(0),
            )
        })
        .await
        .unwrap();
    assert_eq!(done, CUSTOMERS as i64);
    // Both hosts did part of the work.
    for (name, host) in [("a", &a), ("b", &b)] {
        let metrics = host.metrics().await;
        let handled: u64 = metrics
            .lines()
            .filter(|l| l.starts_with("scrm_flow_jobs_total{") && l.contains("result=\"done\""))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum();
        assert!(handled > 0, "host {name} handled no flow job");
    }
}
