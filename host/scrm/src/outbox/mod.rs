//! Sending: every message goes through the durable outbox, WhatsApp's limits and the
//! Cloud API client, and every answer is handled by its error code.
//!
//! - [`Outbox::submit`] checks a request ([`request`]), applies the rules
//!   ([`crate::limits::policy`]) so that a send Meta would reject is refused at once
//!   with a specific code, and stores it (idempotent on the caller's key).
//! - [`Outbox::run`] is the sender. It claims due rows (only the oldest unfinished row
//!   per number and recipient, so each recipient's messages stay in order), applies
//!   the rules again with fresh facts, paces each number ([`crate::limits::rate`]),
//!   calls the Cloud API, and records the outcome: `sent` with Meta's message id, a
//!   back-off (130429, 131056, honouring `Retry-After`), `needs_template` (131047),
//!   `undeliverable` (131026), marketing stopped or paused (131050, 131049, 368),
//!   retries with exponential back-off and jitter for 5xx and timeouts, then `dead`
//!   with the reason. Nothing over a limit is dropped: it waits in the outbox with
//!   its reason.

use crate::cloud::client::{CloudClient, Endpoint};
use crate::config::SendSettings;
use crate::limits::policy::{self, Category, Decision, Facts, Refusal, WaitReason};
use crate::limits::rate::Pacer;
use crate::limits::{LimitOverrides, Limits};
use crate::metrics::Metrics;
use rusqlite::Connection;
use scrm_store::outbox::{self as rows, NewSend, OutboxItem};
use scrm_store::{Db, StoreError, consent, now_ms, secrets};
use scrm_wire::graph::{Meaning, SendError, Sent, meaning};
use scrm_wire::outbound::{self, Checked};
use scrm_wire::payload::ApiError;
use scrm_wire::phone;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, Semaphore, mpsc};
use tracing::Instrument;

pub use scrm_store::secrets::TOKEN_SECRET;

/// Why a request was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The body is not a valid message.
    #[error(transparent)]
    Invalid(#[from] outbound::Invalid),
    /// WhatsApp's rules forbid it (outside the window, opted out, ...).
    #[error("{}", .0.message())]
    Refused(Refusal),
    /// The tenant does not exist.
    #[error("no tenant {0:?}")]
    UnknownTenant(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<crate::media::CheckError> for SubmitError {
    fn from(e: crate::media::CheckError) -> SubmitError {
        match e {
            crate::media::CheckError::Invalid(e) => SubmitError::Invalid(e),
            crate::media::CheckError::Store(e) => SubmitError::Store(e),
        }
    }
}

/// What the sender needs for one claimed row.
#[derive(Debug)]
struct Claimed {
    row: OutboxItem,
    token: String,
    endpoint: Endpoint,
    mps: u32,
}

/// What one claim round reads once per number.
struct NumberRound {
    limits: Limits,
    /// Recipients reached with business-initiated messages in the last 24 h, and the
    /// oldest such send, before this round.
    reached: u32,
    oldest: Option<i64>,
    /// Recipients this round's claims reach for the first time.
    reached_now: HashSet<String>,
}

/// What one claim round reads once per tenant.
struct TenantRound {
    token: Option<String>,
    endpoint: Endpoint,
}

/// The outcome of one Cloud API call.
#[derive(Debug)]
struct Outcome {
    row: OutboxItem,
    result: Result<Sent, SendError>,
}

/// The outbox: submit sends, run the sender.
#[derive(Debug, Clone)]
pub struct Outbox {
    db: Db,
    client: CloudClient,
    settings: Arc<SendSettings>,
    pacer: Arc<Pacer>,
    wake: Arc<Notify>,
    metrics: Arc<Metrics>,
    in_flight: Arc<Semaphore>,
    health: Option<Arc<crate::cloud::health::Health>>,
    /// Uploads `scrm:<sha256>` media to Meta right before a send (crate::media).
    media: Option<crate::media::MediaStore>,
}

/// Sends in flight at once, across all numbers.
const MAX_IN_FLIGHT: usize = 1024;
/// Rows examined per claim round.
const CLAIM_BATCH: usize = 512;

impl Outbox {
    /// An outbox over `db` with these settings.
    pub fn new(db: Db, settings: SendSettings, metrics: Arc<Metrics>) -> Outbox {
        Outbox {
            client: CloudClient::new(Duration::from_millis(settings.request_timeout_ms)),
            db,
            settings: Arc::new(settings),
            pacer: Arc::new(Pacer::new()),
            wake: Arc::new(Notify::new()),
            metrics,
            in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
            health: None,
            media: None,
        }
    }

    /// Sends through the base URL `health` says is active for each app (primary or
    /// backup) instead of always the primary.
    pub fn with_health(mut self, health: Arc<crate::cloud::health::Health>) -> Outbox {
        self.health = Some(health);
        self
    }

    /// Sends `scrm:<sha256>` media ids by uploading the file from `media` first.
    pub fn with_media(mut self, media: crate::media::MediaStore) -> Outbox {
        self.media = Some(media);
        self
    }

    /// The settings in force.
    pub fn settings(&self) -> &SendSettings {
        &self.settings
    }

    /// Checks, applies the rules to and stores a send request from `source`
    /// (`api`, `cli`, `responder`). A request with an `idempotency_key` seen before
    /// returns the stored row instead (and `false`).
    ///
    /// # Errors
    /// [`SubmitError`] saying precisely why it was not accepted.
    pub async fn submit(
        &self,
        tenant: &str,
        body: Value,
        idempotency_key: Option<String>,
        source: &'static str,
    ) -> Result<(OutboxItem, bool), SubmitError> {
        let checked = outbound::check(body)?;
        let tenant = tenant.to_owned();
        let defaults = self.settings.limits;
        let result = self
            .db
            .write(move |c| {
                Ok(enqueue_checked(
                    c,
                    &tenant,
                    checked,
                    idempotency_key.as_deref(),
                    source,
                    defaults,
                ))
            })
            .await?;
        let (item, created) = result?;
        if created {
            self.wake.notify_one();
        }
        Ok((item, created))
    }

    /// The sender's wake-up signal, for producers outside this handle (the pipeline).
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Wakes the sender (after an operator re-queued something, say).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Runs the sender until the task is dropped.
    pub async fn run(self) {
        match self.db.write(|c| rows::recover_interrupted(c)).await {
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
            let next = self.db.read(rows::next_due).await.ok().flatten();
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
                let tx = c.transaction()?;
                let claimed = this.claim_in(&tx)?;
                tx.commit()?;
                Ok(claimed)
            })
            .await
    }

    fn claim_in(&self, c: &Connection) -> Result<Vec<Claimed>, StoreError> {
        let now = now_ms();
        let due = rows::claimable(c, now, CLAIM_BATCH)?;
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
                let (reached, oldest) =
                    rows::reached_since(c, &row.phone_number_id, now - policy::DAY_MS)?;
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
                    rows::hold(c, row.id, until, reason.as_str())?;
                    continue;
                }
                Decision::Refuse(r) => {
                    let state = match r {
                        Refusal::OutsideServiceWindow => "needs_template",
                        Refusal::OptedOut | Refusal::MarketingStopped => "suppressed",
                    };
                    rows::finish(c, row.id, state, None, r.message())?;
                    self.count(&row.tenant_id, state);
                    continue;
                }
                Decision::Send { business_initiated } => business_initiated,
            };
            if !tenants.contains_key(&row.tenant_id) {
                let round = TenantRound {
                    token: secrets::get(c, &row.tenant_id, TOKEN_SECRET)?,
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
                rows::hold(c, row.id, now + 60_000, "no_access_token")?;
                continue;
            };
            if let Err(wait) = self.pacer.recipient(
                &row.phone_number_id,
                &row.to,
                limits.recipient_burst,
                limits.recipient_interval_ms,
            ) {
                let until = now + wait.as_millis() as i64 + 1;
                rows::hold(c, row.id, until, WaitReason::RecipientPacing.as_str())?;
                continue;
            }
            rows::claim(c, row.id, business_initiated)?;
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
                    let tx = c.transaction()?;
                    for o in &outcomes {
                        this.record(&tx, o)?;
                    }
                    tx.commit()?;
                    Ok(())
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

    fn record(&self, c: &Connection, o: &Outcome) -> Result<(), StoreError> {
        let row = &o.row;
        let now = now_ms();
        let err = match &o.result {
            Ok(sent) => {
                rows::mark_sent(c, row.id, sent.wamid.as_deref(), now)?;
                self.count(&row.tenant_id, "sent");
                if let Some(wamid) = &sent.wamid {
                    rows::record_outbound_message(c, row, wamid, sent.wa_id.as_deref(), now)?;
                    // A `failed` status that arrived before this answer is acted on now.
                    if let Some(errors) = rows::recorded_failure(c, &row.tenant_id, wamid)? {
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

/// Meta's code and a one-line description of the first error in a stored `errors`
/// JSON array (a `failed` status's).
fn first_error(errors: Option<&str>) -> (Option<i64>, String) {
    let errors: Vec<ApiError> = errors
        .and_then(|j| serde_json::from_str(j).ok())
        .unwrap_or_default();
    errors.first().cloned().unwrap_or_default().summary()
}

/// Sets a tenant secret; when it is the Cloud API access token, the sends that
/// waited for it (`no_access_token`) are released.
///
/// # Errors
/// On database failure.
pub fn set_secret(c: &Connection, tenant: &str, name: &str, value: &str) -> Result<(), StoreError> {
    secrets::set(c, tenant, name, value)?;
    if name == TOKEN_SECRET {
        rows::release(c, tenant, None, &["no_access_token"])?;
    }
    Ok(())
}

/// Acts on a failed send by Meta's code (from the send call's answer or from a
/// `failed` status webhook) and returns the outcome's metric label.
///
/// # Errors
/// On database failure.
pub fn apply_failure(
    c: &Connection,
    s: &SendSettings,
    row: &OutboxItem,
    code: Option<i64>,
    message: &str,
    retry_after: Option<Duration>,
    retryable: bool,
) -> Result<&'static str, StoreError> {
    let now = now_ms();
    let backoff =
        |attempts: i64| crate::backoff::backoff_ms(s.backoff_base_ms, s.backoff_max_ms, attempts);
    Ok(match meaning(code) {
        // Throughput or pair rate exceeded: slow down; these are never dead-lettered.
        Meaning::SlowDown => {
            let wait = retry_after.map_or_else(|| backoff(row.attempts), |d| d.as_millis() as i64);
            rows::retry_later(
                c,
                row.id,
                now + wait,
                WaitReason::Backoff.as_str(),
                code,
                message,
            )?;
            "rate_limited"
        }
        Meaning::NeedsTemplate => {
            rows::finish(c, row.id, "needs_template", code, message)?;
            "needs_template"
        }
        Meaning::Undeliverable => {
            consent::mark_undeliverable(c, &row.tenant_id, &row.to, now)?;
            rows::finish(c, row.id, "undeliverable", code, message)?;
            "undeliverable"
        }
        Meaning::StoppedMarketing => {
            consent::marketing_preference(c, &row.tenant_id, &row.to, true, now)?;
            rows::finish(c, row.id, "suppressed", code, message)?;
            "suppressed"
        }
        Meaning::MarketingPausedForContact => {
            let until = now + s.marketing_pause_ms;
            consent::pause_marketing(c, &row.tenant_id, &row.to, until)?;
            rows::retry_later(
                c,
                row.id,
                until,
                WaitReason::MarketingPausedForContact.as_str(),
                code,
                message,
            )?;
            "marketing_paused"
        }
        Meaning::MarketingPausedForNumber => {
            let until = now + s.marketing_pause_ms;
            rows::pause_number(c, &row.phone_number_id, until, message)?;
            rows::retry_later(
                c,
                row.id,
                until,
                WaitReason::MarketingPausedForNumber.as_str(),
                code,
                message,
            )?;
            "marketing_paused"
        }
        _ if retryable && row.attempts < i64::from(s.max_attempts) => {
            rows::retry_later(
                c,
                row.id,
                now + backoff(row.attempts),
                WaitReason::Backoff.as_str(),
                code,
                message,
            )?;
            "retry"
        }
        _ if retryable => {
            let reason = format!("gave up after {} attempts: {message}", row.attempts);
            rows::finish(c, row.id, "dead", code, &reason)?;
            "dead"
        }
        _ => {
            rows::finish(c, row.id, "dead", code, message)?;
            "dead"
        }
    })
}

/// Acts on a `failed` status webhook for a message the outbox sent: the same rules
/// as a failed send call. Returns the outcome, or `None` when the outbox has no
/// such sent message (sent by another tool, or already handled).
///
/// # Errors
/// On database failure.
pub fn apply_failed_status(
    c: &Connection,
    s: &SendSettings,
    tenant: &str,
    wamid: &str,
    code: Option<i64>,
    message: &str,
) -> Result<Option<&'static str>, StoreError> {
    let Some(row) = rows::find_sent(c, tenant, wamid)? else {
        return Ok(None);
    };
    let retryable = scrm_wire::graph::temporary_code(code);
    apply_failure(c, s, &row, code, message, None, retryable).map(Some)
}

/// Turns a responder's `reply` and `template` actions for the inbound message
/// `message_id` into sends from the number that received it to its sender, in the
/// caller's transaction. Each action is keyed (`responder:{message}:{index}`), so
/// processing a message again never sends twice. Returns how many were queued; an
/// action the rules refuse is logged and counted, not sent.
///
/// # Errors
/// On database failure.
pub fn enqueue_actions(
    c: &Connection,
    tenant: &str,
    message_id: i64,
    actions: &[Value],
    defaults: Limits,
    metrics: &Metrics,
) -> Result<usize, StoreError> {
    let found = scrm_store::messages::inbound_origin(
        c,
        tenant,
        scrm_store::messages::MessageRef::Id(message_id),
    )?;
    let Some((from, Some(to))) = found else {
        return Ok(0);
    };
    let mut queued = 0;
    for (index, action) in actions.iter().enumerate() {
        let body = match action["type"].as_str() {
            Some("reply") => serde_json::json!({"from": from, "to": to, "type": "text",
                "text": {"body": action["text"]}}),
            Some("template") => {
                let parameters: Vec<Value> = action["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| serde_json::json!({"type": "text", "text": p}))
                    .collect();
                let mut template = serde_json::json!({"name": action["name"],
                    "language": {"code": action["language"]}});
                if !parameters.is_empty() {
                    template["components"] =
                        serde_json::json!([{"type": "body", "parameters": parameters}]);
                }
                serde_json::json!({"from": from, "to": to, "type": "template", "template": template})
            }
            _ => continue,
        };
        let key = format!("responder:{message_id}:{index}");
        let outcome = outbound::check(body)
            .map_err(SubmitError::from)
            .and_then(|checked| {
                enqueue_checked(c, tenant, checked, Some(&key), "responder", defaults)
            });
        match outcome {
            Ok(_) => queued += 1,
            Err(SubmitError::Store(e)) => return Err(e),
            Err(e) => {
                tracing::warn!(tenant, message_id, index, error = %e, "responder action not sent");
                metrics.send(tenant, "refused");
            }
        }
    }
    Ok(queued)
}

/// Checks, decides and stores one request (in the caller's transaction).
fn enqueue_checked(
    c: &Connection,
    tenant: &str,
    mut checked: Checked,
    idempotency_key: Option<&str>,
    source: &str,
    defaults: Limits,
) -> Result<(OutboxItem, bool), SubmitError> {
    let (region, numbers) =
        tenant_numbers(c, tenant)?.ok_or_else(|| SubmitError::UnknownTenant(tenant.into()))?;
    crate::media::check_outbound(c, tenant, &checked.body)?; // `scrm:` media ids exist and fit

    let (mut checked, to, from) = if let Some(wamid) = checked.read_message_id.clone() {
        // A mark-as-read goes from the number that received the message.
        let found = scrm_store::messages::inbound_origin(
            c,
            tenant,
            scrm_store::messages::MessageRef::Wamid(&wamid),
        )?;
        let Some((number, wa_id)) = found else {
            return Err(outbound::Invalid {
                code: "message_not_found",
                message: format!("no inbound message {wamid:?} for this tenant to mark as read"),
            }
            .into());
        };
        let to = wa_id.unwrap_or_default();
        (checked, to, number)
    } else {
        let raw_to = checked.to.clone().unwrap_or_default();
        let to = normalise_recipient(&raw_to, &region).ok_or_else(|| outbound::Invalid {
            code: "invalid_recipient",
            message: format!("`to` {raw_to:?} is not a valid phone number (region {region} assumed without a country code)"),
        })?;
        let from = match &checked.from {
            Some(f) if numbers.contains(f) => f.clone(),
            Some(f) => {
                return Err(outbound::Invalid {
                    code: "unknown_number",
                    message: format!(
                        "`from` {f:?} is not one of the tenant's numbers ({})",
                        numbers.join(", ")
                    ),
                }
                .into());
            }
            None if numbers.len() == 1 => numbers[0].clone(),
            None => {
                return Err(outbound::Invalid {
                    code: "from_required",
                    message: format!(
                        "the tenant has several numbers: say which one sends with `from` ({})",
                        numbers.join(", ")
                    ),
                }
                .into());
            }
        };
        if let Some(obj) = checked.body.as_object_mut() {
            obj.insert("to".into(), Value::from(to.clone()));
        }
        (checked, to, from)
    };
    checked.from = Some(from.clone());
    let now = now_ms();
    let limits = effective_limits(c, tenant, &from, defaults)?;
    let (count, oldest) = rows::reached_since(c, &from, now - policy::DAY_MS)?;
    let target = Target {
        tenant,
        number: &from,
        to: &to,
        kind: checked.rule_kind,
        category: checked.category,
    };
    let facts = gather(c, &target, limits, now, count, oldest, &HashSet::new())?;
    let (not_before, wait_reason) = match policy::decide(&facts) {
        Decision::Refuse(r) => return Err(SubmitError::Refused(r)),
        Decision::Wait { until, reason } => (until, Some(reason.as_str())),
        Decision::Send { .. } => (now, None),
    };
    Ok(rows::enqueue(
        c,
        &NewSend {
            tenant,
            phone_number_id: &from,
            to: &to,
            kind: &checked.kind,
            category: checked.category.as_str(),
            body: &checked.body,
            idempotency_key,
            source,
            not_before,
            wait_reason,
        },
    )?)
}

/// A recipient as Meta's `to` wants it: E.164 digits without "+".
fn normalise_recipient(raw: &str, region: &str) -> Option<String> {
    let e164 = if raw.starts_with('+') {
        phone::to_e164(raw, None)
    } else if raw.chars().all(|ch| ch.is_ascii_digit()) && raw.len() > 10 {
        // Digits only and long enough to carry a country code: a WhatsApp id.
        phone::wa_id_to_e164(raw).or_else(|| phone::to_e164(raw, Some(region)))
    } else {
        phone::to_e164(raw, Some(region))
    }?;
    Some(e164.trim_start_matches('+').to_owned())
}

fn tenant_numbers(
    c: &Connection,
    tenant: &str,
) -> Result<Option<(String, Vec<String>)>, StoreError> {
    Ok(scrm_store::tenants::get(c, tenant)?.map(|t| (t.default_region, t.phone_number_ids)))
}

/// The limits of `number`: defaults, then the tenant's overrides, then the number's.
///
/// # Errors
/// On database failure; stored overrides that no longer validate are ignored with a
/// warning rather than stopping sends.
pub fn effective_limits(
    c: &Connection,
    tenant: &str,
    number: &str,
    defaults: Limits,
) -> Result<Limits, StoreError> {
    let (t, n) = scrm_store::tenants::limit_overrides(c, tenant, number)?;
    let mut limits = defaults;
    for json in [Some(t), n].into_iter().flatten() {
        match serde_json::from_str::<LimitOverrides>(&json)
            .map_err(|e| e.to_string())
            .and_then(|o| limits.with(&o))
        {
            Ok(l) => limits = l,
            Err(e) => tracing::warn!(tenant, error = %e, "ignoring invalid stored limit overrides"),
        }
    }
    Ok(limits)
}

/// The rules' kind of a stored message kind.
fn rule_kind(kind: &str) -> policy::Kind {
    match kind {
        "read" => policy::Kind::Read,
        "template" => policy::Kind::Template,
        _ => policy::Kind::FreeForm,
    }
}

/// One send as the rules see it: who sends what to whom.
struct Target<'a> {
    tenant: &'a str,
    number: &'a str,
    to: &'a str,
    kind: policy::Kind,
    category: Category,
}

fn gather(
    c: &Connection,
    t: &Target<'_>,
    limits: Limits,
    now: i64,
    reached: u32,
    oldest: Option<i64>,
    reached_this_round: &HashSet<String>,
) -> Result<Facts, StoreError> {
    let (last_bi, recipient_reached) =
        rows::recipient_history(c, t.tenant, t.number, t.to, now - policy::DAY_MS)?;
    Ok(Facts {
        now,
        kind: t.kind,
        category: t.category,
        last_inbound_at: if t.kind == policy::Kind::Read {
            None
        } else {
            rows::last_inbound_at(c, t.tenant, t.number, t.to)?
        },
        consent: consent::get(c, t.tenant, t.to)?,
        number_marketing_paused_until: rows::number_paused_until(c, t.number)?,
        daily_cap: limits.daily_cap.get(),
        require_opt_in: limits.require_opt_in,
        reached_24h: reached,
        oldest_reached_at: oldest,
        recipient_reached: recipient_reached || reached_this_round.contains(t.to),
        last_business_initiated_to_recipient: last_bi,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipients_are_normalised_to_digits() {
        assert_eq!(
            normalise_recipient("+39 347 123 4567", "US").as_deref(),
            Some("393471234567")
        );
        assert_eq!(
            normalise_recipient("347 123 4567", "IT").as_deref(),
            Some("393471234567")
        );
        assert_eq!(
            normalise_recipient("5215512345678", "US").as_deref(),
            Some("525512345678")
        );
        assert_eq!(normalise_recipient("not a number", "IT"), None);
    }
}
