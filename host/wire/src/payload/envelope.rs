//! The webhook envelope: reading a body into [`Notification`] → [`Entry`] → [`Change`],
//! and flattening each change into [`Event`]s by its subscribed field.

use serde::Serialize;
use serde_json::Value;

use super::account::account_event;
use super::calls::{CALLS_FIELD, call_events};
use super::echoes::{ECHOES_FIELD, echo_events};
use super::event::other;
use super::messages::message_event;
use super::statuses::status_event;
use super::{ACCOUNT_FIELDS, Event, Route};
use crate::json::{array_at, parse_at, str_at};

/// The `field` of changes that carry messages and statuses.
const MESSAGES_FIELD: &str = "messages";

/// Why a webhook body could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The body is not JSON.
    #[error("webhook body is not valid JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    /// The body is JSON but has no `entry` array, so it is not a webhook notification.
    #[error(
        "webhook body is not a WhatsApp notification: expected an object with an `entry` array"
    )]
    NotWebhook,
}

impl ParseError {
    /// A stable machine-readable code for logs, metrics and API responses.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotJson(_) => "payload_not_json",
            Self::NotWebhook => "payload_not_webhook",
        }
    }
}

/// One webhook body: the envelope as Meta sent it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notification {
    /// The subscribed object, `"whatsapp_business_account"` (empty if absent).
    pub object: String,
    /// Every entry of the body, in order.
    pub entries: Vec<Entry>,
}

/// One `entry[]` item: the changes for one WhatsApp Business Account.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    /// The WhatsApp Business Account id (empty if absent).
    pub id: String,
    /// `entry[].time`, Unix seconds, sent with account-level fields.
    pub time: Option<i64>,
    /// Every change of the entry, in order.
    pub changes: Vec<Change>,
}

/// One `changes[]` item: a subscribed field and its untyped value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    /// The subscribed field, e.g. `"messages"` (empty if absent).
    pub field: String,
    /// The change's `value`, kept untyped so events can carry their raw JSON.
    pub value: Value,
}

/// Reads a webhook body; fails only if it is not JSON or has no `entry` array.
pub fn parse(body: &[u8]) -> Result<Notification, ParseError> {
    let mut json: Value = serde_json::from_slice(body).map_err(ParseError::NotJson)?;
    let object = str_at(&json, "/object").unwrap_or_default();
    // The tree's parts are moved into the notification, not copied: a copy of every
    // change's value was a measurable part of parsing under load.
    let entries = json
        .get_mut("entry")
        .and_then(Value::as_array_mut)
        .ok_or(ParseError::NotWebhook)?;
    Ok(Notification {
        object,
        entries: entries.drain(..).map(Entry::from_json).collect(),
    })
}

impl Notification {
    /// Flattens every entry, change, message and status of the body into events, in order.
    pub fn events(&self) -> Vec<Event> {
        let mut events = Vec::new();
        for entry in &self.entries {
            for change in &entry.changes {
                change.push_events(entry, &mut events);
            }
        }
        events
    }
}

impl Entry {
    fn from_json(mut entry: Value) -> Self {
        let id = str_at(&entry, "/id").unwrap_or_default();
        let time = parse_at(&entry, "/time");
        let changes = match entry.get_mut("changes").and_then(Value::as_array_mut) {
            Some(changes) => changes.drain(..).map(Change::from_json).collect(),
            // Not a shape we know: keep the whole entry as one unnamed change so it
            // still surfaces as an `Other` event instead of vanishing.
            None => vec![Change {
                field: String::new(),
                value: entry,
            }],
        };
        Self { id, time, changes }
    }
}

impl Change {
    fn from_json(mut change: Value) -> Self {
        let field = str_at(&change, "/field").unwrap_or_default();
        // A change without a `value` is kept whole for the same reason as above.
        let value = match change.get_mut("value") {
            Some(value) => value.take(),
            None => change,
        };
        Self { field, value }
    }

    fn route(&self, waba_id: &str) -> Route {
        Route {
            waba_id: waba_id.to_owned(),
            phone_number_id: str_at(&self.value, "/metadata/phone_number_id"),
            // Number-level fields (phone_number_quality_update) carry the display
            // number at the top of the value instead of in `metadata`.
            display_phone_number: str_at(&self.value, "/metadata/display_phone_number")
                .or_else(|| str_at(&self.value, "/display_phone_number")),
            field: self.field.clone(),
        }
    }

    fn push_events(&self, entry: &Entry, events: &mut Vec<Event>) {
        let route = self.route(&entry.id);
        let before = events.len();
        if self.field == MESSAGES_FIELD {
            let contacts = array_at(&self.value, "contacts");
            for message in array_at(&self.value, "messages") {
                events.push(message_event(&route, message, contacts));
            }
            for status in array_at(&self.value, "statuses") {
                events.push(status_event(&route, status));
            }
            for error in array_at(&self.value, "errors") {
                events.push(account_event(&route, entry.time, "errors", error));
            }
        } else if self.field == CALLS_FIELD {
            call_events(&route, &self.value, events);
        } else if self.field == ECHOES_FIELD {
            echo_events(&route, &self.value, events);
        } else if ACCOUNT_FIELDS.contains(&self.field.as_str()) {
            // A field that batches items in an array named after itself
            // (`user_preferences`) gives one event per item; the rest (whose arrays,
            // such as a template's buttons, are part of one event) one event each.
            match self.value.get(&self.field).and_then(Value::as_array) {
                Some(items) if !items.is_empty() && items.iter().all(Value::is_object) => {
                    events.extend(
                        items
                            .iter()
                            .map(|item| account_event(&route, entry.time, &self.field, item)),
                    );
                }
                _ => events.push(account_event(&route, entry.time, &self.field, &self.value)),
            }
        } else if let Some(value) = self.value.as_object() {
            // Unmodelled fields that batch items (groups, history…) get one
            // event per item; `contacts` only annotates the other arrays.
            for (key, items) in value {
                let Some(items) = items.as_array() else {
                    continue;
                };
                if key == "contacts" || !items.iter().all(Value::is_object) {
                    continue;
                }
                events.extend(items.iter().map(|item| other(&route, key, item)));
            }
        }
        if events.len() == before {
            let kind = if self.field.is_empty() {
                "unknown"
            } else {
                &self.field
            };
            events.push(other(&route, kind, &self.value));
        }
    }
}
#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::payload::OtherChange;
    use crate::payload::test_support::{FIXTURES, fixture_events, metadata};

    fn fixture_other(name: &str) -> OtherChange {
        let mut events = fixture_events(name);
        assert_eq!(events.len(), 1, "{name}");
        let Some(Event::Other(other)) = events.pop() else {
            panic!("{name}: expected an Other event")
        };
        assert_eq!(other.route.waba_id, "102290129340398");
        assert_eq!(
            other.route.phone_number_id.as_deref(),
            Some("106540352242922")
        );
        other
    }

    #[test]
    fn fixture_group_create_message_is_other() {
        let other = fixture_other("group_create_message.json");
        assert_eq!(other.route.field, "group_lifecycle_update");
        assert_eq!(other.kind, "groups");
        assert_eq!(other.raw["type"], "group_create");
        assert_eq!(other.raw["subject"], "your-group-subject");
        assert_eq!(
            other.raw["added_participants"][1]["wa_id"],
            16_505_551_235_u64
        );
    }

    #[test]
    fn fixture_group_remove_participants_is_other() {
        let other = fixture_other("group_remove_participants.json");
        assert_eq!(other.route.field, "group_participants_update");
        assert_eq!(other.kind, "groups");
        assert_eq!(
            other.raw["group_id"],
            "Y2FwaV9ncm91cDoxODA1NTU1MDE3MjoxMjAzNjMyMjI3NzE5NjMwNjcZD"
        );
        assert_eq!(
            other.raw["removed_participants"].as_array().map(Vec::len),
            Some(2)
        );
    }

    #[test]
    fn fixture_group_settings_update_is_other() {
        let other = fixture_other("group_settings_update.json");
        assert_eq!(other.route.field, "group_settings_update");
        assert_eq!(other.kind, "groups");
        assert_eq!(other.raw["type"], "group_settings_update");
        assert_eq!(other.raw["profile_picture"]["mime_type"], "image/jpeg");
    }

    #[test]
    fn every_fixture_parses_to_exactly_one_event() {
        let names: Vec<_> = std::fs::read_dir(FIXTURES)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .filter(|name| name.ends_with(".json"))
            .collect();
        assert_eq!(names.len(), 16);
        for name in names {
            let events = fixture_events(&name);
            assert_eq!(events.len(), 1, "{name}");
            // Events must serialise for storage and the plugin boundary.
            let json = serde_json::to_value(&events[0]).unwrap();
            let expected = if name.starts_with("group_") {
                "other"
            } else {
                "message"
            };
            assert_eq!(json["event"], expected, "{name}");
        }
    }

    fn text(id: &str, from: &str, body: &str) -> Value {
        json!({"from": from, "id": id, "timestamp": "1700000000", "type": "text", "text": {"body": body}})
    }

    #[test]
    fn synthetic_batch_flattens_every_entry_change_message_and_status() {
        let body = json!({
            "object": "whatsapp_business_account",
            "entry": [
                {"id": "waba-1", "changes": [
                    {"field": "messages", "value": {
                        "messaging_product": "whatsapp",
                        "metadata": metadata("pn-1"),
                        "contacts": [
                            {"profile": {"name": "Ana"}, "wa_id": "111"},
                            {"profile": {"name": "Ben"}, "wa_id": "222"}
                        ],
                        "messages": [text("m1", "111", "hola"), text("m2", "222", "hi")],
                        "statuses": [{"id": "s1", "status": "delivered", "timestamp": "1700000001", "recipient_id": "333"}]
                    }},
                    {"field": "messages", "value": {
                        "metadata": metadata("pn-2"),
                        "statuses": [
                            {"id": "s2", "status": "sent", "timestamp": 1_700_000_002, "recipient_id": "444"},
                            {"id": "s3", "status": "read", "timestamp": "1700000003", "recipient_id": "444"}
                        ]
                    }}
                ]},
                {"id": "waba-2", "changes": [
                    {"field": "messages", "value": {
                        "metadata": metadata("pn-3"),
                        "contacts": [{"profile": {"name": "Cy"}, "wa_id": "555"}],
                        "messages": [text("m3", "555", "one"), text("m4", "555", "two"), text("m5", "555", "three")]
                    }},
                    {"field": "message_template_status_update", "value": {
                        "event": "APPROVED", "message_template_id": 1234, "message_template_name": "welcome"
                    }}
                ]}
            ]
        });
        let events = parse(body.to_string().as_bytes()).unwrap().events();
        let summary: Vec<_> = events
            .iter()
            .map(|event| match event {
                Event::Message(m) => format!(
                    "{}/{} msg {} from {} ({}) {}",
                    m.route.waba_id,
                    m.route.phone_number_id.as_deref().unwrap_or("-"),
                    m.id,
                    m.from.as_deref().unwrap_or("-"),
                    m.profile_name.as_deref().unwrap_or("-"),
                    m.content.text().unwrap_or("-"),
                ),
                Event::Status(s) => format!(
                    "{}/{} status {} {} {} to {}",
                    s.route.waba_id,
                    s.route.phone_number_id.as_deref().unwrap_or("-"),
                    s.id,
                    s.status,
                    s.timestamp,
                    s.recipient_id.as_deref().unwrap_or("-"),
                ),
                Event::Account(a) => format!(
                    "{} account {} {} {}",
                    a.route.waba_id,
                    a.kind,
                    a.event.as_deref().unwrap_or("-"),
                    a.subject.as_deref().unwrap_or("-"),
                ),
                Event::Other(o) => {
                    format!("{} other {} {}", o.route.waba_id, o.kind, o.raw["event"])
                }
                Event::Call(_) | Event::Echo(_) => unreachable!("no calls or echoes here"),
            })
            .collect();
        assert_eq!(
            summary,
            [
                "waba-1/pn-1 msg m1 from 111 (Ana) hola",
                "waba-1/pn-1 msg m2 from 222 (Ben) hi",
                "waba-1/pn-1 status s1 delivered 1700000001 to 333",
                "waba-1/pn-2 status s2 sent 1700000002 to 444",
                "waba-1/pn-2 status s3 read 1700000003 to 444",
                "waba-2/pn-3 msg m3 from 555 (Cy) one",
                "waba-2/pn-3 msg m4 from 555 (Cy) two",
                "waba-2/pn-3 msg m5 from 555 (Cy) three",
                "waba-2 account message_template_status_update APPROVED welcome",
            ]
        );
    }

    #[test]
    fn synthetic_items_without_ids_and_odd_changes_become_other() {
        let body = json!({"object": "whatsapp_business_account", "entry": [
            {"id": "w", "changes": [
                {"field": "messages", "value": {"messages": [{"type": "text"}, "junk"], "statuses": [{"status": "read"}]}},
                {"field": "messages", "value": {"metadata": metadata("pn")}},
                {"field": "account_update", "value": {"event": "VERIFIED_ACCOUNT"}},
                {"no_field": true},
                "junk change"
            ]},
            {"id": 42, "messaging": [{"text": "not whatsapp"}]},
            "junk entry"
        ]});
        let events = parse(body.to_string().as_bytes()).unwrap().events();
        let kinds: Vec<_> = events
            .iter()
            .map(|event| match event {
                Event::Other(o) => format!("{}:{}", o.route.waba_id, o.kind),
                Event::Account(a) => format!("{}:{} (account)", a.route.waba_id, a.kind),
                other => panic!("expected only Other and Account events, got {other:?}"),
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "w:messages",
                "w:messages",
                "w:statuses",
                "w:messages",
                "w:account_update (account)",
                "w:unknown",
                "w:unknown",
                "42:messaging",
                ":unknown",
            ]
        );
        let Event::Other(junk) = &events[1] else {
            unreachable!()
        };
        assert_eq!(junk.raw, "junk");
        let Event::Account(account) = &events[4] else {
            unreachable!()
        };
        assert_eq!(account.raw, json!({"event": "VERIFIED_ACCOUNT"}));
        assert_eq!(account.event.as_deref(), Some("VERIFIED_ACCOUNT"));
    }

    #[test]
    fn synthetic_group_items_become_one_other_each() {
        let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "w", "changes": [
            {"field": "group_lifecycle_update", "value": {"metadata": metadata("pn"),
                "groups": [{"type": "group_create", "group_id": "g1"}, {"type": "group_delete", "group_id": "g2"}]}}
        ]}]});
        let events = parse(body.to_string().as_bytes()).unwrap().events();
        let groups: Vec<_> = events
            .iter()
            .map(|event| match event {
                Event::Other(o) if o.kind == "groups" => o.raw["group_id"].clone(),
                other => panic!("expected a group Other event, got {other:?}"),
            })
            .collect();
        assert_eq!(groups, [json!("g1"), json!("g2")]);
    }

    #[test]
    fn synthetic_non_json_and_non_webhook_bodies_are_errors() {
        let error = parse(b"<html>nope</html>").unwrap_err();
        assert!(matches!(error, ParseError::NotJson(_)));
        assert_eq!(error.code(), "payload_not_json");
        assert!(
            error
                .to_string()
                .starts_with("webhook body is not valid JSON")
        );
        assert_eq!(parse(b"").unwrap_err().code(), "payload_not_json");

        for body in [
            &br#"{"object":"page"}"#[..],
            br#"{"entry":{}}"#,
            b"[]",
            b"42",
        ] {
            let error = parse(body).unwrap_err();
            assert!(matches!(error, ParseError::NotWebhook));
            assert_eq!(error.code(), "payload_not_webhook");
        }
        assert!(ParseError::NotWebhook.to_string().contains("`entry` array"));
    }

    #[test]
    fn synthetic_empty_entry_list_is_a_valid_empty_notification() {
        let notification = parse(br#"{"object":"whatsapp_business_account","entry":[]}"#).unwrap();
        assert!(notification.entries.is_empty());
        assert!(notification.events().is_empty());
    }
}
