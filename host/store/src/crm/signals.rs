//! What the sync tells the mapper beyond the contact itself: the open deal or case
//! of each contact and key, the contact's activity, and whether the unread rule
//! holds its priority down.

use crate::StoreError;
use crate::params;
use crate::sql::Conn;

/// A contact's activity as the host counts it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Activity {
    /// Messages either way since the `since` asked for.
    pub recent: i64,
    /// The newest message either way, Unix ms.
    pub last_at: Option<i64>,
    /// The newest classified message's id, if any.
    pub latest_classified: Option<i64>,
    /// The tenant's unread priority while a business message the unread rule fired
    /// for is still unread.
    pub unread_priority: Option<String>,
}

pub(crate) fn open_deal(
    conn: &Conn<'_>,
    tenant: &str,
    contact_id: i64,
    kind: &str,
    key: &str,
) -> Result<Option<String>, StoreError> {
    conn.query_opt(
        "SELECT crm_id FROM crm_deals
         WHERE tenant_id = ?1 AND contact_id = ?2 AND kind = ?3 AND key = ?4",
        params![tenant, contact_id, kind, key],
        |r| r.get(0),
    )
}

pub(crate) fn set_open_deal(
    conn: &Conn<'_>,
    tenant: &str,
    contact_id: i64,
    kind: &str,
    key: &str,
    crm_id: &str,
    written: Option<&str>,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO crm_deals (tenant_id, contact_id, kind, key, crm_id, updated_at, written)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (tenant_id, contact_id, kind, key)
         DO UPDATE SET crm_id = ?5, updated_at = ?6, written = ?7",
        params![
            tenant,
            contact_id,
            kind,
            key,
            crm_id,
            crate::now_ms(),
            written
        ],
    )?;
    Ok(())
}

/// An open deal as the audit samples it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampledDeal {
    /// The contact.
    pub contact_id: i64,
    /// The CRM's id.
    pub crm_id: String,
    /// When the host last wrote it, Unix ms.
    pub written_at: i64,
    /// What it wrote (JSON object of `name`, `amount`, `stage`).
    pub written: String,
}

/// Up to `n` of a tenant's deals (kind `deal`) with what the host last wrote, at
/// random.
pub(crate) fn sample_deals(
    conn: &Conn<'_>,
    tenant: &str,
    n: u32,
) -> Result<Vec<SampledDeal>, StoreError> {
    conn.query(
        "SELECT contact_id, crm_id, updated_at, written FROM crm_deals
         WHERE tenant_id = ?1 AND kind = 'deal' AND written IS NOT NULL
         ORDER BY random() LIMIT ?2",
        params![tenant, i64::from(n)],
        |r| {
            Ok(SampledDeal {
                contact_id: r.get(0)?,
                crm_id: r.get(1)?,
                written_at: r.get(2)?,
                written: r.get(3)?,
            })
        },
    )
}

pub(crate) fn activity(
    conn: &Conn<'_>,
    tenant: &str,
    contact_id: i64,
    since: i64,
) -> Result<Activity, StoreError> {
    // Through the contact's conversations: messages are indexed by conversation.
    let (recent, last_at) = conn
        .query_opt(
            "SELECT coalesce(sum(CASE WHEN m.timestamp >= ?3 THEN 1 ELSE 0 END), 0),
                    max(m.timestamp)
             FROM conversations c JOIN messages m ON m.conversation_id = c.id
             WHERE c.tenant_id = ?1 AND c.contact_id = ?2",
            params![tenant, contact_id, since],
            |r| Ok((r.get::<i64>(0)?, r.get::<Option<i64>>(1)?)),
        )?
        .unwrap_or((0, None));
    let latest_classified = conn.query_opt(
        "SELECT m.id FROM conversations c JOIN messages m ON m.conversation_id = c.id
         WHERE c.tenant_id = ?1 AND c.contact_id = ?2 AND m.classification IS NOT NULL
         ORDER BY m.timestamp DESC, m.id DESC LIMIT 1",
        params![tenant, contact_id],
        |r| r.get(0),
    )?;
    let unread_priority = conn.query_opt(
        "SELECT coalesce(s.unread_priority, 'low')
         FROM crm_unread_flags f JOIN messages m ON m.id = f.message_id
         LEFT JOIN crm_settings s ON s.tenant_id = m.tenant_id
         WHERE m.tenant_id = ?1 AND m.contact_id = ?2 AND f.cleared_at IS NULL
         LIMIT 1",
        params![tenant, contact_id],
        |r| r.get(0),
    )?;
    Ok(Activity {
        recent,
        last_at,
        latest_classified,
        unread_priority,
    })
}

pub(crate) fn clear_read_flags(
    conn: &Conn<'_>,
    now: i64,
) -> Result<Vec<(String, i64)>, StoreError> {
    let read: Vec<(i64, String, i64)> = conn.query(
        "SELECT f.message_id, m.tenant_id, m.contact_id
         FROM crm_unread_flags f JOIN messages m ON m.id = f.message_id
         WHERE f.cleared_at IS NULL AND m.status NOT IN ('accepted', 'sent', 'delivered')
         LIMIT 1000",
        params![],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    let mut contacts = Vec::new();
    for (message_id, tenant, contact_id) in read {
        conn.execute(
            "UPDATE crm_unread_flags SET cleared_at = ?2 WHERE message_id = ?1",
            params![message_id, now],
        )?;
        if !contacts.contains(&(tenant.clone(), contact_id)) {
            contacts.push((tenant, contact_id));
        }
    }
    Ok(contacts)
}
