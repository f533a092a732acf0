//! Campaigns: one approved template sent to an audience of a tenant's contacts, with
//! per-contact variables, planned against the sending number's limits.
//!
//! A campaign row ([`Campaign`]) keeps what was asked (template, parameters, the
//! audience expression, the number) and where it stands (`draft` → `scheduled` /
//! `running` ⇄ `paused` → `done`, or `cancelled`). When it first starts, its audience
//! is resolved ([`audience::members`]) and stored as recipients, each in the batch
//! (24-hour window) the plan put it in ([`begin`]); the runner then moves recipients
//! from `pending` to `queued` (with their outbox row) or `skipped` (with why). What
//! became of a queued send is not copied here: [`recipients`] reads it from the
//! outbox row and the stored message's status.
//!
//! The rules (which transitions are allowed, the plan, pacing) live in
//! `scrm::campaigns`; this module keeps rows.

pub mod audience;
#[cfg(test)]
mod tests;

use super::page::{Page, PageRequest};
use super::{StoreError, now_ms};
use crate::params;
use crate::sql::{Conn, Row};
pub use audience::{Audience, FieldSource, FieldTest, Member};
use serde::Serialize;
use serde_json::Value;

/// A campaign to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCampaign<'a> {
    /// Its tenant.
    pub tenant: &'a str,
    /// A name for people.
    pub name: &'a str,
    /// The template's name.
    pub template: &'a str,
    /// The template's language.
    pub language: &'a str,
    /// The template's category, lower case.
    pub category: &'a str,
    /// The body parameters (template language), JSON.
    pub params: &'a Value,
    /// The audience expression as written.
    pub audience: &'a str,
    /// The sending number.
    pub phone_number_id: &'a str,
    /// API calls expected per recipient.
    pub interactions: i64,
    /// `draft` or `scheduled`.
    pub state: &'a str,
    /// A scheduled start, Unix ms.
    pub scheduled_at: Option<i64>,
}

/// A stored campaign.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Campaign {
    /// Host id.
    pub id: i64,
    /// Its tenant.
    pub tenant_id: String,
    /// A name for people.
    pub name: String,
    /// The template's name.
    pub template: String,
    /// The template's language.
    pub language: String,
    /// The template's category, lower case.
    pub category: String,
    /// The body parameters.
    pub params: Value,
    /// The audience expression as written.
    pub audience: String,
    /// The sending number.
    pub phone_number_id: String,
    /// API calls expected per recipient.
    pub interactions: i64,
    /// `draft`, `scheduled`, `running`, `paused`, `done` or `cancelled`.
    pub state: String,
    /// A scheduled start, Unix ms.
    pub scheduled_at: Option<i64>,
    /// The plan it runs by, made when it first started.
    pub plan: Option<Value>,
    /// Created, Unix ms.
    pub created_at: i64,
    /// First started, Unix ms.
    pub started_at: Option<i64>,
    /// Every recipient handled (or cancelled), Unix ms.
    pub finished_at: Option<i64>,
    /// Last changed, Unix ms.
    pub updated_at: i64,
}

const COLUMNS: &str = "id, tenant_id, name, template, language, category, params, audience, \
     phone_number_id, interactions, state, scheduled_at, plan, created_at, started_at, \
     finished_at, updated_at";

fn campaign(r: &Row<'_>) -> Result<Campaign, StoreError> {
    Ok(Campaign {
        id: r.get(0)?,
        tenant_id: r.get(1)?,
        name: r.get(2)?,
        template: r.get(3)?,
        language: r.get(4)?,
        category: r.get(5)?,
        params: serde_json::from_str(&r.get::<String>(6)?)?,
        audience: r.get(7)?,
        phone_number_id: r.get(8)?,
        interactions: r.get(9)?,
        state: r.get(10)?,
        scheduled_at: r.get(11)?,
        plan: r
            .get::<Option<String>>(12)?
            .map(|p| serde_json::from_str(&p))
            .transpose()?,
        created_at: r.get(13)?,
        started_at: r.get(14)?,
        finished_at: r.get(15)?,
        updated_at: r.get(16)?,
    })
}

/// Stores a new campaign.
///
/// # Errors
/// On database failure (an unknown tenant is a foreign-key failure).
pub(crate) fn insert(conn: &Conn<'_>, c: &NewCampaign<'_>) -> Result<Campaign, StoreError> {
    let now = now_ms();
    conn.query_one(
        &format!(
            "INSERT INTO campaigns (tenant_id, name, template, language, category, params,
                 audience, phone_number_id, interactions, state, scheduled_at, created_at,
                 updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12)
             RETURNING {COLUMNS}"
        ),
        params![
            c.tenant,
            c.name,
            c.template,
            c.language,
            c.category,
            c.params.to_string(),
            c.audience,
            c.phone_number_id,
            c.interactions,
            c.state,
            c.scheduled_at,
            now
        ],
        campaign,
    )
}

/// One campaign of a tenant.
///
/// # Errors
/// On database failure.
pub(crate) fn get(conn: &Conn<'_>, tenant: &str, id: i64) -> Result<Option<Campaign>, StoreError> {
    conn.query_opt(
        &format!("SELECT {COLUMNS} FROM campaigns WHERE tenant_id = ?1 AND id = ?2"),
        params![tenant, id],
        campaign,
    )
}

/// A tenant's campaigns, newest first.
///
/// # Errors
/// On database failure.
pub(crate) fn list(conn: &Conn<'_>, tenant: &str) -> Result<Vec<Campaign>, StoreError> {
    conn.query(
        &format!("SELECT {COLUMNS} FROM campaigns WHERE tenant_id = ?1 ORDER BY id DESC"),
        params![tenant],
        campaign,
    )
}

/// Campaigns that are running, or scheduled to start by `now`, oldest first.
///
/// # Errors
/// On database failure.
pub(crate) fn active(conn: &Conn<'_>, now: i64) -> Result<Vec<Campaign>, StoreError> {
    conn.query(
        &format!(
            "SELECT {COLUMNS} FROM campaigns
             WHERE state = 'running' OR (state = 'scheduled' AND scheduled_at <= ?1)
             ORDER BY id"
        ),
        params![now],
        campaign,
    )
}

/// Moves a campaign to `state` if it is in one of `from`; sets `scheduled_at`
/// (scheduling) and `finished_at` (ending) as given. The campaign as it is after.
/// `None` when the tenant has no such campaign.
///
/// # Errors
/// On database failure.
pub(crate) fn set_state(
    conn: &Conn<'_>,
    tenant: &str,
    id: i64,
    from: &[&str],
    state: &str,
    scheduled_at: Option<i64>,
) -> Result<Option<Campaign>, StoreError> {
    let now = now_ms();
    let finished = matches!(state, "done" | "cancelled").then_some(now);
    let allowed: Vec<String> = (0..from.len()).map(|i| format!("?{}", i + 7)).collect();
    let mut values: Vec<&dyn crate::sql::Param> = vec![
        &tenant as &dyn crate::sql::Param,
        &id,
        &state,
        &scheduled_at,
        &finished,
        &now,
    ];
    values.extend(from.iter().map(|f| f as &dyn crate::sql::Param));
    conn.execute(
        &format!(
            "UPDATE campaigns SET state = ?3, scheduled_at = COALESCE(?4, scheduled_at),
                 finished_at = COALESCE(?5, finished_at), updated_at = ?6
             WHERE tenant_id = ?1 AND id = ?2 AND state IN ({})",
            allowed.join(", ")
        ),
        &values,
    )?;
    get(conn, tenant, id)
}

/// A recipient to store when a campaign begins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRecipient {
    /// The contact.
    pub contact_id: i64,
    /// Where the message goes.
    pub wa_id: String,
    /// The batch (24-hour window) it goes in, from 0.
    pub batch: i64,
    /// Why it is skipped from the start (no opt-in, opted out); `None`: pending.
    pub skipped: Option<String>,
}

/// Begins a campaign in one transaction: stores its plan and recipients, and moves
/// it to `running` with `started_at` set, if it has not begun yet (a draft, a
/// scheduled campaign, one paused before its time). `false` when it
/// had begun already or is in another state.
///
/// # Errors
/// On database failure.
pub(crate) fn begin(
    conn: &Conn<'_>,
    id: i64,
    plan: &Value,
    recipients: &[NewRecipient],
) -> Result<bool, StoreError> {
    conn.tx(|tx| {
        let now = now_ms();
        let updated = tx.execute(
            "UPDATE campaigns SET state = 'running', plan = ?2, started_at = ?3, updated_at = ?3
             WHERE id = ?1 AND started_at IS NULL
               AND state IN ('draft', 'scheduled', 'paused', 'running')",
            params![id, plan.to_string(), now],
        )?;
        if updated == 0 {
            return Ok(false);
        }
        for r in recipients {
            let state = if r.skipped.is_some() {
                "skipped"
            } else {
                "pending"
            };
            tx.execute(
                "INSERT INTO campaign_recipients (campaign_id, contact_id, wa_id, batch, state,
                     reason, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (campaign_id, contact_id) DO NOTHING",
                params![id, r.contact_id, r.wa_id, r.batch, state, r.skipped, now],
            )?;
        }
        Ok(true)
    })
}

/// A recipient waiting to be queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// The contact.
    pub contact_id: i64,
    /// Where the message goes.
    pub wa_id: String,
    /// Its batch.
    pub batch: i64,
}

/// Where a campaign's batches stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Progress {
    /// The lowest batch with pending recipients; `None` when none is pending.
    pub batch: Option<i64>,
    /// When the last recipient of the batch before it was queued, Unix ms.
    pub previous_batch_last_queued_at: Option<i64>,
}

/// Where the campaign's batches stand (see [`Progress`]).
///
/// # Errors
/// On database failure.
pub(crate) fn progress(conn: &Conn<'_>, campaign: i64) -> Result<Progress, StoreError> {
    let batch: Option<i64> = conn.query_one(
        "SELECT MIN(batch) FROM campaign_recipients WHERE campaign_id = ?1 AND state = 'pending'",
        params![campaign],
        |r| r.get(0),
    )?;
    let Some(b) = batch else {
        return Ok(Progress::default());
    };
    let previous = conn.query_one(
        "SELECT MAX(queued_at) FROM campaign_recipients WHERE campaign_id = ?1 AND batch = ?2",
        params![campaign, b - 1],
        |r| r.get(0),
    )?;
    Ok(Progress {
        batch: Some(b),
        previous_batch_last_queued_at: previous,
    })
}

/// Up to `limit` pending recipients of `batch`, by contact id.
///
/// # Errors
/// On database failure.
pub(crate) fn pending(
    conn: &Conn<'_>,
    campaign: i64,
    batch: i64,
    limit: i64,
) -> Result<Vec<Pending>, StoreError> {
    conn.query(
        "SELECT contact_id, wa_id, batch FROM campaign_recipients
         WHERE campaign_id = ?1 AND batch = ?2 AND state = 'pending'
         ORDER BY contact_id LIMIT ?3",
        params![campaign, batch, limit],
        |r| {
            Ok(Pending {
                contact_id: r.get(0)?,
                wa_id: r.get(1)?,
                batch: r.get(2)?,
            })
        },
    )
}

/// Records a pending recipient's send (its outbox row) at `at`, or why it was
/// skipped.
///
/// # Errors
/// On database failure.
pub(crate) fn mark(
    conn: &Conn<'_>,
    campaign: i64,
    contact_id: i64,
    outcome: Result<i64, &str>,
    at: i64,
) -> Result<(), StoreError> {
    let (state, outbox, reason, queued_at) = match outcome {
        Ok(outbox) => ("queued", Some(outbox), None, Some(at)),
        Err(reason) => ("skipped", None, Some(reason), None),
    };
    conn.execute(
        "UPDATE campaign_recipients SET state = ?3, outbox_id = ?4, reason = ?5, queued_at = ?6,
             updated_at = ?7
         WHERE campaign_id = ?1 AND contact_id = ?2 AND state = 'pending'",
        params![campaign, contact_id, state, outbox, reason, queued_at, at],
    )?;
    Ok(())
}

/// Campaign sends from `number` still in the outbox (queued or at Meta): how far
/// campaigns are ahead of the sender.
///
/// # Errors
/// On database failure.
pub(crate) fn backlog(conn: &Conn<'_>, number: &str) -> Result<i64, StoreError> {
    conn.query_one(
        "SELECT COUNT(*) FROM outbox
         WHERE phone_number_id = ?1 AND state IN ('queued', 'sending') AND source LIKE 'campaign:%'",
        params![number],
        |r| r.get(0),
    )
}

/// What became of one recipient, joined from the outbox row and the stored message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecipientRow {
    /// The contact.
    pub contact_id: i64,
    /// Where the message goes.
    pub wa_id: String,
    /// Its batch.
    pub batch: i64,
    /// `pending`, `queued` or `skipped`.
    pub state: String,
    /// Why it was skipped.
    pub reason: Option<String>,
    /// Its outbox row.
    pub outbox_id: Option<i64>,
    /// When it was queued, Unix ms.
    pub queued_at: Option<i64>,
    /// The outbox row's state.
    pub outbox_state: Option<String>,
    /// Why a queued outbox row waits.
    pub wait_reason: Option<String>,
    /// The outbox row's last error.
    pub last_error: Option<String>,
    /// Meta's error code of the last failure.
    pub error_code: Option<i64>,
    /// Meta's message id.
    pub wamid: Option<String>,
    /// The stored message's status (`accepted`, `sent`, `delivered`, `read`,
    /// `failed`).
    pub message_status: Option<String>,
}

/// One page of a campaign's recipients by contact id, with their sends' outcomes.
///
/// # Errors
/// On database failure.
pub(crate) fn recipients(
    conn: &Conn<'_>,
    campaign: i64,
    page: PageRequest,
) -> Result<Page<RecipientRow>, StoreError> {
    let rows = conn.query(
        "SELECT r.contact_id, r.wa_id, r.batch, r.state, r.reason, r.outbox_id, r.queued_at,
                o.state, o.wait_reason, o.last_error, o.error_code, o.wamid, m.status
         FROM campaign_recipients r
         LEFT JOIN outbox o ON o.id = r.outbox_id
         LEFT JOIN messages m ON m.tenant_id = o.tenant_id AND m.wamid = o.wamid
         WHERE r.campaign_id = ?1 AND r.contact_id > ?2
         ORDER BY r.contact_id LIMIT ?3",
        params![campaign, page.after, page.sql_limit()],
        |r| {
            Ok(RecipientRow {
                contact_id: r.get(0)?,
                wa_id: r.get(1)?,
                batch: r.get(2)?,
                state: r.get(3)?,
                reason: r.get(4)?,
                outbox_id: r.get(5)?,
                queued_at: r.get(6)?,
                outbox_state: r.get(7)?,
                wait_reason: r.get(8)?,
                last_error: r.get(9)?,
                error_code: r.get(10)?,
                wamid: r.get(11)?,
                message_status: r.get(12)?,
            })
        },
    )?;
    Ok(Page::from_rows(rows, page, |r| r.contact_id))
}

/// How many recipients have each outcome: `pending`, `skipped`, `queued`, `sent`,
/// `delivered`, `read` or `failed` (the outbox gave up, or Meta said `failed`).
///
/// # Errors
/// On database failure.
pub(crate) fn outcome_counts(
    conn: &Conn<'_>,
    campaign: i64,
) -> Result<Vec<(String, i64)>, StoreError> {
    conn.query(
        "SELECT CASE
                  WHEN r.state IN ('pending', 'skipped') THEN r.state
                  WHEN o.state IN ('queued', 'sending') THEN 'queued'
                  WHEN o.state = 'sent' AND m.status IN ('read', 'played') THEN 'read'
                  WHEN o.state = 'sent' AND m.status = 'delivered' THEN 'delivered'
                  WHEN o.state = 'sent' AND m.status = 'failed' THEN 'failed'
                  WHEN o.state = 'sent' THEN 'sent'
                  ELSE 'failed'
                END AS outcome, COUNT(*)
         FROM campaign_recipients r
         LEFT JOIN outbox o ON o.id = r.outbox_id
         LEFT JOIN messages m ON m.tenant_id = o.tenant_id AND m.wamid = o.wamid
         WHERE r.campaign_id = ?1
         GROUP BY outcome ORDER BY outcome",
        params![campaign],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// Skipped recipients of a campaign counted by reason.
///
/// # Errors
/// On database failure.
pub(crate) fn skipped_reasons(
    conn: &Conn<'_>,
    campaign: i64,
) -> Result<Vec<(String, i64)>, StoreError> {
    conn.query(
        "SELECT COALESCE(reason, ''), COUNT(*) FROM campaign_recipients
         WHERE campaign_id = ?1 AND state = 'skipped' GROUP BY reason ORDER BY reason",
        params![campaign],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

crate::repo! {
    /// Campaigns and their recipients.
    pub trait CampaignRepo {
        /// Stores a new campaign.
        fn insert(c: &NewCampaign<'_>) -> Result<Campaign, StoreError>;
        /// One campaign of a tenant.
        fn get(tenant: &str, id: i64) -> Result<Option<Campaign>, StoreError>;
        /// A tenant's campaigns, newest first.
        fn list(tenant: &str) -> Result<Vec<Campaign>, StoreError>;
        /// Campaigns that are running, or scheduled to start by `now`.
        fn active(now: i64) -> Result<Vec<Campaign>, StoreError>;
        /// Moves a campaign to `state` if it is in one of `from`; the campaign after.
        fn set_state(tenant: &str, id: i64, from: &[&str], state: &str, scheduled_at: Option<i64>) -> Result<Option<Campaign>, StoreError>;
        /// Stores the plan and recipients and moves the campaign to `running`, once.
        fn begin(id: i64, plan: &Value, recipients: &[NewRecipient]) -> Result<bool, StoreError>;
        /// Where the campaign's batches stand.
        fn progress(campaign: i64) -> Result<Progress, StoreError>;
        /// Up to `limit` pending recipients of `batch`.
        fn pending(campaign: i64, batch: i64, limit: i64) -> Result<Vec<Pending>, StoreError>;
        /// Records a pending recipient's outbox row, or why it was skipped.
        fn mark(campaign: i64, contact_id: i64, outcome: Result<i64, &str>, at: i64) -> Result<(), StoreError>;
        /// Campaign sends from `number` still queued or at Meta.
        fn backlog(number: &str) -> Result<i64, StoreError>;
        /// One page of a campaign's recipients with their sends' outcomes.
        fn recipients(campaign: i64, page: PageRequest) -> Result<Page<RecipientRow>, StoreError>;
        /// How many recipients have each outcome.
        fn outcome_counts(campaign: i64) -> Result<Vec<(String, i64)>, StoreError>;
        /// Skipped recipients counted by reason.
        fn skipped_reasons(campaign: i64) -> Result<Vec<(String, i64)>, StoreError>;
        /// The contacts of `tenant` that `audience` matches, with their consent.
        fn audience_members(tenant: &str, audience: &Audience) -> Result<Vec<Member>, StoreError>;
    }
}

/// The contacts of `tenant` that `audience` matches, with their consent.
///
/// # Errors
/// On database failure.
pub(crate) fn audience_members(
    conn: &Conn<'_>,
    tenant: &str,
    audience: &Audience,
) -> Result<Vec<Member>, StoreError> {
    audience::members(conn, tenant, audience)
}
