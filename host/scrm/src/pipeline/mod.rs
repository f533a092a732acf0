//! The inbound pipeline: works off the webhook inbox, one stored body at a time.
//!
//! For each body: every entry, change, message and status is routed by
//! `phone_number_id` to its tenant; the sender becomes a contact; the message is
//! stored once (idempotent on its wamid); the tenant's classifier runs on it and its
//! tags are stored. Statuses are stored; anything the host does not model is kept
//! raw and counted. A body is marked done only when all of that is committed, so a
//! crash at any point is recovered by processing it again.

mod inbound;

use crate::metrics::Metrics;
use scrm_engine::PluginHost;
use scrm_store::Db;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tracing::Instrument;

/// How many inbox rows one pass reads.
const BATCH: usize = 64;
/// Longest wait between passes when nothing wakes the worker.
const IDLE_POLL: Duration = Duration::from_millis(500);

/// The inbound worker and what it needs.
#[derive(Debug, Clone)]
pub struct Pipeline {
    db: Db,
    plugins: Arc<PluginHost>,
    metrics: Arc<Metrics>,
    wake: Arc<Notify>,
    send_settings: Arc<crate::config::SendSettings>,
    outbox_wake: Option<Arc<Notify>>,
    sync_wake: Option<Arc<Notify>>,
}

impl Pipeline {
    /// A pipeline over `db` running plugins from `plugins`.
    pub fn new(db: Db, plugins: Arc<PluginHost>, metrics: Arc<Metrics>) -> Pipeline {
        Pipeline {
            db,
            plugins,
            metrics,
            wake: Arc::new(Notify::new()),
            send_settings: Arc::new(crate::config::SendSettings::default()),
            outbox_wake: None,
            sync_wake: None,
        }
    }

    /// Wakes the outbox's sender after queueing a responder's replies.
    pub fn with_outbox_wake(mut self, wake: Arc<Notify>) -> Pipeline {
        self.outbox_wake = Some(wake);
        self
    }

    /// Wakes the CRM sync worker after queueing CRM writes.
    pub fn with_sync_wake(mut self, wake: Arc<Notify>) -> Pipeline {
        self.sync_wake = Some(wake);
        self
    }

    /// Uses `settings` when a `failed` status webhook tells the outbox to back off,
    /// pause marketing or give up.
    pub fn with_send_settings(mut self, settings: crate::config::SendSettings) -> Pipeline {
        self.send_settings = Arc::new(settings);
        self
    }

    /// Tells the worker new bodies are waiting.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Runs the worker until the task is dropped.
    pub async fn run(self) {
        // Failed bodies wait before their next attempt: 1 s, 2 s, 4 s … up to 5 min.
        let mut not_before: HashMap<i64, Instant> = HashMap::new();
        loop {
            let items = match self
                .db
                .read(|c| scrm_store::InboxRepo::pending(c, BATCH))
                .await
            {
                Ok(items) => items,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the webhook inbox");
                    tokio::time::sleep(IDLE_POLL).await;
                    continue;
                }
            };
            let now = Instant::now();
            let ready: Vec<_> = items
                .into_iter()
                .filter(|i| not_before.get(&i.id).is_none_or(|t| *t <= now))
                .collect();
            if ready.is_empty() {
                let _ = tokio::time::timeout(IDLE_POLL, self.wake.notified()).await;
                continue;
            }
            let ids: Vec<i64> = ready.iter().map(|i| i.id).collect();
            let span = tracing::info_span!("scrm.pipeline.batch", first = ids[0], size = ids.len());
            if self
                .process_batch(ready.clone())
                .instrument(span)
                .await
                .is_ok()
            {
                for id in ids {
                    not_before.remove(&id);
                }
                continue;
            }
            // The batch failed as a whole: retry its bodies one by one, so a body that
            // cannot be processed only delays itself.
            for item in ready {
                let id = item.id;
                let attempts = item.attempts;
                let span = tracing::info_span!("scrm.pipeline.inbox", inbox_id = id);
                match self.process_batch(vec![item]).instrument(span).await {
                    Ok(()) => {
                        not_before.remove(&id);
                    }
                    Err(e) => {
                        tracing::warn!(inbox_id = id, error = %e, "processing failed; will retry");
                        let reason = e.to_string();
                        let _ = self
                            .db
                            .write(move |c| {
                                scrm_store::InboxRepo::mark_failed_attempt(c, id, &reason)
                            })
                            .await;
                        let backoff = Duration::from_secs(1 << attempts.clamp(0, 8) as u32)
                            .min(Duration::from_secs(300));
                        not_before.insert(id, Instant::now() + backoff);
                    }
                }
            }
        }
    }

    /// Processes every pending body now, returning when the inbox is empty or only
    /// holds bodies that failed. For tools and tests that want a synchronous drain.
    ///
    /// # Errors
    /// On database failure.
    pub async fn drain(&self) -> Result<usize, scrm_store::StoreError> {
        let mut done = 0;
        loop {
            let items = self
                .db
                .read(|c| scrm_store::InboxRepo::pending(c, BATCH))
                .await?;
            if items.is_empty() {
                return Ok(done);
            }
            let mut progressed = false;
            for item in items {
                if self.process_batch(vec![item]).await.is_ok() {
                    done += 1;
                    progressed = true;
                }
            }
            if !progressed {
                return Ok(done);
            }
        }
    }
}
