//! Two-way CRM sync against a real Tryton (tests/src/tryton.rs): a WhatsApp message
//! creates the party and writes the chat history as notes; a rename in Tryton comes
//! back on the next pull (with the overwrite in the review queue); the host's own
//! writes are recognised as echoes; a newer WhatsApp profile name wins over an older
//! CRM name and a review can revert it, in both systems.

use reqwest::StatusCode;
use scrm_e2e::tryton::Tryton;
use scrm_e2e::{APP_SECRET, Host, guest};
use serde_json::{Value, json};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const PN: &str = "106540352242922";
const CUSTOMER: &str = "393471234567";
const E164: &str = "+393471234567";

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `from` (profile name `name`) writes `text`.
async fn inbound(host: &Host, name: &str, wamid: &str, text: &str) {
    let body = json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA1", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550000000", "phone_number_id": PN},
            "contacts": [{"profile": {"name": name}, "wa_id": CUSTOMER}],
            "messages": [{"from": CUSTOMER, "id": wamid, "timestamp": now_secs().to_string(),
                          "type": "text", "text": {"body": text}}]
        }}]}]
    });
    let (status, _) = host
        .post_signed(&serde_json::to_vec(&body).unwrap(), APP_SECRET)
        .await;
    assert_eq!(status, StatusCode::OK);
    host.settle().await;
}

/// Waits until the tenant's CRM queue holds nothing queued; the jobs.
async fn synced(host: &Host) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let v = host.ok("GET", "/v1/tenants/acme/crm", None).await;
        if v["jobs"]["queued"].is_null() {
            return host.all("/v1/tenants/acme/crm/jobs").await;
        }
        assert!(Instant::now() < deadline, "CRM queue did not drain: {v}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn setup(crm: &Tryton) -> Host {
    let host = setup_host(crm, 0).await;
    install_sync(&host, crm).await;
    host
}

/// A host with tenant `acme`, its Tryton key as a secret, and real-time sync pulling
/// every `pull_seconds` (0: only when the test asks).
async fn setup_host(crm: &Tryton, pull_seconds: u32) -> Host {
    let host = Host::start().await;
    host.tenant("acme", &[PN], "IT").await;
    host.ok(
        "PUT",
        "/v1/tenants/acme/secrets/tryton_key",
        Some(json!({"value": crm.key})),
    )
    .await;
    // Pulls are triggered by the test, so each step sees exactly its own changes.
    host.ok(
        "PUT",
        "/v1/tenants/acme/crm",
        Some(
            json!({"mode": "realtime", "batch_minutes": 15, "pull_seconds": pull_seconds,
                    "rate_requests": 100, "rate_seconds": 10, "retention_days": 180}),
        ),
    )
    .await;
    host
}

/// Installs the reference mapper and the Tryton connector for `acme`.
async fn install_sync(host: &Host, crm: &Tryton) {
    let mapper = host.upload(&guest("crm-mapper")).await;
    host.ok(
        "PUT",
        "/v1/tenants/acme/plugins/mapper",
        Some(json!({"sha256": mapper["sha256"], "config":
            "contact_object = \"party\"\nrequired = [\"phone\"]\n[products]\n\"iPhone15 Pro Max\" = \"APL-IP15PM\"\n"})),
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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapp_and_tryton_sync_both_ways() {
    let crm = tokio::task::spawn_blocking(Tryton::start)
        .await
        .unwrap()
        .expect("start Tryton");
    let host = setup(&crm).await;

    // 1. A first message creates the party (phone in E.164) and a note.
    inbound(
        &host,
        "Mario",
        "wamid.t1",
        "Ciao, quanto costa l'iPhone15 Pro Max?",
    )
    .await;
    let jobs = synced(&host).await;
    assert!(jobs.iter().all(|j| j["state"] == "done"), "{jobs:#?}");
    let party = crm
        .find_party_by_phone(E164)
        .await
        .unwrap()
        .expect("party created in Tryton");
    assert_eq!(crm.party(party).await.unwrap()["name"], "Mario");
    let notes = crm.notes_of(party).await.unwrap();
    assert_eq!(
        notes.iter().filter(|n| n.contains("quanto costa")).count(),
        1,
        "{notes:?}"
    );

    // The first pull sees the party the host itself created: an echo, not a change.
    let applied = host.ok("POST", "/v1/tenants/acme/crm/pull", None).await;
    assert_eq!(applied["echoes"], 1, "{applied}");
    assert_eq!(applied["changed"], 0, "{applied}");

    // 2. Sales renames the party in Tryton; the next pull brings it back, and the
    //    overwrite of "Mario" is in the review queue.
    tokio::time::sleep(Duration::from_millis(20)).await;
    crm.rename_party(party, "Mario Rossi").await.unwrap();
    let applied = host.ok("POST", "/v1/tenants/acme/crm/pull", None).await;
    assert_eq!(applied["changed"], 1, "{applied}");
    assert_eq!(applied["conflicts"], 1, "{applied}");
    let contacts = host.all("/v1/tenants/acme/contacts").await;
    assert_eq!(contacts.len(), 1);
    assert_eq!(contacts[0]["name"], "Mario Rossi");
    let reviews = host.all("/v1/tenants/acme/crm/reviews?state=open").await;
    assert_eq!(reviews.len(), 1, "{reviews:#?}");
    assert_eq!(reviews[0]["field"], "name");
    assert_eq!(reviews[0]["kept"], "Mario Rossi");
    assert_eq!(reviews[0]["kept_source"], "crm");
    assert_eq!(reviews[0]["lost"], "Mario");
    let again = host.ok("POST", "/v1/tenants/acme/crm/pull", None).await;
    assert_eq!(again["records"], 0, "nothing new since: {again}");
    host.ok(
        "POST",
        &format!("/v1/tenants/acme/crm/reviews/{}/accept", reviews[0]["id"]),
        None,
    )
    .await;

    // 3. The same profile name on the next message does not undo the CRM's name; the
    //    message becomes a second note on the same party.
    inbound(&host, "Mario", "wamid.t2", "Grazie, lo prendo!").await;
    synced(&host).await;
    assert_eq!(crm.party(party).await.unwrap()["name"], "Mario Rossi");
    let notes = crm.notes_of(party).await.unwrap();
    assert!(notes.iter().any(|n| n.contains("lo prendo")), "{notes:?}");
    assert_eq!(
        crm.find_party_by_phone(E164).await.unwrap(),
        Some(party),
        "still one party"
    );

    // 4. The customer changes their WhatsApp profile name: newer than the CRM's, it
    //    wins, goes to Tryton, and the overwrite is reviewable; reverting it restores
    //    the CRM's name on both sides.
    tokio::time::sleep(Duration::from_millis(20)).await;
    inbound(&host, "Mario R.", "wamid.t3", "ciao").await;
    synced(&host).await;
    assert_eq!(crm.party(party).await.unwrap()["name"], "Mario R.");
    let open = host.all("/v1/tenants/acme/crm/reviews?state=open").await;
    assert_eq!(open.len(), 1, "{open:#?}");
    assert_eq!(open[0]["kept"], "Mario R.");
    assert_eq!(open[0]["kept_source"], "whatsapp");
    assert_eq!(open[0]["lost"], "Mario Rossi");
    let reverted = host
        .ok(
            "POST",
            &format!("/v1/tenants/acme/crm/reviews/{}/revert", open[0]["id"]),
            None,
        )
        .await;
    assert_eq!(reverted["state"], "reverted");
    synced(&host).await;
    assert_eq!(crm.party(party).await.unwrap()["name"], "Mario Rossi");
    let contacts = host.all("/v1/tenants/acme/contacts").await;
    assert_eq!(contacts[0]["name"], "Mario Rossi");
    // A closed review cannot be resolved twice.
    let (status, body) = host
        .api(
            "POST",
            &format!("/v1/tenants/acme/crm/reviews/{}/accept", open[0]["id"]),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "review_closed", "{body}");

    // CRM webhooks need no operator token (the connector checks the CRM's own
    // signature); Tryton sends none, and its connector says so.
    let resp = host
        .http
        .post(format!("{}/v1/crm/acme/webhook", host.base))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "crm_invalid", "{body}");
    let resp = host
        .http
        .post(format!("{}/v1/crm/nobody/webhook", host.base))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crm_that_is_down_loses_nothing_and_is_caught_up_when_it_returns() {
    let mut crm = tokio::task::spawn_blocking(Tryton::start)
        .await
        .unwrap()
        .expect("start Tryton");
    let host = setup(&crm).await;
    inbound(&host, "Anna", "wamid.d0", "before the outage").await;
    synced(&host).await;
    let party = crm.find_party_by_phone(E164).await.unwrap().expect("party");

    // The CRM goes down; five messages arrive meanwhile.
    crm.pause();
    for i in 1..=5 {
        inbound(
            &host,
            "Anna",
            &format!("wamid.d{i}"),
            &format!("during the outage #{i}"),
        )
        .await;
    }
    // Each write fails, is kept, and waits to be retried.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let queued = host.all("/v1/tenants/acme/crm/jobs?state=queued").await;
        if queued.len() == 5
            && queued.iter().all(|j| {
                j["attempts"].as_u64() >= Some(1)
                    && j["last_error"]
                        .as_str()
                        .is_some_and(|e| e.starts_with("crm_unavailable"))
            })
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "writes did not fail as expected: {queued:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        host.all("/v1/tenants/acme/crm/jobs?state=dead")
            .await
            .is_empty(),
        "nothing is dead-lettered while the CRM is down"
    );

    // It comes back: every message reaches it, once, and nothing is dead.
    tokio::task::block_in_place(|| crm.resume()).expect("restart Tryton");
    let jobs = synced(&host).await;
    assert!(jobs.iter().all(|j| j["state"] == "done"), "{jobs:#?}");
    let notes = crm.notes_of(party).await.unwrap();
    for i in 1..=5 {
        let text = format!("during the outage #{i}");
        assert_eq!(
            notes.iter().filter(|n| n.contains(&text)).count(),
            1,
            "{text} in {notes:?}"
        );
    }
    assert_eq!(notes.len(), 6, "{notes:?}");
    let metrics = host.metrics().await;
    assert!(
        metrics.contains("scrm_crm_jobs_total{tenant=\"acme\",kind=\"message\",result=\"retry\"}"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_is_backfilled_once_and_scheduled_pulls_bring_changes_back() {
    let crm = tokio::task::spawn_blocking(Tryton::start)
        .await
        .unwrap()
        .expect("start Tryton");
    let host = setup_host(&crm, 1).await;
    // History from before the CRM was connected.
    for i in 1..=3 {
        inbound(
            &host,
            "Bea",
            &format!("wamid.h{i}"),
            &format!("history #{i}"),
        )
        .await;
    }
    let status = host.ok("GET", "/v1/tenants/acme/crm", None).await;
    assert_eq!(
        status["jobs"],
        json!({}),
        "nothing syncs before a connector: {status}"
    );
    install_sync(&host, &crm).await;

    let (code, queued) = host
        .api(
            "POST",
            "/v1/tenants/acme/crm/backfill",
            Some(json!({"days": 180})),
        )
        .await;
    assert_eq!(code, StatusCode::ACCEPTED, "{queued}");
    assert_eq!(queued["queued"], 3, "{queued}");
    assert_eq!(queued["messages"], 3, "{queued}");
    synced(&host).await;
    let party = crm.find_party_by_phone(E164).await.unwrap().expect("party");
    let notes = crm.notes_of(party).await.unwrap();
    for i in 1..=3 {
        let text = format!("history #{i}");
        assert_eq!(
            notes.iter().filter(|n| n.contains(&text)).count(),
            1,
            "{notes:?}"
        );
    }
    // Again: nothing new is queued, nothing is written twice.
    let again = host
        .ok(
            "POST",
            "/v1/tenants/acme/crm/backfill",
            Some(json!({"days": 180})),
        )
        .await;
    assert_eq!(again["queued"], 0, "{again}");
    let status = host.ok("GET", "/v1/tenants/acme/crm", None).await;
    assert_eq!(status["backfill"], json!({"done": 3}), "{status}");
    let (code, bad) = host
        .api(
            "POST",
            "/v1/tenants/acme/crm/backfill",
            Some(json!({"days": 0})),
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad["error"]["code"], "invalid_backfill");

    // The scheduled pull (every second here) brings a rename back by itself.
    crm.rename_party(party, "Beatrice").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let contacts = host.all("/v1/tenants/acme/contacts").await;
        if contacts[0]["name"] == "Beatrice" {
            break;
        }
        assert!(Instant::now() < deadline, "rename not pulled: {contacts:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Batch mode: a new message waits for the next batch instead of going at once.
    host.ok(
        "PUT",
        "/v1/tenants/acme/crm",
        Some(json!({"mode": "batch", "batch_minutes": 60, "pull_seconds": 0})),
    )
    .await;
    inbound(&host, "Bea", "wamid.h4", "in the next batch").await;
    let queued = host.all("/v1/tenants/acme/crm/jobs?state=queued").await;
    assert_eq!(queued.len(), 1, "{queued:#?}");
    let due = queued[0]["due_at"].as_i64().unwrap();
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!(
        due > now_ms && due % 3_600_000 == 0,
        "due at the next hour: {due}"
    );
    let (code, bad) = host
        .api(
            "PUT",
            "/v1/tenants/acme/crm",
            Some(json!({"retention_days": 30})),
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    assert_eq!(bad["error"]["code"], "invalid_crm_settings");
}
