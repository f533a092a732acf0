//! A local CRM that speaks HubSpot's CRM v3 object API, in memory, for the
//! connector checks: objects of any type (`/crm/v3/objects/{type}`) created,
//! updated (`PATCH`), read (`GET`, `batch/read`) and searched (`search`: `EQ`,
//! `GT`, `GTE`, `LT`, `LTE`, `HAS_PROPERTY`, `NOT_HAS_PROPERTY` filters, one sort,
//! `limit` and `after` paging), with HubSpot's change times
//! (`lastmodifieddate`, `hs_lastmodifieddate`), its 409 for a second contact with
//! an email, and failures on demand (the next request answers a status of the
//! check's choosing, e.g. 429 with `Retry-After`). It remembers the credentials it
//! was sent, to show the host, not the plugin, added them.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use std::sync::{Arc, Mutex};

/// One object of the CRM.
#[derive(Debug, Clone)]
pub(super) struct Object {
    pub id: String,
    pub kind: String,
    pub props: Map<String, Value>,
    pub modified: i64,
}

impl Object {
    fn json(&self) -> Value {
        let at = iso(self.modified);
        json!({"id": self.id, "properties": self.props, "createdAt": at, "updatedAt": at, "archived": false})
    }
}

/// The CRM's state, shared with the checks.
#[derive(Debug, Default)]
pub(super) struct Crm {
    pub objects: Vec<Object>,
    next_id: u64,
    /// What the next request answers instead: status and headers.
    pub fail_next: Option<(u16, Vec<(&'static str, String)>)>,
    /// The `authorization` headers requests came with.
    pub auth: Vec<String>,
    /// Requests served, `METHOD /path`.
    pub requests: Vec<String>,
}

impl Crm {
    /// Adds an object of `kind` changed at `modified`; its id.
    pub fn add(&mut self, kind: &str, mut props: Map<String, Value>, modified: i64) -> String {
        self.next_id += 1;
        let id = (1000 + self.next_id).to_string();
        stamp(&mut props, modified);
        props.insert("hs_object_id".into(), json!(id));
        self.objects.push(Object {
            id: id.clone(),
            kind: kind.into(),
            props,
            modified,
        });
        id
    }

    /// Marks object `id` changed at `modified`, with `props` set.
    pub fn touch(&mut self, id: &str, props: &Map<String, Value>, modified: i64) {
        if let Some(o) = self.objects.iter_mut().find(|o| o.id == id) {
            o.props.extend(props.clone());
            o.modified = modified;
            stamp(&mut o.props, modified);
        }
    }

    /// The objects of `kind`.
    pub fn of(&self, kind: &str) -> Vec<&Object> {
        self.objects.iter().filter(|o| o.kind == kind).collect()
    }
}

fn stamp(props: &mut Map<String, Value>, at: i64) {
    for key in ["lastmodifieddate", "hs_lastmodifieddate"] {
        props.insert(key.into(), json!(iso(at)));
    }
}

/// Unix ms as HubSpot writes times: `2025-06-08T20:59:43.000Z`.
pub(super) fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

type Shared = Arc<Mutex<Crm>>;

/// The CRM's routes over `crm`.
pub(super) fn router(crm: Shared) -> Router {
    use axum::routing::{any, post};
    Router::new()
        .route("/crm/v3/objects/{kind}", post(create))
        .route("/crm/v3/objects/{kind}/search", post(search))
        .route("/crm/v3/objects/{kind}/batch/read", post(batch_read))
        .route("/crm/v3/objects/{kind}/{id}", any(one))
        .with_state(crm)
}

/// Notes the request; the failure it must answer, if one is due.
fn arrive(crm: &Shared, method: &str, path: String, headers: &HeaderMap) -> Option<Response> {
    let mut c = crm.lock().unwrap_or_else(|p| p.into_inner());
    c.requests.push(format!("{method} {path}"));
    if let Some(auth) = headers.get("authorization").and_then(|v| v.to_str().ok()) {
        c.auth.push(auth.to_string());
    }
    let (status, extra) = c.fail_next.take()?;
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = (
        status,
        axum::Json(
            json!({"status": "error", "message": "failure on purpose", "category": "CONFORMANCE"}),
        ),
    )
        .into_response();
    for (name, value) in extra {
        if let Ok(v) = value.parse() {
            resp.headers_mut().insert(name, v);
        }
    }
    Some(resp)
}

async fn create(
    State(crm): State<Shared>,
    Path(kind): Path<String>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    if let Some(r) = arrive(&crm, "POST", format!("/{kind}"), &headers) {
        return r;
    }
    let mut c = crm.lock().unwrap_or_else(|p| p.into_inner());
    let props = body["properties"].as_object().cloned().unwrap_or_default();
    let email = props
        .get("email")
        .and_then(Value::as_str)
        .filter(|e| !e.is_empty());
    if kind == "contacts"
        && let Some(e) = email
        && let Some(o) = c
            .of("contacts")
            .into_iter()
            .find(|o| o.props.get("email").and_then(Value::as_str) == Some(e))
    {
        let message = format!("Contact already exists. Existing ID: {}", o.id);
        return (
            StatusCode::CONFLICT,
            axum::Json(json!({"status": "error", "message": message, "category": "CONFLICT"})),
        )
            .into_response();
    }
    let id = c.add(&kind, props, scrm_store::now_ms());
    let o = c.objects.iter().find(|o| o.id == id).map(Object::json);
    (StatusCode::CREATED, axum::Json(o.unwrap_or_default())).into_response()
}

async fn one(
    State(crm): State<Shared>,
    Path((kind, id)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Some(r) = arrive(&crm, method.as_str(), format!("/{kind}/{id}"), &headers) {
        return r;
    }
    let mut c = crm.lock().unwrap_or_else(|p| p.into_inner());
    if !c.objects.iter().any(|o| o.id == id && o.kind == kind) {
        let message = format!("resource not found: {kind} {id}");
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"status": "error", "message": message})),
        )
            .into_response();
    }
    if method == Method::PATCH {
        let body: Value = serde_json::from_slice(&body).unwrap_or_default();
        let props = body["properties"].as_object().cloned().unwrap_or_default();
        c.touch(&id, &props, scrm_store::now_ms());
    } else if method != Method::GET {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let o = c.objects.iter().find(|o| o.id == id).map(Object::json);
    axum::Json(o.unwrap_or_default()).into_response()
}

async fn batch_read(
    State(crm): State<Shared>,
    Path(kind): Path<String>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    if let Some(r) = arrive(&crm, "POST", format!("/{kind}/batch/read"), &headers) {
        return r;
    }
    let c = crm.lock().unwrap_or_else(|p| p.into_inner());
    let ids: Vec<&str> = body["inputs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["id"].as_str())
        .collect();
    let results: Vec<Value> = c
        .of(&kind)
        .into_iter()
        .filter(|o| ids.contains(&o.id.as_str()))
        .map(Object::json)
        .collect();
    axum::Json(json!({"status": "COMPLETE", "results": results})).into_response()
}

async fn search(
    State(crm): State<Shared>,
    Path(kind): Path<String>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    if let Some(r) = arrive(&crm, "POST", format!("/{kind}/search"), &headers) {
        return r;
    }
    let c = crm.lock().unwrap_or_else(|p| p.into_inner());
    let groups = body["filterGroups"].as_array().cloned().unwrap_or_default();
    let mut found: Vec<&Object> = c
        .of(&kind)
        .into_iter()
        .filter(|o| {
            groups.is_empty()
                || groups.iter().any(|g| {
                    g["filters"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .all(|f| passes(o, f))
                })
        })
        .collect();
    if let Some(sort) = body["sorts"].get(0) {
        let prop = sort["propertyName"].as_str().unwrap_or("");
        found.sort_by_key(|o| (number(o.props.get(prop)), o.id.parse::<u64>().unwrap_or(0)));
        if sort["direction"] == "DESCENDING" {
            found.reverse();
        }
    }
    let after: usize = body["after"]
        .as_str()
        .and_then(|a| a.parse().ok())
        .unwrap_or(0);
    let limit = body["limit"].as_u64().unwrap_or(10).clamp(1, 200) as usize;
    let total = found.len();
    let page: Vec<Value> = found
        .iter()
        .skip(after)
        .take(limit)
        .map(|o| o.json())
        .collect();
    let mut answer = json!({"total": total, "results": page});
    if after + limit < total {
        answer["paging"] = json!({"next": {"after": (after + limit).to_string()}});
    }
    axum::Json(answer).into_response()
}

/// Whether object `o` passes one search filter.
fn passes(o: &Object, f: &Value) -> bool {
    let prop = f["propertyName"].as_str().unwrap_or("");
    let have = o
        .props
        .get(prop)
        .filter(|v| !v.is_null() && v.as_str() != Some(""));
    let want = &f["value"];
    match f["operator"].as_str().unwrap_or("") {
        "HAS_PROPERTY" => have.is_some(),
        "NOT_HAS_PROPERTY" => have.is_none(),
        "EQ" => have.is_some_and(|h| text(h) == text(want)),
        "NEQ" => have.is_none_or(|h| text(h) != text(want)),
        op => {
            let (Some(h), Some(w)) = (number(have), number(Some(want))) else {
                return false;
            };
            match op {
                "GT" => h > w,
                "GTE" => h >= w,
                "LT" => h < w,
                "LTE" => h <= w,
                _ => false,
            }
        }
    }
}

fn text(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
}

/// A property as a number: digits, or a time as Unix ms.
fn number(v: Option<&Value>) -> Option<i64> {
    let s = text(v?);
    s.parse::<i64>().ok().or_else(|| {
        chrono::DateTime::parse_from_rfc3339(&s)
            .ok()
            .map(|t| t.timestamp_millis())
    })
}
