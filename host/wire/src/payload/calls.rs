//! WhatsApp calls (the Calling API's `calls` webhook field): each `value.calls[]` item
//! (`connect`, `terminate`, …) and each call status in `value.statuses[]` (`RINGING`,
//! `ACCEPTED`, `REJECTED`) read into one [`CallEvent`].

use serde::Serialize;
use serde_json::Value;

use super::api_error::{api_errors, api_errors_of};
use super::event::other;
use super::{ApiError, Event, Route};
use crate::json::{array_at, parse_at, str_at};

/// The `field` of changes that carry calls.
pub(super) const CALLS_FIELD: &str = "calls";

/// One thing that happened to a call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallEvent {
    /// Where it was delivered.
    pub route: Route,
    /// The call id ("wacid.…").
    pub call_id: String,
    /// `connect`, `terminate` or `call_created` for `calls[]` items, `status` for a
    /// call status.
    pub event: String,
    /// `USER_INITIATED` or `BUSINESS_INITIATED`, when Meta says (statuses do not).
    pub direction: Option<String>,
    /// The customer's WhatsApp id: the caller of a user-initiated call, the callee of
    /// a business-initiated one, the recipient of a status.
    pub customer: Option<String>,
    /// The customer's business-scoped user id, if given.
    pub customer_user_id: Option<String>,
    /// The customer's profile name, from `value.contacts[]`.
    pub profile_name: Option<String>,
    /// A status's `RINGING` / `ACCEPTED` / `REJECTED`, or a terminated call's
    /// `COMPLETED` / `FAILED`.
    pub status: Option<String>,
    /// When Meta says it happened, Unix seconds; 0 if absent.
    pub timestamp: i64,
    /// A terminated call's start and end, Unix seconds.
    pub start_time: Option<i64>,
    /// See `start_time`.
    pub end_time: Option<i64>,
    /// A terminated call's length in seconds.
    pub duration: Option<i64>,
    /// The errors Meta reported with the call (a failed call's reason).
    pub errors: Vec<ApiError>,
    /// The item exactly as received.
    pub raw: Value,
}

impl CallEvent {
    /// The state this event puts the call in: `created`, `connecting`, `ringing`,
    /// `accepted`, `rejected`, `completed`, `failed` or (a terminate without a
    /// status) `ended`.
    pub fn state(&self) -> &'static str {
        match (self.event.as_str(), self.status.as_deref()) {
            ("terminate", Some("COMPLETED")) => "completed",
            ("terminate", Some("FAILED")) => "failed",
            ("terminate", _) => "ended",
            ("status", Some("RINGING")) => "ringing",
            ("status", Some("ACCEPTED")) => "accepted",
            ("status", Some("REJECTED")) => "rejected",
            ("connect", _) => "connecting",
            _ => "created",
        }
    }

    /// Whether the business placed the call.
    pub fn business_initiated(&self) -> bool {
        self.direction.as_deref() == Some("BUSINESS_INITIATED")
    }
}

/// Every call event of one `calls` change. Errors at the change's level (a failed
/// call's reason) belong to its calls.
pub(super) fn call_events(route: &Route, value: &Value, events: &mut Vec<Event>) {
    let contacts = array_at(value, "contacts");
    let errors = api_errors_of(array_at(value, "errors"));
    for call in array_at(value, "calls") {
        events.push(call_event(route, call, contacts, &errors));
    }
    for status in array_at(value, "statuses") {
        events.push(status_event(route, status, contacts));
    }
}

fn call_event(route: &Route, call: &Value, contacts: &[Value], errors: &[ApiError]) -> Event {
    let (Some(call_id), Some(event)) = (str_at(call, "/id"), str_at(call, "/event")) else {
        return other(route, CALLS_FIELD, call);
    };
    let direction = str_at(call, "/direction");
    let business = direction.as_deref() == Some("BUSINESS_INITIATED");
    let (customer, customer_user_id) = if business {
        (str_at(call, "/to"), str_at(call, "/to_user_id"))
    } else {
        (str_at(call, "/from"), str_at(call, "/from_user_id"))
    };
    let mut item_errors = api_errors(call);
    item_errors.extend(errors.iter().cloned());
    Event::Call(CallEvent {
        route: route.clone(),
        profile_name: profile_of(contacts, customer.as_deref()),
        call_id,
        event,
        direction,
        customer,
        customer_user_id,
        status: str_at(call, "/status"),
        timestamp: parse_at(call, "/timestamp").unwrap_or(0),
        start_time: parse_at(call, "/start_time"),
        end_time: parse_at(call, "/end_time"),
        duration: parse_at(call, "/duration"),
        errors: item_errors,
        raw: call.clone(),
    })
}

fn status_event(route: &Route, status: &Value, contacts: &[Value]) -> Event {
    let Some(call_id) = str_at(status, "/id") else {
        return other(route, CALLS_FIELD, status);
    };
    let customer = str_at(status, "/recipient_id");
    Event::Call(CallEvent {
        route: route.clone(),
        profile_name: profile_of(contacts, customer.as_deref()),
        call_id,
        event: "status".to_owned(),
        direction: None,
        customer,
        customer_user_id: str_at(status, "/recipient_user_id"),
        status: str_at(status, "/status"),
        timestamp: parse_at(status, "/timestamp").unwrap_or(0),
        start_time: None,
        end_time: None,
        duration: None,
        errors: api_errors(status),
        raw: status.clone(),
    })
}

/// The profile name of the `value.contacts[]` entry for `wa_id` (or of the only one).
fn profile_of(contacts: &[Value], wa_id: Option<&str>) -> Option<String> {
    let contact = contacts
        .iter()
        .find(|c| wa_id.is_some() && str_at(c, "/wa_id").as_deref() == wa_id)
        .or(match contacts {
            [only] => Some(only),
            _ => None,
        })?;
    str_at(contact, "/profile/name")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::test_support::meta_docs_events;

    fn the_call(name: &str) -> CallEvent {
        let mut events = meta_docs_events(name);
        assert_eq!(events.len(), 1, "{name}: {events:?}");
        match events.pop() {
            Some(Event::Call(call)) => call,
            other => panic!("{name}: expected a call, got {other:?}"),
        }
    }

    #[test]
    fn a_user_initiated_connect_names_the_caller() {
        let call = the_call("calls_connect.json");
        assert_eq!(call.call_id, "wacid.ABGGFjFVU2AfAgo6V-Hc5eCgK5Gh");
        assert_eq!(call.event, "connect");
        assert_eq!(call.customer.as_deref(), Some("16315553602"));
        assert_eq!(call.profile_name.as_deref(), Some("<CALLEE_NAME>"));
        assert_eq!(call.timestamp, 1_671_644_824);
        assert!(!call.business_initiated());
        assert_eq!(call.route.field, "calls");
    }

    #[test]
    fn a_business_initiated_call_names_the_callee() {
        let call = the_call("calls_connect_business_initiated.json");
        assert!(call.business_initiated());
        assert_eq!(call.customer, str_at(&call.raw, "/to"));
    }

    #[test]
    fn a_failed_call_carries_its_duration_and_the_change_level_error() {
        let call = the_call("calls_terminate_failed.json");
        assert_eq!(call.event, "terminate");
        assert_eq!(call.status.as_deref(), Some("FAILED"));
        assert_eq!(call.customer.as_deref(), Some("16315553601"));
        assert_eq!(call.customer_user_id.as_deref(), Some("<BSUID>"));
        assert_eq!(
            (call.start_time, call.end_time),
            (Some(1_671_644_824), Some(1_671_644_944))
        );
        assert_eq!(call.duration, Some(120));
        assert_eq!(call.errors.len(), 1);
        assert_eq!(call.errors[0].code, 138_007);
        let completed = the_call("calls_terminate.json");
        assert_eq!(completed.status.as_deref(), Some("COMPLETED"));
        assert_eq!((call.state(), completed.state()), ("failed", "completed"));
        assert!(completed.errors.is_empty());
    }

    #[test]
    fn call_statuses_are_call_events_for_their_recipient() {
        for (name, status) in [
            ("calls_status.json", "RINGING"),
            ("calls_status_accepted.json", "ACCEPTED"),
            ("calls_status_rejected.json", "REJECTED"),
        ] {
            let call = the_call(name);
            assert_eq!(call.event, "status", "{name}");
            assert_eq!(call.status.as_deref(), Some(status), "{name}");
            assert_eq!(call.state(), status.to_lowercase(), "{name}");
            assert!(call.customer.is_some(), "{name}");
        }
    }

    #[test]
    fn a_call_without_an_id_is_kept_raw() {
        let events = crate::payload::test_support::single_event(
            "calls",
            serde_json::json!({"calls": [{"event": "connect"}]}),
        );
        assert!(
            matches!(&events[..], [Event::Other(o)] if o.kind == "calls"),
            "{events:?}"
        );
    }
}
