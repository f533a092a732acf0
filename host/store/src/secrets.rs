//! Tenant secrets: values plugins' HTTP requests need (CRM tokens), added by the
//! host, never shown to plugins nor served by the API.

use super::{StoreError, now_ms};
use crate::SecretString;
use crate::params;
use crate::sql::Conn;

/// The tenant secret holding the Cloud API access token the outbox and media
/// transfers send with.
pub const TOKEN_SECRET: &str = "whatsapp_access_token";

/// Sets (or replaces) a secret.
///
/// # Errors
/// On database failure.
pub(crate) fn set(
    conn: &Conn<'_>,
    tenant: &str,
    name: &str,
    value: &str,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO tenant_secrets (tenant_id, name, value, updated_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (tenant_id, name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        params![tenant, name, value, now_ms()],)?;
    Ok(())
}

/// Removes a secret; true when it existed.
///
/// # Errors
/// On database failure.
pub(crate) fn delete(conn: &Conn<'_>, tenant: &str, name: &str) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "DELETE FROM tenant_secrets WHERE tenant_id = ?1 AND name = ?2",
        params![tenant, name],
    )? == 1)
}

/// The names of a tenant's secrets with when they were set.
///
/// # Errors
/// On database failure.
pub(crate) fn names(conn: &Conn<'_>, tenant: &str) -> Result<Vec<(String, i64)>, StoreError> {
    let rows = conn.query(
        "SELECT name, updated_at FROM tenant_secrets WHERE tenant_id = ?1 ORDER BY name",
        params![tenant],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(rows)
}

/// One secret's value, for the host's own use (the Cloud API token).
///
/// # Errors
/// On database failure.
pub(crate) fn get(conn: &Conn<'_>, tenant: &str, name: &str) -> Result<Option<String>, StoreError> {
    conn.query_opt(
        "SELECT value FROM tenant_secrets WHERE tenant_id = ?1 AND name = ?2",
        params![tenant, name],
        |r| r.get(0),
    )
}

/// Every secret of a tenant, for the HTTP capability.
///
/// # Errors
/// On database failure.
pub(crate) fn all(
    conn: &Conn<'_>,
    tenant: &str,
) -> Result<Vec<(String, SecretString)>, StoreError> {
    let rows = conn.query(
        "SELECT name, value FROM tenant_secrets WHERE tenant_id = ?1",
        params![tenant],
        |r| Ok((r.get::<String>(0)?, SecretString::from(r.get::<String>(1)?))),
    )?;
    Ok(rows)
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
