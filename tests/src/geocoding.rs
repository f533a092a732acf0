//! A local Google Maps Geocoding API (`GET /maps/api/geocode/json`) for the tests of
//! the `google-geocoder` plugin, in Google's wire format:
//!
//! - `key` must be [`API_KEY`], else `{"status": "REQUEST_DENIED", "error_message":
//!   "The provided API key is invalid.", "results": []}` (HTTP 200, as Google does);
//! - `address` is looked up in the places the test registers ([`Geocoding::add`]),
//!   case-insensitively and ignoring commas; `components=country:XX` must agree with
//!   the place's country. A known address answers `{"status": "OK", "results":
//!   [{address_components, formatted_address, geometry, place_id, types}]}` (with
//!   `partial_match: true` when registered so, or several results for an ambiguous
//!   address); an unknown one `{"status": "ZERO_RESULTS", "results": []}`.

use crate::serve;
use axum::extract::{Query, State};
use axum::response::IntoResponse;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

/// The API key the server accepts.
pub const API_KEY: &str = "AIzaSyScrmLocalGeocodingKey0123456789";

/// One place the server knows.
#[derive(Debug, Clone)]
pub struct Place {
    /// The postcode (none: the place has only a city, say).
    pub postcode: Option<String>,
    /// City.
    pub city: String,
    /// ISO 3166-1 alpha-2 country.
    pub country: String,
    /// Google found it only by part of the address.
    pub partial: bool,
}

#[derive(Debug, Default)]
struct Inner {
    places: HashMap<String, Vec<Place>>,
    requests: Vec<HashMap<String, String>>,
}

type Shared = serve::Shared<Inner>;

/// A running local Geocoding API; stops when dropped.
#[derive(Debug)]
pub struct Geocoding {
    shared: Arc<Shared>,
    server: serve::Running,
}

fn key_of(address: &str) -> String {
    address
        .to_lowercase()
        .replace(',', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

impl Geocoding {
    /// Starts an empty one on `127.0.0.1:0`.
    ///
    /// # Panics
    /// When it cannot bind a loopback port.
    pub async fn start() -> Geocoding {
        let listener = serve::Listener::loopback().await;
        let shared = Arc::new(Shared::new(listener.addr(), Inner::default()));
        let app = axum::Router::new()
            .route("/maps/api/geocode/json", axum::routing::get(geocode))
            .with_state(shared.clone());
        let server = listener.serve(app);
        Geocoding { shared, server }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.shared.base()
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// `address` resolves to `places` (several: an ambiguous address).
    pub fn add(&self, address: &str, places: Vec<Place>) {
        self.shared.lock().places.insert(key_of(address), places);
    }

    /// The query parameters of every request so far.
    pub fn requests(&self) -> Vec<HashMap<String, String>> {
        self.shared.lock().requests.clone()
    }
}

fn result(p: &Place) -> Value {
    let mut comps = vec![
        json!({"long_name": p.city, "short_name": p.city, "types": ["locality", "political"]}),
        json!({"long_name": p.country, "short_name": p.country, "types": ["country", "political"]}),
    ];
    if let Some(code) = &p.postcode {
        comps.push(json!({"long_name": code, "short_name": code, "types": ["postal_code"]}));
    }
    let mut r = json!({
        "address_components": comps,
        "formatted_address": format!("{}, {}", p.city, p.country),
        "geometry": {"location": {"lat": 45.4642, "lng": 9.19}, "location_type": "ROOFTOP"},
        "place_id": "ChIJscrmLocalPlace",
        "types": ["street_address"],
    });
    if p.partial {
        r["partial_match"] = json!(true);
    }
    r
}

async fn geocode(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> impl IntoResponse {
    let mut s = shared.lock();
    s.requests.push(q.clone());
    if q.get("key").map(String::as_str) != Some(API_KEY) {
        return axum::Json(json!({"error_message": "The provided API key is invalid.",
                                 "results": [], "status": "REQUEST_DENIED"}));
    }
    let Some(address) = q.get("address").filter(|a| !a.trim().is_empty()) else {
        return axum::Json(
            json!({"error_message": "Invalid request. Missing the 'address', 'components', 'latlng' or 'place_id' parameter.",
                                 "results": [], "status": "INVALID_REQUEST"}),
        );
    };
    let country = q
        .get("components")
        .and_then(|c| c.strip_prefix("country:"))
        .map(str::to_ascii_uppercase);
    let found: Vec<Value> = s
        .places
        .get(&key_of(address))
        .into_iter()
        .flatten()
        .filter(|p| country.as_ref().is_none_or(|c| *c == p.country))
        .map(result)
        .collect();
    if found.is_empty() {
        return axum::Json(json!({"results": [], "status": "ZERO_RESULTS"}));
    }
    axum::Json(json!({"results": found, "status": "OK"}))
}
