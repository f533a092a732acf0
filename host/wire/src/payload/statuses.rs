//! Delivery statuses of outbound messages: [`StatusUpdate`] read out of
//! `value.statuses[]`, with its [`Pricing`] and [`BillingConversation`].

use serde::Serialize;
use serde_json::Value;

use super::api_error::api_errors;
use super::event::other;
use super::{ApiError, Event, Route};
use crate::json::{parse_at, str_at};

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

pub(super) fn status_event(route: &Route, status: &Value) -> Event {
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
#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::payload::parse;
    use crate::payload::test_support::{metadata, single_event};

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
}
