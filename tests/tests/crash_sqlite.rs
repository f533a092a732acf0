//! One host on its embedded SQLite database, killed with SIGKILL twice while it
//! works off a backlog, loses nothing and does nothing twice: every acknowledged
//! message is stored once, tagged and answered once. On SQLite the webhook inbox
//! is a file of its own and a body is marked done only after what it carried is
//! committed, so a kill between the two makes the host process the body again
//! (scrm_store::inbox::file): this is the test of that.
//!
//! Size: `SCRM_CRASH_MESSAGES` webhooks (default 3,000), each delivered twice.

use reqwest::StatusCode;
use scrm_e2e::fleet::HostProcess;
use scrm_e2e::graph::{ACCESS_TOKEN, Graph};
use scrm_e2e::{APP_SECRET, guest};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const PN: &str = "100200300";

/// Customer `i` writes one message now.
fn body(i: usize) -> Vec<u8> {
    let from = format!("39348{i:07}");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    serde_json::to_vec(&json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA1", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550000000", "phone_number_id": PN},
            "contacts": [{"profile": {"name": format!("Customer {i}")}, "wa_id": from}],
            "messages": [{"from": from, "id": format!("wamid.crash.{i}"),
                          "timestamp": now.to_string(), "type": "text",
                          "text": {"body": "Ciao, quanto costa la borsa?"}}]
        }}]}]
    }))
    .unwrap()
}

/// Posts `body` to `base`; whether it was acknowledged.
async fn post(http: &reqwest::Client, base: &str, body: Vec<u8>) -> bool {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(APP_SECRET.as_bytes()).unwrap();
    mac.update(&body);
    let sig = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    http.post(format!("{base}/webhooks/whatsapp"))
        .header("x-hub-signature-256", sig)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .is_ok_and(|r| r.status() == StatusCode::OK)
}

/// One number from the host's database.
fn count(db: &scrm_store::Db, sql: &str) -> i64 {
    db.with_conn(|c| c.query_one(sql, scrm_store::params![], |r| r.get(0)))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_host_killed_mid_backlog_stores_and_answers_every_message_once() {
    let n: usize = std::env::var("SCRM_CRASH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3_000);
    let graph = Graph::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut host = HostProcess::start(dir.path(), None, &graph.url())
        .await
        .unwrap();
    let a = host.host();
    a.tenant("acme", &[PN], "IT").await;
    a.ok(
        "PUT",
        "/v1/tenants/acme/secrets/whatsapp_access_token",
        Some(json!({"value": ACCESS_TOKEN})),
    )
    .await;
    a.install("acme", "classifier", &guest("keyword-classifier"), None)
        .await;
    a.install(
        "acme",
        "responder",
        &guest("rule-responder"),
        Some(
            "[[rules]]\nwhen_keywords = [\"quanto costa\"]\nreply = \"La borsa costa 120 euro.\"\n",
        ),
    )
    .await;

    // A third at a time, every body twice (as Meta's retries do); the host is
    // killed as soon as a third is acknowledged, with most of it still to process.
    let http = reqwest::Client::new();
    let third = n / 3;
    let mut backlog_at_kill = Vec::new();
    for (phase, range) in [0..third, third..2 * third, 2 * third..n]
        .into_iter()
        .enumerate()
    {
        let slots = Arc::new(tokio::sync::Semaphore::new(64));
        let mut posts = tokio::task::JoinSet::new();
        for i in range {
            let (http, base) = (http.clone(), host.base.clone());
            let permit = slots.clone().acquire_owned().await.unwrap();
            posts.spawn(async move {
                assert!(
                    post(&http, &base, body(i)).await,
                    "body {i} was not acknowledged"
                );
                assert!(post(&http, &base, body(i)).await, "body {i} again");
                drop(permit);
            });
        }
        while let Some(r) = posts.join_next().await {
            r.unwrap();
        }
        if phase < 2 {
            // Killed mid-backlog: once about a third of what waits is processed.
            let db = scrm_store::Db::open(&dir.path().join("scrm.db")).unwrap();
            let pending = || {
                count(
                    &db,
                    "SELECT count(*) FROM webhook_inbox WHERE state = 'pending'",
                )
            };
            let waiting = pending();
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            while pending() * 3 > waiting * 2 && std::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            host.kill();
            // Bodies whose messages were committed but which were not yet marked
            // done: the window the restart must cover (how many varies by run).
            let stored_unmarked = count(
                &db,
                "SELECT count(DISTINCT w.id) FROM webhook_inbox w JOIN messages m ON m.inbox_id = w.id
                 WHERE w.state = 'pending'",
            );
            eprintln!(
                "killed with {} bodies pending, {stored_unmarked} of them stored",
                pending()
            );
            backlog_at_kill.push(pending());
            drop(db);
            host.restart().await.unwrap();
        }
    }
    eprintln!("bodies pending at each kill: {backlog_at_kill:?}");

    let db = scrm_store::Db::open(&dir.path().join("scrm.db")).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    loop {
        let pending = count(
            &db,
            "SELECT count(*) FROM webhook_inbox WHERE state = 'pending'",
        );
        let replies = count(
            &db,
            "SELECT count(*) FROM outbox WHERE source = 'responder'",
        );
        let busy = count(
            &db,
            "SELECT count(*) FROM outbox WHERE state IN ('queued', 'sending')",
        );
        if pending == 0 && replies == n as i64 && busy == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "did not settle: {pending} bodies pending, {replies} replies queued, {busy} sends busy"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM messages WHERE direction = 'inbound'"
        ),
        n as i64,
        "every message stored once"
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(DISTINCT message_id) FROM message_tags WHERE tag = 'price-inquiry'"
        ),
        n as i64,
        "every message tagged"
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM message_tags"),
        n as i64,
        "each tag once"
    );
    // One reply per message, queued once; none reached the Cloud API twice (a
    // reply caught mid-send by a kill waits, dead, for a human).
    assert_eq!(
        count(
            &db,
            "SELECT count(DISTINCT to_wa) FROM outbox WHERE source = 'responder'"
        ),
        n as i64
    );
    let sent = graph.sent_messages();
    let mut to: Vec<&str> = sent.iter().filter_map(|m| m.body["to"].as_str()).collect();
    to.sort_unstable();
    let before = to.len();
    to.dedup();
    assert_eq!(before, to.len(), "a reply reached the Cloud API twice");
    let dead = count(&db, "SELECT count(*) FROM outbox WHERE state = 'dead'");
    assert!(
        sent.len() as i64 + dead >= n as i64,
        "{} sent, {dead} dead",
        sent.len()
    );
    assert!(
        backlog_at_kill.iter().any(|b| *b > 0),
        "no kill caught a backlog: the test proved nothing ({backlog_at_kill:?})"
    );
}
