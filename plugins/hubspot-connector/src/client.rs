//! One HubSpot request: the tenant's rate-limit gate, the call through the host's
//! `wasi:http` (which adds the bearer token), and HubSpot's answer mapped onto the
//! connector contract.
//!
//! HubSpot answers a request over its limits with `429` and a body naming the
//! policy (`{"status":"error","errorType":"RATE_LIMIT","policyName":
//! "TEN_SECONDLY_ROLLING",…}`); it sends no `Retry-After` for API calls, only
//! `X-HubSpot-RateLimit-Interval-Milliseconds` (not on search responses). After a 429
//! the connector remembers in its key-value store when the window has rolled past,
//! and until then answers `rate-limited` without sending anything: the other queued
//! writes of the tenant wait too, instead of each collecting its own 429.

use crate::config::Config;
use scrm_plugin_sdk::ConnectorError;
use scrm_plugin_sdk::http::{self, HttpError, Response};
use serde_json::Value;

/// Key-value entry: Unix ms until which no request is sent at all.
const GATE_ALL: &str = "rate-limited-until";
/// Key-value entry: Unix ms until which no search request is sent (HubSpot limits
/// its search endpoints separately, per second).
const GATE_SEARCH: &str = "search-rate-limited-until";

/// How long to wait after a 429 when HubSpot says nothing more precise, ms.
const DEFAULT_WAIT_MS: u64 = 10_000;
/// The daily limit resets at midnight in the account's time zone, which the
/// connector does not know: look again in an hour.
const DAILY_WAIT_MS: u64 = 3_600_000;

/// Talks to HubSpot for one plugin call.
#[derive(Debug)]
pub struct Client<'a> {
    cfg: &'a Config,
}

impl<'a> Client<'a> {
    /// A client for `cfg`.
    pub fn new(cfg: &'a Config) -> Client<'a> {
        Client { cfg }
    }

    /// Sends `method path` with a JSON `body` and returns the raw answer of any status
    /// but 429 (which becomes [`ConnectorError::RateLimited`]).
    ///
    /// # Errors
    /// `rate-limited` while the gate is closed or on a 429; `unavailable` when HubSpot
    /// cannot be reached; `invalid` when the binding's HTTP policy refuses the host.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Response, ConnectorError> {
        let search = path.ends_with("/search");
        let now = scrm_plugin_sdk::clock::now_ms();
        for gate in gates(search) {
            if let Some(until) = read_gate(gate)
                && until > now
            {
                return Err(ConnectorError::RateLimited(wait_secs(until - now)));
            }
        }
        let url = self.cfg.url(path);
        let raw = body.map(|b| b.to_string().into_bytes());
        let mut headers = vec![("accept", "application/json")];
        if raw.is_some() {
            headers.push(("content-type", "application/json"));
        }
        let resp = http::request(method, &url, &headers, raw.as_deref())
            .map_err(|e| transport_error(method, path, &e))?;
        if resp.status == 429 {
            let (wait, policy) = rate_limit_wait(&resp);
            let now = scrm_plugin_sdk::clock::now_ms();
            let until = now + i64::try_from(wait).unwrap_or(i64::MAX / 2);
            let gate = if search && policy.as_deref() == Some("SECONDLY") {
                GATE_SEARCH
            } else {
                GATE_ALL
            };
            // Best effort: without the gate each queued write just meets its own 429.
            let _ = scrm_plugin_sdk::kv::set(gate, until.to_string().as_bytes());
            return Err(ConnectorError::RateLimited(wait_secs(until - now)));
        }
        Ok(resp)
    }

    /// [`Client::send`], then HubSpot's status mapped by [`check`].
    ///
    /// # Errors
    /// As [`Client::send`] and [`check`].
    pub fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ConnectorError> {
        let resp = self.send(method, path, body)?;
        check(method, path, &resp)
    }
}

fn gates(search: bool) -> &'static [&'static str] {
    if search {
        &[GATE_ALL, GATE_SEARCH]
    } else {
        &[GATE_ALL]
    }
}

fn read_gate(key: &str) -> Option<i64> {
    let raw = scrm_plugin_sdk::kv::get(key).ok()??;
    std::str::from_utf8(&raw).ok()?.trim().parse().ok()
}

/// Whole seconds to wait for `ms`, at least one.
fn wait_secs(ms: i64) -> u32 {
    u32::try_from((ms.max(1) + 999) / 1000).unwrap_or(u32::MAX)
}

fn transport_error(method: &str, path: &str, e: &HttpError) -> ConnectorError {
    match e {
        HttpError::Refused(code)
            if code == "http-request-denied" || code == "destination-ip-prohibited" =>
        {
            ConnectorError::Invalid(format!(
                "{method} {path}: refused by the binding's HTTP policy ({code}); check \
                 `allow`, `allow_private` and `max_requests`"
            ))
        }
        other => ConnectorError::Unavailable(format!("{method} {path}: {other:?}")),
    }
}

fn header<'r>(resp: &'r Response, name: &str) -> Option<&'r str> {
    resp.headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| std::str::from_utf8(v).ok())
        .map(str::trim)
}

/// How long a 429 asks to wait, ms, and the policy it names: `Retry-After` when
/// present (seconds), else the rate-limit window HubSpot reports, else the window of
/// the policy named in the body.
pub fn rate_limit_wait(resp: &Response) -> (u64, Option<String>) {
    let body: Value = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
    let policy = body["policyName"].as_str().map(str::to_owned);
    if let Some(secs) = header(resp, "retry-after").and_then(|v| v.parse::<u64>().ok()) {
        return (secs.saturating_mul(1000).max(1000), policy);
    }
    let by_policy = match policy.as_deref() {
        Some("SECONDLY") => Some(1_000),
        Some("TEN_SECONDLY_ROLLING") => Some(10_000),
        Some("DAILY") => Some(DAILY_WAIT_MS),
        _ => None,
    };
    let interval = header(resp, "x-hubspot-ratelimit-interval-milliseconds")
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|ms| *ms > 0);
    let wait = match policy.as_deref() {
        // The window header describes the rolling limit, not the daily one.
        Some("DAILY") => DAILY_WAIT_MS,
        _ => interval.or(by_policy).unwrap_or(DEFAULT_WAIT_MS),
    };
    (wait, policy)
}

/// A short description of HubSpot's error body
/// (`{"status":"error","message","correlationId","category",…}`; every field optional).
fn describe(method: &str, path: &str, resp: &Response) -> String {
    let body: Value = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
    let mut out = format!("{method} {path}: HTTP {}", resp.status);
    if let Some(c) = body["category"].as_str() {
        out.push_str(&format!(" {c}"));
    }
    match body["message"].as_str() {
        Some(m) => out.push_str(&format!(": {}", m.chars().take(300).collect::<String>())),
        None if !resp.body.is_empty() => out.push_str(&format!(
            ": {}",
            String::from_utf8_lossy(&resp.body)
                .chars()
                .take(200)
                .collect::<String>()
        )),
        None => {}
    }
    if let Some(id) = body["correlationId"].as_str() {
        out.push_str(&format!(" (correlationId {id})"));
    }
    out
}

/// Maps HubSpot's status onto the connector contract: 2xx → the JSON body;
/// 401/403 → unauthorized; 404 → not-found; 400/409/422 and other 4xx → invalid;
/// 5xx → unavailable.
///
/// # Errors
/// The [`ConnectorError`] for a non-2xx status, or `failed` for a 2xx body that is
/// not JSON.
pub fn check(method: &str, path: &str, resp: &Response) -> Result<Value, ConnectorError> {
    match resp.status {
        200..=299 => {
            if resp.body.iter().all(u8::is_ascii_whitespace) {
                Ok(Value::Null)
            } else {
                serde_json::from_slice(&resp.body).map_err(|e| {
                    ConnectorError::Failed(format!("{method} {path}: answer is not JSON: {e}"))
                })
            }
        }
        401 | 403 => Err(ConnectorError::Unauthorized(describe(method, path, resp))),
        404 => Err(ConnectorError::NotFound(describe(method, path, resp))),
        // 423: the record is locked by another write; HubSpot asks to wait ≥ 2 s.
        423 => Err(ConnectorError::RateLimited(2)),
        400..=499 => Err(ConnectorError::Invalid(describe(method, path, resp))),
        _ => Err(ConnectorError::Unavailable(describe(method, path, resp))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn resp(status: u16, headers: &[(&str, &str)], body: Value) -> Response {
        Response {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
                .collect(),
            body: body.to_string().into_bytes(),
        }
    }

    #[test]
    fn statuses_map_onto_the_connector_contract() {
        let err = |s: u16| {
            check("POST", "/crm/v3/objects/contacts", &resp(s, &[], json!({}))).unwrap_err()
        };
        assert!(matches!(err(401), ConnectorError::Unauthorized(_)));
        assert!(matches!(err(403), ConnectorError::Unauthorized(_)));
        assert!(matches!(err(404), ConnectorError::NotFound(_)));
        for s in [400, 409, 422] {
            assert!(matches!(err(s), ConnectorError::Invalid(_)), "{s}");
        }
        for s in [500, 502, 503, 504, 524] {
            assert!(matches!(err(s), ConnectorError::Unavailable(_)), "{s}");
        }
        assert!(matches!(err(423), ConnectorError::RateLimited(2)));
        let ok = check("GET", "/x", &resp(200, &[], json!({"id": "1"}))).unwrap();
        assert_eq!(ok["id"], "1");
    }

    #[test]
    fn error_text_carries_hubspots_category_message_and_correlation_id() {
        let r = resp(
            400,
            &[],
            json!({"status": "error", "message": "Property values were not valid",
                   "correlationId": "aeb5f871-7f07-4993-9211-075dc63e7cbf",
                   "category": "VALIDATION_ERROR"}),
        );
        let ConnectorError::Invalid(text) =
            check("PATCH", "/crm/v3/objects/contacts/1", &r).unwrap_err()
        else {
            panic!("not invalid");
        };
        assert_eq!(
            text,
            "PATCH /crm/v3/objects/contacts/1: HTTP 400 VALIDATION_ERROR: Property values were \
             not valid (correlationId aeb5f871-7f07-4993-9211-075dc63e7cbf)"
        );
    }

    #[test]
    fn a_429_waits_for_the_window_hubspot_names() {
        let body = json!({"status": "error", "message": "You have reached your ten_secondly_rolling limit.",
                          "errorType": "RATE_LIMIT", "policyName": "TEN_SECONDLY_ROLLING"});
        let with_window = resp(
            429,
            &[
                ("X-HubSpot-RateLimit-Interval-Milliseconds", "2000"),
                ("X-HubSpot-RateLimit-Remaining", "0"),
            ],
            body.clone(),
        );
        assert_eq!(
            rate_limit_wait(&with_window),
            (2_000, Some("TEN_SECONDLY_ROLLING".into()))
        );
        assert_eq!(rate_limit_wait(&resp(429, &[], body.clone())).0, 10_000);
        assert_eq!(
            rate_limit_wait(&resp(429, &[("retry-after", "7")], body)).0,
            7_000
        );
        let search = json!({"status": "error", "message": "You have reached your secondly limit.",
                            "errorType": "RATE_LIMIT", "policyName": "SECONDLY"});
        assert_eq!(
            rate_limit_wait(&resp(429, &[], search)),
            (1_000, Some("SECONDLY".into()))
        );
        let daily = json!({"policyName": "DAILY"});
        assert_eq!(
            rate_limit_wait(&resp(
                429,
                &[("x-hubspot-ratelimit-interval-milliseconds", "10000")],
                daily
            ))
            .0,
            3_600_000
        );
        assert_eq!(rate_limit_wait(&resp(429, &[], json!("busy"))).0, 10_000);
    }

    #[test]
    fn waits_round_up_to_whole_seconds() {
        assert_eq!(wait_secs(1), 1);
        assert_eq!(wait_secs(1_000), 1);
        assert_eq!(wait_secs(1_001), 2);
        assert_eq!(wait_secs(-5), 1);
    }
}
