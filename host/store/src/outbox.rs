//! The durable outbox: every send from the API, the CLI or a responder is a row here
//! before anything goes to Meta, and stays here with its outcome.
//!
//! States: `queued` (with `not_before` and, while held back, a `wait_reason`) →
//! `sending` → `sent`; or a final `needs_template` (131047 or the window closed),
//! `undeliverable` (131026), `suppressed` (opt-out, marketing stopped), `dead` (retries
//! exhausted or an error that retrying cannot fix; re-queueable) or `cancelled`.
//! Sends to one recipient from one number go strictly in order: only the oldest
//! unfinished row of each (number, recipient) pair is ever claimed.

use super::page::{Page, PageRequest};
use super::{StoreError, now_ms};
use crate::params;
use crate::sql::{Conn, Row};
use serde::Serialize;
use serde_json::Value;

/// One outbox row as served by the API.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OutboxItem {
    /// Host id.
    pub id: i64,
    /// Tenant.
    pub tenant_id: String,
    /// Sending number (Meta's phone_number_id).
    pub phone_number_id: String,
    /// Recipient, E.164 digits without "+".
    pub to: String,
    /// `text`, `template`, `image`, ..., `read`.
    pub kind: String,
    /// `service`, `marketing`, `utility` or `authentication`.
    pub category: String,
    /// The Cloud API message object.
    pub body: Value,
    /// The caller's idempotency key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// `api`, `cli` or `responder`.
    pub source: String,
    /// See the module docs.
    pub state: String,
    /// Why a queued row is held back (`daily_cap`, `backoff`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wait_reason: Option<String>,
    /// Not sent before this time, Unix ms.
    pub not_before: i64,
    /// Attempts so far.
    pub attempts: i64,
    /// Meta's error code of the last failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<i64>,
    /// The last failure, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Whether it opened a business-initiated conversation.
    pub business_initiated: bool,
    /// Meta's message id, once accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wamid: Option<String>,
    /// Created, Unix ms.
    pub created_at: i64,
    /// Last changed, Unix ms.
    pub updated_at: i64,
    /// Accepted by Meta, Unix ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<i64>,
}

const COLUMNS: &str =
    "id, tenant_id, phone_number_id, to_wa, kind, category, body, idempotency_key, source,
    state, wait_reason, not_before, attempts, error_code, last_error, business_initiated, wamid,
    created_at, updated_at, sent_at";

fn from_row(r: &Row<'_>) -> Result<OutboxItem, StoreError> {
    let body: String = r.get(6)?;
    Ok(OutboxItem {
        id: r.get(0)?,
        tenant_id: r.get(1)?,
        phone_number_id: r.get(2)?,
        to: r.get(3)?,
        kind: r.get(4)?,
        category: r.get(5)?,
        body: serde_json::from_str(&body).unwrap_or(Value::String(body)),
        idempotency_key: r.get(7)?,
        source: r.get(8)?,
        state: r.get(9)?,
        wait_reason: r.get(10)?,
        not_before: r.get(11)?,
        attempts: r.get(12)?,
        error_code: r.get(13)?,
        last_error: r.get(14)?,
        business_initiated: r.get(15)?,
        wamid: r.get(16)?,
        created_at: r.get(17)?,
        updated_at: r.get(18)?,
        sent_at: r.get(19)?,
    })
}

/// A send to enqueue.
#[derive(Debug, Clone)]
pub struct NewSend<'a> {
    /// Tenant.
    pub tenant: &'a str,
    /// Sending number.
    pub phone_number_id: &'a str,
    /// Recipient digits.
    pub to: &'a str,
    /// Message kind.
    pub kind: &'a str,
    /// Category.
    pub category: &'a str,
    /// The Cloud API message object.
    pub body: &'a Value,
    /// Idempotency key.
    pub idempotency_key: Option<&'a str>,
    /// Source.
    pub source: &'a str,
    /// Held back until then (Unix ms) ...
    pub not_before: i64,
    /// ... for this reason.
    pub wait_reason: Option<&'a str>,
}

/// Adds a send, or returns the existing row with the same idempotency key (and
/// `false`).
///
/// # Errors
/// On database failure.
pub(crate) fn enqueue(conn: &Conn<'_>, s: &NewSend<'_>) -> Result<(OutboxItem, bool), StoreError> {
    if let Some(key) = s.idempotency_key
        && let Some(existing) = conn.query_opt(
            &format!("SELECT {COLUMNS} FROM outbox WHERE tenant_id = ?1 AND idempotency_key = ?2"),
            params![s.tenant, key],
            from_row,
        )?
    {
        return Ok((existing, false));
    }
    let now = now_ms();
    let id: i64 = conn.query_one("INSERT INTO outbox (tenant_id, phone_number_id, to_wa, kind, category, body, idempotency_key,
                             source, state, wait_reason, not_before, created_at, updated_at, country)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'queued', ?9, ?10, ?11, ?11, ?12)
         RETURNING id", params![
        s.tenant,
        s.phone_number_id,
        s.to,
        s.kind,
        s.category,
        s.body.to_string(),
        s.idempotency_key,
        s.source,
        s.wait_reason,
        s.not_before,
        now,
        scrm_wire::phone::region_of_wa_id(s.to)
    ], |r| r.get(0))?;
    Ok((get_by_id(conn, id)?.expect("the row just inserted"), true))
}

fn get_by_id(conn: &Conn<'_>, id: i64) -> Result<Option<OutboxItem>, StoreError> {
    conn.query_opt(
        &format!("SELECT {COLUMNS} FROM outbox WHERE id = ?1"),
        params![id],
        from_row,
    )
}

/// One row of a tenant.
///
/// # Errors
/// On database failure.
pub(crate) fn get(
    conn: &Conn<'_>,
    tenant: &str,
    id: i64,
) -> Result<Option<OutboxItem>, StoreError> {
    Ok(get_by_id(conn, id)?.filter(|o| o.tenant_id == tenant))
}

/// One page of a tenant's outbox, oldest first, optionally in one state.
///
/// # Errors
/// On database failure.
pub(crate) fn list(
    conn: &Conn<'_>,
    tenant: &str,
    state: Option<&str>,
    page: PageRequest,
) -> Result<Page<OutboxItem>, StoreError> {
    let rows = conn.query(&format!(
        "SELECT {COLUMNS} FROM outbox WHERE tenant_id = ?1 AND id > ?2 AND (?3 IS NULL OR state = ?3)
         ORDER BY id LIMIT ?4"
    ), params![tenant, page.after, state, page.sql_limit()], from_row)?;
    Ok(Page::from_rows(rows, page, |o| o.id))
}

/// Counts of a tenant's rows per state and, for queued rows, per wait reason.
///
/// # Errors
/// On database failure.
pub(crate) fn counts(
    conn: &Conn<'_>,
    tenant: &str,
) -> Result<Vec<(String, Option<String>, i64)>, StoreError> {
    let rows = conn.query(
        "SELECT state, CASE WHEN state = 'queued' THEN wait_reason END AS reason, COUNT(*)
         FROM outbox WHERE tenant_id = ?1 GROUP BY state, reason ORDER BY state, reason",
        params![tenant],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    Ok(rows)
}

/// Due rows that may be sent next: queued, `not_before <= now`, and the oldest
/// unfinished row of their (number, recipient) pair. Oldest first.
///
/// # Errors
/// On database failure.
pub(crate) fn claimable(
    conn: &Conn<'_>,
    now: i64,
    limit: usize,
) -> Result<Vec<OutboxItem>, StoreError> {
    let rows = conn.query(
        &format!(
            "SELECT {COLUMNS} FROM outbox o
         WHERE state = 'queued' AND not_before <= ?1
           AND NOT EXISTS (SELECT 1 FROM outbox p
                           WHERE p.phone_number_id = o.phone_number_id AND p.to_wa = o.to_wa
                             AND p.state IN ('queued', 'sending') AND p.id < o.id)
         ORDER BY not_before, id LIMIT ?2"
        ),
        params![now, limit as i64],
        from_row,
    )?;
    Ok(rows)
}

/// When the next queued row becomes due, Unix ms.
///
/// # Errors
/// On database failure.
pub(crate) fn next_due(conn: &Conn<'_>) -> Result<Option<i64>, StoreError> {
    conn.query_one(
        "SELECT MIN(not_before) FROM outbox WHERE state = 'queued'",
        params![],
        |r| r.get(0),
    )
}

/// The sent row that got Meta's message id `wamid`.
///
/// # Errors
/// On database failure.
pub(crate) fn find_sent(
    conn: &Conn<'_>,
    tenant: &str,
    wamid: &str,
) -> Result<Option<OutboxItem>, StoreError> {
    conn.query_opt(
        &format!(
            "SELECT {COLUMNS} FROM outbox WHERE tenant_id = ?1 AND wamid = ?2 AND state = 'sent'"
        ),
        params![tenant, wamid],
        from_row,
    )
}

/// Holds a queued row back until `until` for `reason`.
///
/// # Errors
/// On database failure.
pub(crate) fn hold(conn: &Conn<'_>, id: i64, until: i64, reason: &str) -> Result<(), StoreError> {
    conn.execute("UPDATE outbox SET not_before = ?2, wait_reason = ?3, updated_at = ?4 WHERE id = ?1 AND state = 'queued'", params![id, until, reason, now_ms()])?;
    Ok(())
}

/// Makes queued rows of a tenant held for one of `reasons` (and, when given, to one
/// recipient) due now, so the rules look at them again after something changed
/// (an opt-in was recorded, a limit raised). The rules hold them again if needed.
///
/// # Errors
/// On database failure.
pub(crate) fn release(
    conn: &Conn<'_>,
    tenant: &str,
    to: Option<&str>,
    reasons: &[&str],
) -> Result<usize, StoreError> {
    let now = now_ms();
    let mut n = 0;
    for reason in reasons {
        n += conn.execute(
            "UPDATE outbox SET not_before = ?4, updated_at = ?4
                 WHERE tenant_id = ?1 AND state = 'queued' AND wait_reason = ?2
                   AND (?3 IS NULL OR to_wa = ?3) AND not_before > ?4",
            params![tenant, reason, to, now],
        )?;
    }
    Ok(n)
}

/// Claims a queued row for sending; `business_initiated` is recorded for the cap.
///
/// # Errors
/// On database failure.
pub(crate) fn claim(
    conn: &Conn<'_>,
    id: i64,
    business_initiated: bool,
    host: &str,
    lease_until: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE outbox SET state = 'sending', attempts = attempts + 1, business_initiated = ?2,
                wait_reason = NULL, updated_at = ?3, claimed_by = ?4, lease_until = ?5
         WHERE id = ?1 AND state = 'queued'",
        params![id, business_initiated, now_ms(), host, lease_until],
    )?;
    Ok(())
}

/// Records Meta's acceptance.
///
/// # Errors
/// On database failure.
pub(crate) fn mark_sent(
    conn: &Conn<'_>,
    id: i64,
    wamid: Option<&str>,
    at: i64,
) -> Result<(), StoreError> {
    conn.execute("UPDATE outbox SET state = 'sent', wamid = ?2, sent_at = ?3, updated_at = ?3, wait_reason = NULL
         WHERE id = ?1", params![id, wamid, at])?;
    // Statuses that raced ahead of Meta's answer are already recorded: roll them up.
    if wamid.is_some() {
        conn.execute(
            "UPDATE outbox SET
                 delivered_at = (SELECT MIN(s.timestamp) FROM message_statuses s
                                  WHERE s.tenant_id = outbox.tenant_id AND s.wamid = outbox.wamid
                                    AND s.status IN ('delivered', 'read')),
                 read_at = (SELECT MIN(s.timestamp) FROM message_statuses s
                             WHERE s.tenant_id = outbox.tenant_id AND s.wamid = outbox.wamid
                               AND s.status = 'read'),
                 pricing = (SELECT s.pricing FROM message_statuses s
                             WHERE s.tenant_id = outbox.tenant_id AND s.wamid = outbox.wamid
                               AND s.pricing IS NOT NULL ORDER BY s.id DESC LIMIT 1)
             WHERE id = ?1 AND EXISTS (SELECT 1 FROM message_statuses s
                                        WHERE s.tenant_id = outbox.tenant_id AND s.wamid = outbox.wamid)",
            params![id],
        )?;
    }
    Ok(())
}

/// Puts a row back in the queue (after a retryable failure) until `until`.
///
/// # Errors
/// On database failure.
pub(crate) fn retry_later(
    conn: &Conn<'_>,
    id: i64,
    until: i64,
    reason: &str,
    code: Option<i64>,
    error: &str,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE outbox SET state = 'queued', not_before = ?2, wait_reason = ?3, error_code = ?4,
                last_error = ?5, business_initiated = 0, updated_at = ?6
         WHERE id = ?1",
        params![id, until, reason, code, error, now_ms()],
    )?;
    Ok(())
}

/// Ends a row in a final state with its reason.
///
/// # Errors
/// On database failure.
pub(crate) fn finish(
    conn: &Conn<'_>,
    id: i64,
    state: &str,
    code: Option<i64>,
    error: &str,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE outbox SET state = ?2, error_code = ?3, last_error = ?4, wait_reason = NULL,
                business_initiated = 0, updated_at = ?5
         WHERE id = ?1",
        params![id, state, code, error, now_ms()],
    )?;
    Ok(())
}

/// Puts a dead, suppressed, needs-template or undeliverable row back in the queue
/// (an operator's decision); the attempt count restarts.
///
/// # Errors
/// [`StoreError::NotFound`] when the tenant has no such row; [`StoreError::Conflict`]
/// when it is not in a re-queueable state.
pub(crate) fn requeue(conn: &Conn<'_>, tenant: &str, id: i64) -> Result<OutboxItem, StoreError> {
    let Some(row) = get(conn, tenant, id)? else {
        return Err(StoreError::NotFound {
            what: "outbox item",
            id: id.to_string(),
        });
    };
    if !matches!(
        row.state.as_str(),
        "dead" | "needs_template" | "undeliverable" | "suppressed"
    ) {
        return Err(StoreError::Conflict {
            what: "outbox item in state",
            id: format!("{} ({})", id, row.state),
        });
    }
    conn.execute(
        "UPDATE outbox SET state = 'queued', not_before = ?2, attempts = 0, wait_reason = NULL, updated_at = ?2
         WHERE id = ?1",
        params![id, now_ms()],)?;
    Ok(get_by_id(conn, id)?.expect("the row exists"))
}

/// Cancels a queued row.
///
/// # Errors
/// [`StoreError::NotFound`] when the tenant has no such row; [`StoreError::Conflict`]
/// when it is no longer queued.
pub(crate) fn cancel(conn: &Conn<'_>, tenant: &str, id: i64) -> Result<OutboxItem, StoreError> {
    let Some(row) = get(conn, tenant, id)? else {
        return Err(StoreError::NotFound {
            what: "outbox item",
            id: id.to_string(),
        });
    };
    if row.state != "queued" {
        return Err(StoreError::Conflict {
            what: "outbox item in state",
            id: format!("{} ({})", id, row.state),
        });
    }
    finish(conn, id, "cancelled", None, "cancelled by the operator")?;
    Ok(get_by_id(conn, id)?.expect("the row exists"))
}

/// Rows left in `sending` by a crash: whether Meta got them is unknown, so they are
/// not resent blindly but moved to `dead` for an operator to re-queue. Returns how
/// many.
///
/// # Errors
/// On database failure.
pub(crate) fn recover_interrupted(
    conn: &Conn<'_>,
    expired_by: Option<i64>,
) -> Result<usize, StoreError> {
    conn.execute(
        "UPDATE outbox SET state = 'dead', updated_at = ?1, lease_until = NULL,
                last_error = 'interrupted while sending: Meta may or may not have received it; re-queue to send again'
         WHERE state = 'sending' AND (?2 IS NULL OR lease_until IS NULL OR lease_until <= ?2)",
        params![now_ms(), expired_by],
    )
}

/// Distinct recipients reached from `number` with business-initiated messages
/// since `since`, and the oldest such send.
///
/// # Errors
/// On database failure.
pub(crate) fn reached_since(
    conn: &Conn<'_>,
    number: &str,
    since: i64,
) -> Result<(u32, Option<i64>), StoreError> {
    conn.query_one(
        "SELECT COUNT(DISTINCT to_wa), MIN(COALESCE(sent_at, updated_at)) FROM outbox
             WHERE phone_number_id = ?1 AND business_initiated = 1
               AND (state = 'sending' OR (state = 'sent' AND sent_at > ?2))",
        params![number, since],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// The last business-initiated send to `to` from any of the tenant's numbers
/// (Unix ms), and whether `number` reached `to` since `since`.
///
/// # Errors
/// On database failure.
pub(crate) fn recipient_history(
    conn: &Conn<'_>,
    tenant: &str,
    number: &str,
    to: &str,
    since: i64,
) -> Result<(Option<i64>, bool), StoreError> {
    conn
        .query_one("SELECT MAX(COALESCE(sent_at, updated_at)),
                    COALESCE(MAX(CASE WHEN phone_number_id = ?2 AND COALESCE(sent_at, updated_at) > ?4 THEN 1 ELSE 0 END), 0)
             FROM outbox
             WHERE tenant_id = ?1 AND to_wa = ?3 AND business_initiated = 1 AND state IN ('sent', 'sending')", params![tenant, number, to, since], |r| Ok((r.get(0)?, r.get(1)?)))
}

/// Pauses marketing from `number` until `until` (368).
///
/// # Errors
/// On database failure.
pub(crate) fn pause_number(
    conn: &Conn<'_>,
    number: &str,
    until: i64,
    reason: &str,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO number_pauses (phone_number_id, scope, until, reason, created_at)
         VALUES (?1, 'marketing', ?2, ?3, ?4)
         ON CONFLICT (phone_number_id, scope) DO UPDATE SET until = greatest(number_pauses.until, excluded.until),
             reason = excluded.reason",
        params![number, until, reason, now_ms()],
    )?;
    Ok(())
}

/// Until when marketing from `number` is paused, Unix ms.
///
/// # Errors
/// On database failure.
pub(crate) fn number_paused_until(
    conn: &Conn<'_>,
    number: &str,
) -> Result<Option<i64>, StoreError> {
    conn.query_opt(
        "SELECT until FROM number_pauses WHERE phone_number_id = ?1 AND scope = 'marketing'",
        params![number],
        |r| r.get(0),
    )
}

/// The recipient's last inbound message to `number`, Unix ms (the customer-service
/// window). The recipient is matched by WhatsApp id or by E.164 phone.
///
/// # Errors
/// On database failure.
pub(crate) fn last_inbound_at(
    conn: &Conn<'_>,
    tenant: &str,
    number: &str,
    to: &str,
) -> Result<Option<i64>, StoreError> {
    conn
        .query_one("SELECT MAX(v.last_inbound_at) FROM conversations v
             WHERE v.tenant_id = ?1 AND v.phone_number_id = ?2
               AND v.contact_id IN (SELECT id FROM contacts WHERE tenant_id = ?1 AND wa_id = ?3
                                    UNION ALL
                                    SELECT id FROM contacts WHERE tenant_id = ?1 AND phone_e164 = '+' || ?3)", params![tenant, number, to], |r| r.get(0))
}

/// Stores an accepted send as an outbound message of its conversation (creating
/// the contact and conversation when new), idempotent on the wamid. Its status is
/// `accepted` until status webhooks advance it.
///
/// # Errors
/// On database failure.
pub(crate) fn record_outbound_message(
    conn: &Conn<'_>,
    row: &OutboxItem,
    wamid: &str,
    wa_id: Option<&str>,
    at: i64,
) -> Result<i64, StoreError> {
    let wa_id = wa_id.unwrap_or(&row.to);
    let text = match row.kind.as_str() {
        "text" => row.body.pointer("/text/body").and_then(Value::as_str),
        "template" => row.body.pointer("/template/name").and_then(Value::as_str),
        kind => row
            .body
            .pointer(&format!("/{kind}/caption"))
            .and_then(Value::as_str),
    };
    let content = row.body.get(&row.kind).cloned().unwrap_or(Value::Null);
    let context = row
        .body
        .get("context")
        .cloned()
        .unwrap_or(Value::Object(Default::default()));
    let to = super::contacts::ContactFacts {
        wa_id: Some(wa_id.to_owned()),
        phone: scrm_wire::phone::wa_id_to_e164(wa_id),
        ..Default::default()
    };
    let recorded = super::messages::insert_outbound(
        conn,
        &super::messages::NewOutbound {
            tenant: &row.tenant_id,
            phone_number_id: &row.phone_number_id,
            to: &to,
            wamid,
            kind: &row.kind,
            at,
            text,
            content: &serde_json::json!({"type": row.kind, row.kind.clone(): content}),
            context: &context,
            raw: &row.body.to_string(),
            status: "accepted",
            sender: &row.source,
        },
    )?;
    if recorded.new {
        match row
            .idempotency_key
            .as_deref()
            .and_then(|k| k.strip_prefix("crm-reply:"))
            .filter(|_| row.source == "crm")
        {
            // Written in the CRM: it is there already; remember which it is.
            Some(crm_id) => crate::crm::set_link(
                conn,
                &row.tenant_id,
                "note",
                recorded.id,
                &crate::crm::Link {
                    crm_id: crm_id.to_string(),
                    crm_updated_at: None,
                    synced_at: at,
                    record_hash: None,
                },
            )?,
            // The business's side of the chat history goes to the CRM too.
            None => {
                crate::crm::enqueue_if_syncing(
                    conn,
                    &row.tenant_id,
                    recorded.contact_id,
                    recorded.id,
                )?;
            }
        }
    }
    Ok(recorded.id)
}

/// The errors (Meta's JSON array, as stored) of a `failed` status recorded for
/// `wamid`. `None` when no failure was recorded; `Some(None)` when it carried none.
///
/// # Errors
/// On database failure.
pub(crate) fn recorded_failure(
    conn: &Conn<'_>,
    tenant: &str,
    wamid: &str,
) -> Result<Option<Option<String>>, StoreError> {
    conn
        .query_opt("SELECT errors FROM message_statuses WHERE tenant_id = ?1 AND wamid = ?2 AND status = 'failed'", params![tenant, wamid], |r| r.get(0))
}

crate::repo! {
    /// The outbox of sends.
    pub trait OutboxRepo {
        /// Adds a send, or returns the existing row with the same idempotency key (and
        /// `false`).
        fn enqueue(s: &NewSend<'_>) -> Result<(OutboxItem, bool), StoreError>;
        /// One row of a tenant.
        fn get(tenant: &str, id: i64) -> Result<Option<OutboxItem>, StoreError>;
        /// One page of a tenant's outbox, oldest first, optionally in one state.
        fn list(tenant: &str, state: Option<&str>, page: PageRequest) -> Result<Page<OutboxItem>, StoreError>;
        /// Counts of a tenant's rows per state and, for queued rows, per wait reason.
        fn counts(tenant: &str) -> Result<Vec<(String, Option<String>, i64)>, StoreError>;
        /// Due rows that may be sent next: queued, `not_before <= now`, and the oldest
        /// unfinished row of their (number, recipient) pair. Oldest first.
        fn claimable(now: i64, limit: usize) -> Result<Vec<OutboxItem>, StoreError>;
        /// When the next queued row becomes due, Unix ms.
        fn next_due() -> Result<Option<i64>, StoreError>;
        /// The sent row that got Meta's message id `wamid`.
        fn find_sent(tenant: &str, wamid: &str) -> Result<Option<OutboxItem>, StoreError>;
        /// Holds a queued row back until `until` for `reason`.
        fn hold(id: i64, until: i64, reason: &str) -> Result<(), StoreError>;
        /// Makes queued rows of a tenant held for one of `reasons` (and, when given, to one
        /// recipient) due now, so the rules look at them again after something changed
        /// (an opt-in was recorded, a limit raised). The rules hold them again if needed.
        fn release(tenant: &str, to: Option<&str>, reasons: &[&str]) -> Result<usize, StoreError>;
        /// Claims a queued row for sending; `business_initiated` is recorded for the cap.
        /// `host` holds it in `sending` until `lease_until`; past that, any host may
        /// dead-letter it (see `recover_interrupted`).
        fn claim(id: i64, business_initiated: bool, host: &str, lease_until: i64) -> Result<(), StoreError>;
        /// Records Meta's acceptance.
        fn mark_sent(id: i64, wamid: Option<&str>, at: i64) -> Result<(), StoreError>;
        /// Puts a row back in the queue (after a retryable failure) until `until`.
        fn retry_later(id: i64, until: i64, reason: &str, code: Option<i64>, error: &str) -> Result<(), StoreError>;
        /// Ends a row in a final state with its reason.
        fn finish(id: i64, state: &str, code: Option<i64>, error: &str) -> Result<(), StoreError>;
        /// Puts a dead, suppressed, needs-template or undeliverable row back in the queue
        /// (an operator's decision); the attempt count restarts.
        fn requeue(tenant: &str, id: i64) -> Result<OutboxItem, StoreError>;
        /// Cancels a queued row.
        fn cancel(tenant: &str, id: i64) -> Result<OutboxItem, StoreError>;
        /// Rows left in `sending` by a crash: whether Meta got them is unknown, so they are
        /// not resent blindly but moved to `dead` for an operator to re-queue. Returns how
        /// many.
        ///
        /// `None`: every such row (one host owns the database and just started);
        /// `Some(now)`: only rows whose holder's lease ended by `now` (several hosts).
        fn recover_interrupted(expired_by: Option<i64>) -> Result<usize, StoreError>;
        /// Distinct recipients reached from `number` with business-initiated messages
        /// since `since`, and the oldest such send.
        fn reached_since(number: &str, since: i64) -> Result<(u32, Option<i64>), StoreError>;
        /// The last business-initiated send to `to` from any of the tenant's numbers
        /// (Unix ms), and whether `number` reached `to` since `since`.
        fn recipient_history(tenant: &str, number: &str, to: &str, since: i64) -> Result<(Option<i64>, bool), StoreError>;
        /// Pauses marketing from `number` until `until` (368).
        fn pause_number(number: &str, until: i64, reason: &str) -> Result<(), StoreError>;
        /// Until when marketing from `number` is paused, Unix ms.
        fn number_paused_until(number: &str) -> Result<Option<i64>, StoreError>;
        /// The recipient's last inbound message to `number`, Unix ms (the customer-service
        /// window). The recipient is matched by WhatsApp id or by E.164 phone.
        fn last_inbound_at(tenant: &str, number: &str, to: &str) -> Result<Option<i64>, StoreError>;
        /// Stores an accepted send as an outbound message of its conversation (creating
        /// the contact and conversation when new), idempotent on the wamid. Its status is
        /// `accepted` until status webhooks advance it.
        fn record_outbound_message(row: &OutboxItem, wamid: &str, wa_id: Option<&str>, at: i64) -> Result<i64, StoreError>;
        /// The errors (Meta's JSON array, as stored) of a `failed` status recorded for
        /// `wamid`. `None` when no failure was recorded; `Some(None)` when it carried none.
        fn recorded_failure(tenant: &str, wamid: &str) -> Result<Option<Option<String>>, StoreError>;
    }
}
