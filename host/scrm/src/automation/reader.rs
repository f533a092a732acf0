//! [`DbFlowReader`]: a flow's reads of its event's contact (profile, history,
//! orders, parcels, schedules), answered from the database and the tenant's
//! connector and courier, on the call's thread.

use crate::slots::flows::{ORDER_SCAN, to_field_value};
use scrm_engine::bindings::scrm::plugin::commerce::{OrderInfo, OrderLine, Tracking};
use scrm_engine::bindings::scrm::plugin::profile::Profile;
use scrm_engine::bindings::types as wit;
use scrm_engine::storage::{FlowReader, StorageError};
use scrm_engine::{PluginHost, TenantPlugins};
use scrm_store::{Db, StoreError};
use std::sync::Arc;

/// A flow's reads of its event's contact, on the call's thread: the database, and
/// the tenant's connector (orders) and courier (parcels) of the snapshot the event
/// runs on.
#[derive(Debug)]
pub struct DbFlowReader {
    db: Db,
    plugins: Arc<PluginHost>,
    snapshot: Arc<TenantPlugins>,
    tenant: String,
    contact_id: i64,
}

impl DbFlowReader {
    /// The reader of `contact_id` of `tenant` (0: no contact).
    pub fn new(
        db: Db,
        plugins: Arc<PluginHost>,
        snapshot: Arc<TenantPlugins>,
        tenant: &str,
        contact_id: i64,
    ) -> DbFlowReader {
        DbFlowReader {
            db,
            plugins,
            snapshot,
            tenant: tenant.to_string(),
            contact_id,
        }
    }

    /// The contact's orders in the CRM, through a connector that can look them up;
    /// none when there is no such connector or the contact is not synced.
    fn crm_orders(&self, since: i64, limit: u32) -> Result<Vec<OrderInfo>, String> {
        let Some(connector) = self
            .snapshot
            .connector
            .as_ref()
            .filter(|c| PluginHost::looks_up_orders(c))
        else {
            return Ok(Vec::new());
        };
        let (tenant, id) = (self.tenant.as_str(), self.contact_id);
        let link = self
            .db
            .read_blocking(|c| scrm_store::CrmRepo::link(c, tenant, "contact", id))
            .map_err(|e| e.to_string())?;
        let Some(link) = link else {
            return Ok(Vec::new());
        };
        self.plugins
            .find_orders(connector, &link.crm_id, since, limit)
            .map_err(|e| format!("{}: {e}", e.code()))
    }
}

fn failed(e: StoreError) -> StorageError {
    StorageError(e.to_string())
}

impl FlowReader for DbFlowReader {
    fn budget_left(&self) -> Option<f64> {
        let tenant = self.tenant.as_str();
        let found = self.db.read_blocking(|c| {
            let Some(budget) = scrm_store::AssistRepo::model_budget(c, tenant)? else {
                return Ok(None);
            };
            let since = scrm_store::assist::month_start(scrm_store::now_ms());
            Ok(Some(
                budget - scrm_store::AssistRepo::spent_since(c, tenant, since)?,
            ))
        });
        // An unreadable budget counts as spent: better a person answers than the
        // model spends without a check.
        found.unwrap_or_else(|e| {
            tracing::error!(tenant, error = %e, "cannot read the tenant's model budget");
            Some(0.0)
        })
    }

    fn profile(&self) -> Result<Option<Profile>, StorageError> {
        if self.contact_id == 0 {
            return Ok(None);
        }
        let (tenant, id) = (self.tenant.as_str(), self.contact_id);
        self.db
            .read_blocking(|c| {
                let Some(contact) = scrm_store::ContactRepo::get(c, tenant, id)? else {
                    return Ok(None);
                };
                let fields = scrm_store::CrmRepo::fields(c, tenant, id)?
                    .into_iter()
                    .map(|(n, clock)| (n, to_field_value(&clock.value)))
                    .collect();
                let conversation = scrm_store::ConversationRepo::latest_of(c, tenant, id)?;
                let to = contact.wa_id.clone().unwrap_or_default();
                let consent = scrm_store::ConsentRepo::get(c, tenant, &to)?;
                Ok(Some(Profile {
                    contact: crate::slots::to_wit_contact(&contact),
                    fields,
                    tags: conversation
                        .as_ref()
                        .map(|s| s.tags.clone())
                        .unwrap_or_default(),
                    opted_in: consent.opted_in(),
                    opted_out: consent.opted_out(),
                    last_inbound_at: conversation.and_then(|s| s.last_inbound_at),
                }))
            })
            .map_err(failed)
    }

    fn history(&self, limit: u32) -> Result<Vec<wit::Message>, StorageError> {
        let (tenant, id) = (self.tenant.as_str(), self.contact_id);
        self.db
            .read_blocking(|c| {
                let ids = scrm_store::FlowRepo::recent_message_ids(c, tenant, id, limit)?;
                let mut out = Vec::with_capacity(ids.len());
                for m in ids {
                    if let Some(m) = scrm_store::MessageRepo::get(c, tenant, m)? {
                        out.push(crate::slots::stored_to_wit(&m));
                    }
                }
                Ok(out)
            })
            .map_err(failed)
    }

    fn orders(&self, since: i64, limit: u32) -> Result<Vec<OrderInfo>, String> {
        // The tenant's CRM (when its connector looks up orders) and the WhatsApp
        // orders the host recorded, newest first.
        let mut found = self.crm_orders(since, limit)?;
        let history = self.history(ORDER_SCAN).map_err(|e| e.to_string())?;
        found.extend(
            history
                .into_iter()
                .filter(|m| m.timestamp >= since)
                .filter_map(|m| match m.content {
                    wit::Content::Order(o) => Some(OrderInfo {
                        id: m.id.clone(),
                        number: None,
                        source: "whatsapp".into(),
                        placed_at: m.timestamp,
                        state: None,
                        total: Some(
                            o.items
                                .iter()
                                .map(|i| i.item_price * f64::from(i.quantity))
                                .sum(),
                        ),
                        currency: o.items.first().map(|i| i.currency.clone()),
                        tracking_number: None,
                        carrier: None,
                        lines: o
                            .items
                            .iter()
                            .map(|i| OrderLine {
                                sku: i.product_retailer_id.clone(),
                                name: None,
                                quantity: f64::from(i.quantity),
                                unit_price: Some(i.item_price),
                            })
                            .collect(),
                    }),
                    _ => None,
                }),
        );
        found.sort_by_key(|o| std::cmp::Reverse(o.placed_at));
        found.truncate(limit as usize);
        Ok(found)
    }

    fn next_occurrence(&self, spec: &str, zone: Option<&str>) -> Result<i64, String> {
        let zone = match zone {
            Some(z) => z.to_string(),
            None => {
                let tenant = self.tenant.as_str();
                self.db
                    .read_blocking(|c| scrm_store::FlowRepo::time_zone(c, tenant))
                    .map_err(|e| e.to_string())?
                    .unwrap_or_else(|| "UTC".into())
            }
        };
        let tz = super::schedule::zone(&zone)?;
        super::schedule::next_after(spec, tz, scrm_store::now_ms())
    }

    fn track(&self, carrier: Option<&str>, number: &str) -> Result<Tracking, String> {
        let courier = self
            .snapshot
            .courier
            .as_ref()
            .ok_or("the tenant has no courier plugin (install one in the courier slot)")?;
        self.plugins
            .track(courier, carrier, number)
            .map_err(|e| e.to_string())
    }
}
