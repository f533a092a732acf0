//! Consent per tenant and WhatsApp id: recorded opt-in, opt-out (a STOP keyword),
//! the user's marketing preference, and what Meta's errors told us about the
//! recipient (marketing paused, undeliverable).
//!
//! Every change takes effect at once: the outbox reads this table before each send.

use super::{StoreError, now_ms};
use crate::params;
use crate::sql::Conn;
use serde::Serialize;

/// What is known about one recipient's consent.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Consent {
    /// WhatsApp id (digits).
    pub wa_id: String,
    /// When opt-in was recorded, Unix ms.
    pub opted_in_at: Option<i64>,
    /// Where the opt-in came from (API, CRM, ...).
    pub opt_in_source: Option<String>,
    /// When the contact opted out (STOP), Unix ms. Blocks business-initiated messages.
    pub opted_out_at: Option<i64>,
    /// What opted them out (`keyword`, `api`, ...).
    pub opt_out_source: Option<String>,
    /// When the contact stopped marketing messages, Unix ms.
    pub marketing_stopped_at: Option<i64>,
    /// Marketing messages wait until then (Meta's per-user marketing limit), Unix ms.
    pub marketing_paused_until: Option<i64>,
    /// When Meta said the recipient cannot receive messages, Unix ms.
    pub undeliverable_at: Option<i64>,
}

impl Consent {
    /// True when the contact has opted in and not opted out since.
    pub fn opted_in(&self) -> bool {
        match (self.opted_in_at, self.opted_out_at) {
            (Some(i), Some(o)) => i > o,
            (Some(_), None) => true,
            _ => false,
        }
    }

    /// True when the contact opted out and has not opted in again since.
    pub fn opted_out(&self) -> bool {
        match (self.opted_in_at, self.opted_out_at) {
            (Some(i), Some(o)) => o >= i,
            (None, Some(_)) => true,
            _ => false,
        }
    }
}

/// The key a recipient is stored under: E.164 digits when the WhatsApp id is a valid
/// number (so Mexico's 521… and Brazil's eight-digit ids meet the number the outbox
/// sends to), else the id as given.
fn key(wa_id: &str) -> String {
    scrm_wire::phone::canonical_digits(wa_id).into_owned()
}

/// The consent row of a recipient; all-empty when nothing was recorded.
///
/// # Errors
/// On database failure.
pub(crate) fn get(conn: &Conn<'_>, tenant: &str, wa_id: &str) -> Result<Consent, StoreError> {
    let wa_id = &key(wa_id);
    let row = conn.query_opt(
        "SELECT opted_in_at, opt_in_source, opted_out_at, opt_out_source,
                    marketing_stopped_at, marketing_paused_until, undeliverable_at
             FROM consent WHERE tenant_id = ?1 AND wa_id = ?2",
        params![tenant, wa_id],
        |r| {
            Ok(Consent {
                wa_id: wa_id.to_owned(),
                opted_in_at: r.get(0)?,
                opt_in_source: r.get(1)?,
                opted_out_at: r.get(2)?,
                opt_out_source: r.get(3)?,
                marketing_stopped_at: r.get(4)?,
                marketing_paused_until: r.get(5)?,
                undeliverable_at: r.get(6)?,
            })
        },
    )?;
    Ok(row.unwrap_or_else(|| Consent {
        wa_id: wa_id.to_owned(),
        ..Consent::default()
    }))
}

/// Runs `update` (parameters: tenant, wa_id, updated_at, then `values`) on the
/// recipient's row, creating the row first when there is none.
fn update(
    conn: &Conn<'_>,
    tenant: &str,
    wa_id: &str,
    assignments: &str,
    values: &[&dyn crate::sql::Param],
) -> Result<(), StoreError> {
    let wa_id = &key(wa_id);
    let now = now_ms();
    conn.execute(
        "INSERT INTO consent (tenant_id, wa_id, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (tenant_id, wa_id) DO NOTHING",
        params![tenant, wa_id, now],
    )?;
    let mut all: Vec<&dyn crate::sql::Param> = vec![&tenant, &wa_id, &now];
    all.extend_from_slice(values);
    conn.execute(
        &format!(
            "UPDATE consent SET {assignments}, updated_at = ?3 WHERE tenant_id = ?1 AND wa_id = ?2"
        ),
        all.as_slice(),
    )?;
    Ok(())
}

/// Records an opt-in at `at` (Unix ms) from `source`.
///
/// # Errors
/// On database failure.
pub(crate) fn opt_in(
    conn: &Conn<'_>,
    tenant: &str,
    wa_id: &str,
    source: &str,
    at: i64,
) -> Result<(), StoreError> {
    update(
        conn,
        tenant,
        wa_id,
        "opted_in_at = ?4, opt_in_source = ?5",
        &[&at, &source],
    )
}

/// Records an opt-out at `at` (Unix ms) from `source`.
///
/// # Errors
/// On database failure.
pub(crate) fn opt_out(
    conn: &Conn<'_>,
    tenant: &str,
    wa_id: &str,
    source: &str,
    at: i64,
) -> Result<(), StoreError> {
    update(
        conn,
        tenant,
        wa_id,
        "opted_out_at = ?4, opt_out_source = ?5",
        &[&at, &source],
    )
}

/// Records the user's marketing preference from Meta's `user_preferences` webhook
/// (`stop` = true stops marketing messages, false resumes them).
///
/// # Errors
/// On database failure.
pub(crate) fn marketing_preference(
    conn: &Conn<'_>,
    tenant: &str,
    wa_id: &str,
    stop: bool,
    at: i64,
) -> Result<(), StoreError> {
    let value: Option<i64> = stop.then_some(at);
    update(conn, tenant, wa_id, "marketing_stopped_at = ?4", &[&value])
}

/// Pauses marketing messages to the recipient until `until` (Unix ms): Meta's
/// per-user marketing limit (131049).
///
/// # Errors
/// On database failure.
pub(crate) fn pause_marketing(
    conn: &Conn<'_>,
    tenant: &str,
    wa_id: &str,
    until: i64,
) -> Result<(), StoreError> {
    update(
        conn,
        tenant,
        wa_id,
        "marketing_paused_until = greatest(marketing_paused_until, ?4)",
        &[&until],
    )
}

/// Marks the recipient undeliverable (131026) at `at` (Unix ms).
///
/// # Errors
/// On database failure.
pub(crate) fn mark_undeliverable(
    conn: &Conn<'_>,
    tenant: &str,
    wa_id: &str,
    at: i64,
) -> Result<(), StoreError> {
    update(conn, tenant, wa_id, "undeliverable_at = ?4", &[&at])
}

crate::repo! {
    /// Consent per recipient: opt-in, opt-out, marketing preference, what Meta said.
    pub trait ConsentRepo {
        /// The consent row of a recipient; all-empty when nothing was recorded.
        fn get(tenant: &str, wa_id: &str) -> Result<Consent, StoreError>;
        /// Records an opt-in at `at` (Unix ms) from `source`.
        fn opt_in(tenant: &str, wa_id: &str, source: &str, at: i64) -> Result<(), StoreError>;
        /// Records an opt-out at `at` (Unix ms) from `source`.
        fn opt_out(tenant: &str, wa_id: &str, source: &str, at: i64) -> Result<(), StoreError>;
        /// Records the user's marketing preference from Meta's `user_preferences` webhook
        /// (`stop` = true stops marketing messages, false resumes them).
        fn marketing_preference(tenant: &str, wa_id: &str, stop: bool, at: i64) -> Result<(), StoreError>;
        /// Pauses marketing messages to the recipient until `until` (Unix ms): Meta's
        /// per-user marketing limit (131049).
        fn pause_marketing(tenant: &str, wa_id: &str, until: i64) -> Result<(), StoreError>;
        /// Marks the recipient undeliverable (131026) at `at` (Unix ms).
        fn mark_undeliverable(tenant: &str, wa_id: &str, at: i64) -> Result<(), StoreError>;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Vec<crate::testing::TestDb> {
        let all = crate::testing::backends();
        for t in &all {
            let db = &t.db;
            db.with_conn(|c| {
                crate::apps::insert(c, "app", "secret", "verify")?;
                crate::tenants::insert(
                    c,
                    &crate::tenants::NewTenant {
                        id: "acme".into(),
                        app_id: "app".into(),
                        phone_number_ids: vec!["100".into()],
                        default_region: "IT".into(),
                    },
                )
            })
            .unwrap();
        }
        all
    }

    #[test]
    fn stop_keyword_opts_out_and_start_opts_back_in() {
        for t in db() {
            let db = &t.db;
            eprintln!("backend: {}", t.backend);
            db.with_conn(|c| opt_out(c, "acme", "391", "keyword", 1_000))
                .unwrap();
            let consent = db.with_conn(|c| get(c, "acme", "391")).unwrap();
            assert!(consent.opted_out());
            assert!(!consent.opted_in());
            assert_eq!(consent.opt_out_source.as_deref(), Some("keyword"));
            db.with_conn(|c| opt_in(c, "acme", "391", "keyword", 2_000))
                .unwrap();
            let consent = db.with_conn(|c| get(c, "acme", "391")).unwrap();
            assert!(consent.opted_in());
            assert!(!consent.opted_out());
        }
    }

    #[test]
    fn mexican_wa_id_and_e164_digits_share_one_consent() {
        for t in db() {
            let db = &t.db;
            eprintln!("backend: {}", t.backend);
            db.with_conn(|c| opt_out(c, "acme", "5215512345678", "keyword", 1))
                .unwrap();
            assert!(
                db.with_conn(|c| get(c, "acme", "525512345678"))
                    .unwrap()
                    .opted_out()
            );
        }
    }

    #[test]
    fn unknown_recipient_has_no_consent_recorded() {
        for t in db() {
            let db = &t.db;
            eprintln!("backend: {}", t.backend);
            let consent = db.with_conn(|c| get(c, "acme", "999")).unwrap();
            assert!(!consent.opted_in() && !consent.opted_out());
            assert_eq!(consent.marketing_stopped_at, None);
        }
    }

    #[test]
    fn marketing_preference_stops_and_resumes() {
        for t in db() {
            let db = &t.db;
            eprintln!("backend: {}", t.backend);
            db.with_conn(|c| marketing_preference(c, "acme", "391", true, 5))
                .unwrap();
            assert_eq!(
                db.with_conn(|c| get(c, "acme", "391"))
                    .unwrap()
                    .marketing_stopped_at,
                Some(5)
            );
            db.with_conn(|c| marketing_preference(c, "acme", "391", false, 6))
                .unwrap();
            assert_eq!(
                db.with_conn(|c| get(c, "acme", "391"))
                    .unwrap()
                    .marketing_stopped_at,
                None
            );
        }
    }

    #[test]
    fn marketing_pause_only_moves_forward() {
        for t in db() {
            let db = &t.db;
            eprintln!("backend: {}", t.backend);
            db.with_conn(|c| pause_marketing(c, "acme", "391", 100))
                .unwrap();
            db.with_conn(|c| pause_marketing(c, "acme", "391", 50))
                .unwrap();
            assert_eq!(
                db.with_conn(|c| get(c, "acme", "391"))
                    .unwrap()
                    .marketing_paused_until,
                Some(100)
            );
        }
    }
}
