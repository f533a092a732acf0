//! Automation: flows (WIT `flow` world, since 0.1.1) that react to events and wait
//! on durable timers, with the guards WhatsApp automation needs.
//!
//! - **Events** ([`emit`]) are queued in the caller's transaction for every enabled
//!   flow of the tenant that wants that trigger: an inbound message (after its
//!   classification), a status change, a tracked link's click, an order, a contact
//!   field a flow changed. Each is a row of `flow_jobs`.
//! - **Timers** are rows of the same table, scheduled by flows through
//!   `scrm:plugin/timers`. They fire a settle delay after their due time (default
//!   5 s, `[flows] settle_ms`), so data arriving at the same moment is seen; after
//!   downtime they fire late rather than never, and the lateness is recorded.
//! - The **worker** ([`worker::FlowWorker`]) claims due rows (one host per row, by
//!   lease, as the outbox and CRM sync do), runs the flow on a blocking thread, and
//!   applies what it returned in one transaction: its sends through the outbox,
//!   tags, fields, and its timer changes. A flow that fails is retried with
//!   back-off and quarantined after repeated faults like any plugin.
//! - **Guards** ([`worker`]): no automated message in a conversation the business
//!   started (unless the flow's `business_initiated` is on); free-form only inside
//!   the 24-hour window; opt-outs and the opt-in rule (the outbox's rules); at most
//!   one automated message per contact per flow per `min_interval`; every send is
//!   recorded with the flow and version that caused it (`flow:NAME@VERSION`).
//! - **Operations** ([`ops`]): the catalog of flow components, enabling a flow for
//!   a tenant with parameters ([`params`]), disabling it, and its status.
//! - **Templates** ([`template`]): the one template language for every message.

mod actions;
mod assist;
pub mod endpoint;
pub mod ops;
pub mod params;
pub mod reader;
pub mod schedule;
pub mod template;
pub mod worker;

pub use crate::config::FlowSettings;
use scrm_store::{Store, StoreError};

/// Queues an event of kind `kind` (a trigger name) for the tenant's flows that want
/// it, in the caller's transaction; `except` leaves out the flow that caused it.
/// Returns how many flows got it.
///
/// # Errors
/// On database failure.
pub fn emit(
    tx: &dyn Store,
    tenant: &str,
    kind: &str,
    contact_id: i64,
    event: &serde_json::Value,
    except: Option<&str>,
) -> Result<usize, StoreError> {
    scrm_store::FlowRepo::enqueue_event(tx, tenant, kind, contact_id, &event.to_string(), except)
}

/// Records a click on the tracked link `token` and queues the `link-clicked` event
/// for the tenant's flows, in one transaction; the click, or `None` for an unknown
/// token (nothing is written).
///
/// # Errors
/// On database failure.
pub fn record_click(
    c: &dyn Store,
    token: &str,
    user_agent: Option<&str>,
    at: i64,
) -> Result<Option<scrm_store::links::LinkClick>, StoreError> {
    scrm_store::transaction(c, |tx| {
        let Some(click) = crate::outbox::links::record_click(tx, token, user_agent, at)? else {
            return Ok(None);
        };
        if let Some(contact) = click.contact_id {
            emit(
                tx,
                &click.tenant_id,
                "link-clicked",
                contact,
                &serde_json::json!({"url": click.url, "wamid": click.wamid, "at": at,
                                    "outbox_id": click.outbox_id}),
                None,
            )?;
        }
        Ok(Some(click))
    })
}

/// Marks the tenant's conversation resolved and queues the flows' `resolved` event
/// for its contact, in one transaction; the contact, or `None` when the tenant has no
/// such conversation.
///
/// # Errors
/// On database failure.
pub fn resolve_conversation(
    c: &dyn Store,
    tenant: &str,
    conversation_id: i64,
    at: i64,
) -> Result<Option<i64>, StoreError> {
    scrm_store::transaction(c, |tx| {
        let Some(contact) =
            scrm_store::FlowRepo::resolve_conversation(tx, tenant, conversation_id, at)?
        else {
            return Ok(None);
        };
        emit(
            tx,
            tenant,
            "resolved",
            contact,
            &serde_json::json!({"conversation_id": conversation_id, "at": at}),
            None,
        )?;
        crate::event_hooks::emit(
            tx,
            tenant,
            "conversation.resolved",
            &conversation_id.to_string(),
            serde_json::json!({"conversation_id": conversation_id, "contact_id": contact, "at": at}),
        )?;
        Ok(Some(contact))
    })
}
