//! History backfill: the last N days of chat history queued for the CRM, oldest
//! first, behind live writes, idempotently.

use super::*;

impl SyncEngine {
    /// Queues the chat history of the last `days` days for the CRM (notes, oldest
    /// first, behind live writes); `(newly queued, messages in range)`.
    ///
    /// # Errors
    /// On database failure.
    pub async fn backfill(&self, tenant: &str, days: u32) -> Result<(usize, usize), StoreError> {
        let t = tenant.to_string();
        let out = self
            .db
            .write(move |c| {
                let settings = scrm_store::CrmRepo::settings(c, &t)?;
                let since = now_ms() - i64::from(days) * DAY_MS;
                scrm_store::CrmRepo::enqueue_backfill(
                    c,
                    &t,
                    since,
                    crm::due_at(&settings, now_ms()),
                )
            })
            .await?;
        self.wake.notify_one();
        Ok(out)
    }
}
