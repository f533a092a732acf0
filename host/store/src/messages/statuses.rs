//! Delivery statuses of outbound messages: recording each status event once and
//! moving the message forward by the forward-only order, whatever order they arrive in.

use crate::params;
use crate::sql::Conn;
use crate::{StoreError, now_ms};
use serde::Serialize;

/// One delivery status event of a message.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StatusEvent {
    /// `sent`, `delivered`, `read`, `played`, `failed`, …
    pub status: String,
    /// WhatsApp's timestamp, Unix ms.
    pub timestamp: i64,
    /// Meta's errors (failed statuses).
    pub errors: Option<serde_json::Value>,
    /// How it is billed: `{billable, pricing_model, category, type}`.
    pub pricing: Option<serde_json::Value>,
    /// The billing conversation: `{id, origin_type, expiration_timestamp}`.
    pub conversation: Option<serde_json::Value>,
}

/// A delivery status event to record.
#[derive(Debug, Clone)]
pub struct NewStatus<'a> {
    /// The tenant.
    pub tenant: &'a str,
    /// The wamid of the outbound message.
    pub wamid: &'a str,
    /// The status as sent (`sent`, `delivered`, `read`, `played`, `failed`, …).
    pub status: &'a str,
    /// WhatsApp's timestamp, Unix ms.
    pub timestamp: i64,
    /// The recipient's WhatsApp id.
    pub recipient_id: Option<&'a str>,
    /// Meta's errors (a JSON array), if any.
    pub errors: Option<&'a serde_json::Value>,
    /// The `pricing` object as parsed, if any.
    pub pricing: Option<&'a serde_json::Value>,
    /// The `conversation` object as parsed, if any.
    pub conversation: Option<&'a serde_json::Value>,
    /// The status object as received.
    pub raw: &'a serde_json::Value,
}

/// What recording a status did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusOutcome {
    /// False when the same (wamid, status) was recorded already.
    pub inserted: bool,
    /// The message's status after applying it; `None` when no outbound message with
    /// this wamid is stored (yet).
    pub message_status: Option<String>,
}

/// Where a status stands in the forward-only order; `None` for statuses that do not
/// move a message (`received`, `deleted`, `warning`, unknown ones). `failed` is
/// terminal, so it ranks above everything.
pub fn status_rank(status: &str) -> Option<u8> {
    Some(match status {
        "accepted" => 0,
        "sent" => 1,
        "delivered" => 2,
        "read" => 3,
        "played" => 4,
        "failed" => 5,
        _ => return None,
    })
}

/// Records a delivery status once per (wamid, status), then moves the stored outbound
/// message forward to the best status recorded for it.
///
/// # Errors
/// On database failure.
pub(crate) fn record_status(
    conn: &Conn<'_>,
    s: &NewStatus<'_>,
) -> Result<StatusOutcome, StoreError> {
    let n = conn.execute(
        "INSERT INTO message_statuses (tenant_id, wamid, status, timestamp, raw, created_at,
                                           recipient_id, errors, pricing, conversation)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT DO NOTHING",
        params![
            s.tenant,
            s.wamid,
            s.status,
            s.timestamp,
            s.raw.to_string(),
            now_ms(),
            s.recipient_id,
            s.errors.map(serde_json::Value::to_string),
            s.pricing.map(serde_json::Value::to_string),
            s.conversation.map(serde_json::Value::to_string),
        ],
    )?;
    if n == 1 {
        roll_up(conn, s)?;
    }
    Ok(StatusOutcome {
        inserted: n == 1,
        message_status: sync_status(conn, s.tenant, s.wamid)?,
    })
}

/// Keeps what a status says on the send's outbox row (the analytics read it there):
/// when it was first delivered and read, Meta's pricing and conversation.
fn roll_up(conn: &Conn<'_>, s: &NewStatus<'_>) -> Result<(), StoreError> {
    let delivered = matches!(s.status, "delivered" | "read");
    if !delivered && s.pricing.is_none() && s.conversation.is_none() {
        return Ok(());
    }
    conn.execute(
        "UPDATE outbox SET
             delivered_at = CASE WHEN ?3 = 1 THEN least(delivered_at, ?4) ELSE delivered_at END,
             read_at = CASE WHEN ?5 = 1 THEN least(read_at, ?4) ELSE read_at END,
             pricing = coalesce(?6, pricing), conversation = coalesce(?7, conversation)
         WHERE tenant_id = ?1 AND wamid = ?2",
        params![
            s.tenant,
            s.wamid,
            i64::from(delivered),
            s.timestamp,
            i64::from(s.status == "read"),
            s.pricing.map(serde_json::Value::to_string),
            s.conversation.map(serde_json::Value::to_string),
        ],
    )?;
    Ok(())
}

/// The best status recorded for `wamid` by the forward-only order (`failed` above
/// all), whether or not its message row exists yet; `None` when no status that moves
/// a message was recorded. The outbox stores a new outbound message with this status
/// (else `accepted`), so a status that raced ahead of the send response is not lost.
///
/// # Errors
/// On database failure.
pub(crate) fn best_status(
    conn: &Conn<'_>,
    tenant: &str,
    wamid: &str,
) -> Result<Option<String>, StoreError> {
    Ok(best_recorded(conn, tenant, wamid)?.map(|(status, _, _)| status))
}

/// The best recorded status with its timestamp and errors.
fn best_recorded(
    conn: &Conn<'_>,
    tenant: &str,
    wamid: &str,
) -> Result<Option<(String, i64, Option<String>)>, StoreError> {
    let rows = conn.query("SELECT status, timestamp, errors FROM message_statuses WHERE tenant_id = ?1 AND wamid = ?2", params![tenant, wamid], |r| {
            Ok((
                r.get::<String>(0)?,
                r.get::<i64>(1)?,
                r.get::<Option<String>>(2)?,
            ))
        })?;
    Ok(rows
        .into_iter()
        .filter_map(|row| Some((status_rank(&row.0)?, row)))
        .max_by_key(|(rank, _)| *rank)
        .map(|(_, row)| row))
}

/// Moves the stored outbound message `wamid` forward to the best status recorded for
/// it (setting `status_at`, and `errors` when it failed); never backwards. Returns the
/// message's status afterwards, `None` when no outbound message with this wamid is
/// stored. The outbox may call this right after storing a message instead of
/// [`best_status`].
///
/// # Errors
/// On database failure.
pub(crate) fn sync_status(
    conn: &Conn<'_>,
    tenant: &str,
    wamid: &str,
) -> Result<Option<String>, StoreError> {
    let Some((id, current)) = conn
        .query_opt(
            "SELECT id, status FROM messages WHERE tenant_id = ?1 AND wamid = ?2 AND direction = 'outbound'",
            params![tenant, wamid],
            |r| Ok((r.get::<i64>(0)?, r.get::<String>(1)?)),)?
    else {
        return Ok(None);
    };
    let Some((best, at, errors)) = best_recorded(conn, tenant, wamid)? else {
        return Ok(Some(current));
    };
    // A status the order does not know (e.g. one the outbox uses before sending)
    // ranks below every status Meta sends.
    if status_rank(&best) > status_rank(&current) {
        conn.execute(
            "UPDATE messages SET status = ?2, status_at = ?3, errors = COALESCE(?4, errors) WHERE id = ?1",
            params![id, best, at, errors],)?;
        return Ok(Some(best));
    }
    Ok(Some(current))
}

/// Every recorded status of a message, oldest first.
pub(super) fn statuses_of(
    conn: &Conn<'_>,
    tenant: &str,
    wamid: &str,
) -> Result<Vec<StatusEvent>, StoreError> {
    let rows = conn.query(
        "SELECT status, timestamp, errors, pricing, conversation FROM message_statuses
         WHERE tenant_id = ?1 AND wamid = ?2 ORDER BY timestamp, id",
        params![tenant, wamid],
        |r| {
            Ok((
                r.get::<String>(0)?,
                r.get::<i64>(1)?,
                r.get::<Option<String>>(2)?,
                r.get::<Option<String>>(3)?,
                r.get::<Option<String>>(4)?,
            ))
        },
    )?;
    let parse = |text: Option<String>| text.map(|t| serde_json::from_str(&t)).transpose();
    rows.into_iter()
        .map(|(status, timestamp, errors, pricing, conversation)| {
            Ok(StatusEvent {
                status,
                timestamp,
                errors: parse(errors)?,
                pricing: parse(pricing)?,
                conversation: parse(conversation)?,
            })
        })
        .collect()
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::fixture::fixtures;
    use serde_json::json;

    /// Every order of `items`.
    fn permutations(items: &[&'static str]) -> Vec<Vec<&'static str>> {
        if items.len() <= 1 {
            return vec![items.to_vec()];
        }
        let mut out = Vec::new();
        for (i, first) in items.iter().enumerate() {
            let mut rest = items.to_vec();
            rest.remove(i);
            for mut tail in permutations(&rest) {
                tail.insert(0, first);
                out.push(tail);
            }
        }
        out
    }

    #[test]
    fn statuses_only_move_forward_whatever_order_they_arrive_in() {
        for f in fixtures() {
            eprintln!("backend: {}", f.backend);
            for (n, order) in permutations(&["sent", "delivered", "read", "played"])
                .into_iter()
                .enumerate()
            {
                let wamid = format!("wamid.out{n}");
                f.outbound(&wamid);
                for status in &order {
                    f.status(&wamid, status, 10);
                }
                let m = f.message(&wamid);
                assert_eq!(m.status, "played", "{order:?}");
                assert_eq!(m.statuses.len(), 4);
            }
        }
    }

    #[test]
    fn failed_is_terminal_wherever_it_arrives() {
        for f in fixtures() {
            eprintln!("backend: {}", f.backend);
            for (n, order) in permutations(&["sent", "delivered", "failed"])
                .into_iter()
                .enumerate()
            {
                let wamid = format!("wamid.fail{n}");
                f.outbound(&wamid);
                for status in &order {
                    f.status(&wamid, status, 10);
                }
                let m = f.message(&wamid);
                assert_eq!(m.status, "failed", "{order:?}");
                assert_eq!(m.errors, Some(json!([{"code": 131026}])), "{order:?}");
            }
        }
    }

    #[test]
    fn a_redelivered_or_older_status_changes_nothing() {
        for f in fixtures() {
            eprintln!("backend: {}", f.backend);
            f.outbound("wamid.o");
            assert_eq!(
                f.status("wamid.o", "read", 30).message_status.as_deref(),
                Some("read")
            );
            let again = f.status("wamid.o", "read", 30);
            assert!(!again.inserted);
            let late = f.status("wamid.o", "delivered", 20);
            assert!(late.inserted, "the late event is still kept");
            assert_eq!(late.message_status.as_deref(), Some("read"));
            let m = f.message("wamid.o");
            assert_eq!(m.status_at, Some(30));
            // Statuses Meta may add later do not move a message.
            f.status("wamid.o", "deleted", 40);
            assert_eq!(f.message("wamid.o").status, "read");
        }
    }

    #[test]
    fn a_status_recorded_before_its_message_applies_when_the_row_appears() {
        for f in fixtures() {
            eprintln!("backend: {}", f.backend);
            let early = f.status("wamid.race", "delivered", 50);
            assert_eq!(early.message_status, None, "no row yet");
            let best =
                f.db.with_conn(|c| best_status(c, "acme", "wamid.race"))
                    .unwrap();
            assert_eq!(best.as_deref(), Some("delivered"));
            assert_eq!(
                f.db.with_conn(|c| best_status(c, "acme", "wamid.none"))
                    .unwrap(),
                None
            );
            f.outbound("wamid.race");
            assert_eq!(f.message("wamid.race").status, "accepted");
            let synced =
                f.db.with_conn(|c| sync_status(c, "acme", "wamid.race"))
                    .unwrap();
            assert_eq!(synced.as_deref(), Some("delivered"));
            let m = f.message("wamid.race");
            assert_eq!((m.status.as_str(), m.status_at), ("delivered", Some(50)));
        }
    }

    #[test]
    fn statuses_never_touch_inbound_messages() {
        for f in fixtures() {
            eprintln!("backend: {}", f.backend);
            f.inbound("wamid.in", "hola");
            assert_eq!(f.status("wamid.in", "read", 5).message_status, None);
            let m = f.message("wamid.in");
            assert_eq!(m.status, "received");
            assert!(m.statuses.is_empty());
        }
    }
}
