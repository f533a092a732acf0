//! CRM → host: the scheduled pull from the stored cursor and CRM webhooks, both
//! parsed by the connector and mapped back by the mapper.

use super::*;
use crate::outbox::ReplyOutcome;
use scrm_engine::crm::CrmReply;

impl SyncEngine {
    /// The tenants with a connector installed (none, logged, when the store fails).
    pub(super) async fn connected_tenants(&self, what: &str) -> Vec<String> {
        match self
            .db
            .read(|c| scrm_store::PluginRepo::tenants_with_slot(c, "connector"))
            .await
        {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "cannot list tenants to {what}");
                Vec::new()
            }
        }
    }

    /// Pulls changes for every tenant whose pull is due.
    pub(super) async fn pull_due(&self) {
        let tenants = self.connected_tenants("pull").await;
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

    /// Queues the replies written in the CRM to their customers (see
    /// [`crate::outbox::enqueue_crm_reply`]); a reply for a contact the host does not
    /// know, or one the rules refuse, is logged and counted, never retried.
    async fn send_replies(
        &self,
        tenant: &str,
        replies: &[CrmReply],
        applied: &mut Applied,
    ) -> Result<(), SyncError> {
        if replies.is_empty() {
            return Ok(());
        }
        let Some((defaults, wake)) = self.outbox.clone() else {
            applied.replies_refused += replies.len();
            tracing::warn!(%tenant, "replies written in the CRM cannot be sent: no outbox");
            return Ok(());
        };
        let (t, replies) = (tenant.to_string(), replies.to_vec());
        let outcomes = self
            .db
            .write(move |c| {
                let settings = scrm_store::CrmRepo::settings(c, &t)?;
                let template = (!settings.reply_template.is_empty()).then_some((
                    settings.reply_template.as_str(),
                    settings.reply_template_language.as_str(),
                ));
                let mut out = Vec::new();
                for r in &replies {
                    let found = scrm_store::CrmRepo::local_for(c, &t, "contact", &r.contact_id)?;
                    let contact = match found {
                        Some((id, _)) => scrm_store::ContactRepo::get(c, &t, id)?,
                        None => None,
                    };
                    let Some(contact) = contact else {
                        out.push((
                            r.id.clone(),
                            ReplyOutcome::Refused(format!(
                                "CRM contact {} is not linked to a WhatsApp contact",
                                r.contact_id
                            )),
                        ));
                        continue;
                    };
                    let conv = match scrm_store::ConversationRepo::latest_of(c, &t, contact.id)? {
                        Some(v) => Some(v),
                        None => match contact.merged_into {
                            Some(m) => scrm_store::ConversationRepo::latest_of(c, &t, m)?,
                            None => None,
                        },
                    };
                    let to = contact.wa_id.clone().or(contact.phone.clone());
                    let (Some(conv), Some(to)) = (conv, to) else {
                        out.push((
                            r.id.clone(),
                            ReplyOutcome::Refused(
                                "the contact has no WhatsApp conversation yet".into(),
                            ),
                        ));
                        continue;
                    };
                    let reply = crate::outbox::CrmReply {
                        crm_id: &r.id,
                        to: &to,
                        from: &conv.phone_number_id,
                        last_inbound_at: conv.last_inbound_at,
                        text: &r.text,
                        template,
                    };
                    let outcome = scrm_store::transaction(c, |tx| {
                        crate::outbox::enqueue_crm_reply(tx, &t, reply, &defaults)
                    })?;
                    out.push((r.id.clone(), outcome));
                }
                Ok(out)
            })
            .await?;
        for (id, outcome) in outcomes {
            match outcome {
                ReplyOutcome::Queued => applied.replies += 1,
                ReplyOutcome::AlreadyQueued => {}
                ReplyOutcome::Refused(why) => {
                    tracing::warn!(%tenant, crm_id = %id, reason = %why, "reply written in the CRM not sent");
                    applied.replies_refused += 1;
                }
            }
        }
        if applied.replies > 0 {
            wake.notify_one();
        }
        Ok(())
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
            let mut applied = self.apply(tenant, &mapper, changes.records).await?;
            self.send_replies(tenant, &changes.replies, &mut applied)
                .await?;
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
            if record.object == ORDER {
                let t = tenant.to_string();
                let queued = self
                    .db
                    .write(move |c| order_changed(c, &t, &crm_id, &record))
                    .await?;
                if queued {
                    applied.orders += 1;
                } else {
                    applied.skipped += 1;
                }
                continue;
            }
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

/// The object of the records a connector reports a changed order with.
const ORDER: &str = "order";

/// Queues the flows' `order` event (source `crm`) for an order the CRM changed,
/// when its `contact` field names a contact the host has linked; false (logged)
/// when it does not.
fn order_changed(
    c: &dyn scrm_store::Store,
    tenant: &str,
    crm_id: &str,
    record: &CrmRecord,
) -> Result<bool, scrm_store::StoreError> {
    let text = |name: &str| {
        record
            .field(name)
            .and_then(serde_json::Value::as_str)
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
    };
    let Some(crm_contact) = text("contact") else {
        tracing::warn!(%tenant, order = %crm_id, "CRM order names no contact; no order event");
        return Ok(false);
    };
    let Some((contact, _)) = scrm_store::CrmRepo::local_for(c, tenant, "contact", &crm_contact)?
    else {
        tracing::debug!(%tenant, order = %crm_id, contact = %crm_contact,
            "CRM order of a contact the host has not linked; no order event");
        return Ok(false);
    };
    let event = serde_json::json!({
        "source": "crm",
        "id": crm_id,
        "at": record.updated_at.unwrap_or_else(now_ms),
        "state": text("state"),
        "tracking_number": text("tracking_number"),
    });
    let at = record.updated_at.unwrap_or_else(now_ms);
    let order = scrm_store::orders::OrderWrite {
        order_id: crm_id.to_string(),
        source: "crm".into(),
        contact_id: contact,
        placed_at: record
            .field("placed_at")
            .and_then(serde_json::Value::as_i64),
        total: record.field("total").and_then(number),
        currency: text("currency").map(|c| c.to_ascii_uppercase()),
        payment_method: text("payment_method").map(|m| m.to_ascii_lowercase()),
        state: order_state(record),
        at,
    };
    scrm_store::transaction(c, |tx| {
        scrm_store::OrderRepo::upsert(tx, tenant, &order)?;
        crate::automation::emit(tx, tenant, "order", contact, &event, None)
    })?;
    Ok(true)
}

/// A number, or a number written as text (CRMs send amounts both ways).
fn number(v: &serde_json::Value) -> Option<f64> {
    v.as_f64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        .filter(|n: &f64| n.is_finite())
}

/// Where a CRM order stands, from its `paid` flag or its `state` word: paid, done,
/// completed, won, fulfilled → paid; cancelled, refunded, lost, void → cancelled;
/// any other state → placed; no state → unchanged.
fn order_state(record: &CrmRecord) -> Option<scrm_store::orders::OrderState> {
    use scrm_store::orders::OrderState;
    if record.field("paid").and_then(serde_json::Value::as_bool) == Some(true) {
        return Some(OrderState::Paid);
    }
    let word = record.field("state")?.as_str()?.trim().to_ascii_lowercase();
    let word = word.replace(['-', ' '], "_");
    Some(match word.as_str() {
        "paid" | "done" | "completed" | "complete" | "closedwon" | "closed_won" | "won"
        | "fulfilled" => OrderState::Paid,
        "cancelled" | "canceled" | "refunded" | "closedlost" | "closed_lost" | "lost" | "void" => {
            OrderState::Cancelled
        }
        _ => OrderState::Placed,
    })
}
