//! Sync accuracy audits: a random sample of synced contacts to read back from the
//! CRM, and each audit's result.

use super::links::Link;
use crate::StoreError;
use crate::params;
use crate::sql::Conn;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// How one field compared in an audit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldScore {
    /// Records whose field agreed.
    pub matched: u32,
    /// Records compared.
    pub compared: u32,
}

/// One audit of a tenant's sync.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Audit {
    /// When it ran, Unix ms.
    pub at: i64,
    /// Synced contacts sampled.
    pub sampled: u32,
    /// Records compared (the rest changed in the CRM after the host's last write,
    /// waiting for the next pull, or are gone from the CRM).
    pub compared: u32,
    /// Per field.
    pub fields: BTreeMap<String, FieldScore>,
    /// Matched fields over compared fields; none when nothing was compared.
    pub accuracy: Option<f64>,
    /// The first differences, e.g. `{"contact": 12, "crm_id": "…", "field": "name",
    /// "host": "Mario", "crm": "Marco"}`.
    pub mismatches: Vec<Value>,
}

/// Up to `n` synced contacts of `tenant` at random, with their links.
///
/// # Errors
/// On database failure.
pub(crate) fn sample_contacts(
    conn: &Conn<'_>,
    tenant: &str,
    n: u32,
) -> Result<Vec<(i64, Link)>, StoreError> {
    conn.query(
        "SELECT local_id, crm_id, crm_updated_at, synced_at, record_hash FROM crm_links
         WHERE tenant_id = ?1 AND object = 'contact' ORDER BY random() LIMIT ?2",
        params![tenant, i64::from(n)],
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

/// Stores an audit.
///
/// # Errors
/// On database failure.
pub(crate) fn record_audit(conn: &Conn<'_>, tenant: &str, a: &Audit) -> Result<(), StoreError> {
    let fields = serde_json::to_string(&a.fields).unwrap_or_else(|_| "{}".into());
    let mismatches = serde_json::to_string(&a.mismatches).unwrap_or_else(|_| "[]".into());
    conn.execute(
        "INSERT INTO crm_audits (tenant_id, at, sampled, compared, fields, accuracy, mismatches)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            tenant,
            a.at,
            i64::from(a.sampled),
            i64::from(a.compared),
            fields,
            a.accuracy,
            mismatches
        ],
    )?;
    Ok(())
}

/// A tenant's newest audit, if any.
///
/// # Errors
/// On database failure.
pub(crate) fn last_audit(conn: &Conn<'_>, tenant: &str) -> Result<Option<Audit>, StoreError> {
    conn.query_opt(
        "SELECT at, sampled, compared, fields, accuracy, mismatches FROM crm_audits
         WHERE tenant_id = ?1 ORDER BY at DESC, id DESC LIMIT 1",
        params![tenant],
        |r| {
            let fields: String = r.get(3)?;
            let mismatches: String = r.get(5)?;
            Ok(Audit {
                at: r.get(0)?,
                sampled: r.get(1)?,
                compared: r.get(2)?,
                fields: serde_json::from_str(&fields).unwrap_or_default(),
                accuracy: r.get(4)?,
                mismatches: serde_json::from_str(&mismatches).unwrap_or_default(),
            })
        },
    )
}
