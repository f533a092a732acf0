//! Links between host and CRM records, the field-level clocks (last writer wins)
//! and the contact fields sync may set.

use crate::params;
use crate::sql::Conn;
use crate::{StoreError, now_ms};
use serde_json::Value;

/// A host record's CRM counterpart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The CRM's id.
    pub crm_id: String,
    /// The CRM's time of the host's last write, Unix ms, when the CRM said.
    pub crm_updated_at: Option<i64>,
    /// When the host last wrote or linked it, Unix ms (host clock; set by [`set_link`]).
    pub synced_at: i64,
    /// A hash of the record the host last wrote (none: not known, e.g. linked by a
    /// pull).
    pub record_hash: Option<String>,
}

/// The CRM record `object` (`contact`, `note`, `deal`) of host record `local_id`.
///
/// # Errors
/// On database failure.
pub(crate) fn link(
    conn: &Conn<'_>,
    tenant: &str,
    object: &str,
    local_id: i64,
) -> Result<Option<Link>, StoreError> {
    conn.query_opt(
        "SELECT crm_id, crm_updated_at, synced_at, record_hash FROM crm_links
             WHERE tenant_id = ?1 AND object = ?2 AND local_id = ?3",
        params![tenant, object, local_id],
        |r| {
            Ok(Link {
                crm_id: r.get(0)?,
                crm_updated_at: r.get(1)?,
                synced_at: r.get(2)?,
                record_hash: r.get(3)?,
            })
        },
    )
}

/// Records (or updates) a link.
///
/// # Errors
/// On database failure.
pub(crate) fn set_link(
    conn: &Conn<'_>,
    tenant: &str,
    object: &str,
    local_id: i64,
    link: &Link,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO crm_links (tenant_id, object, local_id, crm_id, crm_updated_at, synced_at, record_hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (tenant_id, object, local_id)
         DO UPDATE SET crm_id = ?4, crm_updated_at = ?5, synced_at = ?6, record_hash = ?7",
        params![
            tenant,
            object,
            local_id,
            link.crm_id,
            link.crm_updated_at,
            now_ms(),
            link.record_hash
        ],
    )?;
    Ok(())
}

/// Records `hash` as the record last written for a link, without writing
/// anything else (the baseline of a link made before hashes were kept, or by a pull).
///
/// # Errors
/// On database failure.
pub(crate) fn set_record_hash(
    conn: &Conn<'_>,
    tenant: &str,
    object: &str,
    local_id: i64,
    hash: &str,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE crm_links SET record_hash = ?4 WHERE tenant_id = ?1 AND object = ?2 AND local_id = ?3",
        params![tenant, object, local_id, hash],
    )?;
    Ok(())
}

/// The host record linked to CRM record `crm_id` of kind `object`.
///
/// # Errors
/// On database failure.
pub(crate) fn local_for(
    conn: &Conn<'_>,
    tenant: &str,
    object: &str,
    crm_id: &str,
) -> Result<Option<(i64, Link)>, StoreError> {
    conn.query_opt(
        "SELECT local_id, crm_id, crm_updated_at, synced_at, record_hash FROM crm_links
             WHERE tenant_id = ?1 AND object = ?2 AND crm_id = ?3",
        params![tenant, object, crm_id],
        |r| {
            Ok((
                r.get(0)?,
                Link {
                    crm_id: r.get(1)?,
                    crm_updated_at: r.get(2)?,
                    synced_at: r.get(3)?,
                    record_hash: r.get(4)?,
                },
            ))
        },
    )
}

/// The agreed value of one synced contact field.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldClock {
    /// The value.
    pub value: Value,
    /// When it was set, Unix ms.
    pub changed_at: i64,
    /// `whatsapp`, `crm` or `review`.
    pub source: String,
}

/// Every synced field of a contact.
///
/// # Errors
/// On database failure.
pub(crate) fn fields(
    conn: &Conn<'_>,
    tenant: &str,
    contact_id: i64,
) -> Result<Vec<(String, FieldClock)>, StoreError> {
    let rows = conn.query(
        "SELECT field, value, changed_at, source FROM crm_fields
         WHERE tenant_id = ?1 AND contact_id = ?2 ORDER BY field",
        params![tenant, contact_id],
        |r| {
            Ok((
                r.get::<String>(0)?,
                r.get::<String>(1)?,
                r.get(2)?,
                r.get(3)?,
            ))
        },
    )?;
    rows.into_iter()
        .map(|(f, v, changed_at, source)| {
            Ok((
                f,
                FieldClock {
                    value: serde_json::from_str(&v)?,
                    changed_at,
                    source,
                },
            ))
        })
        .collect()
}

/// Sets one field's agreed value.
///
/// # Errors
/// On database failure.
pub(crate) fn set_field(
    conn: &Conn<'_>,
    tenant: &str,
    contact_id: i64,
    field: &str,
    clock: &FieldClock,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO crm_fields (tenant_id, contact_id, field, value, changed_at, source)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (tenant_id, contact_id, field)
         DO UPDATE SET value = ?4, changed_at = ?5, source = ?6",
        params![
            tenant,
            contact_id,
            field,
            clock.value.to_string(),
            clock.changed_at,
            clock.source
        ],
    )?;
    Ok(())
}

/// Sets a contact's name from the CRM (or a review), bumping its change time.
///
/// # Errors
/// On database failure.
pub(crate) fn set_contact_name(
    conn: &Conn<'_>,
    contact_id: i64,
    name: Option<&str>,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE contacts SET name = ?2, updated_at = ?3 WHERE id = ?1",
        params![contact_id, name, now_ms()],
    )?;
    Ok(())
}

/// Sets a field from the CRM on the host: the clock, and the contact's own column
/// for the name.
///
/// # Errors
/// On database failure.
pub(crate) fn set_host_field(
    tx: &Conn<'_>,
    tenant: &str,
    contact_id: i64,
    field: &str,
    clock: &FieldClock,
) -> Result<(), StoreError> {
    set_field(tx, tenant, contact_id, field, clock)?;
    if field == "name" {
        set_contact_name(tx, contact_id, clock.value.as_str())?;
        // The CRM's write is the newest: stamp the contact with its time so the next
        // host-side reconcile does not mistake it for a WhatsApp change.
        tx.execute(
            "UPDATE contacts SET updated_at = greatest(updated_at, ?2) WHERE id = ?1",
            params![contact_id, clock.changed_at],
        )?;
    }
    Ok(())
}
