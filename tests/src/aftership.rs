//! A local AfterShip Tracking API (version 2025-07) for the tests of the
//! `aftership-courier` plugin and the `order-status` flow, in AfterShip's wire
//! format:
//!
//! - `GET /tracking/2025-07/trackings?tracking_numbers=N[&slug=S]` with the
//!   `as-api-key` header: `{"meta": {"code": 200, "message": "OK", "type": "OK"},
//!   "data": {"pagination": {…}, "trackings": [tracking]}}`; a number the test has
//!   not registered gives an empty list (AfterShip only knows trackings someone
//!   created);
//! - a missing or wrong key: `401` `{"meta": {"code": 401, "message": "Invalid API
//!   key.", "type": "Unauthorized"}, "data": {}}`;
//! - another path: `404` with meta code 4004;
//! - faults the test scripts ([`AfterShip::fail_next`]): `429` with `Retry-After`
//!   and AfterShip's rate headers, or an HTML `502` from a proxy.
//!
//! A test moves a parcel along with [`AfterShip::set`] (its tag, status text,
//! estimate and a checkpoint).

use crate::serve;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;

/// The API key the server accepts.
pub const API_KEY: &str = "asat_scrm_local_0123456789abcdef";

/// The API version in the paths it serves.
pub const VERSION: &str = "2025-07";

/// A scripted fault for the next request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `429` with `Retry-After: N` seconds.
    RateLimited(u32),
    /// A proxy's HTML `502 Bad Gateway` page.
    BadGateway,
}

#[derive(Debug, Default)]
struct Inner {
    trackings: HashMap<String, Value>,
    faults: VecDeque<Fault>,
    requests: Vec<HashMap<String, String>>,
}

type Shared = serve::Shared<Inner>;

/// A running local AfterShip; stops when dropped.
#[derive(Debug)]
pub struct AfterShip {
    shared: Arc<Shared>,
    server: serve::Running,
}

impl AfterShip {
    /// Starts an empty one on `127.0.0.1:0`.
    ///
    /// # Panics
    /// When it cannot bind a loopback port.
    pub async fn start() -> AfterShip {
        let listener = serve::Listener::loopback().await;
        let shared = Arc::new(Shared::new(listener.addr(), Inner::default()));
        let app = axum::Router::new()
            .route(
                &format!("/tracking/{VERSION}/trackings"),
                axum::routing::get(trackings),
            )
            .fallback(not_found)
            .with_state(shared.clone());
        let server = listener.serve(app);
        AfterShip { shared, server }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.shared.base()
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// Registers or moves parcel `number` of courier `slug`: its AfterShip `tag`
    /// (`InTransit`, `OutForDelivery`, `Delivered`, …), the normalised message, an
    /// estimated delivery time as AfterShip writes it (e.g.
    /// `2026-12-10T14:30:00+01:00`), and a checkpoint with `message` at `at`.
    pub fn set(&self, slug: &str, number: &str, tag: &str, message: &str, estimate: Option<&str>) {
        let mut inner = self.shared.lock();
        let t = inner
            .trackings
            .entry(number.to_string())
            .or_insert_with(|| new_tracking(slug, number));
        t["tag"] = json!(tag);
        t["subtag"] = json!(format!("{tag}_001"));
        t["subtag_message"] = json!(message);
        t["updated_at"] = json!(now_iso());
        t["latest_estimated_delivery"] = match estimate {
            Some(at) => json!({"type": "specific", "source": "Carrier EDD", "datetime": at,
                               "datetime_min": null, "datetime_max": null, "revise_reason": null}),
            None => Value::Null,
        };
        if let Some(list) = t["checkpoints"].as_array_mut() {
            list.push(
                json!({"checkpoint_time": now_iso(), "created_at": now_iso(), "slug": slug,
                "tag": tag, "subtag": format!("{tag}_001"), "subtag_message": message,
                "message": message, "location": "Bologna HUB", "city": "Bologna",
                "country_region": "ITA", "country_region_name": "Italy", "raw_tag": tag}),
            );
        }
    }

    /// Answers the next requests with `faults`, one each, in order.
    pub fn fail_next(&self, faults: &[Fault]) {
        self.shared.lock().faults.extend(faults.iter().copied());
    }

    /// The query of every request so far (with `as-api-key` when sent).
    pub fn requests(&self) -> Vec<HashMap<String, String>> {
        self.shared.lock().requests.clone()
    }
}

fn now_iso() -> String {
    crate::hubspot::iso(crate::crm::now_ms())
        .split('.')
        .next()
        .unwrap_or_default()
        .to_string()
        + "+00:00"
}

fn new_tracking(slug: &str, number: &str) -> Value {
    json!({
        "id": format!("scrm{number}").to_lowercase(), "legacy_id": null,
        "created_at": now_iso(), "updated_at": now_iso(),
        "tracking_number": number, "slug": slug, "active": true, "custom_fields": null,
        "transit_time": null, "origin_country_region": "ITA", "destination_country_region": "ITA",
        "courier_destination_country_region": "ITA", "courier_estimated_delivery_date": null,
        "order_id": null, "shipment_package_count": 1, "shipment_type": "Standard",
        "signed_by": null, "source": "api", "tag": "Pending", "subtag": "Pending_001",
        "subtag_message": "Pending", "title": number, "tracked_count": 1, "language": null,
        "checkpoints": [], "return_to_sender": false,
        "courier_tracking_link": format!("https://tracking.example-courier.invalid/{slug}/{number}"),
        "latest_estimated_delivery": null,
    })
}

fn meta(code: u16, message: &str, kind: &str) -> Value {
    json!({"code": code, "message": message, "type": kind})
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({"meta": meta(4004, "The URI requested is invalid or the resource requested does not exist.", "NotFound"), "data": {}})),
    )
        .into_response()
}

fn fault(f: Fault) -> Response {
    match f {
        Fault::RateLimited(secs) => {
            let mut r = (
                StatusCode::TOO_MANY_REQUESTS,
                axum::Json(json!({"meta": meta(429, "You have exceeded the API call rate limit. The default limit is 10 requests per second.", "TooManyRequests"), "data": {}})),
            )
                .into_response();
            let reset = crate::crm::now_ms() / 1000 + i64::from(secs);
            for (k, v) in [
                ("retry-after", secs.to_string()),
                ("x-ratelimit-limit", "10".into()),
                ("x-ratelimit-remaining", "0".into()),
                ("x-ratelimit-reset", reset.to_string()),
            ] {
                if let Ok(v) = HeaderValue::from_str(&v) {
                    r.headers_mut().insert(k, v);
                }
            }
            r
        }
        Fault::BadGateway => (
            StatusCode::BAD_GATEWAY,
            [("content-type", "text/html")],
            "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>",
        )
            .into_response(),
    }
}

async fn trackings(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(mut q): Query<HashMap<String, String>>,
) -> Response {
    let key = headers
        .get("as-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut s = shared.lock();
    if let Some(k) = &key {
        q.insert("as-api-key".into(), k.clone());
    }
    s.requests.push(q.clone());
    if let Some(f) = s.faults.pop_front() {
        return fault(f);
    }
    if key.as_deref() != Some(API_KEY) {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"meta": meta(401, "Invalid API key.", "Unauthorized"), "data": {}})),
        )
            .into_response();
    }
    let numbers: Vec<&str> = q
        .get("tracking_numbers")
        .map(|n| n.split(',').map(str::trim).collect())
        .unwrap_or_default();
    let slugs: Vec<&str> = q
        .get("slug")
        .map(|n| n.split(',').map(str::trim).collect())
        .unwrap_or_default();
    let found: Vec<Value> = numbers
        .iter()
        .filter_map(|n| s.trackings.get(*n))
        .filter(|t| slugs.is_empty() || slugs.contains(&t["slug"].as_str().unwrap_or_default()))
        .cloned()
        .collect();
    let total = found.len();
    axum::Json(json!({"meta": meta(200, "OK", "OK"),
        "data": {"pagination": {"total": total, "next_cursor": null, "has_next_page": false},
                 "trackings": found}}))
    .into_response()
}
