//! Account-level notifications: the fields in [`ACCOUNT_FIELDS`] (templates, number
//! quality, account updates, user preferences) and change-level errors, each item
//! read into one [`AccountEvent`].

use serde::Serialize;
use serde_json::Value;

use super::{Event, Route};
use crate::json::{parse_at, str_at};

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

/// The first string (or number) found at any of `pointers`.
fn first_str(item: &Value, pointers: &[&str]) -> Option<String> {
    pointers.iter().find_map(|pointer| str_at(item, pointer))
}

pub(super) fn account_event(
    route: &Route,
    entry_time: Option<i64>,
    kind: &str,
    item: &Value,
) -> Event {
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
#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::payload::test_support::{metadata, single_event};

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
