//! WhatsApp calls on their conversations (`calls`): one row per call, which every
//! event of the call (connect, ringing, accepted or rejected, terminate) updates.
//!
//! A call's `state` only moves forward, whatever order its events arrive in:
//! `created < connecting < ringing < accepted | rejected < completed | failed | ended`
//! ([`state_rank`]). Times, duration and direction are kept from whichever event gave
//! them; errors and the events themselves accumulate, a redelivered event once.

use crate::StoreError;
use crate::contacts::ContactFacts;
use crate::messages::{contact_for, conversation_for};
use crate::page::{Page, PageRequest};
use crate::params;
use crate::sql::{Conn, Row};
use serde::Serialize;
use serde_json::Value;

/// One call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Call {
    /// Its row id.
    pub id: i64,
    /// Meta's call id ("wacid.…").
    pub call_id: String,
    /// The conversation it belongs to.
    pub conversation_id: i64,
    /// The customer.
    pub contact_id: i64,
    /// The business number.
    pub phone_number_id: String,
    /// `user_initiated` or `business_initiated`, once an event said.
    pub direction: Option<String>,
    /// The furthest state its events reached.
    pub state: String,
    /// When it started and ended, Unix ms (from its terminate event).
    pub started_at: Option<i64>,
    /// See `started_at`.
    pub ended_at: Option<i64>,
    /// Its length in seconds.
    pub duration_s: Option<i64>,
    /// Meta's errors (a failed call's reason), as received.
    pub errors: Value,
    /// Every event as received, in arrival order.
    pub events: Value,
    /// The first event's time, Unix ms.
    pub created_at: i64,
    /// The last update, Unix ms.
    pub updated_at: i64,
}

/// One event of a call, to record.
#[derive(Debug, Clone)]
pub struct NewCallEvent<'a> {
    /// The tenant.
    pub tenant: &'a str,
    /// Meta's call id.
    pub call_id: &'a str,
    /// The business number.
    pub phone_number_id: &'a str,
    /// The customer.
    pub customer: &'a ContactFacts,
    /// `user_initiated` / `business_initiated`, when the event says.
    pub direction: Option<&'a str>,
    /// The state the event puts the call in.
    pub state: &'a str,
    /// When it happened, Unix ms.
    pub at: i64,
    /// A terminate's start, end (Unix ms) and length (s).
    pub started_at: Option<i64>,
    /// See `started_at`.
    pub ended_at: Option<i64>,
    /// See `started_at`.
    pub duration_s: Option<i64>,
    /// Meta's errors with the event (a JSON array).
    pub errors: &'a Value,
    /// The event as received.
    pub raw: &'a Value,
}

/// What recording an event did.
#[derive(Debug, Clone, PartialEq)]
pub struct CallOutcome {
    /// The call afterwards.
    pub call: Call,
    /// False when the event had been recorded before (a redelivery).
    pub new_event: bool,
}

/// Where a state stands in a call's life; unknown states rank lowest.
pub fn state_rank(state: &str) -> u8 {
    match state {
        "connecting" => 1,
        "ringing" => 2,
        "accepted" | "rejected" => 3,
        "completed" | "failed" | "ended" => 4,
        _ => 0,
    }
}

const COLUMNS: &str = "id, call_id, conversation_id, contact_id, phone_number_id, direction, state, \
                       started_at, ended_at, duration_s, errors, events, created_at, updated_at";

fn from_row(r: &Row<'_>) -> Result<Call, StoreError> {
    let json = |i: usize| -> Result<Value, StoreError> {
        let text: String = r.get(i)?;
        Ok(serde_json::from_str(&text)?)
    };
    Ok(Call {
        id: r.get(0)?,
        call_id: r.get(1)?,
        conversation_id: r.get(2)?,
        contact_id: r.get(3)?,
        phone_number_id: r.get(4)?,
        direction: r.get(5)?,
        state: r.get(6)?,
        started_at: r.get(7)?,
        ended_at: r.get(8)?,
        duration_s: r.get(9)?,
        errors: json(10)?,
        events: json(11)?,
        created_at: r.get(12)?,
        updated_at: r.get(13)?,
    })
}

fn by_call_id(conn: &Conn<'_>, tenant: &str, call_id: &str) -> Result<Option<Call>, StoreError> {
    conn.query_opt(
        &format!("SELECT {COLUMNS} FROM calls WHERE tenant_id = ?1 AND call_id = ?2"),
        params![tenant, call_id],
        from_row,
    )
}

/// The errors of a JSON array (none for anything else).
fn errors_of(errors: &Value) -> Vec<Value> {
    errors.as_array().cloned().unwrap_or_default()
}

/// Records one event of a call: the call's row is created by its first event (with
/// the customer's contact and conversation) and moved forward by the others.
pub(crate) fn record_call_event(
    conn: &Conn<'_>,
    e: &NewCallEvent<'_>,
) -> Result<CallOutcome, StoreError> {
    let Some(mut call) = by_call_id(conn, e.tenant, e.call_id)? else {
        let contact_id = contact_for(conn, e.tenant, e.customer)?;
        let conversation_id =
            conversation_for(conn, e.tenant, contact_id, e.phone_number_id, e.at)?;
        let call = conn.query_one(
            &format!(
                "INSERT INTO calls (tenant_id, call_id, conversation_id, contact_id, phone_number_id,
                                    direction, state, started_at, ended_at, duration_s, errors, events,
                                    created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13)
                 RETURNING {COLUMNS}"
            ),
            params![
                e.tenant,
                e.call_id,
                conversation_id,
                contact_id,
                e.phone_number_id,
                e.direction,
                e.state,
                e.started_at,
                e.ended_at,
                e.duration_s,
                Value::Array(errors_of(e.errors)).to_string(),
                Value::Array(vec![e.raw.clone()]).to_string(),
                e.at,
            ],
            from_row,
        )?;
        return Ok(CallOutcome {
            call,
            new_event: true,
        });
    };
    let events = call.events.as_array_mut().expect("events are an array");
    if events.contains(e.raw) {
        return Ok(CallOutcome {
            call,
            new_event: false,
        });
    }
    events.push(e.raw.clone());
    let mut errors = errors_of(&call.errors);
    errors.extend(errors_of(e.errors));
    call.errors = Value::Array(errors);
    if state_rank(e.state) > state_rank(&call.state) {
        call.state = e.state.to_owned();
    }
    call.direction = call.direction.or(e.direction.map(str::to_owned));
    call.started_at = e.started_at.or(call.started_at);
    call.ended_at = e.ended_at.or(call.ended_at);
    call.duration_s = e.duration_s.or(call.duration_s);
    call.created_at = call.created_at.min(e.at);
    call.updated_at = call.updated_at.max(e.at);
    conn.execute(
        "UPDATE calls SET direction = ?2, state = ?3, started_at = ?4, ended_at = ?5, duration_s = ?6,
                          errors = ?7, events = ?8, created_at = ?9, updated_at = ?10
         WHERE id = ?1",
        params![
            call.id,
            call.direction,
            call.state,
            call.started_at,
            call.ended_at,
            call.duration_s,
            call.errors.to_string(),
            call.events.to_string(),
            call.created_at,
            call.updated_at,
        ],
    )?;
    Ok(CallOutcome {
        call,
        new_event: true,
    })
}

/// A conversation's calls, oldest first.
pub(crate) fn calls_of_conversation(
    conn: &Conn<'_>,
    tenant: &str,
    conversation_id: i64,
) -> Result<Vec<Call>, StoreError> {
    conn.query(
        &format!(
            "SELECT {COLUMNS} FROM calls WHERE tenant_id = ?1 AND conversation_id = ?2
             ORDER BY created_at, id"
        ),
        params![tenant, conversation_id],
        from_row,
    )
}

/// A page of the tenant's calls, in the order they were first recorded.
pub(crate) fn calls(
    conn: &Conn<'_>,
    tenant: &str,
    page: PageRequest,
) -> Result<Page<Call>, StoreError> {
    let rows = conn.query(
        &format!(
            "SELECT {COLUMNS} FROM calls WHERE tenant_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3"
        ),
        params![tenant, page.after, page.sql_limit()],
        from_row,
    )?;
    Ok(Page::from_rows(rows, page, |c| c.id))
}

crate::repo! {
    /// WhatsApp calls on their conversations.
    pub trait CallRepo {
        /// Records one event of a call (idempotent on the event): creates the call, its
        /// contact and conversation on the first, moves it forward on the others.
        fn record_call_event(e: &NewCallEvent<'_>) -> Result<CallOutcome, StoreError>;
        /// A conversation's calls, oldest first.
        fn calls_of_conversation(tenant: &str, conversation_id: i64) -> Result<Vec<Call>, StoreError>;
        /// A page of the tenant's calls.
        fn calls(tenant: &str, page: PageRequest) -> Result<Page<Call>, StoreError>;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{add_acme, backends};
    use serde_json::json;

    fn event<'a>(
        state: &'a str,
        at: i64,
        raw: &'a Value,
        facts: &'a ContactFacts,
    ) -> NewCallEvent<'a> {
        NewCallEvent {
            tenant: "acme",
            call_id: "wacid.1",
            phone_number_id: "100",
            customer: facts,
            direction: None,
            state,
            at,
            started_at: None,
            ended_at: None,
            duration_s: None,
            errors: &Value::Null,
            raw,
        }
    }

    #[test]
    fn a_call_moves_forward_whatever_order_its_events_arrive_in() {
        for test in backends() {
            let db = &test.db;
            db.with_conn(add_acme).unwrap();
            let facts = ContactFacts {
                wa_id: Some("393471234567".into()),
                phone: Some("+393471234567".into()),
                ..Default::default()
            };
            let (connect, terminate, ringing) = (
                json!({"event": "connect"}),
                json!({"event": "terminate", "status": "COMPLETED"}),
                json!({"status": "RINGING"}),
            );
            let errors = json!([{"code": 138007}]);
            let done = db
                .with_conn(|c| {
                    let first = record_call_event(
                        c,
                        &NewCallEvent {
                            direction: Some("user_initiated"),
                            ..event("connecting", 2_000, &connect, &facts)
                        },
                    )?;
                    assert!(first.new_event);
                    record_call_event(
                        c,
                        &NewCallEvent {
                            started_at: Some(2_000),
                            ended_at: Some(62_000),
                            duration_s: Some(60),
                            errors: &errors,
                            ..event("completed", 62_000, &terminate, &facts)
                        },
                    )?;
                    // Late and redelivered events change nothing they should not.
                    let late = record_call_event(c, &event("ringing", 1_000, &ringing, &facts))?;
                    assert!(late.new_event);
                    let again = record_call_event(c, &event("ringing", 1_000, &ringing, &facts))?;
                    assert!(!again.new_event);
                    let listed = calls_of_conversation(c, "acme", first.call.conversation_id)?;
                    Ok(listed)
                })
                .unwrap();
            assert_eq!(done.len(), 1, "{}", test.backend);
            let call = &done[0];
            assert_eq!(call.state, "completed");
            assert_eq!(call.direction.as_deref(), Some("user_initiated"));
            assert_eq!(
                (call.started_at, call.ended_at, call.duration_s),
                (Some(2_000), Some(62_000), Some(60))
            );
            assert_eq!(call.errors, errors);
            assert_eq!(call.events.as_array().unwrap().len(), 3);
            assert_eq!((call.created_at, call.updated_at), (1_000, 62_000));
        }
    }
}
