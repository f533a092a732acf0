//! Plugin components (content-addressed) and the per-tenant, per-slot bindings
//! that point at them. Every binding ever installed is kept, numbered per tenant
//! and slot; the highest number is the active one.

use super::{StoreError, now_ms};
use rusqlite::{Connection, OptionalExtension, params};
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
pub fn insert_component(conn: &Connection, c: &ComponentRow) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO components (sha256, name, world, size, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (sha256) DO NOTHING",
        params![c.sha256, c.name, c.world, c.size, c.created_at],
    )?;
    Ok(())
}

/// One component.
///
/// # Errors
/// On database failure.
pub fn component(conn: &Connection, sha256: &str) -> Result<Option<ComponentRow>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT sha256, name, world, size, created_at FROM components WHERE sha256 = ?1",
            [sha256],
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
        .optional()?)
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
    /// When it was installed, Unix ms.
    pub created_at: i64,
}

/// Adds a new binding version for `(tenant, slot)` and returns its number.
///
/// # Errors
/// On database failure.
pub fn insert_binding(
    conn: &mut Connection,
    tenant: &str,
    slot: &str,
    sha256: &str,
    config: &[u8],
) -> Result<i64, StoreError> {
    let tx = conn.transaction()?;
    let version: i64 = tx.query_row(
        "SELECT COALESCE(MAX(version), 0) + 1 FROM plugin_bindings WHERE tenant_id = ?1 AND slot = ?2",
        params![tenant, slot],
        |r| r.get(0),
    )?;
    tx.execute(
        "INSERT INTO plugin_bindings (tenant_id, slot, version, sha256, config, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![tenant, slot, version, sha256, config, now_ms()],
    )?;
    tx.commit()?;
    Ok(version)
}

const BINDING_COLUMNS: &str =
    "b.tenant_id, b.slot, b.version, b.sha256, c.name, b.config, b.created_at
     FROM plugin_bindings b JOIN components c ON c.sha256 = b.sha256";

fn binding_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<BindingRow> {
    Ok(BindingRow {
        tenant_id: r.get(0)?,
        slot: r.get(1)?,
        version: r.get(2)?,
        sha256: r.get(3)?,
        name: r.get(4)?,
        config: r.get(5)?,
        created_at: r.get(6)?,
    })
}

/// The active binding of every tenant and slot (the highest version of each).
///
/// # Errors
/// On database failure.
pub fn active_bindings(conn: &Connection) -> Result<Vec<BindingRow>, StoreError> {
    let sql = format!(
        "SELECT {BINDING_COLUMNS}
         WHERE b.version = (SELECT MAX(version) FROM plugin_bindings x
                            WHERE x.tenant_id = b.tenant_id AND x.slot = b.slot)
         ORDER BY b.tenant_id, b.slot"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([], binding_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Every binding version of one tenant, newest first.
///
/// # Errors
/// On database failure.
pub fn bindings_of(conn: &Connection, tenant: &str) -> Result<Vec<BindingRow>, StoreError> {
    let sql =
        format!("SELECT {BINDING_COLUMNS} WHERE b.tenant_id = ?1 ORDER BY b.slot, b.version DESC");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([tenant], binding_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}
