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
use scrm_store::now_ms;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tracing::Instrument;

/// How many inbox rows one pass claims on SQLite: its one writer also takes the
/// webhooks' acknowledgements, which wait while a batch holds it.
const BATCH: usize = 128;
/// How many on PostgreSQL, where acknowledgements do not wait for the batch, and
/// a larger batch (over more lanes) spends fewer statements per message.
const BATCH_PG: usize = 512;
/// Longest wait between passes when nothing wakes the worker.
const IDLE_POLL: Duration = Duration::from_millis(500);
/// How long a claim on inbox bodies lasts: a host that dies holding some leaves
/// them to another host (or to itself, restarted) after this.
const LEASE_MS: i64 = 60_000;
/// Bodies per lane, at least (bar the first).
const LANE_MIN: usize = 64;
/// Lanes per batch on PostgreSQL, unless configured.
pub const DEFAULT_LANES: usize = 4;

/// A key that is the same for every body whose first message or status concerns the
/// same contact: the first `"from"` (a message's sender), else the first
/// `"recipient_id"` (a status's), else the whole body. Found by scanning the bytes,
/// not by parsing: it only spreads bodies over lanes.
fn lane_key(body: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let value_of = |field: &[u8]| {
        let at = body.windows(field.len()).position(|w| w == field)? + field.len();
        let rest = &body[at..];
        let open = rest.iter().position(|b| *b == b'"')? + 1;
        let len = rest[open..].iter().position(|b| *b == b'"')?;
        Some(&rest[open..open + len])
    };
    let key = value_of(b"\"from\"")
        .or_else(|| value_of(b"\"recipient_id\""))
        .unwrap_or(body);
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    h.finish()
}

/// The inbound worker and what it needs.
#[derive(Debug, Clone)]
pub struct Pipeline {
    db: Db,
    /// This host's name on claims.
    host: Arc<str>,
    /// Lanes per batch (PostgreSQL).
    lanes: usize,
    plugins: Arc<PluginHost>,
    metrics: Arc<Metrics>,
    wake: Arc<Notify>,
    send_settings: Arc<crate::config::SendSettings>,
    /// Where the links of a responder's replies point (tracked links).
    public_url: Option<crate::config::PublicUrl>,
    outbox_wake: Option<Arc<Notify>>,
    sync_wake: Option<Arc<Notify>>,
    flow_wake: Option<Arc<Notify>>,
}

impl Pipeline {
    /// A pipeline over `db` running plugins from `plugins`.
    pub fn new(db: Db, plugins: Arc<PluginHost>, metrics: Arc<Metrics>) -> Pipeline {
        Pipeline {
            db,
            host: Arc::from(crate::instance::new_host_id()),
            lanes: DEFAULT_LANES,
            plugins,
            metrics,
            wake: Arc::new(Notify::new()),
            send_settings: Arc::new(crate::config::SendSettings::default()),
            public_url: None,
            outbox_wake: None,
            sync_wake: None,
            flow_wake: None,
        }
    }

    /// Wakes the outbox's sender after queueing a responder's replies.
    pub fn with_outbox_wake(mut self, wake: Arc<Notify>) -> Pipeline {
        self.outbox_wake = Some(wake);
        self
    }

    /// Claims work as `host` (one name per running host, see
    /// [`crate::instance::new_host_id`]) with `lanes` lanes per batch on PostgreSQL.
    pub fn with_host(mut self, host: &str, lanes: usize) -> Pipeline {
        self.host = Arc::from(host);
        self.lanes = lanes;
        self
    }

    /// Wakes the flow worker after queueing flow events.
    pub fn with_flow_wake(mut self, wake: Arc<Notify>) -> Pipeline {
        self.flow_wake = Some(wake);
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

    /// Tracks the links of a responder's replies through `public_url` (see
    /// [`crate::outbox::links`]).
    pub fn with_public_url(mut self, public_url: Option<crate::config::PublicUrl>) -> Pipeline {
        self.public_url = public_url;
        self
    }

    /// Tells the worker new bodies are waiting.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Runs the worker until the task is dropped.
    ///
    /// Each round claims up to [`BATCH`] ([`BATCH_PG`]) bodies for this host (other hosts on the
    /// same database claim others) and processes them in [`lanes`](Self::lanes):
    /// bodies of one contact stay in one lane, in inbox order, and lanes run side
    /// by side.
    pub async fn run(self) {
        loop {
            let items = match self.claim().await {
                Ok(items) => items,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the webhook inbox");
                    tokio::time::sleep(IDLE_POLL).await;
                    continue;
                }
            };
            if items.is_empty() {
                let _ = tokio::time::timeout(IDLE_POLL, self.wake.notified()).await;
                continue;
            }
            let mut lanes = tokio::task::JoinSet::new();
            for lane in self.lanes(items) {
                lanes.spawn(self.clone().process_lane(lane).in_current_span());
            }
            while lanes.join_next().await.is_some() {}
        }
    }

    /// Claims the next bodies for this host.
    async fn claim(&self) -> Result<Vec<scrm_store::inbox::InboxItem>, scrm_store::StoreError> {
        let host = self.host.clone();
        let limit = match self.db.dialect() {
            scrm_store::Dialect::Sqlite => BATCH,
            scrm_store::Dialect::Postgres => BATCH_PG,
        };
        self.db
            .write(move |c| {
                let now = now_ms();
                scrm_store::InboxRepo::claim(c, &host, now, now + LEASE_MS, limit)
            })
            .await
    }

    /// Splits a claimed batch into lanes by the first contact each body names, a
    /// lane per [`LANE_MIN`] bodies up to [`lanes`](Self::with_host). One lane on SQLite: its single writer gains nothing from parallel transactions,
    /// and one transaction per batch shares the fsync.
    fn lanes(
        &self,
        items: Vec<scrm_store::inbox::InboxItem>,
    ) -> Vec<Vec<scrm_store::inbox::InboxItem>> {
        // A lane per LANE_MIN bodies, up to the configured number: a small batch
        // in one transaction costs less than the same bodies spread over lanes.
        let n = match self.db.dialect() {
            scrm_store::Dialect::Sqlite => 1,
            scrm_store::Dialect::Postgres => (items.len() / LANE_MIN).clamp(1, self.lanes.max(1)),
        };
        let mut lanes: Vec<Vec<_>> = (0..n).map(|_| Vec::new()).collect();
        for item in items {
            let lane = lane_key(&item.body) % n as u64;
            lanes[lane as usize].push(item);
        }
        lanes.retain(|l| !l.is_empty());
        lanes
    }

    /// Processes one lane's bodies together; when that fails, one by one, so a body
    /// that cannot be processed only delays itself (retried after a backoff).
    async fn process_lane(self, items: Vec<scrm_store::inbox::InboxItem>) {
        let ids: Vec<i64> = items.iter().map(|i| i.id).collect();
        let span = tracing::info_span!("scrm.pipeline.batch", first = ids[0], size = ids.len());
        if self
            .process_batch(items.clone())
            .instrument(span)
            .await
            .is_ok()
        {
            return;
        }
        for item in items {
            let (id, attempts) = (item.id, item.attempts);
            let span = tracing::info_span!("scrm.pipeline.inbox", inbox_id = id);
            if let Err(e) = self.process_batch(vec![item]).instrument(span).await {
                tracing::warn!(inbox_id = id, error = %e, "processing failed; will retry");
                let reason = e.to_string();
                // 1 s, 2 s, 4 s … up to 5 min; no host claims it before then.
                let backoff = (1_000i64 << attempts.clamp(0, 9)).min(300_000);
                let _ = self
                    .db
                    .write(move |c| {
                        scrm_store::InboxRepo::mark_failed_attempt(
                            c,
                            id,
                            &reason,
                            now_ms() + backoff,
                        )
                    })
                    .await;
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
            let items = self.claim().await?;
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
