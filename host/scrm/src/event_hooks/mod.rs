//! Outbound events: per tenant, signed webhooks for what
//! happens in scrm — what Zapier's and Make's "catch hook" triggers consume. Each
//! event is queued in the transaction that records what happened, as a delivery of
//! the tenant's `events` hook (`scrm_store::hooks`), and sent by the relay's sender
//! with its retries, dead letters and delivery log.
//!
//! The event: `{"type", "tenant", "created_at", "data"}`, posted with
//! `X-Scrm-Event: TYPE` and `X-Scrm-Signature-256: sha256=…` (HMAC-SHA256 of the
//! body with the tenant secret `events_secret`).

use scrm_store::{HookRepo, Store, StoreError, now_ms};
use serde_json::{Value, json};

/// The hook kind of outbound events.
pub const KIND: &str = "events";

/// The header scrm's own webhooks (events, alerts, reports) carry their signature in:
/// `sha256=` and the hex HMAC-SHA256 of the body.
pub const SIGNATURE_HEADER: &str = "x-scrm-signature-256";

/// The tenant secret events are signed with.
pub const SECRET: &str = "events_secret";

/// Every event type.
pub const TYPES: &[&str] = &[
    "message.received",
    "message.sent",
    "message.status",
    "conversation.tagged",
    "conversation.assigned",
    "conversation.resolved",
    "crm.sync_failed",
    "alert.raised",
    "call.ended",
];

/// Whether a hook that wants `types` (comma-separated, `*` for all) wants `kind`.
pub fn wants(types: &str, kind: &str) -> bool {
    types
        .split(',')
        .map(str::trim)
        .any(|t| t == "*" || t == kind)
}

/// Queues event `kind` about `data` for `tenant`'s events hook, if it has one that
/// wants it; `ordering` keeps one subject's events in order (a contact's id).
///
/// # Errors
/// On database failure.
pub fn emit(
    tx: &dyn Store,
    tenant: &str,
    kind: &str,
    ordering: &str,
    data: Value,
) -> Result<(), StoreError> {
    let Some(hook) = HookRepo::hook(tx, tenant, KIND)? else {
        return Ok(());
    };
    if !wants(&hook.types, kind) {
        return Ok(());
    }
    let now = now_ms();
    let payload = json!({"type": kind, "tenant": tenant, "created_at": now, "data": data});
    HookRepo::enqueue_payload(tx, tenant, KIND, ordering, &payload.to_string(), now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hook_gets_the_types_it_asked_for() {
        assert!(wants("*", "message.received"));
        assert!(wants("message.status, alert.raised", "alert.raised"));
        assert!(!wants("message.status", "message.received"));
    }
}
