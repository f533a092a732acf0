//! Stored weekly reports: generated once per tenant and ISO week (on Monday, for
//! the week that just ended), listed for managers, emailed to the tenant's
//! recipients with the attempts and the last failure kept.

use crate::StoreError;
use crate::params;
use crate::sql::{Conn, Row};
use serde::Serialize;
use serde_json::Value;

/// A stored report, without its body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportInfo {
    /// `2026-W48`.
    pub week: String,
    /// When it was generated, Unix ms.
    pub generated_at: i64,
    /// When the SMTP server accepted it, Unix ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emailed_at: Option<i64>,
    /// Tries so far.
    pub email_attempts: i64,
    /// The last failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_error: Option<String>,
}

const INFO: &str = "week, generated_at, emailed_at, email_attempts, email_error";

fn info(r: &Row<'_>) -> Result<ReportInfo, StoreError> {
    Ok(ReportInfo {
        week: r.get(0)?,
        generated_at: r.get(1)?,
        emailed_at: r.get(2)?,
        email_attempts: r.get(3)?,
        email_error: r.get(4)?,
    })
}

/// Stores `body` as the report of `week`; false when one is stored already (the
/// first one generated is kept).
pub(crate) fn put(
    conn: &Conn<'_>,
    tenant: &str,
    week: &str,
    body: &Value,
    at: i64,
) -> Result<bool, StoreError> {
    let n = conn.execute(
        "INSERT INTO reports (tenant_id, week, body, generated_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (tenant_id, week) DO NOTHING",
        params![tenant, week, body.to_string(), at],
    )?;
    Ok(n == 1)
}

/// The stored report of `week`, with its body.
pub(crate) fn get(
    conn: &Conn<'_>,
    tenant: &str,
    week: &str,
) -> Result<Option<(ReportInfo, Value)>, StoreError> {
    conn.query_opt(
        &format!("SELECT {INFO}, body FROM reports WHERE tenant_id = ?1 AND week = ?2"),
        params![tenant, week],
        |r| {
            let body: String = r.get(5)?;
            let body = serde_json::from_str(&body)
                .map_err(|e| StoreError::Column(format!("report body: {e}")))?;
            Ok((info(r)?, body))
        },
    )
}

/// The tenant's stored reports, newest week first.
pub(crate) fn list(
    conn: &Conn<'_>,
    tenant: &str,
    limit: u32,
) -> Result<Vec<ReportInfo>, StoreError> {
    conn.query(
        &format!("SELECT {INFO} FROM reports WHERE tenant_id = ?1 ORDER BY week DESC LIMIT ?2"),
        params![tenant, i64::from(limit)],
        info,
    )
}

/// Reports generated at or after `since` not emailed yet, with fewer than
/// `max_attempts` tries: `(tenant, week)`, oldest first.
pub(crate) fn unsent(
    conn: &Conn<'_>,
    since: i64,
    max_attempts: i64,
    limit: u32,
) -> Result<Vec<(String, String)>, StoreError> {
    conn.query(
        "SELECT tenant_id, week FROM reports
         WHERE emailed_at IS NULL AND generated_at >= ?1 AND email_attempts < ?2
         ORDER BY generated_at LIMIT ?3",
        params![since, max_attempts, i64::from(limit)],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// Records an attempt to email a report: sent at `Ok(at)`, or failed with `Err(why)`.
pub(crate) fn emailed(
    conn: &Conn<'_>,
    tenant: &str,
    week: &str,
    outcome: Result<i64, String>,
) -> Result<(), StoreError> {
    let (at, error) = match outcome {
        Ok(at) => (Some(at), None),
        Err(e) => (None, Some(e)),
    };
    conn.execute(
        "UPDATE reports SET emailed_at = ?3, email_error = ?4, email_attempts = email_attempts + 1
         WHERE tenant_id = ?1 AND week = ?2",
        params![tenant, week, at, error],
    )?;
    Ok(())
}

crate::repo! {
    /// Stored weekly reports.
    pub trait ReportRepo {
        /// Stores a week's report unless one is stored.
        fn put(tenant: &str, week: &str, body: &Value, at: i64) -> Result<bool, StoreError>;
        /// A stored report with its body.
        fn get(tenant: &str, week: &str) -> Result<Option<(ReportInfo, Value)>, StoreError>;
        /// The stored reports, newest first.
        fn list(tenant: &str, limit: u32) -> Result<Vec<ReportInfo>, StoreError>;
        /// Reports still to email.
        fn unsent(since: i64, max_attempts: i64, limit: u32) -> Result<Vec<(String, String)>, StoreError>;
        /// Records an attempt to email a report.
        fn emailed(tenant: &str, week: &str, outcome: Result<i64, String>) -> Result<(), StoreError>;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_once_listed_and_emailed_with_attempts() {
        for t in crate::testing::backends() {
            let b = t.backend;
            t.db.with_conn(|c| {
                crate::testing::add_acme(c)?;
                let body = serde_json::json!({"week": "2026-W48"});
                assert!(put(c, "acme", "2026-W48", &body, 10)?);
                assert!(
                    !put(c, "acme", "2026-W48", &serde_json::json!({}), 20)?,
                    "{b}: kept"
                );
                put(c, "acme", "2026-W47", &body, 5)?;
                let weeks: Vec<String> = list(c, "acme", 10)?.into_iter().map(|r| r.week).collect();
                assert_eq!(weeks, ["2026-W48", "2026-W47"], "{b}");
                assert_eq!(
                    unsent(c, 8, 3, 10)?,
                    [("acme".to_string(), "2026-W48".to_string())]
                );
                emailed(c, "acme", "2026-W48", Err("connection refused".into()))?;
                emailed(c, "acme", "2026-W48", Err("connection refused".into()))?;
                emailed(c, "acme", "2026-W48", Err("connection refused".into()))?;
                assert!(unsent(c, 8, 3, 10)?.is_empty(), "{b}: three tries");
                emailed(c, "acme", "2026-W48", Ok(99))?;
                let (info, got) = get(c, "acme", "2026-W48")?.unwrap();
                assert_eq!(
                    (info.emailed_at, info.email_error, info.email_attempts),
                    (Some(99), None, 4)
                );
                assert_eq!(got, body);
                Ok(())
            })
            .unwrap();
        }
    }
}
