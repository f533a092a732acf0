//! Flows: the catalog of flow components the operator added, which flows each
//! tenant enabled (plugin bindings under the slot `flow:NAME`), and the durable
//! queue of flow events and timers, claimed by one host at a time and kept
//! afterwards as each flow's log.

use crate::params;
use crate::sql::{Conn, Row};
use crate::{StoreError, now_ms};
use serde::Serialize;

/// The slot prefix of flow bindings.
pub const FLOW_SLOT_PREFIX: &str = "flow:";

/// A flow component in the host's catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CatalogEntry {
    /// The component.
    pub sha256: String,
    /// The flow's name.
    pub name: String,
    /// What `describe` said, JSON.
    pub info: String,
    /// When it was added, Unix ms.
    pub added_at: i64,
}

/// A tenant's flow: its active binding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TenantFlow {
    /// The flow's name.
    pub name: String,
    /// Its active version (each enable or parameter change adds one).
    pub version: i64,
    /// The component.
    pub sha256: String,
    /// Its parameters, JSON.
    pub params: String,
    /// When it was disabled, if it is.
    pub disabled_at: Option<i64>,
    /// Why it is quarantined, if it is.
    pub quarantine_reason: Option<String>,
}

/// One event or timer for a flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlowJob {
    /// Queue id.
    pub id: i64,
    /// The tenant.
    pub tenant: String,
    /// The flow's name.
    pub flow: String,
    /// The contact (0: none).
    pub contact_id: i64,
    /// The trigger: `message`, `status`, `link-clicked`, `order`, `resolved`,
    /// `field-changed`, `timer`, `schedule`.
    pub kind: String,
    /// The timer's key (timers only).
    pub timer_key: Option<String>,
    /// The event, JSON.
    pub event: String,
    /// The timer's payload.
    #[serde(skip)]
    pub payload: Option<Vec<u8>>,
    /// When it was due, Unix ms.
    pub due_at: i64,
    /// When it may run next, Unix ms.
    pub fire_at: i64,
    /// `pending`, `done`, `skipped`, `failed` or `cancelled`.
    pub state: String,
    /// Failed attempts so far.
    pub attempts: u32,
    /// When it ran, Unix ms.
    pub fired_at: Option<i64>,
    /// How late it ran past `fire_at` the first time it was due, ms.
    pub late_ms: Option<i64>,
    /// The flow version that handled it.
    pub flow_version: Option<i64>,
    /// What happened, or why it was skipped or failed.
    pub outcome: Option<String>,
    /// Queued at, Unix ms.
    pub created_at: i64,
}

const JOB_COLUMNS: &str = "id, tenant_id, flow, contact_id, kind, timer_key, event, payload, due_at, \
     fire_at, state, attempts, fired_at, late_ms, flow_version, outcome, created_at";

fn job_row(r: &Row<'_>) -> Result<FlowJob, StoreError> {
    Ok(FlowJob {
        id: r.get(0)?,
        tenant: r.get(1)?,
        flow: r.get(2)?,
        contact_id: r.get(3)?,
        kind: r.get(4)?,
        timer_key: r.get(5)?,
        event: r.get(6)?,
        payload: r.get(7)?,
        due_at: r.get(8)?,
        fire_at: r.get(9)?,
        state: r.get(10)?,
        attempts: r.get(11)?,
        fired_at: r.get(12)?,
        late_ms: r.get(13)?,
        flow_version: r.get(14)?,
        outcome: r.get(15)?,
        created_at: r.get(16)?,
    })
}

/// A timer to schedule.
#[derive(Debug, Clone, Copy)]
pub struct NewTimer<'a> {
    /// `timer` (a flow's own) or `schedule` (the host's, for a schedule parameter).
    pub kind: &'a str,
    /// The tenant.
    pub tenant: &'a str,
    /// The flow.
    pub flow: &'a str,
    /// The contact (0: none).
    pub contact_id: i64,
    /// Its key.
    pub key: &'a str,
    /// When it is due, Unix ms.
    pub due_at: i64,
    /// When it may fire (due plus the settle delay), Unix ms.
    pub fire_at: i64,
    /// The event to hand the flow, JSON.
    pub event: &'a str,
    /// Its payload.
    pub payload: &'a [u8],
}

/// Adds (or refreshes) a flow component in the catalog.
pub(crate) fn add_to_catalog(
    conn: &Conn<'_>,
    sha256: &str,
    name: &str,
    info: &str,
    triggers: &[String],
) -> Result<(), StoreError> {
    conn.tx(|tx| {
        tx.execute(
            "INSERT INTO flow_catalog (sha256, name, info, added_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (sha256) DO UPDATE SET name = excluded.name, info = excluded.info",
            params![sha256, name, info, now_ms()],
        )?;
        tx.execute(
            "DELETE FROM flow_triggers WHERE sha256 = ?1",
            params![sha256],
        )?;
        for t in triggers {
            tx.execute(
                "INSERT INTO flow_triggers (sha256, kind) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                params![sha256, t],
            )?;
        }
        Ok(())
    })
}

fn catalog_row(r: &Row<'_>) -> Result<CatalogEntry, StoreError> {
    Ok(CatalogEntry {
        sha256: r.get(0)?,
        name: r.get(1)?,
        info: r.get(2)?,
        added_at: r.get(3)?,
    })
}

/// The newest component of each flow name, by name.
pub(crate) fn catalog(conn: &Conn<'_>) -> Result<Vec<CatalogEntry>, StoreError> {
    conn.query(
        "SELECT c.sha256, c.name, c.info, c.added_at FROM flow_catalog c
         WHERE NOT EXISTS (SELECT 1 FROM flow_catalog n WHERE n.name = c.name
                           AND (n.added_at > c.added_at OR (n.added_at = c.added_at AND n.sha256 > c.sha256)))
         ORDER BY c.name",
        params![],
        catalog_row,
    )
}

/// The catalog entry of a component.
pub(crate) fn catalog_entry(
    conn: &Conn<'_>,
    sha256: &str,
) -> Result<Option<CatalogEntry>, StoreError> {
    conn.query_opt(
        "SELECT sha256, name, info, added_at FROM flow_catalog WHERE sha256 = ?1",
        params![sha256],
        catalog_row,
    )
}

/// The tenant's flows (enabled or not), by name.
pub(crate) fn flows_of(conn: &Conn<'_>, tenant: &str) -> Result<Vec<TenantFlow>, StoreError> {
    conn.query(
        "SELECT substr(s.slot, 6), s.active_version, b.sha256, b.config, s.disabled_at, s.quarantine_reason
         FROM plugin_slots s
         JOIN plugin_bindings b ON b.tenant_id = s.tenant_id AND b.slot = s.slot AND b.version = s.active_version
         WHERE s.tenant_id = ?1 AND s.slot LIKE 'flow:%'
         ORDER BY s.slot",
        params![tenant],
        |r| {
            let config: Vec<u8> = r.get(3)?;
            Ok(TenantFlow {
                name: r.get(0)?,
                version: r.get(1)?,
                sha256: r.get(2)?,
                params: String::from_utf8_lossy(&config).into_owned(),
                disabled_at: r.get(4)?,
                quarantine_reason: r.get(5)?,
            })
        },
    )
}

/// Disables (or enables again) the tenant's flow; false when it has no such flow.
pub(crate) fn set_flow_disabled(
    conn: &Conn<'_>,
    tenant: &str,
    name: &str,
    disabled: bool,
) -> Result<bool, StoreError> {
    let slot = format!("{FLOW_SLOT_PREFIX}{name}");
    let now = now_ms();
    let n = conn.execute(
        "UPDATE plugin_slots SET disabled_at = ?3, updated_at = ?4 WHERE tenant_id = ?1 AND slot = ?2",
        params![tenant, slot, disabled.then_some(now), now],
    )?;
    if n > 0 {
        crate::hosts::notify(
            conn,
            crate::hosts::PLUGINS_CHANNEL,
            &format!("{tenant}/{slot}"),
        )?;
    }
    Ok(n > 0)
}

/// Makes the flow's events and timers that wait for it to be lifted from quarantine
/// or a pause (outcome `waiting: flow …`) due at `now`; how many.
pub(crate) fn wake_waiting(
    conn: &Conn<'_>,
    tenant: &str,
    flow: &str,
    now: i64,
) -> Result<usize, StoreError> {
    conn.execute(
        "UPDATE flow_jobs SET fire_at = ?3
         WHERE tenant_id = ?1 AND flow = ?2 AND state = 'pending' AND fire_at > ?3
           AND outcome LIKE 'waiting: flow %'",
        params![tenant, flow, now],
    )
}

/// Queues `event` (JSON) of kind `kind` for every enabled flow of the tenant that
/// wants that trigger; returns how many.
pub(crate) fn enqueue_event(
    conn: &Conn<'_>,
    tenant: &str,
    kind: &str,
    contact_id: i64,
    event: &str,
    except: Option<&str>,
) -> Result<usize, StoreError> {
    let now = now_ms();
    let except = except.map(|f| format!("{FLOW_SLOT_PREFIX}{f}"));
    conn.execute(
        "INSERT INTO flow_jobs (tenant_id, flow, contact_id, kind, event, due_at, fire_at, created_at)
         SELECT s.tenant_id, substr(s.slot, 6), ?3, ?2, ?4, ?5, ?5, ?5
         FROM plugin_slots s
         JOIN plugin_bindings b ON b.tenant_id = s.tenant_id AND b.slot = s.slot AND b.version = s.active_version
         JOIN flow_triggers t ON t.sha256 = b.sha256 AND t.kind = ?2
         WHERE s.tenant_id = ?1 AND s.slot LIKE 'flow:%' AND s.disabled_at IS NULL
           AND (?6 IS NULL OR s.slot <> ?6)",
        params![tenant, kind, contact_id, event, now, except],
    )
}

/// Schedules a timer, replacing the pending one with the same key (which is then
/// no longer claimed by anyone: a host handling it leaves it pending).
pub(crate) fn schedule_timer(conn: &Conn<'_>, t: &NewTimer<'_>) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO flow_jobs (tenant_id, flow, contact_id, kind, timer_key, event, payload, due_at, fire_at, created_at)
         VALUES (?1, ?2, ?3, ?10, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (tenant_id, flow, contact_id, timer_key) WHERE state = 'pending' AND timer_key IS NOT NULL
         DO UPDATE SET event = excluded.event, payload = excluded.payload, due_at = excluded.due_at,
             fire_at = excluded.fire_at, attempts = 0, claimed_by = NULL, lease_until = NULL,
             outcome = NULL, created_at = excluded.created_at",
        params![
            t.tenant,
            t.flow,
            t.contact_id,
            t.key,
            t.event,
            t.payload,
            t.due_at,
            t.fire_at,
            now_ms(),
            t.kind
        ],
    )?;
    Ok(())
}

/// Cancels the pending timer `key`; true when there was one.
pub(crate) fn cancel_timer(
    conn: &Conn<'_>,
    tenant: &str,
    flow: &str,
    contact_id: i64,
    key: &str,
) -> Result<bool, StoreError> {
    let n = conn.execute(
        "UPDATE flow_jobs SET state = 'cancelled', outcome = 'cancelled by the flow', fired_at = ?5,
             claimed_by = NULL, lease_until = NULL
         WHERE tenant_id = ?1 AND flow = ?2 AND contact_id = ?3 AND timer_key = ?4 AND state = 'pending'",
        params![tenant, flow, contact_id, key, now_ms()],
    )?;
    Ok(n > 0)
}

/// Claims up to `limit` pending jobs whose time has come, oldest first, for `host`
/// until `lease_until`.
pub(crate) fn claim_due(
    conn: &Conn<'_>,
    host: &str,
    now: i64,
    lease_until: i64,
    limit: usize,
) -> Result<Vec<FlowJob>, StoreError> {
    let lock = conn.pick("", " FOR UPDATE SKIP LOCKED");
    let limit = limit as i64;
    let mut jobs = conn.query(
        &format!(
            "UPDATE flow_jobs SET claimed_by = ?1, lease_until = ?2
             WHERE id IN (SELECT id FROM flow_jobs
                          WHERE state = 'pending' AND fire_at <= ?3
                            AND (lease_until IS NULL OR lease_until <= ?3)
                          ORDER BY fire_at, id LIMIT ?4{lock})
             RETURNING {JOB_COLUMNS}"
        ),
        params![host, lease_until, now, limit],
        job_row,
    )?;
    jobs.sort_by_key(|j| (j.fire_at, j.id));
    Ok(jobs)
}

/// How a claimed job ended.
#[derive(Debug, Clone, Copy)]
pub struct Finish<'a> {
    /// The job.
    pub id: i64,
    /// The host that claimed it.
    pub host: &'a str,
    /// `done`, `skipped`, `failed`, or `pending` (retry at `fire_at`).
    pub state: &'a str,
    /// What happened.
    pub outcome: &'a str,
    /// The flow version that ran, if one did.
    pub flow_version: Option<i64>,
    /// When it ran, Unix ms.
    pub fired_at: i64,
    /// How late, ms (kept from the first attempt).
    pub late_ms: i64,
    /// For a retry: when to try again.
    pub retry_at: Option<i64>,
}

/// Records how a claimed job ended; false when the job is no longer this host's
/// (it was rescheduled meanwhile).
pub(crate) fn finish(conn: &Conn<'_>, f: &Finish<'_>) -> Result<bool, StoreError> {
    let n = match f.retry_at {
        Some(at) => conn.execute(
            "UPDATE flow_jobs SET attempts = attempts + 1, fire_at = ?3, outcome = ?4,
                 claimed_by = NULL, lease_until = NULL, flow_version = ?5,
                 late_ms = COALESCE(late_ms, ?6)
             WHERE id = ?1 AND claimed_by = ?2 AND state = 'pending'",
            params![f.id, f.host, at, f.outcome, f.flow_version, f.late_ms],
        )?,
        None => conn.execute(
            "UPDATE flow_jobs SET state = ?3, outcome = ?4, flow_version = ?5, fired_at = ?6,
                 late_ms = COALESCE(late_ms, ?7), claimed_by = NULL, lease_until = NULL,
                 attempts = attempts + CASE WHEN ?3 = 'failed' THEN 1 ELSE 0 END
             WHERE id = ?1 AND claimed_by = ?2 AND state = 'pending'",
            params![
                f.id,
                f.host,
                f.state,
                f.outcome,
                f.flow_version,
                f.fired_at,
                f.late_ms
            ],
        )?,
    };
    Ok(n > 0)
}

/// The newest `limit` jobs of the tenant (of one flow, when given), newest first;
/// pending ones only when `pending`.
pub(crate) fn flow_log(
    conn: &Conn<'_>,
    tenant: &str,
    flow: Option<&str>,
    pending: bool,
    limit: u32,
) -> Result<Vec<FlowJob>, StoreError> {
    let state = if pending {
        " AND state = 'pending'"
    } else {
        " AND state <> 'pending'"
    };
    let order = if pending { "fire_at, id" } else { "id DESC" };
    let limit = i64::from(limit);
    conn.query(
        &format!(
            "SELECT {JOB_COLUMNS} FROM flow_jobs
             WHERE tenant_id = ?1 AND (?2 IS NULL OR flow = ?2){state}
             ORDER BY {order} LIMIT ?3"
        ),
        params![tenant, flow, limit],
        job_row,
    )
}

/// Jobs of the tenant by flow and state: `(flow, state, count)`.
pub(crate) fn flow_counts(
    conn: &Conn<'_>,
    tenant: &str,
) -> Result<Vec<(String, String, i64)>, StoreError> {
    conn.query(
        "SELECT flow, state, COUNT(*) FROM flow_jobs WHERE tenant_id = ?1
         GROUP BY flow, state ORDER BY flow, state",
        params![tenant],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
}

/// When the flow last sent to the contact, Unix ms.
pub(crate) fn last_flow_send(
    conn: &Conn<'_>,
    tenant: &str,
    flow: &str,
    contact_id: i64,
) -> Result<Option<i64>, StoreError> {
    conn.query_opt(
        "SELECT last_sent_at FROM flow_sends WHERE tenant_id = ?1 AND flow = ?2 AND contact_id = ?3",
        params![tenant, flow, contact_id],
        |r| r.get(0),
    )
}

/// Records that the flow sent to the contact at `at`.
pub(crate) fn record_flow_send(
    conn: &Conn<'_>,
    tenant: &str,
    flow: &str,
    contact_id: i64,
    at: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO flow_sends (tenant_id, flow, contact_id, last_sent_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (tenant_id, flow, contact_id) DO UPDATE SET last_sent_at = excluded.last_sent_at",
        params![tenant, flow, contact_id, at],
    )?;
    Ok(())
}

/// When the next pending job may run, if any is pending.
pub(crate) fn next_fire_at(conn: &Conn<'_>) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .query_opt(
            "SELECT MIN(fire_at) FROM flow_jobs WHERE state = 'pending'",
            params![],
            |r| r.get::<Option<i64>>(0),
        )?
        .flatten())
}

/// The contact an outbound message went to, and the source that sent it (e.g.
/// `flow:NAME@VERSION`), by its wamid.
pub(crate) fn status_subject(
    conn: &Conn<'_>,
    tenant: &str,
    wamid: &str,
) -> Result<Option<(i64, Option<String>)>, StoreError> {
    conn.query_opt(
        "SELECT m.contact_id,
                (SELECT o.source FROM outbox o WHERE o.tenant_id = m.tenant_id AND o.wamid = m.wamid LIMIT 1)
         FROM messages m WHERE m.tenant_id = ?1 AND m.wamid = ?2 AND m.direction = 'outbound'",
        params![tenant, wamid],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// Marks the tenant's conversation resolved at `at`; its contact, or none when the
/// tenant has no such conversation.
pub(crate) fn resolve_conversation(
    conn: &Conn<'_>,
    tenant: &str,
    conversation_id: i64,
    at: i64,
) -> Result<Option<i64>, StoreError> {
    conn.query_opt(
        "UPDATE conversations SET resolved_at = ?3, state = 'resolved', snoozed_until = NULL
         WHERE tenant_id = ?1 AND id = ?2 RETURNING contact_id",
        params![tenant, conversation_id, at],
        |r| r.get(0),
    )
}

/// The tenant's time zone (IANA name), if the tenant exists.
pub(crate) fn time_zone(conn: &Conn<'_>, tenant: &str) -> Result<Option<String>, StoreError> {
    conn.query_opt(
        "SELECT time_zone FROM tenants WHERE id = ?1",
        params![tenant],
        |r| r.get(0),
    )
}

/// Sets the tenant's time zone (checked by the caller).
pub(crate) fn set_time_zone(conn: &Conn<'_>, tenant: &str, zone: &str) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE tenants SET time_zone = ?2 WHERE id = ?1",
        params![tenant, zone],
    )?;
    Ok(())
}

/// Replaces a job's outcome text.
pub(crate) fn set_outcome(conn: &Conn<'_>, id: i64, outcome: &str) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE flow_jobs SET outcome = ?2 WHERE id = ?1",
        params![id, outcome],
    )?;
    Ok(())
}

/// Tags the contact's newest message; false when it has none.
pub(crate) fn tag_latest_message(
    conn: &Conn<'_>,
    tenant: &str,
    contact_id: i64,
    tag: &str,
) -> Result<bool, StoreError> {
    let Some(id) = recent_message_ids(conn, tenant, contact_id, 1)?.pop() else {
        return Ok(false);
    };
    conn.execute(
        "INSERT INTO message_tags (message_id, tag) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
        params![id, tag],
    )?;
    Ok(true)
}

/// The ids of the contact's newest `limit` messages, newest first.
pub(crate) fn recent_message_ids(
    conn: &Conn<'_>,
    tenant: &str,
    contact_id: i64,
    limit: u32,
) -> Result<Vec<i64>, StoreError> {
    let limit = i64::from(limit);
    conn.query(
        "SELECT m.id FROM messages m JOIN conversations v ON v.id = m.conversation_id
         WHERE v.tenant_id = ?1 AND v.contact_id = ?2 ORDER BY m.timestamp DESC, m.id DESC LIMIT ?3",
        params![tenant, contact_id, limit],
        |r| r.get(0),
    )
}

crate::repo! {
    /// Flows: catalog, tenants' flows, and the queue of events and timers.
    pub trait FlowRepo {
        /// Adds (or refreshes) a flow component in the catalog.
        fn add_to_catalog(sha256: &str, name: &str, info: &str, triggers: &[String]) -> Result<(), StoreError>;
        /// The newest component of each flow name.
        fn catalog() -> Result<Vec<CatalogEntry>, StoreError>;
        /// The catalog entry of a component.
        fn catalog_entry(sha256: &str) -> Result<Option<CatalogEntry>, StoreError>;
        /// The tenant's flows.
        fn flows_of(tenant: &str) -> Result<Vec<TenantFlow>, StoreError>;
        /// Disables (or enables again) a tenant's flow; false when there is none.
        fn set_flow_disabled(tenant: &str, name: &str, disabled: bool) -> Result<bool, StoreError>;
        /// Makes the flow's jobs that wait for a quarantine or pause to lift due now.
        fn wake_waiting(tenant: &str, flow: &str, now: i64) -> Result<usize, StoreError>;
        /// Queues an event for the tenant's flows that want it; how many.
        fn enqueue_event(tenant: &str, kind: &str, contact_id: i64, event: &str, except: Option<&str>) -> Result<usize, StoreError>;
        /// Marks a conversation resolved; its contact, if it exists.
        fn resolve_conversation(tenant: &str, conversation_id: i64, at: i64) -> Result<Option<i64>, StoreError>;
        /// The tenant's time zone.
        fn time_zone(tenant: &str) -> Result<Option<String>, StoreError>;
        /// Sets the tenant's time zone.
        fn set_time_zone(tenant: &str, zone: &str) -> Result<(), StoreError>;
        /// The contact and sending source of an outbound message.
        fn status_subject(tenant: &str, wamid: &str) -> Result<Option<(i64, Option<String>)>, StoreError>;
        /// Replaces a finished job's outcome text.
        fn set_outcome(id: i64, outcome: &str) -> Result<(), StoreError>;
        /// Tags the contact's newest message (and so its conversation); false when it has none.
        fn tag_latest_message(tenant: &str, contact_id: i64, tag: &str) -> Result<bool, StoreError>;
        /// Schedules (or replaces) a timer.
        fn schedule_timer(t: &NewTimer<'_>) -> Result<(), StoreError>;
        /// Cancels a pending timer; true when there was one.
        fn cancel_timer(tenant: &str, flow: &str, contact_id: i64, key: &str) -> Result<bool, StoreError>;
        /// Claims due jobs for a host.
        fn claim_due(host: &str, now: i64, lease_until: i64, limit: usize) -> Result<Vec<FlowJob>, StoreError>;
        /// Records how a claimed job ended.
        fn finish(f: &Finish<'_>) -> Result<bool, StoreError>;
        /// The flow log (or the pending jobs).
        fn flow_log(tenant: &str, flow: Option<&str>, pending: bool, limit: u32) -> Result<Vec<FlowJob>, StoreError>;
        /// Jobs by flow and state.
        fn flow_counts(tenant: &str) -> Result<Vec<(String, String, i64)>, StoreError>;
        /// When the flow last sent to the contact.
        fn last_flow_send(tenant: &str, flow: &str, contact_id: i64) -> Result<Option<i64>, StoreError>;
        /// Records a flow's send to a contact.
        fn record_flow_send(tenant: &str, flow: &str, contact_id: i64, at: i64) -> Result<(), StoreError>;
        /// When the next pending job may run.
        fn next_fire_at() -> Result<Option<i64>, StoreError>;
        /// The contact's newest message ids, newest first.
        fn recent_message_ids(tenant: &str, contact_id: i64, limit: u32) -> Result<Vec<i64>, StoreError>;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Vec<crate::testing::TestDb> {
        let all = crate::testing::backends();
        for t in &all {
            t.db.with_conn(|c| {
                crate::testing::add_acme(c)?;
                crate::plugins::insert_component(
                    c,
                    &crate::plugins::ComponentRow {
                        sha256: "f1".into(),
                        name: "clicked".into(),
                        world: "scrm:plugin/flow@0.1.2".into(),
                        size: 1,
                        created_at: 0,
                    },
                )?;
                add_to_catalog(c, "f1", "clicked", "{}", &["link-clicked".into()])?;
                crate::plugins::insert_binding(
                    c,
                    "acme",
                    "flow:clicked",
                    "f1",
                    b"{}",
                    &serde_json::json!({}),
                    &serde_json::json!({}),
                )?;
                Ok(())
            })
            .unwrap();
        }
        all
    }

    fn timer<'a>(key: &'a str, due: i64, payload: &'a [u8]) -> NewTimer<'a> {
        NewTimer {
            kind: "timer",
            tenant: "acme",
            flow: "clicked",
            contact_id: 7,
            key,
            due_at: due,
            fire_at: due + 5,
            event: "{}",
            payload,
        }
    }

    #[test]
    fn events_reach_the_flows_that_want_them_unless_disabled() {
        for t in db() {
            eprintln!("backend: {}", t.backend);
            t.db.with_conn(|c| {
                assert_eq!(enqueue_event(c, "acme", "link-clicked", 7, "{}", None)?, 1);
                assert_eq!(
                    enqueue_event(c, "acme", "message", 7, "{}", None)?,
                    0,
                    "not wanted"
                );
                assert_eq!(
                    enqueue_event(c, "acme", "link-clicked", 7, "{}", Some("clicked"))?,
                    0,
                    "not to the flow that caused it"
                );
                assert!(set_flow_disabled(c, "acme", "clicked", true)?);
                assert_eq!(enqueue_event(c, "acme", "link-clicked", 7, "{}", None)?, 0);
                assert!(!set_flow_disabled(c, "acme", "nope", true)?);
                let flows = flows_of(c, "acme")?;
                assert_eq!(flows.len(), 1);
                assert!(flows[0].disabled_at.is_some());
                Ok(())
            })
            .unwrap();
        }
    }

    #[test]
    fn a_timer_is_replaced_by_key_claimed_once_and_cancelled() {
        for t in db() {
            eprintln!("backend: {}", t.backend);
            t.db.with_conn(|c| {
                schedule_timer(c, &timer("remind", 1_000, b"a"))?;
                schedule_timer(c, &timer("remind", 2_000, b"b"))?;
                schedule_timer(c, &timer("other", 1_500, b"c"))?;
                assert!(claim_due(c, "h1", 1_004, 9_999, 10)?.is_empty(), "settling");
                let got = claim_due(c, "h1", 2_005, 9_999, 10)?;
                assert_eq!(got.len(), 2, "one row per key: {got:?}");
                assert_eq!(got[0].timer_key.as_deref(), Some("other"));
                assert_eq!(got[1].payload.as_deref(), Some(&b"b"[..]));
                assert!(
                    claim_due(c, "h2", 2_005, 9_999, 10)?.is_empty(),
                    "claimed by h1"
                );
                assert_eq!(
                    claim_due(c, "h2", 10_000, 19_999, 10)?.len(),
                    2,
                    "lease ended"
                );
                // h1 lost its claim: its finish does not count.
                let f = |host, id| Finish {
                    id,
                    host,
                    state: "done",
                    outcome: "handled",
                    flow_version: Some(1),
                    fired_at: 10_001,
                    late_ms: 8_000,
                    retry_at: None,
                };
                assert!(!finish(c, &f("h1", got[0].id))?);
                assert!(finish(c, &f("h2", got[0].id))?);
                // The same key can be scheduled again once the first one fired.
                schedule_timer(c, &timer("other", 20_000, b"d"))?;
                assert!(cancel_timer(c, "acme", "clicked", 7, "other")?);
                assert!(!cancel_timer(c, "acme", "clicked", 7, "other")?);
                let log = flow_log(c, "acme", Some("clicked"), false, 10)?;
                assert_eq!(log[0].state, "cancelled");
                assert_eq!(log[1].late_ms, Some(8_000));
                assert_eq!(next_fire_at(c)?, Some(2_005));
                Ok(())
            })
            .unwrap();
        }
    }

    #[test]
    fn jobs_waiting_for_a_paused_flow_are_woken_and_no_others() {
        for t in db() {
            eprintln!("backend: {}", t.backend);
            t.db.with_conn(|c| {
                schedule_timer(c, &timer("paused", 1_000, b"a"))?;
                schedule_timer(c, &timer("retried", 1_000, b"b"))?;
                schedule_timer(c, &timer("later", 50_000, b"c"))?;
                let got = claim_due(c, "h1", 2_000, 9_999, 10)?;
                assert_eq!(got.len(), 2);
                for (job, outcome) in got.iter().zip(["waiting: flow paused (x)", "plugin_error"]) {
                    finish(
                        c,
                        &Finish {
                            id: job.id,
                            host: "h1",
                            state: "pending",
                            outcome,
                            flow_version: Some(1),
                            fired_at: 2_000,
                            late_ms: 0,
                            retry_at: Some(62_000),
                        },
                    )?;
                }
                assert_eq!(wake_waiting(c, "acme", "clicked", 3_000)?, 1);
                let due = claim_due(c, "h1", 3_000, 9_999, 10)?;
                assert_eq!(due.len(), 1, "{due:?}");
                assert_eq!(due[0].timer_key.as_deref(), Some("paused"));
                assert_eq!(wake_waiting(c, "acme", "other", 3_000)?, 0);
                Ok(())
            })
            .unwrap();
        }
    }
}
