//! The review queue: every overwrite of a differing value and every proposed
//! duplicate, for a person to accept or revert.

use crate::page::{Page, PageRequest};
use crate::params;
use crate::sql::{Conn, Row};
use crate::{StoreError, now_ms};
use serde::Serialize;
use serde_json::Value;

/// One entry of the review queue.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Review {
    /// Its id.
    pub id: i64,
    /// The tenant.
    pub tenant: String,
    /// `conflict` (a differing value was overwritten or refused) or `duplicate`.
    pub kind: String,
    /// The contact.
    pub contact_id: i64,
    /// The field, for conflicts.
    pub field: Option<String>,
    /// The value that won, its side (`whatsapp`, `crm`) and time (Unix ms).
    pub kept: Option<Value>,
    /// See `kept`.
    pub kept_source: Option<String>,
    /// See `kept`.
    pub kept_at: Option<i64>,
    /// The value that lost.
    pub lost: Option<Value>,
    /// See `lost`.
    pub lost_source: Option<String>,
    /// See `lost`.
    pub lost_at: Option<i64>,
    /// Anything else (for duplicates: the other contact and the evidence).
    pub detail: Value,
    /// `open`, `accepted` or `reverted`.
    pub state: String,
    /// Created, Unix ms.
    pub created_at: i64,
    /// Resolved, Unix ms.
    pub resolved_at: Option<i64>,
}

/// What a new review entry says.
#[derive(Debug, Clone)]
pub struct NewReview<'a> {
    /// `conflict` or `duplicate`.
    pub kind: &'a str,
    /// The contact.
    pub contact_id: i64,
    /// The field, for conflicts.
    pub field: Option<&'a str>,
    /// The winning value, side and time.
    pub kept: Option<(&'a Value, &'a str, i64)>,
    /// The losing value, side and time.
    pub lost: Option<(&'a Value, &'a str, i64)>,
    /// Anything else.
    pub detail: Value,
}

/// Adds an open review entry; its id.
///
/// # Errors
/// On database failure.
pub(crate) fn add_review(
    conn: &Conn<'_>,
    tenant: &str,
    r: &NewReview<'_>,
) -> Result<i64, StoreError> {
    conn.query_one(
        "INSERT INTO crm_reviews (tenant_id, kind, contact_id, field, kept, kept_source, kept_at,
             lost, lost_source, lost_at, detail, state, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 'open', ?12)
         RETURNING id",
        params![
            tenant,
            r.kind,
            r.contact_id,
            r.field,
            r.kept.map(|k| k.0.to_string()),
            r.kept.map(|k| k.1),
            r.kept.map(|k| k.2),
            r.lost.map(|l| l.0.to_string()),
            r.lost.map(|l| l.1),
            r.lost.map(|l| l.2),
            r.detail.to_string(),
            now_ms()
        ],
        |r| r.get(0),
    )
}

const REVIEW_COLUMNS: &str = "id, tenant_id, kind, contact_id, field, kept, kept_source, kept_at, \
                              lost, lost_source, lost_at, detail, state, created_at, resolved_at";

fn review_row(r: &Row<'_>) -> Result<Review, StoreError> {
    let json = |i: usize| -> Result<Option<Value>, StoreError> {
        Ok(r.get::<Option<String>>(i)?
            .map(|s| serde_json::from_str(&s).unwrap_or(Value::String(s))))
    };
    Ok(Review {
        id: r.get(0)?,
        tenant: r.get(1)?,
        kind: r.get(2)?,
        contact_id: r.get(3)?,
        field: r.get(4)?,
        kept: json(5)?,
        kept_source: r.get(6)?,
        kept_at: r.get(7)?,
        lost: json(8)?,
        lost_source: r.get(9)?,
        lost_at: r.get(10)?,
        detail: json(11)?.unwrap_or(Value::Null),
        state: r.get(12)?,
        created_at: r.get(13)?,
        resolved_at: r.get(14)?,
    })
}

/// One page of a tenant's review queue, optionally in one state, oldest first.
///
/// # Errors
/// On database failure.
pub(crate) fn list_reviews(
    conn: &Conn<'_>,
    tenant: &str,
    state: Option<&str>,
    page: PageRequest,
) -> Result<Page<Review>, StoreError> {
    let rows = conn.query(
        &format!(
            "SELECT {REVIEW_COLUMNS} FROM crm_reviews WHERE {} AND id > ?3 ORDER BY id LIMIT ?4",
            super::jobs::by_state(conn, state)
        ),
        params![tenant, state, page.after, page.sql_limit()],
        review_row,
    )?;
    Ok(Page::from_rows(rows, page, |r| r.id))
}

/// One review entry of a tenant.
///
/// # Errors
/// On database failure.
pub(crate) fn review(conn: &Conn<'_>, tenant: &str, id: i64) -> Result<Option<Review>, StoreError> {
    conn.query_opt(
        &format!("SELECT {REVIEW_COLUMNS} FROM crm_reviews WHERE tenant_id = ?1 AND id = ?2"),
        params![tenant, id],
        review_row,
    )
}

/// Closes a review entry as `accepted` or `reverted`.
///
/// # Errors
/// On database failure.
pub(crate) fn resolve_review(conn: &Conn<'_>, id: i64, state: &str) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE crm_reviews SET state = ?2, resolved_at = ?3 WHERE id = ?1",
        params![id, state, now_ms()],
    )?;
    Ok(())
}

/// A side's value of a field, its source and its time (Unix ms).
pub type Version<'a> = (&'a Value, &'a str, i64);

/// Puts an overwrite of a differing value in the review queue: `kept` won, `lost` was
/// replaced or refused (last writer wins).
pub(crate) fn review_conflict(
    tx: &Conn<'_>,
    tenant: &str,
    contact_id: i64,
    field: &str,
    kept: Version<'_>,
    lost: Version<'_>,
    detail: Value,
) -> Result<i64, StoreError> {
    add_review(
        tx,
        tenant,
        &NewReview {
            kind: "conflict",
            contact_id,
            field: Some(field),
            kept: Some(kept),
            lost: Some(lost),
            detail,
        },
    )
}
