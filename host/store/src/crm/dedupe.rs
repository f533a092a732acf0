//! Duplicate contacts: who bought the same SKUs, whether a pair was proposed, and
//! merging one contact into another.

use crate::params;
use crate::sql::Conn;
use crate::{StoreError, now_ms};

use super::enqueue_contact;

/// Contacts (other than `contact`, not merged away) who bought one of `contact`'s
/// SKUs within `window_ms` of it: `(id, name, shared sku)`, by id.
///
/// # Errors
/// On database failure.
pub(crate) fn same_sku_contacts(
    tx: &Conn<'_>,
    tenant: &str,
    contact: i64,
    window_ms: i64,
) -> Result<Vec<(i64, Option<String>, String)>, StoreError> {
    tx.query(
        "SELECT DISTINCT c.id, c.name, p2.sku FROM contact_purchases p1
             JOIN contact_purchases p2 ON p2.tenant_id = p1.tenant_id AND p2.sku = p1.sku
                  AND p2.contact_id != p1.contact_id AND abs(p2.at - p1.at) <= ?3
             JOIN contacts c ON c.id = p2.contact_id AND c.merged_into IS NULL
             WHERE p1.tenant_id = ?1 AND p1.contact_id = ?2
             ORDER BY c.id",
        params![tenant, contact, window_ms],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
}

/// True when the pair was proposed (or decided) as duplicates before.
///
/// # Errors
/// On database failure.
pub(crate) fn duplicate_proposed(
    tx: &Conn<'_>,
    tenant: &str,
    a: i64,
    b: i64,
) -> Result<bool, StoreError> {
    tx.query_one(
        tx.pick(
            "SELECT EXISTS (SELECT 1 FROM crm_reviews WHERE tenant_id = ?1 AND kind = 'duplicate'
                 AND ((contact_id = ?2 AND json_extract(detail, '$.other_contact_id') = ?3)
                   OR (contact_id = ?3 AND json_extract(detail, '$.other_contact_id') = ?2)))",
            "SELECT EXISTS (SELECT 1 FROM crm_reviews WHERE tenant_id = ?1 AND kind = 'duplicate'
                 AND ((contact_id = ?2 AND (detail::jsonb ->> 'other_contact_id')::bigint = ?3)
                   OR (contact_id = ?3 AND (detail::jsonb ->> 'other_contact_id')::bigint = ?2)))",
        ),
        params![tenant, a, b],
        |r| r.get(0),
    )
}

/// Merges contact `absorb` into `keep`: both keep every conversation and message (a
/// conversation is one customer number with one business number, so they stay
/// where they are), `absorb` (and whatever was merged into it) points at `keep`,
/// later CRM writes for `absorb`'s messages go to `keep`'s CRM record, and `keep` is
/// queued to be written to the CRM again. False when the two are the same contact.
///
/// # Errors
/// On database failure.
pub(crate) fn merge_contacts(
    tx: &Conn<'_>,
    tenant: &str,
    keep: i64,
    absorb: i64,
) -> Result<bool, StoreError> {
    if keep == absorb {
        return Ok(false);
    }
    tx.execute(
        "UPDATE contacts SET merged_into = ?2, updated_at = ?3 WHERE id = ?1 AND tenant_id = ?4",
        params![absorb, keep, now_ms(), tenant],
    )?;
    // Contacts merged into the absorbed one follow it.
    tx.execute(
        "UPDATE contacts SET merged_into = ?2 WHERE merged_into = ?1 AND tenant_id = ?3",
        params![absorb, keep, tenant],
    )?;
    tx.execute(
        "UPDATE contacts SET updated_at = ?2 WHERE id = ?1",
        params![keep, now_ms()],
    )?;
    enqueue_contact(tx, tenant, keep)?;
    Ok(true)
}
