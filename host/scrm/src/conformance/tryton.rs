//! A local CRM that speaks Tryton's REST API (8.x, `party` module), in memory, for
//! the connector checks: exactly what the reference connector
//! (`plugins/tryton-connector`) uses, on database `scrm`.
//!
//! | request | answer |
//! |---|---|
//! | `GET /scrm/rest/model/{model}?d=…&o=…&s=…&f=…` | the records matching the domain `d`, ordered by `o`, at most `s`, with the fields `f` |
//! | `GET /scrm/rest/model/{model}/{id}?f=…` | the record; 404 when there is none |
//! | `POST /scrm/rest/model/{model}?f=…` `{values}` | the created record |
//! | `PUT /scrm/rest/model/{model}/{id}?f=…` `{values}` | the written record |
//!
//! Models are `party.party` (with its phone as a `contact_mechanisms` line; a
//! `["create", [{"type","value"}]]` value adds one) and `ir.note`. Domains and
//! orders travel base64url-encoded JSON; domains are lists of `[field, operator,
//! value]` (`=`, `!=`, `>`, `<`, `in`, `like`, `ilike`), all of which must hold.
//! Datetimes are `{"__class__": "datetime", …}` in UTC; `write_date` is null
//! until a record is written. Errors are the HTTP statuses and HTML pages
//! Werkzeug answers for trytond (the REST API has no error body of its own);
//! Tryton sends no webhooks.

use super::local::{self, Delivery, Flavour, LocalCrm, Object, Shared, Store, arrive, lock};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Map, Value, json};
use std::cmp::Ordering;

/// The database the connector is pointed at.
const DB: &str = "scrm";

/// The Tryton flavour.
#[derive(Debug)]
pub(super) struct Tryton;

impl LocalCrm for Tryton {
    fn flavour(&self) -> Flavour {
        Flavour::Tryton
    }

    fn router(&self, store: Shared) -> Router {
        Router::new().fallback(handle).with_state(store)
    }

    fn config(&self, url: &str, _webhook_key: &str) -> Vec<(&'static str, Value)> {
        vec![("url", json!(url)), ("db", json!(DB))]
    }

    fn auth_prefix(&self) -> &'static str {
        "Bearer "
    }

    fn id(&self, _kind: &str, n: u64) -> String {
        n.to_string()
    }

    fn contact(&self, first: &str, last: &str, phone: &str, _email: &str) -> Map<String, Value> {
        let p = json!({"name": format!("{first} {last}"), "phone": phone, "phone_type": "mobile"});
        p.as_object().cloned().unwrap_or_default()
    }

    fn change(&self, now: i64) -> (Map<String, Value>, i64) {
        let p = json!({"name": "Seed Changed"});
        (p.as_object().cloned().unwrap_or_default(), now)
    }

    fn webhook(&self, _url: &str, _contact: &Object, _key: &str) -> Option<Delivery> {
        None
    }

    fn failure(&self, status: u16) -> Response {
        let (title, text) = match status {
            401 => (
                "Unauthorized",
                "The server could not verify that you are authorized to access the URL requested. You either supplied the wrong credentials (e.g. a bad password), or your browser doesn't understand how to supply the credentials required.",
            ),
            403 => (
                "Forbidden",
                "You don't have the permission to access the requested resource. It is either read-protected or not readable by the server.",
            ),
            400 => (
                "Bad Request",
                "The browser (or proxy) sent a request that this server could not understand.",
            ),
            429 => (
                "Too Many Requests",
                "This user has exceeded an allotted request count. Try again later.",
            ),
            _ => (
                "Service Unavailable",
                "The server is temporarily unable to service your request due to maintenance downtime or capacity problems. Please try again later.",
            ),
        };
        page(status, title, text)
    }
}

/// Unix ms as a Tryton datetime.
fn datetime(ms: i64) -> Value {
    let Some(t) = chrono::DateTime::from_timestamp_millis(ms) else {
        return Value::Null;
    };
    use chrono::{Datelike as _, Timelike as _};
    json!({"__class__": "datetime", "year": t.year(), "month": t.month(), "day": t.day(),
           "hour": t.hour(), "minute": t.minute(), "second": t.second(),
           "microsecond": t.timestamp_subsec_micros()})
}

/// A Tryton datetime as Unix ms.
fn datetime_ms(v: &Value) -> Option<i64> {
    let n = |k: &str| v[k].as_u64().and_then(|x| u32::try_from(x).ok());
    let date = chrono::NaiveDate::from_ymd_opt(
        i32::try_from(v["year"].as_i64()?).ok()?,
        n("month")?,
        n("day")?,
    )?;
    let time = chrono::NaiveTime::from_hms_micro_opt(
        n("hour")?,
        n("minute")?,
        n("second")?,
        n("microsecond")?,
    )?;
    Some(date.and_time(time).and_utc().timestamp_millis())
}

/// The store's kind of a model.
fn kind(model: &str) -> Option<&'static str> {
    match model {
        "party.party" => Some("contacts"),
        "ir.note" => Some("notes"),
        _ => None,
    }
}

/// Field `name` of `o` as Tryton answers it.
fn field(o: &Object, name: &str) -> Value {
    match name {
        "id" => json!(o.id.parse::<i64>().unwrap_or(0)),
        "create_date" => datetime(o.created),
        "write_date" if o.written => datetime(o.modified),
        "write_date" => Value::Null,
        "contact_mechanisms" => match o.props.get("phone").and_then(Value::as_str) {
            Some(p) => json!([{"id": o.id.parse::<i64>().unwrap_or(0), "value": p,
                               "value_compact": p, "type": o.props.get("phone_type")}]),
            None => json!([]),
        },
        other => o.props.get(other).cloned().unwrap_or(Value::Null),
    }
}

/// `o` with `fields` (dotted ones by their first part) and its id.
fn record(o: &Object, fields: &[String]) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), field(o, "id"));
    for f in fields {
        let name = f.split('.').next().unwrap_or(f);
        out.insert(name.to_string(), field(o, name));
    }
    Value::Object(out)
}

/// Whether `text` matches SQL `pattern` (`%` any run, `_` any character).
fn like(text: &str, pattern: &str) -> bool {
    let (t, p): (Vec<char>, Vec<char>) = (text.chars().collect(), pattern.chars().collect());
    let mut dp = vec![vec![false; p.len() + 1]; t.len() + 1];
    dp[0][0] = true;
    for j in 1..=p.len() {
        dp[0][j] = p[j - 1] == '%' && dp[0][j - 1];
    }
    for i in 1..=t.len() {
        for j in 1..=p.len() {
            dp[i][j] = match p[j - 1] {
                '%' => dp[i][j - 1] || dp[i - 1][j],
                '_' => dp[i - 1][j - 1],
                c => c == t[i - 1] && dp[i - 1][j - 1],
            };
        }
    }
    dp[t.len()][p.len()]
}

/// A value to compare: datetimes as ms, else itself.
fn comparable(v: &Value) -> Value {
    datetime_ms(v).map_or_else(|| v.clone(), |ms| json!(ms))
}

fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (comparable(a), comparable(b)) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(&y)),
        _ => None,
    }
}

/// Whether `o` holds condition `[field, operator, value]`.
fn holds(o: &Object, condition: &Value) -> bool {
    let (Some(name), Some(op)) = (condition[0].as_str(), condition[1].as_str()) else {
        return false;
    };
    let want = &condition[2];
    let have = match name {
        "contact_mechanisms.value_compact" => o.props.get("phone").cloned().unwrap_or(Value::Null),
        _ => field(o, name),
    };
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    match op {
        "=" => comparable(&have) == comparable(want),
        "!=" => comparable(&have) != comparable(want),
        ">" => compare(&have, want) == Some(Ordering::Greater),
        "<" => compare(&have, want) == Some(Ordering::Less),
        "in" => want.as_array().is_some_and(|a| a.contains(&have)),
        "like" => like(&text(&have), &text(want)),
        "ilike" => like(&text(&have).to_lowercase(), &text(want).to_lowercase()),
        _ => false,
    }
}

/// A base64url JSON parameter.
fn param(raw: Option<&str>) -> Value {
    let raw = raw.unwrap_or_default();
    let engine = &base64::engine::general_purpose::URL_SAFE;
    engine
        .decode(raw)
        .or_else(|_| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(raw.trim_end_matches('='))
        })
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null)
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
    let q = local::query(&uri);
    let fields: Vec<String> = q
        .iter()
        .filter(|(k, _)| k == "f")
        .map(|(_, v)| v.clone())
        .collect();
    let values = serde_json::from_slice::<Value>(&body).unwrap_or_default();
    let mut s = lock(&store);
    let rest = path
        .strip_prefix(&format!("/{DB}/rest/model/"))
        .unwrap_or_default();
    let (model, id) = match rest.split_once('/') {
        Some((m, id)) => (m, Some(id)),
        None => (rest, None),
    };
    let Some(kind) = kind(model) else {
        return not_found();
    };
    match (&method, id) {
        (&Method::GET, None) => search(&s, kind, &q, &fields),
        (&Method::GET, Some(id)) => match s.get(kind, id) {
            Some(o) => axum::Json(record(o, &fields)).into_response(),
            None => not_found(),
        },
        (&Method::POST, None) => {
            let id = s.add(kind, props(&values), scrm_store::now_ms());
            one(&s, kind, &id, &fields)
        }
        (&Method::PUT, Some(id)) if s.touch(id, &props(&values), scrm_store::now_ms()) => {
            one(&s, kind, id, &fields)
        }
        _ => not_found(),
    }
}

fn not_found() -> Response {
    page(
        404,
        "Not Found",
        "The requested URL was not found on the server.",
    )
}

/// Werkzeug's error page for `status`.
fn page(status: u16, title: &str, text: &str) -> Response {
    let body = format!(
        "<!doctype html>\n<html lang=en>\n<title>{status} {title}</title>\n<h1>{title}</h1>\n<p>{text}</p>\n"
    );
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    (status, [("content-type", "text/html; charset=utf-8")], body).into_response()
}

/// Record `id` of `kind` with `fields`.
fn one(s: &Store, kind: &str, id: &str, fields: &[String]) -> Response {
    match s.get(kind, id) {
        Some(o) => axum::Json(record(o, fields)).into_response(),
        None => not_found(),
    }
}

/// The values of a create or write as the store keeps them: a phone line
/// created through `contact_mechanisms` becomes `phone`.
fn props(values: &Value) -> Map<String, Value> {
    let mut props = values.as_object().cloned().unwrap_or_default();
    if let Some(actions) = props.remove("contact_mechanisms") {
        for action in actions.as_array().into_iter().flatten() {
            if action[0] == "create"
                && let Some(line) = action[1].get(0)
            {
                props.insert("phone".into(), line["value"].clone());
                props.insert("phone_type".into(), line["type"].clone());
            }
        }
    }
    props
}

/// `GET {model}?d&o&s&f`: the records matching the domain, ordered, at most `s`.
fn search(s: &Store, kind: &str, q: &[(String, String)], fields: &[String]) -> Response {
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let domain = param(get("d"));
    let order = param(get("o"));
    let limit: usize = get("s").and_then(|n| n.parse().ok()).unwrap_or(usize::MAX);
    let mut found: Vec<&Object> = s
        .of(kind)
        .into_iter()
        .filter(|o| domain.as_array().into_iter().flatten().all(|c| holds(o, c)))
        .collect();
    let keys: Vec<(String, bool)> = order
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|k| Some((k[0].as_str()?.to_string(), k[1] == "DESC")))
        .collect();
    found.sort_by(|a, b| {
        keys.iter()
            .map(|(k, desc)| {
                let o = compare(&field(a, k), &field(b, k)).unwrap_or(Ordering::Equal);
                if *desc { o.reverse() } else { o }
            })
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    });
    let rows: Vec<Value> = found
        .into_iter()
        .take(limit)
        .map(|o| record(o, fields))
        .collect();
    axum::Json(Value::Array(rows)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(v: &Value) -> String {
        base64::engine::general_purpose::URL_SAFE.encode(v.to_string())
    }

    #[test]
    fn a_search_filters_orders_and_limits_with_the_fields_asked_for() {
        let mut s = Store::new(&Tryton);
        for (i, phone) in ["+1", "+2", "+3"].iter().enumerate() {
            s.add(
                "contacts",
                Tryton.contact("A", "B", phone, ""),
                1_000 - i as i64,
            );
        }
        let q = vec![
            (
                "d".to_string(),
                encoded(&json!([["write_date", "=", null]])),
            ),
            (
                "o".to_string(),
                encoded(&json!([["create_date", "ASC"], ["id", "ASC"]])),
            ),
            ("s".to_string(), "2".to_string()),
        ];
        let fields = [
            "name".to_string(),
            "contact_mechanisms.value_compact".to_string(),
        ];
        let resp = search(&s, "contacts", &q, &fields);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let bytes = rt
            .block_on(axum::body::to_bytes(resp.into_body(), usize::MAX))
            .unwrap();
        let rows: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(rows[0]["id"], 3);
        assert_eq!(rows[1]["id"], 2);
        assert_eq!(rows.as_array().unwrap().len(), 2);
        assert_eq!(rows[0]["contact_mechanisms"][0]["value_compact"], "+3");
    }

    #[test]
    fn like_patterns_match_as_sql_does() {
        assert!(like(
            "Is it in stock?\n(conformance:note:1)",
            "%(conformance:note:1)"
        ));
        assert!(!like("(conformance:note:1) later", "%(conformance:note:1)"));
        assert!(like("party.party,12", "party.party,%"));
        assert!(like("/wa hello", "/wa%"));
        assert!(like("ab", "a_"));
    }

    #[test]
    fn datetimes_round_trip_and_compare_in_domains() {
        let ms = 1_764_000_000_123;
        assert_eq!(datetime_ms(&datetime(ms)), Some(ms));
        let mut s = Store::new(&Tryton);
        let id = s.add("contacts", Tryton.contact("A", "B", "+1", ""), ms);
        let o = s.get("contacts", &id).unwrap();
        assert!(holds(o, &json!(["create_date", ">", datetime(ms - 1)])));
        assert!(!holds(o, &json!(["create_date", ">", datetime(ms)])));
        assert!(holds(o, &json!(["write_date", "=", null])));
        assert!(holds(
            o,
            &json!(["contact_mechanisms.value_compact", "=", "+1"])
        ));
    }
}
