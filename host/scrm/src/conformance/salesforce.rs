//! A local CRM that speaks Salesforce's REST API (v62.0), in memory, for the
//! connector checks: exactly what the reference connector
//! (`plugins/salesforce-connector`) uses.
//!
//! | request | answer |
//! |---|---|
//! | `POST /services/data/v62.0/composite` `{"allOrNone":true,"compositeRequest":[…]}` | 200 `{"compositeResponse":[{"body","httpHeaders","httpStatusCode","referenceId"}]}`; `@{ref.id}` in a URL is an earlier answer's id; a failure halts (`PROCESSING_HALTED`) and rolls back the rest |
//! | (sub) `PATCH …/sobjects/Contact/{field}/{value}` | upsert by external id: 201 `{"id","success":true,"errors":[],"created":true}` or 200 `created: false` |
//! | (sub) `PATCH …/sobjects/Contact/{id}` | 204; an unknown id: 404 `NOT_FOUND` |
//! | (sub) `POST …/sobjects/Task` | 201 `{"id","success":true,"errors":[]}` |
//! | (sub) `GET …/sobjects/{type}/{id}?fields=…` | the record |
//! | `GET /services/data/v62.0/query?q=SOQL` | `{"totalSize","done":true,"records":[…]}` |
//!
//! SOQL is the three shapes the connector sends (contacts by `Id IN (…)`, changed
//! contacts by `LastModifiedDate` with its seen ids, a Task by its key field), not
//! a SOQL engine. `LastModifiedDate` has whole seconds. Errors are Salesforce's
//! `[{"message","errorCode","fields"}]`. Outbound Messages are the SOAP envelope a
//! workflow posts, which Salesforce does not sign: the forged one comes from
//! another org (`OrganizationId`), as the connector's check is on the org.

use super::local::{self, Delivery, Flavour, LocalCrm, Object, Shared, Store, arrive, lock};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use serde_json::{Map, Value, json};
use sha2::Digest as _;

/// The API's path prefix (of the default version; any version is served).
const BASE: &str = "/services/data/v62.0";
/// The connector's upsert key on Contact (its default `external_id_field`).
const EXTERNAL_ID: &str = "WhatsApp_Number__c";

/// The Salesforce flavour.
#[derive(Debug)]
pub(super) struct Salesforce;

impl LocalCrm for Salesforce {
    fn flavour(&self) -> Flavour {
        Flavour::Salesforce
    }

    fn router(&self, store: Shared) -> Router {
        Router::new().fallback(handle).with_state(store)
    }

    fn config(&self, url: &str, webhook_key: &str) -> Vec<(&'static str, Value)> {
        vec![
            ("instance_url", json!(url)),
            ("organization_id", json!(org_id(webhook_key))),
        ]
    }

    fn auth_prefix(&self) -> &'static str {
        "Bearer "
    }

    fn id(&self, kind: &str, n: u64) -> String {
        let prefix = if kind == "contacts" { "003" } else { "00T" };
        format!("{prefix}Scrm{n:011}")
    }

    fn contact(&self, first: &str, last: &str, phone: &str, email: &str) -> Map<String, Value> {
        let p = json!({"FirstName": first, "LastName": last, EXTERNAL_ID: phone,
                       "MobilePhone": phone, "Email": email});
        p.as_object().cloned().unwrap_or_default()
    }

    fn change(&self, now: i64) -> (Map<String, Value>, i64) {
        let p = json!({"LastName": "Changed"});
        (p.as_object().cloned().unwrap_or_default(), now)
    }

    fn webhook(&self, _url: &str, contact: &Object, key: &str) -> Option<Delivery> {
        let field =
            |k: &str| xml_escape(contact.props.get(k).and_then(Value::as_str).unwrap_or(""));
        let org = org_id(key);
        let body = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
   <OrganizationId>{org}</OrganizationId>
   <ActionId>04k5g000000ScrmAAA</ActionId>
   <SessionId xsi:nil="true"/>
   <EnterpriseUrl>https://acme.my.salesforce.com/services/Soap/c/62.0/{org}</EnterpriseUrl>
   <PartnerUrl>https://acme.my.salesforce.com/services/Soap/u/62.0/{org}</PartnerUrl>
   <Notification>
    <Id>04l5g00000ScrmAAAA</Id>
    <sObject xsi:type="sf:Contact" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
     <sf:Id>{id}</sf:Id>
     <sf:FirstName>{first}</sf:FirstName>
     <sf:LastName>{last}</sf:LastName>
     <sf:LastModifiedDate>{at}</sf:LastModifiedDate>
     <sf:{EXTERNAL_ID}>{phone}</sf:{EXTERNAL_ID}>
    </sObject>
   </Notification>
  </notifications>
 </soapenv:Body>
</soapenv:Envelope>
"#,
            id = contact.id,
            first = field("FirstName"),
            last = field("LastName"),
            at = local::iso(contact.modified),
            phone = field(EXTERNAL_ID),
        );
        let headers = vec![
            (
                "content-type".to_string(),
                "text/xml; charset=utf-8".to_string(),
            ),
            ("soapaction".to_string(), "\"\"".to_string()),
        ];
        Some((headers, body.into_bytes()))
    }

    fn failure(&self, status: u16) -> Response {
        let (code, message) = match status {
            401 => ("INVALID_SESSION_ID", "Session expired or invalid"),
            403 => (
                "INSUFFICIENT_ACCESS_OR_READONLY",
                "insufficient access rights on object id",
            ),
            400 => (
                "REQUIRED_FIELD_MISSING",
                "Required fields are missing: [LastName]",
            ),
            429 => ("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."),
            _ => ("SERVER_UNAVAILABLE", "Server is unavailable"),
        };
        let fields: Vec<&str> = if status == 400 {
            vec!["LastName"]
        } else {
            vec![]
        };
        local::json(
            status,
            json!([{"message": message, "errorCode": code, "fields": fields}]),
        )
    }
}

/// The 18-character org id a webhook key stands for: the org whose deliveries
/// the connector is configured to accept.
fn org_id(key: &str) -> String {
    let hash = hex::encode_upper(sha2::Sha256::digest(key.as_bytes()));
    format!("00D{}", &hash[..15])
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Salesforce's REST dateTime (whole seconds here): `2026-11-25T19:20:00.000+0000`.
fn datetime(ms: i64) -> String {
    chrono::DateTime::from_timestamp(ms.div_euclid(1000), 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S.000+0000").to_string())
        .unwrap_or_default()
}

fn error(status: u16, code: &str, message: &str) -> (u16, Value) {
    (
        status,
        json!([{"message": message, "errorCode": code, "fields": []}]),
    )
}

/// The store's kind of an sObject type.
fn kind(sobject: &str) -> &'static str {
    if sobject == "Contact" {
        "contacts"
    } else {
        "notes"
    }
}

/// Record `o` of `sobject` with `fields` (and its `attributes`).
fn row(o: &Object, sobject: &str, fields: &[&str]) -> Value {
    let mut out = Map::new();
    out.insert(
        "attributes".into(),
        json!({"type": sobject, "url": format!("{BASE}/sobjects/{sobject}/{}", o.id)}),
    );
    for f in fields {
        let v = match *f {
            "Id" => json!(o.id),
            "LastModifiedDate" => json!(datetime(o.modified)),
            "CreatedDate" => json!(datetime(o.created)),
            other => o.props.get(other).cloned().unwrap_or(Value::Null),
        };
        out.insert((*f).to_string(), v);
    }
    Value::Object(out)
}

async fn handle(
    State(store): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let path = uri.path().to_string();
    if let Some(r) = arrive(&store, method.as_str(), &path, &headers) {
        return r;
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or_default();
    let mut s = lock(&store);
    let (status, answer) = match (&method, api_path(&path)) {
        (&Method::POST, Some("/composite")) => composite(&mut s, &body),
        (&Method::GET, Some("/query")) => {
            let q = local::query(&uri);
            let soql = q.iter().find(|(k, _)| k == "q").map(|(_, v)| v.as_str());
            soql_answer(&s, soql.unwrap_or_default())
        }
        _ => error(404, "NOT_FOUND", "The requested resource does not exist"),
    };
    if status == 204 {
        return local::json(204, Value::Null);
    }
    local::json(status, answer)
}

/// What follows `/services/data/v{version}` in `path`, whatever the version.
fn api_path(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/services/data/v")?;
    rest.find('/').map(|i| &rest[i..])
}

/// A composite request, all or none.
fn composite(s: &mut Store, body: &Value) -> (u16, Value) {
    let saved = s.objects.clone();
    let mut ids: Vec<(String, String)> = Vec::new();
    let mut results = Vec::new();
    let mut halted = false;
    for sub in body["compositeRequest"].as_array().into_iter().flatten() {
        let reference = sub["referenceId"].as_str().unwrap_or_default().to_string();
        let (status, answer) = if halted {
            error(
                400,
                "PROCESSING_HALTED",
                "The transaction was rolled back since another operation in the same transaction failed.",
            )
        } else {
            let mut url = sub["url"].as_str().unwrap_or_default().to_string();
            for (r, id) in &ids {
                url = url.replace(&format!("@{{{r}.id}}"), id);
            }
            subrequest(
                s,
                sub["method"].as_str().unwrap_or("GET"),
                &url,
                &sub["body"],
            )
        };
        if let Some(id) = answer["id"].as_str() {
            ids.push((reference.clone(), id.to_string()));
        }
        halted |= status >= 300;
        results.push(
            json!({"body": if status == 204 { Value::Null } else { answer },
                            "httpHeaders": {}, "httpStatusCode": status, "referenceId": reference}),
        );
    }
    if halted {
        s.objects = saved;
    }
    (200, json!({"compositeResponse": results}))
}

/// One subrequest of a composite request.
fn subrequest(s: &mut Store, method: &str, url: &str, body: &Value) -> (u16, Value) {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let segments: Vec<&str> = api_path(path)
        .and_then(|p| p.strip_prefix("/sobjects/"))
        .unwrap_or_default()
        .split('/')
        .collect();
    let fields = body.as_object().cloned().unwrap_or_default();
    let now = scrm_store::now_ms();
    match (method, segments.as_slice()) {
        ("PATCH", ["Contact", field, value]) => {
            let value = percent_encoding::percent_decode_str(value)
                .decode_utf8_lossy()
                .into_owned();
            upsert(s, field, &value, fields)
        }
        ("PATCH", ["Contact", id]) if s.touch(id, &fields, now) => (204, Value::Null),
        ("POST", ["Task"]) => {
            let who = fields.get("WhoId").and_then(Value::as_str).unwrap_or("");
            if s.get("contacts", who).is_none() {
                return error(
                    400,
                    "FIELD_INTEGRITY_EXCEPTION",
                    "WhoId: id value of incorrect type",
                );
            }
            let id = s.add("notes", fields, now);
            (201, json!({"id": id, "success": true, "errors": []}))
        }
        ("GET", [sobject, id]) => match s.get(kind(sobject), id) {
            Some(o) => {
                let wanted = url::form_urlencoded::parse(query.as_bytes())
                    .find(|(k, _)| k == "fields")
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_else(|| "Id".into());
                (200, row(o, sobject, &wanted.split(',').collect::<Vec<_>>()))
            }
            None => error(404, "NOT_FOUND", "The requested resource does not exist"),
        },
        _ => error(404, "NOT_FOUND", "The requested resource does not exist"),
    }
}

/// An upsert of a Contact by external id `field` = `value`.
fn upsert(s: &mut Store, field: &str, value: &str, mut fields: Map<String, Value>) -> (u16, Value) {
    fields.insert(field.to_string(), json!(value));
    let now = scrm_store::now_ms();
    let found = s
        .of("contacts")
        .into_iter()
        .find(|o| o.props.get(field).and_then(Value::as_str) == Some(value))
        .map(|o| o.id.clone());
    match found {
        Some(id) => {
            s.touch(&id, &fields, now);
            (
                200,
                json!({"id": id, "success": true, "errors": [], "created": false}),
            )
        }
        None if !fields.get("LastName").is_some_and(Value::is_string) => (
            400,
            json!([{"message": "Required fields are missing: [LastName]",
                    "errorCode": "REQUIRED_FIELD_MISSING", "fields": ["LastName"]}]),
        ),
        None => {
            let id = s.add("contacts", fields, now);
            (
                201,
                json!({"id": id, "success": true, "errors": [], "created": true}),
            )
        }
    }
}

/// The quoted literals of a piece of SOQL, unescaped, in order.
fn literals(soql: &str) -> Vec<String> {
    let (mut out, mut cur, mut inside, mut escaped) = (Vec::new(), String::new(), false, false);
    for c in soql.chars() {
        match (inside, escaped, c) {
            (true, true, c) => {
                cur.push(match c {
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    c => c,
                });
                escaped = false;
            }
            (true, false, '\\') => escaped = true,
            (true, false, '\'') => {
                out.push(std::mem::take(&mut cur));
                inside = false;
            }
            (true, false, c) => cur.push(c),
            (false, _, '\'') => inside = true,
            _ => {}
        }
    }
    out
}

/// The seconds of the datetime literal after `op` in `clause`, e.g.
/// `LastModifiedDate >= 2026-11-25T19:20:00Z`.
fn time_after(clause: &str, op: &str) -> Option<i64> {
    let rest = clause.split(op).nth(1)?.trim_start();
    let token = rest.split([' ', ')']).next()?;
    chrono::DateTime::parse_from_rfc3339(token)
        .ok()
        .map(|t| t.timestamp())
}

/// A query's answer: the records of the three shapes the connector sends.
fn soql_answer(s: &Store, soql: &str) -> (u16, Value) {
    let (Some(select), Some(from)) = (
        soql.strip_prefix("SELECT ")
            .and_then(|r| r.split(" FROM ").next()),
        soql.split(" FROM ").nth(1),
    ) else {
        return error(400, "MALFORMED_QUERY", "unexpected token");
    };
    let sobject = from.split_whitespace().next().unwrap_or_default();
    let clause = from.split(" WHERE ").nth(1).unwrap_or_default();
    let clause = clause.split(" ORDER BY ").next().unwrap_or_default();
    let (clause, limit) = match clause.split_once(" LIMIT ") {
        Some((c, n)) => (c, n.trim().parse().unwrap_or(usize::MAX)),
        None => (clause, usize::MAX),
    };
    let fields: Vec<&str> = select.split(',').map(str::trim).collect();
    let mut found: Vec<&Object> = s.of(kind(sobject));
    let secs = |o: &Object| o.modified.div_euclid(1000);
    if clause.starts_with("Id IN (") {
        let ids = literals(clause);
        found.retain(|o| ids.contains(&o.id));
    } else if let Some((field, _)) = clause.split_once(" != null") {
        found.retain(|o| o.props.get(field.trim()).is_some_and(|v| !v.is_null()));
        let seen = clause
            .split("NOT IN")
            .nth(1)
            .map(literals)
            .unwrap_or_default();
        if let Some(t) = time_after(clause, "LastModifiedDate >= ") {
            found.retain(|o| secs(o) > t || (secs(o) == t && !seen.contains(&o.id)));
        } else if let Some(t) = time_after(clause, "LastModifiedDate > ") {
            found.retain(|o| secs(o) > t);
        }
    } else if let Some((field, value)) = clause.split_once(" = ") {
        let value = literals(value).into_iter().next().unwrap_or_default();
        found.retain(|o| o.props.get(field.trim()).and_then(Value::as_str) == Some(&value));
    } else {
        return error(400, "MALFORMED_QUERY", "unexpected token in WHERE");
    }
    found.sort_by_key(|o| (secs(o), o.id.clone()));
    let records: Vec<Value> = found
        .into_iter()
        .take(limit)
        .map(|o| row(o, sobject, &fields))
        .collect();
    (
        200,
        json!({"totalSize": records.len(), "done": true, "records": records}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_composite_request_is_all_or_none() {
        let mut s = Store::new(&Salesforce);
        let request = json!({"allOrNone": true, "compositeRequest": [
            {"method": "PATCH", "referenceId": "refContact", "body": {"LastName": "Lee"},
             "url": format!("{BASE}/sobjects/Contact/{EXTERNAL_ID}/%2B393471234567")},
            {"method": "GET", "referenceId": "refRead",
             "url": format!("{BASE}/sobjects/Contact/@{{refContact.id}}?fields=Id,{EXTERNAL_ID}")},
        ]});
        let (status, answer) = composite(&mut s, &request);
        assert_eq!(status, 200);
        let read = &answer["compositeResponse"][1];
        assert_eq!(read["httpStatusCode"], 200);
        assert_eq!(read["body"][EXTERNAL_ID], "+393471234567");
        let failing = json!({"allOrNone": true, "compositeRequest": [
            {"method": "POST", "referenceId": "refTask", "body": {"WhoId": read["body"]["Id"]},
             "url": format!("{BASE}/sobjects/Task")},
            {"method": "PATCH", "referenceId": "refGone", "body": {"LastName": "X"},
             "url": format!("{BASE}/sobjects/Contact/003000000000000AAA")},
        ]});
        let (_, answer) = composite(&mut s, &failing);
        assert_eq!(answer["compositeResponse"][1]["httpStatusCode"], 404);
        assert_eq!(
            answer["compositeResponse"][1]["body"][0]["errorCode"],
            "NOT_FOUND"
        );
        assert!(s.of("notes").is_empty(), "the Task was rolled back");
    }

    #[test]
    fn every_api_version_is_served() {
        assert_eq!(
            api_path("/services/data/v62.0/composite"),
            Some("/composite")
        );
        assert_eq!(api_path("/services/data/v59.0/query"), Some("/query"));
        assert_eq!(api_path("/services/apexrest/x"), None);
    }

    #[test]
    fn soql_literals_are_unescaped_in_order() {
        assert_eq!(
            literals(r"Id IN ('003A', 'it\'s') AND x = 'a\\b'"),
            ["003A", "it's", r"a\b"]
        );
    }

    #[test]
    fn org_ids_look_like_salesforce_ids_and_differ_by_key() {
        let a = org_id("k1");
        assert_eq!(a.len(), 18);
        assert!(a.starts_with("00D") && a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, org_id("k2"));
    }

    #[test]
    fn changed_contacts_after_a_second_skip_the_ids_seen_at_it() {
        let mut s = Store::new(&Salesforce);
        let c = |p: &str| Salesforce.contact("A", "B", p, "a@example.com");
        let a = s.add("contacts", c("+1"), 10_000);
        let b = s.add("contacts", c("+2"), 10_500);
        let later = s.add("contacts", c("+3"), 11_000);
        let q = format!(
            "SELECT Id, LastModifiedDate FROM Contact WHERE {EXTERNAL_ID} != null AND LastModifiedDate >= 1970-01-01T00:00:10Z AND (LastModifiedDate > 1970-01-01T00:00:10Z OR Id NOT IN ('{a}')) ORDER BY LastModifiedDate ASC, Id ASC"
        );
        let (_, v) = soql_answer(&s, &q);
        let ids: Vec<&str> = v["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["Id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, [b.as_str(), later.as_str()]);
    }
}
