//! Processing of inbox bodies, a batch at a time.

use super::Pipeline;
use crate::metrics::UnhandledLabels;
use crate::plugins::error::CallError;
use crate::plugins::responder::ConversationView;
use crate::plugins::{ActiveBinding, PluginHost, TenantPlugins};
use crate::store::contacts::{self, Contact, ContactFacts};
use crate::store::messages::{self, ClassifyOutcome, NewInbound};
use crate::store::{StoreError, inbox, tenants};
use crate::whatsapp::content::Content;
use crate::whatsapp::payload::{self, Event, InboundMessage};
use crate::whatsapp::phone;
use rusqlite::Connection;
use std::time::Instant;

/// A stored message that still needs its plugins (classifier, then responder).
struct ToClassify {
    tenant: String,
    message_id: i64,
    message: InboundMessage,
    contact: Contact,
    conversation: ConversationView,
}

/// What the first transaction did, for metrics once it is committed.
#[derive(Default)]
struct Counts {
    stored: u64,
    duplicates: u64,
    unhandled: Vec<(String, String)>,
}

/// One plugin call, for metrics: `(tenant, slot, plugin, result code, seconds)`.
type CallRecord = (String, &'static str, String, String, f64);
/// A binding this message's fault quarantined: `(tenant, slot, version, plugin, reason)`.
type Quarantine = (String, &'static str, i64, String, String);

/// What the plugins made of one message, for the second transaction and for metrics.
struct Classified {
    message_id: i64,
    label: Option<String>,
    outcome: ClassifyOutcome,
    /// The responder's label and its actions (or why it failed), when one ran.
    response: Option<(String, Result<Vec<serde_json::Value>, String>)>,
    calls: Vec<CallRecord>,
    quarantined: Vec<Quarantine>,
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
            for (tenant, slot, plugin, result, secs) in &r.calls {
                self.metrics
                    .plugin_calls
                    .get_or_create(&crate::metrics::PluginLabels {
                        tenant: tenant.clone(),
                        slot: (*slot).into(),
                        plugin: plugin.clone(),
                        result: result.clone(),
                    })
                    .inc();
                self.metrics
                    .plugin_latency
                    .get_or_create(&crate::metrics::PluginLatencyLabels {
                        tenant: tenant.clone(),
                        slot: (*slot).into(),
                        plugin: plugin.clone(),
                    })
                    .observe(*secs);
            }
            for q in &r.quarantined {
                tracing::warn!(tenant = %q.0, slot = q.1, plugin = %q.3, reason = %q.4, "plugin quarantined");
                self.metrics.mark_quarantined(&q.0, q.1, &q.3, true);
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
                    if let Some((label, response)) = &r.response {
                        messages::record_response(&tx, r.message_id, label, response)?;
                    }
                }
                for (tenant, slot, version, _, reason) in &quarantines {
                    crate::store::plugins::quarantine(&tx, tenant, slot, *version, reason)?;
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

/// Runs the snapshot's classifier, then its responder, on one stored message.
/// Blocking.
fn classify(host: &PluginHost, plugins: &TenantPlugins, job: ToClassify) -> Classified {
    let mut out = Classified {
        message_id: job.message_id,
        label: None,
        outcome: ClassifyOutcome::NoClassifier,
        response: None,
        calls: Vec::new(),
        quarantined: Vec::new(),
    };
    let mut classification = None;
    if let Some(binding) = &plugins.classifier {
        let result = timed(&mut out, binding, "classifier", |b| {
            host.classify(b, &job.message, &job.contact)
        });
        out.label = Some(binding.label());
        out.outcome = match result {
            Ok(c) => {
                let outcome = ClassifyOutcome::Classified {
                    tags: c.tags.clone(),
                    classification: c.details.clone(),
                };
                classification = Some(c);
                outcome
            }
            Err(e) => ClassifyOutcome::Failed(format!("{}: {e}", e.code())),
        };
    }
    if let Some(binding) = &plugins.responder {
        let result = timed(&mut out, binding, "responder", |b| {
            host.respond(
                b,
                &job.message,
                &job.contact,
                &job.conversation,
                classification.as_ref(),
            )
        });
        out.response = Some((
            binding.label(),
            result.map_err(|e| format!("{}: {e}", e.code())),
        ));
    }
    out
}

/// Calls `f` on `binding`, recording the call's metrics and any quarantine it causes.
fn timed<T>(
    out: &mut Classified,
    binding: &ActiveBinding,
    slot: &'static str,
    f: impl FnOnce(&ActiveBinding) -> Result<T, CallError>,
) -> Result<T, CallError> {
    let site = binding.site();
    let started = Instant::now();
    let result = f(binding);
    let secs = started.elapsed().as_secs_f64();
    if let Some(reason) = binding.record(result.as_ref().err()) {
        out.quarantined.push((
            site.tenant.clone(),
            slot,
            binding.version,
            site.plugin.clone(),
            reason,
        ));
    }
    let code = match &result {
        Ok(_) => "ok".to_string(),
        Err(e) => {
            if e.is_fault() {
                tracing::warn!(tenant = %site.tenant, plugin = %site.plugin, slot, code = e.code(), error = %e, "plugin call failed");
            }
            e.code().to_string()
        }
    };
    out.calls.push((site.tenant, slot, site.plugin, code, secs));
    result
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
                        tx,
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
                        tx,
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
                    tx,
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
                    let at = m.timestamp.saturating_mul(1000);
                    jobs.push(ToClassify {
                        tenant,
                        message_id: stored.message_id,
                        conversation: ConversationView {
                            id: stored.conversation_id,
                            phone_number_id: pnid,
                            last_message_at: at,
                            last_inbound_at: Some(at),
                        },
                        message: m,
                        contact,
                    });
                }
            }
            Event::Status(s) => {
                messages::record_status(
                    tx,
                    &tenant,
                    &s.id,
                    &s.status,
                    s.timestamp.saturating_mul(1000),
                    &s.raw,
                )?;
            }
            Event::Other(o) => {
                if inbox::record_unhandled(
                    tx,
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
