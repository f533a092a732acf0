//! Message echoes (the `smb_message_echoes` webhook field): messages the business
//! sent from the WhatsApp Business app on a number it shares with the Cloud API
//! (coexistence), each `value.message_echoes[]` item read into one [`EchoMessage`].

use serde::Serialize;
use serde_json::Value;

use super::event::other;
use super::{Event, Route};
use crate::content::Content;
use crate::json::{array_at, parse_at, str_at};

/// The `field` of changes that carry message echoes.
pub(super) const ECHOES_FIELD: &str = "smb_message_echoes";

/// A message the business sent from the WhatsApp Business app.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EchoMessage {
    /// Where it was delivered.
    pub route: Route,
    /// The WhatsApp message id ("wamid.…").
    pub id: String,
    /// The customer it went to (a WhatsApp id).
    pub to: Option<String>,
    /// The customer's business-scoped user id, if given.
    pub to_user_id: Option<String>,
    /// When WhatsApp says it was sent, Unix seconds; 0 if absent.
    pub timestamp: i64,
    /// The WhatsApp `type` string as sent ("unknown" if absent).
    pub kind: String,
    /// What it carries, read as an inbound message's content is.
    pub content: Content,
    /// The wamid it replies to (`context.id`), if any.
    pub replied_to: Option<String>,
    /// The item exactly as received.
    pub raw: Value,
}

/// Every echo of one `smb_message_echoes` change; an item without an id or a
/// recipient is kept raw.
pub(super) fn echo_events(route: &Route, value: &Value, events: &mut Vec<Event>) {
    for echo in array_at(value, "message_echoes") {
        let (to, to_user_id) = (str_at(echo, "/to"), str_at(echo, "/to_user_id"));
        let id = str_at(echo, "/id").filter(|_| to.is_some() || to_user_id.is_some());
        let Some(id) = id else {
            events.push(other(route, "message_echoes", echo));
            continue;
        };
        let kind = str_at(echo, "/type").unwrap_or_else(|| "unknown".to_owned());
        let content =
            Content::decode(&kind, echo).unwrap_or_else(|| Content::Unsupported(kind.clone()));
        events.push(Event::Echo(EchoMessage {
            route: route.clone(),
            id,
            to,
            to_user_id,
            timestamp: parse_at(echo, "/timestamp").unwrap_or(0),
            kind,
            content,
            replied_to: str_at(echo, "/context/id"),
            raw: echo.clone(),
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::test_support::{meta_docs_events, single_event};
    use serde_json::json;

    #[test]
    fn an_echo_is_the_business_s_message_to_the_customer() {
        let events = meta_docs_events("message_echoes_text.json");
        let [Event::Echo(echo)] = &events[..] else {
            panic!("{events:?}");
        };
        assert_eq!(echo.to.as_deref(), Some("16505551234"));
        assert_eq!(echo.kind, "text");
        assert_eq!(
            echo.content.text(),
            Some("Here's the info you requested! https://www.meta.com/quest/quest-3/")
        );
        assert_eq!(echo.timestamp, 1_739_321_024);
        assert_eq!(
            echo.route.phone_number_id.as_deref(),
            Some("106540352242922")
        );
        assert_eq!(echo.route.field, "smb_message_echoes");
    }

    #[test]
    fn an_echo_without_id_or_recipient_is_kept_raw() {
        let events = single_event(
            "smb_message_echoes",
            json!({"message_echoes": [{"to": "1", "type": "text"}, {"id": "wamid.x", "type": "text"}]}),
        );
        assert_eq!(events.len(), 2);
        assert!(
            events
                .iter()
                .all(|e| matches!(e, Event::Other(o) if o.kind == "message_echoes"))
        );
    }
}
