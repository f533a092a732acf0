//! Host-wide key/value settings.

use super::StoreError;
use crate::params;
use crate::sql::Conn;

/// Reads a setting.
///
/// # Errors
/// On database failure.
pub(crate) fn get(conn: &Conn<'_>, key: &str) -> Result<Option<String>, StoreError> {
    conn.query_opt(
        "SELECT value FROM settings WHERE key = ?1",
        params![key],
        |r| r.get(0),
    )
}

/// Writes a setting.
///
/// # Errors
/// On database failure.
pub(crate) fn set(conn: &Conn<'_>, key: &str, value: &str) -> Result<(), StoreError> {
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
