//! HubSpot's webhooks: the v3 signature, base64(HMAC-SHA256(client secret, `POST` +
//! URL + body + timestamp)) in `X-HubSpot-Signature-v3`, with the timestamp (Unix
//! ms) in `X-HubSpot-Request-Timestamp`, and an array of events naming objects.
//! The host computes the HMAC with the tenant secret, which never enters the plugin.

use crate::hubspot::Config;
use base64::Engine as _;
use scrm_plugin_sdk::ConnectorError;
use serde_json::Value;

/// Deliveries older than this are refused (HubSpot: five minutes).
const MAX_AGE_MS: i64 = 5 * 60 * 1000;

fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.trim())
}

/// Checks a delivery's signature and age.
///
/// # Errors
/// `unauthorized` for a missing, stale or wrong signature; `invalid` when webhooks
/// are not configured; `failed` when the host cannot compute the HMAC.
pub fn verify(
    cfg: &Config,
    headers: &[(String, String)],
    body: &[u8],
    now_ms: i64,
) -> Result<(), ConnectorError> {
    let (Some(secret), Some(url)) = (&cfg.webhook_secret, &cfg.webhook_url) else {
        return Err(ConnectorError::Invalid(
            "webhooks are not configured: set webhook_secret and webhook_url".into(),
        ));
    };
    let refuse = |why: &str| ConnectorError::Unauthorized(format!("HubSpot webhook: {why}"));
    let signature = header(headers, "x-hubspot-signature-v3").ok_or_else(|| refuse("unsigned"))?;
    let timestamp =
        header(headers, "x-hubspot-request-timestamp").ok_or_else(|| refuse("no timestamp"))?;
    let sent: i64 = timestamp.parse().map_err(|_| refuse("bad timestamp"))?;
    if now_ms - sent > MAX_AGE_MS {
        return Err(refuse("older than 5 minutes"));
    }
    let expected = base64::engine::general_purpose::STANDARD
        .decode(signature)
        .map_err(|_| refuse("the signature is not base64"))?;
    let signed = [b"POST", url.as_bytes(), body, timestamp.as_bytes()].concat();
    match scrm_plugin_sdk::secrets::hmac_sha256_matches(secret, &signed, &expected) {
        Ok(true) => Ok(()),
        Ok(false) => Err(refuse("the signature does not match")),
        Err(e) => Err(ConnectorError::Failed(format!("cannot check the signature: {e}"))),
    }
}

/// The ids of the contacts a delivery's `contact.*` events name, each once.
///
/// # Errors
/// `invalid` when the body is not HubSpot's event array.
pub fn contact_ids(body: &[u8]) -> Result<Vec<String>, ConnectorError> {
    let events: Vec<Value> = serde_json::from_slice(body)
        .map_err(|e| ConnectorError::Invalid(format!("not HubSpot's event array: {e}")))?;
    let mut ids = Vec::new();
    for event in &events {
        let contact = event["subscriptionType"]
            .as_str()
            .is_some_and(|t| t.starts_with("contact."));
        let id = match &event["objectId"] {
            Value::Number(n) => n.to_string(),
            Value::String(s) => s.clone(),
            _ => continue,
        };
        if contact && !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(ids)
}
