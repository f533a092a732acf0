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
use scrm_store::crm::{self, CrmSettings, FieldClock, Job, Link, NewReview};
use scrm_store::{Db, StoreError, contacts, messages, now_ms};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// Jobs one pass takes.
const BATCH: usize = 32;
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
    /// Records that named no known contact and no phone, skipped (with a log line).
    pub skipped: usize,
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
    /// HTTP requests the current job's plugin calls sent.
    job_requests: Arc<std::sync::atomic::AtomicU32>,
}

impl std::fmt::Debug for SyncEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncEngine").finish_non_exhaustive()
    }
}

/// The tags that make a message a sales signal (a deal on its contact).
pub const SALES_TAGS: [&str; 3] = ["sales-opportunity", "price-inquiry", "purchase-intent"];

/// Queues the CRM writes for one stored message inside the caller's transaction:
/// the message as a note, and a deal when its tags carry a sales signal. Nothing is
/// queued when the tenant's sync is off.
///
/// # Errors
/// On database failure.
pub fn enqueue_message(
    conn: &rusqlite::Connection,
    tenant: &str,
    contact_id: i64,
    message_id: i64,
    tags: &[String],
) -> Result<usize, StoreError> {
    let deal = tags.iter().any(|t| SALES_TAGS.contains(&t.as_str()));
    crm::enqueue_message(conn, tenant, contact_id, message_id, deal)
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
            job_requests: Arc::default(),
        }
    }

    /// Wakes the worker (new jobs were queued).
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Runs the worker until the task is dropped: due jobs, then due pulls, and once a
    /// minute the housekeeping (retention purge, unread-message rule).
    pub async fn run(self) {
        let mut last_maintenance = 0i64;
        loop {
            if now_ms() - last_maintenance >= MAINTENANCE_EVERY_MS {
                last_maintenance = now_ms();
                if let Err(e) = self.maintain().await {
                    tracing::error!(error = %e, "CRM sync housekeeping failed");
                }
            }
            let worked = match self.run_due().await {
                Ok(n) => n,
                Err(e) => {
                    tracing::error!(error = %e, "CRM sync pass failed");
                    0
                }
            };
            self.pull_due().await;
            if worked == 0 {
                let _ = tokio::time::timeout(IDLE, self.wake.notified()).await;
            }
        }
    }

    /// Runs every job due now once; how many ran.
    ///
    /// # Errors
    /// On database failure.
    pub async fn run_due(&self) -> Result<usize, StoreError> {
        let jobs = self.db.read(|c| crm::due(c, now_ms(), BATCH)).await?;
        let n = jobs.len();
        for job in jobs {
            self.run_job(job).await?;
        }
        Ok(n)
    }

    /// Runs jobs until none is due now (for tools and tests); how many ran.
    ///
    /// # Errors
    /// On database failure.
    pub async fn drain(&self) -> Result<usize, StoreError> {
        let mut total = 0;
        loop {
            let n = self.run_due().await?;
            if n == 0 {
                return Ok(total);
            }
            total += n;
        }
    }

    /// The tenant's rate limiter, rebuilt when its settings change.
    fn limiter(&self, tenant: &str, settings: &CrmSettings) -> Arc<DefaultDirectRateLimiter> {
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

    async fn run_job(&self, job: Job) -> Result<(), StoreError> {
        let tenant = job.tenant.clone();
        let settings = self
            .db
            .read({
                let t = tenant.clone();
                move |c| crm::settings(c, &t)
            })
            .await?;
        // The whole tenant waits while its CRM asked to (or its budget is spent).
        let paused = self
            .paused
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&tenant)
            .copied()
            .filter(|until| *until > now_ms());
        if let Some(until) = paused {
            let id = job.id;
            return self
                .db
                .write(move |c| {
                    crm::retry(c, id, until, "the CRM asked to wait (rate limited)", false)
                })
                .await;
        }
        // A job takes one token to start, and after it the rest of the requests its
        // plugin calls sent (below); an empty bucket defers the job without counting an
        // attempt.
        let limiter = self.limiter(&tenant, &settings);
        if let Err(not_until) = limiter.check() {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            ));
            let due = now_ms() + wait.as_millis() as i64 + 1;
            let id = job.id;
            return self
                .db
                .write(move |c| crm::retry(c, id, due, "waiting for the CRM rate limit", false))
                .await;
        }
        let started = std::time::Instant::now();
        self.job_requests
            .store(0, std::sync::atomic::Ordering::Relaxed);
        let result = self.process(&job).await;
        let sent = self
            .job_requests
            .swap(0, std::sync::atomic::Ordering::Relaxed);
        if let Some(extra) = sent.checked_sub(1).and_then(NonZeroU32::new)
            && let Ok(Err(not_until)) = limiter.check_n(extra)
        {
            // Not enough left for what was just spent: the tenant waits until it is.
            let wait = not_until.wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            ));
            self.pause(&tenant, now_ms() + wait.as_millis() as i64);
        }
        let kind = job.kind.clone();
        let outcome = match &result {
            Ok(_) => "ok",
            Err(SyncError::Call(e)) if e.retryable() => "retry",
            Err(_) => "failed",
        };
        self.metrics
            .crm_jobs
            .get_or_create(&crate::metrics::CrmJobLabels {
                tenant: tenant.clone(),
                kind: kind.clone(),
                result: outcome.into(),
            })
            .inc();
        self.metrics
            .crm_latency
            .get_or_create(&crate::metrics::CrmLatencyLabels {
                tenant: tenant.clone(),
                kind,
            })
            .observe(started.elapsed().as_secs_f64());
        let id = job.id;
        let attempts = job.attempts + 1;
        let give_up = attempts >= MAX_ATTEMPTS && now_ms() - job.created_at > GIVE_UP_AFTER_MS;
        match result {
            Ok(written) => {
                let t = tenant.clone();
                let recovered = job.attempts > 0;
                let woke = self
                    .db
                    .write(move |c| {
                        let tx = c.transaction()?;
                        if let Some((object, local_id, link)) = &written {
                            crm::set_link(&tx, &t, object, *local_id, link)?;
                        }
                        crm::finish(&tx, id)?;
                        // A write that failed before went through: the CRM answers
                        // again, so what was backing off goes now.
                        let woke = if recovered {
                            crm::retry_waiting_now(&tx, &t)?
                        } else {
                            0
                        };
                        tx.commit()?;
                        Ok(woke)
                    })
                    .await?;
                if woke > 0 {
                    tracing::info!(tenant = %tenant, jobs = woke, "CRM reachable again; retrying waiting writes now");
                }
                Ok(())
            }
            Err(SyncError::Call(CrmCallError::RateLimited(secs))) => {
                let due = now_ms() + i64::from(secs.max(1)) * 1000;
                self.pause(&tenant, due);
                self.db
                    .write(move |c| {
                        crm::retry(c, id, due, "the CRM asked to wait (rate limited)", false)
                    })
                    .await
            }
            Err(SyncError::Call(e)) if e.retryable() && !give_up => {
                let reason = format!("{}: {e}", e.code());
                tracing::warn!(tenant = %tenant, job = id, attempts, error = %reason, "CRM write failed; will retry");
                let due = now_ms()
                    + crate::backoff::backoff_ms(
                        BACKOFF_BASE_MS,
                        BACKOFF_MAX_MS,
                        i64::from(attempts),
                    );
                self.db
                    .write(move |c| crm::retry(c, id, due, &reason, true))
                    .await
            }
            Err(SyncError::Store(e)) => Err(e),
            Err(e) => {
                let reason = match &e {
                    SyncError::Call(c) => format!("{}: {c}", c.code()),
                    other => other.to_string(),
                };
                tracing::warn!(tenant = %tenant, job = id, error = %reason, "CRM write dead-lettered");
                self.db.write(move |c| crm::kill(c, id, &reason)).await
            }
        }
    }

    /// Holds every job of `tenant` until `until` (Unix ms).
    fn pause(&self, tenant: &str, until: i64) {
        let mut p = self.paused.lock().unwrap_or_else(|p| p.into_inner());
        let at = p.entry(tenant.to_string()).or_insert(0);
        *at = (*at).max(until);
    }

    /// The tenant's mapper and connector, from one snapshot.
    fn bindings(
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
    async fn blocking<R: Send + 'static>(
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
        self.job_requests
            .fetch_add(sent, std::sync::atomic::Ordering::Relaxed);
        out.map_err(SyncError::Call)
    }

    /// Runs one job; the link to record for what it wrote (recorded together with the
    /// job's completion, in one transaction).
    async fn process(&self, job: &Job) -> Result<Option<(&'static str, i64, Link)>, SyncError> {
        let (mapper, connector) = self.bindings(&job.tenant)?;
        // A contact merged into another is the other one in the CRM.
        let t = job.tenant.clone();
        let job_contact = job.contact_id;
        let target = self
            .db
            .read(move |c| Ok(contacts::get(c, &t, job_contact)?.and_then(|k| k.merged_into)))
            .await?
            .unwrap_or(job.contact_id);
        let crm_contact = self
            .sync_contact(&job.tenant, target, &mapper, &connector)
            .await?;
        let Some(message_id) = job.message_id else {
            return Ok(None);
        };
        let tenant = job.tenant.clone();
        let contact_id = job.contact_id;
        let object = if job.kind == "deal" { "deal" } else { "note" };
        let (message, contact, linked) = self
            .db
            .read(move |c| {
                Ok((
                    messages::get(c, &tenant, message_id)?,
                    contacts::get(c, &tenant, contact_id)?,
                    crm::link(c, &tenant, object, message_id)?,
                ))
            })
            .await?;
        let (Some(message), Some(contact)) = (message, contact) else {
            // Purged by retention before it was written: nothing left to write.
            return Ok(None);
        };
        if linked.is_some() {
            // Written before (a retry after the CRM answered): never twice.
            return Ok(None);
        }
        if message.kind == "order" && object == "note" {
            let t = job.tenant.clone();
            let m = message.clone();
            let merged = self
                .db
                .write(move |c| {
                    let tx = c.transaction()?;
                    let merged = record_purchases_and_find_duplicates(&tx, &t, &m)?;
                    tx.commit()?;
                    Ok(merged)
                })
                .await?;
            if let Some(keep) = merged {
                // Merged into another contact: the CRM hears of the survivor.
                self.sync_contact(&job.tenant, keep, &mapper, &connector)
                    .await?;
            }
        }
        let pushed = if object == "deal" {
            let conv_id = message.conversation_id;
            let tenant = job.tenant.clone();
            let conv = self
                .db
                .read(move |c| conversation_facts(c, &tenant, conv_id))
                .await?;
            let (m, k) = (mapper.clone(), connector.clone());
            let crm_id = crm_contact.clone();
            self.blocking(move |h| {
                let mut rec = crate::slots::map_conversation(h, &m, &conv, &contact)?;
                rec.fields.push(("message".into(), json!(message.text)));
                h.push_deal(&k, &crm_id, &rec)
            })
            .await?
        } else {
            let (m, k) = (mapper.clone(), connector.clone());
            let crm_id = crm_contact.clone();
            self.blocking(move |h| {
                let rec = crate::slots::map_message(h, &m, &message, &contact)?;
                h.push_note(&k, &crm_id, &rec)
            })
            .await?
        };
        Ok(Some((
            object,
            message_id,
            Link {
                crm_id: pushed.id,
                crm_updated_at: pushed.updated_at,
                synced_at: 0,
            },
        )))
    }

    /// Writes the contact to the CRM when it is new there or changed since; its CRM
    /// id. Field clocks decide which side's differing value wins.
    async fn sync_contact(
        &self,
        tenant: &str,
        contact_id: i64,
        mapper: &Arc<ActiveBinding>,
        connector: &Arc<ActiveBinding>,
    ) -> Result<String, SyncError> {
        let t = tenant.to_string();
        // Read first; write (and fsync) only when the host side changed a clocked field.
        let read = self
            .db
            .read(move |c| {
                let Some(contact) = contacts::get(c, &t, contact_id)? else {
                    return Err(StoreError::Task(format!("contact {contact_id} is gone")));
                };
                let link = crm::link(c, &t, "contact", contact_id)?;
                let clocks = crm::fields(c, &t, contact_id)?;
                Ok((contact, link, clocks))
            })
            .await?;
        let in_step = HOST_FIELDS.iter().all(|f| {
            let host = host_value(&read.0, f);
            match read.2.iter().find(|(n, _)| n == f) {
                Some((_, k)) => k.value == host || host.is_null(),
                None => host.is_null(),
            }
        });
        let (contact, link, clocks) = if in_step {
            read
        } else {
            let t = tenant.to_string();
            self.db
                .write(move |c| {
                    let tx = c.transaction()?;
                    let Some(contact) = contacts::get(&tx, &t, contact_id)? else {
                        return Err(StoreError::Task(format!("contact {contact_id} is gone")));
                    };
                    let link = crm::link(&tx, &t, "contact", contact_id)?;
                    let contact = reconcile_host_side(&tx, &t, contact)?;
                    let clocks = crm::fields(&tx, &t, contact_id)?;
                    tx.commit()?;
                    Ok((contact, link, clocks))
                })
                .await?
        };
        // Unchanged since the last write: nothing to send.
        if let Some(link) = &link
            && clocks.iter().all(|(_, k)| k.changed_at <= link.synced_at)
            && contact.updated_at <= link.synced_at
        {
            return Ok(link.crm_id.clone());
        }
        let (m, k) = (mapper.clone(), connector.clone());
        let known = link.as_ref().map(|l| l.crm_id.clone());
        let extra: Vec<(String, Value)> = clocks
            .into_iter()
            .filter(|(f, _)| !HOST_FIELDS.contains(&f.as_str()))
            .map(|(f, k)| (f, k.value))
            .collect();
        let pushed = self
            .blocking(move |h| {
                let mut rec = crate::slots::map_contact(h, &m, &contact)?;
                rec.id = known;
                // Fields the CRM set that the host keeps (e.g. customer level) travel back
                // as they are, so a write never blanks them.
                for (f, v) in extra {
                    if rec.field(&f).is_none() {
                        rec.fields.push((f, v));
                    }
                }
                h.push_contact(&k, &rec)
            })
            .await?;
        let t = tenant.to_string();
        let id = pushed.id.clone();
        self.db
            .write(move |c| {
                crm::set_link(
                    c,
                    &t,
                    "contact",
                    contact_id,
                    &Link {
                        crm_id: pushed.id,
                        // Our own write's time: a change reported with it is an echo.
                        crm_updated_at: pushed.updated_at.or(Some(now_ms())),
                        synced_at: 0,
                    },
                )
            })
            .await?;
        Ok(id)
    }

    /// Pulls changes for every tenant whose pull is due.
    async fn pull_due(&self) {
        let tenants = match self
            .db
            .read(|c| {
                let mut stmt = c.prepare_cached(
                    "SELECT tenant_id FROM plugin_slots WHERE slot = 'connector' ORDER BY tenant_id",
                )?;
                let rows = stmt
                    .query_map([], |r| r.get::<_, String>(0))?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .await
        {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "cannot list tenants to pull");
                return;
            }
        };
        let now = now_ms();
        for tenant in tenants {
            let t = tenant.clone();
            let Ok(settings) = self.db.read(move |c| crm::settings(c, &t)).await else {
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

    /// Pulls the tenant's CRM changes since its cursor now and applies them.
    ///
    /// # Errors
    /// [`SyncError`]; the cursor only advances past applied pages.
    pub async fn pull(&self, tenant: &str) -> Result<Applied, SyncError> {
        let (mapper, connector) = self.bindings(tenant)?;
        let mut total = Applied::default();
        for _ in 0..MAX_PULL_PAGES {
            let t = tenant.to_string();
            let cursor = self.db.read(move |c| crm::cursor(c, &t)).await?;
            let k = connector.clone();
            let changes = self.blocking(move |h| h.pull_changes(&k, &cursor)).await?;
            let applied = self.apply(tenant, &mapper, changes.records).await?;
            let t = tenant.to_string();
            let next = changes.next_cursor.clone();
            self.db
                .write(move |c| crm::set_cursor(c, &t, &next))
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
    async fn apply(
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
            let m = mapper.clone();
            let rec = record.clone();
            let changes = self.blocking(move |h| h.map_from_crm(&m, &rec)).await?;
            let t = tenant.to_string();
            let updated_at = record.updated_at;
            let outcome = self
                .db
                .write(move |c| {
                    let tx = c.transaction()?;
                    let out = apply_one(&tx, &t, &crm_id, updated_at, &changes)?;
                    tx.commit()?;
                    Ok(out)
                })
                .await?;
            applied.add(&outcome);
        }
        if applied.conflicts > 0 {
            self.wake.notify_one();
        }
        Ok(applied)
    }

    /// Housekeeping: purges chat history older than each tenant's retention, and
    /// applies the unread-message rule of tenants with a connector. Returns how many
    /// messages were purged.
    ///
    /// # Errors
    /// On database failure.
    pub async fn maintain(&self) -> Result<usize, StoreError> {
        let purged = self
            .db
            .write(|c| {
                let tenants: Vec<String> = c
                    .prepare_cached("SELECT id FROM tenants ORDER BY id")?
                    .query_map([], |r| r.get(0))?
                    .collect::<Result<_, _>>()?;
                let mut total = 0;
                for t in tenants {
                    let settings = crm::settings(c, &t)?;
                    let before = now_ms() - i64::from(settings.retention_days) * DAY_MS;
                    loop {
                        let tx = c.transaction()?;
                        let n = crm::purge_before(&tx, &t, before, PURGE_CHUNK)?;
                        tx.commit()?;
                        total += n;
                        if n < PURGE_CHUNK {
                            break;
                        }
                    }
                }
                Ok(total)
            })
            .await?;
        if purged > 0 {
            tracing::info!(messages = purged, "purged chat history past its retention");
        }
        let flagged = self
            .db
            .write(|c| {
                let tx = c.transaction()?;
                let n = unread_rule(&tx)?;
                tx.commit()?;
                Ok(n)
            })
            .await?;
        if flagged > 0 {
            self.wake.notify_one();
        }
        Ok(purged)
    }

    /// Queues the chat history of the last `days` days for the CRM (notes, oldest
    /// first, behind live writes); `(newly queued, messages in range)`.
    ///
    /// # Errors
    /// On database failure.
    pub async fn backfill(&self, tenant: &str, days: u32) -> Result<(usize, usize), StoreError> {
        let t = tenant.to_string();
        let out = self
            .db
            .write(move |c| {
                let settings = crm::settings(c, &t)?;
                let since = now_ms() - i64::from(days) * DAY_MS;
                crm::enqueue_backfill(c, &t, since, crm::due_at(&settings, now_ms()))
            })
            .await?;
        self.wake.notify_one();
        Ok(out)
    }

    /// Closes a review entry: `accept` keeps the winner; `revert` restores the value
    /// that lost (on the host, and on the CRM through a queued contact write).
    ///
    /// # Errors
    /// On database failure; `Ok(None)` when the tenant has no such open entry.
    pub async fn resolve_review(
        &self,
        tenant: &str,
        id: i64,
        revert: bool,
    ) -> Result<Option<Result<crm::Review, String>>, StoreError> {
        let t = tenant.to_string();
        let out = self
            .db
            .write(move |c| {
                let tx = c.transaction()?;
                let Some(review) = crm::review(&tx, &t, id)? else {
                    return Ok(None);
                };
                if review.state != "open" {
                    return Ok(Some(Err(format!(
                        "review {id} is already {}",
                        review.state
                    ))));
                }
                if review.kind == "duplicate" {
                    // Accept merges the two contacts; revert records that they are
                    // different people (never proposed again).
                    if !revert {
                        let other = review.detail["other_contact_id"].as_i64().unwrap_or(0);
                        merge_contacts(
                            &tx,
                            &t,
                            review.contact_id.min(other),
                            review.contact_id.max(other),
                        )?;
                    }
                    crm::resolve_review(&tx, id, if revert { "reverted" } else { "accepted" })?;
                } else if revert {
                    if let (Some(field), Some(lost)) = (&review.field, &review.lost) {
                        let clock = FieldClock {
                            value: lost.clone(),
                            changed_at: now_ms(),
                            source: "review".into(),
                        };
                        crm::set_field(&tx, &t, review.contact_id, field, &clock)?;
                        if field == "name" {
                            crm::set_contact_name(&tx, review.contact_id, lost.as_str())?;
                        }
                        crm::enqueue_contact(&tx, &t, review.contact_id)?;
                    }
                    crm::resolve_review(&tx, id, "reverted")?;
                } else {
                    crm::resolve_review(&tx, id, "accepted")?;
                }
                let out = crm::review(&tx, &t, id)?;
                tx.commit()?;
                Ok(out.map(Ok))
            })
            .await?;
        self.wake.notify_one();
        Ok(out)
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
    }
}

fn conversation_facts(
    c: &rusqlite::Connection,
    tenant: &str,
    conversation_id: i64,
) -> Result<scrm_engine::crm::ConversationFacts, StoreError> {
    let (phone_number_id, last_message_at, last_inbound_at) = c.query_row(
        "SELECT phone_number_id, last_message_at, last_inbound_at FROM conversations
         WHERE tenant_id = ?1 AND id = ?2",
        rusqlite::params![tenant, conversation_id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    let mut stmt = c.prepare_cached(
        "SELECT DISTINCT t.tag FROM message_tags t JOIN messages m ON m.id = t.message_id
         WHERE m.conversation_id = ?1 ORDER BY t.tag",
    )?;
    let tags = stmt
        .query_map([conversation_id], |r| r.get(0))?
        .collect::<Result<Vec<String>, _>>()?;
    Ok(scrm_engine::crm::ConversationFacts {
        id: conversation_id,
        phone_number_id,
        last_message_at,
        last_inbound_at,
        tags,
    })
}

/// The host's current value of a clocked field.
fn host_value(contact: &contacts::Contact, field: &str) -> Value {
    match field {
        "name" => json!(contact.name),
        "phone" => json!(contact.phone),
        _ => Value::Null,
    }
}

/// Brings the field clocks up to date with host-side changes (a new WhatsApp profile
/// name, a number change) before a write to the CRM. A host value that differs from
/// the agreed one wins when the contact changed after the agreed value was set;
/// otherwise the agreed (CRM) value is put back on the contact. Either way a differing
/// value that is overwritten goes to the review queue.
fn reconcile_host_side(
    tx: &rusqlite::Connection,
    tenant: &str,
    mut contact: contacts::Contact,
) -> Result<contacts::Contact, StoreError> {
    let clocks: HashMap<String, FieldClock> =
        crm::fields(tx, tenant, contact.id)?.into_iter().collect();
    for field in HOST_FIELDS {
        let host = host_value(&contact, field);
        match clocks.get(field) {
            None => {
                if !host.is_null() {
                    crm::set_field(
                        tx,
                        tenant,
                        contact.id,
                        field,
                        &FieldClock {
                            value: host,
                            changed_at: contact.updated_at,
                            source: "whatsapp".into(),
                        },
                    )?;
                }
            }
            Some(agreed) if agreed.value == host || host.is_null() => {}
            Some(agreed) if contact.updated_at > agreed.changed_at => {
                crm::review_conflict(
                    tx,
                    tenant,
                    contact.id,
                    field,
                    (&host, "whatsapp", contact.updated_at),
                    (&agreed.value, &agreed.source, agreed.changed_at),
                    json!({"rule": "last writer wins"}),
                )?;
                crm::set_field(
                    tx,
                    tenant,
                    contact.id,
                    field,
                    &FieldClock {
                        value: host,
                        changed_at: contact.updated_at,
                        source: "whatsapp".into(),
                    },
                )?;
            }
            Some(agreed) => {
                crm::review_conflict(
                    tx,
                    tenant,
                    contact.id,
                    field,
                    (&agreed.value, &agreed.source, agreed.changed_at),
                    (&host, "whatsapp", contact.updated_at),
                    json!({"rule": "last writer wins"}),
                )?;
                if field == "name" {
                    crm::set_contact_name(tx, contact.id, agreed.value.as_str())?;
                    contact.name = agreed.value.as_str().map(str::to_owned);
                }
            }
        }
    }
    Ok(contact)
}

/// Applies one CRM record's changes to the host (inside the caller's transaction).
fn apply_one(
    tx: &rusqlite::Connection,
    tenant: &str,
    crm_id: &str,
    updated_at: Option<i64>,
    changes: &scrm_engine::crm::ContactChanges,
) -> Result<Applied, StoreError> {
    let mut out = Applied {
        records: 0,
        ..Applied::default()
    };
    let at = updated_at.unwrap_or_else(now_ms);
    let mut echo = false;
    let phone = changes
        .phone
        .as_deref()
        .and_then(|p| scrm_wire::phone::to_e164(p, None));
    let contact_id = match crm::local_for(tx, tenant, "contact", crm_id)? {
        Some((id, link)) => {
            // The CRM's time of the host's own last write: an echo, unless a value
            // differs (a sales edit within the same tick of a coarse CRM clock).
            echo = updated_at.is_some() && link.crm_updated_at == updated_at;
            id
        }
        None => {
            // A CRM contact the host has not linked: match it by phone, or create it.
            let Some(phone) = phone.clone() else {
                tracing::info!(
                    tenant,
                    crm_id,
                    "CRM record without a known contact or a phone; skipped"
                );
                out.skipped += 1;
                return Ok(out);
            };
            let existing: Option<i64> = tx
                .query_row(
                    "SELECT id FROM contacts WHERE tenant_id = ?1 AND phone_e164 = ?2",
                    rusqlite::params![tenant, phone],
                    |r| r.get(0),
                )
                .optional_row()?;
            let id = match existing {
                Some(id) => id,
                None => {
                    let c = contacts::upsert(
                        tx,
                        tenant,
                        &contacts::ContactFacts {
                            wa_id: Some(phone.trim_start_matches('+').to_string()),
                            user_id: None,
                            phone: Some(phone.clone()),
                            name: changes.name.clone(),
                        },
                    )?;
                    out.created += 1;
                    c.id
                }
            };
            crm::set_link(
                tx,
                tenant,
                "contact",
                id,
                &Link {
                    crm_id: crm_id.to_string(),
                    crm_updated_at: updated_at,
                    synced_at: 0,
                },
            )?;
            id
        }
    };
    let Some(contact) = contacts::get(tx, tenant, contact_id)? else {
        out.skipped += 1;
        return Ok(out);
    };
    let clocks: HashMap<String, FieldClock> =
        crm::fields(tx, tenant, contact_id)?.into_iter().collect();
    let mut incoming: Vec<(String, Value)> = Vec::new();
    if let Some(name) = &changes.name {
        incoming.push(("name".into(), json!(name)));
    }
    if let Some(p) = &phone {
        incoming.push(("phone".into(), json!(p)));
    }
    incoming.extend(changes.fields.iter().cloned());
    if echo
        && incoming
            .iter()
            .all(|(field, value)| match clocks.get(field) {
                Some(k) => k.value == *value,
                None => {
                    host_value(&contact, field) == *value || !HOST_FIELDS.contains(&field.as_str())
                }
            })
    {
        out.echoes += 1;
        return Ok(out);
    }
    for (field, value) in incoming {
        let current = match clocks.get(&field) {
            Some(k) => Some(k.clone()),
            None if HOST_FIELDS.contains(&field.as_str()) => {
                let v = host_value(&contact, &field);
                (!v.is_null()).then(|| FieldClock {
                    value: v,
                    changed_at: contact.updated_at,
                    source: "whatsapp".into(),
                })
            }
            None => None,
        };
        let incoming_clock = FieldClock {
            value: value.clone(),
            changed_at: at,
            source: "crm".into(),
        };
        match current {
            Some(k) if k.value == value => {}
            Some(k) if at > k.changed_at => {
                crm::review_conflict(
                    tx,
                    tenant,
                    contact_id,
                    &field,
                    (&value, "crm", at),
                    (&k.value, &k.source, k.changed_at),
                    json!({"rule": "last writer wins", "crm_id": crm_id}),
                )?;
                out.conflicts += 1;
                set_host_field(tx, tenant, contact_id, &field, &incoming_clock)?;
                out.changed += 1;
            }
            Some(k) => {
                // The host's value is newer: keep it, record the refused value, and
                // write the host's value back to the CRM.
                crm::review_conflict(
                    tx,
                    tenant,
                    contact_id,
                    &field,
                    (&k.value, &k.source, k.changed_at),
                    (&value, "crm", at),
                    json!({"rule": "last writer wins", "crm_id": crm_id}),
                )?;
                out.conflicts += 1;
                crm::enqueue_contact(tx, tenant, contact_id)?;
            }
            None => {
                set_host_field(tx, tenant, contact_id, &field, &incoming_clock)?;
                out.changed += 1;
            }
        }
    }
    Ok(out)
}

/// The unread-message rule: every business message still not read `unread_hours`
/// after it was sent (and sent within the last week, so old history does not fire)
/// sets the contact's `priority` to the tenant's `unread_priority` and queues a
/// contact write; each message fires once. How many fired.
fn unread_rule(tx: &rusqlite::Connection) -> Result<usize, StoreError> {
    let now = now_ms();
    let rows: Vec<(i64, String, i64, String)> = tx
        .prepare_cached(
            "SELECT m.id, m.tenant_id, m.contact_id, coalesce(s.unread_priority, 'low')
             FROM messages m LEFT JOIN crm_settings s ON s.tenant_id = m.tenant_id
             WHERE m.direction = 'outbound' AND coalesce(s.unread_hours, 24) > 0
               AND coalesce(s.mode, 'realtime') != 'off'
               AND m.status IN ('accepted', 'sent', 'delivered')
               AND m.timestamp < ?1 - coalesce(s.unread_hours, 24) * 3600000
               AND m.timestamp > ?1 - 7 * 86400000
               AND EXISTS (SELECT 1 FROM plugin_slots b WHERE b.tenant_id = m.tenant_id
                           AND b.slot = 'connector')
               AND NOT EXISTS (SELECT 1 FROM crm_unread_flags f WHERE f.message_id = m.id)
             LIMIT 1000",
        )?
        .query_map([now], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<Result<_, _>>()?;
    for (message_id, tenant, contact_id, priority) in &rows {
        tx.execute(
            "INSERT INTO crm_unread_flags (message_id, flagged_at) VALUES (?1, ?2)",
            rusqlite::params![message_id, now],
        )?;
        crm::set_field(
            tx,
            tenant,
            *contact_id,
            "priority",
            &FieldClock {
                value: json!(priority),
                changed_at: now,
                source: "whatsapp".into(),
            },
        )?;
        crm::enqueue_contact(tx, tenant, *contact_id)?;
    }
    Ok(rows.len())
}

/// A name for comparison: lowercase letters and digits, single spaces.
fn comparable_name(name: &str) -> String {
    name.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

/// After an order message (its SKUs are recorded when it is stored), looks for the
/// same person writing from another number: a contact who bought one of the same SKUs within 90 days and
/// whose name is at least [`MIN_NAME_SIMILARITY`] alike (normalised Levenshtein).
/// At or above the tenant's `merge_confidence` the two are merged at once (the
/// older contact absorbs the newer one; its id is returned); below it the pair is
/// proposed in the review queue, once.
fn record_purchases_and_find_duplicates(
    tx: &rusqlite::Connection,
    tenant: &str,
    message: &messages::Message,
) -> Result<Option<i64>, StoreError> {
    let Some(me) = contacts::get(tx, tenant, message.contact_id)? else {
        return Ok(None);
    };
    let Some(my_name) = me
        .name
        .as_deref()
        .map(comparable_name)
        .filter(|n| !n.is_empty())
    else {
        return Ok(None);
    };
    let candidates: Vec<(i64, Option<String>, String)> = tx
        .prepare_cached(
            "SELECT DISTINCT c.id, c.name, p2.sku FROM contact_purchases p1
             JOIN contact_purchases p2 ON p2.tenant_id = p1.tenant_id AND p2.sku = p1.sku
                  AND p2.contact_id != p1.contact_id AND abs(p2.at - p1.at) <= ?3
             JOIN contacts c ON c.id = p2.contact_id AND c.merged_into IS NULL
             WHERE p1.tenant_id = ?1 AND p1.contact_id = ?2
             ORDER BY c.id",
        )?
        .query_map(rusqlite::params![tenant, me.id, SAME_SKU_WINDOW_MS], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect::<Result<_, _>>()?;
    let settings = crm::settings(tx, tenant)?;
    let mut by_contact: std::collections::BTreeMap<i64, (Option<String>, Vec<String>)> =
        std::collections::BTreeMap::new();
    for (id, name, sku) in candidates {
        by_contact
            .entry(id)
            .or_insert((name, Vec::new()))
            .1
            .push(sku);
    }
    for (other, (name, shared)) in by_contact {
        let Some(other_name) = name.as_deref().map(comparable_name) else {
            continue;
        };
        let similarity = strsim::normalized_levenshtein(&my_name, &other_name);
        if similarity < MIN_NAME_SIMILARITY {
            continue;
        }
        let (keep, absorb) = (me.id.min(other), me.id.max(other));
        let seen: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM crm_reviews WHERE tenant_id = ?1 AND kind = 'duplicate'
                 AND ((contact_id = ?2 AND json_extract(detail, '$.other_contact_id') = ?3)
                   OR (contact_id = ?3 AND json_extract(detail, '$.other_contact_id') = ?2)))",
            rusqlite::params![tenant, keep, absorb],
            |r| r.get(0),
        )?;
        if seen {
            continue;
        }
        let automatic = similarity >= settings.merge_confidence;
        let detail = json!({
            "other_contact_id": absorb,
            "similarity": (similarity * 1000.0).round() / 1000.0,
            "shared_skus": shared,
            "names": [me.name, name],
            "rule": "name similarity ≥ 0.8 and the same SKU within 90 days",
        });
        let review = crm::add_review(
            tx,
            tenant,
            &NewReview {
                kind: "duplicate",
                contact_id: keep,
                field: None,
                kept: None,
                lost: None,
                detail,
            },
        )?;
        if automatic {
            merge_contacts(tx, tenant, keep, absorb)?;
            crm::resolve_review(tx, review, "accepted")?;
            return Ok(Some(keep));
        }
    }
    Ok(None)
}

/// Merges contact `absorb` into `keep`: both keep every conversation and message (a
/// conversation is one customer number with one business number, so they stay
/// where they are), `absorb` points at `keep`, later CRM writes for `absorb`'s
/// messages go to `keep`'s CRM record, and `keep` is written to the CRM again.
fn merge_contacts(
    tx: &rusqlite::Connection,
    tenant: &str,
    keep: i64,
    absorb: i64,
) -> Result<(), StoreError> {
    if keep == absorb {
        return Ok(());
    }
    tx.execute(
        "UPDATE contacts SET merged_into = ?2, updated_at = ?3 WHERE id = ?1 AND tenant_id = ?4",
        rusqlite::params![absorb, keep, now_ms(), tenant],
    )?;
    // Contacts merged into the absorbed one follow it.
    tx.execute(
        "UPDATE contacts SET merged_into = ?2 WHERE merged_into = ?1 AND tenant_id = ?3",
        rusqlite::params![absorb, keep, tenant],
    )?;
    tx.execute(
        "UPDATE contacts SET updated_at = ?2 WHERE id = ?1",
        rusqlite::params![keep, now_ms()],
    )?;
    crm::enqueue_contact(tx, tenant, keep)?;
    tracing::info!(tenant, keep, absorb, "merged duplicate contacts");
    Ok(())
}

/// Sets a field from the CRM on the host: the clock, and the contact's own column
/// for the name.
fn set_host_field(
    tx: &rusqlite::Connection,
    tenant: &str,
    contact_id: i64,
    field: &str,
    clock: &FieldClock,
) -> Result<(), StoreError> {
    crm::set_field(tx, tenant, contact_id, field, clock)?;
    if field == "name" {
        crm::set_contact_name(tx, contact_id, clock.value.as_str())?;
        // The CRM's write is the newest: stamp the contact with its time so the next
        // host-side reconcile does not mistake it for a WhatsApp change.
        tx.execute(
            "UPDATE contacts SET updated_at = max(updated_at, ?2) WHERE id = ?1",
            rusqlite::params![contact_id, clock.changed_at],
        )?;
    }
    Ok(())
}

trait OptionalRow<T> {
    fn optional_row(self) -> Result<Option<T>, StoreError>;
}

impl<T> OptionalRow<T> for rusqlite::Result<T> {
    fn optional_row(self) -> Result<Option<T>, StoreError> {
        use rusqlite::OptionalExtension;
        Ok(self.optional()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scrm_store::messages::{NewInbound, insert_inbound};
    use scrm_store::tenants;

    struct Fixture {
        _dir: tempfile::TempDir,
        db: Db,
    }

    /// A store with tenant `acme` syncing (a mapper and a connector in its slots).
    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("t.db")).unwrap();
        db.write_blocking(|c| {
            scrm_store::apps::insert(c, "app", "secret", "verify")?;
            tenants::insert(
                c,
                &tenants::NewTenant {
                    id: "acme".into(),
                    app_id: "app".into(),
                    phone_number_ids: vec!["100".into()],
                    default_region: "IT".into(),
                },
            )?;
            for slot in ["mapper", "connector"] {
                c.execute(
                    "INSERT INTO plugin_slots (tenant_id, slot, active_version, updated_at)
                     VALUES ('acme', ?1, 1, 0)",
                    [slot],
                )?;
            }
            Ok(())
        })
        .unwrap();
        Fixture { _dir: dir, db }
    }

    impl Fixture {
        fn contact(&self, wa_id: &str, name: &str) -> i64 {
            self.db
                .write_blocking(|c| {
                    let facts = contacts::ContactFacts {
                        wa_id: Some(wa_id.into()),
                        user_id: None,
                        phone: Some(format!("+{wa_id}")),
                        name: Some(name.into()),
                    };
                    Ok(contacts::upsert(c, "acme", &facts)?.id)
                })
                .unwrap()
        }

        /// A message from `contact` at `at` (Unix ms); its id.
        fn message(&self, contact: i64, wamid: &str, kind: &str, at: i64, raw: Value) -> i64 {
            self.db
                .write_blocking(|c| {
                    Ok(insert_inbound(
                        c,
                        &NewInbound {
                            tenant: "acme",
                            contact_id: contact,
                            phone_number_id: "100",
                            wamid,
                            kind,
                            timestamp: at,
                            text: Some("hi"),
                            content: &json!({"type": kind}),
                            context: &json!({}),
                            raw: &raw,
                            errors: None,
                            inbox_id: 1,
                        },
                    )?
                    .message_id)
                })
                .unwrap()
        }

        fn order(&self, contact: i64, wamid: &str, at: i64, sku: &str) -> i64 {
            let raw = json!({"id": wamid, "type": "order", "order": {"catalog_id": "c",
                "product_items": [{"product_retailer_id": sku, "quantity": 1,
                                   "item_price": 10.0, "currency": "EUR"}]}});
            self.message(contact, wamid, "order", at, raw)
        }

        fn duplicates(&self, message_id: i64) -> Option<i64> {
            self.db
                .write_blocking(|c| {
                    let m = messages::get(c, "acme", message_id)?.unwrap();
                    record_purchases_and_find_duplicates(c, "acme", &m)
                })
                .unwrap()
        }

        fn reviews(&self) -> Vec<crm::Review> {
            self.db
                .read_blocking(|c| {
                    Ok(crm::list_reviews(
                        c,
                        "acme",
                        None,
                        scrm_store::page::PageRequest::new(None, None),
                    )?
                    .items)
                })
                .unwrap()
        }
    }

    #[test]
    fn names_compare_without_case_or_punctuation() {
        assert_eq!(
            comparable_name("  Mario  ROSSI-Bianchi!"),
            "mario rossi bianchi"
        );
        assert!(strsim::normalized_levenshtein("mario rossi", "mario rosi") >= MIN_NAME_SIMILARITY);
        assert!(strsim::normalized_levenshtein("mario rossi", "anna verdi") < MIN_NAME_SIMILARITY);
    }

    #[test]
    fn same_sku_and_a_similar_name_is_proposed_below_the_confidence_and_merged_above() {
        let f = fixture();
        let now = now_ms();
        let a = f.contact("393470000001", "Mario Rossi");
        let b = f.contact("393470000002", "Mario Rosi");
        let c = f.contact("393470000003", "Anna Verdi");
        f.order(a, "w1", now - 10 * DAY_MS, "SKU-1");
        // A different person who bought the same SKU is not a duplicate.
        let m = f.order(c, "w2", now - 5 * DAY_MS, "SKU-1");
        assert_eq!(f.duplicates(m), None);
        assert!(f.reviews().is_empty());
        // 0.9 similar: under the default 0.95 confidence, proposed once.
        let m = f.order(b, "w3", now, "SKU-1");
        assert_eq!(f.duplicates(m), None);
        let reviews = f.reviews();
        assert_eq!(reviews.len(), 1, "{reviews:?}");
        assert_eq!(reviews[0].kind, "duplicate");
        assert_eq!(reviews[0].contact_id, a);
        assert_eq!(reviews[0].detail["other_contact_id"], b);
        assert_eq!(reviews[0].detail["shared_skus"], json!(["SKU-1"]));
        assert_eq!(f.duplicates(m), None, "proposed only once");
        assert_eq!(f.reviews().len(), 1);

        // With the confidence lowered, a new pair is merged at once; both keep their
        // messages and the survivor is queued for the CRM.
        f.db.write_blocking(|c| {
            let s = CrmSettings {
                merge_confidence: 0.8,
                ..CrmSettings::default()
            };
            crm::put_settings(c, "acme", &s)
        })
        .unwrap();
        let d = f.contact("393470000004", "Anna Verdí");
        let m = f.order(d, "w4", now, "SKU-1");
        assert_eq!(f.duplicates(m), Some(c));
        let (merged, jobs, messages_of_d) =
            f.db.read_blocking(|conn| {
                Ok((
                    contacts::get(conn, "acme", d)?.unwrap().merged_into,
                    crm::list_jobs(
                        conn,
                        "acme",
                        Some("queued"),
                        scrm_store::page::PageRequest::new(None, None),
                    )?
                    .items,
                    conn.query_row(
                        "SELECT count(*) FROM messages WHERE contact_id = ?1",
                        [d],
                        |r| r.get::<_, i64>(0),
                    )?,
                ))
            })
            .unwrap();
        assert_eq!(merged, Some(c));
        assert_eq!(messages_of_d, 1, "the merged contact keeps its messages");
        assert!(
            jobs.iter()
                .any(|j| j.kind == "contact" && j.contact_id == c),
            "{jobs:?}"
        );
        assert_eq!(f.reviews().last().unwrap().state, "accepted");
    }

    #[test]
    fn orders_more_than_90_days_apart_are_not_evidence() {
        let f = fixture();
        let now = now_ms();
        let a = f.contact("393470000001", "Mario Rossi");
        let b = f.contact("393470000002", "Mario Rossi");
        f.order(a, "w1", now - 120 * DAY_MS, "SKU-1");
        let m = f.order(b, "w2", now, "SKU-1");
        assert_eq!(f.duplicates(m), None);
        assert!(f.reviews().is_empty());
    }

    #[test]
    fn retention_purges_only_what_is_older_than_the_setting() {
        let f = fixture();
        let now = now_ms();
        let a = f.contact("393470000001", "Mario");
        let old = f.message(a, "old", "text", now - 181 * DAY_MS, json!({"id": "old"}));
        let kept = f.message(a, "kept", "text", now - 179 * DAY_MS, json!({"id": "kept"}));
        // Sent long ago but stored today (a replay): kept its full retention.
        let replayed = f.message(
            a,
            "replayed",
            "text",
            now - 400 * DAY_MS,
            json!({"id": "r"}),
        );
        f.db.write_blocking(|c| {
            c.execute(
                "UPDATE messages SET created_at = ?2 WHERE id = ?1",
                [old, now - 181 * DAY_MS],
            )?;
            Ok(())
        })
        .unwrap();
        f.db.write_blocking(|c| {
            crate::sync::enqueue_message(c, "acme", a, old, &[])?;
            c.execute(
                "INSERT INTO message_tags (message_id, tag) VALUES (?1, 'x')",
                [old],
            )?;
            Ok(())
        })
        .unwrap();
        let n =
            f.db.write_blocking(|c| crm::purge_before(c, "acme", now - 180 * DAY_MS, 1000))
                .unwrap();
        assert_eq!(n, 1);
        let (left, jobs) =
            f.db.read_blocking(|c| {
                Ok((
                    c.query_row("SELECT group_concat(id) FROM messages", [], |r| {
                        r.get::<_, String>(0)
                    })?,
                    c.query_row("SELECT count(*) FROM crm_jobs", [], |r| r.get::<_, i64>(0))?,
                ))
            })
            .unwrap();
        assert_eq!(left, format!("{kept},{replayed}"));
        assert_eq!(jobs, 0);
    }

    #[test]
    fn a_business_message_unread_for_a_day_lowers_the_priority_once() {
        let f = fixture();
        let now = now_ms();
        let a = f.contact("393470000001", "Mario");
        let m = f.message(a, "out", "text", now - 25 * 3_600_000, json!({"id": "out"}));
        let fresh = f.message(a, "fresh", "text", now - 3_600_000, json!({"id": "fresh"}));
        f.db.write_blocking(|c| {
            c.execute(
                "UPDATE messages SET direction = 'outbound', status = 'delivered' WHERE id IN (?1, ?2)",
                [m, fresh],
            )?;
            Ok(())
        })
        .unwrap();
        assert_eq!(f.db.write_blocking(|c| unread_rule(c)).unwrap(), 1);
        assert_eq!(
            f.db.write_blocking(|c| unread_rule(c)).unwrap(),
            0,
            "fires once"
        );
        let (fields, jobs) =
            f.db.read_blocking(|c| {
                Ok((
                    crm::fields(c, "acme", a)?,
                    crm::list_jobs(
                        c,
                        "acme",
                        None,
                        scrm_store::page::PageRequest::new(None, None),
                    )?
                    .items,
                ))
            })
            .unwrap();
        assert_eq!(fields[0].0, "priority");
        assert_eq!(fields[0].1.value, json!("low"));
        assert!(jobs.iter().any(|j| j.kind == "contact"));
        // Read messages never fire.
        let r = f.message(
            a,
            "read",
            "text",
            now - 30 * 3_600_000,
            json!({"id": "read"}),
        );
        f.db.write_blocking(|c| {
            c.execute(
                "UPDATE messages SET direction = 'outbound', status = 'read' WHERE id = ?1",
                [r],
            )?;
            Ok(())
        })
        .unwrap();
        assert_eq!(f.db.write_blocking(|c| unread_rule(c)).unwrap(), 0);
    }

    #[test]
    fn backfill_queues_each_message_once_behind_live_jobs() {
        let f = fixture();
        let now = now_ms();
        let a = f.contact("393470000001", "Mario");
        f.message(a, "m1", "text", now - 10 * DAY_MS, json!({"id": "m1"}));
        f.message(a, "m2", "text", now - 200 * DAY_MS, json!({"id": "m2"}));
        let live = f.message(a, "m3", "text", now, json!({"id": "m3"}));
        f.db.write_blocking(|c| crate::sync::enqueue_message(c, "acme", a, live, &[]))
            .unwrap();
        let since = now - 180 * DAY_MS;
        let first =
            f.db.write_blocking(|c| crm::enqueue_backfill(c, "acme", since, 0))
                .unwrap();
        assert_eq!(
            first,
            (1, 2),
            "m1 queued; m3 already was; m2 is out of range"
        );
        let again =
            f.db.write_blocking(|c| crm::enqueue_backfill(c, "acme", since, 0))
                .unwrap();
        assert_eq!(again, (0, 2));
        let due =
            f.db.read_blocking(|c| crm::due(c, now_ms() + 1_000, 10))
                .unwrap();
        assert_eq!(due.len(), 2);
        assert_eq!(due[0].message_id, Some(live), "live first");
    }
}
