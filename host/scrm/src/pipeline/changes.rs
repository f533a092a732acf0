//! Storing what changes earlier facts, inside the caller's transaction: delivery
//! statuses, edits and revokes of messages, and template, number, account and
//! preference events.

use super::plugins::ToClassify;
use scrm_engine::responder::ConversationView;
use scrm_store::messages::{NewRevision, NewStatus, RevisionAction};
use scrm_store::{Store, StoreError, events, now_ms};
use scrm_wire::content::Content;
use scrm_wire::payload::{self, AccountEvent, Amendment, InboundMessage, Route};

/// Stores a delivery status; a `failed` one is acted on by the outbox by its code.
pub(super) fn store_status(
    tx: &dyn Store,
    tenant: &str,
    s: payload::StatusUpdate,
    send_settings: &crate::config::SendSettings,
    events: bool,
) -> Result<(), StoreError> {
    let errors = (!s.errors.is_empty())
        .then(|| serde_json::to_value(&s.errors))
        .transpose()?;
    let pricing = s.pricing.as_ref().map(serde_json::to_value).transpose()?;
    let conversation = s
        .conversation
        .as_ref()
        .map(serde_json::to_value)
        .transpose()?;
    let recorded = scrm_store::MessageRepo::record_status(
        tx,
        &NewStatus {
            tenant,
            wamid: &s.id,
            status: &s.status,
            timestamp: s.timestamp.saturating_mul(1000),
            recipient_id: s.recipient_id.as_deref(),
            errors: errors.as_ref(),
            pricing: pricing.as_ref(),
            conversation: conversation.as_ref(),
            raw: &s.raw,
        },
    )?;
    if recorded.inserted && matches!(s.status.as_str(), "delivered" | "read" | "failed") {
        emit_status(tx, tenant, &s.id, &s.status)?;
    }
    if recorded.inserted && events {
        crate::event_hooks::emit(
            tx,
            tenant,
            "message.status",
            s.recipient_id.as_deref().unwrap_or_default(),
            serde_json::json!({"wamid": s.id, "status": s.status,
                "recipient_id": s.recipient_id, "timestamp": s.timestamp.saturating_mul(1000)}),
        )?;
    }
    if s.status == "failed" {
        // Meta reports most refusals (131026, 131047, 131049, ...) here,
        // after accepting the send: the outbox acts on them by code.
        let (code, message) = s.errors.first().cloned().unwrap_or_default().summary();
        crate::outbox::apply_failed_status(tx, send_settings, tenant, &s.id, code, &message)?;
    }
    Ok(())
}

/// Queues a status change for the tenant's flows that want it.
fn emit_status(tx: &dyn Store, tenant: &str, wamid: &str, status: &str) -> Result<(), StoreError> {
    if let Some((contact_id, source)) = scrm_store::FlowRepo::status_subject(tx, tenant, wamid)? {
        let flow = source
            .as_deref()
            .and_then(|s| s.strip_prefix("flow:"))
            .and_then(|s| s.split('@').next());
        crate::automation::emit(
            tx,
            tenant,
            "status",
            contact_id,
            &serde_json::json!({"wamid": wamid, "status": status, "flow": flow}),
            None,
        )?;
    }
    Ok(())
}

/// Records an edit or revoke and, when an edit became the message's current version,
/// queues the message for its classifier again (not its responder).
pub(super) fn store_amendment(
    tx: &dyn Store,
    tenant: &str,
    inbox_id: i64,
    m: InboundMessage,
    jobs: &mut Vec<ToClassify>,
) -> Result<(), StoreError> {
    let Some(amends) = &m.amends else {
        return Ok(());
    };
    let (action, kind, text) = match amends {
        Amendment::Edit { kind, text, .. } => {
            (RevisionAction::Edit, Some(kind.as_str()), text.as_deref())
        }
        Amendment::Revoke { .. } => (RevisionAction::Revoke, None, None),
    };
    let content = match action {
        RevisionAction::Edit => Some(serde_json::to_value(&m.content)?),
        RevisionAction::Revoke => None,
    };
    let original_id = amends.original_id().to_owned();
    let outcome = scrm_store::MessageRepo::record_revision(
        tx,
        &NewRevision {
            tenant,
            target_wamid: &original_id,
            wamid: &m.id,
            action,
            kind,
            text,
            content: content.as_ref(),
            raw: &m.raw,
            timestamp: m.timestamp.saturating_mul(1000),
            inbox_id,
        },
    )?;
    let Some(target) = outcome.message else {
        return Ok(());
    };
    let wants_plugins = action == RevisionAction::Edit
        && outcome.current
        && target.unclassified
        && !matches!(m.content, Content::Unsupported(_));
    if !wants_plugins {
        return Ok(());
    }
    let Some(contact) = scrm_store::ContactRepo::get(tx, tenant, target.contact_id)? else {
        return Ok(());
    };
    let at = m.timestamp.saturating_mul(1000);
    let pnid = m.route.phone_number_id.clone().unwrap_or_default();
    let message = edited_message(m);
    jobs.push(ToClassify {
        tenant: tenant.to_owned(),
        message_id: target.id,
        conversation: ConversationView {
            id: target.conversation_id,
            phone_number_id: pnid,
            last_message_at: at,
            last_inbound_at: Some(at),
        },
        message,
        contact,
        respond: false,
    });
    Ok(())
}

/// The message an edit notification makes current, as plugins see it: the edited
/// message's id and the new content and kind.
pub(crate) fn edited_message(mut m: InboundMessage) -> InboundMessage {
    if let Some(edit @ Amendment::Edit { kind, .. }) = &m.amends {
        m.id = edit.original_id().to_owned();
        m.kind = kind.clone();
    }
    m
}

/// Stores a template, number, account or preference event for its tenant (or the
/// app), applies a marketing preference to the user's consent and a template's new
/// status to the registry; the tenant it belongs to, if any.
pub(super) fn store_account_event(
    tx: &dyn Store,
    app_id: &str,
    inbox_id: i64,
    a: &AccountEvent,
) -> Result<Option<String>, StoreError> {
    let route: &Route = &a.route;
    let tenant = scrm_store::EventRepo::resolve_tenant(
        tx,
        app_id,
        &route.waba_id,
        route.phone_number_id.as_deref(),
        route.display_phone_number.as_deref(),
    )?;
    let occurred_at = a.timestamp.map(|t| t.saturating_mul(1000));
    let key = events::dedupe_key(&route.field, &route.waba_id, a.entry_time, &a.kind, &a.raw);
    let inserted = scrm_store::EventRepo::insert(
        tx,
        &events::NewAccountEvent {
            app_id,
            tenant: tenant.as_deref(),
            waba_id: &route.waba_id,
            phone_number_id: route.phone_number_id.as_deref(),
            field: &route.field,
            kind: &a.kind,
            event: a.event.as_deref(),
            subject: a.subject.as_deref(),
            occurred_at,
            raw: &a.raw,
            dedupe_key: &key,
            inbox_id,
        },
    )?;
    if inserted.is_none() {
        return Ok(tenant);
    }
    tracing::info!(inbox_id, field = %route.field, event = ?a.event, tenant = ?tenant, "account event stored");
    if route.field == "message_template_status_update"
        && let Some(tenant) = &tenant
    {
        let at = occurred_at.unwrap_or_else(now_ms);
        crate::templates::apply_status_webhook(tx, tenant, a.event.as_deref(), &a.raw, at)?;
    }
    // A user stopping or resuming marketing messages changes their consent at once,
    // unless a later preference of theirs was already applied.
    if route.field == "user_preferences"
        && a.raw["category"] == "marketing_messages"
        && let (Some(tenant), Some(wa_id)) = (&tenant, &a.subject)
    {
        let stop = match a.event.as_deref() {
            Some("stop") => true,
            Some("resume") => false,
            _ => return Ok(Some(tenant.clone())),
        };
        let at = occurred_at.unwrap_or_else(now_ms);
        if !scrm_store::EventRepo::newer_exists(tx, tenant, &route.field, wa_id, at)? {
            scrm_store::ConsentRepo::marketing_preference(tx, tenant, wa_id, stop, at)?;
        }
    }
    Ok(tenant)
}
