//! Two-way CRM sync against a local Salesforce org (tests/src/salesforce.rs) through
//! a real host with the real `salesforce-connector`, `crm-mapper` and
//! `keyword-classifier` plugins: WhatsApp messages upsert one Contact by its
//! WhatsApp number and log Tasks on it; a price inquiry opens an Opportunity with a
//! contact role; a sales edit comes back by pull (with the overwrite in the review
//! queue) and by Outbound Message, and a message from another org is refused;
//! Salesforce's request limit is waited out without losing or repeating a write; a
//! failing org is retried and a revoked token dead-letters; pulls page through
//! query locators (and survive a lost one) reading each change once.

use reqwest::StatusCode;
use scrm_e2e::salesforce::{ACCESS_TOKEN, EXTERNAL_ID_FIELD, Salesforce};
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

/// `CUSTOMER` (profile name `name`) writes `text`.
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

/// Waits until the tenant's CRM queue holds nothing queued; every job.
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

/// Posts `body` to the tenant's CRM webhook as Salesforce posts Outbound Messages.
async fn outbound_message(host: &Host, body: String) -> (StatusCode, Value) {
    let resp = host
        .http
        .post(format!("{}/v1/crm/acme/webhook", host.base))
        .header("content-type", "text/xml; charset=utf-8")
        .header("soapaction", "\"\"")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// A host with tenant `acme` wired to `sf`: keyword classifier, reference mapper,
/// Salesforce connector with the token as a tenant secret; pulls only on demand.
async fn setup(sf: &Salesforce) -> Host {
    let host = Host::start().await;
    host.tenant("acme", &[PN], "IT").await;
    host.ok(
        "PUT",
        "/v1/tenants/acme/secrets/salesforce_token",
        Some(json!({"value": ACCESS_TOKEN})),
    )
    .await;
    host.ok(
        "PUT",
        "/v1/tenants/acme/crm",
        Some(
            json!({"mode": "realtime", "batch_minutes": 15, "pull_seconds": 0,
                    "rate_requests": 100, "rate_seconds": 10, "retention_days": 180}),
        ),
    )
    .await;
    host.install("acme", "classifier", &guest("keyword-classifier"), None)
        .await;
    host.install(
        "acme",
        "mapper",
        &guest("crm-mapper"),
        Some("contact_object = \"contact\"\nrequired = [\"phone\"]\n"),
    )
    .await;
    let port = sf.addr().port();
    let connector = host.upload(&guest("salesforce-connector")).await;
    host.ok(
        "PUT",
        "/v1/tenants/acme/plugins/connector",
        Some(json!({
            "sha256": connector["sha256"],
            "config": format!(
                "instance_url = \"{}\"\norganization_id = \"{}\"\nexternal_id_field = \"{EXTERNAL_ID_FIELD}\"\n\
                 limit_wait_seconds = 1\n",
                sf.url(),
                sf.org_id()
            ),
            "http": {
                "allow": ["127.0.0.1"],
                "allow_private": [format!("127.0.0.1:{port}")],
                "credentials": [{"host": "127.0.0.1", "header": "authorization",
                                 "secret": "salesforce_token", "prefix": "Bearer "}]
            }
        })),
    )
    .await;
    host
}

fn composites(sf: &Salesforce) -> Vec<Vec<String>> {
    sf.requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/composite"))
        .map(|r| r.subrequests)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapp_and_salesforce_sync_both_ways() {
    let sf = Salesforce::start().await;
    let host = setup(&sf).await;

    // 1. A first message upserts the Contact by its WhatsApp number and logs a Task,
    //    one composite request each.
    inbound(&host, "Mario", "wamid.s1", "Ciao, avete il modello blu?").await;
    let jobs = synced(&host).await;
    assert!(jobs.iter().all(|j| j["state"] == "done"), "{jobs:#?}");
    let contact = sf.contact_by_whatsapp(E164).expect("Contact upserted");
    let cid = contact["Id"].as_str().unwrap().to_string();
    assert_eq!(contact["LastName"], "Mario");
    assert_eq!(contact["FirstName"], Value::Null);
    assert_eq!(contact["MobilePhone"], E164);
    let tasks = sf.tasks_of(&cid);
    assert_eq!(tasks.len(), 1, "{tasks:#?}");
    assert_eq!(
        tasks[0]["Description"],
        "[WhatsApp, customer] Ciao, avete il modello blu?"
    );
    assert_eq!(tasks[0]["Subject"], "WhatsApp message (inbound)");
    assert_eq!(tasks[0]["Status"], "Completed");
    assert_eq!(tasks[0]["TaskSubtype"], "Task");
    assert!(
        tasks[0]["ActivityDate"]
            .as_str()
            .is_some_and(|d| d.len() == 10)
    );
    let calls = composites(&sf);
    assert_eq!(calls.len(), 2, "{calls:#?}");
    assert!(
        calls[0][0].starts_with(&format!(
            "PATCH /services/data/v62.0/sobjects/Contact/{EXTERNAL_ID_FIELD}/%2B{CUSTOMER}"
        )),
        "{calls:#?}"
    );
    assert!(calls[1][0].starts_with("POST /services/data/v62.0/sobjects/Task"));

    // 2. A price inquiry: no second Contact, a second Task, and an Opportunity with
    //    the Contact as its primary contact role, created together.
    inbound(
        &host,
        "Mario",
        "wamid.s2",
        "Quanto costa l'iPhone15 Pro Max?",
    )
    .await;
    let jobs = synced(&host).await;
    assert!(jobs.iter().all(|j| j["state"] == "done"), "{jobs:#?}");
    assert!(jobs.iter().any(|j| j["kind"] == "deal"), "{jobs:#?}");
    assert_eq!(sf.contacts().len(), 1, "no duplicate Contact");
    assert_eq!(sf.tasks_of(&cid).len(), 2);
    let opps = sf.opportunities_of(&cid);
    assert_eq!(opps.len(), 1, "{opps:#?}");
    assert_eq!(opps[0]["Name"], "WhatsApp: Mario");
    assert_eq!(opps[0]["StageName"], "Prospecting");
    assert!(
        opps[0]["Description"]
            .as_str()
            .is_some_and(|d| d.contains("Quanto costa")),
        "{opps:#?}"
    );
    let roles = sf.contact_roles();
    assert_eq!(roles.len(), 1);
    assert_eq!(roles[0]["IsPrimary"], true);
    let deal_call = composites(&sf).pop().unwrap();
    assert_eq!(deal_call.len(), 3, "{deal_call:#?}");
    assert!(deal_call[1].starts_with("POST /services/data/v62.0/sobjects/OpportunityContactRole"));

    // 3. The first pull sees only the host's own write: an echo.
    let applied = host.ok("POST", "/v1/tenants/acme/crm/pull", None).await;
    assert_eq!(applied["records"], 1, "{applied}");
    assert_eq!(applied["echoes"], 1, "{applied}");
    assert_eq!(applied["changed"], 0, "{applied}");

    // 4. Sales renames the Contact in Salesforce; the pull brings it back and the
    //    overwrite of "Mario" is in the review queue.
    sf.sales_edit(&cid, json!({"FirstName": "Mario", "LastName": "Rossi"}))
        .await;
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

    // 5. An Outbound Message about the next edit is applied at once.
    sf.sales_edit(&cid, json!({"LastName": "Rossi-Bianchi"}))
        .await;
    let (status, applied) = outbound_message(&host, sf.outbound_message(&[&cid])).await;
    assert_eq!(status, StatusCode::OK, "{applied}");
    assert_eq!(applied["records"], 1, "{applied}");
    assert_eq!(applied["changed"], 1, "{applied}");
    let contacts = host.all("/v1/tenants/acme/contacts").await;
    assert_eq!(contacts[0]["name"], "Mario Rossi-Bianchi");
    // Salesforce delivers at least once: the same message again changes nothing.
    let (status, applied) = outbound_message(&host, sf.outbound_message(&[&cid])).await;
    assert_eq!(status, StatusCode::OK, "{applied}");
    assert_eq!(applied["changed"], 0, "{applied}");

    // 6. The same message claiming another org is refused, and changes nothing.
    sf.sales_edit(&cid, json!({"LastName": "Verdi"})).await;
    let (status, body) = outbound_message(
        &host,
        sf.outbound_message_from("00D5g000001OtherEAA", &[&cid]),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"]["code"], "crm_unauthorized", "{body}");
    let contacts = host.all("/v1/tenants/acme/contacts").await;
    assert_eq!(contacts[0]["name"], "Mario Rossi-Bianchi");
    // Anything that is not an Outbound Message is refused as invalid.
    let (status, body) = outbound_message(&host, "{}".into()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "crm_invalid", "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_limit_is_waited_out_and_nothing_is_lost_or_repeated() {
    let sf = Salesforce::start().await;
    let host = setup(&sf).await;
    inbound(&host, "Anna", "wamid.l0", "before the limit").await;
    synced(&host).await;
    let cid = sf.contact_by_whatsapp(E164).expect("Contact")["Id"]
        .as_str()
        .unwrap()
        .to_string();

    // The org has used up its daily requests: every call is refused with 403
    // REQUEST_LIMIT_EXCEEDED while three messages arrive.
    sf.set_limit(sf.usage(), Duration::from_secs(86_400));
    for i in 1..=3 {
        inbound(
            &host,
            "Anna",
            &format!("wamid.l{i}"),
            &format!("during the limit #{i}"),
        )
        .await;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let queued = host.all("/v1/tenants/acme/crm/jobs?state=queued").await;
        let limited = sf.limited();
        if queued.len() == 3
            && limited >= 1
            && queued.iter().all(|j| {
                j["attempts"] == 0
                    && j["last_error"]
                        .as_str()
                        .is_some_and(|e| e.contains("rate limited"))
            })
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "writes did not wait for the limit: {limited} refused, {queued:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        host.all("/v1/tenants/acme/crm/jobs?state=dead")
            .await
            .is_empty(),
        "nothing is dead-lettered while the org is over its limit"
    );
    assert_eq!(sf.tasks_of(&cid).len(), 1, "nothing written while limited");
    // After a refusal the connector pauses (limit_wait_seconds = 1) instead of
    // asking again for each of the three jobs: about one refused request a second.
    let before = sf.limited();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let refused = sf.limited() - before;
    assert!(refused <= 5, "{refused} requests refused in 3 s");

    // The rolling window frees requests: every message reaches Salesforce, once.
    sf.set_limit(15_000, Duration::from_secs(86_400));
    let jobs = synced(&host).await;
    assert!(jobs.iter().all(|j| j["state"] == "done"), "{jobs:#?}");
    let tasks = sf.tasks_of(&cid);
    assert_eq!(tasks.len(), 4, "{tasks:#?}");
    for i in 1..=3 {
        let text = format!("during the limit #{i}");
        assert_eq!(
            tasks
                .iter()
                .filter(|t| t["Description"].as_str().is_some_and(|d| d.contains(&text)))
                .count(),
            1,
            "{text}"
        );
    }
    assert_eq!(sf.contacts().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_session_is_dead_lettered_and_a_failing_org_is_retried() {
    let sf = Salesforce::start().await;
    let host = setup(&sf).await;

    // Salesforce answers 503: the write waits and is retried, nothing is dead.
    sf.fail_with(Some(503));
    inbound(&host, "Luca", "wamid.f1", "while Salesforce is down").await;
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
        assert!(Instant::now() < deadline, "no retry: {queued:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sf.fail_with(None);
    let jobs = synced(&host).await;
    assert!(jobs.iter().all(|j| j["state"] == "done"), "{jobs:#?}");
    let cid = sf.contact_by_whatsapp(E164).expect("Contact")["Id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(sf.tasks_of(&cid).len(), 1);

    // The token is revoked: 401 INVALID_SESSION_ID cannot succeed later, so the
    // write goes to the dead-letter list at once, and can be re-queued once fixed.
    sf.set_token("00D5g000004ScrmEAA!AQ4AQRotatedSessionKey");
    inbound(&host, "Luca", "wamid.f2", "after the token was revoked").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let dead = loop {
        let dead = host.all("/v1/tenants/acme/crm/jobs?state=dead").await;
        if !dead.is_empty() {
            break dead;
        }
        assert!(Instant::now() < deadline, "not dead-lettered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        dead[0]["last_error"]
            .as_str()
            .is_some_and(|e| e.starts_with("crm_unauthorized") && e.contains("INVALID_SESSION_ID")),
        "{dead:#?}"
    );
    host.ok(
        "PUT",
        "/v1/tenants/acme/secrets/salesforce_token",
        Some(json!({"value": "00D5g000004ScrmEAA!AQ4AQRotatedSessionKey"})),
    )
    .await;
    host.ok(
        "POST",
        &format!("/v1/tenants/acme/crm/jobs/{}/requeue", dead[0]["id"]),
        None,
    )
    .await;
    let jobs = synced(&host).await;
    assert!(jobs.iter().all(|j| j["state"] == "done"), "{jobs:#?}");
    assert_eq!(sf.tasks_of(&cid).len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulls_page_through_every_change_once_even_when_a_locator_expires() {
    let sf = Salesforce::start().await;
    let host = setup(&sf).await;
    // Sales creates five Contacts, most in the same second; Salesforce answers in
    // batches of two, and the locator of the second page is lost.
    for i in 1..=5 {
        sf.sales_create_contact(json!({
            "FirstName": "Cliente",
            "LastName": format!("Numero{i}"),
            EXTERNAL_ID_FIELD: format!("+3934712345{i:02}"),
        }));
    }
    sf.set_query_batch(Some(2));
    sf.lose_next_query_locator();
    let applied = host.ok("POST", "/v1/tenants/acme/crm/pull", None).await;
    assert_eq!(applied["records"], 5, "{applied}");
    assert_eq!(applied["created"], 5, "{applied}");
    let contacts = host.all("/v1/tenants/acme/contacts").await;
    let mut names: Vec<&str> = contacts.iter().filter_map(|c| c["name"].as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        (1..=5)
            .map(|i| format!("Cliente Numero{i}"))
            .collect::<Vec<_>>()
    );
    let queries: Vec<String> = sf
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("/query"))
        .map(|r| format!("{} {}", r.status, r.path))
        .collect();
    // The first query, the lost locator, the query again from the cursor, its next page.
    assert_eq!(queries.len(), 4, "{queries:#?}");
    assert!(queries[1].starts_with("400 "), "{queries:#?}");

    // Nothing new: nothing read. One edit: exactly that Contact.
    let again = host.ok("POST", "/v1/tenants/acme/crm/pull", None).await;
    assert_eq!(again["records"], 0, "{again}");
    let third = sf.contact_by_whatsapp("+393471234503").unwrap();
    sf.sales_edit(third["Id"].as_str().unwrap(), json!({"FirstName": "Carla"}))
        .await;
    let applied = host.ok("POST", "/v1/tenants/acme/crm/pull", None).await;
    assert_eq!(applied["records"], 1, "{applied}");
    assert_eq!(applied["changed"], 1, "{applied}");
}
