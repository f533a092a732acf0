//! Processing of one inbox body.

use super::Pipeline;
use crate::metrics::UnhandledLabels;
use crate::plugins::TenantPlugins;
use crate::store::contacts::{self, Contact, ContactFacts};
use crate::store::messages::{self, ClassifyOutcome, NewInbound};
use crate::store::{StoreError, inbox, tenants};
use crate::whatsapp::content::Content;
use crate::whatsapp::payload::{self, Event, InboundMessage};
use crate::whatsapp::phone;
use rusqlite::Connection;
use std::sync::Arc;
use std::time::Instant;

/// A stored message that still needs its classifier.
struct ToClassify {
    tenant: String,
    message_id: i64,
    message: InboundMessage,
    contact: Contact,
}

/// What the first transaction did, for metrics once it is committed.
#[derive(Default)]
struct Counts {
    stored: u64,
    duplicates: u64,
    unhandled: Vec<(String, String)>,
}

impl Pipeline {
    pub(super) async fn process(&self, item: inbox::InboxItem) -> Result<(), StoreError> {
        let notification = match payload::parse(&item.body) {
            Ok(n) => n,
            Err(e) => {
                // Not a webhook body at all: keep it, mark it, never retry it.
                let id = item.id;
                let reason = format!("{}: {e}", e.code());
                tracing::warn!(
                    inbox_id = id,
                    code = e.code(),
                    "webhook body is not a WhatsApp notification"
                );
                return self
                    .db
                    .write(move |c| inbox::mark_rejected(c, id, &reason))
                    .await;
            }
        };
        let events = notification.events();
        let app_id = item.app_id.clone();
        let inbox_id = item.id;
        let (to_classify, counts) = self
            .db
            .write(move |conn| store_events(conn, &app_id, inbox_id, events))
            .await?;
        self.metrics.messages_stored.inc_by(counts.stored);
        self.metrics.messages_duplicate.inc_by(counts.duplicates);
        for (reason, kind) in counts.unhandled {
            self.metrics
                .unhandled
                .get_or_create(&UnhandledLabels { reason, kind })
                .inc();
        }

        let mut outcomes = Vec::with_capacity(to_classify.len());
        for job in to_classify {
            // One snapshot per message: its whole pipeline sees one set of versions.
            let plugins = self.plugins.snapshot(&job.tenant);
            outcomes.push(self.classify(plugins, job).await);
        }
        self.db
            .write(move |conn| {
                let tx = conn.transaction()?;
                for (message_id, label, outcome) in &outcomes {
                    messages::record_classification(&tx, *message_id, label.as_deref(), outcome)?;
                }
                inbox::mark_done(&tx, inbox_id)?;
                tx.commit()?;
                Ok(())
            })
            .await
    }

    async fn classify(
        &self,
        plugins: Arc<TenantPlugins>,
        job: ToClassify,
    ) -> (i64, Option<String>, ClassifyOutcome) {
        let Some(binding) = plugins.classifier.clone() else {
            return (job.message_id, None, ClassifyOutcome::NoClassifier);
        };
        let host = self.plugins.clone();
        let label = binding.label();
        let site = binding.site();
        let started = Instant::now();
        let call_binding = binding.clone();
        let result = tokio::task::spawn_blocking(move || {
            host.classify(&call_binding, &job.message, &job.contact)
        })
        .await;
        let elapsed = started.elapsed().as_secs_f64();
        if let Ok(r) = &result
            && let Some(reason) = binding.record(r.as_ref().err())
        {
            tracing::warn!(tenant = %site.tenant, plugin = %site.plugin, %reason, "plugin quarantined");
            self.metrics
                .mark_quarantined(&site.tenant, "classifier", &site.plugin, true);
            let (tenant, version) = (site.tenant.clone(), binding.version);
            if let Err(e) = self
                .db
                .write(move |c| {
                    crate::store::plugins::quarantine(c, &tenant, "classifier", version, &reason)
                })
                .await
            {
                tracing::error!(error = %e, "cannot record quarantine");
            }
        }
        let outcome = match result {
            Ok(Ok(c)) => ClassifyOutcome::Classified {
                tags: c.tags,
                classification: c.details,
            },
            Ok(Err(e)) => {
                tracing::warn!(tenant = %site.tenant, plugin = %site.plugin, code = e.code(), error = %e, "classifier call failed");
                ClassifyOutcome::Failed(format!("{}: {e}", e.code()))
            }
            Err(join) => {
                ClassifyOutcome::Failed(format!("plugin_trap: {site}: host task failed: {join}"))
            }
        };
        let result_label = match &outcome {
            ClassifyOutcome::Failed(reason) => {
                reason.split(':').next().unwrap_or("error").to_string()
            }
            _ => "ok".to_string(),
        };
        self.metrics
            .plugin_calls
            .get_or_create(&crate::metrics::PluginLabels {
                tenant: site.tenant.clone(),
                slot: "classifier".into(),
                plugin: site.plugin.clone(),
                result: result_label,
            })
            .inc();
        self.metrics
            .plugin_latency
            .get_or_create(&crate::metrics::PluginLatencyLabels {
                tenant: site.tenant,
                slot: "classifier".into(),
                plugin: site.plugin,
            })
            .observe(elapsed);
        (job.message_id, Some(label), outcome)
    }
}

/// Stores every event of one body in one transaction.
fn store_events(
    conn: &mut Connection,
    app_id: &str,
    inbox_id: i64,
    events: Vec<Event>,
) -> Result<(Vec<ToClassify>, Counts), StoreError> {
    let tx = conn.transaction()?;
    let mut jobs = Vec::new();
    let mut counts = Counts::default();
    for (index, event) in events.into_iter().enumerate() {
        let route = match &event {
            Event::Message(m) => &m.route,
            Event::Status(s) => &s.route,
            Event::Other(o) => &o.route,
        };
        let tenant = match &route.phone_number_id {
            Some(pnid) => tenants::route(&tx, app_id, pnid)?,
            None => None,
        };
        let (kind, raw) = match &event {
            Event::Message(m) => (m.kind.clone(), &m.raw),
            Event::Status(s) => (format!("status:{}", s.status), &s.raw),
            Event::Other(o) => (o.kind.clone(), &o.raw),
        };
        let Some((tenant, region)) = tenant else {
            if inbox::record_unhandled(&tx, inbox_id, index, None, "unrouted", &kind, raw)? {
                tracing::warn!(inbox_id, phone_number_id = ?route.phone_number_id, "no tenant for this phone number id");
                counts.unhandled.push(("unrouted".into(), kind));
            }
            continue;
        };
        match event {
            Event::Message(m) => {
                if let Content::Unsupported(_) = m.content
                    && inbox::record_unhandled(
                        &tx,
                        inbox_id,
                        index,
                        Some(&tenant),
                        "unmodeled",
                        &kind,
                        &m.raw,
                    )?
                {
                    counts.unhandled.push(("unmodeled".into(), kind.clone()));
                }
                let facts = ContactFacts {
                    wa_id: m.from.clone(),
                    user_id: m.from_user_id.clone().or(m.contact_user_id.clone()),
                    phone: m
                        .from
                        .as_deref()
                        .and_then(phone::wa_id_to_e164)
                        .or_else(|| {
                            m.from
                                .as_deref()
                                .and_then(|f| phone::to_e164(f, Some(&region)))
                        }),
                    name: m.profile_name.clone(),
                };
                if facts.wa_id.is_none() && facts.user_id.is_none() {
                    if inbox::record_unhandled(
                        &tx,
                        inbox_id,
                        index,
                        Some(&tenant),
                        "unroutable-sender",
                        &kind,
                        &m.raw,
                    )? {
                        counts.unhandled.push(("unroutable-sender".into(), kind));
                    }
                    continue;
                }
                let contact = contacts::upsert(&tx, &tenant, &facts)?;
                let content = serde_json::to_value(&m.content)?;
                let context = serde_json::to_value(&m.context)?;
                let pnid = m.route.phone_number_id.clone().unwrap_or_default();
                let stored = messages::insert_inbound(
                    &tx,
                    &NewInbound {
                        tenant: &tenant,
                        contact_id: contact.id,
                        phone_number_id: &pnid,
                        wamid: &m.id,
                        kind: &m.kind,
                        timestamp: m.timestamp.saturating_mul(1000),
                        text: m.content.text(),
                        content: &content,
                        context: &context,
                        raw: &m.raw,
                        inbox_id,
                    },
                )?;
                if stored.inserted {
                    counts.stored += 1;
                } else {
                    counts.duplicates += 1;
                }
                if stored.unclassified {
                    jobs.push(ToClassify {
                        tenant,
                        message_id: stored.message_id,
                        message: m,
                        contact,
                    });
                }
            }
            Event::Status(s) => {
                messages::record_status(
                    &tx,
                    &tenant,
                    &s.id,
                    &s.status,
                    s.timestamp.saturating_mul(1000),
                    &s.raw,
                )?;
            }
            Event::Other(o) => {
                if inbox::record_unhandled(
                    &tx,
                    inbox_id,
                    index,
                    Some(&tenant),
                    "unmodeled",
                    &o.kind,
                    &o.raw,
                )? {
                    counts.unhandled.push(("unmodeled".into(), o.kind));
                }
            }
        }
    }
    tx.commit()?;
    Ok((jobs, counts))
}
