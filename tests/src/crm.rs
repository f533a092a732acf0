//! The steps every two-way CRM sync test takes (`tests/tests/crm_*.rs`), whichever
//! CRM is on the other side: set up a tenant with its CRM settings and secrets,
//! install the mapper and a connector allowed to reach a local CRM, have a WhatsApp
//! customer write, wait for the CRM queue to drain, and read pulls, jobs, contacts
//! and the review queue.
//!
//! ```no_run
//! # async fn demo() {
//! use scrm_e2e::crm;
//! let host = crm::setup_tenant("acme", &[("tryton_key", "secret")], 0).await;
//! crm::install_mapper(&host, "acme", "required = [\"phone\"]\n").await;
//! let policy = crm::loopback_policy(8000, "tryton_key", "Bearer ");
//! let config = "url = \"http://127.0.0.1:8000\"\ndb = \"scrm\"\n";
//! crm::install_connector(&host, "acme", "tryton-connector", config, policy).await;
//! crm::customer_writes(&host, "Mario", &[("wamid.1", "Ciao!")]).await;
//! let jobs = crm::synced(&host, "acme", std::time::Duration::from_secs(60)).await;
//! # let _ = jobs;
//! # }
//! ```

use crate::{APP_SECRET, FIXTURE_PNID, Host, guest};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The business phone number id every CRM test tenant owns.
pub const PN: &str = FIXTURE_PNID;
/// The WhatsApp id of the customer who writes in the CRM tests.
pub const CUSTOMER: &str = "393471234567";
/// [`CUSTOMER`]'s number in E.164, as the CRMs store it.
pub const E164: &str = "+393471234567";

/// How long [`jobs_until`] waits.
const JOBS_WAIT: Duration = Duration::from_secs(30);

/// Unix seconds now.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// Unix milliseconds now: the tests' clock, and the local CRMs' ([`crate::hubspot`],
/// [`crate::salesforce`]).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

/// `wa_id` (with profile name `name`, if any) writes each `(wamid, text)` to `pn`,
/// in one signed webhook delivery stamped now; returns once the pipeline settled.
///
/// # Panics
/// When the host does not answer the webhook with 200.
pub async fn inbound(
    host: &Host,
    pn: &str,
    wa_id: &str,
    name: Option<&str>,
    messages: &[(&str, &str)],
) {
    inbound_at(host, pn, wa_id, name, messages, now_secs()).await;
}

/// As [`inbound`], with the messages stamped `ts` (Unix seconds): a customer who
/// wrote a day ago has no open 24-hour window.
pub async fn inbound_at(
    host: &Host,
    pn: &str,
    wa_id: &str,
    name: Option<&str>,
    messages: &[(&str, &str)],
    ts: u64,
) {
    let ts = ts.to_string();
    let msgs: Vec<Value> = messages
        .iter()
        .map(|(id, text)| {
            json!({"from": wa_id, "id": id, "timestamp": ts, "type": "text", "text": {"body": text}})
        })
        .collect();
    let mut value = json!({
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550000000", "phone_number_id": pn},
        "messages": msgs
    });
    if let Some(name) = name {
        value["contacts"] = json!([{"profile": {"name": name}, "wa_id": wa_id}]);
    }
    let body = json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA1", "changes": [{"field": "messages", "value": value}]}]
    });
    let (status, _) = host
        .post_signed(&serde_json::to_vec(&body).expect("json"), APP_SECRET)
        .await;
    assert_eq!(status, StatusCode::OK);
    host.settle().await;
}

/// Meta's status webhook for the business's message `wamid` to `recipient` on
/// number `pn`: `status` (`delivered`, `read`, …) now, with a `pricing` object when
/// given (Meta attaches one to `sent` and `delivered`).
///
/// # Panics
/// When the host does not answer the webhook with 200.
pub async fn status(
    host: &Host,
    pn: &str,
    wamid: &str,
    recipient: &str,
    status: &str,
    pricing: Option<Value>,
) {
    let mut s = json!({"id": wamid, "status": status, "timestamp": now_secs().to_string(),
                       "recipient_id": recipient});
    if let Some(p) = pricing {
        s["pricing"] = p;
    }
    let body = json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA1", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550000000", "phone_number_id": pn},
            "statuses": [s]
        }}]}]
    });
    let (code, _) = host
        .post_signed(&serde_json::to_vec(&body).expect("json"), APP_SECRET)
        .await;
    assert_eq!(code, StatusCode::OK);
    host.settle().await;
}

/// `wa_id` places a WhatsApp catalogue order on `pn`: `(sku, quantity, price)` in
/// EUR, message id `wamid`.
///
/// # Panics
/// When the host does not answer the webhook with 200.
pub async fn order(host: &Host, pn: &str, wa_id: &str, wamid: &str, items: &[(&str, u32, f64)]) {
    let items: Vec<Value> = items
        .iter()
        .map(|(sku, q, p)| json!({"product_retailer_id": sku, "quantity": q, "item_price": p, "currency": "EUR"}))
        .collect();
    let body = json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA1", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550000000", "phone_number_id": pn},
            "messages": [{"from": wa_id, "id": wamid, "timestamp": now_secs().to_string(), "type": "order",
                          "order": {"catalog_id": "CAT1", "product_items": items}}]
        }}]}]
    });
    let (code, _) = host
        .post_signed(&serde_json::to_vec(&body).expect("json"), APP_SECRET)
        .await;
    assert_eq!(code, StatusCode::OK);
    host.settle().await;
}

/// [`CUSTOMER`] (profile name `name`) writes each `(wamid, text)` to [`PN`]: see
/// [`inbound`].
pub async fn customer_writes(host: &Host, name: &str, messages: &[(&str, &str)]) {
    inbound(host, PN, CUSTOMER, Some(name), messages).await;
}

/// A host with `tenant` owning [`PN`] (region IT), each `(name, value)` of `secrets`
/// stored as a tenant secret, and real-time CRM sync at 100 requests per 10 s,
/// pulling every `pull_seconds` (0: only when the test asks, so that each step sees
/// exactly its own changes).
pub async fn setup_tenant(tenant: &str, secrets: &[(&str, &str)], pull_seconds: u32) -> Host {
    configure_tenant(Host::start().await, tenant, secrets, pull_seconds).await
}

/// As [`setup_tenant`], with the host sending through the local Cloud API `graph`
/// (and the tenant holding its access token).
pub async fn setup_sending_tenant(
    graph: &crate::graph::Graph,
    tenant: &str,
    secrets: &[(&str, &str)],
    pull_seconds: u32,
) -> Host {
    let url = graph.url();
    let host = Host::start_configured_temp(move |s| {
        s.whatsapp.graph_url = url;
        s.whatsapp.backoff_base_ms = 50;
    })
    .await;
    let mut all = secrets.to_vec();
    all.push(("whatsapp_access_token", crate::graph::ACCESS_TOKEN));
    configure_tenant(host, tenant, &all, pull_seconds).await
}

/// Gives the running `host` tenant `tenant` owning [`PN`] (region IT), each `(name,
/// value)` of `secrets` as a tenant secret, and real-time CRM sync pulling every
/// `pull_seconds` (0: only when the test asks); the host.
pub async fn configure_tenant(
    host: Host,
    tenant: &str,
    secrets: &[(&str, &str)],
    pull_seconds: u32,
) -> Host {
    host.tenant(tenant, &[PN], "IT").await;
    for (name, value) in secrets {
        host.ok(
            "PUT",
            &format!("/v1/tenants/{tenant}/secrets/{name}"),
            Some(json!({"value": value})),
        )
        .await;
    }
    host.ok(
        "PUT",
        &format!("/v1/tenants/{tenant}/crm"),
        Some(
            json!({"mode": "realtime", "batch_minutes": 15, "pull_seconds": pull_seconds,
                    "rate_requests": 100, "rate_seconds": 10, "retention_days": 180}),
        ),
    )
    .await;
    host
}

/// Installs the keyword classifier, whose built-in rules tag "quanto costa" as a
/// price inquiry (a sales signal), for `tenant`.
pub async fn install_classifier(host: &Host, tenant: &str) -> Value {
    host.install(tenant, "classifier", &guest("keyword-classifier"), None)
        .await
}

/// Installs the reference mapper (`crm-mapper`) for `tenant` with the TOML `config`.
pub async fn install_mapper(host: &Host, tenant: &str, config: &str) -> Value {
    host.install(tenant, "mapper", &guest("crm-mapper"), Some(config))
        .await
}

/// The HTTP policy of a connector whose CRM listens on `127.0.0.1:port`: that host
/// only, with the tenant secret `secret` sent as `authorization: {prefix}{secret}`.
/// Add fields (such as `"secrets"`) to the value as a connector needs.
pub fn loopback_policy(port: u16, secret: &str, prefix: &str) -> Value {
    json!({
        "allow": ["127.0.0.1"],
        "allow_private": [format!("127.0.0.1:{port}")],
        "credentials": [{"host": "127.0.0.1", "header": "authorization",
                         "secret": secret, "prefix": prefix}]
    })
}

/// Builds the connector plugin `package` and installs it for `tenant` with the TOML
/// `config` and the HTTP `policy` (see [`loopback_policy`]).
pub async fn install_connector(
    host: &Host,
    tenant: &str,
    package: &str,
    config: &str,
    policy: Value,
) -> Value {
    let connector = host.upload(&guest(package)).await;
    host.ok(
        "PUT",
        &format!("/v1/tenants/{tenant}/plugins/connector"),
        Some(json!({"sha256": connector["sha256"], "config": config, "http": policy})),
    )
    .await
}

/// The URL the CRM posts `tenant`'s webhooks to (no operator token needed).
pub fn webhook_url(host: &Host, tenant: &str) -> String {
    format!("{}/v1/crm/{tenant}/webhook", host.base)
}

/// Posts `body` with `headers` to `tenant`'s CRM webhook, as the CRM would; the
/// status and the JSON answer (null when it is not JSON).
pub async fn post_webhook(
    host: &Host,
    tenant: &str,
    headers: &[(&str, &str)],
    body: impl Into<reqwest::Body>,
) -> (StatusCode, Value) {
    let mut rb = host.http.post(webhook_url(host, tenant)).body(body);
    for (name, value) in headers {
        rb = rb.header(*name, *value);
    }
    let resp = rb.send().await.expect("post the CRM webhook");
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Pulls `tenant`'s changes from its CRM now; what the pull applied.
pub async fn pull(host: &Host, tenant: &str) -> Value {
    host.ok("POST", &format!("/v1/tenants/{tenant}/crm/pull"), None)
        .await
}

/// Every contact of `tenant`.
pub async fn contacts(host: &Host, tenant: &str) -> Vec<Value> {
    host.all(&format!("/v1/tenants/{tenant}/contacts")).await
}

/// `tenant`'s open reviews: CRM or WhatsApp values that overwrote another.
pub async fn open_reviews(host: &Host, tenant: &str) -> Vec<Value> {
    host.all(&format!("/v1/tenants/{tenant}/crm/reviews?state=open"))
        .await
}

/// Resolves `review` of `tenant` with `action` (`accept` or `revert`); the review.
pub async fn resolve_review(host: &Host, tenant: &str, review: &Value, action: &str) -> Value {
    host.ok(
        "POST",
        &format!("/v1/tenants/{tenant}/crm/reviews/{}/{action}", review["id"]),
        None,
    )
    .await
}

/// Asserts that `tenant` has one contact, which a pull renamed to the CRM's `kept`,
/// and one open review: the name `lost` that `kept` overwrote. That review.
pub async fn assert_crm_rename_in_review(
    host: &Host,
    tenant: &str,
    kept: &str,
    lost: &str,
) -> Value {
    let contacts = contacts(host, tenant).await;
    assert_eq!(contacts.len(), 1);
    assert_eq!(contacts[0]["name"], kept);
    let reviews = open_reviews(host, tenant).await;
    assert_eq!(reviews.len(), 1, "{reviews:#?}");
    assert_eq!(reviews[0]["field"], "name");
    assert_eq!(reviews[0]["kept"], kept);
    assert_eq!(reviews[0]["kept_source"], "crm");
    assert_eq!(reviews[0]["lost"], lost);
    reviews[0].clone()
}

/// `tenant`'s CRM jobs in `state` (`queued`, `done`, `dead`).
pub async fn jobs(host: &Host, tenant: &str, state: &str) -> Vec<Value> {
    host.all(&format!("/v1/tenants/{tenant}/crm/jobs?state={state}"))
        .await
}

/// Waits up to 30 s until `check` holds for `tenant`'s jobs in `state`; those jobs.
///
/// # Panics
/// When it does not, with `what` and the jobs.
pub async fn jobs_until(
    host: &Host,
    tenant: &str,
    state: &str,
    what: &str,
    check: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + JOBS_WAIT;
    loop {
        let jobs = jobs(host, tenant, state).await;
        if check(&jobs) {
            return jobs;
        }
        assert!(Instant::now() < deadline, "{what}: {jobs:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether `job` failed at least once because the CRM was unavailable, and waits to
/// be retried.
pub fn awaits_retry(job: &Value) -> bool {
    job["attempts"].as_u64() >= Some(1)
        && job["last_error"]
            .as_str()
            .is_some_and(|e| e.starts_with("crm_unavailable"))
}

/// Re-queues `tenant`'s dead-lettered `job`.
pub async fn requeue(host: &Host, tenant: &str, job: &Value) -> Value {
    host.ok(
        "POST",
        &format!("/v1/tenants/{tenant}/crm/jobs/{}/requeue", job["id"]),
        None,
    )
    .await
}

/// Waits up to `within` until `tenant`'s CRM queue holds nothing queued; every job.
///
/// # Panics
/// When the queue has not drained by then.
pub async fn synced(host: &Host, tenant: &str, within: Duration) -> Vec<Value> {
    let deadline = Instant::now() + within;
    loop {
        let v = host
            .ok("GET", &format!("/v1/tenants/{tenant}/crm"), None)
            .await;
        if v["jobs"]["queued"].is_null() {
            return host.all(&format!("/v1/tenants/{tenant}/crm/jobs")).await;
        }
        assert!(Instant::now() < deadline, "CRM queue did not drain: {v}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A number as a salesperson typed it in the CRM, its record's country (if the
/// connector reads one), and the E.164 form a tenant in Italy must get.
#[derive(Debug, Clone, Copy)]
pub struct CrmNumber {
    /// The CRM's name for the person.
    pub name: &'static str,
    /// As typed.
    pub raw: &'static str,
    /// The record's country field, if any.
    pub country: Option<&'static str>,
    /// What the host must store.
    pub e164: &'static str,
}

/// The numbers every connector's test creates in its CRM: national and
/// international Italian numbers with spaces, dots and parentheses, a Hong Kong
/// number read in its record's country (or written with +852 where the connector
/// reads no country), a Mexican mobile with the old "1", a Brazilian mobile without
/// its ninth digit.
pub fn crm_numbers(with_country: bool) -> Vec<CrmNumber> {
    let n = |name, raw, country, e164| CrmNumber {
        name,
        raw,
        country,
        e164,
    };
    vec![
        n("Italo Nazionale", "347 123 4560", None, "+393471234560"),
        n("Ida Prefisso", "+39 (347) 765.4321", None, "+393477654321"),
        if with_country {
            n("Wing Chan", "9123 4567", Some("Hong Kong"), "+85291234567")
        } else {
            n("Wing Chan", "+852 9123-4567", None, "+85291234567")
        },
        n("Juan Perez", "+52 1 55 1234 5678", None, "+525512345678"),
        n("Bia Souza", "+55 (11) 8765-4321", None, "+5511987654321"),
    ]
}

/// A number no country can read; the CRM's name for its person.
pub const BAD_NUMBER: (&str, &str) = ("Nemo Numero", "12");

/// Checks, after a pull of the CRM records made from [`crm_numbers`] and
/// [`BAD_NUMBER`], that each number became its E.164 contact and the bad one is
/// listed with its reason (not dropped, no contact made); then that the Mexican and
/// Brazilian customers, writing from their WhatsApp ids (written differently from
/// their E.164 numbers), land on those contacts instead of new ones. The host's
/// contacts by E.164, afterwards.
///
/// # Panics
/// When any of that does not hold.
pub async fn assert_crm_numbers_normalised(
    host: &Host,
    tenant: &str,
    numbers: &[CrmNumber],
    applied: &Value,
) -> Vec<Value> {
    assert_eq!(applied["phone_problems"], 1, "{applied}");
    let contacts = contacts(host, tenant).await;
    for n in numbers {
        let found: Vec<&Value> = contacts.iter().filter(|c| c["phone"] == n.e164).collect();
        assert_eq!(
            found.len(),
            1,
            "{} ({}) → {}: {contacts:#?}",
            n.name,
            n.raw,
            n.e164
        );
    }
    let problems = host
        .ok(
            "GET",
            &format!("/v1/tenants/{tenant}/crm/phone-problems"),
            None,
        )
        .await;
    let items = problems["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{problems}");
    assert_eq!(items[0]["phone"], BAD_NUMBER.1);
    assert!(
        items[0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("not a valid number") && r.contains("IT")),
        "{problems}"
    );

    let before = contacts.len();
    inbound(
        host,
        PN,
        "5215512345678",
        Some("Juan"),
        &[("wamid.mx1", "hola")],
    )
    .await;
    inbound(
        host,
        PN,
        "551187654321",
        Some("Bia"),
        &[("wamid.br1", "oi")],
    )
    .await;
    let after = self::contacts(host, tenant).await;
    assert_eq!(after.len(), before, "no new contact: {after:#?}");
    for (wa_id, e164) in [
        ("5215512345678", "+525512345678"),
        ("551187654321", "+5511987654321"),
    ] {
        let c = after.iter().find(|c| c["phone"] == e164).expect(e164);
        assert_eq!(c["wa_id"], wa_id, "{c}");
    }
    after
}
