//! Maintenance, once a minute: the chat history past each tenant's retention is
//! purged in chunks, expired web sessions and login links go, and the unread-message
//! rule runs.

use super::*;
use scrm_store::Store;

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
                let tenants = scrm_store::TenantRepo::ids(c)?;
                let mut total = 0;
                for t in tenants {
                    let settings = scrm_store::CrmRepo::settings(c, &t)?;
                    let before = now_ms() - i64::from(settings.retention_days) * DAY_MS;
                    loop {
                        let n = scrm_store::transaction(c, |tx| {
                            scrm_store::CrmRepo::purge_before(tx, &t, before, PURGE_CHUNK)
                        })?;
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
        let ended = self
            .db
            .write(|c| scrm_store::SessionRepo::purge_sessions(c, now_ms()))
            .await?;
        if ended > 0 {
            tracing::debug!(
                rows = ended,
                "purged expired sessions, login links and old failed logins"
            );
        }
        let flagged = self
            .db
            .write(|c| {
                scrm_store::transaction(c, |tx| {
                    let n = unread_rule(tx)?;
                    Ok(n)
                })
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
/// flags its contact, whose CRM record then carries the tenant's `unread_priority`
/// (as the mapper maps it), and queues a contact write; each message fires once.
/// A flagged message that has been read since clears its flag and queues the
/// contact again, so the mapper restores the priority. How many fired or cleared.
pub(super) fn unread_rule(tx: &dyn Store) -> Result<usize, StoreError> {
    let now = now_ms();
    let rows = scrm_store::CrmRepo::unread_candidates(tx, now)?;
    for u in &rows {
        scrm_store::CrmRepo::flag_unread(tx, u.message_id, now)?;
        scrm_store::CrmRepo::enqueue_contact(tx, &u.tenant, u.contact_id)?;
    }
    let read = scrm_store::CrmRepo::clear_read_flags(tx, now)?;
    for (tenant, contact_id) in &read {
        scrm_store::CrmRepo::enqueue_contact(tx, tenant, *contact_id)?;
    }
    Ok(rows.len() + read.len())
}
