//! Sync accuracy: a random sample of synced contacts is read back from the CRM and
//! their key fields (name, phone in E.164) compared with the host's, and a sample of
//! open deals with what the host last wrote (name, amount, stage). Records that
//! changed on either side since they last agreed (a write still queued, a CRM edit
//! not pulled yet) are left out: the audit measures records the sync says are in
//! step. It runs daily per tenant (on the scheduling host) and on demand
//! (`scrm crm audit`); an accuracy below [`ACCURACY_TARGET`] is an alert in the
//! tenant's health report.

use super::*;
use scrm_store::crm::Audit;
use std::collections::BTreeMap;

/// Contacts sampled per audit unless asked otherwise.
pub const DEFAULT_SAMPLE: u32 = 100;
/// The largest sample an audit takes.
pub const MAX_SAMPLE: u32 = 1000;
/// Below this share of matching fields the tenant health report raises an alert.
pub const ACCURACY_TARGET: f64 = 0.99;
/// How often each tenant is audited.
pub const AUDIT_EVERY_MS: i64 = 24 * 3_600_000;
/// Contacts read from the CRM per connector call.
const READ_CHUNK: usize = 50;
/// Deals read per connector call (some CRMs read them one request each).
const DEAL_READ_CHUNK: usize = 8;
/// Differences kept per audit, for people to look at.
const MAX_MISMATCHES: usize = 20;
/// CRM and host clocks differ; changes closer than this to the last agreement count
/// as the agreement itself.
const CLOCK_SLACK_MS: i64 = 2_000;

/// A name as compared: trimmed, inner whitespace collapsed.
fn name_key(n: Option<&str>) -> String {
    n.unwrap_or_default()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

impl SyncEngine {
    /// Audits `tenant`'s sync now on `sample` contacts and stores the result.
    ///
    /// # Errors
    /// [`SyncError`]: no connector, the CRM failing, the database.
    pub async fn audit(&self, tenant: &str, sample: u32) -> Result<Audit, SyncError> {
        let (mapper, connector) = self.bindings(tenant)?;
        let t = tenant.to_string();
        let sample = sample.clamp(1, MAX_SAMPLE);
        let (links, region) = self
            .db
            .read(move |c| {
                Ok((
                    scrm_store::CrmRepo::sample_contacts(c, &t, sample)?,
                    scrm_store::TenantRepo::get(c, &t)?.map(|t| t.default_region),
                ))
            })
            .await?;
        let mut audit = Audit {
            at: now_ms(),
            sampled: u32::try_from(links.len()).unwrap_or(u32::MAX),
            compared: 0,
            fields: BTreeMap::new(),
            accuracy: None,
            mismatches: Vec::new(),
        };
        for chunk in links.chunks(READ_CHUNK) {
            let ids: Vec<String> = chunk.iter().map(|(_, l)| l.crm_id.clone()).collect();
            let k = connector.clone();
            let records = self.blocking(move |h| h.read_contacts(&k, &ids)).await?;
            for (local, link) in chunk {
                let Some(rec) = records
                    .iter()
                    .find(|r| r.id.as_deref() == Some(link.crm_id.as_str()))
                else {
                    continue; // gone from the CRM (deleted or merged there)
                };
                let (t, id) = (tenant.to_string(), *local);
                let (contact, clocks) = self
                    .db
                    .read(move |c| {
                        Ok((
                            scrm_store::ContactRepo::get(c, &t, id)?,
                            scrm_store::CrmRepo::fields(c, &t, id)?,
                        ))
                    })
                    .await?;
                let Some(contact) = contact else { continue };
                let agreed = clocks
                    .iter()
                    .map(|(_, k)| k.changed_at)
                    .chain([link.synced_at, link.crm_updated_at.unwrap_or(0)])
                    .max()
                    .unwrap_or(0);
                let host_ahead = contact.updated_at > link.synced_at + CLOCK_SLACK_MS;
                let crm_ahead = rec
                    .updated_at
                    .is_some_and(|at| at > agreed + CLOCK_SLACK_MS);
                if host_ahead || crm_ahead {
                    continue; // a write or a pull is still on its way
                }
                let (m, r) = (mapper.clone(), rec.clone());
                let changes = self.blocking(move |h| h.map_from_crm(&m, &r)).await?;
                audit.compared += 1;
                let crm_phone = changes.phone.as_deref().and_then(|p| {
                    let country = changes
                        .fields
                        .iter()
                        .find(|(f, _)| f == "country")
                        .and_then(|(_, v)| v.as_str());
                    scrm_wire::phone::crm_phone_to_e164(p, country, region.as_deref()).ok()
                });
                let pairs = [
                    (
                        "name",
                        name_key(contact.name.as_deref()),
                        name_key(changes.name.as_deref()),
                    ),
                    (
                        "phone",
                        contact.phone.clone().unwrap_or_default(),
                        crm_phone.unwrap_or_else(|| changes.phone.clone().unwrap_or_default()),
                    ),
                ];
                for (field, host, crm) in pairs {
                    let score = audit.fields.entry(field.to_string()).or_default();
                    score.compared += 1;
                    if host == crm {
                        score.matched += 1;
                    } else if audit.mismatches.len() < MAX_MISMATCHES {
                        audit.mismatches.push(serde_json::json!({
                            "contact": contact.id, "crm_id": link.crm_id, "field": field,
                            "host": host, "crm": crm}));
                    }
                }
            }
        }
        self.audit_deals(tenant, &connector, sample, &mut audit)
            .await?;
        let (matched, compared) = audit
            .fields
            .values()
            .fold((0u32, 0u32), |(m, c), s| (m + s.matched, c + s.compared));
        audit.accuracy = (compared > 0).then(|| f64::from(matched) / f64::from(compared));
        let (t, a) = (tenant.to_string(), audit.clone());
        self.db
            .write(move |c| scrm_store::CrmRepo::record_audit(c, &t, &a))
            .await?;
        if let Some(acc) = audit.accuracy.filter(|a| *a < ACCURACY_TARGET) {
            tracing::warn!(%tenant, accuracy = acc, "CRM sync accuracy below target");
        }
        Ok(audit)
    }

    /// Adds up to `sample` open deals to `audit`: the name, amount and stage the host
    /// last wrote (`deal_name`, `deal_amount`, `deal_stage`), compared with the CRM's
    /// for deals nobody changed in the CRM since.
    async fn audit_deals(
        &self,
        tenant: &str,
        connector: &Arc<ActiveBinding>,
        sample: u32,
        audit: &mut Audit,
    ) -> Result<(), SyncError> {
        let t = tenant.to_string();
        let deals = self
            .db
            .read(move |c| scrm_store::CrmRepo::sample_deals(c, &t, sample))
            .await?;
        audit.sampled += u32::try_from(deals.len()).unwrap_or(u32::MAX);
        for chunk in deals.chunks(DEAL_READ_CHUNK) {
            let ids: Vec<String> = chunk.iter().map(|d| d.crm_id.clone()).collect();
            let k = connector.clone();
            let records = self.blocking(move |h| h.read_deals(&k, &ids)).await?;
            for d in chunk {
                let Some(rec) = records
                    .iter()
                    .find(|r| r.id.as_deref() == Some(d.crm_id.as_str()))
                else {
                    continue;
                };
                if rec
                    .updated_at
                    .is_some_and(|at| at > d.written_at + CLOCK_SLACK_MS)
                {
                    continue; // changed in the CRM since (a salesperson moved it on)
                }
                let Ok(Value::Object(written)) = serde_json::from_str::<Value>(&d.written) else {
                    continue;
                };
                audit.compared += 1;
                for (field, host) in written {
                    let crm = rec.field(&field).cloned().unwrap_or(Value::Null);
                    let same = match (host.as_f64(), crm.as_f64()) {
                        (Some(a), Some(b)) => (a - b).abs() < 0.005,
                        _ => {
                            host.as_str().map(|s| name_key(Some(s)))
                                == crm.as_str().map(|s| name_key(Some(s)))
                        }
                    };
                    let score = audit.fields.entry(format!("deal_{field}")).or_default();
                    score.compared += 1;
                    if same {
                        score.matched += 1;
                    } else if audit.mismatches.len() < MAX_MISMATCHES {
                        audit.mismatches.push(serde_json::json!({
                            "contact": d.contact_id, "crm_id": d.crm_id,
                            "field": format!("deal_{field}"), "host": host, "crm": crm}));
                    }
                }
            }
        }
        Ok(())
    }

    /// Audits every tenant with a connector whose last audit is a day old (a tenant
    /// never audited: a day after this host first saw it). Looks once a minute.
    pub(super) async fn audit_due(&self) {
        {
            let mut a = self.audits.lock().unwrap_or_else(|p| p.into_inner());
            if now_ms() < a.0 {
                return;
            }
            a.0 = now_ms() + 60_000;
        }
        for tenant in self.connected_tenants("audit").await {
            let t = tenant.clone();
            let last = self
                .db
                .read(move |c| scrm_store::CrmRepo::last_audit(c, &t))
                .await;
            let since = match last {
                Ok(Some(a)) => a.at,
                Ok(None) => *self
                    .audits
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .1
                    .entry(tenant.clone())
                    .or_insert_with(now_ms),
                Err(e) => {
                    tracing::error!(%tenant, error = %e, "cannot read the last audit");
                    continue;
                }
            };
            if now_ms() - since < AUDIT_EVERY_MS {
                continue;
            }
            if let Err(e) = self.audit(&tenant, DEFAULT_SAMPLE).await {
                tracing::warn!(%tenant, error = %e, "CRM sync audit failed; will try again");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::name_key;

    #[test]
    fn names_compare_without_stray_whitespace() {
        assert_eq!(name_key(Some("  Mario   Rossi ")), "Mario Rossi");
        assert_ne!(name_key(Some("Mario Rossi")), name_key(Some("Mario Rosso")));
        assert_eq!(name_key(None), "");
    }
}
