//! Flow events in the contract's types: a stored flow job (its event JSON, its
//! contact, conversation and message) becomes the `event` a flow handles, and
//! [`DbFlowReader`] answers the flow's reads of its contact from the database.

use scrm_engine::bindings::flow as wit_flow;
use scrm_engine::bindings::scrm::plugin::commerce::{OrderInfo, OrderLine, Tracking};
use scrm_engine::bindings::scrm::plugin::profile::Profile;
use scrm_engine::bindings::types as wit;
use scrm_engine::storage::{FlowReader, StorageError};
use scrm_engine::{PluginHost, TenantPlugins};
use scrm_store::contacts::Contact;
use scrm_store::conversations::Summary;
use scrm_store::flows::FlowJob;
use scrm_store::{Db, Store, StoreError};
use serde_json::Value;
use std::sync::Arc;

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
pub fn to_field_value(v: &Value) -> wit::FieldValue {
    match v {
        Value::Null => wit::FieldValue::Empty,
        Value::Bool(b) => wit::FieldValue::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => wit::FieldValue::Integer(i),
            None => wit::FieldValue::Number(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => wit::FieldValue::Text(s.clone()),
        other => wit::FieldValue::Text(other.to_string()),
    }
}

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

/// A flow's reads of its event's contact, on the call's thread: the database, and
/// the tenant's connector (orders) and courier (parcels) of the snapshot the event
/// runs on.
#[derive(Debug)]
pub struct DbFlowReader {
    db: Db,
    plugins: Arc<PluginHost>,
    snapshot: Arc<TenantPlugins>,
    tenant: String,
    contact_id: i64,
}

impl DbFlowReader {
    /// The reader of `contact_id` of `tenant` (0: no contact).
    pub fn new(
        db: Db,
        plugins: Arc<PluginHost>,
        snapshot: Arc<TenantPlugins>,
        tenant: &str,
        contact_id: i64,
    ) -> DbFlowReader {
        DbFlowReader {
            db,
            plugins,
            snapshot,
            tenant: tenant.to_string(),
            contact_id,
        }
    }

    /// The contact's orders in the CRM, through a connector that can look them up;
    /// none when there is no such connector or the contact is not synced.
    fn crm_orders(&self, since: i64, limit: u32) -> Result<Vec<OrderInfo>, String> {
        let Some(connector) = self
            .snapshot
            .connector
            .as_ref()
            .filter(|c| PluginHost::looks_up_orders(c))
        else {
            return Ok(Vec::new());
        };
        let (tenant, id) = (self.tenant.as_str(), self.contact_id);
        let link = self
            .db
            .read_blocking(|c| scrm_store::CrmRepo::link(c, tenant, "contact", id))
            .map_err(|e| e.to_string())?;
        let Some(link) = link else {
            return Ok(Vec::new());
        };
        self.plugins
            .find_orders(connector, &link.crm_id, since, limit)
            .map_err(|e| format!("{}: {e}", e.code()))
    }
}

fn failed(e: StoreError) -> StorageError {
    StorageError(e.to_string())
}

impl FlowReader for DbFlowReader {
    fn profile(&self) -> Result<Option<Profile>, StorageError> {
        if self.contact_id == 0 {
            return Ok(None);
        }
        let (tenant, id) = (self.tenant.as_str(), self.contact_id);
        self.db
            .read_blocking(|c| {
                let Some(contact) = scrm_store::ContactRepo::get(c, tenant, id)? else {
                    return Ok(None);
                };
                let fields = scrm_store::CrmRepo::fields(c, tenant, id)?
                    .into_iter()
                    .map(|(n, clock)| (n, to_field_value(&clock.value)))
                    .collect();
                let conversation = scrm_store::ConversationRepo::latest_of(c, tenant, id)?;
                let to = contact.wa_id.clone().unwrap_or_default();
                let consent = scrm_store::ConsentRepo::get(c, tenant, &to)?;
                Ok(Some(Profile {
                    contact: super::to_wit_contact(&contact),
                    fields,
                    tags: conversation
                        .as_ref()
                        .map(|s| s.tags.clone())
                        .unwrap_or_default(),
                    opted_in: consent.opted_in(),
                    opted_out: consent.opted_out(),
                    last_inbound_at: conversation.and_then(|s| s.last_inbound_at),
                }))
            })
            .map_err(failed)
    }

    fn history(&self, limit: u32) -> Result<Vec<wit::Message>, StorageError> {
        let (tenant, id) = (self.tenant.as_str(), self.contact_id);
        self.db
            .read_blocking(|c| {
                let ids = scrm_store::FlowRepo::recent_message_ids(c, tenant, id, limit)?;
                let mut out = Vec::with_capacity(ids.len());
                for m in ids {
                    if let Some(m) = scrm_store::MessageRepo::get(c, tenant, m)? {
                        out.push(super::stored_to_wit(&m));
                    }
                }
                Ok(out)
            })
            .map_err(failed)
    }

    fn orders(&self, since: i64, limit: u32) -> Result<Vec<OrderInfo>, String> {
        // The tenant's CRM (when its connector looks up orders) and the WhatsApp
        // orders the host recorded, newest first.
        let mut found = self.crm_orders(since, limit)?;
        let history = self.history(ORDER_SCAN).map_err(|e| e.to_string())?;
        found.extend(
            history
                .into_iter()
                .filter(|m| m.timestamp >= since)
                .filter_map(|m| match m.content {
                    wit::Content::Order(o) => Some(OrderInfo {
                        id: m.id.clone(),
                        number: None,
                        source: "whatsapp".into(),
                        placed_at: m.timestamp,
                        state: None,
                        total: Some(
                            o.items
                                .iter()
                                .map(|i| i.item_price * f64::from(i.quantity))
                                .sum(),
                        ),
                        currency: o.items.first().map(|i| i.currency.clone()),
                        tracking_number: None,
                        carrier: None,
                        lines: o
                            .items
                            .iter()
                            .map(|i| OrderLine {
                                sku: i.product_retailer_id.clone(),
                                name: None,
                                quantity: f64::from(i.quantity),
                                unit_price: Some(i.item_price),
                            })
                            .collect(),
                    }),
                    _ => None,
                }),
        );
        found.sort_by_key(|o| std::cmp::Reverse(o.placed_at));
        found.truncate(limit as usize);
        Ok(found)
    }

    fn next_occurrence(&self, spec: &str, zone: Option<&str>) -> Result<i64, String> {
        let zone = match zone {
            Some(z) => z.to_string(),
            None => {
                let tenant = self.tenant.as_str();
                self.db
                    .read_blocking(|c| scrm_store::FlowRepo::time_zone(c, tenant))
                    .map_err(|e| e.to_string())?
                    .unwrap_or_else(|| "UTC".into())
            }
        };
        let tz = crate::automation::schedule::zone(&zone)?;
        crate::automation::schedule::next_after(spec, tz, scrm_store::now_ms())
    }

    fn track(&self, carrier: Option<&str>, number: &str) -> Result<Tracking, String> {
        let courier = self
            .snapshot
            .courier
            .as_ref()
            .ok_or("the tenant has no courier plugin (install one in the courier slot)")?;
        self.plugins
            .track(courier, carrier, number)
            .map_err(|e| e.to_string())
    }
}
