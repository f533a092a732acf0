//! Zoho CRM notifications (`POST /actions/watch` channels).
//!
//! Zoho posts to the channel's `notify_url`:
//!
//! ```json
//! {"server_time": 1718117126473, "query_params": {}, "module": "Contacts",
//!  "resource_uri": "https://www.zohoapis.com/crm/v8/Contacts",
//!  "ids": ["5725767000003000064"], "affected_fields": [], "operation": "update",
//!  "channel_id": "1000000068001", "token": "TOKEN_FOR_VERIFICATION_OF_1000000068001"}
//! ```
//!
//! It is not signed: the `token` given when the channel was enabled comes back in the
//! body, and is the proof that Zoho sent it. Notifications carry ids only, so the
//! connector reads the records themselves (`GET /Contacts?ids=…`) before handing them
//! to the host: a record with no fields would change nothing, and only the record
//! has the `Modified_Time` that conflict resolution and echo suppression need.

use crate::config::Config;
use crate::records::valid_id;
use scrm_plugin_sdk::ConnectorError;
use serde::Deserialize;
use serde_json::Value;

/// The notification's fields the connector reads; others are ignored.
#[derive(Debug, Deserialize)]
struct Notification {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    channel_id: Value,
    module: String,
    #[serde(default)]
    ids: Vec<Value>,
    operation: String,
}

/// Equality that takes as long for every `b` of a given length.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The ids of contacts a notification says were created or changed (none for other
/// modules and for deletions, which the host does not mirror).
///
/// # Errors
/// `Unauthorized` when the token (or the configured channel) does not match;
/// `Invalid` when notifications are not set up or the body is not a notification.
pub fn changed_ids(cfg: &Config, body: &[u8]) -> Result<Vec<String>, ConnectorError> {
    let Some(expected) = &cfg.notification_token else {
        return Err(ConnectorError::Invalid(
            "Zoho notifications are not set up: give the connector the notification_token \
             the channel was enabled with"
                .into(),
        ));
    };
    let n: Notification = serde_json::from_slice(body)
        .map_err(|e| ConnectorError::Invalid(format!("not a Zoho notification: {e}")))?;
    if !same(
        n.token.as_deref().unwrap_or_default().as_bytes(),
        expected.as_bytes(),
    ) {
        return Err(ConnectorError::Unauthorized(
            "the notification's token is not the channel's".into(),
        ));
    }
    if let Some(channel) = &cfg.channel_id {
        let got = match &n.channel_id {
            Value::String(s) => s.clone(),
            Value::Number(x) => x.to_string(),
            _ => String::new(),
        };
        if &got != channel {
            return Err(ConnectorError::Unauthorized(format!(
                "notification for channel {got:?}, not {channel:?}"
            )));
        }
    }
    if !n.module.eq_ignore_ascii_case(&cfg.contacts_module) || n.operation == "delete" {
        return Ok(Vec::new());
    }
    let mut ids = Vec::new();
    for v in &n.ids {
        let id = match v {
            Value::String(s) => s.clone(),
            Value::Number(x) => x.to_string(),
            other => {
                return Err(ConnectorError::Invalid(format!(
                    "notification id {other} is not a record id"
                )));
            }
        };
        if !valid_id(&id) {
            return Err(ConnectorError::Invalid(format!(
                "notification id {id:?} is not a record id"
            )));
        }
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cfg(extra: &str) -> Config {
        Config::parse(
            format!("api_domain = \"https://x\"\nnotification_token = \"s3cret\"\n{extra}")
                .as_bytes(),
        )
        .unwrap()
    }

    fn body(token: &str, module: &str, op: &str, ids: Value) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "server_time": 1_718_117_126_473_i64, "query_params": {}, "module": module,
            "resource_uri": "https://www.zohoapis.com/crm/v8/Contacts", "ids": ids,
            "affected_fields": [], "operation": op, "channel_id": "1000000068001", "token": token
        }))
        .unwrap()
    }

    #[test]
    fn notifications_with_the_channel_token_name_the_changed_contacts() {
        let ids = changed_ids(
            &cfg(""),
            &body("s3cret", "Contacts", "update", json!(["1", "2", "1"])),
        );
        assert_eq!(ids.unwrap(), vec!["1".to_string(), "2".to_string()]);
        let numeric = changed_ids(&cfg(""), &body("s3cret", "Contacts", "insert", json!([5])));
        assert_eq!(numeric.unwrap(), vec!["5".to_string()]);
    }

    #[test]
    fn a_wrong_or_missing_token_is_unauthorized() {
        for token in ["s3creT", "", "s3cret-and-more"] {
            let r = changed_ids(&cfg(""), &body(token, "Contacts", "update", json!(["1"])));
            assert!(
                matches!(r, Err(ConnectorError::Unauthorized(_))),
                "{token:?}"
            );
        }
        let missing = br#"{"module":"Contacts","ids":["1"],"operation":"update"}"#;
        assert!(matches!(
            changed_ids(&cfg(""), missing),
            Err(ConnectorError::Unauthorized(_))
        ));
    }

    #[test]
    fn another_channel_is_refused_when_one_is_configured() {
        let c = cfg("channel_id = \"42\"");
        let r = changed_ids(&c, &body("s3cret", "Contacts", "update", json!(["1"])));
        assert!(matches!(r, Err(ConnectorError::Unauthorized(_))));
        let ok = cfg("channel_id = \"1000000068001\"");
        assert!(changed_ids(&ok, &body("s3cret", "Contacts", "update", json!(["1"]))).is_ok());
    }

    #[test]
    fn other_modules_and_deletions_change_nothing() {
        let c = cfg("");
        assert!(
            changed_ids(&c, &body("s3cret", "Deals", "update", json!(["1"])))
                .unwrap()
                .is_empty()
        );
        assert!(
            changed_ids(&c, &body("s3cret", "Contacts", "delete", json!(["1"])))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn garbage_and_unconfigured_channels_are_invalid() {
        assert!(matches!(
            changed_ids(&cfg(""), b"not json"),
            Err(ConnectorError::Invalid(_))
        ));
        let unset = Config::parse(b"api_domain = \"https://x\"").unwrap();
        let r = changed_ids(&unset, &body("s3cret", "Contacts", "update", json!(["1"])));
        assert!(matches!(r, Err(ConnectorError::Invalid(_))));
        let bad_id = changed_ids(
            &cfg(""),
            &body("s3cret", "Contacts", "update", json!(["../x"])),
        );
        assert!(matches!(bad_id, Err(ConnectorError::Invalid(_))));
    }
}
