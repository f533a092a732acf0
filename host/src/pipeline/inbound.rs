//! Processing of inbox bodies, a batch at a time.

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

/// One classifier call's result, for the second transaction and for metrics.
struct Classified {
    message_id: i64,
    label: Option<String>,
    outcome: ClassifyOutcome,
    /// `(tenant, plugin, result code, seconds)` when a plugin ran or was skipped.
    call: Option<(String, String, String, f64)>,
    /// Set when this call's fault quarantined the binding: `(tenant, version, plugin, reason)`.
    quarantined: Option<(String, i64, String, String)>,
}

impl Pipeline {
    /// Processes a batch of inbox bodies with two transactions in all (store, then
    /// record classifications and mark done) — the fsyncs are shared by the batch.
    pub(super) async fn process_batch(
        &self,
        items: Vec<inbox::InboxItem>,
    ) -> Result<(), StoreError> {
        // Parse outside the database thread.
        let parsed: Vec<(i64, String, Result<Vec<Event>, String>)> = items
            .into_iter()
            .map(|item| {
                let events = payload::parse(&item.body)
                    .map(|n| n.events())
                    .map_err(|e| format!("{}: {e}", e.code()));
                (item.id, item.app_id, events)
            })
            .collect();
        let (jobs, counts, done) = self
            .db
            .write(move |conn| {
                let tx = conn.transaction()?;
                let mut jobs = Vec::new();
                let mut counts = Counts::default();
                let mut done = Vec::new();
                for (inbox_id, app_id, events) in parsed {
                    match events {
                        // Not a webhook body at all: keep it, mark it, never retry it.
                        Err(reason) => {
                            tracing::warn!(inbox_id, %reason, "webhook body is not a WhatsApp notification");
                            inbox::mark_rejected(&tx, inbox_id, &reason)?;
                        }
                        Ok(events) => {
                            store_events(&tx, &app_id, inbox_id, events, &mut jobs, &mut counts)?;
                            done.push(inbox_id);
                        }
                    }
                }
                tx.commit()?;
                Ok((jobs, counts, done))
            })
            .await?;
        self.metrics.messages_stored.inc_by(counts.stored);
        self.metrics.messages_duplicate.inc_by(counts.duplicates);
        for (reason, kind) in counts.unhandled {
            self.metrics
                .unhandled
                .get_or_create(&UnhandledLabels { reason, kind })
                .inc();
        }

        let host = self.plugins.clone();
        let results = tokio::task::spawn_blocking(move || {
            jobs.into_iter()
                .map(|job| {
                    // One snapshot per message: its whole pipeline sees one set of versions.
                    let plugins = host.snapshot(&job.tenant);
                    classify(&host, &plugins, job)
                })
                .collect::<Vec<_>>()
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?;

        let mut quarantines = Vec::new();
        for r in &results {
            if let Some((tenant, plugin, result, secs)) = &r.call {
                self.metrics
                    .plugin_calls
                    .get_or_create(&crate::metrics::PluginLabels {
                        tenant: tenant.clone(),
                        slot: "classifier".into(),
                        plugin: plugin.clone(),
                        result: result.clone(),
                    })
                    .inc();
                self.metrics
                    .plugin_latency
                    .get_or_create(&crate::metrics::PluginLatencyLabels {
                        tenant: tenant.clone(),
                        slot: "classifier".into(),
                        plugin: plugin.clone(),
                    })
                    .observe(*secs);
            }
            if let Some(q) = &r.quarantined {
                tracing::warn!(tenant = %q.0, plugin = %q.2, reason = %q.3, "plugin quarantined");
                self.metrics
                    .mark_quarantined(&q.0, "classifier", &q.2, true);
                quarantines.push(q.clone());
            }
        }
        self.db
            .write(move |conn| {
                let tx = conn.transaction()?;
                for r in &results {
                    messages::record_classification(
                        &tx,
                        r.message_id,
                        r.label.as_deref(),
                        &r.outcome,
                    )?;
                }
                for (tenant, version, _, reason) in &quarantines {
                    crate::store::plugins::quarantine(&tx, tenant, "classifier", *version, reason)?;
                }
                for id in done {
                    inbox::mark_done(&tx, id)?;
                }
                tx.commit()?;
                Ok(())
            })
            .await
    }
}

/// Runs the snapshot's classifier on one stored message. Blocking.
fn classify(
    host: &crate::plugins::PluginHost,
    plugins: &TenantPlugins,
    job: ToClassify,
) -> Classified {
    let Some(binding) = plugins.classifier.clone() else {
        return Classified {
            message_id: job.message_id,
            label: None,
            outcome: ClassifyOutcome::NoClassifier,
            call: None,
            quarantined: None,
        };
    };
    let site = binding.site();
    let started = Instant::now();
    let result = host.classify(&binding, &job.message, &job.contact);
    let secs = started.elapsed().as_secs_f64();
    let quarantined = binding.record(result.as_ref().err()).map(|reason| {
        (
            site.tenant.clone(),
            binding.version,
            site.plugin.clone(),
            reason,
        )
    });
    let (outcome, code) = match result {
        Ok(c) => (
            ClassifyOutcome::Classified {
                tags: c.tags,
                classification: c.details,
            },
            "ok".to_string(),
        ),
        Err(e) => {
            if e.is_fault() {
                tracing::warn!(tenant = %site.tenant, plugin = %site.plugin, code = e.code(), error = %e, "classifier call failed");
            }
            (
                ClassifyOutcome::Failed(format!("{}: {e}", e.code())),
                e.code().to_string(),
            )
        }
    };
    Classified {
        message_id: job.message_id,
        label: Some(binding.label()),
        outcome,
        call: Some((site.tenant, site.plugin, code, secs)),
        quarantined,
    }
}

/// Stores every event of one body inside the caller's transaction.
fn store_events(
    tx: &Connection,
    app_id: &str,
    inbox_id: i64,
    events: Vec<Event>,
    jobs: &mut Vec<ToClassify>,
    counts: &mut Counts,
) -> Result<(), StoreError> {
    for (index, event) in events.into_iter().enumerate() {
        let route = match &event {
            Event::Message(m) => &m.route,
            Event::Status(s) => &s.route,
            Event::Other(o) => &o.route,
        };
        let tenant = match &route.phone_number_id {
            Some(pnid) => tenants::route(tx, app_id, pnid)?,
            None => None,
        };
        let (kind, raw) = match &event {
            Event::Message(m) => (m.kind.clone(), &m.raw),
            Event::Status(s) => (format!("status:{}", s.status), &s.raw),
            Event::Other(o) => (o.kind.clone(), &o.raw),
        };
        let Some((tenant, region)) = tenant else {
            if inbox::record_unhandled(tx, inbox_id, index, None, "unrouted", &kind, raw)? {
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
                let contact = contacts::upsert(tx, &tenant, &facts)?;
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
    Ok(())
}
