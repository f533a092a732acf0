//! The sender: claims due rows (the oldest unfinished one per number and recipient),
//! applies the rules again with fresh facts, paces each number, calls the Cloud API
//! with bounded concurrency, and records each outcome.

use super::*;
use scrm_store::Store;

/// What the sender needs for one claimed row.
#[derive(Debug)]
pub(super) struct Claimed {
    row: OutboxItem,
    token: String,
    endpoint: Endpoint,
    mps: u32,
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
        match self
            .db
            .write(|c| scrm_store::OutboxRepo::recover_interrupted(c))
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::warn!(
                count = n,
                "sends interrupted by a restart moved to dead letters"
            ),
            Err(e) => tracing::error!(error = %e, "cannot recover interrupted sends"),
        }
        let (results_tx, results_rx) = mpsc::unbounded_channel::<Outcome>();
        tokio::spawn(self.clone().record_outcomes(results_rx).in_current_span());
        let mut lanes: HashMap<String, mpsc::UnboundedSender<Claimed>> = HashMap::new();
        loop {
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
                    tokio::spawn(
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

    /// One number's lane: paces it and starts each call.
    async fn lane(
        self,
        number: String,
        mut rx: mpsc::UnboundedReceiver<Claimed>,
        results: mpsc::UnboundedSender<Outcome>,
    ) {
        while let Some(c) = rx.recv().await {
            self.pacer.until_number_ready(&number, c.mps).await;
            let permit = self
                .in_flight
                .clone()
                .acquire_owned()
                .await
                .expect("never closed");
            let client = self.client.clone();
            let results = results.clone();
            let media = self.media.clone();
            tokio::spawn(
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
            if let Err(wait) = self.pacer.recipient(
                &row.phone_number_id,
                &row.to,
                limits.recipient_burst,
                limits.recipient_interval_ms,
            ) {
                let until = now + wait.as_millis() as i64 + 1;
                scrm_store::OutboxRepo::hold(
                    c,
                    row.id,
                    until,
                    WaitReason::RecipientPacing.as_str(),
                )?;
                continue;
            }
            scrm_store::OutboxRepo::claim(c, row.id, business_initiated)?;
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
                mps: limits.mps,
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
