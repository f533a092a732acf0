//! A local CRM that speaks HubSpot's CRM v3 object API, in memory, for the
//! connector checks: objects of any type (`/crm/v3/objects/{type}`) created,
//! updated (`PATCH`), read (`GET`, `batch/read`) and searched (`search`: `EQ`,
//! `GT`, `GTE`, `LT`, `LTE`, `HAS_PROPERTY`, `NOT_HAS_PROPERTY` filters, one sort,
//! `limit` and `after` paging), with HubSpot's change times
//! (`lastmodifieddate`, `hs_lastmodifieddate`), its 409 for a second contact with
//! an email, its `{"status":"error","message","category"}` error bodies, and
//! v3-signed webhooks (`X-HubSpot-Signature-v3`).

use super::local::{self, Delivery, Flavour, LocalCrm, Object, Shared, arrive, lock};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use hmac::Mac as _;
use serde_json::{Map, Value, json};

/// The HubSpot flavour.
#[derive(Debug)]
pub(super) struct Hubspot;

impl LocalCrm for Hubspot {
    fn flavour(&self) -> Flavour {
        Flavour::Hubspot
    }

    fn router(&self, store: Shared) -> Router {
        router(store)
    }

    fn config(&self, url: &str, _webhook_key: &str) -> Vec<(&'static str, Value)> {
        // The reference connector reads the webhook key from a tenant secret: the
        // config names the secret, not the key.
        vec![
            ("base_url", json!(url)),
            ("webhook_url", json!(format!("{url}/webhook"))),
            ("webhook_secret", json!(super::connector::WEBHOOK_SECRET)),
        ]
    }

    fn auth_prefix(&self) -> &'static str {
        "Bearer "
    }

    fn id(&self, _kind: &str, n: u64) -> String {
        (1000 + n).to_string()
    }

    fn contact(&self, first: &str, last: &str, phone: &str, email: &str) -> Map<String, Value> {
        let p = json!({"firstname": first, "lastname": last, "phone": phone, "email": email});
        p.as_object().cloned().unwrap_or_default()
    }

    fn change(&self, now: i64) -> (Map<String, Value>, i64) {
        // HubSpot's search index lags behind its writes; the reference connector
        // reads a change once it settled, so the change is half a minute old.
        let p = json!({"lastname": "Changed"});
        (p.as_object().cloned().unwrap_or_default(), now - 30_000)
    }

    fn webhook(&self, url: &str, contact: &Object, key: &str) -> Option<Delivery> {
        let now = scrm_store::now_ms();
        let body = json!([{"eventId": 1, "subscriptionId": 2, "portalId": 3, "appId": 4,
            "occurredAt": now, "subscriptionType": "contact.propertyChange", "attemptNumber": 0,
            "objectId": contact.id.parse::<u64>().unwrap_or(0), "propertyName": "phone",
            "propertyValue": "+16505550299", "changeSource": "CRM_UI"}])
        .to_string();
        let ts = now.to_string();
        let headers = vec![
            ("content-type".to_string(), "application/json".to_string()),
            (
                "x-hubspot-signature-v3".to_string(),
                sign(url, body.as_bytes(), &ts, key),
            ),
            ("x-hubspot-request-timestamp".to_string(), ts),
        ];
        Some((headers, body.into_bytes()))
    }

    fn failure(&self, status: u16) -> Response {
        let category = match status {
            401 => "INVALID_AUTHENTICATION",
            403 => "MISSING_SCOPES",
            400 => "VALIDATION_ERROR",
            429 => "RATE_LIMITS",
            _ => "INTERNAL_ERROR",
        };
        local::json(
            status,
            json!({"status": "error", "message": "failure on purpose", "category": category,
                   "correlationId": "5b1f0c4e-0000-4000-8000-000000000000"}),
        )
    }
}

/// HubSpot's v3 signature of a delivery to `url`.
fn sign(url: &str, body: &[u8], timestamp: &str, key: &str) -> String {
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).expect("any key length");
    mac.update(b"POST");
    mac.update(url.as_bytes());
    mac.update(body);
    mac.update(timestamp.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The properties of `o` as HubSpot answers them: with its id and change times.
fn props(o: &Object) -> Map<String, Value> {
    let mut props = o.props.clone();
    for key in ["lastmodifieddate", "hs_lastmodifieddate"] {
        props.insert(key.into(), json!(local::iso(o.modified)));
    }
    props.insert("hs_object_id".into(), json!(o.id));
    props
}

fn object_json(o: &Object) -> Value {
    json!({"id": o.id, "properties": props(o), "createdAt": local::iso(o.created),
           "updatedAt": local::iso(o.modified), "archived": false})
}

/// The CRM's routes over `crm`.
fn router(crm: Shared) -> Router {
    use axum::routing::{any, post};
    Router::new()
        .route("/crm/v3/objects/{kind}", post(create))
        .route("/crm/v3/objects/{kind}/search", post(search))
        .route("/crm/v3/objects/{kind}/batch/read", post(batch_read))
        .route("/crm/v3/objects/{kind}/{id}", any(one))
        .with_state(crm)
}

async fn create(
    State(crm): State<Shared>,
    Path(kind): Path<String>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    if let Some(r) = arrive(&crm, "POST", &format!("/{kind}"), &headers) {
        return r;
    }
    let mut c = lock(&crm);
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
    let o = c.objects.iter().find(|o| o.id == id).map(object_json);
    (StatusCode::CREATED, axum::Json(o.unwrap_or_default())).into_response()
}

async fn one(
    State(crm): State<Shared>,
    Path((kind, id)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Some(r) = arrive(&crm, method.as_str(), &format!("/{kind}/{id}"), &headers) {
        return r;
    }
    let mut c = lock(&crm);
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
    let o = c.objects.iter().find(|o| o.id == id).map(object_json);
    axum::Json(o.unwrap_or_default()).into_response()
}

async fn batch_read(
    State(crm): State<Shared>,
    Path(kind): Path<String>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    if let Some(r) = arrive(&crm, "POST", &format!("/{kind}/batch/read"), &headers) {
        return r;
    }
    let c = lock(&crm);
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
        .map(object_json)
        .collect();
    axum::Json(json!({"status": "COMPLETE", "results": results})).into_response()
}

async fn search(
    State(crm): State<Shared>,
    Path(kind): Path<String>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    if let Some(r) = arrive(&crm, "POST", &format!("/{kind}/search"), &headers) {
        return r;
    }
    let c = lock(&crm);
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
        found.sort_by_key(|o| (number(props(o).get(prop)), o.id.parse::<u64>().unwrap_or(0)));
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
        .map(|o| object_json(o))
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
    let props = props(o);
    let have = props
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
