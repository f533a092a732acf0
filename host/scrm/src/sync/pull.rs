//! CRM → host: the scheduled pull from the stored cursor and CRM webhooks, both
//! parsed by the connector and mapped back by the mapper.

use super::*;

impl SyncEngine {
    /// Pulls changes for every tenant whose pull is due.
    pub(super) async fn pull_due(&self) {
        let tenants = match self
            .db
            .read(|c| scrm_store::PluginRepo::tenants_with_slot(c, "connector"))
            .await
        {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "cannot list tenants to pull");
                return;
            }
        };
        let now = now_ms();
        for tenant in tenants {
            let t = tenant.clone();
            let Ok(settings) = self
                .db
                .read(move |c| scrm_store::CrmRepo::settings(c, &t))
                .await
            else {
                continue;
            };
            if settings.mode == "off" || settings.pull_seconds == 0 {
                continue;
            }
            let last = self
                .last_pull
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&tenant)
                .copied();
            if last.is_some_and(|l| now - l < i64::from(settings.pull_seconds) * 1000) {
                continue;
            }
            self.last_pull
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(tenant.clone(), now);
            if let Err(e) = self.pull(&tenant).await {
                tracing::warn!(tenant = %tenant, error = %e, "CRM pull failed; will try again");
            }
        }
    }

    /// Pulls the tenant's CRM changes since its cursor now and applies them.
    ///
    /// # Errors
    /// [`SyncError`]; the cursor only advances past applied pages.
    pub async fn pull(&self, tenant: &str) -> Result<Applied, SyncError> {
        let (mapper, connector) = self.bindings(tenant)?;
        let mut total = Applied::default();
        for _ in 0..MAX_PULL_PAGES {
            let t = tenant.to_string();
            let cursor = self
                .db
                .read(move |c| scrm_store::CrmRepo::cursor(c, &t))
                .await?;
            let k = connector.clone();
            let changes = self.blocking(move |h| h.pull_changes(&k, &cursor)).await?;
            let applied = self.apply(tenant, &mapper, changes.records).await?;
            let t = tenant.to_string();
            let next = changes.next_cursor.clone();
            self.db
                .write(move |c| scrm_store::CrmRepo::set_cursor(c, &t, &next))
                .await?;
            total.add(&applied);
            if !changes.more {
                break;
            }
        }
        Ok(total)
    }

    /// Parses and applies a CRM webhook delivery for `tenant`.
    ///
    /// # Errors
    /// [`SyncError`] (the connector's `Unauthorized` for a bad signature).
    pub async fn webhook(
        &self,
        tenant: &str,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Result<Applied, SyncError> {
        let (mapper, connector) = self.bindings(tenant)?;
        let records = self
            .blocking(move |h| h.parse_crm_webhook(&connector, &headers, &body))
            .await?;
        self.apply(tenant, &mapper, records).await
    }

    /// Applies CRM records to host contacts (see the module docs).
    pub(super) async fn apply(
        &self,
        tenant: &str,
        mapper: &Arc<ActiveBinding>,
        records: Vec<CrmRecord>,
    ) -> Result<Applied, SyncError> {
        let mut applied = Applied::default();
        for record in records {
            applied.records += 1;
            let Some(crm_id) = record.id.clone() else {
                applied.skipped += 1;
                continue;
            };
            let m = mapper.clone();
            let rec = record.clone();
            let changes = self.blocking(move |h| h.map_from_crm(&m, &rec)).await?;
            let t = tenant.to_string();
            let updated_at = record.updated_at;
            let outcome = self
                .db
                .write(move |c| {
                    scrm_store::transaction(c, |tx| {
                        let out = apply_one(tx, &t, &crm_id, updated_at, &changes)?;
                        Ok(out)
                    })
                })
                .await?;
            applied.add(&outcome);
        }
        if applied.conflicts > 0 {
            self.wake.notify_one();
        }
        Ok(applied)
    }
}
