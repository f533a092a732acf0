//! The connector's checks, the same for every CRM: they run against a local CRM
//! of the chosen [`Flavour`] (`scrm plugin test --crm`; see [`super::local`]),
//! which speaks that CRM's wire format. The connector is pointed at it through its
//! configuration (the reference connector's keys for that CRM, set over the
//! caller's config) and an HTTP policy that allows exactly that address, with a
//! credential the host adds in that CRM's scheme. It must create a contact, update
//! it by id, find one by phone instead of creating a second, read contacts back,
//! pull every change once with its cursor, parse a genuine webhook and refuse a
//! forged one (or, for a CRM that sends none, answer `invalid`), write a retried
//! note once, let the host add the credentials, and map the CRM's errors (in its
//! own error shape) to the contract's variants.

use super::local::{self, Flavour, LocalCrm, Shared, Store};
use super::{Check, TestError};
use crate::runner::{Outcome, RunError, RunSpec, Runner};
use scrm_engine::crm::{CrmRecord, WriteKey};
use serde_json::{Map, Value, json};
use std::sync::{Arc, Mutex};

/// The tenant secret the connector's credential is read from.
const TOKEN_SECRET: &str = "conformance_token";
/// Its value: what the CRM must see in `authorization`, after the flavour's prefix.
const TOKEN: &str = "conformance-token-5b1f";
/// The tenant secret webhooks are signed with (HubSpot's connector reads it).
pub(super) const WEBHOOK_SECRET: &str = "conformance_webhook_secret";
/// Its value; connectors that take the key in their config get it there.
const WEBHOOK_KEY: &str = "conformance-webhook-key-9c2e";

/// The local CRM of a run and where it listens; it stops when dropped.
#[derive(Debug)]
pub(super) struct Local {
    store: Shared,
    url: String,
    server: tokio::task::AbortHandle,
}

impl Drop for Local {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Local {
    fn crm(&self) -> &'static dyn LocalCrm {
        lock(self).crm
    }
}

/// Starts the local CRM of `flavour` and points `spec` at it: its config, HTTP
/// policy and secrets.
///
/// # Errors
/// [`TestError::Fixtures`] when the config is neither a JSON object nor a TOML
/// table, or the CRM cannot listen (no tokio runtime, no port).
pub(super) fn prepare(mut spec: RunSpec, flavour: Flavour) -> Result<(RunSpec, Local), TestError> {
    let crm = flavour.local();
    let store = Arc::new(Mutex::new(Store::new(crm)));
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .map_err(|e| TestError::Fixtures(format!("the local CRM cannot listen: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| TestError::Fixtures(format!("the local CRM cannot listen: {e}")))?;
    let runtime = tokio::runtime::Handle::try_current()
        .map_err(|e| TestError::Fixtures(format!("the local CRM needs a runtime: {e}")))?;
    let app = crm.router(store.clone());
    let server = runtime
        .spawn(async move {
            if let Ok(l) = tokio::net::TcpListener::from_std(listener) {
                let _ = axum::serve(l, app).await;
            }
        })
        .abort_handle();
    let url = format!("http://{addr}");
    spec.config = pointed(&spec.config, &crm.config(&url, WEBHOOK_KEY))?;
    spec.http = json!({
        "allow": ["127.0.0.1"],
        "allow_private": [addr.to_string()],
        "max_requests": 64,
        "secrets": [WEBHOOK_SECRET],
        "credentials": [{"host": "127.0.0.1", "header": "authorization",
                         "secret": TOKEN_SECRET, "prefix": crm.auth_prefix()}],
    });
    spec.secrets = vec![
        (TOKEN_SECRET.into(), secrecy::SecretString::from(TOKEN)),
        (
            WEBHOOK_SECRET.into(),
            secrecy::SecretString::from(WEBHOOK_KEY),
        ),
    ];
    Ok((spec, Local { store, url, server }))
}

/// The caller's config (JSON object or TOML table) with the flavour's `keys` set
/// (the CRM's address, how webhooks are checked), as JSON.
fn pointed(config: &[u8], keys: &[(&'static str, Value)]) -> Result<Vec<u8>, TestError> {
    let text = std::str::from_utf8(config)
        .map_err(|_| TestError::Fixtures("the connector's config is not UTF-8".into()))?;
    let names: Vec<&str> = keys.iter().map(|(k, _)| *k).collect();
    let bad = |e: &str| bad_config(e, &names);
    let mut table: Map<String, Value> = if text.trim().is_empty() {
        Map::new()
    } else if text.trim_start().starts_with('{') {
        serde_json::from_str(text).map_err(|e| bad(&e.to_string()))?
    } else {
        toml::from_str(text).map_err(|e| bad(&e.to_string()))?
    };
    for (k, v) in keys {
        table.insert((*k).into(), v.clone());
    }
    serde_json::to_vec(&table).map_err(|e| bad(&e.to_string()))
}

fn bad_config(e: &str, keys: &[&str]) -> TestError {
    TestError::Fixtures(format!(
        "the connector's config is neither a JSON object nor a TOML table ({}); the checks set its {}",
        super::messages::short(e),
        keys.join(", ")
    ))
}

fn contact(id: Option<&str>, name: &str, phone: &str) -> CrmRecord {
    CrmRecord {
        object: "contact".into(),
        id: id.map(str::to_owned),
        fields: vec![("name".into(), json!(name)), ("phone".into(), json!(phone))],
        updated_at: None,
    }
}

/// The connector checks, in order; the outcomes of every call, for the limits.
///
/// # Errors
/// [`RunError::Config`] when the first call fails `invalid` naming the
/// configuration: the connector contract has no `invalid-config` case, and a
/// connector that cannot use its configuration says so this way.
pub(super) fn checks(
    runner: &mut Runner,
    local: &Local,
) -> Result<(Vec<Check>, Vec<Outcome>), TestError> {
    let mut calls = Vec::new();
    let mut checks = Vec::new();
    let created = create(runner, local, &mut calls, &mut checks);
    if let Some(Err(f)) = calls.first().map(|o| &o.result)
        && f.code == "crm_invalid"
        && f.message.to_lowercase().contains("config")
    {
        let crm = local.crm();
        let keys: Vec<&str> = crm.config("", "").iter().map(|(k, _)| *k).collect();
        return Err(RunError::Config(format!(
            "{}; the checks set its {} for the local {} CRM (another CRM's connector: --crm)",
            crate::runner::one_line(&f.message),
            keys.join(", "),
            crm.flavour()
        ))
        .into());
    }
    checks.push(update(runner, local, created.as_deref(), &mut calls));
    let seeded = seed(local);
    checks.push(read(runner, &seeded, &mut calls));
    // Before anything writes to the seeded contacts: a write makes one new again.
    checks.push(pull(runner, local, &seeded, &mut calls));
    checks.push(lookup(runner, local, &seeded[0], &mut calls));
    checks.push(webhook(runner, local, &seeded[1], &mut calls));
    checks.push(retry(runner, local, &seeded[0], &mut calls));
    checks.push(credentials(local));
    checks.push(errors(runner, local, &mut calls));
    Ok((checks, calls))
}

/// The outcome's answer, or why it failed, for a failed check.
fn failed(o: &Outcome) -> String {
    match &o.result {
        Ok(v) => super::messages::short(&v.to_string()),
        Err(f) => format!("{} {}", f.code, super::messages::short(&f.message)),
    }
}

fn lock(local: &Local) -> std::sync::MutexGuard<'_, Store> {
    local::lock(&local.store)
}

/// The contact whose properties hold `phone`, by id.
fn with_phone(local: &Local, phone: &str) -> Vec<String> {
    lock(local)
        .of("contacts")
        .into_iter()
        .filter(|o| o.props.values().any(|v| v.as_str() == Some(phone)))
        .map(|o| o.id.clone())
        .collect()
}

fn create(
    runner: &mut Runner,
    local: &Local,
    calls: &mut Vec<Outcome>,
    checks: &mut Vec<Check>,
) -> Option<String> {
    let phone = "+16505550101";
    let record = contact(None, "Ada Create", phone);
    let o = runner.call_connector("push-contact", "a new contact".into(), |h, b| {
        h.push_contact(b, &record)
    });
    let id = o
        .result
        .as_ref()
        .ok()
        .and_then(|v| v["id"].as_str())
        .map(str::to_owned);
    let stored = with_phone(local, phone);
    checks.push(match &id {
        Some(id) if stored == [id.clone()] => Check::pass(
            "connector create",
            format!("push-contact of a contact the CRM does not have created it (id {id})"),
        ),
        Some(id) => Check::fail(
            "connector create",
            format!(
                "push-contact answered id {id}, but the CRM has {} contacts with its phone ({})",
                stored.len(),
                stored.join(", ")
            ),
        ),
        None => Check::fail(
            "connector create",
            format!("push-contact of a new contact: {}", failed(&o)),
        ),
    });
    calls.push(o);
    id
}

fn update(runner: &mut Runner, local: &Local, id: Option<&str>, calls: &mut Vec<Outcome>) -> Check {
    let Some(id) = id else {
        return Check::fail("connector update", "no contact was created to update");
    };
    let record = contact(Some(id), "Ada Update", "+16505550101");
    let o = runner.call_connector("push-contact", format!("contact {id}"), |h, b| {
        h.push_contact(b, &record)
    });
    let renamed = lock(local).of("contacts").iter().any(|c| {
        c.id == id
            && c.props
                .values()
                .any(|v| v.as_str().is_some_and(|s| s.contains("Update")))
    });
    let count = lock(local).of("contacts").len();
    let check = match o.result.as_ref().ok().and_then(|v| v["id"].as_str()) {
        Some(answered) if answered == id && renamed && count == 1 => Check::pass(
            "connector update",
            "push-contact with the CRM's id updated that contact, and created none",
        ),
        Some(answered) => Check::fail(
            "connector update",
            format!(
                "push-contact of contact {id} answered id {answered}; renamed in the CRM: {renamed}; contacts now: {count}"
            ),
        ),
        None => Check::fail(
            "connector update",
            format!("push-contact of contact {id}: {}", failed(&o)),
        ),
    };
    calls.push(o);
    check
}

/// Contacts already in the CRM, changed a minute ago and before; their ids.
fn seed(local: &Local) -> Vec<String> {
    let now = scrm_store::now_ms();
    let mut store = lock(local);
    let crm = store.crm;
    (0..5)
        .map(|i| {
            let props = crm.contact(
                &format!("Seed{i}"),
                "Lee",
                &format!("+1650555020{i}"),
                &format!("seed{i}@example.com"),
            );
            store.add("contacts", props, now - 60_000 + i * 1_000)
        })
        .collect()
}

fn lookup(runner: &mut Runner, local: &Local, seeded: &str, calls: &mut Vec<Outcome>) -> Check {
    let before = lock(local).of("contacts").len();
    let record = contact(None, "Seed0 Lee", "+16505550200");
    let o = runner.call_connector(
        "push-contact",
        "a contact the CRM has, by phone".into(),
        |h, b| h.push_contact(b, &record),
    );
    let after = lock(local).of("contacts").len();
    let check = match o.result.as_ref().ok().and_then(|v| v["id"].as_str()) {
        Some(id) if id == seeded && after == before => Check::pass(
            "connector lookup",
            format!(
                "push-contact without an id found contact {seeded} by its phone instead of creating a second"
            ),
        ),
        Some(id) => Check::fail(
            "connector lookup",
            format!(
                "push-contact of a contact the CRM has (id {seeded}, same phone) answered id {id}; contacts {before} → {after}"
            ),
        ),
        None => Check::fail(
            "connector lookup",
            format!("push-contact of a known phone: {}", failed(&o)),
        ),
    };
    calls.push(o);
    check
}

fn read(runner: &mut Runner, seeded: &[String], calls: &mut Vec<Outcome>) -> Check {
    let ids: Vec<String> = seeded[..2].to_vec();
    let o = runner.call_connector("read-contacts", ids.join(", "), |h, b| {
        h.read_contacts(b, &ids)
    });
    let got: Vec<String> = o
        .result
        .as_ref()
        .ok()
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| r["id"].as_str().map(str::to_owned))
        .collect();
    let check = if o.result.is_err() {
        Check::fail("connector read", format!("read-contacts: {}", failed(&o)))
    } else if got.len() == ids.len() && ids.iter().all(|i| got.contains(i)) {
        Check::pass(
            "connector read",
            format!("read-contacts gave back contacts {}", ids.join(" and ")),
        )
    } else {
        Check::fail(
            "connector read",
            format!("read-contacts of {} gave ids {got:?}", ids.join(", ")),
        )
    };
    calls.push(o);
    check
}

/// Pulls from `cursor` until the connector says there is no more; the ids read
/// and the last cursor, or why a pull failed.
fn pull_all(
    runner: &mut Runner,
    cursor: &str,
    calls: &mut Vec<Outcome>,
) -> Result<(Vec<String>, String), String> {
    let (mut ids, mut cursor) = (Vec::new(), cursor.to_string());
    for _ in 0..20 {
        let from = cursor.clone();
        let o = runner.call_connector("pull-changes", format!("from {from:?}"), |h, b| {
            h.pull_changes(b, &from)
        });
        let page = o
            .result
            .clone()
            .map_err(|_| format!("pull-changes from {from:?}: {}", failed(&o)));
        calls.push(o);
        let page = page?;
        ids.extend(
            page["records"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r["id"].as_str().map(str::to_owned)),
        );
        cursor = page["next_cursor"].as_str().unwrap_or_default().to_string();
        if page["more"] != true {
            return Ok((ids, cursor));
        }
    }
    Err("pull-changes said more after 20 pages".into())
}

fn pull(runner: &mut Runner, local: &Local, seeded: &[String], calls: &mut Vec<Outcome>) -> Check {
    let name = "connector pull";
    let (first, cursor) = match pull_all(runner, "", calls) {
        Ok(x) => x,
        Err(e) => return Check::fail(name, e),
    };
    let missing: Vec<&String> = seeded.iter().filter(|s| !first.contains(s)).collect();
    if !missing.is_empty() {
        return Check::fail(
            name,
            format!("the first pull missed changed contacts {missing:?} (read {first:?})"),
        );
    }
    let (again, cursor) = match pull_all(runner, &cursor, calls) {
        Ok(x) => x,
        Err(e) => return Check::fail(name, e),
    };
    let repeated: Vec<&String> = again.iter().filter(|i| seeded.contains(i)).collect();
    if !repeated.is_empty() {
        return Check::fail(
            name,
            format!("a pull from the cursor read unchanged contacts again: {repeated:?}"),
        );
    }
    let changed = &seeded[2];
    let (props, at) = local.crm().change(scrm_store::now_ms());
    lock(local).touch(changed, &props, at);
    match pull_all(runner, &cursor, calls) {
        Ok((ids, _))
            if ids.contains(changed) && !ids.iter().any(|i| i != changed && seeded.contains(i)) =>
        {
            Check::pass(
                name,
                format!(
                    "{} changed contacts read from the start, none again from the cursor, then only the one changed since",
                    seeded.len()
                ),
            )
        }
        Ok((ids, _)) => Check::fail(
            name,
            format!("after contact {changed} changed, the pull read {ids:?}"),
        ),
        Err(e) => Check::fail(name, e),
    }
}

/// The ids of the records an answer holds.
fn record_ids(o: &Outcome) -> Vec<String> {
    o.result
        .as_ref()
        .ok()
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| r["id"].as_str().map(str::to_owned))
        .collect()
}

fn webhook(runner: &mut Runner, local: &Local, seeded: &str, calls: &mut Vec<Outcome>) -> Check {
    let name = "connector webhook";
    let url = format!("{}/webhook", local.url);
    let contact = lock(local).get("contacts", seeded).cloned();
    let crm = local.crm();
    let deliveries = contact.and_then(|c| {
        let signed = crm.webhook(&url, &c, WEBHOOK_KEY)?;
        let forged = crm.webhook(&url, &c, "not-the-key")?;
        Some((signed, forged))
    });
    let Some(((headers, body), (forged_headers, forged_body))) = deliveries else {
        return not_offered(runner, crm.flavour(), calls);
    };
    let o = runner.call_connector("parse-webhook", "a signed contact change".into(), |h, b| {
        h.parse_crm_webhook(b, &headers, &body)
    });
    let ids = record_ids(&o);
    let f = runner.call_connector("parse-webhook", "a forged contact change".into(), |h, b| {
        h.parse_crm_webhook(b, &forged_headers, &forged_body)
    });
    let refused = f.result.as_ref().err().map(|e| e.code.clone());
    let check = if o.result.is_err() {
        Check::fail(
            name,
            format!("parse-webhook of a signed delivery: {}", failed(&o)),
        )
    } else if ids != [seeded.to_string()] {
        Check::fail(
            name,
            format!("a signed change of contact {seeded} gave records {ids:?}"),
        )
    } else if refused.as_deref() != Some("crm_unauthorized") {
        Check::fail(
            name,
            format!(
                "a forged signature was not refused as unauthorized: {}",
                failed(&f)
            ),
        )
    } else {
        Check::pass(
            name,
            format!(
                "a signed change gave contact {seeded}'s record; a forged signature is unauthorized"
            ),
        )
    };
    calls.extend([o, f]);
    check
}

/// The webhook check of a CRM that sends none: the connector must refuse a
/// delivery as `invalid` (the contract has no "unsupported" case), not make
/// records up.
fn not_offered(runner: &mut Runner, flavour: Flavour, calls: &mut Vec<Outcome>) -> Check {
    let name = "connector webhook";
    let headers = vec![("content-type".to_string(), "application/json".to_string())];
    let o = runner.call_connector(
        "parse-webhook",
        "a delivery the CRM never sends".into(),
        |h, b| h.parse_crm_webhook(b, &headers, b"{}"),
    );
    let check = match &o.result {
        Err(f) if f.code == "crm_invalid" => Check::pass(
            name,
            format!(
                "not offered by this CRM: {flavour} sends no webhooks, and parse-webhook refuses a delivery as invalid ({})",
                super::messages::short(f.message.trim_start_matches("invalid: "))
            ),
        ),
        _ => Check::fail(
            name,
            format!(
                "{flavour} sends no webhooks, so parse-webhook must answer invalid; it answered {}",
                failed(&o)
            ),
        ),
    };
    calls.push(o);
    check
}

fn retry(runner: &mut Runner, local: &Local, contact_id: &str, calls: &mut Vec<Outcome>) -> Check {
    let name = "connector retry";
    let note = CrmRecord {
        object: "note".into(),
        id: None,
        fields: vec![
            ("text".into(), json!("[WhatsApp, customer] Is it in stock?")),
            (
                "timestamp".into(),
                json!({"timestamp": scrm_store::now_ms()}),
            ),
        ],
        updated_at: None,
    };
    let mut ids = Vec::new();
    for retried in [false, true] {
        let write = WriteKey {
            key: "conformance:note:1".into(),
            retried,
        };
        let o = runner.call_connector("push-note", format!("note (retried: {retried})"), |h, b| {
            h.push_note(b, contact_id, &write, &note)
        });
        let answer = o
            .result
            .as_ref()
            .ok()
            .and_then(|v| v["id"].as_str())
            .map(str::to_owned);
        let why = failed(&o);
        calls.push(o);
        match answer {
            Some(id) => ids.push(id),
            None => return Check::fail(name, format!("push-note (retried: {retried}): {why}")),
        }
    }
    let notes = lock(local)
        .objects
        .iter()
        .filter(|o| o.kind != "contacts")
        .count();
    if ids[0] == ids[1] && notes == 1 {
        Check::pass(
            name,
            format!(
                "a note written again as a retry with its key was found (id {}), not written twice",
                ids[0]
            ),
        )
    } else {
        Check::fail(
            name,
            format!(
                "a retried note answered ids {} and {}; the CRM has {notes} notes",
                ids[0], ids[1]
            ),
        )
    }
}

fn credentials(local: &Local) -> Check {
    let crm = lock(local);
    let expected = format!("{}{TOKEN}", crm.crm.auth_prefix());
    let wrong = crm.auth.iter().filter(|a| **a != expected).count();
    let unauthenticated = crm.requests.len().saturating_sub(crm.auth.len());
    if crm.requests.is_empty() || wrong > 0 || unauthenticated > 0 {
        Check::fail(
            "connector credentials",
            format!(
                "of {} requests, {unauthenticated} came without the credential the host adds and {wrong} with another",
                crm.requests.len()
            ),
        )
    } else {
        Check::pass(
            "connector credentials",
            format!(
                "all {} requests carried the credential the host adds from the tenant's secret",
                crm.requests.len()
            ),
        )
    }
}

/// Each CRM failure, answered to the next request, and the code it must become.
fn errors(runner: &mut Runner, local: &Local, calls: &mut Vec<Outcome>) -> Check {
    let cases: [(u16, Option<&str>, &str); 5] = [
        (401, None, "crm_unauthorized"),
        (403, None, "crm_unauthorized"),
        (400, None, "crm_invalid"),
        (503, None, "crm_unavailable"),
        // Last: a connector may hold its writes back for a while after a 429.
        (429, Some("7"), "crm_rate_limited"),
    ];
    let mut problems = Vec::new();
    for (status, retry_after, code) in cases {
        lock(local).fail_next = Some((status, retry_after.map(str::to_owned)));
        let record = contact(None, "Ada Error", "+16505550109");
        let o = runner.call_connector(
            "push-contact",
            format!("the CRM answering {status}"),
            |h, b| h.push_contact(b, &record),
        );
        lock(local).fail_next = None;
        match &o.result {
            Err(f) if f.code == code => {}
            _ => problems.push(format!("{status} became {} (expected {code})", failed(&o))),
        }
        calls.push(o);
    }
    Check::from_problems(
        "connector errors",
        "401 and 403 became unauthorized, 400 invalid, 503 unavailable, 429 rate-limited".into(),
        &problems,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(flavour: Flavour, url: &str) -> Vec<(&'static str, Value)> {
        flavour.local().config(url, WEBHOOK_KEY)
    }

    #[test]
    fn the_config_is_pointed_at_the_local_crm_whatever_its_format() {
        let hub = |url| keys(Flavour::Hubspot, url);
        let toml = pointed(
            b"page_size = 50\nbase_url = \"https://api.hubapi.com\"\n",
            &hub("http://127.0.0.1:9"),
        )
        .unwrap();
        let v: Value = serde_json::from_slice(&toml).unwrap();
        assert_eq!(v["base_url"], "http://127.0.0.1:9");
        assert_eq!(v["page_size"], 50);
        assert_eq!(v["webhook_secret"], WEBHOOK_SECRET);
        let json = pointed(br#"{"owner_id": "7"}"#, &hub("http://x")).unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&json).unwrap()["owner_id"],
            "7"
        );
        assert_eq!(
            serde_json::from_slice::<Value>(&pointed(b"", &hub("http://x")).unwrap()).unwrap()["base_url"],
            "http://x"
        );
        assert!(pointed(b"[1", &hub("http://x")).is_err());
    }

    #[test]
    fn each_flavour_sets_only_its_own_connectors_keys() {
        let set = |f| {
            let raw = pointed(b"", &keys(f, "http://127.0.0.1:9")).unwrap();
            let v: Map<String, Value> = serde_json::from_slice(&raw).unwrap();
            let mut k: Vec<String> = v.keys().cloned().collect();
            k.sort();
            k
        };
        assert_eq!(set(Flavour::Zoho), ["api_domain", "notification_token"]);
        assert_eq!(
            set(Flavour::Salesforce),
            ["instance_url", "organization_id"]
        );
        assert_eq!(set(Flavour::Tryton), ["db", "url"]);
    }
}
