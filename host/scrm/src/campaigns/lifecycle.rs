//! A campaign's life: its plan, starting (now or at a time), pausing and resuming,
//! and its status. The states: `draft` → `scheduled` (a start time) → `running` ⇄
//! `paused` → `done` (every recipient handled).

use super::plan::{self, Plan, PlanInput};
use super::{CampaignError, audience, parse_start};
use crate::limits::Limits;
use crate::limits::policy::DAY_MS;
use scrm_store::campaigns::{Campaign, NewRecipient};
use scrm_store::{CampaignRepo, Db, OutboxRepo, Store, now_ms};
use serde::Serialize;
use serde_json::Value;

fn get(s: &dyn Store, tenant: &str, id: i64) -> Result<Campaign, CampaignError> {
    CampaignRepo::get(s, tenant, id)?
        .ok_or_else(|| CampaignError::NotFound(format!("tenant {tenant:?} has no campaign {id}")))
}

/// The plan of campaign `c` if it started at `starts_at`: its audience now, the
/// number's limits and what it used in the last 24 hours. Also the audience's
/// members, in order, for [`begin`].
fn make_plan(
    s: &dyn Store,
    c: &Campaign,
    starts_at: i64,
    defaults: Limits,
) -> Result<(Plan, Vec<scrm_store::campaigns::Member>), CampaignError> {
    let expression = audience::parse(&c.audience).map_err(|error| CampaignError::Audience {
        expression: c.audience.clone(),
        error,
    })?;
    let members = CampaignRepo::audience_members(s, &c.tenant_id, &expression)?;
    let limits = crate::outbox::effective_limits(s, &c.tenant_id, &c.phone_number_id, defaults)?;
    let (used, _) = OutboxRepo::reached_since(s, &c.phone_number_id, now_ms() - DAY_MS)?;
    let count = |f: &dyn Fn(&scrm_store::campaigns::Member) -> bool| {
        members.iter().filter(|m| f(m)).count() as u64
    };
    let input = PlanInput {
        starts_at,
        matched: members.len() as u64,
        recipients: count(&|m| m.opted_in),
        no_opt_in: count(&|m| !m.opted_in && !m.opted_out),
        opted_out: count(&|m| m.opted_out),
        interactions: u32::try_from(c.interactions).unwrap_or(plan::DEFAULT_INTERACTIONS),
        daily_cap: limits.daily_cap.get(),
        used_24h: used,
        mps: limits.mps,
    };
    Ok((plan::plan(&input), members))
}

/// The plan campaign `id` runs by: the one it was started with, or, before it
/// starts, what it would be now (at its scheduled time, if any).
///
/// # Errors
/// [`CampaignError::NotFound`]; the store's.
pub async fn plan_of(
    db: &Db,
    tenant: &str,
    id: i64,
    defaults: Limits,
) -> Result<Plan, CampaignError> {
    let tenant = tenant.to_owned();
    db.read(move |s| Ok(plan_in(s, &tenant, id, defaults)))
        .await?
}

fn plan_in(s: &dyn Store, tenant: &str, id: i64, defaults: Limits) -> Result<Plan, CampaignError> {
    let c = get(s, tenant, id)?;
    if let Some(p) = &c.plan {
        return Ok(serde_json::from_value(p.clone()).map_err(scrm_store::StoreError::Json)?);
    }
    let starts_at = c.scheduled_at.unwrap_or_else(now_ms).max(now_ms());
    Ok(make_plan(s, &c, starts_at, defaults)?.0)
}

/// Begins campaign `c` now, in the caller's transaction: makes its plan, stores its
/// recipients (the opted-in ones pending in their batch; the others skipped with
/// `no_opt_in` or `opted_out`) and moves it to `running`. `false` when it had begun.
///
/// # Errors
/// The store's; an audience that no longer parses (it was checked when saved).
pub fn begin(s: &dyn Store, c: &Campaign, defaults: Limits) -> Result<bool, CampaignError> {
    let (plan, members) = make_plan(s, c, now_ms(), defaults)?;
    let receiving = members.iter().filter(|m| m.opted_in).count();
    let mut batches = plan::batches(&plan, receiving).into_iter();
    let recipients: Vec<NewRecipient> = members
        .into_iter()
        .map(|m| {
            let skipped = if m.opted_in {
                None
            } else if m.opted_out {
                Some("opted_out".to_string())
            } else {
                Some("no_opt_in".to_string())
            };
            let batch = if skipped.is_none() {
                batches.next().unwrap_or(0)
            } else {
                0
            };
            NewRecipient {
                contact_id: m.contact_id,
                wa_id: m.wa_id,
                batch,
                skipped,
            }
        })
        .collect();
    let plan = serde_json::to_value(&plan).map_err(scrm_store::StoreError::Json)?;
    Ok(CampaignRepo::begin(s, c.id, &plan, &recipients)?)
}

/// Starts campaign `id`: at `at` (RFC 3339 or a delay; it becomes `scheduled`), or
/// now — a draft or scheduled campaign begins (its audience is resolved and its plan
/// made), a paused one resumes. Starting a running campaign changes nothing.
///
/// # Errors
/// [`CampaignError::State`] for a done or cancelled campaign; a bad `at`.
pub async fn start(
    db: &Db,
    tenant: &str,
    id: i64,
    at: Option<&str>,
    defaults: Limits,
) -> Result<Campaign, CampaignError> {
    let at = at.map(|t| parse_start(t, now_ms())).transpose()?;
    let tenant = tenant.to_owned();
    db.write(move |s| {
        scrm_store::transaction_if(s, |tx| Ok(start_in(tx, &tenant, id, at, defaults)))
    })
    .await?
}

fn start_in(
    s: &dyn Store,
    tenant: &str,
    id: i64,
    at: Option<i64>,
    defaults: Limits,
) -> Result<Campaign, CampaignError> {
    s.lock(&format!("campaign:{id}"))?;
    let c = get(s, tenant, id)?;
    let startable = ["draft", "scheduled", "paused", "running"];
    if !startable.contains(&c.state.as_str()) {
        return Err(CampaignError::State {
            id,
            state: c.state,
            action: "it cannot be started again",
        });
    }
    if let Some(at) = at {
        let from = ["draft", "scheduled", "paused"];
        if c.state == "running" {
            return Err(CampaignError::State {
                id,
                state: c.state,
                action: "it is sending already; pause it first to schedule it",
            });
        }
        CampaignRepo::set_state(s, tenant, id, &from, "scheduled", Some(at))?;
    } else if c.plan.is_none() {
        begin(s, &c, defaults)?;
    } else {
        CampaignRepo::set_state(s, tenant, id, &["scheduled", "paused"], "running", None)?;
    }
    get(s, tenant, id)
}

/// Pauses campaign `id`: nothing more is queued until it is started again (sends
/// already in the outbox go). Pausing a paused campaign changes nothing.
///
/// # Errors
/// [`CampaignError::State`] unless it is running, scheduled or paused.
pub async fn pause(db: &Db, tenant: &str, id: i64) -> Result<Campaign, CampaignError> {
    let tenant = tenant.to_owned();
    db.write(move |s| Ok(pause_in(s, &tenant, id))).await?
}

fn pause_in(s: &dyn Store, tenant: &str, id: i64) -> Result<Campaign, CampaignError> {
    let c = get(s, tenant, id)?;
    match c.state.as_str() {
        "paused" => Ok(c),
        "running" | "scheduled" => {
            CampaignRepo::set_state(s, tenant, id, &["running", "scheduled"], "paused", None)?;
            get(s, tenant, id)
        }
        _ => Err(CampaignError::State {
            id,
            state: c.state,
            action: "only a running or scheduled campaign can be paused",
        }),
    }
}

/// A campaign with its progress: recipients counted by outcome, skipped ones by
/// reason, and when the next window opens.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// The campaign.
    #[serde(flatten)]
    pub campaign: Campaign,
    /// Recipients by outcome: `pending`, `queued`, `sent`, `delivered`, `read`,
    /// `failed`, `skipped`.
    pub counts: Value,
    /// Skipped recipients by reason.
    pub skipped: Value,
    /// The batch being sent (from 0), when one is pending.
    pub current_batch: Option<i64>,
    /// When the current batch may start, Unix ms (its window, and 24 hours after the
    /// previous batch's last send).
    pub batch_starts_at: Option<i64>,
}

fn pairs(rows: Vec<(String, i64)>) -> Value {
    Value::Object(rows.into_iter().map(|(k, n)| (k, Value::from(n))).collect())
}

/// The status of campaign `id`, or of all the tenant's campaigns (newest first).
///
/// # Errors
/// [`CampaignError::NotFound`]; the store's.
pub async fn status(db: &Db, tenant: &str, id: Option<i64>) -> Result<Vec<Status>, CampaignError> {
    let tenant = tenant.to_owned();
    db.read(move |s| Ok(status_in(s, &tenant, id))).await?
}

fn status_in(s: &dyn Store, tenant: &str, id: Option<i64>) -> Result<Vec<Status>, CampaignError> {
    let campaigns = match id {
        Some(id) => vec![get(s, tenant, id)?],
        None => {
            if scrm_store::TenantRepo::get(s, tenant)?.is_none() {
                return Err(CampaignError::NotFound(format!("no tenant {tenant:?}")));
            }
            CampaignRepo::list(s, tenant)?
        }
    };
    campaigns.into_iter().map(|c| status_of(s, c)).collect()
}

fn status_of(s: &dyn Store, c: Campaign) -> Result<Status, CampaignError> {
    let progress = CampaignRepo::progress(s, c.id)?;
    let windows: Vec<plan::Window> = c
        .plan
        .as_ref()
        .and_then(|p| serde_json::from_value(p["windows"].clone()).ok())
        .unwrap_or_default();
    let batch_starts_at = progress.batch.map(|b| {
        let window = windows.get(b as usize).map_or(0, |w| w.starts_at);
        let after_previous = progress
            .previous_batch_last_queued_at
            .map_or(0, |t| t + DAY_MS);
        window.max(after_previous)
    });
    Ok(Status {
        counts: pairs(CampaignRepo::outcome_counts(s, c.id)?),
        skipped: pairs(CampaignRepo::skipped_reasons(s, c.id)?),
        current_batch: progress.batch,
        batch_starts_at,
        campaign: c,
    })
}

/// A recipient's outcome and its reason, from its row, its outbox row and the
/// stored message: `pending`; `skipped` (why); `queued` (why it waits, if held);
/// `sent`, `delivered`, `read`; `failed` (the outbox's last error: dead, suppressed,
/// needs a template, undeliverable, cancelled, or Meta's `failed` status).
pub fn outcome(r: &scrm_store::campaigns::RecipientRow) -> (&'static str, Option<String>) {
    match (
        r.state.as_str(),
        r.outbox_state.as_deref(),
        r.message_status.as_deref(),
    ) {
        ("pending", ..) => ("pending", None),
        ("skipped", ..) => ("skipped", r.reason.clone()),
        (_, Some("queued" | "sending"), _) => ("queued", r.wait_reason.clone()),
        (_, Some("sent"), Some("read" | "played")) => ("read", None),
        (_, Some("sent"), Some("delivered")) => ("delivered", None),
        (_, Some("sent"), Some("failed")) => ("failed", r.last_error.clone()),
        (_, Some("sent"), _) => ("sent", None),
        (_, Some(state), _) => (
            "failed",
            Some(r.last_error.clone().unwrap_or_else(|| state.to_string())),
        ),
        (_, None, _) => ("failed", Some("the outbox row is gone".into())),
    }
}
