//! A local CRM that speaks Zoho CRM's REST API v8, in memory, for the connector
//! checks: exactly what the reference connector (`plugins/zoho-connector`) uses.
//!
//! | request | answer |
//! |---|---|
//! | `POST /crm/v8/Contacts/upsert` `{"data":[…],"duplicate_check_fields":[…]}` | 201 inserted / 200 updated, `{"data":[{"code":"SUCCESS","action","details":{"id","Modified_Time",…},…}]}`; no `Last_Name` on insert: 400 `MANDATORY_NOT_FOUND` |
//! | `PUT /crm/v8/Contacts/{id}` | 200 `"record updated"`; an unknown id: 400 `INVALID_DATA` "the id given seems to be invalid" |
//! | `GET /crm/v8/Contacts?fields=…[&ids=…][&sort_by=Modified_Time&page&per_page]` (+ `If-Modified-Since`) | 200 `{"data":[…],"info":{…,"more_records"}}`; 204 when there are none; 304 when none changed since |
//! | `GET /crm/v8/Contacts/{id}/Notes` | the contact's notes |
//! | `POST /crm/v8/Notes` `{"data":[{"Note_Content","Parent_Id":{"id"}}]}` | 201 `"record added"` |
//!
//! Times have whole seconds in the org's offset (+05:30) and every answer a
//! `Date` (Zoho's clock, which the connector's cursor trusts). Errors are Zoho's
//! `{"code","details","message","status":"error"}`, at the top level or per record.
//! Notifications are the body Zoho posts to a channel's `notify_url`, checked by
//! the channel's `token`.

use super::local::{self, Delivery, Flavour, LocalCrm, Object, Shared, Store, arrive, lock};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// The org's UTC offset, seconds (India: Zoho's own examples).
const OFFSET_SECS: i32 = 19_800;

/// The Zoho flavour.
#[derive(Debug)]
pub(super) struct Zoho;

impl LocalCrm for Zoho {
    fn flavour(&self) -> Flavour {
        Flavour::Zoho
    }

    fn router(&self, store: Shared) -> Router {
        Router::new().fallback(handle).with_state(store)
    }

    fn config(&self, url: &str, webhook_key: &str) -> Vec<(&'static str, Value)> {
        vec![
            ("api_domain", json!(url)),
            ("notification_token", json!(webhook_key)),
        ]
    }

    fn auth_prefix(&self) -> &'static str {
        "Zoho-oauthtoken "
    }

    fn id(&self, _kind: &str, n: u64) -> String {
        format!("5725767000000{n:06}")
    }

    fn contact(&self, first: &str, last: &str, phone: &str, email: &str) -> Map<String, Value> {
        let p = json!({"First_Name": first, "Last_Name": last, "Mobile": phone, "Email": email});
        p.as_object().cloned().unwrap_or_default()
    }

    fn change(&self, now: i64) -> (Map<String, Value>, i64) {
        let p = json!({"Last_Name": "Changed"});
        (p.as_object().cloned().unwrap_or_default(), now)
    }

    fn webhook(&self, _url: &str, contact: &Object, key: &str) -> Option<Delivery> {
        let body = json!({
            "server_time": scrm_store::now_ms(), "query_params": {}, "module": "Contacts",
            "resource_uri": "https://www.zohoapis.com/crm/v8/Contacts", "ids": [contact.id],
            "affected_fields": [{"Contacts": ["Mobile"]}], "operation": "update",
            "channel_id": "1000000068001", "token": key,
        });
        let headers = vec![("content-type".to_string(), "application/json".to_string())];
        Some((headers, body.to_string().into_bytes()))
    }

    fn failure(&self, status: u16) -> Response {
        let (code, message, details) = match status {
            401 => ("INVALID_TOKEN", "invalid oauth token", json!({})),
            403 => (
                "NO_PERMISSION",
                "permission denied",
                json!({"permissions": ["Crm_Implied_Create_Contacts"]}),
            ),
            400 => {
                let item = error_item(
                    "INVALID_DATA",
                    "invalid data",
                    json!({"api_name": "Mobile", "json_path": "$.data[0].Mobile"}),
                );
                return local::json(400, json!({"data": [item]}));
            }
            429 => (
                "TOO_MANY_REQUESTS",
                "Rate limit exceeded. Please retry after the specified time.",
                json!({"limit": 100, "window": 60}),
            ),
            _ => ("INTERNAL_ERROR", "Internal Server Error", json!({})),
        };
        local::json(status, error_item(code, message, details))
    }
}

fn error_item(code: &str, message: &str, details: Value) -> Value {
    json!({"code": code, "details": details, "message": message, "status": "error"})
}

/// Unix ms as Zoho writes datetimes: whole seconds in the org's offset.
fn datetime(ms: i64) -> String {
    let offset = chrono::FixedOffset::east_opt(OFFSET_SECS).expect("a valid offset");
    chrono::DateTime::from_timestamp(ms.div_euclid(1000), 0)
        .map(|t| {
            t.with_timezone(&offset)
                .format("%Y-%m-%dT%H:%M:%S%:z")
                .to_string()
        })
        .unwrap_or_default()
}

/// A write's success item.
fn success(message: &str, o: &Object) -> Value {
    let user = json!({"name": "Patricia Boyle", "id": "5725767000000411001"});
    json!({"code": "SUCCESS", "message": message, "status": "success",
           "details": {"Modified_Time": datetime(o.modified), "Modified_By": user,
                       "Created_Time": datetime(o.created), "id": o.id, "Created_By": user}})
}

/// Contact `o` with the `fields` asked for (and its id).
fn contact_json(o: &Object, fields: &[&str]) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), json!(o.id));
    for f in fields {
        let v = match *f {
            "Modified_Time" => json!(datetime(o.modified)),
            "Created_Time" => json!(datetime(o.created)),
            "Full_Name" => {
                let part = |k: &str| o.props.get(k).and_then(Value::as_str).unwrap_or("");
                json!(format!("{} {}", part("First_Name"), part("Last_Name")).trim())
            }
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
    let q = local::query(&uri);
    let mut s = lock(&store);
    // Any API version (`api_version` in the connector's config) is served.
    let api = path.strip_prefix("/crm/").and_then(|p| p.split_once('/'));
    let segments: Vec<&str> = api.map_or("", |(_, rest)| rest).split('/').collect();
    let mut resp = match (&method, segments.as_slice()) {
        (&Method::POST, ["Contacts", "upsert"]) => upsert(&mut s, &body),
        (&Method::PUT, ["Contacts", id]) => update(&mut s, id, &body),
        (&Method::GET, ["Contacts"]) => list(&s, &q, &headers),
        (&Method::GET, ["Contacts", id, "Notes"]) => notes_of(&s, id),
        (&Method::POST, ["Notes"]) => add_note(&mut s, &body),
        _ => local::json(
            404,
            error_item(
                "INVALID_URL_PATTERN",
                "Please check if the URL trying to access is a correct one",
                json!({}),
            ),
        ),
    };
    let date = chrono::Utc::now()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    if let Ok(v) = date.parse() {
        resp.headers_mut().insert("date", v);
    }
    resp
}

fn upsert(s: &mut Store, body: &Value) -> Response {
    let data = body["data"][0].as_object().cloned().unwrap_or_default();
    let key = body["duplicate_check_fields"][0]
        .as_str()
        .unwrap_or("Mobile");
    let now = scrm_store::now_ms();
    let wanted = data.get(key).and_then(Value::as_str);
    let existing = s
        .of("contacts")
        .into_iter()
        .find(|o| wanted.is_some() && o.props.get(key).and_then(Value::as_str) == wanted)
        .map(|o| o.id.clone());
    let (status, message, action, id) = match existing {
        Some(id) => {
            s.touch(&id, &data, now);
            (200, "record updated", "update", id)
        }
        None if !data.get("Last_Name").is_some_and(Value::is_string) => {
            let item = error_item(
                "MANDATORY_NOT_FOUND",
                "required field not found",
                json!({"api_name": "Last_Name", "json_path": "$.data[0].Last_Name"}),
            );
            return local::json(400, json!({"data": [item]}));
        }
        None => (201, "record added", "insert", s.add("contacts", data, now)),
    };
    let Some(o) = s.get("contacts", &id) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let mut item = success(message, o);
    item["action"] = json!(action);
    item["duplicate_field"] = if action == "update" {
        json!(key)
    } else {
        Value::Null
    };
    local::json(status, json!({"data": [item]}))
}

fn update(s: &mut Store, id: &str, body: &Value) -> Response {
    let data = body["data"][0].as_object().cloned().unwrap_or_default();
    if s.get("contacts", id).is_none() || !s.touch(id, &data, scrm_store::now_ms()) {
        let item = error_item(
            "INVALID_DATA",
            "the id given seems to be invalid",
            json!({"id": id}),
        );
        return local::json(400, json!({"data": [item]}));
    }
    let item = s.get("contacts", id).map(|o| success("record updated", o));
    local::json(200, json!({"data": [item]}))
}

/// Seconds of an `If-Modified-Since` (ISO 8601 with an offset).
fn since(headers: &HeaderMap) -> Option<i64> {
    let raw = headers.get("if-modified-since")?.to_str().ok()?;
    chrono::DateTime::parse_from_rfc3339(raw.trim())
        .ok()
        .map(|t| t.timestamp())
}

fn list(s: &Store, q: &[(String, String)], headers: &HeaderMap) -> Response {
    let param = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let fields: Vec<&str> = param("fields").unwrap_or("").split(',').collect();
    let ids: Option<Vec<&str>> = param("ids").map(|i| i.split(',').collect());
    let since = since(headers);
    let mut found: Vec<&Object> = s
        .of("contacts")
        .into_iter()
        .filter(|o| ids.as_ref().is_none_or(|ids| ids.contains(&o.id.as_str())))
        .filter(|o| since.is_none_or(|t| o.modified.div_euclid(1000) > t))
        .collect();
    if param("sort_by") == Some("Modified_Time") {
        found.sort_by_key(|o| (o.modified.div_euclid(1000), o.id.clone()));
        if param("sort_order") == Some("desc") {
            found.reverse();
        }
    }
    let per_page: usize = param("per_page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(200);
    let page: usize = param("page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1)
        .max(1);
    let rows: Vec<Value> = found
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|o| contact_json(o, &fields))
        .collect();
    if rows.is_empty() {
        let status = if since.is_some() { 304 } else { 204 };
        return StatusCode::from_u16(status)
            .unwrap_or(StatusCode::NO_CONTENT)
            .into_response();
    }
    let more = found.len() > page * per_page;
    let info = json!({"per_page": per_page, "count": rows.len(), "page": page,
                      "sort_by": param("sort_by").unwrap_or("id"),
                      "sort_order": param("sort_order").unwrap_or("desc"), "more_records": more});
    local::json(200, json!({"data": rows, "info": info}))
}

fn notes_of(s: &Store, id: &str) -> Response {
    let notes: Vec<Value> = s
        .of("notes")
        .into_iter()
        .filter(|n| n.props.get("Parent_Id").and_then(Value::as_str) == Some(id))
        .map(|n| json!({"id": n.id, "Note_Content": n.props.get("Note_Content")}))
        .collect();
    if notes.is_empty() {
        return StatusCode::NO_CONTENT.into_response();
    }
    let info = json!({"per_page": 200, "count": notes.len(), "page": 1, "more_records": false});
    local::json(200, json!({"data": notes, "info": info}))
}

fn add_note(s: &mut Store, body: &Value) -> Response {
    let data = &body["data"][0];
    let parent = data["Parent_Id"]["id"].as_str().unwrap_or_default();
    if s.get("contacts", parent).is_none() {
        let details = json!({"api_name": "Parent_Id", "json_path": "$.data[0].Parent_Id"});
        let item = error_item("INVALID_DATA", "invalid data", details);
        return local::json(400, json!({"data": [item]}));
    }
    let mut props = Map::new();
    for k in ["Note_Title", "Note_Content"] {
        props.insert(k.into(), data[k].clone());
    }
    props.insert("Parent_Id".into(), json!(parent));
    let id = s.add("notes", props, scrm_store::now_ms());
    let item = s.get("notes", &id).map(|o| success("record added", o));
    local::json(201, json!({"data": [item]}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(resp: Response) -> Value {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let bytes = rt
            .block_on(axum::body::to_bytes(resp.into_body(), usize::MAX))
            .unwrap();
        serde_json::from_slice(&bytes).unwrap_or_default()
    }

    #[test]
    fn an_upsert_updates_the_contact_with_that_mobile_and_inserts_only_with_a_last_name() {
        let mut s = Store::new(&Zoho);
        let known = s.add("contacts", Zoho.contact("A", "Lee", "+1", ""), 1_000);
        let update = json!({"data": [{"Mobile": "+1", "First_Name": "B"}],
                            "duplicate_check_fields": ["Mobile"]});
        let r = body(upsert(&mut s, &update));
        assert_eq!(r["data"][0]["action"], "update");
        assert_eq!(r["data"][0]["details"]["id"], json!(known));
        let nameless = json!({"data": [{"Mobile": "+2"}], "duplicate_check_fields": ["Mobile"]});
        let r = upsert(&mut s, &nameless);
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(body(r)["data"][0]["code"], "MANDATORY_NOT_FOUND");
        assert_eq!(s.of("contacts").len(), 1);
    }

    #[test]
    fn a_list_since_a_second_holds_only_later_changes_and_none_is_304() {
        let mut s = Store::new(&Zoho);
        s.add("contacts", Zoho.contact("A", "Old", "+1", ""), 10_000);
        let new = s.add("contacts", Zoho.contact("B", "New", "+2", ""), 11_500);
        let mut headers = HeaderMap::new();
        let since = |ims: &str, headers: &mut HeaderMap| {
            headers.insert("if-modified-since", ims.parse().unwrap());
        };
        since("1970-01-01T05:30:10+05:30", &mut headers);
        let q = vec![("fields".to_string(), "Last_Name,Modified_Time".to_string())];
        let r = body(list(&s, &q, &headers));
        assert_eq!(r["data"].as_array().unwrap().len(), 1);
        assert_eq!(r["data"][0]["id"], json!(new));
        assert_eq!(r["data"][0]["Modified_Time"], "1970-01-01T05:30:11+05:30");
        since("1970-01-01T00:00:11Z", &mut headers);
        assert_eq!(list(&s, &q, &headers).status(), StatusCode::NOT_MODIFIED);
    }

    #[test]
    fn datetimes_have_whole_seconds_and_the_orgs_offset() {
        assert_eq!(datetime(1_602_651_703_999), "2020-10-14T10:31:43+05:30");
    }
}
