//! The campaign runner: begins scheduled campaigns when due and queues running
//! campaigns' sends, on one host at a time (`crate::singleton`).
//!
//! **Replies first.** Each second, a running campaign queues at most
//! [`campaign_mps`](super::plan::campaign_mps) recipients (half the number's `mps`),
//! and only as many as keep the number's campaign backlog in the outbox under that:
//! the outbox sends in queue order, so a customer's reply queued at any moment has
//! at most about half a second of campaign sends ahead of it.
//!
//! **The cap.** A campaign never takes the number past 80 % of its daily cap
//! (counting what it reached in the last 24 hours and the campaign sends still
//! queued), and in batch mode each batch waits for its window and for 24 hours
//! after the previous batch's last send.

use super::plan::{self, Window};
use super::send;
use crate::limits::policy::DAY_MS;
use crate::outbox::SendDefaults;
use crate::singleton::Singleton;
use scrm_store::campaigns::Campaign;
use scrm_store::{CampaignRepo, Db, OutboxRepo, Store, StoreError, now_ms};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tracing::Instrument;

/// How often a running campaign queues its next chunk: the pace is per second.
const TICK: Duration = Duration::from_secs(1);
/// How long the runner's singleton lease lasts past each renewal, ms.
const LEASE_MS: i64 = 30_000;

/// Runs campaigns.
#[derive(Debug, Clone)]
pub struct CampaignWorker {
    db: Db,
    host: String,
    defaults: SendDefaults,
    outbox_wake: Option<Arc<Notify>>,
}

impl CampaignWorker {
    /// A runner for host `host`; sends use `defaults` (limits, tracked links).
    pub fn new(db: Db, host: &str, defaults: SendDefaults) -> CampaignWorker {
        CampaignWorker {
            db,
            host: host.to_string(),
            defaults,
            outbox_wake: None,
        }
    }

    /// Wakes the outbox after queueing sends.
    pub fn with_outbox_wake(mut self, wake: Arc<Notify>) -> CampaignWorker {
        self.outbox_wake = Some(wake);
        self
    }

    /// Runs until the task is dropped: a round each second while this host holds
    /// the `campaigns` job.
    pub async fn run(self) {
        let job = Singleton::new(self.db.clone(), &self.host, "campaigns", LEASE_MS);
        let mut ticks = tokio::time::interval(TICK);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if !job.held().await {
                continue;
            }
            if let Err(e) = self.tick().await {
                tracing::warn!(error = %e, "campaign round failed; retrying");
            }
        }
    }

    /// One round: begins due scheduled campaigns and queues one chunk of each running
    /// one. Returns how many sends it queued.
    ///
    /// # Errors
    /// On database failure.
    pub async fn tick(&self) -> Result<usize, StoreError> {
        let active = self.db.read(|s| CampaignRepo::active(s, now_ms())).await?;
        let mut queued = 0;
        for c in active {
            let span =
                tracing::info_span!("scrm.campaigns.round", tenant = %c.tenant_id, campaign = c.id);
            let this = self.clone();
            let round = self
                .db
                .write(move |s| scrm_store::transaction(s, |tx| this.round(tx, c.id, &c.tenant_id)))
                .instrument(span);
            match round.await {
                Ok(n) => queued += n,
                Err(e) => tracing::warn!(error = %e, "campaign round failed"),
            }
        }
        if queued > 0
            && let Some(w) = &self.outbox_wake
        {
            w.notify_one();
        }
        Ok(queued)
    }

    /// One campaign's round, in one transaction.
    fn round(&self, s: &dyn Store, id: i64, tenant: &str) -> Result<usize, StoreError> {
        s.lock(&format!("campaign:{id}"))?;
        let Some(c) = CampaignRepo::get(s, tenant, id)? else {
            return Ok(0);
        };
        let now = now_ms();
        match c.state.as_str() {
            "scheduled" if c.scheduled_at.is_some_and(|t| t <= now) => {
                if c.plan.is_none() {
                    if let Err(e) = super::begin(s, &c, self.defaults.limits) {
                        tracing::warn!(error = %e, "a scheduled campaign could not begin");
                    }
                } else {
                    CampaignRepo::set_state(s, tenant, id, &["scheduled"], "running", None)?;
                }
                Ok(0)
            }
            "running" => self.queue_chunk(s, &c, now),
            _ => Ok(0),
        }
    }

    /// Queues the next chunk of a running campaign; ends it when nothing is pending.
    fn queue_chunk(&self, s: &dyn Store, c: &Campaign, now: i64) -> Result<usize, StoreError> {
        let progress = CampaignRepo::progress(s, c.id)?;
        let Some(batch) = progress.batch else {
            CampaignRepo::set_state(s, &c.tenant_id, c.id, &["running"], "done", None)?;
            tracing::info!("campaign done: every recipient handled");
            return Ok(0);
        };
        let window_start = windows(c).get(batch as usize).map_or(0, |w| w.starts_at);
        let after_previous = progress
            .previous_batch_last_queued_at
            .map_or(0, |t| t + DAY_MS);
        if now < window_start.max(after_previous) {
            return Ok(0);
        }
        let room = self.room(s, c, now)?;
        if room <= 0 {
            return Ok(0);
        }
        let mut queued = 0;
        for p in CampaignRepo::pending(s, c.id, batch, room)? {
            let outcome = send::queue(s, c, &p, &self.defaults)?;
            if outcome.is_ok() {
                queued += 1;
            }
            let outcome = outcome.as_ref().copied().map_err(String::as_str);
            CampaignRepo::mark(s, c.id, p.contact_id, outcome, now)?;
        }
        Ok(queued)
    }

    /// How many recipients the campaign may queue now: a second's worth at its pace,
    /// less the campaign sends still in the number's outbox, and never past 80 % of
    /// the number's daily cap.
    fn room(&self, s: &dyn Store, c: &Campaign, now: i64) -> Result<i64, StoreError> {
        let limits = crate::outbox::effective_limits(
            s,
            &c.tenant_id,
            &c.phone_number_id,
            self.defaults.limits,
        )?;
        let backlog = CampaignRepo::backlog(s, &c.phone_number_id)?;
        let mut room = i64::from(plan::campaign_mps(limits.mps)) - backlog;
        if let Some(cap) = limits.daily_cap.get() {
            let (reached, _) = OutboxRepo::reached_since(s, &c.phone_number_id, now - DAY_MS)?;
            let limit = plan::share_of(u64::from(cap)) as i64;
            room = room.min(limit - i64::from(reached) - backlog);
        }
        Ok(room)
    }
}

fn windows(c: &Campaign) -> Vec<Window> {
    c.plan
        .as_ref()
        .and_then(|p| serde_json::from_value(p["windows"].clone()).ok())
        .unwrap_or_default()
}
