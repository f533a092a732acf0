//! One request to Zoho, and the one mapping of Zoho's answers onto the connector
//! contract.
//!
//! Zoho answers errors as `{"code","details","message","status":"error"}`, either at
//! the top level (authentication, rate limits, URL errors, server errors) or per
//! record inside `{"data":[…]}` (validation errors of writes).

use crate::config::Config;
use crate::when;
use scrm_plugin_sdk::ConnectorError;
use scrm_plugin_sdk::http;
use serde_json::Value;

/// Wait used when a 429 says nothing about how long to wait, seconds.
const DEFAULT_WAIT: u32 = 60;

/// A successful answer.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status (2xx, or 304).
    pub status: u16,
    /// The JSON body; `Null` when empty (204, 304).
    pub body: Value,
    /// The response's `Date`, Unix seconds: Zoho's clock.
    pub date: Option<i64>,
}

/// Sends `method` `{api}/{path}` with `headers` and a JSON `body`.
///
/// # Errors
/// The Zoho answer mapped by [`failure`]; `Unavailable` when Zoho cannot be reached.
pub fn send(
    cfg: &Config,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> Result<Reply, ConnectorError> {
    let url = cfg.url(path);
    let raw = body.map(|b| b.to_string().into_bytes());
    let mut all = vec![("accept", "application/json")];
    if raw.is_some() {
        all.push(("content-type", "application/json"));
    }
    all.extend_from_slice(headers);
    let what = format!("{method} /crm/{}/{path}", cfg.api_version);
    let resp = http::request(method, &url, &all, raw.as_deref())
        .map_err(|e| ConnectorError::Unavailable(format!("{what}: {e:?}")))?;
    let header = |name: &str| {
        resp.headers
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    };
    let text = String::from_utf8_lossy(&resp.body);
    let json = if text.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text)
            .unwrap_or_else(|_| Value::String(text.chars().take(300).collect()))
    };
    let retry_after = header("retry-after").and_then(|v| v.trim().parse().ok());
    if let Some(e) = failure(resp.status, retry_after, &json, &what) {
        return Err(e);
    }
    if (200..300).contains(&resp.status) && resp.status != 204 && !json.is_object() {
        return Err(ConnectorError::Failed(format!(
            "{what}: {} with a body that is not a JSON object: {json}",
            resp.status
        )));
    }
    Ok(Reply {
        status: resp.status,
        body: json,
        date: header("date").and_then(when::parse_http_date),
    })
}

/// The error item of an answer: the top-level object, or the first record result,
/// when its `status` is `"error"` (or, at the top level, when it has a `code`).
fn error_item(body: &Value) -> Option<&Value> {
    if let Some(first) = body["data"].as_array().and_then(|d| d.first()) {
        return (first["status"] == "error").then_some(first);
    }
    (body["status"] == "error" || body["code"].is_string()).then_some(body)
}

/// Whether an error item says the record it names does not exist (an update of a
/// deleted contact, a note on one).
fn names_missing_record(item: &Value) -> bool {
    let message = item["message"].as_str().unwrap_or_default().to_lowercase();
    let api_name = item["details"]["api_name"].as_str().unwrap_or_default();
    item["code"] == "INVALID_DATA"
        && (message.contains("id given seems to be invalid")
            || matches!(api_name, "id" | "Parent_Id" | "Contact_Name"))
}

/// How long a 429 asks to wait: `Retry-After`, else `details.retry_after`, else a
/// minute; 1 s to 1 h.
fn wait_secs(retry_after: Option<u32>, item: Option<&Value>) -> u32 {
    retry_after
        .or_else(|| {
            item.and_then(|i| i["details"]["retry_after"].as_u64())
                .and_then(|s| u32::try_from(s).ok())
        })
        .unwrap_or(DEFAULT_WAIT)
        .clamp(1, 3600)
}

/// The connector error for an answer, `None` when it is a success (2xx without an
/// error item, or 304). `what` names the request in the message.
pub fn failure(
    status: u16,
    retry_after: Option<u32>,
    body: &Value,
    what: &str,
) -> Option<ConnectorError> {
    let item = error_item(body);
    let describe = || {
        let code = item.and_then(|i| i["code"].as_str()).unwrap_or("-");
        let message = item.and_then(|i| i["message"].as_str()).unwrap_or("");
        let details = item.map(|i| i["details"].to_string()).unwrap_or_default();
        let mut text = format!("{what}: {status} {code}: {message} {details}");
        if text.len() > 400 {
            let mut end = 400;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
        }
        text
    };
    let by_code = |fallback: fn(String) -> ConnectorError| {
        let code = item.and_then(|i| i["code"].as_str()).unwrap_or_default();
        match code {
            "INVALID_TOKEN"
            | "AUTHENTICATION_FAILURE"
            | "OAUTH_SCOPE_MISMATCH"
            | "NO_PERMISSION"
            | "AUTHORIZATION_FAILED" => ConnectorError::Unauthorized(describe()),
            "TOO_MANY_REQUESTS" => ConnectorError::RateLimited(wait_secs(retry_after, item)),
            "NO_CONTENT" | "NOT_FOUND" => ConnectorError::NotFound(describe()),
            "INTERNAL_ERROR" => ConnectorError::Unavailable(describe()),
            _ if item.is_some_and(names_missing_record) => ConnectorError::NotFound(describe()),
            _ => fallback(describe()),
        }
    };
    match status {
        204 | 304 => None,
        200..=299 => item.map(|_| by_code(ConnectorError::Invalid)),
        401 | 403 => Some(ConnectorError::Unauthorized(describe())),
        404 => Some(ConnectorError::NotFound(describe())),
        429 => Some(ConnectorError::RateLimited(wait_secs(retry_after, item))),
        400..=499 => Some(by_code(ConnectorError::Invalid)),
        _ => Some(ConnectorError::Unavailable(describe())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(status: u16, retry_after: Option<u32>, body: Value) -> Option<ConnectorError> {
        failure(status, retry_after, &body, "POST /crm/v8/Contacts/upsert")
    }

    #[test]
    fn successes_are_not_errors() {
        let ok =
            json!({"data": [{"code": "SUCCESS", "status": "success", "details": {"id": "1"}}]});
        assert!(err(200, None, ok.clone()).is_none());
        assert!(err(201, None, ok).is_none());
        assert!(err(204, None, Value::Null).is_none());
        assert!(err(304, None, Value::Null).is_none());
    }

    #[test]
    fn expired_or_missing_tokens_are_unauthorized() {
        let body = json!({"code": "INVALID_TOKEN", "details": {}, "message": "invalid oauth token", "status": "error"});
        assert!(
            matches!(err(401, None, body), Some(ConnectorError::Unauthorized(m)) if m.contains("INVALID_TOKEN"))
        );
        let scope = json!({"code": "OAUTH_SCOPE_MISMATCH", "details": {}, "message": "Unauthorized", "status": "error"});
        assert!(matches!(
            err(401, None, scope),
            Some(ConnectorError::Unauthorized(_))
        ));
        let perm = json!({"code": "NO_PERMISSION", "details": {"permissions": ["Crm_Implied_View_Leads"]}, "message": "Permission denied", "status": "error"});
        assert!(matches!(
            err(403, None, perm),
            Some(ConnectorError::Unauthorized(_))
        ));
    }

    #[test]
    fn rate_limits_wait_as_long_as_zoho_says() {
        let body = json!({"code": "TOO_MANY_REQUESTS", "details": {"retry_after": 7, "limit": 100, "window": 60},
                          "message": "Rate limit exceeded. Please retry after the specified time.", "status": "error"});
        assert!(matches!(
            err(429, None, body.clone()),
            Some(ConnectorError::RateLimited(7))
        ));
        assert!(matches!(
            err(429, Some(3), body),
            Some(ConnectorError::RateLimited(3))
        ));
        let bare =
            json!({"code": "TOO_MANY_REQUESTS", "details": {}, "message": "", "status": "error"});
        assert!(matches!(
            err(429, None, bare),
            Some(ConnectorError::RateLimited(60))
        ));
        assert!(matches!(
            err(429, Some(0), Value::Null),
            Some(ConnectorError::RateLimited(1))
        ));
    }

    #[test]
    fn bad_data_is_invalid_and_a_missing_record_is_not_found() {
        let bad = json!({"data": [{"code": "INVALID_DATA", "details": {"api_name": "Mobile", "json_path": "$.data[0].Mobile"},
                                   "message": "invalid data", "status": "error"}]});
        assert!(
            matches!(err(400, None, bad), Some(ConnectorError::Invalid(m)) if m.contains("Mobile"))
        );
        let mandatory = json!({"data": [{"code": "MANDATORY_NOT_FOUND", "details": {"api_name": "Last_Name"},
                                         "message": "required field not found", "status": "error"}]});
        assert!(matches!(
            err(400, None, mandatory),
            Some(ConnectorError::Invalid(_))
        ));
        let gone = json!({"data": [{"code": "INVALID_DATA", "details": {"id": "9"},
                                    "message": "the id given seems to be invalid", "status": "error"}]});
        assert!(matches!(
            err(400, None, gone),
            Some(ConnectorError::NotFound(_))
        ));
        let parent = json!({"data": [{"code": "INVALID_DATA", "details": {"api_name": "Parent_Id", "json_path": "$.data[0].Parent_Id"},
                                      "message": "invalid data", "status": "error"}]});
        assert!(matches!(
            err(400, None, parent),
            Some(ConnectorError::NotFound(_))
        ));
        let url = json!({"code": "INVALID_URL_PATTERN", "details": {}, "message": "Please check if the URL trying to access is a correct one", "status": "error"});
        assert!(matches!(
            err(404, None, url),
            Some(ConnectorError::NotFound(_))
        ));
    }

    #[test]
    fn error_items_inside_a_success_status_are_errors() {
        let mixed = json!({"data": [{"code": "INVALID_DATA", "details": {"api_name": "Company"}, "message": "invalid data", "status": "error"}]});
        assert!(matches!(
            err(207, None, mixed),
            Some(ConnectorError::Invalid(_))
        ));
    }

    #[test]
    fn server_errors_are_unavailable() {
        let body = json!({"code": "INTERNAL_ERROR", "details": {}, "message": "Internal Server Error", "status": "error"});
        assert!(matches!(
            err(500, None, body),
            Some(ConnectorError::Unavailable(_))
        ));
        assert!(matches!(
            err(503, None, Value::String("<html>".into())),
            Some(ConnectorError::Unavailable(_))
        ));
    }
}
