//! Alerts: each open condition is one row (`kind`, `subject`) until it clears; the
//! application says which conditions hold now and [`reconcile`] raises the new ones
//! and clears the ones that ended, so each alert is raised once per condition. Each
//! raise and clear queues a notice ([`due_notices`]) for the tenant's webhook and
//! email recipients, retried until delivered.

use crate::params;
use crate::sql::{Conn, Row};
use crate::{StoreError, now_ms};
use serde::Serialize;
use serde_json::Value;

/// A condition that holds now.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// `agent_slow`, `promotion_below`, `plugin_quarantined`.
    pub kind: String,
    /// What it is about (`person:4`, the promotion's name, the slot).
    pub subject: String,
    /// For people.
    pub message: String,
    /// For programs.
    pub details: Value,
}

/// An alert.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// Host id.
    pub id: i64,
    /// What kind.
    pub kind: String,
    /// What it is about.
    pub subject: String,
    /// For people.
    pub message: String,
    /// For programs.
    pub details: Value,
    /// When it was raised, Unix ms.
    pub raised_at: i64,
    /// When its numbers were last refreshed, Unix ms.
    pub updated_at: i64,
    /// When it cleared, Unix ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cleared_at: Option<i64>,
}

const COLS: &str = "id, kind, subject, message, details, raised_at, updated_at, cleared_at";

fn from_row(r: &Row<'_>) -> Result<Alert, StoreError> {
    let details: String = r.get(4)?;
    Ok(Alert {
        id: r.get(0)?,
        kind: r.get(1)?,
        subject: r.get(2)?,
        message: r.get(3)?,
        details: serde_json::from_str(&details).unwrap_or(Value::Null),
        raised_at: r.get(5)?,
        updated_at: r.get(6)?,
        cleared_at: r.get(7)?,
    })
}

/// The tenant's alerts, newest first: open ones only unless `all`.
pub(crate) fn alerts(
    conn: &Conn<'_>,
    tenant: &str,
    all: bool,
    limit: u32,
) -> Result<Vec<Alert>, StoreError> {
    let open = if all { "" } else { " AND cleared_at IS NULL" };
    conn.query(
        &format!("SELECT {COLS} FROM alerts WHERE tenant_id = ?1{open} ORDER BY id DESC LIMIT ?2"),
        params![tenant, i64::from(limit)],
        from_row,
    )
}

/// Makes the tenant's open alerts the conditions in `now_holding`: new ones are
/// raised, open ones still holding get their message and details refreshed, open ones
/// no longer holding are cleared. The raised and the cleared.
pub(crate) fn reconcile(
    conn: &Conn<'_>,
    tenant: &str,
    now_holding: &[Condition],
) -> Result<(Vec<Alert>, Vec<Alert>), StoreError> {
    let now = now_ms();
    let open = alerts(conn, tenant, false, 10_000)?;
    let mut raised = Vec::new();
    for c in now_holding {
        let details = c.details.to_string();
        if open
            .iter()
            .any(|a| a.kind == c.kind && a.subject == c.subject)
        {
            conn.execute(
                "UPDATE alerts SET message = ?4, details = ?5, updated_at = ?6
                 WHERE tenant_id = ?1 AND kind = ?2 AND subject = ?3 AND cleared_at IS NULL",
                params![tenant, c.kind, c.subject, c.message, details, now],
            )?;
        } else {
            let alert: Alert = conn.query_one(
                &format!(
                    "INSERT INTO alerts (tenant_id, kind, subject, message, details, raised_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) RETURNING {COLS}"
                ),
                params![tenant, c.kind, c.subject, c.message, details, now],
                from_row,
            )?;
            notice(conn, tenant, alert.id, "raised", now)?;
            raised.push(alert);
        }
    }
    let mut cleared = Vec::new();
    for a in open {
        if !now_holding
            .iter()
            .any(|c| c.kind == a.kind && c.subject == a.subject)
        {
            conn.execute(
                "UPDATE alerts SET cleared_at = ?2 WHERE id = ?1",
                params![a.id, now],
            )?;
            notice(conn, tenant, a.id, "cleared", now)?;
            cleared.push(Alert {
                cleared_at: Some(now),
                ..a
            });
        }
    }
    Ok((raised, cleared))
}

/// Queues the notice that alert `id` was `event` (`raised`, `cleared`).
fn notice(conn: &Conn<'_>, tenant: &str, id: i64, event: &str, now: i64) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO alert_notices (alert_id, tenant_id, event, created_at, next_at)
         VALUES (?1, ?2, ?3, ?4, ?4)",
        params![id, tenant, event, now],
    )?;
    Ok(())
}

/// A notice to deliver: an alert raised or cleared.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notice {
    /// Its id.
    pub id: i64,
    /// The tenant.
    pub tenant_id: String,
    /// `raised` or `cleared`.
    pub event: String,
    /// Tries so far.
    pub attempts: i64,
    /// The alert.
    pub alert: Alert,
}

/// Notices due by `now`, oldest first.
pub(crate) fn due_notices(
    conn: &Conn<'_>,
    now: i64,
    limit: u32,
) -> Result<Vec<Notice>, StoreError> {
    let cols: String = COLS
        .split(", ")
        .map(|c| format!("a.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    conn.query(
        &format!(
            "SELECT {cols}, n.id, n.tenant_id, n.event, n.attempts
             FROM alert_notices n JOIN alerts a ON a.id = n.alert_id
             WHERE n.done_at IS NULL AND n.next_at <= ?1 ORDER BY n.id LIMIT ?2"
        ),
        params![now, i64::from(limit)],
        |r| {
            Ok(Notice {
                alert: from_row(r)?,
                id: r.get(8)?,
                tenant_id: r.get(9)?,
                event: r.get(10)?,
                attempts: r.get(11)?,
            })
        },
    )
}

/// Records a delivery attempt: done (delivered to `Ok(where)`, empty when there was
/// nowhere to deliver), or failed with `Err((why, retry_at))` — given up on when
/// `retry_at` is `None`.
pub(crate) fn notice_outcome(
    conn: &Conn<'_>,
    id: i64,
    outcome: Result<String, (String, Option<i64>)>,
) -> Result<(), StoreError> {
    let now = now_ms();
    match outcome {
        Ok(delivered) => conn.execute(
            "UPDATE alert_notices SET done_at = ?2, delivered = ?3, attempts = attempts + 1,
                 last_error = NULL WHERE id = ?1",
            params![id, now, delivered],
        )?,
        Err((error, Some(retry_at))) => conn.execute(
            "UPDATE alert_notices SET next_at = ?2, last_error = ?3, attempts = attempts + 1 WHERE id = ?1",
            params![id, retry_at, error],
        )?,
        Err((error, None)) => conn.execute(
            "UPDATE alert_notices SET done_at = ?2, last_error = ?3, attempts = attempts + 1 WHERE id = ?1",
            params![id, now, error],
        )?,
    };
    Ok(())
}

/// The tenant's quarantined plugin slots and why: `(slot, reason)`.
pub(crate) fn quarantined(
    conn: &Conn<'_>,
    tenant: &str,
) -> Result<Vec<(String, String)>, StoreError> {
    conn.query(
        "SELECT slot, quarantine_reason FROM plugin_slots
         WHERE tenant_id = ?1 AND quarantine_reason IS NOT NULL AND disabled_at IS NULL ORDER BY slot",
        params![tenant],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

crate::repo! {
    /// Alerts.
    pub trait AlertRepo {
        /// The tenant's alerts, newest first (open ones only unless `all`).
        fn alerts(tenant: &str, all: bool, limit: u32) -> Result<Vec<Alert>, StoreError>;
        /// Raises, refreshes and clears so that the open alerts are `now_holding`.
        fn reconcile(tenant: &str, now_holding: &[Condition]) -> Result<(Vec<Alert>, Vec<Alert>), StoreError>;
        /// Notices of alerts raised and cleared due by `now`.
        fn due_notices(now: i64, limit: u32) -> Result<Vec<Notice>, StoreError>;
        /// Records a delivery attempt of a notice.
        fn notice_outcome(id: i64, outcome: Result<String, (String, Option<i64>)>) -> Result<(), StoreError>;
        /// Quarantined plugin slots and why.
        fn quarantined(tenant: &str) -> Result<Vec<(String, String)>, StoreError>;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raised_once_refreshed_then_cleared() {
        for t in crate::testing::backends() {
            let c = |subject: &str, msg: &str| Condition {
                kind: "agent_slow".into(),
                subject: subject.into(),
                message: msg.into(),
                details: serde_json::json!({"mean_s": 400}),
            };
            let (first, again, later, open) =
                t.db.with_conn(|conn| {
                    crate::testing::add_acme(conn)?;
                    let first = reconcile(conn, "acme", &[c("person:4", "slow")])?;
                    let again = reconcile(
                        conn,
                        "acme",
                        &[c("person:4", "slower"), c("person:5", "slow")],
                    )?;
                    let later = reconcile(conn, "acme", &[c("person:5", "slow")])?;
                    Ok((first, again, later, alerts(conn, "acme", false, 10)?))
                })
                .unwrap();
            assert_eq!((first.0.len(), first.1.len()), (1, 0), "{}", t.backend);
            let notices =
                t.db.with_conn(|conn| due_notices(conn, i64::MAX, 10))
                    .unwrap();
            let events: Vec<(&str, &str)> = notices
                .iter()
                .map(|n| (n.event.as_str(), n.alert.subject.as_str()))
                .collect();
            assert_eq!(
                events,
                [
                    ("raised", "person:4"),
                    ("raised", "person:5"),
                    ("cleared", "person:4")
                ],
                "{}",
                t.backend
            );
            t.db.with_conn(|conn| {
                notice_outcome(conn, notices[0].id, Ok("webhook".into()))?;
                notice_outcome(conn, notices[1].id, Err(("refused".into(), Some(i64::MAX))))?;
                notice_outcome(conn, notices[2].id, Err(("refused".into(), None)))
            })
            .unwrap();
            let left =
                t.db.with_conn(|conn| due_notices(conn, i64::MAX - 1, 10))
                    .unwrap();
            assert!(
                left.is_empty(),
                "{}: delivered, retried later, given up",
                t.backend
            );
            assert_eq!(
                again
                    .0
                    .iter()
                    .map(|a| a.subject.as_str())
                    .collect::<Vec<_>>(),
                ["person:5"],
                "raised once"
            );
            assert_eq!(
                later
                    .1
                    .iter()
                    .map(|a| a.subject.as_str())
                    .collect::<Vec<_>>(),
                ["person:4"],
                "cleared"
            );
            assert_eq!(open.len(), 1, "{}", t.backend);
            let all =
                t.db.with_conn(|conn| alerts(conn, "acme", true, 10))
                    .unwrap();
            assert_eq!(all.len(), 2, "{}", t.backend);
            assert_eq!(
                all[1].message, "slower",
                "refreshed while open: {}",
                t.backend
            );
            assert!(all[1].cleared_at.is_some());
        }
    }
}
