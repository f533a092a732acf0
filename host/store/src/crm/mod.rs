//! Two-way CRM sync state: per-tenant settings, the durable queue of CRM writes,
//! links between host and CRM records, field-level clocks (last writer wins), the
//! review queue and the pull cursor. The host's sync engine uses them.

mod audits;
mod dedupe;
mod jobs;
mod links;
pub mod mapping_log;
mod phones;
mod reviews;
mod signals;
mod unread;

pub use audits::{Audit, FieldScore};
pub(crate) use audits::{last_audit, record_audit, sample_contacts};
pub(crate) use dedupe::*;
pub use jobs::*;
pub use links::*;
pub use mapping_log::{MappingCount, WeekWrites, week_of};
pub(crate) use mapping_log::{log_mapping, mapping_log, week_writes};
pub use phones::PhoneProblem;
pub(crate) use phones::{clear_phone_problem, note_phone_problem, phone_problems};
pub use reviews::*;
pub use signals::*;
pub use unread::*;

use super::page::{Page, PageRequest};
use super::{StoreError, now_ms};
use crate::params;
use crate::sql::Conn;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How a tenant's CRM sync runs. Missing fields take their defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CrmSettings {
    /// `realtime` (each event is written at once), `batch` (written every
    /// `batch_minutes`) or `off` (nothing is queued).
    pub mode: String,
    /// The batch interval in minutes (batch mode).
    pub batch_minutes: u32,
    /// How often changes are pulled from the CRM, in seconds; 0 turns the scheduled
    /// pull off (CRM webhooks still apply).
    pub pull_seconds: u32,
    /// The CRM's rate limit the host keeps to: `rate_requests` per `rate_seconds`.
    pub rate_requests: u32,
    /// See `rate_requests`.
    pub rate_seconds: u32,
    /// Chat history is kept this many days (at least 180); older messages are purged.
    pub retention_days: u32,
    /// Likely duplicates at or above this confidence are merged automatically; below
    /// it they are proposed in the review queue.
    pub merge_confidence: f64,
    /// A business message unread this many hours lowers the contact's priority in the
    /// CRM (0: never).
    pub unread_hours: u32,
    /// The priority written to the CRM by that rule.
    pub unread_priority: String,
    /// The approved template a reply written in the CRM goes out as when the
    /// customer's 24-hour window is closed (its text is the template's `{{1}}`);
    /// empty: such replies wait until the customer writes again.
    pub reply_template: String,
    /// The template's language code.
    pub reply_template_language: String,
    /// Where a contact's CRM record opens in a browser, with `{id}` for its CRM id
    /// (e.g. `https://app.hubspot.com/contacts/12345/record/0-1/{id}`); the web inbox
    /// links the customer's profile there. Empty: no link.
    pub record_url: String,
}

impl Default for CrmSettings {
    fn default() -> CrmSettings {
        CrmSettings {
            mode: "realtime".into(),
            batch_minutes: 15,
            pull_seconds: 60,
            // HubSpot's documented default for private apps.
            rate_requests: 100,
            rate_seconds: 10,
            retention_days: 180,
            merge_confidence: 0.95,
            unread_hours: 24,
            unread_priority: "low".into(),
            reply_template: String::new(),
            reply_template_language: "en".into(),
            record_url: String::new(),
        }
    }
}

impl CrmSettings {
    /// Checks every value; the message says which one is wrong and why.
    ///
    /// # Errors
    /// A human-readable reason.
    pub fn validate(&self) -> Result<(), String> {
        if !matches!(self.mode.as_str(), "realtime" | "batch" | "off") {
            return Err(format!(
                "mode must be realtime, batch or off, not {:?}",
                self.mode
            ));
        }
        if !(1..=1440).contains(&self.batch_minutes) {
            return Err("batch_minutes must be 1 to 1440".into());
        }
        if self.pull_seconds > 86_400 {
            return Err("pull_seconds must be 0 (off) to 86400".into());
        }
        if self.rate_requests == 0 || !(1..=3600).contains(&self.rate_seconds) {
            return Err("rate_requests must be at least 1 and rate_seconds 1 to 3600".into());
        }
        if self.retention_days < MIN_RETENTION_DAYS {
            return Err(format!(
                "retention_days must be at least {MIN_RETENTION_DAYS}: chat history is kept at least that long"
            ));
        }
        if !(0.0..=1.0).contains(&self.merge_confidence) || self.merge_confidence < 0.8 {
            return Err(
                "merge_confidence must be between 0.8 and 1 (1: never merge automatically)".into(),
            );
        }
        if self.unread_hours > 24 * 30 {
            return Err("unread_hours must be 0 (off) to 720".into());
        }
        if self.unread_priority.trim().is_empty() {
            return Err("unread_priority must not be empty".into());
        }
        if self.reply_template.len() > 512
            || !self
                .reply_template
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(
                "reply_template must be a template name (lowercase letters, digits and _) or empty"
                    .into(),
            );
        }
        if self.reply_template_language.trim().is_empty() {
            return Err("reply_template_language must not be empty".into());
        }
        if !self.record_url.is_empty()
            && !((self.record_url.starts_with("https://")
                || self.record_url.starts_with("http://"))
                && self.record_url.contains("{id}")
                && !self.record_url.chars().any(char::is_whitespace))
        {
            return Err(
                "record_url must be an http(s) URL with {id} where the CRM id goes, or empty"
                    .into(),
            );
        }
        Ok(())
    }
}

/// The shortest chat-history retention a tenant can set, in days.
pub const MIN_RETENTION_DAYS: u32 = 180;

/// A tenant's settings (the defaults when none were stored).
///
/// # Errors
/// On database failure.
pub(crate) fn settings(conn: &Conn<'_>, tenant: &str) -> Result<CrmSettings, StoreError> {
    Ok(conn
        .query_opt(
            "SELECT mode, batch_minutes, pull_seconds, rate_requests, rate_seconds, retention_days,
                    merge_confidence, unread_hours, unread_priority, reply_template,
                    reply_template_language, record_url
             FROM crm_settings WHERE tenant_id = ?1",
            params![tenant],
            |r| {
                Ok(CrmSettings {
                    mode: r.get(0)?,
                    batch_minutes: r.get(1)?,
                    pull_seconds: r.get(2)?,
                    rate_requests: r.get(3)?,
                    rate_seconds: r.get(4)?,
                    retention_days: r.get(5)?,
                    merge_confidence: r.get(6)?,
                    unread_hours: r.get(7)?,
                    unread_priority: r.get(8)?,
                    reply_template: r.get(9)?,
                    reply_template_language: r.get(10)?,
                    record_url: r.get(11)?,
                })
            },
        )?
        .unwrap_or_default())
}

/// Stores a tenant's settings (validated by the caller).
///
/// # Errors
/// On database failure.
pub(crate) fn put_settings(
    conn: &Conn<'_>,
    tenant: &str,
    s: &CrmSettings,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO crm_settings (tenant_id, mode, batch_minutes, pull_seconds, rate_requests,
             rate_seconds, retention_days, updated_at, merge_confidence, unread_hours, unread_priority,
             reply_template, reply_template_language, record_url)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
         ON CONFLICT (tenant_id) DO UPDATE SET mode = ?2, batch_minutes = ?3, pull_seconds = ?4,
             rate_requests = ?5, rate_seconds = ?6, retention_days = ?7, updated_at = ?8,
             merge_confidence = ?9, unread_hours = ?10, unread_priority = ?11,
             reply_template = ?12, reply_template_language = ?13, record_url = ?14",
        params![
            tenant,
            s.mode,
            i64::from(s.batch_minutes),
            i64::from(s.pull_seconds),
            i64::from(s.rate_requests),
            i64::from(s.rate_seconds),
            i64::from(s.retention_days),
            now_ms(),
            s.merge_confidence,
            i64::from(s.unread_hours),
            s.unread_priority,
            s.reply_template,
            s.reply_template_language,
            s.record_url
        ],)?;
    Ok(())
}

/// The pull cursor of a tenant ("" before the first pull).
///
/// # Errors
/// On database failure.
pub(crate) fn cursor(conn: &Conn<'_>, tenant: &str) -> Result<String, StoreError> {
    Ok(conn
        .query_opt(
            "SELECT cursor FROM crm_cursors WHERE tenant_id = ?1",
            params![tenant],
            |r| r.get(0),
        )?
        .unwrap_or_default())
}

/// Stores the pull cursor of a tenant.
///
/// # Errors
/// On database failure.
pub(crate) fn set_cursor(conn: &Conn<'_>, tenant: &str, cursor: &str) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO crm_cursors (tenant_id, cursor, pulled_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (tenant_id) DO UPDATE SET cursor = ?2, pulled_at = ?3",
        params![tenant, cursor, now_ms()],
    )?;
    Ok(())
}

crate::repo! {
    /// CRM sync state: settings, the write queue, links, field clocks, reviews, duplicates, cursors.
    pub trait CrmRepo {
        /// Contacts (other than `contact`, not merged away) who bought one of `contact`'s
        /// SKUs within `window_ms` of it: `(id, name, shared sku)`, by id.
        fn same_sku_contacts(tenant: &str, contact: i64, window_ms: i64) -> Result<Vec<(i64, Option<String>, String)>, StoreError>;
        /// True when the pair was proposed (or decided) as duplicates before.
        fn duplicate_proposed(tenant: &str, a: i64, b: i64) -> Result<bool, StoreError>;
        /// Merges contact `absorb` into `keep`: both keep every conversation and message (a
        /// conversation is one customer number with one business number, so they stay
        /// where they are), `absorb` (and whatever was merged into it) points at `keep`,
        /// later CRM writes for `absorb`'s messages go to `keep`'s CRM record, and `keep` is
        /// queued to be written to the CRM again. False when the two are the same contact.
        fn merge_contacts(tenant: &str, keep: i64, absorb: i64) -> Result<bool, StoreError>;
        /// Queues a write unless one with the same `key` exists for the tenant; true when
        /// queued. A `contact` job that already ran is queued again (the contact changed).
        fn enqueue(tenant: &str, kind: &str, contact_id: i64, message_id: Option<i64>, key: &str, due_at: i64) -> Result<bool, StoreError>;
        /// Queues a `message` job (a note) for every message of `tenant` sent at or after
        /// `since` (Unix ms) that has none, oldest first, behind live jobs; `(newly
        /// queued, messages in the range)`. Running it again queues nothing new, so an
        /// interrupted backfill is resumed by running it again (or simply continues: the
        /// jobs are durable).
        fn enqueue_backfill(tenant: &str, since: i64, due_at: i64) -> Result<(usize, usize), StoreError>;
        /// Backfill jobs of a tenant by state.
        fn backfill_counts(tenant: &str) -> Result<Vec<(String, i64)>, StoreError>;
        /// Deletes up to `limit` of `tenant`'s messages sent *and* stored before `before` (Unix
        /// ms: a message replayed or backfilled today is kept its full retention),
        /// with their tags, statuses, revisions and sync records; media files stay (they are
        /// shared by content). How many messages were deleted.
        fn purge_before(tenant: &str, before: i64, limit: usize) -> Result<usize, StoreError>;
        /// Up to `limit` queued jobs due by `now`: live jobs before backfill ones, oldest first.
        fn due(now: i64, limit: usize) -> Result<Vec<Job>, StoreError>;
        /// Claims up to `limit` due jobs for `host` until `lease_until`: of each contact
        /// only its oldest due job, none while an earlier one is held, none of the
        /// tenants in `skip`.
        fn claim(host: &str, now: i64, lease_until: i64, limit: usize, skip: &[String]) -> Result<Vec<Job>, StoreError>;
        /// Gives back claimed jobs that were not started.
        fn unclaim(ids: &[i64]) -> Result<(), StoreError>;
        /// When the next queued job is due, if any is queued.
        fn next_due() -> Result<Option<i64>, StoreError>;
        /// Marks a job written.
        fn finish(id: i64) -> Result<(), StoreError>;
        /// Puts a job back for `due_at`; `counts` says whether this was a failed attempt
        /// (a rate-limit wait is not).
        fn retry(id: i64, due_at: i64, error: &str, counts: bool) -> Result<(), StoreError>;
        /// Makes every queued job of `tenant` that is backing off after a failure due now;
        /// how many.
        fn retry_waiting_now(tenant: &str) -> Result<usize, StoreError>;
        /// Moves a job to the dead-letter list.
        fn kill(id: i64, error: &str) -> Result<(), StoreError>;
        /// One page of a tenant's jobs, optionally in one state, oldest first.
        fn list_jobs(tenant: &str, state: Option<&str>, page: PageRequest) -> Result<Page<Job>, StoreError>;
        /// Counts of a tenant's jobs by state.
        fn job_counts(tenant: &str) -> Result<Vec<(String, i64)>, StoreError>;
        /// Puts a dead job back in the queue, due now; `None` when the tenant has no such
        /// job, `Err(state)` when it is not dead.
        fn requeue(tenant: &str, id: i64) -> Result<Option<Result<Job, String>>, StoreError>;
        /// Queues the CRM writes for one stored message inside the caller's transaction:
        /// the message as a note, and a `signal` job (`deal` for a sales signal, `case`
        /// for a service request) when it is one. Nothing is queued when the tenant's
        /// sync is off.
        fn enqueue_message(tenant: &str, contact_id: i64, message_id: i64, signal: Option<&str>) -> Result<usize, StoreError>;
        /// Queues a message's CRM writes when the tenant syncs (a mapper and a connector are
        /// installed); for messages the pipeline does not see, such as the business's own.
        fn enqueue_if_syncing(tenant: &str, contact_id: i64, message_id: i64) -> Result<usize, StoreError>;
        /// Queues a write of the contact to the CRM (one queued write per contact: a contact
        /// already queued is not queued twice; one already written is queued again).
        fn enqueue_contact(tenant: &str, contact_id: i64) -> Result<bool, StoreError>;
        /// The CRM record `object` (`contact`, `note`, `deal`) of host record `local_id`.
        fn link(tenant: &str, object: &str, local_id: i64) -> Result<Option<Link>, StoreError>;
        /// Records (or updates) a link.
        fn set_link(tenant: &str, object: &str, local_id: i64, link: &Link) -> Result<(), StoreError>;
        /// Records the hash of the record last written for a link, writing nothing else.
        fn set_record_hash(tenant: &str, object: &str, local_id: i64, hash: &str) -> Result<(), StoreError>;
        /// The host record linked to CRM record `crm_id` of kind `object`.
        fn local_for(tenant: &str, object: &str, crm_id: &str) -> Result<Option<(i64, Link)>, StoreError>;
        /// Every synced field of a contact.
        fn fields(tenant: &str, contact_id: i64) -> Result<Vec<(String, FieldClock)>, StoreError>;
        /// Sets one field's agreed value.
        fn set_field(tenant: &str, contact_id: i64, field: &str, clock: &FieldClock) -> Result<(), StoreError>;
        /// Sets a contact's name from the CRM (or a review), bumping its change time.
        fn set_contact_name(contact_id: i64, name: Option<&str>) -> Result<(), StoreError>;
        /// Sets a field from the CRM on the host: the clock, and the contact's own column
        /// for the name.
        fn set_host_field(tenant: &str, contact_id: i64, field: &str, clock: &FieldClock) -> Result<(), StoreError>;
        /// A tenant's settings (the defaults when none were stored).
        fn settings(tenant: &str) -> Result<CrmSettings, StoreError>;
        /// Stores a tenant's settings (validated by the caller).
        fn put_settings(tenant: &str, s: &CrmSettings) -> Result<(), StoreError>;
        /// The pull cursor of a tenant ("" before the first pull).
        fn cursor(tenant: &str) -> Result<String, StoreError>;
        /// Stores the pull cursor of a tenant.
        fn set_cursor(tenant: &str, cursor: &str) -> Result<(), StoreError>;
        /// Adds an open review entry; its id.
        fn add_review(tenant: &str, r: &NewReview<'_>) -> Result<i64, StoreError>;
        /// One page of a tenant's review queue, optionally in one state, oldest first.
        fn list_reviews(tenant: &str, state: Option<&str>, page: PageRequest) -> Result<Page<Review>, StoreError>;
        /// One review entry of a tenant.
        fn review(tenant: &str, id: i64) -> Result<Option<Review>, StoreError>;
        /// Closes a review entry as `accepted` or `reverted`.
        fn resolve_review(id: i64, state: &str) -> Result<(), StoreError>;
        /// Puts an overwrite of a differing value in the review queue: `kept` won, `lost` was
        /// replaced or refused (last writer wins).
        fn review_conflict(tenant: &str, contact_id: i64, field: &str, kept: Version<'_>, lost: Version<'_>, detail: Value) -> Result<i64, StoreError>;
        /// Up to 1,000 business messages not read `unread_hours` after they were sent (and
        /// sent within the last week), of tenants that sync, not flagged before.
        fn unread_candidates(now: i64) -> Result<Vec<Unread>, StoreError>;
        /// Records that the rule fired for `message_id`, so it never fires again.
        fn flag_unread(message_id: i64, now: i64) -> Result<(), StoreError>;
        /// The CRM id of the open `kind` record (`deal`, `case`) of a contact with `key`.
        fn open_deal(tenant: &str, contact_id: i64, kind: &str, key: &str) -> Result<Option<String>, StoreError>;
        /// Records the CRM id of the open `kind` record of a contact with `key`.
        fn set_open_deal(tenant: &str, contact_id: i64, kind: &str, key: &str, crm_id: &str, written: Option<&str>) -> Result<(), StoreError>;
        /// Up to `n` deals with what the host last wrote to them, at random (the audit).
        fn sample_deals(tenant: &str, n: u32) -> Result<Vec<SampledDeal>, StoreError>;
        /// What the host knows of a contact's activity since `since` (Unix ms).
        fn activity(tenant: &str, contact_id: i64, since: i64) -> Result<Activity, StoreError>;
        /// Up to `n` synced contacts at random, with their links (the sync audit).
        fn sample_contacts(tenant: &str, n: u32) -> Result<Vec<(i64, Link)>, StoreError>;
        /// Stores an audit's result.
        fn record_audit(tenant: &str, audit: &Audit) -> Result<(), StoreError>;
        /// A tenant's newest audit.
        fn last_audit(tenant: &str) -> Result<Option<Audit>, StoreError>;
        /// Counts `fields` of one record as `outcome` (`defaulted`, `skipped`) at `at`.
        fn log_mapping(tenant: &str, at: i64, outcome: &str, fields: &[String]) -> Result<(), StoreError>;
        /// The mapping log of the weeks from `since` on, oldest first.
        fn mapping_log(tenant: &str, since: i64) -> Result<Vec<MappingCount>, StoreError>;
        /// The CRM writes finished (done or dead-lettered) per week from `since` on.
        fn week_writes(tenant: &str, since: i64) -> Result<Vec<WeekWrites>, StoreError>;
        /// Unread-rule flags whose message has been read (or is gone) since: cleared, and
        /// their contacts returned so their priority is restored; at most 1,000.
        fn clear_read_flags(now: i64) -> Result<Vec<(String, i64)>, StoreError>;
        /// Records (or refreshes) a CRM record whose phone number could not be used.
        fn note_phone_problem(tenant: &str, problem: &PhoneProblem) -> Result<(), StoreError>;
        /// Forgets the phone problem of a CRM record (its number is usable now).
        fn clear_phone_problem(tenant: &str, crm_id: &str) -> Result<(), StoreError>;
        /// The tenant's unusable CRM numbers, most recently seen first (at most 1,000).
        fn phone_problems(tenant: &str) -> Result<Vec<PhoneProblem>, StoreError>;
    }
}
