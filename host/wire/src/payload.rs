//! WhatsApp Business Cloud API webhook bodies: the envelope (`object`, `entry[]`,
//! `changes[]`), routing metadata, and the flattening of a body into [`Event`]s.
//!
//! Meta batches: one body may hold several entries, each with several changes, each with
//! several messages and statuses. [`Notification::events`] yields every one of them, in
//! body order. Only a body that is not JSON or has no `entry` array is rejected; anything
//! inside that the host does not model becomes an [`Event::Other`] or a
//! [`Content::Unsupported`] message that keeps the raw JSON, so nothing is lost.
//!
//! Besides messages and statuses, the fields listed in [`ACCOUNT_FIELDS`] (template
//! status / quality / category updates, number quality, account updates, user
//! marketing preferences) become [`Event::Account`], one per item. Message edits and
//! revokes arrive as messages whose [`InboundMessage::amends`] names the message they
//! change.

use serde::Serialize;
use serde_json::Value;

use crate::content::Content;
use crate::json::{array_at, parse_at, str_at};

/// The `field` of changes that carry messages and statuses.
const MESSAGES_FIELD: &str = "messages";

/// Change fields other than `messages` that the host models as [`Event::Account`]:
/// stored per item and served by the events API. Other fields (groups, echoes, …) stay
/// [`Event::Other`].
pub const ACCOUNT_FIELDS: &[&str] = &[
    "account_alerts",
    "account_review_update",
    "account_update",
    "business_capability_update",
    "message_template_components_update",
    "message_template_quality_update",
    "message_template_status_update",
    "phone_number_name_update",
    "phone_number_quality_update",
    "security",
    "template_category_update",
    "user_preferences",
];

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

/// A message a customer sent to the business.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InboundMessage {
    /// Where it was delivered.
    pub route: Route,
    /// The WhatsApp message id ("wamid.…").
    pub id: String,
    /// The sender's WhatsApp id; absent when only a business-scoped user id is given.
    pub from: Option<String>,
    /// The sender's business-scoped user id (`messages[].from_user_id`), if given.
    pub from_user_id: Option<String>,
    /// The sender's profile name, from the matching `value.contacts[]` entry.
    pub profile_name: Option<String>,
    /// The business-scoped user id on the matching `value.contacts[]` entry.
    pub contact_user_id: Option<String>,
    /// The group the message was sent in, for group messages.
    pub group_id: Option<String>,
    /// When WhatsApp says it was sent, Unix seconds; 0 if absent or unreadable.
    pub timestamp: i64,
    /// The WhatsApp `type` string as sent ("unknown" if absent).
    pub kind: String,
    /// What it carries.
    pub content: Content,
    /// What it answers or refers to.
    pub context: Context,
    /// The errors Meta attached (unsupported messages carry these).
    pub errors: Vec<ApiError>,
    /// Set when this notification edits or revokes an earlier message rather than
    /// being a new one. For an edit, `content` holds the new content.
    pub amends: Option<Amendment>,
    /// The message object exactly as received.
    pub raw: Value,
}

impl InboundMessage {
    /// Reads a message object kept raw (such as a stored edit notification) as if it
    /// had been delivered under `route`; `None` when it has no wamid.
    pub fn from_raw(route: &Route, raw: &Value) -> Option<InboundMessage> {
        match message_event(route, raw, &[]) {
            Event::Message(message) => Some(message),
            _ => None,
        }
    }
}

/// A change to an earlier message (`type: "edit"` / `type: "revoke"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Amendment {
    /// The sender edited the message; the notification's content is the new version.
    Edit {
        /// The wamid of the edited message (`edit.original_message_id`).
        original_id: String,
        /// The WhatsApp type of the new version (`edit.message.type`).
        kind: String,
        /// The new text or caption as sent, even when the new content is unreadable.
        text: Option<String>,
    },
    /// The sender deleted the message for everyone.
    Revoke {
        /// The wamid of the deleted message (`revoke.original_message_id`).
        original_id: String,
    },
}

impl Amendment {
    /// The wamid of the message changed.
    pub fn original_id(&self) -> &str {
        match self {
            Self::Edit { original_id, .. } | Self::Revoke { original_id } => original_id,
        }
    }
}

/// What a message answers or refers to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Context {
    /// The wamid of the message replied to (`context.id`), if any.
    pub replied_to: Option<String>,
    /// The catalogue product asked about (`context.referred_product.product_retailer_id`).
    pub referred_product: Option<String>,
    /// The click-to-WhatsApp ad the customer came from (`referral.source_id`).
    pub ad_source_id: Option<String>,
    /// The whole ad referral, when the customer came from a click-to-WhatsApp ad.
    pub referral: Option<Referral>,
}

/// The click-to-WhatsApp ad (or post) a message came from (`messages[].referral`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Referral {
    /// The ad or post id.
    pub source_id: Option<String>,
    /// `"ad"` or `"post"`.
    pub source_type: Option<String>,
    /// The URL the customer tapped.
    pub source_url: Option<String>,
    /// The ad's headline.
    pub headline: Option<String>,
    /// The ad's body text.
    pub body: Option<String>,
    /// `"image"` or `"video"`.
    pub media_type: Option<String>,
    /// The click id Meta uses for conversion reporting (`ctwa_clid`).
    pub ctwa_clid: Option<String>,
}

/// An error Meta reported on a message, status or change (stored as JSON in this
/// shape, and read back from there).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(default)]
pub struct ApiError {
    /// Meta's numeric error code, e.g. 131051 (0 if absent).
    pub code: i64,
    /// The short title (empty if absent).
    pub title: String,
    /// The longer message, if any.
    pub message: Option<String>,
    /// `error_data.details`, if any.
    pub details: Option<String>,
}

impl ApiError {
    /// Meta's code (`None` when absent) and a one-line description: the title (or
    /// message) with the details when they add something.
    pub fn summary(&self) -> (Option<i64>, String) {
        let title = if self.title.is_empty() {
            self.message.as_deref().unwrap_or("failed")
        } else {
            &self.title
        };
        let text = match &self.details {
            Some(d) if d != title => format!("{title} ({d})"),
            _ => title.to_owned(),
        };
        ((self.code != 0).then_some(self.code), text)
    }
}

/// A delivery status (sent, delivered, read, failed…) for an outbound message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusUpdate {
    /// Where it was delivered.
    pub route: Route,
    /// The wamid of the outbound message.
    pub id: String,
    /// The status as sent, e.g. "delivered" (empty if absent).
    pub status: String,
    /// When the status happened, Unix seconds; 0 if absent or unreadable.
    pub timestamp: i64,
    /// The recipient's WhatsApp id, if given.
    pub recipient_id: Option<String>,
    /// Why delivery failed, for failed statuses.
    pub errors: Vec<ApiError>,
    /// How the message is billed, when Meta says (old per-conversation or per-message model).
    pub pricing: Option<Pricing>,
    /// The billing conversation it opened or belongs to (per-conversation model only).
    pub conversation: Option<BillingConversation>,
    /// The status object exactly as received.
    pub raw: Value,
}

/// A status's `pricing` object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Pricing {
    /// Whether the message is charged.
    pub billable: Option<bool>,
    /// `"CBP"` (per conversation, before July 2025) or `"PMP"` (per message).
    pub pricing_model: Option<String>,
    /// `marketing`, `utility`, `authentication`, `service`, … as Meta names it.
    pub category: Option<String>,
    /// Per-message model only: `regular`, `free_customer_service` or `free_entry_point`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

/// A status's `conversation` object (per-conversation pricing).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BillingConversation {
    /// Meta's conversation id.
    pub id: Option<String>,
    /// What opened it (`origin.type`): marketing, utility, service, referral_conversion, …
    pub origin_type: Option<String>,
    /// When it expires, Unix seconds (sent with the first status of the conversation).
    pub expiration_timestamp: Option<i64>,
}

/// One notification on a field in [`ACCOUNT_FIELDS`] (one per item for fields that
/// batch items, such as `user_preferences`), or a change-level error on `messages`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccountEvent {
    /// Where it was delivered; `phone_number_id` is set only when Meta gave one.
    pub route: Route,
    /// `entry[].time`, Unix seconds, if sent.
    pub entry_time: Option<i64>,
    /// The items array it came from (e.g. `"user_preferences"`, `"errors"`), else the field.
    pub kind: String,
    /// The headline: `event` (APPROVED, FLAGGED, …), the new quality score or category,
    /// a preference's `value` (stop / resume), or an error's code.
    pub event: Option<String>,
    /// What it is about: a template's name, a user's wa_id, a display number.
    pub subject: Option<String>,
    /// Meta's timestamp for the item, Unix seconds, when it has one.
    pub timestamp: Option<i64>,
    /// The item (or the change's whole value) exactly as received.
    pub raw: Value,
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

/// Reads a webhook body; fails only if it is not JSON or has no `entry` array.
pub fn parse(body: &[u8]) -> Result<Notification, ParseError> {
    let json: Value = serde_json::from_slice(body).map_err(ParseError::NotJson)?;
    let entries = json
        .get("entry")
        .and_then(Value::as_array)
        .ok_or(ParseError::NotWebhook)?;
    Ok(Notification {
        object: str_at(&json, "/object").unwrap_or_default(),
        entries: entries.iter().map(Entry::from_json).collect(),
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
    fn from_json(entry: &Value) -> Self {
        let changes = match entry.get("changes").and_then(Value::as_array) {
            Some(changes) => changes.iter().map(Change::from_json).collect(),
            // Not a shape we know: keep the whole entry as one unnamed change so it
            // still surfaces as an `Other` event instead of vanishing.
            None => vec![Change {
                field: String::new(),
                value: entry.clone(),
            }],
        };
        Self {
            id: str_at(entry, "/id").unwrap_or_default(),
            time: parse_at(entry, "/time"),
            changes,
        }
    }
}

impl Change {
    fn from_json(change: &Value) -> Self {
        Self {
            field: str_at(change, "/field").unwrap_or_default(),
            // A change without a `value` is kept whole for the same reason as above.
            value: change.get("value").unwrap_or(change).clone(),
        }
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
            // Unmodelled fields that batch items (groups, message_echoes, history…) get one
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

fn other(route: &Route, kind: &str, raw: &Value) -> Event {
    Event::Other(OtherChange {
        route: route.clone(),
        kind: kind.to_owned(),
        raw: raw.clone(),
    })
}

/// The first string (or number) found at any of `pointers`.
fn first_str(item: &Value, pointers: &[&str]) -> Option<String> {
    pointers.iter().find_map(|pointer| str_at(item, pointer))
}

fn account_event(route: &Route, entry_time: Option<i64>, kind: &str, item: &Value) -> Event {
    Event::Account(AccountEvent {
        route: route.clone(),
        entry_time,
        kind: kind.to_owned(),
        event: first_str(
            item,
            &[
                "/event",
                "/new_quality_score",
                "/new_category",
                "/value",
                "/decision",
                "/code",
            ],
        ),
        subject: first_str(
            item,
            &[
                "/wa_id",
                "/message_template_name",
                "/display_phone_number",
                "/phone_number",
                "/message_template_id",
            ],
        ),
        timestamp: parse_at(item, "/timestamp").or(entry_time),
        raw: item.clone(),
    })
}

/// Reads `type: "edit"` / `type: "revoke"`: what they change and, for an edit, the new
/// content. `None` when the original message id is missing (then the notification is
/// kept as an unsupported message).
fn amendment(kind: &str, message: &Value) -> Option<(Amendment, Option<Content>)> {
    let data = message.get(kind)?;
    let original_id = str_at(data, "/original_message_id")?;
    match kind {
        "revoke" => Some((Amendment::Revoke { original_id }, None)),
        "edit" => {
            let inner = data.get("message").unwrap_or(&Value::Null);
            let new_kind = str_at(inner, "/type").unwrap_or_else(|| "unknown".to_owned());
            let content = Content::decode(&new_kind, inner);
            let text = content
                .as_ref()
                .and_then(Content::text)
                .map(str::to_owned)
                .or_else(|| str_at(inner, &format!("/{new_kind}/caption")))
                .or_else(|| str_at(inner, "/text/body"));
            Some((
                Amendment::Edit {
                    original_id,
                    kind: new_kind.clone(),
                    text,
                },
                Some(content.unwrap_or(Content::Unsupported(new_kind))),
            ))
        }
        _ => None,
    }
}

fn referral(message: &Value) -> Option<Referral> {
    let data = message.get("referral").filter(|r| r.is_object())?;
    Some(Referral {
        source_id: str_at(data, "/source_id"),
        source_type: str_at(data, "/source_type"),
        source_url: str_at(data, "/source_url"),
        headline: str_at(data, "/headline"),
        body: str_at(data, "/body"),
        media_type: str_at(data, "/media_type"),
        ctwa_clid: str_at(data, "/ctwa_clid"),
    })
}

fn message_event(route: &Route, message: &Value, contacts: &[Value]) -> Event {
    // Without a wamid the host can neither dedupe nor answer it: keep it raw instead.
    let Some(id) = str_at(message, "/id") else {
        return other(route, "messages", message);
    };
    let from = str_at(message, "/from");
    let from_user_id = str_at(message, "/from_user_id");
    let contact = sender_contact(contacts, from.as_deref(), from_user_id.as_deref());
    let kind = str_at(message, "/type").unwrap_or_else(|| "unknown".to_owned());
    let (amends, content) = match amendment(&kind, message) {
        Some((amends, content)) => (Some(amends), content),
        None => (None, Content::decode(&kind, message)),
    };
    let content = content.unwrap_or_else(|| Content::Unsupported(kind.clone()));
    // An edit's context (a reply's replied-to id) sits inside the new version.
    let context_of = match &amends {
        Some(Amendment::Edit { .. }) => message.pointer("/edit/message").unwrap_or(message),
        _ => message,
    };
    Event::Message(InboundMessage {
        route: route.clone(),
        id,
        profile_name: contact.and_then(|c| str_at(c, "/profile/name")),
        contact_user_id: contact.and_then(|c| str_at(c, "/user_id")),
        from,
        from_user_id,
        group_id: str_at(message, "/group_id"),
        timestamp: parse_at(message, "/timestamp").unwrap_or(0),
        kind,
        content,
        context: Context {
            replied_to: str_at(context_of, "/context/id"),
            referred_product: str_at(context_of, "/context/referred_product/product_retailer_id"),
            ad_source_id: str_at(message, "/referral/source_id"),
            referral: referral(message),
        },
        errors: api_errors(message),
        amends,
        raw: message.clone(),
    })
}

/// Picks the `value.contacts[]` entry describing the sender: by WhatsApp id, then by
/// business-scoped user id, else the only contact (Meta sends one per sender).
fn sender_contact<'a>(
    contacts: &'a [Value],
    from: Option<&str>,
    from_user_id: Option<&str>,
) -> Option<&'a Value> {
    let matching = |pointer: &str, wanted: Option<&str>| {
        let wanted = wanted?;
        contacts
            .iter()
            .find(|contact| str_at(contact, pointer).as_deref() == Some(wanted))
    };
    matching("/wa_id", from)
        .or_else(|| matching("/user_id", from_user_id))
        .or(match contacts {
            [only] => Some(only),
            _ => None,
        })
}

fn status_event(route: &Route, status: &Value) -> Event {
    let Some(id) = str_at(status, "/id") else {
        return other(route, "statuses", status);
    };
    Event::Status(StatusUpdate {
        route: route.clone(),
        id,
        status: str_at(status, "/status").unwrap_or_default(),
        timestamp: parse_at(status, "/timestamp").unwrap_or(0),
        recipient_id: str_at(status, "/recipient_id"),
        errors: api_errors(status),
        pricing: status
            .get("pricing")
            .filter(|p| p.is_object())
            .map(|p| Pricing {
                billable: p.get("billable").and_then(Value::as_bool),
                pricing_model: str_at(p, "/pricing_model"),
                category: str_at(p, "/category"),
                kind: str_at(p, "/type"),
            }),
        conversation: status
            .get("conversation")
            .filter(|c| c.is_object())
            .map(|c| BillingConversation {
                id: str_at(c, "/id"),
                origin_type: str_at(c, "/origin/type"),
                expiration_timestamp: parse_at(c, "/expiration_timestamp"),
            }),
        raw: status.clone(),
    })
}

fn api_errors(item: &Value) -> Vec<ApiError> {
    array_at(item, "errors")
        .iter()
        .map(|error| ApiError {
            code: parse_at(error, "/code").unwrap_or(0),
            title: str_at(error, "/title").unwrap_or_default(),
            message: str_at(error, "/message"),
            details: str_at(error, "/error_data/details"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::content::{Location, Media, OrderItem, Reaction, Reply, SystemNotice};

    const FIXTURES: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/fixtures/webhooks"
    );

    const SENDER: &str = "16505551234";

    fn fixture_events(name: &str) -> Vec<Event> {
        let path = format!("{FIXTURES}/{name}");
        let body = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let notification = parse(&body).unwrap();
        assert_eq!(notification.object, "whatsapp_business_account");
        notification.events()
    }

    /// The single inbound message of a fixture, with the route every message fixture shares.
    fn fixture_message(name: &str, waba_id: &str) -> InboundMessage {
        let mut events = fixture_events(name);
        assert_eq!(events.len(), 1, "{name}");
        let Some(Event::Message(message)) = events.pop() else {
            panic!("{name}: expected a message")
        };
        assert_eq!(
            message.route,
            Route {
                waba_id: waba_id.into(),
                phone_number_id: Some("106540352242922".into()),
                display_phone_number: Some("15550783881".into()),
                field: "messages".into(),
            }
        );
        assert_eq!(message.from.as_deref(), Some(SENDER));
        assert_eq!(message.from_user_id, None);
        assert_eq!(message.contact_user_id, None);
        assert_eq!(message.raw["id"].as_str(), Some(message.id.as_str()));
        assert_eq!(message.raw["type"].as_str(), Some(message.kind.as_str()));
        message
    }

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

    fn media(id: &str, mime: &str, sha: &str, caption: Option<&str>) -> Media {
        Media {
            id: id.into(),
            mime_type: Some(mime.into()),
            sha256: Some(sha.into()),
            caption: caption.map(Into::into),
            filename: None,
        }
    }

    #[test]
    fn fixture_text_message() {
        let m = fixture_message("text_message.json", "419561257915477");
        assert_eq!(
            m.id,
            "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
        );
        assert_eq!(m.timestamp, 1_749_416_383);
        assert_eq!(m.kind, "text");
        assert_eq!(m.profile_name.as_deref(), Some("Sheena Nelson"));
        assert_eq!(
            m.content,
            Content::Text("Does it come in another color?".into())
        );
        assert_eq!(m.content.text(), Some("Does it come in another color?"));
        assert_eq!(m.context, Context::default());
        assert!(m.errors.is_empty());
    }

    #[test]
    fn fixture_text_message_from_click_to_whatsapp_ad() {
        let m = fixture_message(
            "text_message_from_click_to_whatsapp_ad.json",
            "102290129340398",
        );
        assert_eq!(
            m.id,
            "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUQ0N0VFMDA2MTQ0RkJFNkNDNAA="
        );
        assert_eq!(m.timestamp, 1_750_275_992);
        assert_eq!(
            m.content.text(),
            Some("Hello! Can I get more info on this?")
        );
        assert_eq!(
            m.context.ad_source_id.as_deref(),
            Some("120226305854810726")
        );
        assert_eq!(m.context.replied_to, None);
        // The rest of the referral stays available in the raw message.
        assert_eq!(m.raw["referral"]["source_type"], "ad");
        assert_eq!(m.raw["referral"]["headline"], "Chat with us");
    }

    #[test]
    fn fixture_text_message_with_context_product_inquiry() {
        let m = fixture_message(
            "text_message_with_context_product_inquiry.json",
            "102290129340398",
        );
        assert_eq!(
            m.id,
            "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTA2NTUwRkNEMDdFQjJCRUU0NQA="
        );
        assert_eq!(m.timestamp, 1_750_016_800);
        assert_eq!(m.content, Content::Text("Is this still available?".into()));
        assert_eq!(
            m.context,
            Context {
                replied_to: Some("wamid.HBgLMTY1MDM4Nzk0MzkVAgARGA9wcm9kdWN0X2lucXVpcnkA".into()),
                referred_product: Some("di9ozbzfi4".into()),
                ad_source_id: None,
                referral: None,
            }
        );
    }

    #[test]
    fn fixture_image_message() {
        let m = fixture_message("image_message.json", "419561257915477");
        assert_eq!(
            m.id,
            "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
        );
        assert_eq!(m.timestamp, 1_744_344_496);
        assert_eq!(m.kind, "image");
        assert_eq!(
            m.content,
            Content::Image(media(
                "1003383421387256",
                "image/jpeg",
                "SfInY0gGKTsJlUWbwxC1k+FAD0FZHvzwfpvO0zX0GUI=",
                Some("Taj Mahal"),
            ))
        );
        assert_eq!(m.content.text(), Some("Taj Mahal"));
    }

    #[test]
    fn fixture_location_message() {
        let m = fixture_message("location_message.json", "419561257915477");
        assert_eq!(
            m.id,
            "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTU2MjZEMDBGRkE3MENEMDE0RQA="
        );
        assert_eq!(m.timestamp, 1_744_344_496);
        assert_eq!(m.kind, "location");
        assert_eq!(
            m.content,
            Content::Location(Location {
                latitude: 37.44221496582,
                longitude: -122.16165924072,
                name: Some("Philz Coffee".into()),
                address: Some("101 Forest Ave, Palo Alto, CA 94301".into()),
                url: Some("https://philzcoffee.com/".into()),
            })
        );
        assert_eq!(m.content.text(), None);
    }

    #[test]
    fn fixture_contact_sharing_message() {
        let m = fixture_message("contact_sharing_message.json", "419561257915477");
        assert_eq!(
            m.id,
            "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
        );
        assert_eq!(m.timestamp, 1_744_344_496);
        assert_eq!(m.kind, "contacts");
        // The shared card must not be mistaken for the sender's own contact entry.
        assert_eq!(m.profile_name.as_deref(), Some("Sheena Nelson"));
        let Content::Contacts(cards) = &m.content else {
            panic!("expected contacts, got {:?}", m.content)
        };
        assert_eq!(cards.len(), 1);
        assert_eq!(cards[0].name, "Lucía Gómez");
        assert_eq!(cards[0].phones, ["+1 (983) 555-2319"]);
        assert!(cards[0].emails.is_empty());
        assert_eq!(cards[0].organization.as_deref(), Some("Google"));
    }

    #[test]
    fn fixture_button_message() {
        let m = fixture_message("button_message.json", "419561257915477");
        assert_eq!(
            m.id,
            "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUU0M0MxQzQzMUJCMTMwNUZFOQA="
        );
        assert_eq!(m.timestamp, 1_750_091_045);
        assert_eq!(m.kind, "button");
        assert_eq!(
            m.content,
            Content::Button(Reply {
                id: "Unsubscribe".into(),
                title: "Unsubscribe".into(),
                description: None,
            })
        );
        assert_eq!(
            m.context.replied_to.as_deref(),
            Some("wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJFNjk2OTMwNEZCQjhGMzUyQUYA")
        );
    }

    #[test]
    fn fixture_interactive_button_reply_message() {
        let m = fixture_message("interactive_button_reply_message.json", "419561257915477");
        assert_eq!(
            m.id,
            "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTZBQzg0MzQ4QjRCM0NGNkVGOAA="
        );
        assert_eq!(m.timestamp, 1_750_025_136);
        assert_eq!(m.kind, "interactive");
        assert_eq!(
            m.content,
            Content::InteractiveReply(Reply {
                id: "cancel-button".into(),
                title: "Cancel".into(),
                description: None,
            })
        );
        assert_eq!(
            m.context.replied_to.as_deref(),
            Some("wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MEM2RUJFNkI0RENGQTVDRjUA")
        );
    }

    #[test]
    fn fixture_interactive_list_reply_message() {
        let m = fixture_message("interactive_list_reply_message.json", "419561257915477");
        assert_eq!(
            m.id,
            "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUJDQ0NDM0FEODY4ODkzOTc5RgA="
        );
        assert_eq!(m.timestamp, 1_749_854_575);
        assert_eq!(
            m.content,
            Content::InteractiveReply(Reply {
                id: "priority_express".into(),
                title: "Priority Mail Express".into(),
                description: Some("Next Day to 2 Days".into()),
            })
        );
        assert_eq!(m.content.text(), Some("Priority Mail Express"));
        assert_eq!(
            m.context.replied_to.as_deref(),
            Some("wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJGMzEyNzhENTZDMzNGODlDRDgA")
        );
    }

    #[test]
    fn fixture_order_message() {
        let m = fixture_message("order_message.json", "419561257915477");
        assert_eq!(
            m.id,
            "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTEyQjFGNzI1QTQxMjI5QTMyOQA="
        );
        assert_eq!(m.timestamp, 1_750_096_325);
        assert_eq!(m.kind, "order");
        let Content::Order(order) = &m.content else {
            panic!("expected an order, got {:?}", m.content)
        };
        assert_eq!(order.catalog_id, "194836987003835");
        assert_eq!(order.text, None, "an empty note is no note");
        assert_eq!(
            order.items,
            [
                OrderItem {
                    product_retailer_id: "di9ozbzfi4".into(),
                    quantity: 2,
                    item_price: 30.0,
                    currency: "USD".into(),
                },
                OrderItem {
                    product_retailer_id: "nqryix03ez".into(),
                    quantity: 1,
                    item_price: 25.0,
                    currency: "USD".into(),
                },
            ]
        );
    }

    #[test]
    fn fixture_reaction_message() {
        let m = fixture_message("reaction_message.json", "419561257915477");
        assert_eq!(
            m.id,
            "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
        );
        assert_eq!(m.timestamp, 1_749_419_544);
        assert_eq!(m.kind, "reaction");
        assert_eq!(
            m.content,
            Content::Reaction(Reaction {
                message_id: "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0RTJEOTc2ODVERUY5RDlGNkYA".into(),
                emoji: Some("👍".into()),
            })
        );
        assert_eq!(m.content.text(), None);
    }

    #[test]
    fn fixture_system_message() {
        let m = fixture_message("system_message.json", "102290129340398");
        assert_eq!(m.id, "wamid.HBgLMTk4MzU1NTE5NzQVAgASGAoxMTgyMDg2MjY3AA==");
        assert_eq!(m.timestamp, 1_750_269_342);
        assert_eq!(m.kind, "system");
        // System messages come without `contacts`, so there is no profile name.
        assert_eq!(m.profile_name, None);
        assert_eq!(
            m.content,
            Content::System(SystemNotice {
                kind: "user_changed_number".into(),
                body: "User Sheena Nelson changed from 16505551234 to 12195555358".into(),
                new_wa_id: Some("12195555358".into()),
                identity: None,
            })
        );
    }

    #[test]
    fn fixture_unsupported_message() {
        let m = fixture_message("unsupported_message.json", "419561257915477");
        assert_eq!(
            m.id,
            "wamid.HBgLMTQyMDU1NTA3NDkVAgASGBI5N0MwRjg0RTVBNUI1RDA2OTkA"
        );
        assert_eq!(m.timestamp, 1_750_090_702);
        assert_eq!(m.kind, "unsupported");
        assert_eq!(m.content, Content::Unsupported("unsupported".into()));
        assert_eq!(
            m.errors,
            [ApiError {
                code: 131_051,
                title: "Message type unknown".into(),
                message: Some("Message type unknown".into()),
                details: Some("Message type is currently not supported.".into()),
            }]
        );
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

    fn metadata(phone_number_id: &str) -> Value {
        json!({"display_phone_number": "15550000000", "phone_number_id": phone_number_id})
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

    fn single_message(message: Value) -> InboundMessage {
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

    #[test]
    fn synthetic_unknown_type_is_unsupported_with_raw_kept() {
        let raw = json!({"from": "1", "id": "wamid.foo", "timestamp": "1700000000", "type": "foo",
                         "foo": {"bar": [1, 2, 3]}, "brand_new_field": true});
        let m = single_message(raw.clone());
        assert_eq!(m.kind, "foo");
        assert_eq!(m.content, Content::Unsupported("foo".into()));
        assert_eq!(m.raw, raw);
        assert_eq!(m.timestamp, 1_700_000_000);
    }

    #[test]
    fn synthetic_malformed_items_still_yield_events() {
        // An image without its `image` object.
        let m = single_message(
            json!({"from": "1", "id": "wamid.x", "timestamp": "soon", "type": "image"}),
        );
        assert_eq!(m.content, Content::Unsupported("image".into()));
        assert_eq!(m.timestamp, 0, "an unreadable timestamp is 0");
        // No type, no sender, odd context.
        let m = single_message(json!({"id": "wamid.y", "context": "nope", "referral": 5}));
        assert_eq!(m.kind, "unknown");
        assert_eq!(m.from, None);
        assert_eq!(m.content, Content::Unsupported("unknown".into()));
        assert_eq!(m.context, Context::default());
        // A text whose body is not a string, and errors of the wrong shape.
        let m = single_message(
            json!({"id": "wamid.z", "type": "text", "text": {"body": {}}, "errors": [7]}),
        );
        assert_eq!(m.content, Content::Unsupported("text".into()));
        assert_eq!(
            m.errors,
            [ApiError {
                code: 0,
                title: String::new(),
                message: None,
                details: None
            }]
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
    fn synthetic_voice_audio_message() {
        let m = single_message(
            json!({"from": "1", "id": "wamid.v", "timestamp": "1700000000", "type": "audio",
            "audio": {"mime_type": "audio/ogg; codecs=opus", "sha256": "abc=", "id": "media-1", "voice": true}}),
        );
        assert_eq!(m.kind, "audio");
        assert_eq!(
            m.content,
            Content::Voice(Media {
                id: "media-1".into(),
                mime_type: Some("audio/ogg; codecs=opus".into()),
                sha256: Some("abc=".into()),
                caption: None,
                filename: None,
            })
        );
    }

    #[test]
    fn synthetic_removed_reaction() {
        let m = single_message(
            json!({"from": "1", "id": "wamid.r", "timestamp": "1700000000", "type": "reaction",
            "reaction": {"message_id": "wamid.target", "emoji": ""}}),
        );
        assert_eq!(
            m.content,
            Content::Reaction(Reaction {
                message_id: "wamid.target".into(),
                emoji: None
            })
        );
    }

    #[test]
    fn synthetic_statuses_with_errors() {
        let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "w", "changes": [
            {"field": "messages", "value": {"metadata": metadata("pn"), "statuses": [{
                "id": "wamid.out", "status": "failed", "timestamp": "1700000009", "recipient_id": "16505551234",
                "errors": [{"code": 131047, "title": "Re-engagement message", "message": "Re-engagement message",
                            "error_data": {"details": "Message failed to send because more than 24 hours have passed."},
                            "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"}]
            }], "errors": [{"code": 131000, "title": "Something went wrong"}]}}
        ]}]});
        let events = parse(body.to_string().as_bytes()).unwrap().events();
        assert_eq!(events.len(), 2);
        let Event::Status(status) = &events[0] else {
            panic!("expected a status, got {:?}", events[0])
        };
        assert_eq!(status.id, "wamid.out");
        assert_eq!(status.status, "failed");
        assert_eq!(status.timestamp, 1_700_000_009);
        assert_eq!(status.recipient_id.as_deref(), Some("16505551234"));
        assert_eq!(status.route.phone_number_id.as_deref(), Some("pn"));
        assert_eq!(
            status.errors,
            [ApiError {
                code: 131_047,
                title: "Re-engagement message".into(),
                message: Some("Re-engagement message".into()),
                details: Some(
                    "Message failed to send because more than 24 hours have passed.".into()
                ),
            }]
        );
        let Event::Account(change_error) = &events[1] else {
            panic!("expected the change-level error, got {:?}", events[1])
        };
        assert_eq!(change_error.kind, "errors");
        assert_eq!(change_error.event.as_deref(), Some("131000"));
        assert_eq!(change_error.route.phone_number_id.as_deref(), Some("pn"));
        assert_eq!(change_error.raw["code"], 131_000);
    }

    #[test]
    fn synthetic_sender_matched_by_business_scoped_user_id() {
        let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "w", "changes": [
            {"field": "messages", "value": {"metadata": metadata("pn"),
                "contacts": [{"profile": {"name": "Other"}, "wa_id": "9"},
                             {"profile": {"name": "Dana"}, "user_id": "US.123"}],
                "messages": [{"from_user_id": "US.123", "id": "wamid.u", "timestamp": "1700000000",
                              "type": "text", "text": {"body": "hey"}}]}}
        ]}]});
        let events = parse(body.to_string().as_bytes()).unwrap().events();
        let Some(Event::Message(m)) = events.first() else {
            panic!("expected a message")
        };
        assert_eq!(m.from, None);
        assert_eq!(m.from_user_id.as_deref(), Some("US.123"));
        assert_eq!(m.profile_name.as_deref(), Some("Dana"));
        assert_eq!(m.contact_user_id.as_deref(), Some("US.123"));
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

    fn single_event(field: &str, value: Value) -> Vec<Event> {
        let body = json!({"object": "whatsapp_business_account", "entry": [
            {"id": "waba-9", "time": 1_700_000_100, "changes": [{"field": field, "value": value}]}
        ]});
        parse(body.to_string().as_bytes()).unwrap().events()
    }

    #[test]
    fn synthetic_edit_carries_the_new_content_and_the_original_id() {
        let m = single_message(
            json!({"from": "1", "id": "wamid.edit1", "timestamp": "1700000050",
            "type": "edit", "edit": {"original_message_id": "wamid.orig", "message": {
                "context": {"id": "wamid.asked"}, "type": "text", "text": {"body": "fixed typo"}}}}),
        );
        assert_eq!(m.kind, "edit");
        assert_eq!(m.content, Content::Text("fixed typo".into()));
        assert_eq!(m.context.replied_to.as_deref(), Some("wamid.asked"));
        assert_eq!(
            m.amends,
            Some(Amendment::Edit {
                original_id: "wamid.orig".into(),
                kind: "text".into(),
                text: Some("fixed typo".into()),
            })
        );
        // A caption edit without the media id still yields the new caption.
        let m = single_message(
            json!({"from": "1", "id": "wamid.edit2", "timestamp": "1700000051",
            "type": "edit", "edit": {"original_message_id": "wamid.img", "message": {
                "type": "image", "image": {"caption": "new caption"}}}}),
        );
        assert_eq!(m.content, Content::Unsupported("image".into()));
        assert_eq!(
            m.amends,
            Some(Amendment::Edit {
                original_id: "wamid.img".into(),
                kind: "image".into(),
                text: Some("new caption".into()),
            })
        );
    }

    #[test]
    fn synthetic_revoke_names_the_deleted_message() {
        let m = single_message(
            json!({"from": "1", "id": "wamid.rev", "timestamp": "1700000060",
            "type": "revoke", "revoke": {"original_message_id": "wamid.orig"}}),
        );
        assert_eq!(
            m.amends,
            Some(Amendment::Revoke {
                original_id: "wamid.orig".into()
            })
        );
        assert_eq!(
            m.amends.as_ref().map(Amendment::original_id),
            Some("wamid.orig")
        );
        assert_eq!(m.content, Content::Unsupported("revoke".into()));
        // Without the original id it is only an unsupported message, kept raw.
        let m = single_message(
            json!({"from": "1", "id": "wamid.rev2", "type": "revoke", "revoke": {}}),
        );
        assert_eq!(m.amends, None);
        assert_eq!(m.content, Content::Unsupported("revoke".into()));
    }

    #[test]
    fn fixture_click_to_whatsapp_ad_referral_is_read_whole() {
        let m = fixture_message(
            "text_message_from_click_to_whatsapp_ad.json",
            "102290129340398",
        );
        let referral = m.context.referral.expect("referral");
        assert_eq!(referral.source_id.as_deref(), Some("120226305854810726"));
        assert_eq!(referral.source_type.as_deref(), Some("ad"));
        assert_eq!(
            referral.source_url.as_deref(),
            Some("https://fb.me/3cr4Wqqkv")
        );
        assert_eq!(referral.headline.as_deref(), Some("Chat with us"));
        assert_eq!(
            referral.body.as_deref(),
            Some("Summer Succulents are here!")
        );
        assert_eq!(referral.media_type.as_deref(), Some("image"));
        assert!(referral.ctwa_clid.is_some_and(|c| c.starts_with("Aff-")));
    }

    #[test]
    fn synthetic_status_pricing_and_conversation_in_both_models() {
        let events = single_event(
            "messages",
            json!({"metadata": metadata("pn"), "statuses": [
                {"id": "wamid.a", "status": "sent", "timestamp": "1750857384", "recipient_id": "55",
                 "conversation": {"id": "conv-1", "expiration_timestamp": "1750943820", "origin": {"type": "service"}},
                 "pricing": {"billable": true, "pricing_model": "CBP", "category": "service"}},
                {"id": "wamid.b", "status": "delivered", "timestamp": "1760000000", "recipient_id": "55",
                 "pricing": {"billable": false, "pricing_model": "PMP", "category": "utility", "type": "free_customer_service"}},
                {"id": "wamid.c", "status": "read", "timestamp": "1760000001", "recipient_id": "55"}
            ]}),
        );
        let statuses: Vec<_> = events
            .iter()
            .map(|e| match e {
                Event::Status(s) => s,
                other => panic!("expected statuses, got {other:?}"),
            })
            .collect();
        assert_eq!(
            statuses[0].pricing,
            Some(Pricing {
                billable: Some(true),
                pricing_model: Some("CBP".into()),
                category: Some("service".into()),
                kind: None,
            })
        );
        assert_eq!(
            statuses[0].conversation,
            Some(BillingConversation {
                id: Some("conv-1".into()),
                origin_type: Some("service".into()),
                expiration_timestamp: Some(1_750_943_820),
            })
        );
        assert_eq!(
            statuses[1].pricing,
            Some(Pricing {
                billable: Some(false),
                pricing_model: Some("PMP".into()),
                category: Some("utility".into()),
                kind: Some("free_customer_service".into()),
            })
        );
        assert_eq!(statuses[1].conversation, None);
        assert_eq!(
            (
                statuses[2].pricing.clone(),
                statuses[2].conversation.clone()
            ),
            (None, None)
        );
    }

    #[test]
    fn synthetic_account_fields_become_account_events() {
        let cases = [
            (
                "message_template_status_update",
                json!({"event": "REJECTED", "message_template_id": 1, "message_template_name": "promo",
                    "message_template_language": "en_US", "reason": "INVALID_FORMAT"}),
                "REJECTED",
                Some("promo"),
            ),
            (
                "message_template_quality_update",
                json!({"previous_quality_score": "GREEN", "new_quality_score": "YELLOW",
                    "message_template_id": 2, "message_template_name": "welcome", "message_template_language": "en"}),
                "YELLOW",
                Some("welcome"),
            ),
            (
                "template_category_update",
                json!({"message_template_id": 3, "message_template_name": "receipt", "message_template_language": "en",
                    "previous_category": "UTILITY", "new_category": "MARKETING"}),
                "MARKETING",
                Some("receipt"),
            ),
            (
                "phone_number_quality_update",
                json!({"display_phone_number": "15550783881", "event": "FLAGGED", "current_limit": "TIER_1K"}),
                "FLAGGED",
                Some("15550783881"),
            ),
            (
                "account_update",
                json!({"phone_number": "15550783881", "event": "ACCOUNT_VIOLATION",
                    "violation_info": {"violation_type": "SCAM"}}),
                "ACCOUNT_VIOLATION",
                Some("15550783881"),
            ),
        ];
        for (field, value, event, subject) in cases {
            let events = single_event(field, value.clone());
            assert_eq!(events.len(), 1, "{field}");
            let Event::Account(a) = &events[0] else {
                panic!("{field}: expected an account event, got {:?}", events[0])
            };
            assert_eq!(a.kind, field);
            assert_eq!(a.route.field, field);
            assert_eq!(a.route.waba_id, "waba-9");
            assert_eq!(a.event.as_deref(), Some(event), "{field}");
            assert_eq!(a.subject.as_deref(), subject, "{field}");
            assert_eq!(a.entry_time, Some(1_700_000_100));
            assert_eq!(a.timestamp, Some(1_700_000_100));
            assert_eq!(a.raw, value);
        }
        // The number-level update routes by its display number.
        let events = single_event(
            "phone_number_quality_update",
            json!({"display_phone_number": "15550783881", "event": "UPGRADE"}),
        );
        assert_eq!(
            events[0].route().display_phone_number.as_deref(),
            Some("15550783881")
        );
        assert_eq!(events[0].route().phone_number_id, None);
    }

    #[test]
    fn synthetic_user_preferences_give_one_event_per_item() {
        let events = single_event(
            "user_preferences",
            json!({"messaging_product": "whatsapp", "metadata": metadata("pn"),
            "contacts": [{"profile": {"name": "Ana"}, "wa_id": "111"}],
            "user_preferences": [
                {"wa_id": "111", "detail": "User requested to stop marketing messages",
                 "category": "marketing_messages", "value": "stop", "timestamp": 1_731_705_721},
                {"wa_id": "222", "detail": "User requested to resume marketing messages",
                 "category": "marketing_messages", "value": "resume", "timestamp": "1731705722"}
            ]}),
        );
        let summary: Vec<_> = events
            .iter()
            .map(|e| match e {
                Event::Account(a) => (
                    a.kind.clone(),
                    a.route.phone_number_id.clone(),
                    a.event.clone(),
                    a.subject.clone(),
                    a.timestamp,
                ),
                other => panic!("expected account events, got {other:?}"),
            })
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "user_preferences".into(),
                    Some("pn".into()),
                    Some("stop".into()),
                    Some("111".into()),
                    Some(1_731_705_721)
                ),
                (
                    "user_preferences".into(),
                    Some("pn".into()),
                    Some("resume".into()),
                    Some("222".into()),
                    Some(1_731_705_722)
                ),
            ]
        );
    }
}
