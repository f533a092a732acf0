//! Storing what the business's WhatsApp number does besides messaging customers,
//! inside the caller's transaction: calls (the Calling API's `calls` field) on the
//! customer's conversation, and messages the business sent from the WhatsApp
//! Business app (`smb_message_echoes`) as outbound messages of it.

use super::store::customer_facts;
use scrm_store::calls::NewCallEvent;
use scrm_store::messages::NewOutbound;
use scrm_store::{Store, StoreError, now_ms};
use scrm_wire::payload::{CallEvent, EchoMessage};
use serde_json::{Value, json};

/// Meta's seconds as Unix ms; now when Meta gave none.
fn ms(seconds: i64) -> i64 {
    if seconds > 0 {
        seconds.saturating_mul(1000)
    } else {
        now_ms()
    }
}

/// Records a call event on the customer's conversation; false (for the unhandled
/// list) when it names no customer. A terminated call is an event for the tenant's
/// events hook.
pub(super) fn store_call(
    tx: &dyn Store,
    tenant: &str,
    region: &str,
    call: &CallEvent,
) -> Result<bool, StoreError> {
    let Some(customer) = customer_facts(
        call.customer.as_deref(),
        call.customer_user_id.clone(),
        call.profile_name.clone(),
        region,
    ) else {
        return Ok(false);
    };
    let Some(phone_number_id) = call.route.phone_number_id.as_deref() else {
        return Ok(false);
    };
    let direction = call.direction.as_deref().map(str::to_lowercase);
    let outcome = scrm_store::CallRepo::record_call_event(
        tx,
        &NewCallEvent {
            tenant,
            call_id: &call.call_id,
            phone_number_id,
            customer: &customer,
            direction: direction.as_deref(),
            state: call.state(),
            at: ms(call.timestamp),
            started_at: call.start_time.map(ms),
            ended_at: call.end_time.map(ms),
            duration_s: call.duration,
            errors: &serde_json::to_value(&call.errors)?,
            raw: &call.raw,
        },
    )?;
    if outcome.new_event && call.event == "terminate" {
        let c = &outcome.call;
        crate::event_hooks::emit(
            tx,
            tenant,
            "call.ended",
            call.customer.as_deref().unwrap_or_default(),
            json!({"call_id": c.call_id, "conversation_id": c.conversation_id,
                   "contact_id": c.contact_id, "phone_number_id": c.phone_number_id,
                   "customer": call.customer, "direction": c.direction, "state": c.state,
                   "duration_s": c.duration_s, "started_at": c.started_at,
                   "ended_at": c.ended_at, "errors": c.errors}),
        )?;
    }
    Ok(true)
}

/// Records a message the business sent from the WhatsApp Business app as an
/// outbound message of the customer's conversation (its media downloaded like an
/// inbound one's); false (for the unhandled list) when it names no customer. A new
/// one is a `message.sent` event with source `business_app`.
pub(super) fn store_echo(
    tx: &dyn Store,
    tenant: &str,
    region: &str,
    echo: &EchoMessage,
) -> Result<bool, StoreError> {
    let Some(to) = customer_facts(echo.to.as_deref(), echo.to_user_id.clone(), None, region) else {
        return Ok(false);
    };
    let Some(phone_number_id) = echo.route.phone_number_id.as_deref() else {
        return Ok(false);
    };
    let at = ms(echo.timestamp);
    let recorded = scrm_store::MessageRepo::record_echo(
        tx,
        &NewOutbound {
            tenant,
            phone_number_id,
            to: &to,
            wamid: &echo.id,
            kind: &echo.kind,
            at,
            text: echo.content.text(),
            content: &serde_json::to_value(&echo.content)?,
            context: echo
                .raw
                .get("context")
                .unwrap_or(&Value::Object(Default::default())),
            raw: &echo.raw.to_string(),
            status: "sent",
            sender: "business_app",
        },
    )?;
    if recorded.new {
        crate::media::record_inbound(tx, tenant, recorded.id, phone_number_id, &echo.content)?;
        crate::event_hooks::emit(
            tx,
            tenant,
            "message.sent",
            echo.to.as_deref().unwrap_or_default(),
            json!({"message_id": recorded.id, "wamid": echo.id, "to": echo.to,
                   "type": echo.kind, "phone_number_id": phone_number_id,
                   "source": "business_app", "sent_at": at}),
        )?;
    }
    Ok(true)
}
