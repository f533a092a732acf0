//! The sender: claims due rows (the oldest unfinished one per number and recipient),
//! applies the rules again with fresh facts, paces each number, calls the Cloud API
//! with bounded concurrency, and records each outcome.
//!
//! Several hosts may share the database. Claim rounds take one lock (an advisory
//! lock on PostgreSQL; SQLite has one writer), so the facts each round decides on —
//! recipients reached today, the opt-in rule, each recipient's pace — are never
//! read by two hosts at once; each number's send schedule lives in the database
//! too. A claimed row is the host's until its lease ends; a row whose holder died
//! mid-send is dead-lettered, never resent blindly.

use super::*;
use scrm_store::Store;

/// What the sender needs for one claimed row.
#[derive(Debug)]
pub(super) struct Claimed {
    row: OutboxItem,
    token: String,
    endpoint: Endpoint,
    /// Its slot on the number's schedule, µs since the epoch.
    slot_us: i64,
}

/// How long a claimed row stays this host's beyond its send slot, past the request
/// timeouts a send (with a media upload first) can take.
fn send_lease_ms(request_timeout_ms: u64) -> i64 {
    3 * request_timeout_ms as i64 + 30_000
}
/// How often a host looks for sends whose holder died (several hosts only) and
/// forgets recipients' spent paces.
const RECOVER_EVERY: Duration = Duration::from_secs(5);

fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// What one claim round reads once per number.
pub(super) struct NumberRound {
    limits: Limits,
    /// Recipients reached with business-initiated messages in the last 24 h, and the
    /// oldest such send, before this round.
    reached: u32,
    oldest: Option<i64>,
    /// Recipients this round's claims reach for the first time.
    reached_now: HashSet<String>,
}

/// What one claim round reads once per tenant.
pub(super) struct TenantRound {
    token: Option<String>,
    endpoint: Endpoint,
}

/// The outcome of one Cloud API call.
#[derive(Debug)]
pub(super) struct Outcome {
    row: OutboxItem,
    result: Result<Sent, SendError>,
}

impl Outbox {
    /// Runs the sender until the task is dropped.
    pub async fn run(self) {
        // SQLite: this process owns the database (the data directory is locked), so
        // every row left in `sending` was interrupted. PostgreSQL: only rows whose
        // holder's lease ended; the others belong to hosts still sending them.
        let shared = self.db.dialect() == scrm_store::Dialect::Postgres;
        self.recover(!shared).await;
        let mut recovered_at = tokio::time::Instant::now();
        let (results_tx, results_rx) = mpsc::unbounded_channel::<Outcome>();
        // Every task this worker starts ends with it (a stopped host sends nothing).
        let mut tasks = tokio::task::JoinSet::new();
        tasks.spawn(self.clone().record_outcomes(results_rx).in_current_span());
        let mut lanes: HashMap<String, mpsc::UnboundedSender<Claimed>> = HashMap::new();
        loop {
            if recovered_at.elapsed() >= RECOVER_EVERY {
                if shared {
                    self.recover(false).await;
                }
                // A recipient whose pace has run out is as good as unknown.
                let _ = self
                    .db
                    .write(|c| scrm_store::HostRepo::purge_paces(c, now_ms()))
                    .await;
                recovered_at = tokio::time::Instant::now();
            }
            let claimed = match self.claim_round().await {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(error = %e, "outbox claim failed; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            };
            let full_round = claimed.len();
            for c in claimed {
                let number = c.row.phone_number_id.clone();
                let lane = lanes.entry(number.clone()).or_insert_with(|| {
                    let (tx, rx) = mpsc::unbounded_channel();
                    tasks.spawn(
                        self.clone()
                            .lane(number, rx, results_tx.clone())
                            .in_current_span(),
                    );
                    tx
                });
                // A lane only ends when its sender is dropped, which happens only here.
                let _ = lane.send(c);
            }
            if full_round >= CLAIM_BATCH {
                continue;
            }
            let next = self
                .db
                .read(|c| scrm_store::OutboxRepo::next_due(c))
                .await
                .ok()
                .flatten();
            // Rows that are due but were not claimed wait behind an earlier send to
            // the same recipient; its outcome wakes this loop. The 20 ms floor keeps
            // such rows from turning the loop into a spin.
            let wait = next.map_or(Duration::from_secs(1), |at| {
                Duration::from_millis((at - now_ms()).clamp(20, 1_000) as u64)
            });
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Dead-letters sends interrupted mid-call: all of them, or only those whose
    /// holder's lease ended.
    async fn recover(&self, all: bool) {
        let expired_by = (!all).then(now_ms);
        match self
            .db
            .write(move |c| scrm_store::OutboxRepo::recover_interrupted(c, expired_by))
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::warn!(
                count = n,
                "sends interrupted (a restart, or a host that died) moved to dead letters"
            ),
            Err(e) => tracing::error!(error = %e, "cannot recover interrupted sends"),
        }
    }

    /// One number's lane: paces it and starts each call.
    async fn lane(
        self,
        number: String,
        mut rx: mpsc::UnboundedReceiver<Claimed>,
        results: mpsc::UnboundedSender<Outcome>,
    ) {
        let mut calls = tokio::task::JoinSet::new();
        while let Some(c) = rx.recv().await {
            while calls.try_join_next().is_some() {}
            // The slot was taken on the number's shared schedule when it was claimed.
            let wait = (c.slot_us - now_us()).max(0);
            if wait > 0 {
                tokio::time::sleep(Duration::from_micros(wait as u64)).await;
            }
            let _ = &number;
            let permit = self
                .in_flight
                .clone()
                .acquire_owned()
                .await
                .expect("never closed");
            let client = self.client.clone();
            let results = results.clone();
            let media = self.media.clone();
            calls.spawn(
                async move {
                    // Media: `scrm:` ids are uploaded and replaced by Meta's (crate::media).
                    let (row, ep, token) = (&c.row, &c.endpoint, &c.token);
                    let body = match &media {
                        Some(m) => {
                            m.prepare_outbound(
                                ep,
                                &row.tenant_id,
                                &row.phone_number_id,
                                token,
                                &row.body,
                            )
                            .await
                        }
                        None => Ok(std::borrow::Cow::Borrowed(&row.body)),
                    };
                    let result = match body {
                        Ok(body) => client.send(ep, &row.phone_number_id, token, &body).await,
                        Err(e) => Err(e),
                    };
                    drop(permit);
                    let _ = results.send(Outcome { row: c.row, result });
                }
                .in_current_span(),
            );
        }
    }

    /// Claims what may go now; holds or ends what may not.
    async fn claim_round(&self) -> Result<Vec<Claimed>, StoreError> {
        let this = self.clone();
        self.db
            .write(move |c| {
                scrm_store::transaction(c, |tx| {
                    let claimed = this.claim_in(tx)?;
                    Ok(claimed)
                })
            })
            .await
    }

    fn claim_in(&self, c: &dyn Store) -> Result<Vec<Claimed>, StoreError> {
        // One claim round at a time across hosts: the facts below (recipients reached
        // today, paces) are read and written by one round only.
        c.lock("outbox-claim")?;
        let now = now_ms();
        let due = scrm_store::OutboxRepo::claimable(c, now, CLAIM_BATCH)?;
        let mut claimed = Vec::with_capacity(due.len());
        // What the round reads once per number and per tenant.
        let mut numbers: HashMap<String, NumberRound> = HashMap::new();
        let mut tenants: HashMap<String, TenantRound> = HashMap::new();
        for row in due {
            if !numbers.contains_key(&row.phone_number_id) {
                let limits = effective_limits(
                    c,
                    &row.tenant_id,
                    &row.phone_number_id,
                    self.settings.limits,
                )?;
                let (reached, oldest) = scrm_store::OutboxRepo::reached_since(
                    c,
                    &row.phone_number_id,
                    now - policy::DAY_MS,
                )?;
                numbers.insert(
                    row.phone_number_id.clone(),
                    NumberRound {
                        limits,
                        reached,
                        oldest,
                        reached_now: HashSet::new(),
                    },
                );
            }
            let number = numbers
                .get_mut(&row.phone_number_id)
                .expect("inserted above");
            let limits = number.limits;
            let target = Target {
                tenant: &row.tenant_id,
                number: &row.phone_number_id,
                to: &row.to,
                kind: rule_kind(&row.kind),
                category: Category::parse(&row.category).unwrap_or(Category::Marketing),
            };
            let reached = number.reached + number.reached_now.len() as u32;
            let facts = gather(
                c,
                &target,
                limits,
                now,
                reached,
                number.oldest,
                &number.reached_now,
            )?;
            let business_initiated = match policy::decide(&facts) {
                Decision::Wait { until, reason } => {
                    scrm_store::OutboxRepo::hold(c, row.id, until, reason.as_str())?;
                    continue;
                }
                Decision::Refuse(r) => {
                    let state = match r {
                        Refusal::OutsideServiceWindow => "needs_template",
                        Refusal::OptedOut | Refusal::MarketingStopped => "suppressed",
                    };
                    scrm_store::OutboxRepo::finish(c, row.id, state, None, r.message())?;
                    self.count(&row.tenant_id, state);
                    continue;
                }
                Decision::Send { business_initiated } => business_initiated,
            };
            if !tenants.contains_key(&row.tenant_id) {
                let round = TenantRound {
                    token: scrm_store::SecretRepo::get(c, &row.tenant_id, TOKEN_SECRET)?,
                    endpoint: crate::cloud::endpoint_for(
                        c,
                        &row.tenant_id,
                        &self.settings,
                        self.health.as_deref(),
                    )?,
                };
                tenants.insert(row.tenant_id.clone(), round);
            }
            let tenant = &tenants[&row.tenant_id];
            let Some(token) = tenant.token.clone() else {
                scrm_store::OutboxRepo::hold(c, row.id, now + 60_000, "no_access_token")?;
                continue;
            };
            // Meta's pair rate limit counts messages: a mark-as-read or a typing
            // indicator is not one, and a typing indicator held back is useless.
            if row.kind != "read"
                && let Some(wait) = scrm_store::HostRepo::take_recipient_pace(
                    c,
                    &row.phone_number_id,
                    &row.to,
                    now,
                    i64::from(limits.recipient_burst),
                    limits.recipient_interval_ms as i64,
                )?
            {
                let until = now + wait + 1;
                scrm_store::OutboxRepo::hold(
                    c,
                    row.id,
                    until,
                    WaitReason::RecipientPacing.as_str(),
                )?;
                continue;
            }
            let slot_us = scrm_store::HostRepo::take_send_slot(
                c,
                &row.phone_number_id,
                now_us(),
                1_000_000 / i64::from(limits.mps.max(1)),
            )?;
            let lease_until = slot_us / 1_000 + send_lease_ms(self.settings.request_timeout_ms);
            scrm_store::OutboxRepo::claim(c, row.id, business_initiated, &self.host, lease_until)?;
            if business_initiated {
                number.reached_now.insert(row.to.clone());
            }
            claimed.push(Claimed {
                endpoint: tenant.endpoint.clone(),
                row: OutboxItem {
                    attempts: row.attempts + 1,
                    state: "sending".into(),
                    ..row
                },
                token,
                slot_us,
            });
        }
        Ok(claimed)
    }

    /// Records outcomes in batches, one transaction per batch.
    async fn record_outcomes(self, mut rx: mpsc::UnboundedReceiver<Outcome>) {
        let mut batch = Vec::new();
        while rx.recv_many(&mut batch, 512).await > 0 {
            let this = self.clone();
            let outcomes = std::mem::take(&mut batch);
            let result = self
                .db
                .write(move |c| {
                    scrm_store::transaction(c, |tx| {
                        for o in &outcomes {
                            this.record(tx, o)?;
                        }
                        Ok(())
                    })
                })
                .await;
            if let Err(e) = result {
                tracing::error!(error = %e, "cannot record send outcomes; the rows stay in `sending` and are dead-lettered at the next start");
            }
            self.wake.notify_one();
        }
    }

    fn count(&self, tenant: &str, result: &str) {
        self.metrics.send(tenant, result);
    }

    fn record(&self, c: &dyn Store, o: &Outcome) -> Result<(), StoreError> {
        let row = &o.row;
        let now = now_ms();
        let err = match &o.result {
            Ok(sent) => {
                scrm_store::OutboxRepo::mark_sent(c, row.id, sent.wamid.as_deref(), now)?;
                self.count(&row.tenant_id, "sent");
                crate::event_hooks::emit(
                    c,
                    &row.tenant_id,
                    "message.sent",
                    &row.to,
                    serde_json::json!({"outbox_id": row.id, "wamid": sent.wamid, "to": row.to,
                        "type": row.kind, "phone_number_id": row.phone_number_id,
                        "source": row.source, "sent_at": now}),
                )?;
                if let Some(wamid) = &sent.wamid {
                    scrm_store::OutboxRepo::record_outbound_message(
                        c,
                        row,
                        wamid,
                        sent.wa_id.as_deref(),
                        now,
                    )?;
                    // A `failed` status that arrived before this answer is acted on now.
                    if let Some(errors) =
                        scrm_store::OutboxRepo::recorded_failure(c, &row.tenant_id, wamid)?
                    {
                        let (code, message) = first_error(errors.as_deref());
                        let sent_row = OutboxItem {
                            wamid: Some(wamid.clone()),
                            ..row.clone()
                        };
                        let retry = scrm_wire::graph::temporary_code(code);
                        let result = apply_failure(
                            c,
                            &self.settings,
                            &sent_row,
                            code,
                            &message,
                            None,
                            retry,
                        )?;
                        self.count(&row.tenant_id, result);
                    }
                }
                return Ok(());
            }
            Err(e) => e,
        };
        let code = err.code();
        let message = err.to_string();
        tracing::info!(tenant = %row.tenant_id, outbox_id = row.id, code = ?code, error = %message, "send failed");
        let result = apply_failure(
            c,
            &self.settings,
            row,
            code,
            &message,
            err.retry_after(),
            err.retryable(),
        )?;
        self.count(&row.tenant_id, result);
        Ok(())
    }
}
