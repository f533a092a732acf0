//! Two-way CRM sync against a local Zoho CRM (tests/src/zoho.rs) through a real host:
//! a WhatsApp message upserts the contact by its mobile number (never a duplicate),
//! writes the chat history as notes and a sales signal as a deal; an edit in Zoho
//! comes back by pull and by notification (each overwrite in the review queue), the
//! host's own writes are echoes, a notification with the wrong token is refused; a
//! 429 is waited out and an outage retried without losing or repeating a write; a
//! contact sales created first is matched, and pulls page through the org.

use reqwest::StatusCode;
use scrm_e2e::zoho::{ACCESS_TOKEN, Zoho, next_second};
use scrm_e2e::{APP_SECRET, Host, guest};
use serde_json::{Value, json};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const PN: &str = "106540352242922";
const CUSTOMER: &str = "393471234567";
const E164: &str = "+393471234567";
/// The verification token the operator gave Zoho's `POST /actions/watch`.
const CHANNEL_TOKEN: &str = "acme-zoho-channel-7f3c9e";

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `CUSTOMER` (profile name `name`) writes `text`.
async fn inbound(host: &Host, name: &str, wamid: &str, text: &str) {
    inbound_from(host, CUSTOMER, Some(name), wamid, text).await;
}

/// `from` (with profile name `name`, if any) writes `text`.
async fn inbound_from(host: &Host, from: &str, name: Option<&str>, wamid: &str, text: &str) {
    let mut value = json!({
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550000000", "phone_number_id": PN},
        "messages": [{"from": from, "id": wamid, "timestamp": now_secs().to_string(),
                      "type": "text", "text": {"body": text}}]
    });
    if let Some(name) = name {
        value["contacts"] = json!([{"profile": {"name": name}, "wa_id": from}]);
    }
    let body = json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA1", "changes": [{"field": "messages", "value": value}]}]
    });
    let (status, _) = host
        .post_signed(&serde_json::to_vec(&body).unwrap(), APP_SECRET)
        .await;
    assert_eq!(status, StatusCode::OK);
    host.settle().await;
}

/// Waits until the tenant's CRM queue holds nothing queued; the jobs.
async fn synced(host: &Host) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let v = host.ok("GET", "/v1/tenants/acme/crm", None).await;
        if v["jobs"]["queued"].is_null() {
            return host.all("/v1/tenants/acme/crm/jobs").await;
        }
        assert!(Instant::now() < deadline, "CRM queue did not drain: {v}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Posts a Zoho notification to the tenant's CRM webhook; status and body.
async fn notify(host: &Host, body: &Value) -> (StatusCode, Value) {
    let resp = host
        .http
        .post(format!("{}/v1/crm/acme/webhook", host.base))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// A host with tenant `acme` syncing to `zoho`; `connector_extra` is appended to the
/// connector's TOML config.
async fn setup(zoho: &Zoho, connector_extra: &str) -> Host {
    let host = Host::start().await;
    host.tenant("acme", &[PN], "IT").await;
    host.ok(
        "PUT",
        "/v1/tenants/acme/secrets/zoho_token",
        Some(json!({"value": ACCESS_TOKEN})),
    )
    .await;
    // Pulls are triggered by the test, so each step sees exactly its own changes.
    host.ok(
        "PUT",
        "/v1/tenants/acme/crm",
        Some(
            json!({"mode": "realtime", "batch_minutes": 15, "pull_seconds": 0,
                    "rate_requests": 100, "rate_seconds": 10, "retention_days": 180}),
        ),
    )
    .await;
    // The built-in rules tag "quanto costa" as a price inquiry: a sales signal.
    host.install("acme", "classifier", &guest("keyword-classifier"), None)
        .await;
    let mapper = host.upload(&guest("crm-mapper")).await;
    host.ok(
        "PUT",
        "/v1/tenants/acme/plugins/mapper",
        Some(json!({"sha256": mapper["sha256"], "config":
            "required = [\"phone\"]\n[products]\n\"iPhone15 Pro Max\" = \"APL-IP15PM\"\n"})),
    )
    .await;
    let port = zoho.addr().port();
    let connector = host.upload(&guest("zoho-connector")).await;
    host.ok(
        "PUT",
        "/v1/tenants/acme/plugins/connector",
        Some(json!({
            "sha256": connector["sha256"],
            "config": format!(
                "api_domain = \"{}\"\nnotification_token = \"{CHANNEL_TOKEN}\"\n{connector_extra}",
                zoho.base()
            ),
            "http": {
                "allow": ["127.0.0.1"],
                "allow_private": [format!("127.0.0.1:{port}")],
                "credentials": [{"host": "127.0.0.1", "header": "authorization",
                                 "secret": "zoho_token", "prefix": "Zoho-oauthtoken "}]
            }
        })),
    )
    .await;
    host
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapp_and_zoho_sync_both_ways() {
    let zoho = Zoho::start().await;
    let host = setup(&zoho, "").await;

    // 1. A first message upserts the contact by its mobile number, adds the message
    //    as a note on it and, being a price inquiry, a deal for it.
    inbound(
        &host,
        "Mario",
        "wamid.z1",
        "Ciao, quanto costa l'iPhone15 Pro Max?",
    )
    .await;
    let jobs = synced(&host).await;
    assert!(jobs.iter().all(|j| j["state"] == "done"), "{jobs:#?}");
    let found = zoho.contacts_by_phone(E164);
    assert_eq!(found.len(), 1, "{found:#?}");
    let contact = found[0].clone();
    assert_eq!(contact.full_name(), "Mario");
    assert_eq!(contact.first_name, None);
    let upsert = zoho
        .requests()
        .into_iter()
        .find(|r| r.path == "/crm/v8/Contacts/upsert")
        .expect("an upsert");
    let body = upsert.body.clone().unwrap();
    assert_eq!(body["duplicate_check_fields"], json!(["Mobile"]), "{body}");
    assert_eq!(body["data"][0]["Mobile"], E164, "{body}");
    assert_eq!(
        upsert.header("authorization"),
        Some(format!("Zoho-oauthtoken {ACCESS_TOKEN}").as_str()),
        "the host adds the tenant's token"
    );
    let notes = zoho.notes_of(&contact.id);
    assert_eq!(notes.len(), 1, "{notes:#?}");
    assert_eq!(notes[0].title.as_deref(), Some("WhatsApp"));
    assert!(
        notes[0]
            .content
            .as_deref()
            .is_some_and(|c| c.contains("quanto costa")),
        "{notes:#?}"
    );
    let deals = zoho.deals();
    assert_eq!(deals.len(), 1, "{deals:#?}");
    assert_eq!(deals[0].contact_id.as_deref(), Some(contact.id.as_str()));
    assert_eq!(deals[0].name, "WhatsApp: Mario");
    assert_eq!(deals[0].stage, "Qualification");
    assert!(
        deals[0]
            .description
            .as_deref()
            .is_some_and(|d| d.contains("price-inquiry")),
        "{deals:#?}"
    );

    // 2. A second message is a second note on the same contact: no duplicate.
    inbound(&host, "Mario", "wamid.z2", "Grazie, ci penso").await;
    synced(&host).await;
    assert_eq!(zoho.contacts().len(), 1, "{:#?}", zoho.contacts());
    let notes = zoho.notes_of(&contact.id);
    assert_eq!(notes.len(), 2, "{notes:#?}");
    assert!(
        notes
            .iter()
            .any(|n| n.content.as_deref().is_some_and(|c| c.contains("ci penso")))
    );

    // 3. Zoho notifies the host's own write back: an echo, nothing changes.
    let (status, applied) = notify(
        &host,
        &zoho.notification(&[&contact.id], "update", CHANNEL_TOKEN),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{applied}");
    assert_eq!(applied["echoes"], 1, "{applied}");
    assert_eq!(applied["changed"], 0, "{applied}");
    // The first pull sees the same: the contact the host itself wrote.
    let applied = host.ok("POST", "/v1/tenants/acme/crm/pull", None).await;
    assert_eq!(applied["echoes"], 1, "{applied}");
    assert_eq!(applied["changed"], 0, "{applied}");

    // 4. Sales renames the contact in Zoho; the next pull brings it back, and the
    //    overwrite of "Mario" is in the review queue.
    next_second().await;
    zoho.edit_contact(&contact.id, |c| {
        c.first_name = Some("Mario".into());
        c.last_name = "Rossi".into();
    });
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
    assert_eq!(again["changed"], 0, "nothing new since: {again}");
    assert_eq!(again["conflicts"], 0, "nothing new since: {again}");
    host.ok(
        "POST",
        &format!("/v1/tenants/acme/crm/reviews/{}/accept", reviews[0]["id"]),
        None,
    )
    .await;

    // 5. Sales edits again; this time Zoho's notification brings it at once.
    next_second().await;
    zoho.edit_contact(&contact.id, |c| c.last_name = "Bianchi".into());
    let (status, applied) = notify(
        &host,
        &zoho.notification(&[&contact.id], "update", CHANNEL_TOKEN),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{applied}");
    assert_eq!(applied["records"], 1, "{applied}");
    assert_eq!(applied["changed"], 1, "{applied}");
    assert_eq!(applied["conflicts"], 1, "{applied}");
    let contacts = host.all("/v1/tenants/acme/contacts").await;
    assert_eq!(contacts[0]["name"], "Mario Bianchi");
    let open = host.all("/v1/tenants/acme/crm/reviews?state=open").await;
    assert_eq!(open.len(), 1, "{open:#?}");
    assert_eq!(open[0]["kept"], "Mario Bianchi");
    assert_eq!(open[0]["lost"], "Mario Rossi");

    // 6. A notification without the channel's token is refused, and changes nothing.
    let before = zoho.request_count();
    zoho.edit_contact(&contact.id, |c| c.last_name = "Verdi".into());
    let (status, body) = notify(
        &host,
        &zoho.notification(&[&contact.id], "update", "guessed-token"),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"]["code"], "crm_unauthorized", "{body}");
    assert_eq!(zoho.request_count(), before, "refused before reading Zoho");
    let contacts = host.all("/v1/tenants/acme/contacts").await;
    assert_eq!(contacts[0]["name"], "Mario Bianchi");
    // Deletions and other modules are not mirrored.
    let (status, applied) = notify(
        &host,
        &zoho.notification(&[&contact.id], "delete", CHANNEL_TOKEN),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{applied}");
    assert_eq!(applied["records"], 0, "{applied}");

    // Every request the connector made was one Zoho accepts.
    let refused: Vec<_> = zoho
        .requests()
        .into_iter()
        .filter(|r| r.status >= 400)
        .map(|r| (r.method, r.path, r.status, r.body))
        .collect();
    assert!(refused.is_empty(), "{refused:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zoho_rate_limits_and_outages_lose_nothing() {
    let zoho = Zoho::start().await;
    let host = setup(&zoho, "").await;

    // Zoho allows two requests per two seconds; four messages need at least five.
    zoho.set_rate_limit(2, Duration::from_secs(2));
    for i in 1..=4 {
        inbound(&host, "Anna", &format!("wamid.r{i}"), &format!("rate #{i}")).await;
    }
    let jobs = synced(&host).await;
    assert!(jobs.iter().all(|j| j["state"] == "done"), "{jobs:#?}");
    assert!(zoho.throttled() > 0, "the rate limit was hit");
    // Waiting for Zoho is not a failed attempt.
    assert!(
        jobs.iter().all(|j| j["attempts"] == 0),
        "rate-limited writes count no attempt: {jobs:#?}"
    );
    let found = zoho.contacts_by_phone(E164);
    assert_eq!(found.len(), 1, "{found:#?}");
    let notes = zoho.notes_of(&found[0].id);
    for i in 1..=4 {
        let text = format!("rate #{i}");
        assert_eq!(
            notes
                .iter()
                .filter(|n| n.content.as_deref().is_some_and(|c| c.contains(&text)))
                .count(),
            1,
            "{text} in {notes:#?}"
        );
    }
    assert_eq!(notes.len(), 4, "{notes:#?}");
    let metrics = host.metrics().await;
    assert!(
        metrics.contains("scrm_crm_jobs_total{tenant=\"acme\",kind=\"message\",result=\"retry\"}"),
        "{metrics}"
    );

    // Zoho fails with 503: the write waits and is retried, and arrives once.
    zoho.clear_rate_limit();
    zoho.fail_with(Some(503));
    inbound(&host, "Anna", "wamid.o1", "during the outage").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let queued = host.all("/v1/tenants/acme/crm/jobs?state=queued").await;
        if queued.len() == 1
            && queued[0]["attempts"].as_u64() >= Some(1)
            && queued[0]["last_error"]
                .as_str()
                .is_some_and(|e| e.starts_with("crm_unavailable"))
        {
            break;
        }
        assert!(Instant::now() < deadline, "{queued:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(zoho.failed() > 0);
    zoho.fail_with(None);
    let jobs = synced(&host).await;
    assert!(jobs.iter().all(|j| j["state"] == "done"), "{jobs:#?}");
    let notes = zoho.notes_of(&found[0].id);
    assert_eq!(
        notes
            .iter()
            .filter(|n| n
                .content
                .as_deref()
                .is_some_and(|c| c.contains("during the outage")))
            .count(),
        1,
        "{notes:#?}"
    );
    assert!(
        host.all("/v1/tenants/acme/crm/jobs?state=dead")
            .await
            .is_empty()
    );

    // The access token expires: Zoho's 401 cannot get better by waiting, so the write
    // goes to the dead-letter list at once; with a fresh token it is re-queued.
    zoho.revoke_token(ACCESS_TOKEN);
    inbound(&host, "Anna", "wamid.t1", "after the token expired").await;
    let jobs = synced(&host).await;
    let dead: Vec<&Value> = jobs.iter().filter(|j| j["state"] == "dead").collect();
    assert_eq!(dead.len(), 1, "{jobs:#?}");
    assert!(
        dead[0]["last_error"]
            .as_str()
            .is_some_and(|e| e.starts_with("crm_unauthorized") && e.contains("INVALID_TOKEN")),
        "{dead:#?}"
    );
    zoho.accept_token(ACCESS_TOKEN);
    host.ok(
        "POST",
        &format!("/v1/tenants/acme/crm/jobs/{}/requeue", dead[0]["id"]),
        None,
    )
    .await;
    let jobs = synced(&host).await;
    assert!(jobs.iter().all(|j| j["state"] == "done"), "{jobs:#?}");
    assert!(zoho.notes_of(&found[0].id).iter().any(|n| {
        n.content
            .as_deref()
            .is_some_and(|c| c.contains("token expired"))
    }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn existing_contacts_are_matched_by_mobile_and_pulls_page_through_the_org() {
    let zoho = Zoho::start().await;
    // Sales already has the customer, and four other contacts.
    let mario = zoho.create_contact(Some("Mario"), "Rossi", Some(E164));
    for i in 1..=4 {
        zoho.create_contact(
            Some("Anna"),
            &format!("Bianchi {i}"),
            Some(&format!("+3934712345{i:02}")),
        );
    }
    let host = setup(&zoho, "page_size = 2\n").await;

    // The customer writes: the upsert finds the contact by its mobile number.
    inbound(&host, "Mario Rossi", "wamid.m1", "buongiorno").await;
    let jobs = synced(&host).await;
    assert!(jobs.iter().all(|j| j["state"] == "done"), "{jobs:#?}");
    assert_eq!(zoho.contacts().len(), 5, "{:#?}", zoho.contacts());
    let found = zoho.contacts_by_phone(E164);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, mario);
    assert_eq!(found[0].full_name(), "Mario Rossi");
    assert_eq!(zoho.notes_of(&mario).len(), 1);

    // Sales deletes the contact; the customer's new profile name must reach Zoho:
    // the update of the linked id fails, and the upsert creates the contact again.
    zoho.delete_contact(&mario);
    next_second().await;
    inbound(&host, "Mario R.", "wamid.m2", "ci sono ancora").await;
    let jobs = synced(&host).await;
    assert!(jobs.iter().all(|j| j["state"] == "done"), "{jobs:#?}");
    let found = zoho.contacts_by_phone(E164);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_ne!(found[0].id, mario);
    assert_eq!(found[0].full_name(), "Mario R.");
    assert_eq!(zoho.notes_of(&found[0].id).len(), 1);
    let statuses: Vec<(String, u16)> = zoho
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/crm/v8/Contacts/"))
        .map(|r| (format!("{} {}", r.method, r.path), r.status))
        .collect();
    assert!(
        statuses.contains(&(format!("PUT /crm/v8/Contacts/{mario}"), 400)),
        "{statuses:?}"
    );

    // One pull reads all five, two per page (once every change is a second old).
    next_second().await;
    let applied = host.ok("POST", "/v1/tenants/acme/crm/pull", None).await;
    assert_eq!(applied["records"], 5, "{applied}");
    assert_eq!(
        applied["echoes"], 1,
        "Mario is the host's own write: {applied}"
    );
    assert_eq!(applied["created"], 4, "{applied}");
    let contacts = host.all("/v1/tenants/acme/contacts").await;
    assert_eq!(contacts.len(), 5, "{contacts:#?}");
    assert!(
        contacts
            .iter()
            .any(|c| c["name"] == "Anna Bianchi 3" && c["phone"] == "+393471234503"),
        "{contacts:#?}"
    );
    let pages = zoho
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path == "/crm/v8/Contacts")
        .count();
    assert!(pages >= 3, "{pages} pages");
    // Nothing new: the next pull reads nothing.
    let again = host.ok("POST", "/v1/tenants/acme/crm/pull", None).await;
    assert_eq!(again["records"], 0, "{again}");

    // A customer without a profile name: Zoho refuses a contact without Last_Name, so
    // the connector upserts it again with the placeholder, which reads back as no name.
    inbound_from(&host, "393479876543", None, "wamid.n1", "ciao").await;
    let jobs = synced(&host).await;
    assert!(jobs.iter().all(|j| j["state"] == "done"), "{jobs:#?}");
    let nameless = zoho.contacts_by_phone("+393479876543");
    assert_eq!(nameless.len(), 1, "{nameless:#?}");
    assert_eq!(nameless[0].full_name(), "(WhatsApp)");
    assert_eq!(zoho.notes_of(&nameless[0].id).len(), 1);
    next_second().await;
    let applied = host.ok("POST", "/v1/tenants/acme/crm/pull", None).await;
    assert_eq!(applied["records"], 1, "{applied}");
    assert_eq!(applied["echoes"], 1, "{applied}");
    let contacts = host.all("/v1/tenants/acme/contacts").await;
    let c = contacts
        .iter()
        .find(|c| c["phone"] == "+393479876543")
        .expect("the nameless contact");
    assert!(c["name"].is_null(), "{c}");
}
