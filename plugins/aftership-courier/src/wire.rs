//! AfterShip's wire format (Tracking API 2025-07): the answer to `GET
//! /tracking/{version}/trackings?tracking_numbers=…` read into the contract's
//! [`Tracking`], and its error answers read into [`TrackError`]s.
//!
//! ```json
//! {"meta": {"code": 200, "message": "OK", "type": "OK"},
//!  "data": {"pagination": {"total": 1, "next_cursor": null, "has_next_page": false},
//!           "trackings": [{"tracking_number": "…", "slug": "brt", "tag": "InTransit",
//!                          "subtag": "InTransit_002", "subtag_message": "In transit",
//!                          "latest_estimated_delivery": {"type": "specific",
//!                              "source": "Carrier EDD", "datetime": "2026-12-10T14:30:00+01:00"},
//!                          "courier_tracking_link": "https://…",
//!                          "checkpoints": [{"checkpoint_time": "…", "tag": "…", "message": "…"}]}]}}
//! ```
//!
//! AfterShip writes estimated delivery times in the recipient's time zone, with or
//! without an offset, or as a bare date; times without an offset are read in the
//! configured zone, and a bare date is the whole day there.

use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use scrm_plugin_sdk::{Checkpoint, TrackError, Tracking};
use serde_json::Value;

/// The contract's tag for AfterShip's (`Pending`, `InTransit`, …); unknown tags
/// pass through lowercased.
pub fn tag_of(aftership: &str) -> String {
    match aftership {
        "Pending" => "pending",
        "InfoReceived" => "info-received",
        "InTransit" => "in-transit",
        "OutForDelivery" => "out-for-delivery",
        "AttemptFail" => "failed-attempt",
        "Delivered" => "delivered",
        "AvailableForPickup" => "available-for-pickup",
        "Exception" => "exception",
        "Expired" => "expired",
        other => return other.to_ascii_lowercase(),
    }
    .to_string()
}

/// A time as AfterShip writes it, as Unix ms: with an offset it is exact; without
/// one it is read in `tz`. A bare date is its start in `tz`; `end` asks for the
/// start of the next day instead (the end of a whole-day estimate).
pub fn time_ms(text: &str, tz: &TimeZone, end: bool) -> Option<i64> {
    let text = text.trim();
    if let Ok(t) = text.parse::<Timestamp>() {
        return Some(t.as_millisecond());
    }
    if let Ok(dt) = text.parse::<DateTime>()
        && text.contains('T')
    {
        return dt
            .to_zoned_datetime(tz.clone())
            .ok()
            .map(|z| z.timestamp().as_millisecond());
    }
    let date: Date = text.parse().ok()?;
    let day = if end { date.tomorrow().ok()? } else { date };
    day.to_zoned_datetime(tz.clone())
        .ok()
        .map(|z| z.timestamp().as_millisecond())
}

/// The expected delivery window (from, to) of a tracking, from the newest estimate
/// AfterShip gives: the latest estimate, the courier's, AfterShip's own, or the
/// legacy `expected_delivery`.
pub fn expected(t: &Value, tz: &TimeZone) -> (Option<i64>, Option<i64>) {
    let one = |v: &Value, end: bool| v.as_str().and_then(|s| time_ms(s, tz, end));
    let latest = &t["latest_estimated_delivery"];
    if latest.is_object() {
        let point = &latest["datetime"];
        let (min, max) = (&latest["datetime_min"], &latest["datetime_max"]);
        let from = one(min, false).or_else(|| one(point, false));
        let to = one(max, true).or_else(|| one(point, true));
        if from.is_some() || to.is_some() {
            return (from, to);
        }
    }
    for key in [
        "courier_estimated_delivery_date",
        "aftership_estimated_delivery_date",
        "custom_estimated_delivery_date",
    ] {
        let e = &t[key];
        let point = &e["estimated_delivery_date"];
        let from = one(&e["estimated_delivery_date_min"], false).or_else(|| one(point, false));
        let to = one(&e["estimated_delivery_date_max"], true).or_else(|| one(point, true));
        if from.is_some() || to.is_some() {
            return (from, to);
        }
    }
    let legacy = &t["expected_delivery"];
    (one(legacy, false), one(legacy, true))
}

fn text(v: &Value) -> Option<String> {
    v.as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn checkpoint(c: &Value, tz: &TimeZone) -> Option<Checkpoint> {
    let at = c["checkpoint_time"]
        .as_str()
        .and_then(|s| time_ms(s, tz, false))?;
    let location = text(&c["location"]).or_else(|| {
        let parts: Vec<String> = ["city", "country_name"]
            .iter()
            .filter_map(|k| text(&c[*k]))
            .collect();
        (!parts.is_empty()).then(|| parts.join(", "))
    });
    Some(Checkpoint {
        at,
        tag: tag_of(c["tag"].as_str().unwrap_or_default()),
        message: text(&c["message"])
            .or_else(|| text(&c["subtag_message"]))
            .unwrap_or_default(),
        location,
    })
}

/// One AfterShip tracking object as the contract's [`Tracking`]; `link` is the
/// tracking page to offer (none: the courier's own link, when AfterShip has one).
pub fn tracking(t: &Value, tz: &TimeZone, link: Option<String>) -> Tracking {
    let tag = t["tag"].as_str().unwrap_or("Pending");
    let (expected_from, expected_to) = expected(t, tz);
    let mut checkpoints: Vec<Checkpoint> = t["checkpoints"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| checkpoint(c, tz))
        .collect();
    checkpoints.sort_by_key(|c| c.at);
    Tracking {
        number: t["tracking_number"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        carrier: t["slug"].as_str().unwrap_or_default().to_string(),
        tag: tag_of(tag),
        status_text: text(&t["subtag_message"]).unwrap_or_else(|| tag.to_string()),
        expected_from,
        expected_to,
        link: link.or_else(|| text(&t["courier_tracking_link"])),
        checkpoints,
    }
}

/// The seconds a 429 asks to wait: `Retry-After`, else until AfterShip's
/// `x-ratelimit-reset` (Unix seconds), else a second.
pub fn wait_seconds(headers: &[(String, Vec<u8>)], now_ms: i64) -> i64 {
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
            .and_then(|v| v.trim().parse::<i64>().ok())
    };
    header("retry-after")
        .or_else(|| header("x-ratelimit-reset").map(|reset| reset - now_ms / 1000))
        .unwrap_or(1)
        .max(1)
}

/// The error an answer other than a 200 with trackings means.
pub fn error(status: u16, body: &[u8], wait: i64, what: &str) -> TrackError {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let meta = &v["meta"];
    let message = text(&meta["message"]).unwrap_or_else(|| {
        String::from_utf8_lossy(body)
            .chars()
            .take(200)
            .collect::<String>()
    });
    let said = format!("{what}: {status} {} {message}", meta["code"]);
    match (status, meta["code"].as_i64()) {
        (401 | 403, _) => TrackError::Refused(said),
        (404, _) | (_, Some(4004 | 4005 | 4017)) => TrackError::NotFound(said),
        (429, _) => TrackError::Unavailable(format!("{said} (rate limited: retry in {wait} s)")),
        (400..=499, _) => TrackError::Refused(said),
        _ => TrackError::Unavailable(said),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rome() -> TimeZone {
        TimeZone::get("Europe/Rome").unwrap()
    }

    #[test]
    fn times_with_and_without_offsets() {
        let tz = rome();
        // 2026-12-10 14:30 in Rome (UTC+1) is 13:30 UTC.
        let exact = time_ms("2026-12-10T14:30:00+01:00", &tz, false).unwrap();
        assert_eq!(exact, 1_796_909_400_000);
        assert_eq!(time_ms("2026-12-10T14:30:00", &tz, false), Some(exact));
        assert_eq!(time_ms("2026-12-10T13:30:00Z", &tz, false), Some(exact));
        let day = time_ms("2026-12-10", &tz, false).unwrap();
        let next = time_ms("2026-12-10", &tz, true).unwrap();
        assert_eq!(next - day, 86_400_000);
        assert_eq!(time_ms("soon", &tz, false), None);
    }

    #[test]
    fn the_latest_estimate_wins_and_a_date_is_the_whole_day() {
        let tz = rome();
        let t = json!({"latest_estimated_delivery": {"type": "specific", "datetime": "2026-12-10T14:30:00+01:00"},
                       "courier_estimated_delivery_date": {"estimated_delivery_date": "2026-12-12"}});
        let (from, to) = expected(&t, &tz);
        assert_eq!(from, Some(1_796_909_400_000));
        assert_eq!(from, to);
        let t =
            json!({"courier_estimated_delivery_date": {"estimated_delivery_date": "2026-12-12"}});
        let (from, to) = expected(&t, &tz);
        assert_eq!(to.unwrap() - from.unwrap(), 86_400_000);
        assert_eq!(expected(&json!({}), &tz), (None, None));
    }

    #[test]
    fn tags_map_to_the_contract() {
        assert_eq!(tag_of("OutForDelivery"), "out-for-delivery");
        assert_eq!(tag_of("AttemptFail"), "failed-attempt");
        assert_eq!(tag_of("Delivered"), "delivered");
        assert_eq!(tag_of("Somewhere"), "somewhere");
    }

    #[test]
    fn errors_by_status_and_meta_code() {
        let body = br#"{"meta": {"code": 4004, "message": "Tracking does not exist.", "type": "NotFound"}, "data": {}}"#;
        assert!(matches!(
            error(404, body, 1, "GET"),
            TrackError::NotFound(_)
        ));
        assert!(matches!(
            error(401, b"{}", 1, "GET"),
            TrackError::Refused(_)
        ));
        let html = b"<html><body>502 Bad Gateway</body></html>";
        assert!(matches!(
            error(502, html, 1, "GET"),
            TrackError::Unavailable(_)
        ));
        match error(429, b"{}", 7, "GET") {
            TrackError::Unavailable(m) => assert!(m.contains("retry in 7 s"), "{m}"),
            other => panic!("{other:?}"),
        }
        let h = vec![("x-ratelimit-reset".to_string(), b"1010".to_vec())];
        assert_eq!(wait_seconds(&h, 1_000_000), 10);
        let h = vec![("retry-after".to_string(), b"3".to_vec())];
        assert_eq!(wait_seconds(&h, 0), 3);
    }

    #[test]
    fn a_tracking_reads_into_the_contract() {
        let t = json!({"tracking_number": "1Z9", "slug": "brt", "tag": "OutForDelivery",
            "subtag_message": "Out for Delivery", "courier_tracking_link": "https://brt.example/1Z9",
            "checkpoints": [
                {"checkpoint_time": "2026-12-10T08:00:00+01:00", "tag": "OutForDelivery", "message": "Con il corriere", "city": "Milano"},
                {"checkpoint_time": "2026-12-09T18:00:00+01:00", "tag": "InTransit", "message": "Partito", "location": "Bologna HUB"}]});
        let got = tracking(&t, &rome(), None);
        assert_eq!(got.tag, "out-for-delivery");
        assert_eq!(got.status_text, "Out for Delivery");
        assert_eq!(got.link.as_deref(), Some("https://brt.example/1Z9"));
        assert_eq!(got.checkpoints[0].message, "Partito");
        assert_eq!(got.checkpoints[1].location.as_deref(), Some("Milano"));
    }
}
