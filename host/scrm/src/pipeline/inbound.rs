//! Processing of inbox bodies: storing a batch, recording what its plugins made of
//! it, and the one-batch-at-a-time path that tools and retries take.

use super::Pipeline;
use super::plugins::{self, Classified, Quarantine};
use super::store::{self, Counts, Parsed, StoredBatch};
use crate::metrics::UnhandledLabels;
use scrm_store::Store;
use scrm_store::messages::{ClassificationRecord, ClassifyOutcome};
use scrm_store::{StoreError, inbox};

/// What recording results queued: replies, CRM jobs and flow events.
#[derive(Default, Clone, Copy)]
pub(super) struct Queued {
    pub replies: usize,
    pub crm_jobs: usize,
    pub flows: usize,
}

impl Queued {
    pub fn add(&mut self, o: Queued) {
        self.replies += o.replies;
        self.crm_jobs += o.crm_jobs;
        self.flows += o.flows;
    }
}

impl Pipeline {
    /// Processes inbox bodies one batch at a time, start to end: store (one
    /// transaction), plugins, record and mark done (another). For retrying a
    /// batch's bodies one by one.
    pub(super) async fn process_batch(
        &self,
        items: Vec<inbox::InboxItem>,
    ) -> Result<(), StoreError> {
        let parsed: Vec<Parsed> = items.iter().map(Parsed::of).collect();
        let settings = self.send_settings.clone();
        let stored = self
            .db
            .write(move |conn| {
                scrm_store::transaction(conn, |tx| store::store_parsed(tx, parsed, &settings))
            })
            .await?;
        self.count_stored(&stored.counts);
        let StoredBatch { jobs, done, .. } = stored;
        let host = self.plugins.clone();
        let results = tokio::task::spawn_blocking(move || {
            jobs.into_iter()
                .map(|job| {
                    let plugins = host.snapshot(&job.tenant);
                    plugins::classify(&host, &plugins, job)
                })
                .collect::<Vec<_>>()
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?;
        for r in &results {
            plugins::count_calls(&self.metrics, r);
        }
        let recorder = self.recorder();
        let queued = self
            .db
            .write(move |conn| {
                scrm_store::transaction(conn, |tx| recorder.record(tx, &results, &done))
            })
            .await?;
        self.woken_by(queued);
        Ok(())
    }

    /// Counts what a committed store did.
    pub(super) fn count_stored(&self, counts: &Counts) {
        self.metrics.messages_stored.inc_by(counts.stored);
        self.metrics.messages_duplicate.inc_by(counts.duplicates);
        for (reason, kind) in &counts.unhandled {
            self.metrics
                .unhandled
                .get_or_create(&UnhandledLabels {
                    reason: reason.clone(),
                    kind: kind.clone(),
                })
                .inc();
        }
    }

    /// Wakes the workers that have new work once `queued` is committed.
    pub(super) fn woken_by(&self, queued: Queued) {
        let wakes = [
            (queued.flows, &self.flow_wake),
            (queued.crm_jobs, &self.sync_wake),
            (queued.replies, &self.outbox_wake),
        ];
        for (n, wake) in wakes {
            if n > 0
                && let Some(wake) = wake
            {
                wake.notify_one();
            }
        }
    }

    /// What recording results needs from the pipeline, for the database thread.
    pub(super) fn recorder(&self) -> Recorder {
        Recorder {
            defaults: crate::outbox::SendDefaults {
                limits: self.send_settings.limits,
                public_url: self.public_url.clone(),
            },
            metrics: self.metrics.clone(),
        }
    }
}

/// Records plugins' results inside a transaction.
pub(super) struct Recorder {
    defaults: crate::outbox::SendDefaults,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
}

impl Recorder {
    /// Records the plugins' results, queues replies, CRM writes and flow events,
    /// applies the quarantines the calls caused, and marks the inbox bodies `done`.
    pub(super) fn record(
        &self,
        tx: &dyn Store,
        results: &[Classified],
        done: &[i64],
    ) -> Result<Queued, StoreError> {
        let mut queued = Queued::default();
        queued.add(self.record_results(tx, results)?);
        let quarantines: Vec<&Quarantine> = results.iter().flat_map(|r| &r.quarantined).collect();
        for (tenant, slot, version, _, reason) in quarantines {
            scrm_store::PluginRepo::quarantine(tx, tenant, slot, *version, reason)?;
        }
        scrm_store::InboxRepo::mark_done_many(tx, done)?;
        Ok(queued)
    }

    fn record_results(&self, tx: &dyn Store, results: &[Classified]) -> Result<Queued, StoreError> {
        let (defaults, metrics) = (&self.defaults, &self.metrics);
        let mut replies = 0;
        let mut crm_jobs = 0;
        let mut flows = 0;
        // The same body delivered twice, to two hosts: both stored it
        // (once) and ran its plugins; only the first to record its
        // classification answers and syncs it.
        let records: Vec<ClassificationRecord<'_>> = results
            .iter()
            .map(|r| ClassificationRecord {
                message_id: r.message_id,
                classifier: r.label.as_deref(),
                outcome: &r.outcome,
                first: r.first,
            })
            .collect();
        let recorded = scrm_store::MessageRepo::record_classifications(tx, &records)?;
        // Which tenants have an events hook: read once for the batch, when needed.
        let mut hooked: Option<Vec<String>> = None;
        for (r, recorded) in results.iter().zip(recorded) {
            if !recorded {
                continue;
            }
            if let ClassifyOutcome::Classified { tags, .. } = &r.outcome
                && !tags.is_empty()
            {
                if hooked.is_none() {
                    hooked = Some(scrm_store::HookRepo::tenants_with(
                        tx,
                        crate::event_hooks::KIND,
                    )?);
                }
                if hooked.as_ref().is_some_and(|h| h.contains(&r.tenant)) {
                    crate::event_hooks::emit(
                        tx,
                        &r.tenant,
                        "conversation.tagged",
                        &r.message_id.to_string(),
                        serde_json::json!({"message_id": r.message_id, "tags": tags}),
                    )?;
                }
            }
            if let Some(contact_id) = r.sync {
                let tags: &[String] = match &r.outcome {
                    ClassifyOutcome::Classified { tags, .. } => tags,
                    _ => &[],
                };
                crm_jobs +=
                    crate::sync::enqueue_message(tx, &r.tenant, contact_id, r.message_id, tags)?;
            }
            if r.first {
                flows += emit_message_events(tx, r)?;
            }
            if let Some((label, response)) = &r.response {
                scrm_store::MessageRepo::record_response(tx, r.message_id, label, response)?;
                if let Ok(actions) = response {
                    replies += crate::outbox::enqueue_actions(
                        tx,
                        &r.tenant,
                        r.message_id,
                        actions,
                        defaults,
                        metrics,
                    )?;
                    crate::conversations::apply_responder_assigns(
                        tx,
                        &r.tenant,
                        r.message_id,
                        actions,
                    )?;
                }
            }
        }
        Ok(Queued {
            replies,
            crm_jobs,
            flows,
        })
    }
}

/// Queues a new message (and a WhatsApp order) for the tenant's flows; how many
/// flow events were queued.
fn emit_message_events(tx: &dyn Store, r: &Classified) -> Result<usize, StoreError> {
    let mut n = crate::automation::emit(
        tx,
        &r.tenant,
        "message",
        r.contact_id,
        &serde_json::json!({"message_id": r.message_id}),
        None,
    )?;
    if let Some((wamid, at)) = &r.order {
        n += crate::automation::emit(
            tx,
            &r.tenant,
            "order",
            r.contact_id,
            &serde_json::json!({"source": "whatsapp", "id": wamid, "at": at, "message_id": r.message_id}),
            None,
        )?;
    }
    Ok(n)
}
