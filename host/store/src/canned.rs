//! Canned responses: a tenant's saved replies, typed as `/shortcut` in the inbox,
//! written in the template language (the application checks them before they get
//! here).

use crate::params;
use crate::sql::{Conn, Row};
use crate::{StoreError, now_ms};
use serde::Serialize;

/// A canned response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Canned {
    /// Host id.
    pub id: i64,
    /// What agents type after `/`.
    pub shortcut: String,
    /// A title for the picker.
    pub title: String,
    /// The text, in the template language.
    pub body: String,
    /// Last changed, Unix ms.
    pub updated_at: i64,
}

fn from_row(r: &Row<'_>) -> Result<Canned, StoreError> {
    Ok(Canned {
        id: r.get(0)?,
        shortcut: r.get(1)?,
        title: r.get(2)?,
        body: r.get(3)?,
        updated_at: r.get(4)?,
    })
}

const COLS: &str = "id, shortcut, title, body, updated_at";

pub(crate) fn put(
    conn: &Conn<'_>,
    tenant: &str,
    shortcut: &str,
    title: &str,
    body: &str,
) -> Result<Canned, StoreError> {
    let now = now_ms();
    conn.query_one(
        &format!(
            "INSERT INTO canned_responses (tenant_id, shortcut, title, body, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5)
             ON CONFLICT (tenant_id, shortcut) DO UPDATE SET title = excluded.title,
                 body = excluded.body, updated_at = excluded.updated_at
             RETURNING {COLS}"
        ),
        params![tenant, shortcut, title, body, now],
        from_row,
    )
}

pub(crate) fn get(
    conn: &Conn<'_>,
    tenant: &str,
    shortcut: &str,
) -> Result<Option<Canned>, StoreError> {
    conn.query_opt(
        &format!("SELECT {COLS} FROM canned_responses WHERE tenant_id = ?1 AND shortcut = ?2"),
        params![tenant, shortcut],
        from_row,
    )
}

/// The tenant's canned responses whose shortcut starts with `q`, or whose title or
/// text contains it (case-insensitive), shortcut matches first; all when `q` is
/// empty.
pub(crate) fn search(
    conn: &Conn<'_>,
    tenant: &str,
    q: &str,
    limit: u32,
) -> Result<Vec<Canned>, StoreError> {
    let q = q.trim().trim_start_matches('/').to_lowercase();
    let prefix = format!("{q}%");
    let anywhere = format!("%{q}%");
    conn.query(
        &format!(
            "SELECT {COLS} FROM canned_responses WHERE tenant_id = ?1
               AND (lower(shortcut) LIKE ?2 OR lower(title) LIKE ?3 OR lower(body) LIKE ?3)
             ORDER BY CASE WHEN lower(shortcut) LIKE ?2 THEN 0 ELSE 1 END, shortcut LIMIT ?4"
        ),
        params![tenant, prefix, anywhere, i64::from(limit)],
        from_row,
    )
}

pub(crate) fn delete(conn: &Conn<'_>, tenant: &str, shortcut: &str) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "DELETE FROM canned_responses WHERE tenant_id = ?1 AND shortcut = ?2",
        params![tenant, shortcut],
    )? == 1)
}

crate::repo! {
    /// Canned responses.
    pub trait CannedRepo {
        /// Adds or replaces the canned response `shortcut`.
        fn put(tenant: &str, shortcut: &str, title: &str, body: &str) -> Result<Canned, StoreError>;
        /// One canned response.
        fn get(tenant: &str, shortcut: &str) -> Result<Option<Canned>, StoreError>;
        /// Canned responses matching `q` (see [`search`]).
        fn search(tenant: &str, q: &str, limit: u32) -> Result<Vec<Canned>, StoreError>;
        /// Deletes one; false when there was none.
        fn delete(tenant: &str, shortcut: &str) -> Result<bool, StoreError>;
    }
}
