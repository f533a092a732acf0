//! The plugins' key-value store: one namespace per tenant and plugin name (so
//! upgrades of a plugin keep its data, and nothing crosses tenants or plugins).

use super::{StoreError, now_ms};
use crate::params;
use crate::sql::Conn;

/// The value under `key`.
///
/// # Errors
/// On database failure.
pub(crate) fn get(
    conn: &Conn<'_>,
    tenant: &str,
    plugin: &str,
    key: &str,
) -> Result<Option<Vec<u8>>, StoreError> {
    conn.query_opt(
        "SELECT value FROM plugin_kv WHERE tenant_id = ?1 AND plugin = ?2 AND key = ?3",
        params![tenant, plugin, key],
        |r| r.get(0),
    )
}

/// How many keys and bytes the namespace holds, not counting `except_key`.
///
/// # Errors
/// On database failure.
pub(crate) fn usage(
    conn: &Conn<'_>,
    tenant: &str,
    plugin: &str,
    except_key: &str,
) -> Result<(u64, u64), StoreError> {
    conn.query_one(
        "SELECT COUNT(*), COALESCE(SUM(length(key) + length(value)), 0) FROM plugin_kv
         WHERE tenant_id = ?1 AND plugin = ?2 AND key <> ?3",
        params![tenant, plugin, except_key],
        |r| Ok((r.get::<i64>(0)? as u64, r.get::<i64>(1)? as u64)),
    )
}

/// Stores `value` under `key`.
///
/// # Errors
/// On database failure.
pub(crate) fn set(
    conn: &Conn<'_>,
    tenant: &str,
    plugin: &str,
    key: &str,
    value: &[u8],
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO plugin_kv (tenant_id, plugin, key, value, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (tenant_id, plugin, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        params![tenant, plugin, key, value, now_ms()],)?;
    Ok(())
}

/// Removes `key`.
///
/// # Errors
/// On database failure.
pub(crate) fn delete(
    conn: &Conn<'_>,
    tenant: &str,
    plugin: &str,
    key: &str,
) -> Result<(), StoreError> {
    conn.execute(
        "DELETE FROM plugin_kv WHERE tenant_id = ?1 AND plugin = ?2 AND key = ?3",
        params![tenant, plugin, key],
    )?;
    Ok(())
}

/// Keys starting with `prefix`, sorted, at most `limit`.
///
/// # Errors
/// On database failure.
pub(crate) fn keys(
    conn: &Conn<'_>,
    tenant: &str,
    plugin: &str,
    prefix: &str,
    limit: u32,
) -> Result<Vec<String>, StoreError> {
    let rows = conn.query("SELECT key FROM plugin_kv WHERE tenant_id = ?1 AND plugin = ?2 AND substr(key, 1, length(?3)) = ?3
         ORDER BY key LIMIT ?4", params![tenant, plugin, prefix, i64::from(limit)], |r| r.get(0))?;
    Ok(rows)
}

crate::repo! {
    /// Plugins' key-value namespaces.
    pub trait KvRepo {
        /// The value under `key`.
        fn get(tenant: &str, plugin: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
        /// How many keys and bytes the namespace holds, not counting `except_key`.
        fn usage(tenant: &str, plugin: &str, except_key: &str) -> Result<(u64, u64), StoreError>;
        /// Stores `value` under `key`.
        fn set(tenant: &str, plugin: &str, key: &str, value: &[u8]) -> Result<(), StoreError>;
        /// Removes `key`.
        fn delete(tenant: &str, plugin: &str, key: &str) -> Result<(), StoreError>;
        /// Keys starting with `prefix`, sorted, at most `limit`.
        fn keys(tenant: &str, plugin: &str, prefix: &str, limit: u32) -> Result<Vec<String>, StoreError>;
    }
}
