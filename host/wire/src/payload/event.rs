//! The flattened [`Event`] a webhook body becomes, the [`Route`] it was delivered on,
//! and [`OtherChange`] for whatever the host does not model.

use serde::Serialize;
use serde_json::Value;

use super::{AccountEvent, CallEvent, EchoMessage, InboundMessage, StatusUpdate};

/// One thing that happened, flattened out of a notification.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[expect(
    clippy::large_enum_variant,
    reason = "most events are messages, so boxing them would only add an allocation each"
)]
pub enum Event {
    /// A message from a customer.
    Message(InboundMessage),
    /// A delivery status for a message the business sent.
    Status(StatusUpdate),
    /// A template, number, account or user-preference notification, or a change-level error.
    Account(AccountEvent),
    /// Something that happened to a WhatsApp call (the `calls` field).
    Call(CallEvent),
    /// A message the business sent from the WhatsApp Business app (`smb_message_echoes`).
    Echo(EchoMessage),
    /// A change field or item the host does not model (e.g. "groups"); stored raw.
    Other(OtherChange),
}

impl Event {
    /// Where the event was delivered.
    pub fn route(&self) -> &Route {
        match self {
            Self::Message(m) => &m.route,
            Self::Status(s) => &s.route,
            Self::Account(a) => &a.route,
            Self::Call(c) => &c.route,
            Self::Echo(e) => &e.route,
            Self::Other(o) => &o.route,
        }
    }
}

/// Where an event was delivered: which account, number and subscribed field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Route {
    /// The WhatsApp Business Account id (`entry[].id`).
    pub waba_id: String,
    /// The business phone number id (`value.metadata.phone_number_id`), the tenant key.
    pub phone_number_id: Option<String>,
    /// The business display number (`value.metadata.display_phone_number`).
    pub display_phone_number: Option<String>,
    /// The subscribed field (`changes[].field`).
    pub field: String,
}

/// A change, or one item of a change, that the host does not model; kept raw.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OtherChange {
    /// Where it was delivered.
    pub route: Route,
    /// The items array it came from (e.g. "groups", "statuses"), else the change field.
    pub kind: String,
    /// The item, or the change's whole value, exactly as received.
    pub raw: Value,
}

pub(super) fn other(route: &Route, kind: &str, raw: &Value) -> Event {
    Event::Other(OtherChange {
        route: route.clone(),
        kind: kind.to_owned(),
        raw: raw.clone(),
    })
}
