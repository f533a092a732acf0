//! The unread-message rule's rows: business messages still unread after the
//! tenant's `unread_hours`, and the flags that make each fire once.

use crate::StoreError;
use crate::params;
use crate::sql::Conn;

/// A business message the unread rule fires for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unread {
    /// The message.
    pub message_id: i64,
    /// Its tenant.
    pub tenant: String,
    /// Its contact.
    pub contact_id: i64,
    /// The priority the tenant sets for it (`unread_priority`).
    pub priority: String,
}

/// Up to 1,000 business messages not read `unread_hours` after they were sent (and
/// sent within the last week), of tenants that sync, not flagged before.
///
/// # Errors
/// On database failure.
pub(crate) fn unread_candidates(tx: &Conn<'_>, now: i64) -> Result<Vec<Unread>, StoreError> {
    tx.query(
        "SELECT m.id, m.tenant_id, m.contact_id, coalesce(s.unread_priority, 'low')
             FROM messages m LEFT JOIN crm_settings s ON s.tenant_id = m.tenant_id
             WHERE m.direction = 'outbound' AND coalesce(s.unread_hours, 24) > 0
               AND coalesce(s.mode, 'realtime') != 'off'
               AND m.status IN ('accepted', 'sent', 'delivered')
               AND m.timestamp < ?1 - coalesce(s.unread_hours, 24) * 3600000
               AND m.timestamp > ?1 - 7 * 86400000
               AND EXISTS (SELECT 1 FROM plugin_slots b WHERE b.tenant_id = m.tenant_id
                           AND b.slot = 'connector')
               AND NOT EXISTS (SELECT 1 FROM crm_unread_flags f WHERE f.message_id = m.id)
             LIMIT 1000",
        params![now],
        |r| {
            Ok(Unread {
                message_id: r.get(0)?,
                tenant: r.get(1)?,
                contact_id: r.get(2)?,
                priority: r.get(3)?,
            })
        },
    )
}

/// Records that the rule fired for `message_id`, so it never fires again.
///
/// # Errors
/// On database failure.
pub(crate) fn flag_unread(tx: &Conn<'_>, message_id: i64, now: i64) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO crm_unread_flags (message_id, flagged_at) VALUES (?1, ?2)",
        params![message_id, now],
    )?;
    Ok(())
}
