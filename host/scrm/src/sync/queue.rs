//! Host → CRM: the worker that takes due jobs, writes the contact, then the message
//! as a note (or a deal), with back-off, dead letters and the CRM's rate limit.

use super::*;
use scrm_engine::crm::{Pushed, SignalKind, WriteKey};

/// What a job wrote: the link of the host record, and for a deal or case the
/// contact and key of the open record it now is.
pub(super) struct Written {
    object: &'static str,
    local_id: i64,
    link: Link,
    /// For a deal or case: its contact, key, and what was written (JSON).
    open: Option<(i64, String, String)>,
}

/// The jobs running on this host's worker, and how many of each tenant.
#[derive(Default)]
pub(super) struct Pool {
    tasks: tokio::task::JoinSet<Result<(), StoreError>>,
    /// Each running task's tenant.
    tenants: HashMap<tokio::task::Id, String>,
    per_tenant: HashMap<String, usize>,
}

type Finished = Result<(tokio::task::Id, Result<(), StoreError>), tokio::task::JoinError>;

impl Pool {
    fn start(
        &mut self,
        tenant: String,
        job: impl std::future::Future<Output = Result<(), StoreError>> + Send + 'static,
    ) {
        *self.per_tenant.entry(tenant.clone()).or_default() += 1;
        let id = self.tasks.spawn(job).id();
        self.tenants.insert(id, tenant);
    }

    fn running(&self, tenant: &str) -> usize {
        self.per_tenant.get(tenant).copied().unwrap_or(0)
    }

    fn finished(&mut self, done: Finished) {
        let id = match &done {
            Ok((id, _)) => *id,
            Err(e) => e.id(),
        };
        let tenant = self.tenants.remove(&id).unwrap_or_default();
        match done {
            Ok((_, Err(e))) => {
                tracing::error!(tenant = %tenant, error = %e, "CRM job could not be recorded");
            }
            // Its claim lapses and a later pass runs the job again.
            Err(e) => tracing::error!(tenant = %tenant, error = %e, "a CRM job task failed"),
            Ok((_, Ok(()))) => {}
        }
        if let Some(n) = self.per_tenant.get_mut(&tenant) {
            *n -= 1;
            if *n == 0 {
                self.per_tenant.remove(&tenant);
            }
        }
    }

    /// Waits until a job finishes, the worker is woken, or `idle` passes.
    pub(super) async fn wait(&mut self, wake: &Notify, idle: Duration) {
        if self.tasks.is_empty() {
            let _ = tokio::time::timeout(idle, wake.notified()).await;
            return;
        }
        tokio::select! {
            done = self.tasks.join_next_with_id() => {
                if let Some(done) = done {
                    self.finished(done);
                }
            }
            () = wake.notified() => {}
            () = tokio::time::sleep(idle) => {}
        }
    }
}

impl SyncEngine {
    /// Reaps finished jobs, then claims due jobs into the free slots and starts them
    /// without waiting for them: at most [`WORKERS`] at once, [`TENANT_WORKERS`] of
    /// one tenant. How many it started.
    ///
    /// # Errors
    /// On database failure.
    pub(super) async fn dispatch(&self, pool: &mut Pool) -> Result<usize, StoreError> {
        while let Some(done) = pool.tasks.try_join_next_with_id() {
            pool.finished(done);
        }
        let free = WORKERS.saturating_sub(pool.tasks.len());
        if free == 0 {
            return Ok(0);
        }
        let full: Vec<String> = pool
            .per_tenant
            .iter()
            .filter(|(_, n)| **n >= TENANT_WORKERS)
            .map(|(t, _)| t.clone())
            .collect();
        let host = self.host.clone();
        let jobs = self
            .db
            .write(move |c| {
                let now = now_ms();
                scrm_store::CrmRepo::claim(c, &host, now, now + JOB_LEASE_MS, free, &full)
            })
            .await?;
        let mut started = 0;
        let mut spare = Vec::new();
        for job in jobs {
            if pool.running(&job.tenant) >= TENANT_WORKERS {
                spare.push(job.id);
                continue;
            }
            let this = self.clone();
            pool.start(job.tenant.clone(), async move { this.run_job(job).await });
            started += 1;
        }
        if !spare.is_empty() {
            // Beyond the tenant's share this round: back for any host to take.
            self.db
                .write(move |c| scrm_store::CrmRepo::unclaim(c, &spare))
                .await?;
        }
        Ok(started)
    }

    /// Runs every job due now once; how many ran.
    ///
    /// # Errors
    /// On database failure.
    pub async fn run_due(&self) -> Result<usize, StoreError> {
        let host = self.host.clone();
        let jobs = self
            .db
            .write(move |c| {
                let now = now_ms();
                scrm_store::CrmRepo::claim(c, &host, now, now + JOB_LEASE_MS, BATCH, &[])
            })
            .await?;
        let n = jobs.len();
        // At most one job per contact is claimed at a time, so jobs run side by side
        // without reordering any contact's writes. One at a time on SQLite, as its
        // single writer would serialise them anyway.
        let workers = match self.db.dialect() {
            scrm_store::Dialect::Sqlite => 1,
            scrm_store::Dialect::Postgres => WORKERS,
        };
        let mut running = tokio::task::JoinSet::new();
        let mut first_error = None;
        for job in jobs {
            if running.len() >= workers
                && let Some(Ok(Err(e))) = running.join_next().await
            {
                first_error.get_or_insert(e);
            }
            let this = self.clone();
            running.spawn(async move { this.run_job(job).await });
        }
        while let Some(done) = running.join_next().await {
            if let Ok(Err(e)) = done {
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(n),
        }
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

    pub(super) async fn run_job(&self, job: Job) -> Result<(), StoreError> {
        let tenant = job.tenant.clone();
        let settings = self
            .db
            .read({
                let t = tenant.clone();
                move |c| scrm_store::CrmRepo::settings(c, &t)
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
                    scrm_store::CrmRepo::retry(
                        c,
                        id,
                        until,
                        "the CRM asked to wait (rate limited)",
                        false,
                    )
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
                .write(move |c| {
                    scrm_store::CrmRepo::retry(c, id, due, "waiting for the CRM rate limit", false)
                })
                .await;
        }
        let started = std::time::Instant::now();
        let requests = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let result = JOB_REQUESTS
            .scope(requests.clone(), self.process(&job))
            .await;
        let sent = requests.load(std::sync::atomic::Ordering::Relaxed);
        if let Some(extra) = sent.checked_sub(1).and_then(NonZeroU32::new)
            && let Ok(Err(not_until)) = limiter.check_n(extra)
        {
            // Not enough left for what was just spent: the tenant waits until it is.
            let wait = not_until.wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            ));
            self.pause(&tenant, now_ms() + wait.as_millis() as i64);
        }
        self.count_job(&job, &result, started.elapsed());
        self.settle(&job, result).await
    }

    /// Counts a finished job in the metrics by its outcome.
    fn count_job(
        &self,
        job: &Job,
        result: &Result<Option<Written>, SyncError>,
        elapsed: std::time::Duration,
    ) {
        let (tenant, kind) = (job.tenant.clone(), job.kind.clone());
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
            .observe(elapsed.as_secs_f64());
    }

    /// Records a job's outcome: done (with its link), back off, wait for the CRM, or
    /// dead-letter.
    async fn settle(
        &self,
        job: &Job,
        result: Result<Option<Written>, SyncError>,
    ) -> Result<(), StoreError> {
        let (id, tenant) = (job.id, job.tenant.clone());
        let attempts = job.attempts + 1;
        let give_up = attempts >= MAX_ATTEMPTS && now_ms() - job.created_at > GIVE_UP_AFTER_MS;
        match result {
            Ok(written) => {
                let t = tenant.clone();
                let recovered = job.attempts > 0;
                let woke = self
                    .db
                    .write(move |c| {
                        scrm_store::transaction(c, |tx| {
                            if let Some(w) = &written {
                                scrm_store::CrmRepo::set_link(
                                    tx, &t, w.object, w.local_id, &w.link,
                                )?;
                                if let Some((contact, key, written)) = &w.open {
                                    scrm_store::CrmRepo::set_open_deal(
                                        tx,
                                        &t,
                                        *contact,
                                        w.object,
                                        key,
                                        &w.link.crm_id,
                                        Some(written),
                                    )?;
                                }
                            }
                            scrm_store::CrmRepo::finish(tx, id)?;
                            // A write that failed before went through: the CRM answers
                            // again, so what was backing off goes now.
                            let woke = if recovered {
                                scrm_store::CrmRepo::retry_waiting_now(tx, &t)?
                            } else {
                                0
                            };
                            Ok(woke)
                        })
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
                        scrm_store::CrmRepo::retry(
                            c,
                            id,
                            due,
                            "the CRM asked to wait (rate limited)",
                            false,
                        )
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
                    .write(move |c| scrm_store::CrmRepo::retry(c, id, due, &reason, true))
                    .await
            }
            Err(SyncError::Store(e)) => Err(e),
            Err(e) => {
                let reason = match &e {
                    SyncError::Call(c) => format!("{}: {c}", c.code()),
                    other => other.to_string(),
                };
                tracing::warn!(tenant = %tenant, job = id, error = %reason, "CRM write dead-lettered");
                // Required fields the mapper could not fill go in the mapping log.
                let skipped = match &e {
                    SyncError::Call(CrmCallError::Unmapped(fields)) => fields.clone(),
                    _ => Vec::new(),
                };
                self.db
                    .write(move |c| {
                        scrm_store::transaction(c, |tx| {
                            scrm_store::CrmRepo::log_mapping(
                                tx,
                                &tenant,
                                now_ms(),
                                "skipped",
                                &skipped,
                            )?;
                            scrm_store::CrmRepo::kill(tx, id, &reason)?;
                            crate::event_hooks::emit(
                                tx,
                                &tenant,
                                "crm.sync_failed",
                                &id.to_string(),
                                serde_json::json!({"job_id": id, "error": reason}),
                            )
                        })
                    })
                    .await
            }
        }
    }

    /// Runs one job; what to record for what it wrote (recorded together with the
    /// job's completion, in one transaction).
    pub(super) async fn process(&self, job: &Job) -> Result<Option<Written>, SyncError> {
        let (mapper, connector) = self.bindings(&job.tenant)?;
        // A contact merged into another is the other one in the CRM.
        let t = job.tenant.clone();
        let job_contact = job.contact_id;
        let target = self
            .db
            .read(move |c| {
                Ok(scrm_store::ContactRepo::get(c, &t, job_contact)?.and_then(|k| k.merged_into))
            })
            .await?
            .unwrap_or(job.contact_id);
        let Some(message_id) = job.message_id else {
            self.sync_contact(&job.tenant, target, &mapper, &connector)
                .await?;
            return Ok(None);
        };
        let tenant = job.tenant.clone();
        let contact_id = job.contact_id;
        let object: &'static str = match job.kind.as_str() {
            "deal" => "deal",
            "case" => "case",
            _ => "note",
        };
        let (message, contact, linked) = self
            .db
            .read(move |c| {
                Ok((
                    scrm_store::MessageRepo::get(c, &tenant, message_id)?,
                    scrm_store::ContactRepo::get(c, &tenant, contact_id)?,
                    scrm_store::CrmRepo::link(c, &tenant, object, message_id)?,
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
        let bindings = (&mapper, &connector);
        let pushed = if object == "note" {
            self.write_note(job, target, bindings, message, contact)
                .await?
        } else {
            match self
                .write_signal(job, target, bindings, object, message, contact)
                .await?
            {
                Some(p) => p,
                None => return Ok(None),
            }
        };
        Ok(Some(Written {
            object,
            local_id: message_id,
            link: Link {
                crm_id: pushed.0.id,
                crm_updated_at: pushed.0.updated_at,
                synced_at: 0,
                record_hash: None,
            },
            open: pushed.1,
        }))
    }

    /// Writes a message as a note on its contact (after the contact).
    async fn write_note(
        &self,
        job: &Job,
        target: i64,
        (mapper, connector): (&Arc<ActiveBinding>, &Arc<ActiveBinding>),
        message: scrm_store::messages::Message,
        contact: scrm_store::contacts::Contact,
    ) -> Result<(Pushed, Option<(i64, String, String)>), SyncError> {
        let tenant = job.tenant.as_str();
        // A note is mapped before the contact is written: what the mapper learns from
        // the message (its emojis) is part of the contact record it then makes.
        let (m, msg, who) = (mapper.clone(), message.clone(), contact.clone());
        let note = self
            .blocking(move |h| crate::slots::map_message(h, &m, &msg, &who))
            .await?;
        let crm_contact = self.sync_contact(tenant, target, mapper, connector).await?;
        if message.kind == "order" {
            let t = tenant.to_string();
            let m = message.clone();
            let merged = self
                .db
                .write(move |c| {
                    scrm_store::transaction(c, |tx| {
                        record_purchases_and_find_duplicates(tx, &t, &m)
                    })
                })
                .await?;
            if let Some(keep) = merged {
                // Merged into another contact: the CRM hears of the survivor.
                self.sync_contact(tenant, keep, mapper, connector).await?;
            }
        }
        let k = connector.clone();
        let write = WriteKey {
            key: message.wamid.clone(),
            retried: retried(job),
        };
        let pushed = self
            .blocking(move |h| h.push_note(&k, &crm_contact, &write, &note))
            .await?;
        Ok((pushed, None))
    }

    /// Opens or updates the deal or case (`object`) a signal message calls for: the
    /// open one of the contact with the mapper's key when there is one. None when
    /// the mapper writes nothing for such signals.
    async fn write_signal(
        &self,
        job: &Job,
        target: i64,
        (mapper, connector): (&Arc<ActiveBinding>, &Arc<ActiveBinding>),
        object: &'static str,
        message: scrm_store::messages::Message,
        contact: scrm_store::contacts::Contact,
    ) -> Result<Option<(Pushed, Option<(i64, String, String)>)>, SyncError> {
        let tenant = job.tenant.as_str();
        let conv_id = message.conversation_id;
        let t = tenant.to_string();
        let conv = self
            .db
            .read(move |c| scrm_store::ConversationRepo::summary(c, &t, conv_id))
            .await?;
        let kind = if object == "case" {
            SignalKind::Service
        } else {
            SignalKind::Sales
        };
        let m = mapper.clone();
        let Some(keyed) = self
            .blocking(move |h| crate::slots::map_signal(h, &m, &conv, &contact, kind, &message))
            .await?
        else {
            return Ok(None);
        };
        let crm_contact = self.sync_contact(tenant, target, mapper, connector).await?;
        // The host's key names one record of this contact in the CRM.
        let write = WriteKey {
            key: format!("scrm:{target}:{object}:{}", keyed.key),
            retried: retried(job),
        };
        let (t, k2) = (tenant.to_string(), keyed.key.clone());
        let open = self
            .db
            .read(move |c| scrm_store::CrmRepo::open_deal(c, &t, target, object, &k2))
            .await?;
        let mut rec = keyed.record;
        rec.id = rec.id.or(open);
        // What the audit will compare later: the key fields as written.
        let written: serde_json::Map<String, Value> = rec
            .fields
            .iter()
            .filter(|(f, v)| ["name", "amount", "stage"].contains(&f.as_str()) && !v.is_null())
            .map(|(f, v)| (f.clone(), v.clone()))
            .collect();
        let written = Value::Object(written).to_string();
        let k = connector.clone();
        let pushed = self
            .blocking(move |h| h.push_deal(&k, &crm_contact, &write, &rec))
            .await?;
        Ok(Some((pushed, Some((target, keyed.key, written)))))
    }

    /// Writes the contact to the CRM when it is new there or changed since; its CRM
    /// id. Field clocks decide which side's differing value wins.
    pub(super) async fn sync_contact(
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
                let Some(contact) = scrm_store::ContactRepo::get(c, &t, contact_id)? else {
                    return Err(StoreError::Task(format!("contact {contact_id} is gone")));
                };
                let link = scrm_store::CrmRepo::link(c, &t, "contact", contact_id)?;
                let clocks = scrm_store::CrmRepo::fields(c, &t, contact_id)?;
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
                    scrm_store::transaction(c, |tx| {
                        let Some(contact) = scrm_store::ContactRepo::get(tx, &t, contact_id)?
                        else {
                            return Err(StoreError::Task(format!("contact {contact_id} is gone")));
                        };
                        let link = scrm_store::CrmRepo::link(tx, &t, "contact", contact_id)?;
                        let contact = reconcile_host_side(tx, &t, contact)?;
                        let clocks = scrm_store::CrmRepo::fields(tx, &t, contact_id)?;
                        Ok((contact, link, clocks))
                    })
                })
                .await?
        };
        // Unchanged on the host since the last write: nothing to send, unless what
        // the mapper makes of the contact changed (a new satisfaction score).
        let unchanged = link.as_ref().is_some_and(|link| {
            clocks.iter().all(|(_, k)| k.changed_at <= link.synced_at)
                && contact.updated_at <= link.synced_at
        });
        let (m, known) = (mapper.clone(), link.as_ref().map(|l| l.crm_id.clone()));
        let extra: Vec<(String, Value)> = clocks
            .into_iter()
            .filter(|(f, _)| !HOST_FIELDS.contains(&f.as_str()))
            .map(|(f, k)| (f, k.value))
            .collect();
        let mapped = contact.clone();
        let facts = self.contact_facts(tenant, contact_id).await?;
        let (rec, defaulted) = self
            .blocking(move |h| {
                let out = crate::slots::map_contact(h, &m, &mapped, &facts)?;
                let (mut rec, mut defaulted) = (out.record, out.defaulted);
                rec.id = known;
                // Fields the CRM set that the host keeps (e.g. customer level) travel back
                // as they are, so a write never blanks them, nor puts the mapper's
                // default over the CRM's own value.
                for (f, v) in extra {
                    let blank = v.is_null() || v.as_str().is_some_and(|s| s.trim().is_empty());
                    match rec.fields.iter_mut().find(|(n, _)| *n == f) {
                        None => rec.fields.push((f, v)),
                        Some((_, slot)) if !blank && defaulted.contains(&f) => {
                            *slot = v;
                            defaulted.retain(|d| *d != f);
                        }
                        Some(_) => {}
                    }
                }
                Ok((rec, defaulted))
            })
            .await?;
        let (rec, completed) = self.complete_address(tenant, rec).await;
        let hash = record_hash(&rec);
        // A postcode the geocoder just found is news for the CRM, whatever the hashes.
        if let Some(link) = &link
            && unchanged
            && !completed
        {
            match &link.record_hash {
                Some(h) if *h == hash => return Ok(link.crm_id.clone()),
                // Linked before hashes were kept, or by a pull: this is the baseline.
                None => {
                    let (t, h) = (tenant.to_string(), hash.clone());
                    self.db
                        .write(move |c| {
                            scrm_store::CrmRepo::set_record_hash(c, &t, "contact", contact_id, &h)
                        })
                        .await?;
                    return Ok(link.crm_id.clone());
                }
                Some(_) => {}
            }
        }
        let k = connector.clone();
        let pushed = self.blocking(move |h| h.push_contact(&k, &rec)).await?;
        let t = tenant.to_string();
        let id = pushed.id.clone();
        self.db
            .write(move |c| {
                scrm_store::transaction(c, |tx| {
                    scrm_store::CrmRepo::set_link(
                        tx,
                        &t,
                        "contact",
                        contact_id,
                        &Link {
                            crm_id: pushed.id,
                            // Our own write's time: a change reported with it is an echo.
                            crm_updated_at: pushed.updated_at.or(Some(now_ms())),
                            synced_at: 0,
                            record_hash: Some(hash),
                        },
                    )?;
                    scrm_store::CrmRepo::log_mapping(tx, &t, now_ms(), "defaulted", &defaulted)
                })
            })
            .await?;
        Ok(id)
    }
}

impl SyncEngine {
    /// `rec` with its address completed by the tenant's geocoder, when one is
    /// installed and names a postcode; as it is otherwise. A failing geocoder never
    /// holds up the write: it is logged, and the record goes as it is.
    /// True with the record when the geocoder completed it.
    async fn complete_address(&self, tenant: &str, rec: CrmRecord) -> (CrmRecord, bool) {
        let Some(geocoder) = self.plugins.snapshot(tenant).geocoder.clone() else {
            return (rec, false);
        };
        let asked = rec.clone();
        match self
            .blocking(move |h| h.complete_address(&geocoder, &asked))
            .await
        {
            Ok(Some(done)) => (done, true),
            Ok(None) => (rec, false),
            Err(e) => {
                tracing::warn!(%tenant, error = %e, "the geocoder failed; the record goes without it");
                (rec, false)
            }
        }
    }
}

/// Whether an earlier attempt of `job` failed and may have reached the CRM (its
/// answer lost): the connector then looks for the record before creating one. A
/// wait the CRM asked for (429) is no attempt: nothing was written.
fn retried(job: &Job) -> bool {
    job.attempts > 0
}

/// A hash of a record as the connector would receive it (its id aside).
fn record_hash(rec: &scrm_engine::crm::CrmRecord) -> String {
    use sha2::{Digest, Sha256};
    let canonical = serde_json::to_vec(&(&rec.object, &rec.fields)).unwrap_or_default();
    hex::encode(Sha256::digest(canonical))
}
