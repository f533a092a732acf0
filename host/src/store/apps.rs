//! Meta apps: the app secret that signs webhooks and the verify token of the
//! subscription handshake.

use super::{StoreError, conflict_on_unique, now_ms};
use crate::config::Secret;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

/// A Meta app as stored; the secret never leaves through `Serialize`.
#[derive(Debug, Clone, Serialize)]
pub struct MetaApp {
    /// The operator's id for the app (often Meta's app id).
    pub id: String,
    /// Signs webhook bodies (X-Hub-Signature-256).
    #[serde(skip)]
    pub app_secret: Secret,
    /// Answers Meta's subscription handshake.
    #[serde(skip)]
    pub verify_token: Secret,
    /// When it was added, Unix ms.
    pub created_at: i64,
}

/// Adds an app.
///
/// # Errors
/// [`StoreError::Conflict`] when the id exists.
pub fn insert(conn: &Connection, id: &str, secret: &str, verify: &str) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO meta_apps (id, app_secret, verify_token, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![id, secret, verify, now_ms()],
    )
    .map_err(|e| conflict_on_unique(e, "app", id))?;
    Ok(())
}

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<MetaApp> {
    Ok(MetaApp {
        id: r.get(0)?,
        app_secret: Secret::new(r.get::<_, String>(1)?),
        verify_token: Secret::new(r.get::<_, String>(2)?),
        created_at: r.get(3)?,
    })
}

/// Every app, by id.
///
/// # Errors
/// On database failure.
pub fn list(conn: &Connection) -> Result<Vec<MetaApp>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, app_secret, verify_token, created_at FROM meta_apps ORDER BY id",
    )?;
    let rows = stmt.query_map([], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One app.
///
/// # Errors
/// On database failure.
pub fn get(conn: &Connection, id: &str) -> Result<Option<MetaApp>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT id, app_secret, verify_token, created_at FROM meta_apps WHERE id = ?1",
            [id],
            from_row,
        )
        .optional()?)
}
