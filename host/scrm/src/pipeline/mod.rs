//! The inbound pipeline: works off the webhook inbox, one stored body at a time.
//!
//! For each body: every entry, change, message and status is routed by
//! `phone_number_id` to its tenant; the sender becomes a contact; the message is
//! stored once (idempotent on its wamid); the tenant's classifier runs on it and its
//! tags are stored. Statuses are stored; anything the host does not model is kept
//! raw and counted. A body is marked done only when all of that is committed, so a
//! crash at any point is recovered by processing it again.

mod calls;
mod changes;
mod claimer;
mod inbound;
mod lane;
mod plugins;
mod store;

pub(crate) use changes::edited_message;
pub(crate) use store::sender_facts;

use crate::metrics::Metrics;
use scrm_engine::PluginHost;
use scrm_store::Db;
use scrm_store::inbox::InboxItem;
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

/// How far below the rest of the host the pipeline's threads run: their nice value
/// on Linux. When the CPU is short, acknowledging webhooks (durable in the inbox)
/// goes first and the backlog is worked off with what is left; at nice 5 the
/// pipeline still gets about a quarter of a busy CPU.
pub const NICE: i32 = 5;

/// Lowers the calling thread to [`NICE`] (where the system allows it).
pub(crate) fn lower_priority() {
    use thread_priority::{ThreadPriority, ThreadPriorityValue, set_current_thread_priority};
    // thread-priority maps its 0..=99 onto nice 19..=-20.
    let value = (99.0 * (1.0 - f64::from(NICE + 20) / 39.0)).floor() as u8;
    let lowered = ThreadPriorityValue::try_from(value)
        .map_err(|e| e.to_string())
        .and_then(|v| {
            set_current_thread_priority(ThreadPriority::Crossplatform(v)).map_err(|e| e.to_string())
        });
    if let Err(e) = lowered {
        tracing::debug!(error = %e, "cannot lower the pipeline thread's priority");
    }
}

/// Threads running plugins unless configured: one per core.
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
}

/// The inbound worker and what it needs.
#[derive(Debug, Clone)]
pub struct Pipeline {
    db: Db,
    /// This host's name on claims.
    host: Arc<str>,
    /// Lanes per batch (PostgreSQL).
    lanes: usize,
    /// Threads running plugins.
    workers: usize,
    plugins: Arc<PluginHost>,
    metrics: Arc<Metrics>,
    wake: Arc<Notify>,
    send_settings: Arc<crate::config::SendSettings>,
    /// Where the links of a responder's replies point (tracked links).
    public_url: Option<crate::config::PublicUrl>,
    outbox_wake: Option<Arc<Notify>>,
    sync_wake: Option<Arc<Notify>>,
    flow_wake: Option<Arc<Notify>>,
    /// The inbox's writer, which marks bodies done when the inbox is apart.
    inbox: Option<scrm_store::inbox::Appender>,
}

impl Pipeline {
    /// A pipeline over `db` running plugins from `plugins`.
    pub fn new(db: Db, plugins: Arc<PluginHost>, metrics: Arc<Metrics>) -> Pipeline {
        Pipeline {
            db,
            host: Arc::from(crate::instance::new_host_id()),
            lanes: DEFAULT_LANES,
            workers: default_workers(),
            plugins,
            metrics,
            wake: Arc::new(Notify::new()),
            send_settings: Arc::new(crate::config::SendSettings::default()),
            public_url: None,
            outbox_wake: None,
            sync_wake: None,
            flow_wake: None,
            inbox: None,
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

    /// Runs plugins on `workers` threads (at least one).
    pub fn with_plugin_workers(mut self, workers: usize) -> Pipeline {
        self.workers = workers.max(1);
        self
    }

    /// Marks processed bodies done through `inbox` (the webhooks' appender) when
    /// the inbox has a writer of its own: after the batch's commit, in the inbox's
    /// next group commit, so processing never holds the acknowledgements' writer.
    pub fn with_inbox(mut self, inbox: scrm_store::inbox::Appender) -> Pipeline {
        self.inbox = Some(inbox);
        self
    }

    /// The inbox's own writer, when bodies are marked done through it (see
    /// [`scrm_store::Db::inbox_apart`]).
    fn inbox_apart(&self) -> Option<&scrm_store::inbox::Appender> {
        self.inbox.as_ref().filter(|_| self.db.inbox_apart())
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
    /// A claimer takes up to [`BATCH`] ([`BATCH_PG`]) bodies at a time for this
    /// host (other hosts on the same database claim others) and splits them over
    /// the [lanes](Self::with_host) by contact; each lane stores, classifies and
    /// records its batches with one commit each (see [`lane`]), its plugins running
    /// on the [`PluginPool`](plugins::PluginPool)'s threads.
    pub async fn run(self) {
        let lanes = match self.db.dialect() {
            // One writer: lanes would only take turns with it.
            scrm_store::Dialect::Sqlite => 1,
            scrm_store::Dialect::Postgres => self.lanes.max(1),
        };
        let pool = Arc::new(plugins::PluginPool::start(
            self.plugins.clone(),
            self.workers,
            tokio::runtime::Handle::current(),
        ));
        let tracker = Arc::new(claimer::Tracker::default());
        let mut tasks = tokio::task::JoinSet::new();
        let mut senders = Vec::new();
        for _ in 0..lanes {
            // One batch waiting per lane: the claimer stays a batch ahead.
            let (tx, rx) = tokio::sync::mpsc::channel(1);
            senders.push(tx);
            let lane = lane::run(self.clone(), rx, pool.clone(), tracker.clone());
            tasks.spawn(lane.in_current_span());
        }
        drop(pool);
        tasks.spawn(claimer::run(self.clone(), senders, tracker).in_current_span());
        while tasks.join_next().await.is_some() {}
    }

    /// Runs the worker on a runtime of its own whose threads run at [`NICE`] (see
    /// [`lower_priority`]), until this future is dropped.
    pub async fn run_apart(self) {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (done, finished) = tokio::sync::oneshot::channel::<()>();
        let lanes = self.lanes.max(1);
        let started = std::thread::Builder::new()
            .name("scrm-pipeline".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(lanes.min(2))
                    .thread_name("scrm-pipeline")
                    .on_thread_start(lower_priority)
                    .enable_all()
                    .build();
                match rt {
                    Ok(rt) => {
                        rt.block_on(async {
                            tokio::select! {
                                () = self.run() => {}
                                _ = stopped => {}
                            }
                        });
                        rt.shutdown_background();
                    }
                    Err(e) => tracing::error!(error = %e, "cannot start the pipeline's runtime"),
                }
                let _ = done.send(());
            });
        if let Err(e) = started {
            tracing::error!(error = %e, "cannot start the pipeline's thread");
            return;
        }
        // Dropping this future drops `stop`, which ends the pipeline.
        let _stop = stop;
        let _ = finished.await;
    }

    /// Processes bodies one at a time, so a body that cannot be processed only
    /// delays itself: it is retried after a backoff.
    async fn one_by_one(&self, items: Vec<InboxItem>) {
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
}

#[cfg(test)]
mod tests {
    /// A thread's nice value, from `/proc` (Linux).
    fn nice_of_this_thread() -> Option<i32> {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
        // Fields after the command's closing parenthesis; nice is field 19.
        let rest = &stat[stat.rfind(')')? + 2..];
        rest.split(' ').nth(16)?.parse().ok()
    }

    #[test]
    fn pipeline_threads_run_at_the_nice_value_set() {
        let seen = std::thread::spawn(|| {
            let before = nice_of_this_thread();
            super::lower_priority();
            (before, nice_of_this_thread())
        })
        .join()
        .unwrap();
        match seen {
            (Some(0), Some(after)) => assert_eq!(after, super::NICE),
            (Some(before), _) if before != 0 => {
                eprintln!("SKIPPED: the tests already run at nice {before}");
            }
            _ => eprintln!("SKIPPED: no /proc/thread-self here"),
        }
        // The caller's thread is not touched.
        if let (Some(here), (Some(before), _)) = (nice_of_this_thread(), seen) {
            assert_eq!(here, before);
        }
    }
}
