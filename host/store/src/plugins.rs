//! Plugin components (content-addressed) and the per-tenant, per-slot bindings
//! that point at them. Every binding ever installed is kept, numbered per tenant
//! and slot; `plugin_slots` says which version is active and whether it is
//! quarantined. Install makes the new version active; rollback moves back one.

use super::{StoreError, now_ms};
use crate::params;
use crate::sql::{Conn, Row};
use serde::Serialize;

/// A stored component.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ComponentRow {
    /// Lowercase hex SHA-256 of the component bytes: its identity.
    pub sha256: String,
    /// A human name for it (from the installer, usually the file stem).
    pub name: String,
    /// The WIT world it implements, e.g. `scrm:plugin/classifier@0.1.0`.
    pub world: String,
    /// Size in bytes.
    pub size: i64,
    /// When it was first stored, Unix ms.
    pub created_at: i64,
}

/// Records a component; a second insert of the same bytes is a no-op.
///
/// # Errors
/// On database failure.
pub(crate) fn insert_component(conn: &Conn<'_>, c: &ComponentRow) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO components (sha256, name, world, size, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (sha256) DO NOTHING",
        params![c.sha256, c.name, c.world, c.size, c.created_at],
    )?;
    Ok(())
}

/// Keeps a component's bytes in the database, so every host can load it; a second
/// call with the same hash is a no-op.
///
/// # Errors
/// On database failure (the component row must exist).
pub(crate) fn put_component_bytes(
    conn: &Conn<'_>,
    sha256: &str,
    bytes: &[u8],
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO component_blobs (sha256, bytes) VALUES (?1, ?2) ON CONFLICT (sha256) DO NOTHING",
        params![sha256, bytes],
    )?;
    Ok(())
}

/// A component's bytes, when the database has them.
///
/// # Errors
/// On database failure.
pub(crate) fn component_bytes(
    conn: &Conn<'_>,
    sha256: &str,
) -> Result<Option<Vec<u8>>, StoreError> {
    conn.query_opt(
        "SELECT bytes FROM component_blobs WHERE sha256 = ?1",
        params![sha256],
        |r| r.get(0),
    )
}

/// One component.
///
/// # Errors
/// On database failure.
pub(crate) fn component(conn: &Conn<'_>, sha256: &str) -> Result<Option<ComponentRow>, StoreError> {
    conn.query_opt(
        "SELECT sha256, name, world, size, created_at FROM components WHERE sha256 = ?1",
        params![sha256],
        |r| {
            Ok(ComponentRow {
                sha256: r.get(0)?,
                name: r.get(1)?,
                world: r.get(2)?,
                size: r.get(3)?,
                created_at: r.get(4)?,
            })
        },
    )
}

/// A binding of a component to a tenant's slot.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BindingRow {
    /// The tenant.
    pub tenant_id: String,
    /// The slot, e.g. `classifier`.
    pub slot: String,
    /// Per tenant and slot, 1, 2, 3, … in install order.
    pub version: i64,
    /// The component.
    pub sha256: String,
    /// The component's name.
    pub name: String,
    /// The configuration installed with it.
    #[serde(skip)]
    pub config: Vec<u8>,
    /// Per-binding limit overrides, JSON object.
    pub limits: serde_json::Value,
    /// Outbound HTTP policy, JSON object.
    pub http: serde_json::Value,
    /// When it was installed, Unix ms.
    pub created_at: i64,
    /// True for the slot's active version.
    pub active: bool,
    /// When the slot was quarantined, if it is (active version only).
    pub quarantined_at: Option<i64>,
    /// Why it was quarantined.
    pub quarantine_reason: Option<String>,
    /// When the slot was disabled (flows only), if it is (active version only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_at: Option<i64>,
}

/// Adds a new binding version for `(tenant, slot)`, makes it active (clearing any
/// quarantine) and returns its number.
///
/// # Errors
/// On database failure.
pub(crate) fn insert_binding(
    conn: &Conn<'_>,
    tenant: &str,
    slot: &str,
    sha256: &str,
    config: &[u8],
    limits: &serde_json::Value,
    http: &serde_json::Value,
) -> Result<i64, StoreError> {
    conn.tx(|tx| {
    // Hosts installing into the same slot at once number their versions in turn.
    tx.lock(&format!("plugin-slot:{tenant}:{slot}"))?;
    let version: i64 = tx.query_one(
        "SELECT COALESCE(MAX(version), 0) + 1 FROM plugin_bindings WHERE tenant_id = ?1 AND slot = ?2",
        params![tenant, slot],
        |r| r.get(0),)?;
    let now = now_ms();
    tx.execute(
        "INSERT INTO plugin_bindings (tenant_id, slot, version, sha256, config, limits, http, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            tenant,
            slot,
            version,
            sha256,
            config,
            limits.to_string(),
            http.to_string(),
            now
        ],)?;
    set_active(tx, tenant, slot, version)?;
    Ok(version)
    })
}

/// Tells every host that the slot changed (see [`crate::hosts::PLUGINS_CHANNEL`]).
fn announce(conn: &Conn<'_>, tenant: &str, slot: &str) -> Result<(), StoreError> {
    crate::hosts::notify(
        conn,
        crate::hosts::PLUGINS_CHANNEL,
        &format!("{tenant}/{slot}"),
    )
}

fn set_active(conn: &Conn<'_>, tenant: &str, slot: &str, version: i64) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO plugin_slots (tenant_id, slot, active_version, updated_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (tenant_id, slot) DO UPDATE SET active_version = excluded.active_version,
             quarantined_at = NULL, quarantine_reason = NULL, disabled_at = NULL,
             updated_at = excluded.updated_at",
        params![tenant, slot, version, now_ms()],)?;
    announce(conn, tenant, slot)
}

/// Makes the version before the active one active again (or `to`, when given).
/// Returns the now-active binding.
///
/// # Errors
/// [`StoreError::NotFound`] when there is nothing to roll back to.
pub(crate) fn rollback(
    conn: &Conn<'_>,
    tenant: &str,
    slot: &str,
    to: Option<i64>,
) -> Result<BindingRow, StoreError> {
    let target = conn.tx(|tx| {
    tx.lock(&format!("plugin-slot:{tenant}:{slot}"))?;
    let active: Option<i64> = tx
        .query_opt(
            "SELECT active_version FROM plugin_slots WHERE tenant_id = ?1 AND slot = ?2",
            params![tenant, slot],
            |r| r.get(0),)?;
    let Some(active) = active else {
        return Err(StoreError::NotFound {
            what: "installed plugin for slot",
            id: format!("{tenant}/{slot}"),
        });
    };
    let target: Option<i64> = match to {
        Some(v) => tx
            .query_opt(
                "SELECT version FROM plugin_bindings WHERE tenant_id = ?1 AND slot = ?2 AND version = ?3",
                params![tenant, slot, v],
                |r| r.get(0),)?,
        None => tx
            .query_opt(
                "SELECT MAX(version) FROM plugin_bindings WHERE tenant_id = ?1 AND slot = ?2 AND version < ?3",
                params![tenant, slot, active],
                |r| r.get(0),)?
            .flatten(),
    };
    let Some(target) = target else {
        return Err(StoreError::NotFound {
            what: "earlier plugin version",
            id: format!("{tenant}/{slot} before version {active}"),
        });
    };
    set_active(tx, tenant, slot, target)?;
    Ok(target)
    })?;
    binding(conn, tenant, slot, target)?.ok_or(StoreError::NotFound {
        what: "plugin version",
        id: format!("{tenant}/{slot}@{target}"),
    })
}

/// Quarantines the slot's active version (if it is still `version`).
///
/// # Errors
/// On database failure.
pub(crate) fn quarantine(
    conn: &Conn<'_>,
    tenant: &str,
    slot: &str,
    version: i64,
    reason: &str,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE plugin_slots SET quarantined_at = ?4, quarantine_reason = ?5, updated_at = ?4
         WHERE tenant_id = ?1 AND slot = ?2 AND active_version = ?3",
        params![tenant, slot, version, now_ms(), reason],
    )?;
    announce(conn, tenant, slot)
}

/// Lifts a slot's quarantine; returns the active binding.
///
/// # Errors
/// [`StoreError::NotFound`] when the slot has no plugin.
pub(crate) fn enable(conn: &Conn<'_>, tenant: &str, slot: &str) -> Result<BindingRow, StoreError> {
    let n = conn.execute(
        "UPDATE plugin_slots SET quarantined_at = NULL, quarantine_reason = NULL, updated_at = ?3
         WHERE tenant_id = ?1 AND slot = ?2",
        params![tenant, slot, now_ms()],
    )?;
    let not_found = || StoreError::NotFound {
        what: "installed plugin for slot",
        id: format!("{tenant}/{slot}"),
    };
    if n == 0 {
        return Err(not_found());
    }
    announce(conn, tenant, slot)?;
    active_binding(conn, tenant, slot)?.ok_or_else(not_found)
}

const BINDING_SELECT: &str = "SELECT b.tenant_id, b.slot, b.version, b.sha256, c.name, b.config, b.limits, b.created_at,
            b.http,
            s.active_version = b.version, CASE WHEN s.active_version = b.version THEN s.quarantined_at END,
            CASE WHEN s.active_version = b.version THEN s.quarantine_reason END,
            CASE WHEN s.active_version = b.version THEN s.disabled_at END
     FROM plugin_bindings b
     JOIN components c ON c.sha256 = b.sha256
     JOIN plugin_slots s ON s.tenant_id = b.tenant_id AND s.slot = b.slot";

fn binding_from_row(r: &Row<'_>) -> Result<BindingRow, StoreError> {
    let limits: String = r.get(6)?;
    Ok(BindingRow {
        tenant_id: r.get(0)?,
        slot: r.get(1)?,
        version: r.get(2)?,
        sha256: r.get(3)?,
        name: r.get(4)?,
        config: r.get(5)?,
        limits: serde_json::from_str(&limits).unwrap_or(serde_json::Value::Null),
        created_at: r.get(7)?,
        http: serde_json::from_str(&r.get::<String>(8)?).unwrap_or(serde_json::Value::Null),
        active: r.get(9)?,
        quarantined_at: r.get(10)?,
        quarantine_reason: r.get(11)?,
        disabled_at: r.get(12)?,
    })
}

fn binding(
    conn: &Conn<'_>,
    tenant: &str,
    slot: &str,
    version: i64,
) -> Result<Option<BindingRow>, StoreError> {
    conn.query_opt(
        &format!("{BINDING_SELECT} WHERE b.tenant_id = ?1 AND b.slot = ?2 AND b.version = ?3"),
        params![tenant, slot, version],
        binding_from_row,
    )
}

/// The active binding of one slot.
///
/// # Errors
/// On database failure.
pub(crate) fn active_binding(
    conn: &Conn<'_>,
    tenant: &str,
    slot: &str,
) -> Result<Option<BindingRow>, StoreError> {
    conn
        .query_opt(
            &format!(
                "{BINDING_SELECT} WHERE b.tenant_id = ?1 AND b.slot = ?2 AND b.version = s.active_version"
            ),
            params![tenant, slot],
            binding_from_row,)
}

/// The active binding of every tenant and slot.
///
/// # Errors
/// On database failure.
pub(crate) fn active_bindings(conn: &Conn<'_>) -> Result<Vec<BindingRow>, StoreError> {
    let rows = conn.query(
        &format!(
            "{BINDING_SELECT} WHERE b.version = s.active_version ORDER BY b.tenant_id, b.slot"
        ),
        params![],
        binding_from_row,
    )?;
    Ok(rows)
}

/// Every binding version of one tenant, by slot, newest first.
///
/// # Errors
/// On database failure.
pub(crate) fn bindings_of(conn: &Conn<'_>, tenant: &str) -> Result<Vec<BindingRow>, StoreError> {
    let rows = conn.query(
        &format!("{BINDING_SELECT} WHERE b.tenant_id = ?1 ORDER BY b.slot, b.version DESC"),
        params![tenant],
        binding_from_row,
    )?;
    Ok(rows)
}

/// The tenants with a binding in `slot`, sorted.
///
/// # Errors
/// On database failure.
pub(crate) fn tenants_with_slot(c: &Conn<'_>, slot: &str) -> Result<Vec<String>, StoreError> {
    c.query(
        "SELECT tenant_id FROM plugin_slots WHERE slot = ?1 ORDER BY tenant_id",
        params![slot],
        |r| r.get(0),
    )
}

crate::repo! {
    /// Plugin bindings per tenant and slot, with versions and quarantine.
    pub trait PluginRepo {
        /// Records a component; a second insert of the same bytes is a no-op.
        fn insert_component(c: &ComponentRow) -> Result<(), StoreError>;
        /// One component.
        fn component(sha256: &str) -> Result<Option<ComponentRow>, StoreError>;
        /// Keeps a component's bytes in the database, so every host can load it.
        fn put_component_bytes(sha256: &str, bytes: &[u8]) -> Result<(), StoreError>;
        /// A component's bytes, when the database has them.
        fn component_bytes(sha256: &str) -> Result<Option<Vec<u8>>, StoreError>;
        /// Adds a new binding version for `(tenant, slot)`, makes it active (clearing any
        /// quarantine) and returns its number.
        fn insert_binding(tenant: &str, slot: &str, sha256: &str, config: &[u8], limits: &serde_json::Value, http: &serde_json::Value) -> Result<i64, StoreError>;
        /// Makes the version before the active one active again (or `to`, when given).
        /// Returns the now-active binding.
        fn rollback(tenant: &str, slot: &str, to: Option<i64>) -> Result<BindingRow, StoreError>;
        /// Quarantines the slot's active version (if it is still `version`).
        fn quarantine(tenant: &str, slot: &str, version: i64, reason: &str) -> Result<(), StoreError>;
        /// Lifts a slot's quarantine; returns the active binding.
        fn enable(tenant: &str, slot: &str) -> Result<BindingRow, StoreError>;
        /// The active binding of one slot.
        fn active_binding(tenant: &str, slot: &str) -> Result<Option<BindingRow>, StoreError>;
        /// The active binding of every tenant and slot.
        fn active_bindings() -> Result<Vec<BindingRow>, StoreError>;
        /// Every binding version of one tenant, by slot, newest first.
        fn bindings_of(tenant: &str) -> Result<Vec<BindingRow>, StoreError>;
        /// The tenants with a binding in `slot`, sorted.
        fn tenants_with_slot(slot: &str) -> Result<Vec<String>, StoreError>;
    }
}
