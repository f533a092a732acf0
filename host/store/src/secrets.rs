//! Tenant secrets: values plugins' HTTP requests need (CRM tokens), added by the
//! host, never shown to plugins nor served by the API.

use super::{StoreError, now_ms};
use crate::SecretString;
use rusqlite::{Connection, OptionalExtension, params};

/// The tenant secret holding the Cloud API access token the outbox and media
/// transfers send with.
pub const TOKEN_SECRET: &str = "whatsapp_access_token";

/// Sets (or replaces) a secret.
///
/// # Errors
/// On database failure.
pub(crate) fn set(
    conn: &Connection,
    tenant: &str,
    name: &str,
    value: &str,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO tenant_secrets (tenant_id, name, value, updated_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (tenant_id, name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        params![tenant, name, value, now_ms()],
    )?;
    Ok(())
}

/// Removes a secret; true when it existed.
///
/// # Errors
/// On database failure.
pub(crate) fn delete(conn: &Connection, tenant: &str, name: &str) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "DELETE FROM tenant_secrets WHERE tenant_id = ?1 AND name = ?2",
        params![tenant, name],
    )? == 1)
}

/// The names of a tenant's secrets with when they were set.
///
/// # Errors
/// On database failure.
pub(crate) fn names(conn: &Connection, tenant: &str) -> Result<Vec<(String, i64)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT name, updated_at FROM tenant_secrets WHERE tenant_id = ?1 ORDER BY name",
    )?;
    let rows = stmt.query_map([tenant], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One secret's value, for the host's own use (the Cloud API token).
///
/// # Errors
/// On database failure.
pub(crate) fn get(
    conn: &Connection,
    tenant: &str,
    name: &str,
) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT value FROM tenant_secrets WHERE tenant_id = ?1 AND name = ?2")?
        .query_row(params![tenant, name], |r| r.get(0))
        .optional()?)
}

/// Every secret of a tenant, for the HTTP capability.
///
/// # Errors
/// On database failure.
pub(crate) fn all(
    conn: &Connection,
    tenant: &str,
) -> Result<Vec<(String, SecretString)>, StoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT name, value FROM tenant_secrets WHERE tenant_id = ?1")?;
    let rows = stmt.query_map([tenant], |r| {
        Ok((
            r.get::<_, String>(0)?,
            SecretString::from(r.get::<_, String>(1)?),
        ))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

crate::repo! {
    /// Tenant secrets.
    pub trait SecretRepo {
        /// Sets (or replaces) a secret.
        fn set(tenant: &str, name: &str, value: &str) -> Result<(), StoreError>;
        /// Removes a secret; true when it existed.
        fn delete(tenant: &str, name: &str) -> Result<bool, StoreError>;
        /// The names of a tenant's secrets with when they were set.
        fn names(tenant: &str) -> Result<Vec<(String, i64)>, StoreError>;
        /// One secret's value, for the host's own use (the Cloud API token).
        fn get(tenant: &str, name: &str) -> Result<Option<String>, StoreError>;
        /// Every secret of a tenant, for the HTTP capability.
        fn all(tenant: &str) -> Result<Vec<(String, SecretString)>, StoreError>;
    }
}
