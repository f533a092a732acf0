//! CRM phone numbers that could not be normalised: a per-tenant list with the
//! reason, so a record is never dropped silently.

use crate::StoreError;
use crate::params;
use crate::sql::Conn;
use serde::Serialize;

/// A CRM record whose phone number the host could not use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PhoneProblem {
    /// The CRM's id of the record.
    pub crm_id: String,
    /// The number as the CRM had it.
    pub phone: String,
    /// The record's country field, if it had one.
    pub country: Option<String>,
    /// Why it could not be used.
    pub reason: String,
    /// When the host last saw it (Unix ms).
    pub seen_at: i64,
}

/// Records (or refreshes) `problem` for `tenant`.
///
/// # Errors
/// On database failure.
pub(crate) fn note_phone_problem(
    conn: &Conn<'_>,
    tenant: &str,
    problem: &PhoneProblem,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO crm_phone_problems (tenant_id, crm_id, phone, country, reason, seen_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (tenant_id, crm_id) DO UPDATE SET phone = excluded.phone,
             country = excluded.country, reason = excluded.reason, seen_at = excluded.seen_at",
        params![
            tenant,
            problem.crm_id,
            problem.phone,
            problem.country,
            problem.reason,
            problem.seen_at
        ],
    )?;
    Ok(())
}

/// Forgets the problem of `crm_id` (its number is usable now).
///
/// # Errors
/// On database failure.
pub(crate) fn clear_phone_problem(
    conn: &Conn<'_>,
    tenant: &str,
    crm_id: &str,
) -> Result<(), StoreError> {
    conn.execute(
        "DELETE FROM crm_phone_problems WHERE tenant_id = ?1 AND crm_id = ?2",
        params![tenant, crm_id],
    )?;
    Ok(())
}

/// The tenant's unusable CRM numbers, most recently seen first (at most 1,000).
///
/// # Errors
/// On database failure.
pub(crate) fn phone_problems(
    conn: &Conn<'_>,
    tenant: &str,
) -> Result<Vec<PhoneProblem>, StoreError> {
    conn.query(
        "SELECT crm_id, phone, country, reason, seen_at FROM crm_phone_problems
         WHERE tenant_id = ?1 ORDER BY seen_at DESC, crm_id LIMIT 1000",
        params![tenant],
        |r| {
            Ok(PhoneProblem {
                crm_id: r.get(0)?,
                phone: r.get(1)?,
                country: r.get(2)?,
                reason: r.get(3)?,
                seen_at: r.get(4)?,
            })
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_is_listed_refreshed_and_cleared() {
        for t in crate::testing::backends() {
            let b = t.backend;
            t.db.with_conn(|c| {
                crate::testing::add_acme(c)?;
                let p = |crm_id: &str, reason: &str, at: i64| PhoneProblem {
                    crm_id: crm_id.into(),
                    phone: "123".into(),
                    country: None,
                    reason: reason.into(),
                    seen_at: at,
                };
                note_phone_problem(c, "acme", &p("1", "old", 1))?;
                note_phone_problem(c, "acme", &p("2", "other", 2))?;
                note_phone_problem(c, "acme", &p("1", "new", 3))?;
                assert_eq!(
                    phone_problems(c, "acme")?,
                    [p("1", "new", 3), p("2", "other", 2)],
                    "{b}"
                );
                clear_phone_problem(c, "acme", "1")?;
                assert_eq!(phone_problems(c, "acme")?, [p("2", "other", 2)], "{b}");
                Ok(())
            })
            .unwrap();
        }
    }
}
