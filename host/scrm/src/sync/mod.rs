//! Two-way CRM sync: drives each tenant's mapper and connector plugins.
//!
//! **Host → CRM.** The pipeline queues a durable job for every stored message of a
//! tenant with a connector (in the transaction that records its classification). The
//! worker here writes the contact (created or updated), then the message as a note on
//! it, and a deal for a sales signal. Jobs are retried with back-off; a CRM that asks
//! to wait is waited for without counting an attempt; what cannot succeed goes to the
//! dead-letter list. The CRM's rate limit is kept per tenant by a token bucket.
//!
//! **CRM → host.** A scheduled pull of changes since the stored cursor, and CRM
//! webhooks (`POST /v1/crm/{tenant}/webhook`), both parsed by the connector. A change
//! whose CRM time equals that of the host's own last write is an echo and ignored.
//!
//! **Conflicts.** Each synced contact field has an agreed value, its time (Unix ms)
//! and the side that set it (`store::crm::FieldClock`). A differing value from either
//! side wins when it is newer (last writer wins, per field) and the overwrite is also
//! written to the review queue, where people accept it or revert it.

use crate::metrics::Metrics;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use scrm_engine::crm::{CrmCallError, CrmRecord};
use scrm_engine::{ActiveBinding, PluginHost};
use scrm_store::Store;
use scrm_store::crm::{self, CrmSettings, FieldClock, Job, Link, NewReview};
use scrm_store::{Db, StoreError, contacts, messages, now_ms};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

pub mod audit;
mod backfill;
mod conflicts;
mod dedupe;
mod facts;
pub(crate) use facts::{FREQUENCY_WINDOW_MS, facts_of};
mod pull;
mod queue;
mod retention;
mod reviews;

use conflicts::host_value;
use conflicts::{apply_one, reconcile_host_side};
use dedupe::{merge_contacts, record_purchases_and_find_duplicates};

/// Jobs one pass takes.
const BATCH: usize = 32;
/// Jobs running at once on PostgreSQL (one contact's jobs never run side by side).
const WORKERS: usize = 4;
/// Jobs of one tenant running at once on a host: a tenant whose CRM hangs holds
/// these slots only, never every worker.
const TENANT_WORKERS: usize = 2;
/// How long a claimed job stays this host's: longer than any CRM write takes.
const JOB_LEASE_MS: i64 = 120_000;
/// Longest sleep between passes.
const IDLE: Duration = Duration::from_secs(1);
/// A job that keeps failing with a temporary error goes to the dead-letter list once
/// it has failed this many times *and* has been queued for [`GIVE_UP_AFTER_MS`]: a
/// CRM that is down for hours loses nothing.
const MAX_ATTEMPTS: u32 = 20;
/// See [`MAX_ATTEMPTS`]: one day.
const GIVE_UP_AFTER_MS: i64 = 24 * 3600 * 1000;
/// Back-off base and cap, ms: a CRM that comes back is retried within a minute, and
/// the first success pulls the tenant's other waiting jobs forward.
const BACKOFF_BASE_MS: u64 = 1_000;
const BACKOFF_MAX_MS: u64 = 60_000;
/// How often the housekeeping runs.
const MAINTENANCE_EVERY_MS: i64 = 60_000;
/// Messages one purge transaction deletes.
const PURGE_CHUNK: usize = 1_000;
/// A day in ms.
const DAY_MS: i64 = 86_400_000;
/// Orders of the same SKU this close together count as the same purchase pattern.
const SAME_SKU_WINDOW_MS: i64 = 90 * DAY_MS;
/// Least name similarity (normalised Levenshtein) for a likely duplicate.
pub const MIN_NAME_SIMILARITY: f64 = 0.8;
/// Pages one pull reads at most before yielding.
const MAX_PULL_PAGES: usize = 20;

/// The contact fields the host keeps clocks for, as named in the review queue.
pub const HOST_FIELDS: [&str; 2] = ["name", "phone"];

/// Why a sync operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A plugin call failed.
    #[error(transparent)]
    Call(#[from] CrmCallError),
    /// The tenant has no mapper or connector installed.
    #[error("tenant {0:?} has no {1} plugin installed")]
    NotConfigured(String, &'static str),
    /// A blocking task died.
    #[error("sync task failed: {0}")]
    Task(String),
}

/// What applying CRM records did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Applied {
    /// Records read.
    pub records: usize,
    /// Echoes of the host's own writes, ignored.
    pub echoes: usize,
    /// Fields changed on host contacts.
    pub changed: usize,
    /// Differing values overwritten (each also in the review queue).
    pub conflicts: usize,
    /// Contacts created from CRM records.
    pub created: usize,
    /// Records that named no known contact and no usable phone, skipped (with a log
    /// line).
    pub skipped: usize,
    /// Records whose phone number could not be normalised (listed with the reason
    /// in the tenant's phone problems).
    pub phone_problems: usize,
    /// Replies written in the CRM queued to their customers.
    pub replies: usize,
    /// Replies written in the CRM not sent (the reason is logged).
    pub replies_refused: usize,
    /// Orders changed in the CRM, queued to the tenant's flows as `order` events.
    pub orders: usize,
}

/// A tenant's CRM rate limiter and the settings it was built from.
type TenantLimiter = (CrmSettings, Arc<DefaultDirectRateLimiter>);

/// The sync worker and what it needs; cheap to clone.
#[derive(Clone)]
pub struct SyncEngine {
    db: Db,
    plugins: Arc<PluginHost>,
    metrics: Arc<Metrics>,
    wake: Arc<Notify>,
    limiters: Arc<Mutex<HashMap<String, TenantLimiter>>>,
    last_pull: Arc<Mutex<HashMap<String, i64>>>,
    /// Tenants whose CRM asked to wait (or whose request budget is spent): until when.
    paused: Arc<Mutex<HashMap<String, i64>>>,
    /// This host's name on the jobs it claims.
    host: Arc<str>,
    /// What sends apply (limits, tracked links) and the outbox's wake-up, for
    /// replies written in the CRM.
    outbox: Option<(crate::outbox::SendDefaults, Arc<Notify>)>,
    /// When audits were last looked at, and when this host first saw each tenant
    /// without an audit (its first audit is due a day later).
    audits: Arc<Mutex<(i64, HashMap<String, i64>)>>,
}

tokio::task_local! {
    /// HTTP requests the running job's plugin calls sent (jobs run side by side).
    static JOB_REQUESTS: Arc<std::sync::atomic::AtomicU32>;
}

impl std::fmt::Debug for SyncEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncEngine").finish_non_exhaustive()
    }
}

/// The tags that make a message a sales signal (a deal on its contact).
pub const SALES_TAGS: [&str; 3] = ["sales-opportunity", "price-inquiry", "purchase-intent"];

/// The tags that make a message a service request (a case on its contact).
pub const SERVICE_TAGS: [&str; 2] = ["complaint", "order-problem"];

/// The signal job a message's tags call for: `case` for a service request (it
/// wins: a complaint that mentions a price is a complaint), `deal` for a sales
/// signal, none otherwise.
pub fn signal_kind(tags: &[String]) -> Option<&'static str> {
    let has = |set: &[&str]| tags.iter().any(|t| set.contains(&t.as_str()));
    if has(&SERVICE_TAGS) {
        Some("case")
    } else if has(&SALES_TAGS) {
        Some("deal")
    } else {
        None
    }
}

/// Queues the CRM writes for one stored message inside the caller's transaction:
/// the message as a note, and a deal or case when its tags carry a signal. Nothing
/// is queued when the tenant's sync is off.
///
/// # Errors
/// On database failure.
pub fn enqueue_message(
    conn: &dyn Store,
    tenant: &str,
    contact_id: i64,
    message_id: i64,
    tags: &[String],
) -> Result<usize, StoreError> {
    scrm_store::CrmRepo::enqueue_message(conn, tenant, contact_id, message_id, signal_kind(tags))
}

impl SyncEngine {
    /// An engine over `db` running plugins from `plugins`.
    pub fn new(db: Db, plugins: Arc<PluginHost>, metrics: Arc<Metrics>) -> SyncEngine {
        SyncEngine {
            db,
            plugins,
            metrics,
            wake: Arc::new(Notify::new()),
            limiters: Arc::default(),
            last_pull: Arc::default(),
            paused: Arc::default(),
            host: Arc::from(crate::instance::new_host_id()),
            outbox: None,
            audits: Arc::default(),
        }
    }

    /// Sends replies written in the CRM through the outbox (with `defaults` in
    /// force, waking it with `wake`); without it they are counted as refused.
    pub fn with_outbox(
        mut self,
        defaults: crate::outbox::SendDefaults,
        wake: Arc<Notify>,
    ) -> SyncEngine {
        self.outbox = Some((defaults, wake));
        self
    }

    /// Claims jobs as `host` (see [`crate::instance::new_host_id`]).
    pub fn with_host(mut self, host: &str) -> SyncEngine {
        self.host = Arc::from(host);
        self
    }

    /// Wakes the worker (new jobs were queued).
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Runs the worker until the task is dropped: due jobs, then due pulls, and once a
    /// minute the housekeeping (retention purge, unread-message rule).
    pub async fn run(self) {
        let mut last_maintenance = 0i64;
        // Pulls and housekeeping run on one host at a time; jobs on every host.
        let schedule =
            crate::singleton::Singleton::new(self.db.clone(), &self.host, "crm-schedule", 30_000);
        // Jobs run in the background: a job waiting on a slow CRM holds one slot
        // while the worker keeps starting other tenants' jobs.
        let mut pool = queue::Pool::default();
        loop {
            let scheduler = schedule.held().await;
            if scheduler && now_ms() - last_maintenance >= MAINTENANCE_EVERY_MS {
                last_maintenance = now_ms();
                if let Err(e) = self.maintain().await {
                    tracing::error!(error = %e, "CRM sync housekeeping failed");
                }
            }
            let started = match self.dispatch(&mut pool).await {
                Ok(n) => n,
                Err(e) => {
                    tracing::error!(error = %e, "CRM sync pass failed");
                    0
                }
            };
            if scheduler {
                self.pull_due().await;
                self.audit_due().await;
            }
            if started == 0 {
                pool.wait(&self.wake, IDLE).await;
            }
        }
    }

    /// The tenant's rate limiter, rebuilt when its settings change.
    pub(super) fn limiter(
        &self,
        tenant: &str,
        settings: &CrmSettings,
    ) -> Arc<DefaultDirectRateLimiter> {
        let mut map = self.limiters.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((s, l)) = map.get(tenant)
            && s == settings
        {
            return l.clone();
        }
        let burst = NonZeroU32::new(settings.rate_requests.max(1)).unwrap_or(NonZeroU32::MIN);
        let period = Duration::from_millis(
            u64::from(settings.rate_seconds) * 1000 / u64::from(settings.rate_requests.max(1)),
        )
        .max(Duration::from_micros(1));
        let quota = Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(burst))
            .allow_burst(burst);
        let limiter = Arc::new(RateLimiter::direct(quota));
        map.insert(tenant.to_string(), (settings.clone(), limiter.clone()));
        limiter
    }

    /// Holds every job of `tenant` until `until` (Unix ms).
    pub(super) fn pause(&self, tenant: &str, until: i64) {
        let mut p = self.paused.lock().unwrap_or_else(|p| p.into_inner());
        let at = p.entry(tenant.to_string()).or_insert(0);
        *at = (*at).max(until);
    }

    /// The tenant's mapper and connector, from one snapshot.
    pub(super) fn bindings(
        &self,
        tenant: &str,
    ) -> Result<(Arc<ActiveBinding>, Arc<ActiveBinding>), SyncError> {
        let snapshot = self.plugins.snapshot(tenant);
        let mapper = snapshot
            .mapper
            .clone()
            .ok_or_else(|| SyncError::NotConfigured(tenant.into(), "mapper"))?;
        let connector = snapshot
            .connector
            .clone()
            .ok_or_else(|| SyncError::NotConfigured(tenant.into(), "connector"))?;
        Ok((mapper, connector))
    }

    /// Runs a blocking plugin call off the async threads.
    pub(super) async fn blocking<R: Send + 'static>(
        &self,
        f: impl FnOnce(&PluginHost) -> Result<R, CrmCallError> + Send + 'static,
    ) -> Result<R, SyncError> {
        let host = self.plugins.clone();
        let (out, sent) = tokio::task::spawn_blocking(move || {
            scrm_engine::crm::take_requests();
            let out = f(&host);
            (out, scrm_engine::crm::take_requests())
        })
        .await
        .map_err(|e| SyncError::Task(e.to_string()))?;
        let _ = JOB_REQUESTS.try_with(|n| n.fetch_add(sent, std::sync::atomic::Ordering::Relaxed));
        out.map_err(SyncError::Call)
    }
}

impl Applied {
    fn add(&mut self, o: &Applied) {
        self.records += o.records;
        self.echoes += o.echoes;
        self.changed += o.changed;
        self.conflicts += o.conflicts;
        self.created += o.created;
        self.skipped += o.skipped;
        self.phone_problems += o.phone_problems;
        self.replies += o.replies;
        self.replies_refused += o.replies_refused;
        self.orders += o.orders;
    }
}

#[cfg(test)]
mod tests;
