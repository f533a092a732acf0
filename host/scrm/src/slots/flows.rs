//! Flow events in the contract's types: a stored flow job (its event JSON, its
//! contact, conversation and message) becomes the `event` a flow handles. (The
//! flow's reads are answered by `automation::reader`.)

use scrm_engine::bindings::flow as wit_flow;
use scrm_engine::bindings::types as wit;
use scrm_store::contacts::Contact;
use scrm_store::conversations::Summary;
use scrm_store::flows::FlowJob;
use scrm_store::{Store, StoreError};
use serde_json::Value;

/// How many of a contact's newest messages are scanned for WhatsApp orders.
pub const ORDER_SCAN: u32 = 50;

/// What the host read to build a flow's event, kept for applying its actions.
#[derive(Debug, Clone)]
pub struct EventFacts {
    /// The contact, when the event has one.
    pub contact: Option<Contact>,
    /// The contact's newest conversation.
    pub conversation: Option<Summary>,
    /// The contact's synced fields, by name.
    pub fields: Vec<(String, Value)>,
    /// The contact's newest order as the template language's `order`, when a
    /// message of the flow names it.
    pub order: Option<Value>,
}

/// The contract's view of a conversation summary.
pub fn to_wit_conversation(s: &Summary, contact_id: i64) -> wit::Conversation {
    wit::Conversation {
        id: s.id as u64,
        contact_id: contact_id as u64,
        phone_number_id: s.phone_number_id.clone(),
        last_message_at: s.last_message_at,
        last_inbound_at: s.last_inbound_at,
        tags: s.tags.clone(),
    }
}

/// A JSON value as the contract's field value.
pub use scrm_engine::crm::json_value as to_field_value;

/// Reads what a job's event needs: its contact, conversation and fields.
///
/// # Errors
/// On database failure.
pub fn facts(c: &dyn Store, job: &FlowJob) -> Result<EventFacts, StoreError> {
    if job.contact_id == 0 {
        return Ok(EventFacts {
            contact: None,
            conversation: None,
            fields: Vec::new(),
            order: None,
        });
    }
    let contact = scrm_store::ContactRepo::get(c, &job.tenant, job.contact_id)?;
    let conversation = scrm_store::ConversationRepo::latest_of(c, &job.tenant, job.contact_id)?;
    let fields = scrm_store::CrmRepo::fields(c, &job.tenant, job.contact_id)?
        .into_iter()
        .map(|(name, clock)| (name, clock.value))
        .collect();
    Ok(EventFacts {
        contact,
        conversation,
        fields,
        order: None,
    })
}

/// The flow's `event` for `job`, or why there is none (the message is gone).
///
/// # Errors
/// On database failure.
pub fn event(
    c: &dyn Store,
    job: &FlowJob,
    facts: &EventFacts,
    business_started: bool,
    now: i64,
) -> Result<Result<wit_flow::Event, String>, StoreError> {
    let e: Value = serde_json::from_str(&job.event).unwrap_or(Value::Null);
    let text = |k: &str| e[k].as_str().unwrap_or_default().to_string();
    let trigger = match job.kind.as_str() {
        "message" => {
            let id = e["message_id"].as_i64().unwrap_or(0);
            let Some(m) = scrm_store::MessageRepo::get(c, &job.tenant, id)? else {
                return Ok(Err(format!("message {id} is gone")));
            };
            let found = super::found_in(&m);
            let classification = m
                .classification
                .is_some()
                .then(|| scrm_engine::responder::to_wit_classification(&found));
            wit_flow::Trigger::Message(wit_flow::Inbound {
                message: super::stored_to_wit(&m),
                classification,
                business_initiated: business_started,
            })
        }
        "status" => wit_flow::Trigger::Status(wit_flow::StatusChange {
            message_id: text("wamid"),
            status: text("status"),
            sent_by_flow: e["flow"].as_str().map(str::to_owned),
        }),
        "link-clicked" => wit_flow::Trigger::LinkClicked(wit_flow::Click {
            url: text("url"),
            message_id: e["wamid"].as_str().map(str::to_owned),
            at: e["at"].as_i64().unwrap_or(job.due_at),
        }),
        "order" => wit_flow::Trigger::Order(wit_flow::OrderEvent {
            source: text("source"),
            id: text("id"),
            at: e["at"].as_i64().unwrap_or(job.due_at),
        }),
        "resolved" => wit_flow::Trigger::Resolved,
        "field-changed" => wit_flow::Trigger::FieldChanged(wit_flow::FieldChange {
            name: text("name"),
            old: (!e["old"].is_null()).then(|| to_field_value(&e["old"])),
            new: to_field_value(&e["new"]),
        }),
        "timer" => wit_flow::Trigger::Timer(wit_flow::TimerFired {
            key: job.timer_key.clone().unwrap_or_default(),
            payload: job.payload.clone().unwrap_or_default(),
            due_at: job.due_at,
            late_ms: (now - job.fire_at).max(0),
        }),
        "schedule" => wit_flow::Trigger::Schedule(text("name")),
        other => return Ok(Err(format!("unknown event kind {other:?}"))),
    };
    Ok(Ok(wit_flow::Event {
        trigger,
        contact: facts.contact.as_ref().map(super::to_wit_contact),
        conversation: facts
            .conversation
            .as_ref()
            .map(|s| to_wit_conversation(s, job.contact_id)),
        now,
    }))
}

/// An order as the template language's `order` (see `automation::template`).
pub fn order_json(o: &scrm_engine::bindings::scrm::plugin::commerce::OrderInfo) -> Value {
    serde_json::json!({
        "id": o.id, "number": o.number, "state": o.state, "total": o.total,
        "currency": o.currency, "tracking_number": o.tracking_number, "carrier": o.carrier,
        "placed_at": o.placed_at, "source": o.source,
        "products": o.lines.iter().map(|l| l.name.clone().unwrap_or_else(|| l.sku.clone())).collect::<Vec<_>>(),
    })
}
