//! The pipeline's and the sync engine's side of the plugin slots: conversions from
//! WhatsApp and store types to the WIT contract's, and the calls that take host
//! types. The engine speaks WIT only; this module is where the two meet.

use scrm_engine::BindingSpec;
use scrm_engine::bindings::types as wit;
use scrm_engine::classifier::Classification;
use scrm_engine::crm::{
    ConversationFacts, CrmCallError, CrmRecord, KeyedRecord, Signal, SignalKind,
};
use scrm_engine::error::CallError;
use scrm_engine::responder::ConversationView;
use scrm_engine::{ActiveBinding, PluginHost};
use scrm_store::contacts::Contact;
use scrm_store::conversations::Summary;
use scrm_store::messages::Message;
use scrm_store::plugins::BindingRow;
use scrm_wire::content::Content;
use scrm_wire::payload::InboundMessage;
use serde_json::Value;

pub mod flows;
pub mod oauth;
mod storage;
pub use storage::DbStorage;

/// The engine's view of a stored binding row.
pub fn binding_spec(row: &BindingRow) -> BindingSpec {
    BindingSpec {
        tenant_id: row.tenant_id.clone(),
        slot: row.slot.clone(),
        version: row.version,
        sha256: row.sha256.clone(),
        name: row.name.clone(),
        config: row.config.clone(),
        limits: row.limits.clone(),
        http: row.http.clone(),
        quarantine: row
            .quarantine_reason
            .clone()
            .or_else(|| row.quarantined_at.map(|_| "quarantined".to_string())),
    }
}

/// Runs `binding` (a classifier) on one inbound message in a fresh instance.
///
/// # Errors
/// A [`CallError`] naming tenant, plugin and cause; it fails this call only.
pub fn classify(
    host: &PluginHost,
    binding: &ActiveBinding,
    msg: &InboundMessage,
    sender: &Contact,
) -> Result<Classification, CallError> {
    host.classify(binding, &to_wit_message(msg), &to_wit_contact(sender))
}

/// Runs `binding` (a responder) on one inbound message; the actions as JSON.
///
/// # Errors
/// A [`CallError`] naming tenant, plugin and cause; it fails this call only.
pub fn respond(
    host: &PluginHost,
    binding: &ActiveBinding,
    msg: &InboundMessage,
    sender: &Contact,
    conversation: &ConversationView,
    classification: Option<&Classification>,
) -> Result<Vec<Value>, CallError> {
    host.respond(
        binding,
        &to_wit_message(msg),
        &to_wit_contact(sender),
        conversation,
        classification,
    )
}

/// The mapper's CRM record for a contact, with what the host knows of it.
///
/// # Errors
/// [`CrmCallError`].
pub fn map_contact(
    host: &PluginHost,
    mapper: &ActiveBinding,
    c: &Contact,
    facts: &wit::ContactFacts,
) -> Result<scrm_engine::crm::MappedContact, CrmCallError> {
    host.map_contact(mapper, &to_wit_contact(c), facts)
}

/// The mapper's CRM record (a note or communication) for a stored message.
///
/// # Errors
/// [`CrmCallError`].
pub fn map_message(
    host: &PluginHost,
    mapper: &ActiveBinding,
    m: &Message,
    c: &Contact,
) -> Result<CrmRecord, CrmCallError> {
    host.map_message(mapper, &stored_to_wit(m), &to_wit_contact(c), &found_in(m))
}

/// The mapper's keyed record (a deal or case, per `kind`) for the signal message
/// `m` in conversation `conv`; none when the mapper writes nothing for it.
///
/// # Errors
/// [`CrmCallError`].
pub fn map_signal(
    host: &PluginHost,
    mapper: &ActiveBinding,
    conv: &Summary,
    c: &Contact,
    kind: SignalKind,
    m: &Message,
) -> Result<Option<KeyedRecord>, CrmCallError> {
    let facts = ConversationFacts {
        id: conv.id,
        phone_number_id: conv.phone_number_id.clone(),
        last_message_at: conv.last_message_at,
        last_inbound_at: conv.last_inbound_at,
        tags: conv.tags.clone(),
    };
    let signal = Signal {
        kind,
        message: stored_to_wit(m),
        found: found_in(m),
    };
    host.map_conversation(mapper, &facts, &to_wit_contact(c), &signal)
}

/// What the classifier found in a stored message.
pub fn found_in(m: &Message) -> Classification {
    Classification {
        tags: m.tags.clone(),
        details: m.classification.clone().unwrap_or(Value::Null),
    }
}

/// The contract's view of a stored contact.
pub fn to_wit_contact(c: &Contact) -> wit::Contact {
    wit::Contact {
        id: c.id as u64,
        wa_id: c.wa_id.clone(),
        user_id: c.user_id.clone(),
        phone: c.phone.clone(),
        name: c.name.clone(),
    }
}

/// The contract's view of an inbound message.
pub fn to_wit_message(m: &InboundMessage) -> wit::Message {
    wit::Message {
        id: m.id.clone(),
        direction: wit::Direction::Inbound,
        timestamp: m.timestamp.saturating_mul(1000),
        content: to_wit_content(&m.content),
        context: wit::Context {
            replied_to: m.context.replied_to.clone(),
            referred_product: m.context.referred_product.clone(),
            ad_source_id: m.context.ad_source_id.clone(),
        },
    }
}

fn media(m: &scrm_wire::content::Media) -> wit::Media {
    wit::Media {
        id: m.id.clone(),
        mime_type: m.mime_type.clone(),
        sha256: m.sha256.clone(),
        caption: m.caption.clone(),
        filename: m.filename.clone(),
    }
}

fn reply(r: &scrm_wire::content::Reply) -> wit::Reply {
    wit::Reply {
        id: r.id.clone(),
        title: r.title.clone(),
        description: r.description.clone(),
    }
}

pub fn to_wit_content(c: &Content) -> wit::Content {
    match c {
        Content::Text(t) => wit::Content::Text(t.clone()),
        Content::Image(m) => wit::Content::Image(media(m)),
        Content::Audio(m) => wit::Content::Audio(media(m)),
        Content::Voice(m) => wit::Content::Voice(media(m)),
        Content::Video(m) => wit::Content::Video(media(m)),
        Content::Document(m) => wit::Content::Document(media(m)),
        Content::Sticker(m) => wit::Content::Sticker(media(m)),
        Content::Location(l) => wit::Content::Location(wit::Location {
            latitude: l.latitude,
            longitude: l.longitude,
            name: l.name.clone(),
            address: l.address.clone(),
            url: l.url.clone(),
        }),
        Content::Contacts(cs) => wit::Content::Contacts(
            cs.iter()
                .map(|c| wit::SharedContact {
                    name: c.name.clone(),
                    phones: c.phones.clone(),
                    emails: c.emails.clone(),
                    organization: c.organization.clone(),
                })
                .collect(),
        ),
        Content::InteractiveReply(r) => wit::Content::InteractiveReply(reply(r)),
        Content::Button(r) => wit::Content::Button(reply(r)),
        Content::Reaction(r) => wit::Content::Reaction(wit::Reaction {
            message_id: r.message_id.clone(),
            emoji: r.emoji.clone(),
        }),
        Content::Order(o) => wit::Content::Order(wit::Order {
            catalog_id: o.catalog_id.clone(),
            text: o.text.clone(),
            items: o
                .items
                .iter()
                .map(|i| wit::OrderItem {
                    product_retailer_id: i.product_retailer_id.clone(),
                    quantity: i.quantity,
                    item_price: i.item_price,
                    currency: i.currency.clone(),
                })
                .collect(),
        }),
        Content::System(s) => wit::Content::System(wit::SystemNotice {
            kind: s.kind.clone(),
            body: s.body.clone(),
            new_wa_id: s.new_wa_id.clone(),
        }),
        Content::Unsupported(kind) => wit::Content::Unsupported(kind.clone()),
    }
}

/// The contract's view of a stored message (inbound or outbound).
pub fn stored_to_wit(m: &Message) -> wit::Message {
    let content = match Content::decode(&m.kind, &m.raw) {
        // An edited text carries its latest body in `text`.
        Some(Content::Text(_)) | None if m.kind == "text" => {
            Content::Text(m.text.clone().unwrap_or_default())
        }
        Some(c) => c,
        None => Content::Unsupported(m.kind.clone()),
    };
    wit::Message {
        id: m.wamid.clone(),
        direction: if m.direction == "outbound" {
            wit::Direction::Outbound
        } else {
            wit::Direction::Inbound
        },
        timestamp: m.timestamp,
        content: to_wit_content(&content),
        context: wit::Context {
            replied_to: m.context["replied_to"].as_str().map(str::to_owned),
            referred_product: m.context["referred_product"].as_str().map(str::to_owned),
            ad_source_id: m.context["ad_source_id"].as_str().map(str::to_owned),
        },
    }
}
