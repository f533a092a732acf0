//! The flow worker: claims due events and timers, runs each flow on a blocking
//! thread, and applies what it returned (sends, tags, fields, timer changes) in one
//! transaction per round, with the automation guards.

use super::FlowSettings;
use super::actions::ActionContext;
use super::reader::DbFlowReader;
use crate::limits::policy::DAY_MS;
use crate::metrics::Metrics;
use crate::outbox::SendDefaults;
use crate::slots::flows::EventFacts;
use scrm_engine::PluginHost;
use scrm_engine::capabilities::assist::Assisted;
use scrm_engine::capabilities::automation::TimerChange;
use scrm_store::flows::{Finish, FlowJob, NewTimer};
use scrm_store::{Db, Store, StoreError, now_ms};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// How long a claim holds, ms.
const LEASE_MS: i64 = 60_000;
/// How long a quarantined flow's events wait before they are looked at again, ms
/// (`scrm flow enable` makes them due at once).
const QUARANTINE_WAIT_MS: i64 = 60_000;
/// How a paused flow's quarantine reason starts: the flow said its configuration is
/// not usable (`invalid-config`, e.g. a model name its endpoint rejects).
pub const PAUSED_PREFIX: &str = "paused: ";

/// What running one job came to.
#[derive(Debug)]
enum Ran {
    /// The flow handled it.
    Handled {
        version: i64,
        actions: Vec<Value>,
        timers: Vec<TimerChange>,
        assist: Box<Assisted>,
        facts: Box<EventFacts>,
        params: Value,
        business_started: bool,
    },
    /// Nothing to run; why.
    Skipped(String),
    /// Not now (the flow is quarantined); why, and when to look again.
    Deferred(String, i64),
    /// The call failed: retried at the time given, or given up.
    Failed {
        version: i64,
        reason: String,
        retry_at: Option<i64>,
        quarantine: Option<String>,
    },
}

/// Claims and runs flow jobs.
#[derive(Debug, Clone)]
pub struct FlowWorker {
    db: Db,
    plugins: Arc<PluginHost>,
    metrics: Arc<Metrics>,
    host: String,
    settings: FlowSettings,
    defaults: SendDefaults,
    wake: Arc<Notify>,
    outbox_wake: Option<Arc<Notify>>,
}

impl FlowWorker {
    /// A worker for host `host`; sends use `defaults` (limits, tracked links).
    pub fn new(
        db: Db,
        plugins: Arc<PluginHost>,
        metrics: Arc<Metrics>,
        host: &str,
        settings: FlowSettings,
        defaults: SendDefaults,
    ) -> FlowWorker {
        FlowWorker {
            db,
            plugins,
            metrics,
            host: host.to_string(),
            settings,
            defaults,
            wake: Arc::new(Notify::new()),
            outbox_wake: None,
        }
    }

    /// Wakes the outbox after queueing sends.
    pub fn with_outbox_wake(mut self, wake: Arc<Notify>) -> FlowWorker {
        self.outbox_wake = Some(wake);
        self
    }

    /// Wakes this worker (new events were queued).
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Runs forever: rounds while work is due, else sleeps until the next job is due
    /// (at most a second) or until woken.
    pub async fn run(self) {
        loop {
            match self.tick().await {
                Ok(n) if n > 0 => continue,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "flow round failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            }
            let next = self
                .db
                .read(|c| scrm_store::FlowRepo::next_fire_at(c))
                .await
                .ok()
                .flatten();
            let wait = next.map_or(1_000, |at| (at - now_ms()).clamp(5, 1_000));
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(Duration::from_millis(wait as u64)) => {}
            }
        }
    }

    /// One round: claims due jobs, runs them and applies the results. Returns how
    /// many jobs it handled.
    ///
    /// # Errors
    /// On database failure (claimed jobs are picked up again when their lease ends).
    pub async fn tick(&self) -> Result<usize, StoreError> {
        let now = now_ms();
        let (host, batch) = (self.host.clone(), self.settings.batch);
        let jobs = self
            .db
            .write(move |c| scrm_store::FlowRepo::claim_due(c, &host, now, now + LEASE_MS, batch))
            .await?;
        if jobs.is_empty() {
            return Ok(0);
        }
        let n = jobs.len();
        let (db, plugins, settings) =
            (self.db.clone(), self.plugins.clone(), self.settings.clone());
        let ran = tokio::task::spawn_blocking(move || {
            jobs.into_iter()
                .map(|job| {
                    let ran = run_job(&db, &plugins, &job, &settings);
                    (job, ran)
                })
                .collect::<Vec<_>>()
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("flow round panicked: {e}")))?;
        let applier = Applier {
            host: self.host.clone(),
            settings: self.settings.clone(),
            defaults: self.defaults.clone(),
            metrics: self.metrics.clone(),
        };
        let sent = self
            .db
            .write(move |c| {
                let together = scrm_store::transaction(c, |tx| {
                    let mut sent = 0;
                    for (job, ran) in &ran {
                        sent += applier.apply(tx, job, ran)?;
                    }
                    Ok(sent)
                });
                match together {
                    Ok(sent) => Ok(sent),
                    // One job's results cannot be applied: apply each alone, so the
                    // others are not held back by it.
                    Err(e) => {
                        tracing::warn!(error = %e, "applying a round of flow results failed; applying them one by one");
                        applier.apply_each(c, &ran)
                    }
                }
            })
            .await?;
        if sent > 0
            && let Some(w) = &self.outbox_wake
        {
            w.notify_one();
        }
        Ok(n)
    }
}

/// Runs one job's flow (blocking).
fn run_job(db: &Db, plugins: &Arc<PluginHost>, job: &FlowJob, settings: &FlowSettings) -> Ran {
    let snapshot = plugins.snapshot(&job.tenant);
    let Some(binding) = snapshot.flow(&job.flow) else {
        return Ran::Skipped(format!("flow {} is not enabled for this tenant", job.flow));
    };
    if let Some(reason) = binding.quarantined() {
        return Ran::Deferred(waiting(&reason), now_ms() + QUARANTINE_WAIT_MS);
    }
    let now = now_ms();
    let built = db.read_blocking(|c| {
        let facts = crate::slots::flows::facts(c, job)?;
        let started = business_started(c, &job.tenant, &facts, now)?;
        let event = crate::slots::flows::event(c, job, &facts, started, now)?;
        Ok((facts, started, event))
    });
    let (facts, started, event) = match built {
        Ok((f, s, Ok(e))) => (f, s, e),
        Ok((_, _, Err(reason))) => return Ran::Skipped(reason),
        Err(e) => {
            return Ran::Failed {
                version: binding.version,
                reason: format!("cannot read the event: {e}"),
                retry_at: Some(now + backoff_ms(settings.retry_ms, job.attempts)),
                quarantine: None,
            };
        }
    };
    let reader = DbFlowReader::new(
        db.clone(),
        plugins.clone(),
        snapshot.clone(),
        &job.tenant,
        job.contact_id,
    );
    let result = plugins.handle_flow(binding, &event, Some(Box::new(reader)));
    let quarantine = binding.record(result.as_ref().err());
    let mut facts = facts;
    if let Ok(outcome) = &result
        && Value::Array(outcome.actions.clone())
            .to_string()
            .contains("order.")
    {
        // A message names the order: read the newest one now, outside the
        // transaction that applies the result.
        let reader = DbFlowReader::new(
            db.clone(),
            plugins.clone(),
            snapshot.clone(),
            &job.tenant,
            job.contact_id,
        );
        facts.order = scrm_engine::storage::FlowReader::orders(&reader, 0, 1)
            .unwrap_or_default()
            .first()
            .map(crate::slots::flows::order_json);
    }
    match result {
        Ok(outcome) => Ran::Handled {
            version: binding.version,
            actions: outcome.actions,
            timers: outcome.timers,
            assist: Box::new(outcome.assist),
            facts: Box::new(facts),
            params: serde_json::from_slice(&binding.config).unwrap_or_else(|_| json!({})),
            business_started: started,
        },
        Err(scrm_engine::error::CallError::InvalidConfig { message, .. }) => {
            // Retrying cannot help: the flow waits, paused, until it is enabled again
            // with parameters that work; nothing is dropped.
            let reason = format!("{PAUSED_PREFIX}invalid config: {message}");
            let paused = binding.pause(&reason);
            Ran::Failed {
                version: binding.version,
                reason: waiting(&reason),
                retry_at: Some(now + QUARANTINE_WAIT_MS),
                quarantine: paused,
            }
        }
        Err(e) => {
            let reason = format!("{}: {e}", e.code());
            let give_up = job.attempts + 1 >= settings.max_attempts;
            Ran::Failed {
                version: binding.version,
                reason,
                retry_at: (!give_up).then(|| now + backoff_ms(settings.retry_ms, job.attempts)),
                quarantine,
            }
        }
    }
}

/// The outcome of a job that waits for its flow's quarantine (or pause) to lift.
fn waiting(reason: &str) -> String {
    match reason.strip_prefix(PAUSED_PREFIX) {
        Some(why) => format!(
            "waiting: flow paused ({why}); enable it again with parameters that work (`scrm flow enable`)"
        ),
        None => format!("waiting: flow quarantined ({reason}); `scrm flow enable` lifts it"),
    }
}

/// True when the business reached the contact with a business-initiated message in
/// the last 24 hours: the customer is answering the business's outreach.
fn business_started(
    c: &dyn Store,
    tenant: &str,
    facts: &EventFacts,
    now: i64,
) -> Result<bool, StoreError> {
    let (Some(contact), Some(conv)) = (&facts.contact, &facts.conversation) else {
        return Ok(false);
    };
    let Some(to) = contact.wa_id.as_deref() else {
        return Ok(false);
    };
    let (last_bi, _) = scrm_store::OutboxRepo::recipient_history(
        c,
        tenant,
        &conv.phone_number_id,
        to,
        now - DAY_MS,
    )?;
    Ok(last_bi.is_some_and(|at| at > now - DAY_MS))
}

/// Exponential back-off: `base`, twice that, four times, … capped at an hour.
fn backoff_ms(base: u64, attempts: u32) -> i64 {
    ((base as i64) << attempts.min(20)).min(3_600_000)
}

/// Applies what the flows of one round returned.
pub(super) struct Applier {
    pub(super) host: String,
    pub(super) settings: FlowSettings,
    pub(super) defaults: SendDefaults,
    pub(super) metrics: Arc<Metrics>,
}

impl Applier {
    /// Applies each job's result in its own transaction; a job whose result cannot
    /// be applied is retried later like a failed call (and given up after the
    /// attempts). Returns how many messages were queued.
    fn apply_each(&self, c: &dyn Store, ran: &[(FlowJob, Ran)]) -> Result<usize, StoreError> {
        let mut sent = 0;
        for (job, r) in ran {
            match scrm_store::transaction(c, |tx| self.apply(tx, job, r)) {
                Ok(n) => sent += n,
                Err(e) => {
                    tracing::warn!(tenant = %job.tenant, flow = %job.flow, job = job.id, error = %e, "cannot apply a flow's result");
                    let now = now_ms();
                    let give_up = job.attempts + 1 >= self.settings.max_attempts;
                    let reason = format!("cannot apply the flow's result: {e}");
                    scrm_store::FlowRepo::finish(
                        c,
                        &Finish {
                            id: job.id,
                            host: &self.host,
                            state: if give_up { "failed" } else { "pending" },
                            outcome: &reason,
                            flow_version: None,
                            fired_at: now,
                            late_ms: (now - job.fire_at).max(0),
                            retry_at: (!give_up)
                                .then(|| now + backoff_ms(self.settings.retry_ms, job.attempts)),
                        },
                    )?;
                    self.metrics.flow_job(
                        &job.tenant,
                        &job.flow,
                        if give_up { "failed" } else { "retry" },
                    );
                }
            }
        }
        Ok(sent)
    }

    /// Applies one job's result; returns how many messages it queued.
    fn apply(&self, tx: &dyn Store, job: &FlowJob, ran: &Ran) -> Result<usize, StoreError> {
        let now = now_ms();
        let late_ms = (now - job.fire_at).max(0);
        let finish = |state: &str, outcome: &str, version: Option<i64>, retry_at: Option<i64>| {
            scrm_store::FlowRepo::finish(
                tx,
                &Finish {
                    id: job.id,
                    host: &self.host,
                    state,
                    outcome,
                    flow_version: version,
                    fired_at: now,
                    late_ms,
                    retry_at,
                },
            )
        };
        match ran {
            Ran::Skipped(reason) => {
                finish("skipped", reason, None, None)?;
                self.metrics.flow_job(&job.tenant, &job.flow, "skipped");
                Ok(0)
            }
            Ran::Deferred(reason, at) => {
                finish("pending", reason, None, Some(*at))?;
                Ok(0)
            }
            Ran::Failed {
                version,
                reason,
                retry_at,
                quarantine,
            } => {
                let state = if retry_at.is_some() {
                    "pending"
                } else {
                    "failed"
                };
                finish(state, reason, Some(*version), *retry_at)?;
                if let Some(q) = quarantine {
                    let slot = format!("{}{}", scrm_store::flows::FLOW_SLOT_PREFIX, job.flow);
                    scrm_store::PluginRepo::quarantine(tx, &job.tenant, &slot, *version, q)?;
                    self.metrics.mark_quarantined(
                        &job.tenant,
                        "flow",
                        &format!("{}@{version}", job.flow),
                        true,
                    );
                    tracing::warn!(tenant = %job.tenant, flow = %job.flow, reason = %q, "flow quarantined");
                }
                let result = if retry_at.is_some() {
                    "retry"
                } else {
                    "failed"
                };
                self.metrics.flow_job(&job.tenant, &job.flow, result);
                Ok(0)
            }
            Ran::Handled {
                version,
                actions,
                timers,
                assist,
                facts,
                params,
                business_started,
            } => {
                if !finish("done", "handled", Some(*version), None)? {
                    // Rescheduled meanwhile: the new timer will run instead.
                    return Ok(0);
                }
                if job.kind == "timer" {
                    self.metrics.flow_lateness.observe(late_ms as f64 / 1000.0);
                }
                let ctx = ActionContext {
                    job,
                    version: *version,
                    facts,
                    params,
                    business_started: *business_started,
                    now,
                };
                let mut actions = actions.clone();
                let conversation = facts.conversation.as_ref().map(|c| c.id);
                let assisted = super::assist::apply(
                    tx,
                    job,
                    *version,
                    conversation,
                    assist,
                    &mut actions,
                    now,
                )?;
                let (sent, mut notes) = self.apply_actions(tx, &ctx, &actions)?;
                notes.extend(assisted);
                notes.extend(self.apply_timers(tx, job, timers)?);
                if job.kind == "schedule" {
                    notes.extend(self.rearm(tx, job, params)?);
                }
                let outcome = if notes.is_empty() {
                    "nothing to do".to_string()
                } else {
                    notes.join("; ")
                };
                scrm_store::FlowRepo::set_outcome(tx, job.id, &outcome)?;
                self.metrics.flow_job(&job.tenant, &job.flow, "done");
                Ok(sent)
            }
        }
    }

    /// Sets a schedule's next time after it fired.
    fn rearm(
        &self,
        tx: &dyn Store,
        job: &FlowJob,
        params: &Value,
    ) -> Result<Vec<String>, StoreError> {
        let Some(param) = job
            .timer_key
            .as_deref()
            .and_then(|k| k.strip_prefix("schedule:"))
        else {
            return Ok(Vec::new());
        };
        let spec = params[param].as_str().unwrap_or_default().to_string();
        let set = super::schedule::arm(
            tx,
            &job.tenant,
            &job.flow,
            &[(param.to_string(), spec)],
            job.due_at.max(now_ms()),
        )?;
        Ok(set
            .into_iter()
            .map(|(p, at)| format!("schedule {p:?} next at {}", stamp(at)))
            .collect())
    }

    fn apply_timers(
        &self,
        tx: &dyn Store,
        job: &FlowJob,
        timers: &[TimerChange],
    ) -> Result<Vec<String>, StoreError> {
        let mut notes = Vec::new();
        for t in timers {
            match t {
                TimerChange::Schedule { key, at, payload } => {
                    scrm_store::FlowRepo::schedule_timer(
                        tx,
                        &NewTimer {
                            kind: "timer",
                            tenant: &job.tenant,
                            flow: &job.flow,
                            contact_id: job.contact_id,
                            key,
                            due_at: *at,
                            fire_at: at.saturating_add(self.settings.settle_ms as i64),
                            event: "{}",
                            payload,
                        },
                    )?;
                    notes.push(format!("timer {key:?} set for {}", stamp(*at)));
                }
                TimerChange::Cancel { key } => {
                    if scrm_store::FlowRepo::cancel_timer(
                        tx,
                        &job.tenant,
                        &job.flow,
                        job.contact_id,
                        key,
                    )? {
                        notes.push(format!("timer {key:?} cancelled"));
                    }
                }
            }
        }
        Ok(notes)
    }
}

/// A Unix-ms time as RFC 3339 (UTC).
fn stamp(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}
