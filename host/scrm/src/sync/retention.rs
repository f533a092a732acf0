//! Maintenance, once a minute: the chat history past each tenant's retention is
//! purged in chunks, and the unread-message rule runs.

use super::*;

impl SyncEngine {
    /// Housekeeping: purges chat history older than each tenant's retention, and
    /// applies the unread-message rule of tenants with a connector. Returns how many
    /// messages were purged.
    ///
    /// # Errors
    /// On database failure.
    pub async fn maintain(&self) -> Result<usize, StoreError> {
        let purged = self
            .db
            .write(|c| {
                let tenants = scrm_store::tenants::ids(c)?;
                let mut total = 0;
                for t in tenants {
                    let settings = crm::settings(c, &t)?;
                    let before = now_ms() - i64::from(settings.retention_days) * DAY_MS;
                    loop {
                        let tx = c.transaction()?;
                        let n = crm::purge_before(&tx, &t, before, PURGE_CHUNK)?;
                        tx.commit()?;
                        total += n;
                        if n < PURGE_CHUNK {
                            break;
                        }
                    }
                }
                Ok(total)
            })
            .await?;
        if purged > 0 {
            tracing::info!(messages = purged, "purged chat history past its retention");
        }
        let flagged = self
            .db
            .write(|c| {
                let tx = c.transaction()?;
                let n = unread_rule(&tx)?;
                tx.commit()?;
                Ok(n)
            })
            .await?;
        if flagged > 0 {
            self.wake.notify_one();
        }
        Ok(purged)
    }
}

/// The unread-message rule: every business message still not read `unread_hours`
/// after it was sent (and sent within the last week, so old history does not fire)
/// sets the contact's `priority` to the tenant's `unread_priority` and queues a
/// contact write; each message fires once. How many fired.
pub(super) fn unread_rule(tx: &rusqlite::Connection) -> Result<usize, StoreError> {
    let now = now_ms();
    let rows = crm::unread_candidates(tx, now)?;
    for u in &rows {
        crm::flag_unread(tx, u.message_id, now)?;
        crm::set_field(
            tx,
            &u.tenant,
            u.contact_id,
            "priority",
            &FieldClock {
                value: json!(u.priority),
                changed_at: now,
                source: "whatsapp".into(),
            },
        )?;
        crm::enqueue_contact(tx, &u.tenant, u.contact_id)?;
    }
    Ok(rows.len())
}
