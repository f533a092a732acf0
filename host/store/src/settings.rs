//! Host-wide key/value settings.

use super::StoreError;
use rusqlite::{Connection, OptionalExtension, params};

/// Reads a setting.
///
/// # Errors
/// On database failure.
pub(crate) fn get(conn: &Connection, key: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
            r.get(0)
        })
        .optional()?)
}

/// Writes a setting.
///
/// # Errors
/// On database failure.
pub(crate) fn set(conn: &Connection, key: &str, value: &str) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO settings (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

crate::repo! {
    /// Host-wide settings.
    pub trait SettingRepo {
        /// Reads a setting.
        fn get(key: &str) -> Result<Option<String>, StoreError>;
        /// Writes a setting.
        fn set(key: &str, value: &str) -> Result<(), StoreError>;
    }
}
