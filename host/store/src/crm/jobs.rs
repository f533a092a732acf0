//! The durable queue of CRM writes: jobs per contact, message and deal, due times by
//! sync mode, retries, dead letters and backfill.

use crate::page::{Page, PageRequest};
use crate::params;
use crate::sql::{Conn, Row};
use crate::{StoreError, now_ms};
use serde::Serialize;

use super::*;

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

fn job_row(r: &Row<'_>) -> Result<Job, StoreError> {
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
pub(crate) fn enqueue(
    conn: &Conn<'_>,
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
             due_at = least(crm_jobs.due_at, ?6), last_error = NULL, updated_at = ?7
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
pub(crate) fn enqueue_backfill(
    conn: &Conn<'_>,
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
    let total: i64 = conn.query_one(
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
pub(crate) fn backfill_counts(
    conn: &Conn<'_>,
    tenant: &str,
) -> Result<Vec<(String, i64)>, StoreError> {
    let rows = conn.query(
        "SELECT state, count(*) FROM crm_jobs WHERE tenant_id = ?1 AND backfill = 1
         GROUP BY state ORDER BY state",
        params![tenant],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(rows)
}

/// Deletes up to `limit` of `tenant`'s messages sent *and* stored before `before` (Unix
/// ms: a message replayed or backfilled today is kept its full retention),
/// with their tags, statuses, revisions and sync records; media files stay (they are
/// shared by content). How many messages were deleted.
///
/// # Errors
/// On database failure.
pub(crate) fn purge_before(
    conn: &Conn<'_>,
    tenant: &str,
    before: i64,
    limit: usize,
) -> Result<usize, StoreError> {
    // Unqualified: both engines look in the connection's temporary schema first
    // (SQLite calls it `temp`, PostgreSQL `pg_temp`).
    conn.execute("DROP TABLE IF EXISTS purge", params![])?;
    conn.execute(
        "CREATE TEMP TABLE purge AS SELECT id, wamid FROM messages
         WHERE tenant_id = ?1 AND timestamp < ?2 AND created_at < ?2 ORDER BY timestamp LIMIT ?3",
        params![tenant, before, limit as i64],
    )?;
    let ids = "(SELECT id FROM purge)";
    let wamids = "(SELECT wamid FROM purge)";
    for sql in [
        format!("DELETE FROM message_tags WHERE message_id IN {ids}"),
        format!("DELETE FROM message_statuses WHERE tenant_id = ?1 AND wamid IN {wamids}"),
        format!("DELETE FROM message_revisions WHERE tenant_id = ?1 AND target_wamid IN {wamids}"),
        format!("UPDATE media SET message_id = NULL WHERE message_id IN {ids}"),
        format!("DELETE FROM crm_jobs WHERE message_id IN {ids}"),
        format!(
            "DELETE FROM crm_links WHERE tenant_id = ?1 AND object IN ('note', 'deal', 'case') AND local_id IN {ids}"
        ),
        format!("DELETE FROM contact_purchases WHERE message_id IN {ids}"),
        format!("DELETE FROM crm_unread_flags WHERE message_id IN {ids}"),
    ] {
        if sql.contains("?1") {
            conn.execute(&sql, params![tenant])?;
        } else {
            conn.execute(&sql, params![])?;
        }
    }
    let n = conn.execute(
        &format!("DELETE FROM messages WHERE id IN {ids}"),
        params![],
    )?;
    conn.execute("DROP TABLE purge", params![])?;
    Ok(n)
}

/// Up to `limit` queued jobs due by `now`: live jobs before backfill ones, oldest first.
///
/// # Errors
/// On database failure.
pub(crate) fn due(conn: &Conn<'_>, now: i64, limit: usize) -> Result<Vec<Job>, StoreError> {
    let rows = conn.query(
        &format!(
            "SELECT {JOB_COLUMNS} FROM crm_jobs WHERE state = 'queued' AND due_at <= ?1
         ORDER BY backfill, due_at, id LIMIT ?2"
        ),
        params![now, limit as i64],
        job_row,
    )?;
    Ok(rows)
}

/// Claims up to `limit` due jobs for `host` until `lease_until`: live jobs before
/// backfill ones, oldest first, and of each contact only its oldest due job, and
/// none while an earlier job of the contact is held by a host — so one contact's
/// writes reach the CRM one at a time, in order, however many workers and hosts run.
/// None of the tenants in `skip` (those this host's workers are full with).
///
/// # Errors
/// On database failure.
pub(crate) fn claim(
    conn: &Conn<'_>,
    host: &str,
    now: i64,
    lease_until: i64,
    limit: usize,
    skip: &[String],
) -> Result<Vec<Job>, StoreError> {
    let skipped = if skip.is_empty() {
        String::new()
    } else {
        format!(
            " AND j.tenant_id NOT IN ({})",
            crate::bulk::list(skip.len(), 5)
        )
    };
    let pick = format!(
        "SELECT j.id FROM crm_jobs j
         WHERE j.state = 'queued' AND j.due_at <= ?3 AND (j.lease_until IS NULL OR j.lease_until <= ?3){skipped}
           AND NOT EXISTS (SELECT 1 FROM crm_jobs p
                           WHERE p.tenant_id = j.tenant_id AND p.contact_id = j.contact_id
                             AND p.state = 'queued' AND p.id < j.id
                             AND (p.due_at <= ?3 OR p.lease_until > ?3))
         ORDER BY j.backfill, j.due_at, j.id LIMIT ?4"
    );
    let lock = conn.pick("", " FOR UPDATE SKIP LOCKED");
    let limit = limit as i64;
    let mut params: Vec<&dyn crate::sql::Param> = vec![&host, &lease_until, &now, &limit];
    params.extend(skip.iter().map(|t| t as &dyn crate::sql::Param));
    let mut jobs = conn.query(
        &format!(
            "UPDATE crm_jobs SET claimed_by = ?1, lease_until = ?2
             WHERE id IN ({pick}{lock}) RETURNING {JOB_COLUMNS}"
        ),
        &params,
        job_row,
    )?;
    jobs.sort_by_key(|j| (j.due_at, j.id));
    Ok(jobs)
}

/// Gives back claimed jobs that were not started: any host may claim them at once.
///
/// # Errors
/// On database failure.
pub(crate) fn unclaim(conn: &Conn<'_>, ids: &[i64]) -> Result<(), StoreError> {
    for chunk in crate::bulk::chunks(ids.len()) {
        let ids = &ids[chunk];
        let sql = format!(
            "UPDATE crm_jobs SET claimed_by = NULL, lease_until = NULL
             WHERE state = 'queued' AND id IN ({})",
            crate::bulk::list(ids.len(), 1)
        );
        let params: Vec<&dyn crate::sql::Param> =
            ids.iter().map(|id| id as &dyn crate::sql::Param).collect();
        conn.execute(&sql, &params)?;
    }
    Ok(())
}

/// When the next queued job is due, if any is queued.
///
/// # Errors
/// On database failure.
pub(crate) fn next_due(conn: &Conn<'_>) -> Result<Option<i64>, StoreError> {
    conn.query_one(
        "SELECT min(due_at) FROM crm_jobs WHERE state = 'queued'",
        params![],
        |r| r.get(0),
    )
}

/// Marks a job written.
///
/// # Errors
/// On database failure.
pub(crate) fn finish(conn: &Conn<'_>, id: i64) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE crm_jobs SET state = 'done', last_error = NULL, updated_at = ?2,
             claimed_by = NULL, lease_until = NULL
         WHERE id = ?1",
        params![id, now_ms()],
    )?;
    Ok(())
}

/// Puts a job back for `due_at`; `counts` says whether this was a failed attempt
/// (a rate-limit wait is not).
///
/// # Errors
/// On database failure.
pub(crate) fn retry(
    conn: &Conn<'_>,
    id: i64,
    due_at: i64,
    error: &str,
    counts: bool,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE crm_jobs SET due_at = ?2, last_error = ?3, attempts = attempts + ?4, updated_at = ?5,
             claimed_by = NULL, lease_until = NULL
         WHERE id = ?1",
        params![id, due_at, error, i64::from(counts), now_ms()],)?;
    Ok(())
}

/// Makes every queued job of `tenant` that is backing off after a failure due now;
/// how many.
///
/// # Errors
/// On database failure.
pub(crate) fn retry_waiting_now(conn: &Conn<'_>, tenant: &str) -> Result<usize, StoreError> {
    let now = now_ms();
    conn.execute(
        "UPDATE crm_jobs SET due_at = ?2
         WHERE tenant_id = ?1 AND state = 'queued' AND attempts > 0 AND due_at > ?2",
        params![tenant, now],
    )
}

/// Moves a job to the dead-letter list.
///
/// # Errors
/// On database failure.
pub(crate) fn kill(conn: &Conn<'_>, id: i64, error: &str) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE crm_jobs SET state = 'dead', last_error = ?2, attempts = attempts + 1, updated_at = ?3,
             claimed_by = NULL, lease_until = NULL
         WHERE id = ?1",
        params![id, error, now_ms()],)?;
    Ok(())
}

/// One page of a tenant's jobs, optionally in one state, oldest first.
///
/// # Errors
/// On database failure.
pub(crate) fn list_jobs(
    conn: &Conn<'_>,
    tenant: &str,
    state: Option<&str>,
    page: PageRequest,
) -> Result<Page<Job>, StoreError> {
    let rows = conn.query(
        &format!(
            "SELECT {JOB_COLUMNS} FROM crm_jobs WHERE {} AND id > ?3 ORDER BY id LIMIT ?4",
            by_state(conn, state)
        ),
        params![tenant, state, page.after, page.sql_limit()],
        job_row,
    )?;
    Ok(Page::from_rows(rows, page, |j| j.id))
}

/// The filter of a page of a tenant's rows, optionally in one state, written so that
/// SQLite walks an index in id order instead of sorting all the tenant's rows: the
/// (tenant, state, id) index with a state, the primary key without one (SQLite's
/// unary `+` keeps the tenant column from choosing an index; PostgreSQL has no `+`
/// for text and plans on its own).
pub(crate) fn by_state(conn: &Conn<'_>, state: Option<&str>) -> &'static str {
    if state.is_some() {
        "tenant_id = ?1 AND state = ?2"
    } else {
        conn.pick(
            "+tenant_id = ?1 AND ?2 IS NULL",
            "tenant_id = ?1 AND ?2 IS NULL",
        )
    }
}

/// Counts of a tenant's jobs by state.
///
/// # Errors
/// On database failure.
pub(crate) fn job_counts(conn: &Conn<'_>, tenant: &str) -> Result<Vec<(String, i64)>, StoreError> {
    let rows = conn.query(
        "SELECT state, count(*) FROM crm_jobs WHERE tenant_id = ?1 GROUP BY state ORDER BY state",
        params![tenant],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(rows)
}

/// Puts a dead job back in the queue, due now; `None` when the tenant has no such
/// job, `Err(state)` when it is not dead.
///
/// # Errors
/// On database failure.
pub(crate) fn requeue(
    conn: &Conn<'_>,
    tenant: &str,
    id: i64,
) -> Result<Option<Result<Job, String>>, StoreError> {
    let Some(job) = conn.query_opt(
        &format!("SELECT {JOB_COLUMNS} FROM crm_jobs WHERE tenant_id = ?1 AND id = ?2"),
        params![tenant, id],
        job_row,
    )?
    else {
        return Ok(None);
    };
    if job.state != "dead" {
        return Ok(Some(Err(job.state)));
    }
    let now = now_ms();
    conn.execute(
        "UPDATE crm_jobs SET state = 'queued', attempts = 0, due_at = ?2, updated_at = ?2 WHERE id = ?1",
        params![id, now],)?;
    Ok(Some(Ok(Job {
        state: "queued".into(),
        attempts: 0,
        due_at: now,
        updated_at: now,
        ..job
    })))
}

/// When a job queued now is due under `settings`: now in real-time mode, at the next
/// multiple of the batch interval in batch mode.
pub fn due_at(settings: &CrmSettings, now: i64) -> i64 {
    if settings.mode == "batch" {
        let step = i64::from(settings.batch_minutes) * 60_000;
        (now / step + 1) * step
    } else {
        now
    }
}

/// Queues the CRM writes for one stored message inside the caller's transaction:
/// the message as a note, and a deal when `deal` (a sales signal). Nothing is
/// queued when the tenant's sync is off.
///
/// # Errors
/// On database failure.
pub(crate) fn enqueue_message(
    conn: &Conn<'_>,
    tenant: &str,
    contact_id: i64,
    message_id: i64,
    signal: Option<&str>,
) -> Result<usize, StoreError> {
    let settings = settings(conn, tenant)?;
    if settings.mode == "off" {
        return Ok(0);
    }
    let due = due_at(&settings, now_ms());
    let mut n = usize::from(enqueue(
        conn,
        tenant,
        "message",
        contact_id,
        Some(message_id),
        &format!("message:{message_id}"),
        due,
    )?);
    if let Some(kind) = signal {
        n += usize::from(enqueue(
            conn,
            tenant,
            kind,
            contact_id,
            Some(message_id),
            &format!("{kind}:{message_id}"),
            due,
        )?);
    }
    Ok(n)
}

/// Queues a message's CRM writes when the tenant syncs (a mapper and a connector are
/// installed); for messages the pipeline does not see, such as the business's own.
///
/// # Errors
/// On database failure.
pub(crate) fn enqueue_if_syncing(
    conn: &Conn<'_>,
    tenant: &str,
    contact_id: i64,
    message_id: i64,
) -> Result<usize, StoreError> {
    let syncing: bool = conn.query_one(
        "SELECT count(DISTINCT slot) = 2 FROM plugin_slots
         WHERE tenant_id = ?1 AND slot IN ('mapper', 'connector')",
        params![tenant],
        |r| r.get(0),
    )?;
    if !syncing {
        return Ok(0);
    }
    enqueue_message(conn, tenant, contact_id, message_id, None)
}

/// Queues a write of the contact to the CRM (one queued write per contact: a contact
/// already queued is not queued twice; one already written is queued again).
///
/// # Errors
/// On database failure.
pub(crate) fn enqueue_contact(
    conn: &Conn<'_>,
    tenant: &str,
    contact_id: i64,
) -> Result<bool, StoreError> {
    let settings = settings(conn, tenant)?;
    enqueue(
        conn,
        tenant,
        "contact",
        contact_id,
        None,
        &format!("contact:{contact_id}"),
        due_at(&settings, now_ms()),
    )
}
