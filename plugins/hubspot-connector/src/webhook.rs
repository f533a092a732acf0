//! HubSpot webhooks: the v3 request signature and the event array.
//!
//! HubSpot signs each delivery with `X-HubSpot-Signature-v3` =
//! base64(HMAC-SHA256(client secret, method + URI + body + timestamp)) and sends the
//! timestamp (Unix ms) in `X-HubSpot-Request-Timestamp`; a delivery older than five
//! minutes is refused. The URI is the full public URL with the URL-encoded characters
//! HubSpot lists decoded. The HMAC is computed by the host with the tenant secret
//! (`scrm:plugin/secrets`), so the client secret never enters the plugin.
//!
//! The body is an array of up to 100 events such as
//! `{"eventId":1,"subscriptionId":2,"portalId":3,"appId":4,"occurredAt":1564113600000,
//! "subscriptionType":"contact.propertyChange","attemptNumber":0,"objectId":123,
//! "propertyName":"firstname","propertyValue":"Mario","changeSource":"CRM"}`.

use crate::config::Config;
use crate::contacts;
use base64::Engine as _;
use scrm_plugin_sdk::{ConnectorError, CrmRecord, Field, FieldValue};
use serde_json::Value;
use std::collections::BTreeMap;

/// Deliveries older than this are refused (HubSpot: five minutes).
pub const MAX_AGE_MS: i64 = 5 * 60 * 1000;

/// The URL-encoded characters HubSpot decodes in the URI before signing.
const DECODED: [(&str, &str); 12] = [
    ("%3A", ":"),
    ("%2F", "/"),
    ("%3F", "?"),
    ("%40", "@"),
    ("%21", "!"),
    ("%24", "$"),
    ("%27", "'"),
    ("%28", "("),
    ("%29", ")"),
    ("%2A", "*"),
    ("%2C", ","),
    ("%3B", ";"),
];

/// `uri` with the characters HubSpot decodes before signing decoded.
pub fn decode_uri(uri: &str) -> String {
    let mut out = String::with_capacity(uri.len());
    let mut rest = uri;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        match DECODED
            .iter()
            .find(|(enc, _)| tail.get(..3).is_some_and(|t| t.eq_ignore_ascii_case(enc)))
        {
            Some((_, plain)) => {
                out.push_str(plain);
                rest = &tail[3..];
            }
            None => {
                out.push('%');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The bytes HubSpot signs: method + URI + body + timestamp.
pub fn signed_bytes(method: &str, uri: &str, body: &[u8], timestamp: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(method.len() + uri.len() + body.len() + timestamp.len());
    out.extend_from_slice(method.as_bytes());
    out.extend_from_slice(decode_uri(uri).as_bytes());
    out.extend_from_slice(body);
    out.extend_from_slice(timestamp.as_bytes());
    out
}

fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

/// Checks a delivery's v3 signature and age. `matches(secret, data, expected)` says
/// whether `expected` is the HMAC of `data` with the tenant secret `secret`.
///
/// # Errors
/// `unauthorized` for a missing, stale or wrong signature; `invalid` when webhooks
/// are not configured; `failed` when the host cannot compute the HMAC (no such
/// secret, or the policy does not list it).
pub fn verify(
    cfg: &Config,
    headers: &[(String, String)],
    body: &[u8],
    now_ms: i64,
    matches: impl FnOnce(&str, &[u8], &[u8]) -> Result<bool, String>,
) -> Result<(), ConnectorError> {
    let (Some(secret), Some(url)) = (&cfg.webhook_secret, &cfg.webhook_url) else {
        return Err(ConnectorError::Invalid(
            "HubSpot webhooks are not configured: set webhook_secret and webhook_url".into(),
        ));
    };
    let unauthorized = |why: &str| ConnectorError::Unauthorized(format!("HubSpot webhook: {why}"));
    let signature = header(headers, "x-hubspot-signature-v3")
        .ok_or_else(|| unauthorized("no X-HubSpot-Signature-v3 header"))?;
    let timestamp = header(headers, "x-hubspot-request-timestamp")
        .ok_or_else(|| unauthorized("no X-HubSpot-Request-Timestamp header"))?;
    let sent: i64 = timestamp
        .parse()
        .map_err(|_| unauthorized("X-HubSpot-Request-Timestamp is not Unix milliseconds"))?;
    if now_ms - sent > MAX_AGE_MS {
        return Err(unauthorized("the delivery is older than 5 minutes"));
    }
    let expected = base64::engine::general_purpose::STANDARD
        .decode(signature)
        .map_err(|_| unauthorized("X-HubSpot-Signature-v3 is not base64"))?;
    let data = signed_bytes("POST", url, body, timestamp);
    match matches(secret, &data, &expected) {
        Ok(true) => Ok(()),
        Ok(false) => Err(unauthorized(
            "the X-HubSpot-Signature-v3 signature does not match",
        )),
        Err(e) => Err(ConnectorError::Failed(format!(
            "cannot check the HubSpot webhook signature: {e}"
        ))),
    }
}

/// What one delivery says about one contact.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ContactChange {
    /// HubSpot's contact id.
    pub id: String,
    /// The newest event's time, Unix ms.
    pub occurred_at: i64,
    /// Changed properties, newest value of each.
    pub properties: BTreeMap<String, String>,
    /// The contact was created or restored (the events carry no properties).
    pub created: bool,
}

/// The contact changes in a delivery, in the order their contacts first appear.
/// Events about other objects, deletions, merges and association changes are left
/// out: the connector contract has no way to say them.
///
/// # Errors
/// `invalid` when the body is not HubSpot's event array.
pub fn contact_changes(body: &[u8]) -> Result<Vec<ContactChange>, ConnectorError> {
    let events: Vec<Value> = serde_json::from_slice(body).map_err(|e| {
        ConnectorError::Invalid(format!("HubSpot webhook body is not an event array: {e}"))
    })?;
    let mut changes: Vec<ContactChange> = Vec::new();
    let mut newest: BTreeMap<(String, String), i64> = BTreeMap::new();
    for event in &events {
        let kind = event["subscriptionType"].as_str().ok_or_else(|| {
            ConnectorError::Invalid(format!(
                "HubSpot webhook event without subscriptionType: {event}"
            ))
        })?;
        let action = match kind.split_once('.') {
            Some(("contact", action)) => action,
            Some(("object", action)) if event["objectTypeId"] == "0-1" => action,
            _ => continue,
        };
        if !matches!(action, "propertyChange" | "creation" | "restore") {
            continue;
        }
        let id = match &event["objectId"] {
            Value::Number(n) => n.to_string(),
            Value::String(s) if !s.is_empty() => s.clone(),
            _ => {
                return Err(ConnectorError::Invalid(format!(
                    "HubSpot webhook event without objectId: {event}"
                )));
            }
        };
        let at = event["occurredAt"].as_i64().ok_or_else(|| {
            ConnectorError::Invalid(format!("HubSpot webhook event without occurredAt: {event}"))
        })?;
        let i = match changes.iter().position(|c| c.id == id) {
            Some(i) => i,
            None => {
                changes.push(ContactChange {
                    id: id.clone(),
                    ..ContactChange::default()
                });
                changes.len() - 1
            }
        };
        let change = &mut changes[i];
        change.occurred_at = change.occurred_at.max(at);
        if action == "propertyChange" {
            let Some(name) = event["propertyName"].as_str() else {
                continue;
            };
            let key = (id.clone(), name.to_string());
            if newest.get(&key).is_some_and(|t| *t > at) {
                continue;
            }
            newest.insert(key, at);
            let value = match &event["propertyValue"] {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            change.properties.insert(name.to_string(), value);
        } else {
            change.created = true;
        }
    }
    Ok(changes)
}

impl ContactChange {
    /// Whether the events leave the contact's name or phone unknown, so the contact
    /// must be read: a creation, or one of first and last name without the other.
    pub fn needs_read(&self, cfg: &Config) -> bool {
        self.created
            || (cfg.name_property.is_none()
                && self.properties.contains_key("firstname")
                    != self.properties.contains_key("lastname"))
    }

    /// Whether any property the host keeps changed.
    pub fn relevant(&self, cfg: &Config) -> bool {
        self.created
            || cfg
                .contact_properties()
                .iter()
                .any(|p| p != "lastmodifieddate" && self.properties.contains_key(p))
    }

    /// The change as a CRM record: from the contact as read (`current`) when the
    /// events alone do not tell its name, else from the events' property values.
    pub fn record(&self, cfg: &Config, current: Option<&Value>) -> Option<CrmRecord> {
        let mut record = match current {
            Some(object) => contacts::record(cfg, object)?,
            None => {
                let mut fields = Vec::new();
                let name = match &cfg.name_property {
                    Some(p) => self.properties.get(p).map(|n| n.trim().to_string()),
                    None if self.properties.contains_key("firstname")
                        || self.properties.contains_key("lastname") =>
                    {
                        Some(
                            contacts::join_name(
                                self.properties.get("firstname").map(String::as_str),
                                self.properties.get("lastname").map(String::as_str),
                            )
                            .unwrap_or_default(),
                        )
                    }
                    None => None,
                };
                if let Some(n) = name {
                    fields.push(Field {
                        name: "name".into(),
                        value: if n.is_empty() {
                            FieldValue::Empty
                        } else {
                            FieldValue::Text(n)
                        },
                    });
                }
                if let Some(p) = self.properties.get(&cfg.phone_property)
                    && !p.trim().is_empty()
                {
                    fields.push(Field {
                        name: "phone".into(),
                        value: FieldValue::Text(p.trim().into()),
                    });
                }
                for p in &cfg.pull_properties {
                    if *p == cfg.phone_property || cfg.name_property.as_ref() == Some(p) {
                        continue;
                    }
                    if let Some(v) = self.properties.get(p) {
                        fields.push(Field {
                            name: p.clone(),
                            value: if v.is_empty() {
                                FieldValue::Empty
                            } else {
                                FieldValue::Text(v.clone())
                            },
                        });
                    }
                }
                CrmRecord {
                    object: "contact".into(),
                    id: Some(self.id.clone()),
                    fields,
                    updated_at: None,
                }
            }
        };
        record.updated_at = Some(self.occurred_at);
        Some(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SECRET: &str = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy";
    const URL: &str = "https://scrm.example.com/v1/crm/acme/webhook";

    fn cfg() -> Config {
        Config::parse(
            format!("webhook_secret = \"hubspot_client_secret\"\nwebhook_url = \"{URL}\"\n")
                .as_bytes(),
        )
        .unwrap()
    }

    /// A stand-in for the host's HMAC: the digest is the signed bytes themselves,
    /// so the test sees exactly what would be signed.
    fn echo_hmac(name: &str, data: &[u8], expected: &[u8]) -> Result<bool, String> {
        assert_eq!(name, "hubspot_client_secret");
        Ok(data == expected)
    }

    fn headers(sig: &[u8], ts: &str) -> Vec<(String, String)> {
        vec![
            (
                "x-hubspot-signature-v3".into(),
                base64::engine::general_purpose::STANDARD.encode(sig),
            ),
            ("x-hubspot-request-timestamp".into(), ts.into()),
        ]
    }

    #[test]
    fn the_signed_string_is_method_uri_body_timestamp() {
        let body = br#"[{"eventId":1}]"#;
        let data = signed_bytes("POST", URL, body, "1700000000000");
        assert_eq!(
            String::from_utf8(data).unwrap(),
            format!("POST{URL}[{{\"eventId\":1}}]1700000000000")
        );
        let _ = SECRET;
    }

    #[test]
    fn hubspots_listed_url_encodings_are_decoded_before_signing() {
        assert_eq!(
            decode_uri("https://x.example/hook%3Fa%3Db%2Fc%40d%21%24%27%28%29%2A%2C%3B%20%2f"),
            "https://x.example/hook?a%3Db/c@d!$'()*,;%20/"
        );
        assert_eq!(
            decode_uri("https://x.example/100%"),
            "https://x.example/100%"
        );
    }

    #[test]
    fn accepts_a_fresh_delivery_with_the_right_signature() {
        let body = br#"[]"#;
        let now = 1_700_000_100_000;
        let ts = "1700000000000";
        let good = signed_bytes("POST", URL, body, ts);
        verify(&cfg(), &headers(&good, ts), body, now, echo_hmac).unwrap();
    }

    #[test]
    fn refuses_a_wrong_stale_or_missing_signature() {
        let body = br#"[]"#;
        let ts = "1700000000000";
        let now = 1_700_000_100_000;
        let good = signed_bytes("POST", URL, body, ts);
        let wrong = signed_bytes("POST", URL, b"[{}]", ts);
        let unauthorized =
            |r: Result<(), ConnectorError>| matches!(r, Err(ConnectorError::Unauthorized(_)));
        assert!(unauthorized(verify(
            &cfg(),
            &headers(&wrong, ts),
            body,
            now,
            echo_hmac
        )));
        assert!(unauthorized(verify(
            &cfg(),
            &headers(&good, ts),
            body,
            1_700_000_000_000 + MAX_AGE_MS + 1,
            echo_hmac
        )));
        assert!(unauthorized(verify(&cfg(), &[], body, now, echo_hmac)));
        let not_b64 = vec![
            ("x-hubspot-signature-v3".to_string(), "%%%".to_string()),
            ("x-hubspot-request-timestamp".to_string(), ts.to_string()),
        ];
        assert!(unauthorized(verify(&cfg(), &not_b64, body, now, echo_hmac)));
        let unconfigured = Config::parse(b"").unwrap();
        assert!(matches!(
            verify(&unconfigured, &headers(&good, ts), body, now, echo_hmac),
            Err(ConnectorError::Invalid(_))
        ));
        assert!(matches!(
            verify(&cfg(), &headers(&good, ts), body, now, |_, _, _| Err(
                "no secret".into()
            )),
            Err(ConnectorError::Failed(_))
        ));
    }

    #[test]
    fn events_are_grouped_per_contact_with_the_newest_values() {
        let body = json!([
            {"eventId": 1, "subscriptionType": "contact.propertyChange", "objectId": 151,
             "occurredAt": 1000, "propertyName": "firstname", "propertyValue": "Mario", "changeSource": "CRM"},
            {"eventId": 2, "subscriptionType": "contact.propertyChange", "objectId": 151,
             "occurredAt": 3000, "propertyName": "lastname", "propertyValue": "Rossi", "changeSource": "CRM"},
            {"eventId": 3, "subscriptionType": "contact.propertyChange", "objectId": 151,
             "occurredAt": 2000, "propertyName": "firstname", "propertyValue": "Maria", "changeSource": "CRM"},
            {"eventId": 4, "subscriptionType": "deal.propertyChange", "objectId": 9,
             "occurredAt": 2000, "propertyName": "dealname", "propertyValue": "x"},
            {"eventId": 5, "subscriptionType": "contact.deletion", "objectId": 7, "occurredAt": 2000},
            {"eventId": 6, "subscriptionType": "contact.creation", "objectId": 152, "occurredAt": 4000}
        ]);
        let changes = contact_changes(body.to_string().as_bytes()).unwrap();
        assert_eq!(changes.len(), 2);
        assert_eq!(changes[0].id, "151");
        assert_eq!(changes[0].occurred_at, 3000);
        assert_eq!(changes[0].properties["firstname"], "Maria");
        assert!(!changes[0].needs_read(&cfg()));
        let rec = changes[0].record(&cfg(), None).unwrap();
        assert_eq!(contacts::text_field(&rec, "name"), Some("Maria Rossi"));
        assert_eq!(rec.updated_at, Some(3000));
        assert!(changes[1].created && changes[1].needs_read(&cfg()));
    }

    #[test]
    fn half_a_name_or_a_creation_is_read_from_hubspot() {
        let body = json!([{"subscriptionType": "contact.propertyChange", "objectId": 151,
                           "occurredAt": 1000, "propertyName": "lastname", "propertyValue": "Rossi"}]);
        let change = &contact_changes(body.to_string().as_bytes()).unwrap()[0];
        assert!(change.needs_read(&cfg()));
        let current = json!({"id": "151", "properties": {"firstname": "Mario", "lastname": "Rossi",
            "phone": "+393471234567", "lastmodifieddate": "1970-01-01T00:00:01.000Z"}});
        let rec = change.record(&cfg(), Some(&current)).unwrap();
        assert_eq!(contacts::text_field(&rec, "name"), Some("Mario Rossi"));
        assert_eq!(contacts::text_field(&rec, "phone"), Some("+393471234567"));
        assert_eq!(rec.updated_at, Some(1000));
    }

    #[test]
    fn changes_to_properties_the_host_does_not_keep_are_not_relevant() {
        let body = json!([{"subscriptionType": "contact.propertyChange", "objectId": 151,
                           "occurredAt": 1000, "propertyName": "jobtitle", "propertyValue": "CEO"}]);
        let change = &contact_changes(body.to_string().as_bytes()).unwrap()[0];
        assert!(!change.relevant(&cfg()));
    }

    #[test]
    fn a_body_that_is_not_an_event_array_is_invalid() {
        for bad in [&b"{}"[..], b"not json", br#"[{"objectId": 1}]"#] {
            assert!(matches!(
                contact_changes(bad),
                Err(ConnectorError::Invalid(_))
            ));
        }
        let no_id = json!([{"subscriptionType": "contact.creation", "occurredAt": 1}]);
        assert!(contact_changes(no_id.to_string().as_bytes()).is_err());
    }
}
