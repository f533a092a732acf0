//! Helpers the payload tests share: the webhook fixtures and small synthetic bodies.

use serde_json::{Value, json};

use super::{Event, InboundMessage, parse};

pub(super) const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/fixtures/webhooks"
);

pub(super) fn fixture_events(name: &str) -> Vec<Event> {
    let path = format!("{FIXTURES}/{name}");
    let body = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let notification = parse(&body).unwrap();
    assert_eq!(notification.object, "whatsapp_business_account");
    notification.events()
}

/// Meta's documented examples of the kinds beyond the OpenAPI description (calls,
/// message echoes, flow and call-permission replies, errors): tests/fixtures/meta-docs.
pub(super) const META_DOCS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/meta-docs"
);

pub(super) fn meta_docs_events(name: &str) -> Vec<Event> {
    let path = format!("{META_DOCS}/{name}");
    let body = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    parse(&body).unwrap().events()
}

pub(super) fn metadata(phone_number_id: &str) -> Value {
    json!({"display_phone_number": "15550000000", "phone_number_id": phone_number_id})
}

pub(super) fn single_message(message: Value) -> InboundMessage {
    let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "w", "changes": [
        {"field": "messages", "value": {"metadata": metadata("pn"), "messages": [message]}}
    ]}]});
    let mut events = parse(body.to_string().as_bytes()).unwrap().events();
    assert_eq!(events.len(), 1);
    match events.pop() {
        Some(Event::Message(message)) => message,
        other => panic!("expected a message, got {other:?}"),
    }
}

pub(super) fn single_event(field: &str, value: Value) -> Vec<Event> {
    let body = json!({"object": "whatsapp_business_account", "entry": [
        {"id": "waba-9", "time": 1_700_000_100, "changes": [{"field": field, "value": value}]}
    ]});
    parse(body.to_string().as_bytes()).unwrap().events()
}
