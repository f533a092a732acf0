//! Two-way CRM sync state: per-tenant settings, the durable queue of CRM writes,
//! links between host and CRM records, field-level clocks (last writer wins), the
//! review queue and the pull cursor. The engine that uses them is [`crate::sync`].

use super::page::{Page, PageRequest};
use super::{StoreError, now_ms};
use rusqlite::{Connection, OptionalExtension, params};
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
        Ok(())
    }
}

/// The shortest chat-history retention a tenant can set, in days.
pub const MIN_RETENTION_DAYS: u32 = 180;

/// A tenant's settings (the defaults when none were stored).
///
/// # Errors
/// On database failure.
pub fn settings(conn: &Connection, tenant: &str) -> Result<CrmSettings, StoreError> {
    Ok(conn
        .query_row(
            "SELECT mode, batch_minutes, pull_seconds, rate_requests, rate_seconds, retention_days,
                    merge_confidence, unread_hours, unread_priority
             FROM crm_settings WHERE tenant_id = ?1",
            [tenant],
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
                })
            },
        )
        .optional()?
        .unwrap_or_default())
}

/// Stores a tenant's settings (validated by the caller).
///
/// # Errors
/// On database failure.
pub fn put_settings(conn: &Connection, tenant: &str, s: &CrmSettings) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO crm_settings (tenant_id, mode, batch_minutes, pull_seconds, rate_requests,
             rate_seconds, retention_days, updated_at, merge_confidence, unread_hours, unread_priority)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT (tenant_id) DO UPDATE SET mode = ?2, batch_minutes = ?3, pull_seconds = ?4,
             rate_requests = ?5, rate_seconds = ?6, retention_days = ?7, updated_at = ?8,
             merge_confidence = ?9, unread_hours = ?10, unread_priority = ?11",
        params![
            tenant,
            s.mode,
            s.batch_minutes,
            s.pull_seconds,
            s.rate_requests,
            s.rate_seconds,
            s.retention_days,
            now_ms(),
            s.merge_confidence,
            s.unread_hours,
            s.unread_priority
        ],
    )?;
    Ok(())
}

/// One queued CRM write.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Job {
    /// Queue id.
    pub id: i64,
    /// The tenant.
    pub tenant: String,
    /// `contact`, `message` (a note on the contact) or `deal`.
    pub kind: String,
    /// The contact it concerns.
    pub contact_id: i64,
    /// The message, for `message` and `deal` jobs.
    pub message_id: Option<i64>,
    /// `queued`, `done` or `dead` (the dead-letter list).
    pub state: String,
    /// Failed attempts so far.
    pub attempts: u32,
    /// When it is (or was) due, Unix ms.
    pub due_at: i64,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// Queued at, Unix ms.
    pub created_at: i64,
    /// Last change, Unix ms.
    pub updated_at: i64,
}

const JOB_COLUMNS: &str = "id, tenant_id, kind, contact_id, message_id, state, attempts, due_at, \
                           last_error, created_at, updated_at";

fn job_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Job> {
    Ok(Job {
        id: r.get(0)?,
        tenant: r.get(1)?,
        kind: r.get(2)?,
        contact_id: r.get(3)?,
        message_id: r.get(4)?,
        state: r.get(5)?,
        attempts: r.get(6)?,
        due_at: r.get(7)?,
        last_error: r.get(8)?,
        created_at: r.get(9)?,
        updated_at: r.get(10)?,
    })
}

/// Queues a write unless one with the same `key` exists for the tenant; true when
/// queued. A `contact` job that already ran is queued again (the contact changed).
///
/// # Errors
/// On database failure.
pub fn enqueue(
    conn: &Connection,
    tenant: &str,
    kind: &str,
    contact_id: i64,
    message_id: Option<i64>,
    key: &str,
    due_at: i64,
) -> Result<bool, StoreError> {
    let now = now_ms();
    let n = conn.execute(
        "INSERT INTO crm_jobs (tenant_id, kind, contact_id, message_id, key, state, due_at,
             created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 'queued', ?6, ?7, ?7)
         ON CONFLICT (tenant_id, key) DO UPDATE SET state = 'queued', attempts = 0,
             due_at = min(crm_jobs.due_at, ?6), last_error = NULL, updated_at = ?7
           WHERE crm_jobs.kind = 'contact' AND crm_jobs.state = 'done'",
        params![tenant, kind, contact_id, message_id, key, due_at, now],
    )?;
    Ok(n > 0)
}

/// Queues a `message` job (a note) for every message of `tenant` sent at or after
/// `since` (Unix ms) that has none, oldest first, behind live jobs; `(newly
/// queued, messages in the range)`. Running it again queues nothing new, so an
/// interrupted backfill is resumed by running it again (or simply continues: the
/// jobs are durable).
///
/// # Errors
/// On database failure.
pub fn enqueue_backfill(
    conn: &Connection,
    tenant: &str,
    since: i64,
    due_at: i64,
) -> Result<(usize, usize), StoreError> {
    let now = now_ms();
    let queued = conn.execute(
        "INSERT INTO crm_jobs (tenant_id, kind, contact_id, message_id, key, state, due_at,
             created_at, updated_at, backfill)
         SELECT tenant_id, 'message', contact_id, id, 'message:' || id, 'queued', ?3, ?4, ?4, 1
         FROM messages WHERE tenant_id = ?1 AND timestamp >= ?2 ORDER BY timestamp, id
         ON CONFLICT (tenant_id, key) DO NOTHING",
        params![tenant, since, due_at, now],
    )?;
    let total: i64 = conn.query_row(
        "SELECT count(*) FROM messages WHERE tenant_id = ?1 AND timestamp >= ?2",
        params![tenant, since],
        |r| r.get(0),
    )?;
    Ok((queued, total as usize))
}

/// Backfill jobs of a tenant by state.
///
/// # Errors
/// On database failure.
pub fn backfill_counts(conn: &Connection, tenant: &str) -> Result<Vec<(String, i64)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT state, count(*) FROM crm_jobs WHERE tenant_id = ?1 AND backfill = 1
         GROUP BY state ORDER BY state",
    )?;
    let rows = stmt
        .query_map([tenant], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Deletes up to `limit` of `tenant`'s messages sent *and* stored before `before` (Unix
/// ms: a message replayed or backfilled today is kept its full retention),
/// with their tags, statuses, revisions and sync records; media files stay (they are
/// shared by content). How many messages were deleted.
///
/// # Errors
/// On database failure.
pub fn purge_before(
    conn: &Connection,
    tenant: &str,
    before: i64,
    limit: usize,
) -> Result<usize, StoreError> {
    conn.execute("DROP TABLE IF EXISTS temp.purge", [])?;
    conn.execute(
        "CREATE TEMP TABLE purge AS SELECT id, wamid FROM messages
         WHERE tenant_id = ?1 AND timestamp < ?2 AND created_at < ?2 ORDER BY timestamp LIMIT ?3",
        params![tenant, before, limit as i64],
    )?;
    let ids = "(SELECT id FROM temp.purge)";
    let wamids = "(SELECT wamid FROM temp.purge)";
    for sql in [
        format!("DELETE FROM message_tags WHERE message_id IN {ids}"),
        format!("DELETE FROM message_statuses WHERE tenant_id = ?1 AND wamid IN {wamids}"),
        format!("DELETE FROM message_revisions WHERE tenant_id = ?1 AND target_wamid IN {wamids}"),
        format!("UPDATE media SET message_id = NULL WHERE message_id IN {ids}"),
        format!("DELETE FROM crm_jobs WHERE message_id IN {ids}"),
        format!(
            "DELETE FROM crm_links WHERE tenant_id = ?1 AND object IN ('note', 'deal') AND local_id IN {ids}"
        ),
        format!("DELETE FROM contact_purchases WHERE message_id IN {ids}"),
        format!("DELETE FROM crm_unread_flags WHERE message_id IN {ids}"),
    ] {
        let mut stmt = conn.prepare(&sql)?;
        if sql.contains("?1") {
            stmt.execute([tenant])?;
        } else {
            stmt.execute([])?;
        }
    }
    let n = conn.execute(&format!("DELETE FROM messages WHERE id IN {ids}"), [])?;
    conn.execute("DROP TABLE temp.purge", [])?;
    Ok(n)
}

/// Up to `limit` queued jobs due by `now`: live jobs before backfill ones, oldest first.
///
/// # Errors
/// On database failure.
pub fn due(conn: &Connection, now: i64, limit: usize) -> Result<Vec<Job>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {JOB_COLUMNS} FROM crm_jobs WHERE state = 'queued' AND due_at <= ?1
         ORDER BY backfill, due_at, id LIMIT ?2"
    ))?;
    let rows = stmt
        .query_map(params![now, limit as i64], job_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// When the next queued job is due, if any is queued.
///
/// # Errors
/// On database failure.
pub fn next_due(conn: &Connection) -> Result<Option<i64>, StoreError> {
    Ok(conn.query_row(
        "SELECT min(due_at) FROM crm_jobs WHERE state = 'queued'",
        [],
        |r| r.get(0),
    )?)
}

/// Marks a job written.
///
/// # Errors
/// On database failure.
pub fn finish(conn: &Connection, id: i64) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE crm_jobs SET state = 'done', last_error = NULL, updated_at = ?2 WHERE id = ?1",
        params![id, now_ms()],
    )?;
    Ok(())
}

/// Puts a job back for `due_at`; `counts` says whether this was a failed attempt
/// (a rate-limit wait is not).
///
/// # Errors
/// On database failure.
pub fn retry(
    conn: &Connection,
    id: i64,
    due_at: i64,
    error: &str,
    counts: bool,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE crm_jobs SET due_at = ?2, last_error = ?3, attempts = attempts + ?4, updated_at = ?5
         WHERE id = ?1",
        params![id, due_at, error, i64::from(counts), now_ms()],
    )?;
    Ok(())
}

/// Makes every queued job of `tenant` that is backing off after a failure due now;
/// how many.
///
/// # Errors
/// On database failure.
pub fn retry_waiting_now(conn: &Connection, tenant: &str) -> Result<usize, StoreError> {
    let now = now_ms();
    Ok(conn.execute(
        "UPDATE crm_jobs SET due_at = ?2
         WHERE tenant_id = ?1 AND state = 'queued' AND attempts > 0 AND due_at > ?2",
        params![tenant, now],
    )?)
}

/// Moves a job to the dead-letter list.
///
/// # Errors
/// On database failure.
pub fn kill(conn: &Connection, id: i64, error: &str) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE crm_jobs SET state = 'dead', last_error = ?2, attempts = attempts + 1, updated_at = ?3
         WHERE id = ?1",
        params![id, error, now_ms()],
    )?;
    Ok(())
}

/// One page of a tenant's jobs, optionally in one state, oldest first.
///
/// # Errors
/// On database failure.
pub fn list_jobs(
    conn: &Connection,
    tenant: &str,
    state: Option<&str>,
    page: PageRequest,
) -> Result<Page<Job>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {JOB_COLUMNS} FROM crm_jobs WHERE {} AND id > ?3 ORDER BY id LIMIT ?4",
        by_state(state)
    ))?;
    let rows = stmt
        .query_map(
            params![tenant, state, page.after, page.sql_limit()],
            job_row,
        )?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_rows(rows, page, |j| j.id))
}

/// The filter of a page of a tenant's rows, optionally in one state, written so that
/// SQLite walks an index in id order instead of sorting all the tenant's rows: the
/// (tenant, state, id) index with a state, the primary key without one.
fn by_state(state: Option<&str>) -> &'static str {
    if state.is_some() {
        "tenant_id = ?1 AND state = ?2"
    } else {
        "+tenant_id = ?1 AND ?2 IS NULL"
    }
}

/// Counts of a tenant's jobs by state.
///
/// # Errors
/// On database failure.
pub fn job_counts(conn: &Connection, tenant: &str) -> Result<Vec<(String, i64)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT state, count(*) FROM crm_jobs WHERE tenant_id = ?1 GROUP BY state ORDER BY state",
    )?;
    let rows = stmt
        .query_map([tenant], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Puts a dead job back in the queue, due now; `None` when the tenant has no such
/// job, `Err(state)` when it is not dead.
///
/// # Errors
/// On database failure.
pub fn requeue(
    conn: &Connection,
    tenant: &str,
    id: i64,
) -> Result<Option<Result<Job, String>>, StoreError> {
    let Some(job) = conn
        .query_row(
            &format!("SELECT {JOB_COLUMNS} FROM crm_jobs WHERE tenant_id = ?1 AND id = ?2"),
            params![tenant, id],
            job_row,
        )
        .optional()?
    else {
        return Ok(None);
    };
    if job.state != "dead" {
        return Ok(Some(Err(job.state)));
    }
    let now = now_ms();
    conn.execute(
        "UPDATE crm_jobs SET state = 'queued', attempts = 0, due_at = ?2, updated_at = ?2 WHERE id = ?1",
        params![id, now],
    )?;
    Ok(Some(Ok(Job {
        state: "queued".into(),
        attempts: 0,
        due_at: now,
        updated_at: now,
        ..job
    })))
}

/// A host record's CRM counterpart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The CRM's id.
    pub crm_id: String,
    /// The CRM's time of the host's last write, Unix ms, when the CRM said.
    pub crm_updated_at: Option<i64>,
    /// When the host last wrote or linked it, Unix ms (host clock; set by [`set_link`]).
    pub synced_at: i64,
}

/// The CRM record `object` (`contact`, `note`, `deal`) of host record `local_id`.
///
/// # Errors
/// On database failure.
pub fn link(
    conn: &Connection,
    tenant: &str,
    object: &str,
    local_id: i64,
) -> Result<Option<Link>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT crm_id, crm_updated_at, synced_at FROM crm_links
             WHERE tenant_id = ?1 AND object = ?2 AND local_id = ?3",
            params![tenant, object, local_id],
            |r| {
                Ok(Link {
                    crm_id: r.get(0)?,
                    crm_updated_at: r.get(1)?,
                    synced_at: r.get(2)?,
                })
            },
        )
        .optional()?)
}

/// Records (or updates) a link.
///
/// # Errors
/// On database failure.
pub fn set_link(
    conn: &Connection,
    tenant: &str,
    object: &str,
    local_id: i64,
    link: &Link,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO crm_links (tenant_id, object, local_id, crm_id, crm_updated_at, synced_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (tenant_id, object, local_id)
         DO UPDATE SET crm_id = ?4, crm_updated_at = ?5, synced_at = ?6",
        params![
            tenant,
            object,
            local_id,
            link.crm_id,
            link.crm_updated_at,
            now_ms()
        ],
    )?;
    Ok(())
}

/// The host record linked to CRM record `crm_id` of kind `object`.
///
/// # Errors
/// On database failure.
pub fn local_for(
    conn: &Connection,
    tenant: &str,
    object: &str,
    crm_id: &str,
) -> Result<Option<(i64, Link)>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT local_id, crm_id, crm_updated_at, synced_at FROM crm_links
             WHERE tenant_id = ?1 AND object = ?2 AND crm_id = ?3",
            params![tenant, object, crm_id],
            |r| {
                Ok((
                    r.get(0)?,
                    Link {
                        crm_id: r.get(1)?,
                        crm_updated_at: r.get(2)?,
                        synced_at: r.get(3)?,
                    },
                ))
            },
        )
        .optional()?)
}

/// The agreed value of one synced contact field.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldClock {
    /// The value.
    pub value: Value,
    /// When it was set, Unix ms.
    pub changed_at: i64,
    /// `whatsapp`, `crm` or `review`.
    pub source: String,
}

/// Every synced field of a contact.
///
/// # Errors
/// On database failure.
pub fn fields(
    conn: &Connection,
    tenant: &str,
    contact_id: i64,
) -> Result<Vec<(String, FieldClock)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT field, value, changed_at, source FROM crm_fields
         WHERE tenant_id = ?1 AND contact_id = ?2 ORDER BY field",
    )?;
    let rows = stmt
        .query_map(params![tenant, contact_id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get(2)?,
                r.get(3)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|(f, v, changed_at, source)| {
            Ok((
                f,
                FieldClock {
                    value: serde_json::from_str(&v)?,
                    changed_at,
                    source,
                },
            ))
        })
        .collect()
}

/// Sets one field's agreed value.
///
/// # Errors
/// On database failure.
pub fn set_field(
    conn: &Connection,
    tenant: &str,
    contact_id: i64,
    field: &str,
    clock: &FieldClock,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO crm_fields (tenant_id, contact_id, field, value, changed_at, source)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (tenant_id, contact_id, field)
         DO UPDATE SET value = ?4, changed_at = ?5, source = ?6",
        params![
            tenant,
            contact_id,
            field,
            clock.value.to_string(),
            clock.changed_at,
            clock.source
        ],
    )?;
    Ok(())
}

/// One entry of the review queue.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Review {
    /// Its id.
    pub id: i64,
    /// The tenant.
    pub tenant: String,
    /// `conflict` (a differing value was overwritten or refused) or `duplicate`.
    pub kind: String,
    /// The contact.
    pub contact_id: i64,
    /// The field, for conflicts.
    pub field: Option<String>,
    /// The value that won, its side (`whatsapp`, `crm`) and time (Unix ms).
    pub kept: Option<Value>,
    /// See `kept`.
    pub kept_source: Option<String>,
    /// See `kept`.
    pub kept_at: Option<i64>,
    /// The value that lost.
    pub lost: Option<Value>,
    /// See `lost`.
    pub lost_source: Option<String>,
    /// See `lost`.
    pub lost_at: Option<i64>,
    /// Anything else (for duplicates: the other contact and the evidence).
    pub detail: Value,
    /// `open`, `accepted` or `reverted`.
    pub state: String,
    /// Created, Unix ms.
    pub created_at: i64,
    /// Resolved, Unix ms.
    pub resolved_at: Option<i64>,
}

/// What a new review entry says.
#[derive(Debug, Clone)]
pub struct NewReview<'a> {
    /// `conflict` or `duplicate`.
    pub kind: &'a str,
    /// The contact.
    pub contact_id: i64,
    /// The field, for conflicts.
    pub field: Option<&'a str>,
    /// The winning value, side and time.
    pub kept: Option<(&'a Value, &'a str, i64)>,
    /// The losing value, side and time.
    pub lost: Option<(&'a Value, &'a str, i64)>,
    /// Anything else.
    pub detail: Value,
}

/// Adds an open review entry; its id.
///
/// # Errors
/// On database failure.
pub fn add_review(conn: &Connection, tenant: &str, r: &NewReview<'_>) -> Result<i64, StoreError> {
    conn.execute(
        "INSERT INTO crm_reviews (tenant_id, kind, contact_id, field, kept, kept_source, kept_at,
             lost, lost_source, lost_at, detail, state, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 'open', ?12)",
        params![
            tenant,
            r.kind,
            r.contact_id,
            r.field,
            r.kept.map(|k| k.0.to_string()),
            r.kept.map(|k| k.1),
            r.kept.map(|k| k.2),
            r.lost.map(|l| l.0.to_string()),
            r.lost.map(|l| l.1),
            r.lost.map(|l| l.2),
            r.detail.to_string(),
            now_ms()
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

const REVIEW_COLUMNS: &str = "id, tenant_id, kind, contact_id, field, kept, kept_source, kept_at, \
                              lost, lost_source, lost_at, detail, state, created_at, resolved_at";

fn review_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Review> {
    let json = |i: usize| -> rusqlite::Result<Option<Value>> {
        Ok(r.get::<_, Option<String>>(i)?
            .map(|s| serde_json::from_str(&s).unwrap_or(Value::String(s))))
    };
    Ok(Review {
        id: r.get(0)?,
        tenant: r.get(1)?,
        kind: r.get(2)?,
        contact_id: r.get(3)?,
        field: r.get(4)?,
        kept: json(5)?,
        kept_source: r.get(6)?,
        kept_at: r.get(7)?,
        lost: json(8)?,
        lost_source: r.get(9)?,
        lost_at: r.get(10)?,
        detail: json(11)?.unwrap_or(Value::Null),
        state: r.get(12)?,
        created_at: r.get(13)?,
        resolved_at: r.get(14)?,
    })
}

/// One page of a tenant's review queue, optionally in one state, oldest first.
///
/// # Errors
/// On database failure.
pub fn list_reviews(
    conn: &Connection,
    tenant: &str,
    state: Option<&str>,
    page: PageRequest,
) -> Result<Page<Review>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {REVIEW_COLUMNS} FROM crm_reviews WHERE {} AND id > ?3 ORDER BY id LIMIT ?4",
        by_state(state)
    ))?;
    let rows = stmt
        .query_map(
            params![tenant, state, page.after, page.sql_limit()],
            review_row,
        )?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_rows(rows, page, |r| r.id))
}

/// One review entry of a tenant.
///
/// # Errors
/// On database failure.
pub fn review(conn: &Connection, tenant: &str, id: i64) -> Result<Option<Review>, StoreError> {
    Ok(conn
        .query_row(
            &format!("SELECT {REVIEW_COLUMNS} FROM crm_reviews WHERE tenant_id = ?1 AND id = ?2"),
            params![tenant, id],
            review_row,
        )
        .optional()?)
}

/// Closes a review entry as `accepted` or `reverted`.
///
/// # Errors
/// On database failure.
pub fn resolve_review(conn: &Connection, id: i64, state: &str) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE crm_reviews SET state = ?2, resolved_at = ?3 WHERE id = ?1",
        params![id, state, now_ms()],
    )?;
    Ok(())
}

/// The pull cursor of a tenant ("" before the first pull).
///
/// # Errors
/// On database failure.
pub fn cursor(conn: &Connection, tenant: &str) -> Result<String, StoreError> {
    Ok(conn
        .query_row(
            "SELECT cursor FROM crm_cursors WHERE tenant_id = ?1",
            [tenant],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or_default())
}

/// Stores the pull cursor of a tenant.
///
/// # Errors
/// On database failure.
pub fn set_cursor(conn: &Connection, tenant: &str, cursor: &str) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO crm_cursors (tenant_id, cursor, pulled_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (tenant_id) DO UPDATE SET cursor = ?2, pulled_at = ?3",
        params![tenant, cursor, now_ms()],
    )?;
    Ok(())
}

/// Sets a contact's name from the CRM (or a review), bumping its change time.
///
/// # Errors
/// On database failure.
pub fn set_contact_name(
    conn: &Connection,
    contact_id: i64,
    name: Option<&str>,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE contacts SET name = ?2, updated_at = ?3 WHERE id = ?1",
        params![contact_id, name, now_ms()],
    )?;
    Ok(())
}
