//! The courier for [AfterShip](https://www.aftership.com/docs/tracking)'s Tracking
//! API: where a parcel is, for flows (`scrm:plugin/parcels`, e.g. `order-status`).
//!
//! One request per lookup: `GET {base_url}/tracking/{api_version}/trackings?
//! tracking_numbers={number}[&slug={carrier}]`, with the API key in the
//! `as-api-key` header, which the host adds (a credential of the binding's HTTP
//! policy; the plugin never sees the key). The tracking must exist in AfterShip
//! (the shop's AfterShip integration, or its CSV import, creates it): an unknown
//! number is `not-found`.
//!
//! Configuration (JSON or TOML, every key optional):
//!
//! ```toml
//! base_url = "https://api.aftership.com"
//! api_version = "2025-07"
//! time_zone = "Europe/Rome"   # reads estimates AfterShip gives without an offset
//! tracking_page = "https://shop.example.com/track/{number}"   # else the courier's link
//! ```
//!
//! Answers: a 200 with the tracking → its tag (`InTransit` → `in-transit`, …), the
//! normalised status text, the expected delivery window and the checkpoints; 401 /
//! 403 → `refused`; 404 or meta code 4004 / 4005 → `not-found`; 429 and 5xx
//! (AfterShip's or a proxy's HTML page) → `unavailable`, which the host retries.

mod wire;

use jiff::tz::TimeZone;
use scrm_plugin_sdk::http;
use scrm_plugin_sdk::{Courier, TrackError, Tracking};
use serde::Deserialize;
use serde_json::Value;

/// The courier's configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Config {
    /// AfterShip's API base URL.
    base_url: String,
    /// The Tracking API version (a path segment).
    api_version: String,
    /// The zone of estimates without an offset (the recipients' usual zone).
    time_zone: String,
    /// The tracking page offered to customers, with `{number}` and `{carrier}`.
    tracking_page: Option<String>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            base_url: "https://api.aftership.com".into(),
            api_version: "2025-07".into(),
            time_zone: "Europe/Rome".into(),
            tracking_page: None,
        }
    }
}

fn config() -> Result<(Config, TimeZone), TrackError> {
    let cfg: Config = scrm_plugin_sdk::config::parse()
        .map_err(|e| TrackError::InvalidConfig(format!("courier config: {e}")))?
        .unwrap_or_default();
    let tz = TimeZone::get(&cfg.time_zone)
        .map_err(|e| TrackError::InvalidConfig(format!("time_zone {:?}: {e}", cfg.time_zone)))?;
    Ok((cfg, tz))
}

/// The URL of the lookup.
fn lookup_url(cfg: &Config, carrier: Option<&str>, number: &str) -> String {
    let mut url = format!(
        "{}/tracking/{}/trackings?tracking_numbers={}",
        cfg.base_url.trim_end_matches('/'),
        http::encode_component(&cfg.api_version),
        http::encode_component(number)
    );
    if let Some(slug) = carrier.filter(|c| !c.trim().is_empty()) {
        url.push_str("&slug=");
        url.push_str(&http::encode_component(slug.trim()));
    }
    url
}

/// The tracking page for `number`, from the configured pattern.
fn page(cfg: &Config, carrier: &str, number: &str) -> Option<String> {
    cfg.tracking_page.as_ref().map(|p| {
        p.replace("{number}", &http::encode_component(number))
            .replace("{carrier}", &http::encode_component(carrier))
    })
}

/// The tracking of `number` in a 200 answer's `data.trackings` (AfterShip matches
/// the number exactly; the first is taken when several couriers share it).
fn pick(body: &[u8], number: &str, what: &str) -> Result<Value, TrackError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| TrackError::Unavailable(format!("{what}: 200 but not JSON: {e}")))?;
    v["data"]["trackings"]
        .as_array()
        .and_then(|list| {
            list.iter()
                .find(|t| t["tracking_number"].as_str() == Some(number))
                .or_else(|| list.first())
        })
        .cloned()
        .ok_or_else(|| TrackError::NotFound(format!("AfterShip has no tracking {number}")))
}

/// The exported courier.
#[derive(Debug)]
pub struct AfterShip;

impl Courier for AfterShip {
    fn track(carrier: Option<String>, number: String) -> Result<Tracking, TrackError> {
        let (cfg, tz) = config()?;
        let number = number.trim().to_string();
        if number.is_empty() {
            return Err(TrackError::NotFound("no tracking number".into()));
        }
        let url = lookup_url(&cfg, carrier.as_deref(), &number);
        let what = format!("GET {url}");
        let resp = http::request("GET", &url, &[("accept", "application/json")], None)
            .map_err(|e| TrackError::Unavailable(format!("{what}: {e:?}")))?;
        if resp.status != 200 {
            let wait = wire::wait_seconds(&resp.headers, scrm_plugin_sdk::clock::now_ms());
            return Err(wire::error(resp.status, &resp.body, wait, &what));
        }
        let t = pick(&resp.body, &number, &what)?;
        let slug = t["slug"].as_str().unwrap_or_default().to_string();
        Ok(wire::tracking(&t, &tz, page(&cfg, &slug, &number)))
    }
}

scrm_plugin_sdk::export_courier!(AfterShip);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lookup_names_the_number_and_the_courier() {
        let cfg = Config {
            base_url: "http://127.0.0.1:9/".into(),
            ..Config::default()
        };
        assert_eq!(
            lookup_url(&cfg, Some("brt"), "1Z 9"),
            "http://127.0.0.1:9/tracking/2025-07/trackings?tracking_numbers=1Z%209&slug=brt"
        );
        assert_eq!(
            lookup_url(&cfg, None, "X1"),
            "http://127.0.0.1:9/tracking/2025-07/trackings?tracking_numbers=X1"
        );
    }

    #[test]
    fn an_empty_answer_is_not_found() {
        let body =
            br#"{"meta": {"code": 200}, "data": {"pagination": {"total": 0}, "trackings": []}}"#;
        assert!(matches!(
            pick(body, "X", "GET"),
            Err(TrackError::NotFound(_))
        ));
        let body = br#"{"meta": {"code": 200}, "data": {"trackings": [{"tracking_number": "X", "slug": "ups"}]}}"#;
        assert_eq!(pick(body, "X", "GET").unwrap()["slug"], "ups");
    }

    #[test]
    fn the_page_pattern_gets_number_and_courier() {
        let cfg = Config {
            tracking_page: Some("https://shop.example/t/{carrier}/{number}".into()),
            ..Config::default()
        };
        assert_eq!(
            page(&cfg, "brt", "A B").as_deref(),
            Some("https://shop.example/t/brt/A%20B")
        );
    }
}
