//! A tenant's own webhooks (`hooks`) and their deliveries (`hook_deliveries`).
//!
//! The first kind is the **relay**: every inbound webhook of the tenant's numbers,
//! once stored, is forwarded to the app the tenant already had. A delivery names
//! the inbox body it forwards; the sender reads the body when it sends. Deliveries
//! of one ordering key (a contact) go one at a time, oldest first ([`due`] hands out
//! only the oldest queued one of each key), are leased while in flight so two hosts
//! never send the same one at once, and end `delivered` or, after the sender's last
//! attempt, `dead` until a person re-queues them.

use crate::StoreError;
use crate::page::{Page, PageRequest};
use crate::params;
use crate::sql::{Conn, Row};
use serde::Serialize;

/// A tenant's webhook of one kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hook {
    /// The tenant.
    pub tenant_id: String,
    /// `relay`.
    pub kind: String,
    /// Where deliveries are posted.
    pub url: String,
    /// The tenant secret deliveries are signed with.
    pub secret_name: String,
    /// The event types an `events` hook wants, comma-separated (`*`: all).
    pub types: String,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub updated_at: i64,
}

/// One delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    /// Its id.
    pub id: i64,
    /// The tenant.
    pub tenant_id: String,
    /// The hook's kind.
    pub kind: String,
    /// Deliveries of one key go in order (the contact's WhatsApp id).
    pub ordering: String,
    /// The inbox body a relay delivery forwards.
    pub inbox_id: Option<i64>,
    /// What an `events` delivery posts (an event's JSON).
    pub payload: Option<String>,
    /// `queued`, `delivered` or `dead`.
    pub state: String,
    /// Attempts made.
    pub attempts: i64,
    /// When it is (re)tried, Unix ms.
    pub next_at: i64,
    /// The receiver's last HTTP status.
    pub last_status: Option<i64>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub delivered_at: Option<i64>,
}

const COLUMNS: &str = "id, tenant_id, kind, ordering, inbox_id, state, attempts, next_at, \
                       last_status, last_error, created_at, delivered_at, payload";

fn delivery(r: &Row<'_>) -> Result<Delivery, StoreError> {
    Ok(Delivery {
        id: r.get(0)?,
        tenant_id: r.get(1)?,
        kind: r.get(2)?,
        ordering: r.get(3)?,
        inbox_id: r.get(4)?,
        state: r.get(5)?,
        attempts: r.get(6)?,
        next_at: r.get(7)?,
        last_status: r.get(8)?,
        last_error: r.get(9)?,
        created_at: r.get(10)?,
        delivered_at: r.get(11)?,
        payload: r.get(12)?,
    })
}

/// Sets (or replaces) `tenant`'s hook of `kind`.
///
/// # Errors
/// On database failure.
pub(crate) fn set_hook(
    c: &Conn<'_>,
    tenant: &str,
    kind: &str,
    url: &str,
    secret_name: &str,
    types: &str,
    now: i64,
) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO hooks (tenant_id, kind, url, secret_name, types, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)
         ON CONFLICT (tenant_id, kind) DO UPDATE SET url = excluded.url,
             secret_name = excluded.secret_name, types = excluded.types,
             updated_at = excluded.updated_at",
        params![tenant, kind, url, secret_name, types, now],
    )?;
    Ok(())
}

/// `tenant`'s hook of `kind`.
///
/// # Errors
/// On database failure.
pub(crate) fn hook(c: &Conn<'_>, tenant: &str, kind: &str) -> Result<Option<Hook>, StoreError> {
    c.query_opt(
        "SELECT tenant_id, kind, url, secret_name, types, created_at, updated_at FROM hooks
         WHERE tenant_id = ?1 AND kind = ?2",
        params![tenant, kind],
        |r| {
            Ok(Hook {
                tenant_id: r.get(0)?,
                kind: r.get(1)?,
                url: r.get(2)?,
                secret_name: r.get(3)?,
                types: r.get(4)?,
                created_at: r.get(5)?,
                updated_at: r.get(6)?,
            })
        },
    )
}

/// Removes `tenant`'s hook of `kind`; whether there was one.
///
/// # Errors
/// On database failure.
pub(crate) fn remove_hook(c: &Conn<'_>, tenant: &str, kind: &str) -> Result<bool, StoreError> {
    Ok(c.execute(
        "DELETE FROM hooks WHERE tenant_id = ?1 AND kind = ?2",
        params![tenant, kind],
    )? > 0)
}

/// The tenants that have a hook of `kind`.
///
/// # Errors
/// On database failure.
pub(crate) fn tenants_with(c: &Conn<'_>, kind: &str) -> Result<Vec<String>, StoreError> {
    c.query(
        "SELECT tenant_id FROM hooks WHERE kind = ?1 ORDER BY tenant_id",
        params![kind],
        |r| r.get(0),
    )
}

/// Queues the delivery of inbox body `inbox_id` to `tenant`'s hook of `kind`, once:
/// a body stored again (after a crash) queues nothing more.
///
/// # Errors
/// On database failure.
pub(crate) fn enqueue(
    c: &Conn<'_>,
    tenant: &str,
    kind: &str,
    ordering: &str,
    inbox_id: i64,
    now: i64,
) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO hook_deliveries (tenant_id, kind, ordering, inbox_id, next_at, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5) ON CONFLICT DO NOTHING",
        params![tenant, kind, ordering, inbox_id, now],
    )?;
    Ok(())
}

/// Queues a delivery that carries its own `payload` (an event's JSON) to
/// `tenant`'s hook of `kind`.
///
/// # Errors
/// On database failure.
pub(crate) fn enqueue_payload(
    c: &Conn<'_>,
    tenant: &str,
    kind: &str,
    ordering: &str,
    payload: &str,
    now: i64,
) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO hook_deliveries (tenant_id, kind, ordering, payload, next_at, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
        params![tenant, kind, ordering, payload, now],
    )?;
    Ok(())
}

/// Deliveries that may be sent now: queued, due, not leased, and the oldest queued
/// one of their ordering key. Oldest first.
///
/// # Errors
/// On database failure.
pub(crate) fn due(c: &Conn<'_>, now: i64, limit: u32) -> Result<Vec<Delivery>, StoreError> {
    c.query(
        &format!(
            "SELECT {COLUMNS} FROM hook_deliveries d
             WHERE d.state = 'queued' AND d.next_at <= ?1
               AND (d.lease_until IS NULL OR d.lease_until < ?1)
               AND NOT EXISTS (SELECT 1 FROM hook_deliveries e
                   WHERE e.state = 'queued' AND e.tenant_id = d.tenant_id AND e.kind = d.kind
                     AND e.ordering = d.ordering AND e.id < d.id)
             ORDER BY d.id LIMIT ?2"
        ),
        params![now, i64::from(limit)],
        delivery,
    )
}

/// Leases delivery `id` until `until`; false when another host holds it or it is
/// no longer queued.
///
/// # Errors
/// On database failure.
pub(crate) fn lease(c: &Conn<'_>, id: i64, now: i64, until: i64) -> Result<bool, StoreError> {
    Ok(c.execute(
        "UPDATE hook_deliveries SET lease_until = ?3
         WHERE id = ?1 AND state = 'queued' AND (lease_until IS NULL OR lease_until < ?2)",
        params![id, now, until],
    )? == 1)
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// Delivered (the receiver's 2xx status).
    Delivered(i64),
    /// Failed; tried again at `retry_at`, or dead when `None`.
    Failed {
        /// The receiver's status, when it answered.
        status: Option<i64>,
        /// Why.
        error: String,
        /// When to try again; `None`: give up (`dead`).
        retry_at: Option<i64>,
    },
}

/// Records an attempt of delivery `id` at `now`.
///
/// # Errors
/// On database failure.
pub(crate) fn record(c: &Conn<'_>, id: i64, attempt: &Attempt, now: i64) -> Result<(), StoreError> {
    match attempt {
        Attempt::Delivered(status) => c.execute(
            "UPDATE hook_deliveries SET state = 'delivered', attempts = attempts + 1,
                 last_status = ?2, delivered_at = ?3, lease_until = NULL WHERE id = ?1",
            params![id, status, now],
        ),
        Attempt::Failed {
            status,
            error,
            retry_at: Some(at),
        } => c.execute(
            "UPDATE hook_deliveries SET attempts = attempts + 1, last_status = ?2,
                 last_error = ?3, next_at = ?4, lease_until = NULL WHERE id = ?1",
            params![id, status, error, at],
        ),
        Attempt::Failed {
            status,
            error,
            retry_at: None,
        } => c.execute(
            "UPDATE hook_deliveries SET state = 'dead', attempts = attempts + 1,
                 last_status = ?2, last_error = ?3, lease_until = NULL WHERE id = ?1",
            params![id, status, error],
        ),
    }?;
    Ok(())
}

/// A page of `tenant`'s deliveries of `kind`, optionally in one state.
///
/// # Errors
/// On database failure.
pub(crate) fn deliveries(
    c: &Conn<'_>,
    tenant: &str,
    kind: &str,
    state: Option<&str>,
    page: PageRequest,
) -> Result<Page<Delivery>, StoreError> {
    let rows = c.query(
        &format!(
            "SELECT {COLUMNS} FROM hook_deliveries
             WHERE tenant_id = ?1 AND kind = ?2 AND id > ?3 AND (?4 IS NULL OR state = ?4)
             ORDER BY id LIMIT ?5"
        ),
        params![tenant, kind, page.after, state, page.sql_limit()],
        delivery,
    )?;
    Ok(Page::from_rows(rows, page, |d| d.id))
}

/// Puts `tenant`'s dead delivery `id` back in the queue, due now; whether it was dead.
///
/// # Errors
/// On database failure.
pub(crate) fn requeue(c: &Conn<'_>, tenant: &str, id: i64, now: i64) -> Result<bool, StoreError> {
    Ok(c.execute(
        "UPDATE hook_deliveries SET state = 'queued', attempts = 0, next_at = ?3,
             lease_until = NULL WHERE tenant_id = ?1 AND id = ?2 AND state = 'dead'",
        params![tenant, id, now],
    )? == 1)
}

/// How many of `tenant`'s deliveries of `kind` are in each state.
///
/// # Errors
/// On database failure.
pub(crate) fn counts(
    c: &Conn<'_>,
    tenant: &str,
    kind: &str,
) -> Result<Vec<(String, i64)>, StoreError> {
    c.query(
        "SELECT state, COUNT(*) FROM hook_deliveries WHERE tenant_id = ?1 AND kind = ?2
         GROUP BY state ORDER BY state",
        params![tenant, kind],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

crate::repo! {
    /// A tenant's own webhooks and their deliveries.
    pub trait HookRepo {
        /// Sets (or replaces) the tenant's hook of `kind`.
        fn set_hook(tenant: &str, kind: &str, url: &str, secret_name: &str, types: &str, now: i64) -> Result<(), StoreError>;
        /// The tenant's hook of `kind`.
        fn hook(tenant: &str, kind: &str) -> Result<Option<Hook>, StoreError>;
        /// Removes the tenant's hook of `kind`; whether there was one.
        fn remove_hook(tenant: &str, kind: &str) -> Result<bool, StoreError>;
        /// The tenants that have a hook of `kind`.
        fn tenants_with(kind: &str) -> Result<Vec<String>, StoreError>;
        /// Queues the delivery of an inbox body, once.
        fn enqueue(tenant: &str, kind: &str, ordering: &str, inbox_id: i64, now: i64) -> Result<(), StoreError>;
        /// Queues a delivery carrying its own payload.
        fn enqueue_payload(tenant: &str, kind: &str, ordering: &str, payload: &str, now: i64) -> Result<(), StoreError>;
        /// Deliveries that may be sent now, the oldest of each ordering key.
        fn due(now: i64, limit: u32) -> Result<Vec<Delivery>, StoreError>;
        /// Leases a delivery; false when it is taken or no longer queued.
        fn lease(id: i64, now: i64, until: i64) -> Result<bool, StoreError>;
        /// Records an attempt.
        fn record(id: i64, attempt: &Attempt, now: i64) -> Result<(), StoreError>;
        /// A page of the tenant's deliveries of `kind`.
        fn deliveries(tenant: &str, kind: &str, state: Option<&str>, page: PageRequest) -> Result<Page<Delivery>, StoreError>;
        /// Puts a dead delivery back in the queue; whether it was dead.
        fn requeue(tenant: &str, id: i64, now: i64) -> Result<bool, StoreError>;
        /// Deliveries per state.
        fn counts(tenant: &str, kind: &str) -> Result<Vec<(String, i64)>, StoreError>;
    }
}
