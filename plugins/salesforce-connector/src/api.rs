//! Talking to the REST API: one request, a composite request, and Salesforce's
//! answers mapped onto the connector contract.
//!
//! Errors are a JSON array of `{message, errorCode, fields}`. Status codes:
//! 401 (`INVALID_SESSION_ID`) → `unauthorized`; 403 `REQUEST_LIMIT_EXCEEDED` →
//! `rate-limited`, other 403s (missing permissions) → `unauthorized`; 404 →
//! `not-found`; 300 (an external id on several records) and other 4xx → `invalid`;
//! 5xx and network failures → `unavailable`.
//!
//! **API limits.** Salesforce counts requests per org over a rolling 24 hours and
//! says so on every answer (`Sforce-Limit-Info: api-usage=18/5000`). When usage
//! reaches `api_usage_ceiling_percent`, or Salesforce refuses with
//! `REQUEST_LIMIT_EXCEEDED`, the connector stops calling for `limit_wait_seconds`
//! (kept in its key-value store, so every call of the tenant sees it) and answers
//! `rate-limited`: the host's writes wait without losing anything, and the other
//! integrations of the org keep their share.

use crate::Config;
use scrm_plugin_sdk::ConnectorError;
use scrm_plugin_sdk::http::{self, Response};
use serde_json::{Value, json};

/// The key-value entry holding "no calls before this Unix ms".
const PAUSE_KEY: &str = "api-pause-until";
/// How long to wait when Salesforce refuses a concurrent long-running request.
const CONCURRENCY_WAIT_SECS: u32 = 5;

/// One Salesforce error of an error body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SfError {
    /// `errorCode`, e.g. `REQUIRED_FIELD_MISSING`.
    pub code: String,
    /// `message`.
    pub message: String,
    /// `fields`, when the error names some.
    pub fields: Vec<String>,
}

/// The errors of an error body (an array of `{message, errorCode, fields}`).
pub fn errors(body: &Value) -> Vec<SfError> {
    let list = match body {
        Value::Array(a) => a.clone(),
        Value::Object(_) => vec![body.clone()],
        _ => Vec::new(),
    };
    list.iter()
        .filter_map(|e| {
            Some(SfError {
                code: e["errorCode"].as_str()?.to_string(),
                message: e["message"].as_str().unwrap_or_default().to_string(),
                fields: e["fields"]
                    .as_array()
                    .map(|f| {
                        f.iter()
                            .filter_map(|x| x.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// `CODE: message (fields: A, B)` for each error, joined.
pub fn describe(errors: &[SfError]) -> String {
    errors
        .iter()
        .map(|e| {
            let mut s = format!("{}: {}", e.code, e.message.trim());
            if !e.fields.is_empty() {
                s.push_str(&format!(" (fields: {})", e.fields.join(", ")));
            }
            s
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// `(used, limit)` of a `Sforce-Limit-Info` header (`api-usage=18/5000; …`).
pub fn api_usage(header: &str) -> Option<(u64, u64)> {
    header.split(';').find_map(|part| {
        let (key, value) = part.trim().split_once('=')?;
        if key.trim() != "api-usage" {
            return None;
        }
        let (used, limit) = value.trim().split_once('/')?;
        Some((used.trim().parse().ok()?, limit.trim().parse().ok()?))
    })
}

/// Maps a non-2xx answer onto the connector contract; `what` names the operation
/// (never a phone number or a token).
pub fn failure(
    cfg: &Config,
    what: &str,
    status: u16,
    body: &Value,
    retry_after: Option<u32>,
) -> ConnectorError {
    let errs = errors(body);
    let text = if errs.is_empty() {
        format!("{what}: HTTP {status}")
    } else {
        format!("{what}: HTTP {status} {}", describe(&errs))
    };
    let has = |code: &str| errs.iter().any(|e| e.code == code);
    match status {
        401 => ConnectorError::Unauthorized(text),
        403 if has("REQUEST_LIMIT_EXCEEDED") => {
            let concurrent = errs.iter().any(|e| e.message.contains("Concurrent"));
            ConnectorError::RateLimited(retry_after.unwrap_or(if concurrent {
                CONCURRENCY_WAIT_SECS
            } else {
                cfg.limit_wait_seconds
            }))
        }
        403 => ConnectorError::Unauthorized(text),
        404 => ConnectorError::NotFound(text),
        429 => ConnectorError::RateLimited(retry_after.unwrap_or(cfg.limit_wait_seconds)),
        300..=499 => ConnectorError::Invalid(text),
        _ => ConnectorError::Unavailable(text),
    }
}

fn header<'a>(resp: &'a Response, name: &str) -> Option<&'a str> {
    resp.headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| std::str::from_utf8(v).ok())
}

/// The REST API of one org, as configured.
#[derive(Debug)]
pub struct Api<'a> {
    cfg: &'a Config,
}

impl<'a> Api<'a> {
    /// The API of `cfg`'s org.
    pub fn new(cfg: &'a Config) -> Api<'a> {
        Api { cfg }
    }

    /// `/services/data/vXX.X`: the prefix of every resource path.
    pub fn base_path(&self) -> String {
        format!("/services/data/v{}", self.cfg.api_version)
    }

    /// The pause still to wait, in whole seconds, if calls are paused.
    fn paused(&self) -> Option<u32> {
        let raw = scrm_plugin_sdk::kv::get(PAUSE_KEY).ok().flatten()?;
        let until: i64 = std::str::from_utf8(&raw).ok()?.trim().parse().ok()?;
        let left = until - scrm_plugin_sdk::clock::now_ms();
        (left > 0).then(|| u32::try_from((left + 999) / 1000).unwrap_or(u32::MAX))
    }

    fn pause(&self, secs: u32) {
        let until = scrm_plugin_sdk::clock::now_ms() + i64::from(secs) * 1000;
        // Best effort: without the entry each call still hears Salesforce's 403.
        let _ = scrm_plugin_sdk::kv::set(PAUSE_KEY, until.to_string().as_bytes());
    }

    /// Sends `method path` (a path from [`Api::base_path`] or a `nextRecordsUrl`)
    /// and returns the JSON answer (`null` for 204).
    ///
    /// # Errors
    /// [`ConnectorError`] as mapped by [`failure`]; `rate-limited` without a request
    /// while calls are paused.
    pub fn send(
        &self,
        what: &str,
        method: &str,
        path: &str,
        body: Option<&Value>,
        extra_headers: &[(&str, &str)],
    ) -> Result<Value, ConnectorError> {
        if let Some(wait) = self.paused() {
            return Err(ConnectorError::RateLimited(wait));
        }
        let url = format!("{}{path}", self.cfg.instance_url.trim_end_matches('/'));
        let raw = body.map(|b| b.to_string().into_bytes());
        let mut headers = vec![("accept", "application/json")];
        if raw.is_some() {
            headers.push(("content-type", "application/json"));
        }
        headers.extend_from_slice(extra_headers);
        let resp = http::request(method, &url, &headers, raw.as_deref())
            .map_err(|e| ConnectorError::Unavailable(format!("{what}: {e:?}")))?;
        if let Some((used, limit)) = header(&resp, "sforce-limit-info").and_then(api_usage) {
            let ceiling = u64::from(self.cfg.api_usage_ceiling_percent);
            if ceiling > 0 && limit > 0 && used * 100 >= limit * ceiling {
                scrm_plugin_sdk::log::warn(&format!(
                    "Salesforce API usage {used}/{limit} reached the ceiling of {ceiling} %; \
                     pausing calls for {} s",
                    self.cfg.limit_wait_seconds
                ));
                self.pause(self.cfg.limit_wait_seconds);
            }
        }
        let text = String::from_utf8_lossy(&resp.body);
        let json: Value = if text.trim().is_empty() {
            Value::Null
        } else {
            match serde_json::from_str(&text) {
                Ok(v) => v,
                Err(_) if (200..300).contains(&resp.status) => {
                    return Err(ConnectorError::Failed(format!(
                        "{what}: HTTP {} with a body that is not JSON",
                        resp.status
                    )));
                }
                // A proxy's or a maintenance page's HTML: the status says enough.
                Err(_) => Value::Null,
            }
        };
        if (200..300).contains(&resp.status) {
            return Ok(json);
        }
        let retry_after = header(&resp, "retry-after").and_then(|v| v.trim().parse().ok());
        let err = failure(self.cfg, what, resp.status, &json, retry_after);
        // The org is out of daily requests: every call of the tenant waits, not just
        // this one (a concurrency refusal is shorter and only this call waits).
        if resp.status == 403
            && let ConnectorError::RateLimited(secs) = &err
            && *secs >= self.cfg.limit_wait_seconds
        {
            self.pause(*secs);
        }
        Err(err)
    }

    /// Sends one composite request of `subrequests` (`{method, url, referenceId,
    /// body}`) with `allOrNone: true`: every write in it happens, or none. Returns
    /// each subrequest's `(httpStatusCode, body)` in order.
    ///
    /// # Errors
    /// The top-level failure, or the subrequest error that caused the rollback
    /// (not the `PROCESSING_HALTED` of the others), mapped like a plain request's.
    pub fn composite(
        &self,
        what: &str,
        subrequests: Vec<Value>,
    ) -> Result<Vec<(u16, Value)>, ConnectorError> {
        let body = json!({"allOrNone": true, "compositeRequest": subrequests});
        let path = format!("{}/composite", self.base_path());
        let answer = self.send(what, "POST", &path, Some(&body), &[])?;
        composite_results(self.cfg, what, &answer)
    }
}

/// The subrequest results of a composite answer, or the error that failed it.
pub fn composite_results(
    cfg: &Config,
    what: &str,
    answer: &Value,
) -> Result<Vec<(u16, Value)>, ConnectorError> {
    let results: Vec<(u16, Value)> = answer["compositeResponse"]
        .as_array()
        .ok_or_else(|| {
            ConnectorError::Failed(format!("{what}: no compositeResponse in the answer"))
        })?
        .iter()
        .map(|r| {
            (
                r["httpStatusCode"]
                    .as_u64()
                    .and_then(|s| u16::try_from(s).ok())
                    .unwrap_or(500),
                r["body"].clone(),
            )
        })
        .collect();
    let failed = |(status, _): &&(u16, Value)| *status >= 300;
    let halted =
        |(_, body): &&(u16, Value)| errors(body).iter().all(|e| e.code == "PROCESSING_HALTED");
    // The cause is the failure that is not just "rolled back because another failed".
    if let Some((status, body)) = results
        .iter()
        .filter(failed)
        .find(|r| !halted(r))
        .or_else(|| results.iter().find(failed))
    {
        return Err(failure(cfg, what, *status, body, None));
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Config {
        Config {
            instance_url: "https://acme.my.salesforce.com".into(),
            limit_wait_seconds: 300,
            ..Config::default()
        }
    }

    #[test]
    fn error_bodies_are_described_with_their_fields() {
        let body = json!([{"message": "Required fields are missing: [LastName]",
                           "errorCode": "REQUIRED_FIELD_MISSING", "fields": ["LastName"]}]);
        let e = failure(&cfg(), "upsert Contact", 400, &body, None);
        assert!(
            matches!(&e, ConnectorError::Invalid(m) if m == "upsert Contact: HTTP 400 REQUIRED_FIELD_MISSING: Required fields are missing: [LastName] (fields: LastName)"),
            "{e:?}"
        );
    }

    #[test]
    fn statuses_map_onto_the_contract() {
        let c = cfg();
        let session =
            json!([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]);
        assert!(matches!(
            failure(&c, "x", 401, &session, None),
            ConnectorError::Unauthorized(_)
        ));
        let total = json!([{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]);
        assert!(matches!(
            failure(&c, "x", 403, &total, None),
            ConnectorError::RateLimited(300)
        ));
        let concurrent = json!([{"message": "ConcurrentPerOrgLongTxn Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]);
        assert!(matches!(
            failure(&c, "x", 403, &concurrent, None),
            ConnectorError::RateLimited(5)
        ));
        let access = json!([{"message": "insufficient access", "errorCode": "INSUFFICIENT_ACCESS_OR_READONLY"}]);
        assert!(matches!(
            failure(&c, "x", 403, &access, None),
            ConnectorError::Unauthorized(_)
        ));
        let missing =
            json!([{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}]);
        assert!(matches!(
            failure(&c, "x", 404, &missing, None),
            ConnectorError::NotFound(_)
        ));
        assert!(matches!(
            failure(&c, "x", 300, &json!([]), None),
            ConnectorError::Invalid(_)
        ));
        assert!(matches!(
            failure(&c, "x", 503, &Value::Null, None),
            ConnectorError::Unavailable(_)
        ));
        assert!(matches!(
            failure(
                &c,
                "x",
                500,
                &json!([{"errorCode": "UNKNOWN_EXCEPTION", "message": "boom"}]),
                None
            ),
            ConnectorError::Unavailable(_)
        ));
    }

    #[test]
    fn limit_info_headers_are_read() {
        assert_eq!(api_usage("api-usage=18/5000"), Some((18, 5000)));
        assert_eq!(
            api_usage("api-usage=110018/100000; api-bursts=1/750"),
            Some((110_018, 100_000))
        );
        assert_eq!(
            api_usage("per-app-api-usage=17/250(appName=x); api-usage=25/5000"),
            Some((25, 5000))
        );
        assert_eq!(api_usage("api-usage=abc"), None);
    }

    #[test]
    fn a_rolled_back_composite_reports_the_cause() {
        let answer = json!({"compositeResponse": [
            {"body": [{"errorCode": "PROCESSING_HALTED",
                       "message": "The transaction was rolled back since another operation in the same transaction failed."}],
             "httpHeaders": {}, "httpStatusCode": 400, "referenceId": "refOpp"},
            {"body": [{"errorCode": "INVALID_CROSS_REFERENCE_KEY", "message": "invalid cross reference id", "fields": ["ContactId"]}],
             "httpHeaders": {}, "httpStatusCode": 400, "referenceId": "refRole"},
            {"body": [{"errorCode": "PROCESSING_HALTED", "message": "The transaction was rolled back since another operation in the same transaction failed."}],
             "httpHeaders": {}, "httpStatusCode": 400, "referenceId": "refRead"}
        ]});
        let e = composite_results(&cfg(), "create Opportunity", &answer).unwrap_err();
        assert!(
            matches!(&e, ConnectorError::Invalid(m) if m.contains("INVALID_CROSS_REFERENCE_KEY") && m.contains("ContactId")),
            "{e:?}"
        );
        let ok = json!({"compositeResponse": [
            {"body": {"id": "003000000000001AAA", "success": true, "errors": [], "created": true},
             "httpHeaders": {"Location": "/services/data/v62.0/sobjects/Contact/003000000000001AAA"},
             "httpStatusCode": 201, "referenceId": "refContact"},
            {"body": {"attributes": {"type": "Contact"}, "Id": "003000000000001AAA",
                      "LastModifiedDate": "2026-11-25T19:20:00.000+0000"},
             "httpHeaders": {}, "httpStatusCode": 200, "referenceId": "refContactRead"}
        ]});
        let r = composite_results(&cfg(), "upsert Contact", &ok).unwrap();
        assert_eq!(r[0].0, 201);
        assert_eq!(r[1].1["Id"], "003000000000001AAA");
    }

    #[test]
    fn a_missing_record_in_a_composite_is_not_found() {
        let answer = json!({"compositeResponse": [
            {"body": [{"errorCode": "NOT_FOUND", "message": "Provided external ID field does not exist or is not accessible: 003000000000009AAA"}],
             "httpHeaders": {}, "httpStatusCode": 404, "referenceId": "refContact"},
            {"body": [{"errorCode": "PROCESSING_HALTED", "message": "The transaction was rolled back since another operation in the same transaction failed."}],
             "httpHeaders": {}, "httpStatusCode": 400, "referenceId": "refContactRead"}
        ]});
        assert!(matches!(
            composite_results(&cfg(), "update Contact", &answer),
            Err(ConnectorError::NotFound(_))
        ));
    }
}
