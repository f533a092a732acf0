//! The webhook inbox: every signed body exactly as received, appended before the
//! webhook is acknowledged, then worked off by the pipeline.

use super::{StoreError, now_ms};
use crate::params;
use crate::sql::Conn;

mod appender;
pub(crate) mod file;

pub use appender::Appender;

/// A stored webhook body waiting to be processed.
#[derive(Debug, Clone)]
pub struct InboxItem {
    /// Row id.
    pub id: i64,
    /// The Meta app whose secret verified it.
    pub app_id: String,
    /// The raw body.
    pub body: Vec<u8>,
    /// How many times processing was tried before.
    pub attempts: i64,
}

/// Appends bodies `(app, body)`, many rows per statement; their ids, in order.
///
/// # Errors
/// On database failure.
pub(crate) fn append_many(
    conn: &Conn<'_>,
    bodies: &[(&str, &[u8])],
) -> Result<Vec<i64>, StoreError> {
    let now = now_ms();
    let mut ids = Vec::with_capacity(bodies.len());
    for chunk in crate::bulk::chunks(bodies.len()) {
        let rows = &bodies[chunk];
        let sql = format!(
            "INSERT INTO webhook_inbox (app_id, received_at, body) VALUES {} RETURNING id",
            crate::bulk::tuples(rows.len(), 3, 1)
        );
        let params: Vec<&dyn crate::sql::Param> = rows
            .iter()
            .flat_map(|(app, body)| [app as &dyn crate::sql::Param, &now, body])
            .collect();
        // Ids are drawn in row order within the statement, so sorted they match
        // the rows whatever order RETURNING yields them in.
        let mut got = conn.query(&sql, &params, |r| r.get::<i64>(0))?;
        got.sort_unstable();
        ids.extend(got);
    }
    Ok(ids)
}

fn item_row(r: &crate::sql::Row<'_>) -> Result<InboxItem, StoreError> {
    Ok(InboxItem {
        id: r.get(0)?,
        app_id: r.get(1)?,
        body: r.get(2)?,
        attempts: r.get(3)?,
    })
}

/// Claims up to `limit` pending items for `host` until `lease_until`, oldest first:
/// items no host holds, or whose holder's lease ended (it died, or the item waits
/// out a retry backoff). Hosts claiming at once get different items.
///
/// # Errors
/// On database failure.
pub(crate) fn claim(
    conn: &Conn<'_>,
    host: &str,
    now: i64,
    lease_until: i64,
    limit: usize,
) -> Result<Vec<InboxItem>, StoreError> {
    let sql = conn.pick(
        "UPDATE webhook_inbox SET claimed_by = ?1, lease_until = ?2
         WHERE id IN (SELECT id FROM webhook_inbox
                      WHERE state = 'pending' AND (lease_until IS NULL OR lease_until <= ?3)
                      ORDER BY id LIMIT ?4)
         RETURNING id, app_id, body, attempts",
        "UPDATE webhook_inbox SET claimed_by = ?1, lease_until = ?2
         WHERE id IN (SELECT id FROM webhook_inbox
                      WHERE state = 'pending' AND (lease_until IS NULL OR lease_until <= ?3)
                      ORDER BY id LIMIT ?4 FOR UPDATE SKIP LOCKED)
         RETURNING id, app_id, body, attempts",
    );
    let mut items = conn.query(sql, params![host, lease_until, now, limit as i64], item_row)?;
    items.sort_by_key(|i| i.id);
    Ok(items)
}

/// Up to `limit` pending items after id `after` that are due (no lease, or one
/// that ended), oldest first, without claiming them: for the one host of an SQLite
/// database, which keeps its claims in memory rather than writing each body's row
/// again to claim it.
///
/// # Errors
/// On database failure.
pub(crate) fn pending_after(
    conn: &Conn<'_>,
    after: i64,
    now: i64,
    limit: usize,
) -> Result<Vec<InboxItem>, StoreError> {
    conn.query(
        "SELECT id, app_id, body, attempts FROM webhook_inbox
         WHERE state = 'pending' AND id > ?1 AND (lease_until IS NULL OR lease_until <= ?2)
         ORDER BY id LIMIT ?3",
        params![after, now, limit as i64],
        item_row,
    )
}

/// Marks items processed, a few statements for all of them.
///
/// # Errors
/// On database failure.
pub(crate) fn mark_done_many(conn: &Conn<'_>, ids: &[i64]) -> Result<(), StoreError> {
    let now = now_ms();
    for chunk in crate::bulk::chunks(ids.len()) {
        let ids = &ids[chunk];
        let sql = format!(
            "UPDATE webhook_inbox SET state = 'done', processed_at = ?1, last_error = NULL
             WHERE id IN ({})",
            crate::bulk::list(ids.len(), 2)
        );
        let mut params: Vec<&dyn crate::sql::Param> = vec![&now];
        params.extend(ids.iter().map(|id| id as &dyn crate::sql::Param));
        conn.execute(&sql, &params)?;
    }
    Ok(())
}

/// Marks an item that can never be processed (not a webhook body); it is kept.
///
/// # Errors
/// On database failure.
pub(crate) fn mark_rejected(conn: &Conn<'_>, id: i64, reason: &str) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE webhook_inbox SET state = 'rejected', processed_at = ?2, last_error = ?3 WHERE id = ?1",
        params![id, now_ms(), reason],)?;
    Ok(())
}

/// Records a failed attempt; the item stays pending and no host claims it again
/// before `retry_at` (Unix ms).
///
/// # Errors
/// On database failure.
pub(crate) fn mark_failed_attempt(
    conn: &Conn<'_>,
    id: i64,
    reason: &str,
    retry_at: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE webhook_inbox SET attempts = attempts + 1, last_error = ?2, lease_until = ?3,
             claimed_by = NULL
         WHERE id = ?1",
        params![id, reason, retry_at],
    )?;
    Ok(())
}

/// Keeps an item the host does not model (or could not route) raw; once per item.
///
/// # Errors
/// On database failure.
pub(crate) fn record_unhandled(
    conn: &Conn<'_>,
    inbox_id: i64,
    item_index: usize,
    tenant: Option<&str>,
    reason: &str,
    kind: &str,
    raw: &serde_json::Value,
) -> Result<bool, StoreError> {
    let n = conn.execute(
        "INSERT INTO unhandled_items (inbox_id, item_index, tenant_id, reason, kind, raw, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING",
        params![inbox_id, item_index as i64, tenant, reason, kind, raw.to_string(), now_ms()],)?;
    Ok(n == 1)
}

/// Counts of inbox rows by state and of unhandled items by reason and kind.
#[derive(Debug, Clone, serde::Serialize, Default)]
pub struct InboxStats {
    /// Bodies waiting.
    pub pending: i64,
    /// Bodies processed.
    pub done: i64,
    /// Bodies that are not webhook payloads.
    pub rejected: i64,
    /// `(reason, kind, count)` of items kept raw.
    pub unhandled: Vec<(String, String, i64)>,
}

/// Reads [`InboxStats`].
///
/// # Errors
/// On database failure.
pub(crate) fn stats(conn: &Conn<'_>) -> Result<InboxStats, StoreError> {
    let mut s = InboxStats::default();

    for row in conn.query(
        "SELECT state, COUNT(*) FROM webhook_inbox GROUP BY state",
        params![],
        |r| Ok((r.get::<String>(0)?, r.get::<i64>(1)?)),
    )? {
        let (state, n) = row;
        match state.as_str() {
            "pending" => s.pending = n,
            "done" => s.done = n,
            _ => s.rejected = n,
        }
    }

    s.unhandled = conn.query("SELECT reason, kind, COUNT(*) FROM unhandled_items GROUP BY reason, kind ORDER BY reason, kind", params![], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(s)
}

/// The body of inbox row `id`, as received.
///
/// # Errors
/// On database failure.
pub(crate) fn body(conn: &Conn<'_>, id: i64) -> Result<Option<(String, Vec<u8>)>, StoreError> {
    conn.query_opt(
        "SELECT app_id, body FROM webhook_inbox WHERE id = ?1",
        params![id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

crate::repo! {
    /// The durable inbox of webhook bodies.
    pub trait InboxRepo {
        /// Appends bodies `(app, body)`, many rows per statement; their ids, in order.
        fn append_many(bodies: &[(&str, &[u8])]) -> Result<Vec<i64>, StoreError>;
        /// Claims up to `limit` pending items for `host` until `lease_until`, oldest
        /// first: items no host holds, or whose holder's lease ended.
        fn claim(host: &str, now: i64, lease_until: i64, limit: usize) -> Result<Vec<InboxItem>, StoreError>;
        /// Up to `limit` due pending items after id `after`, oldest first, without
        /// claiming them (the one host of an SQLite database claims in memory).
        fn pending_after(after: i64, now: i64, limit: usize) -> Result<Vec<InboxItem>, StoreError>;
        /// Marks items processed, a few statements for all of them.
        fn mark_done_many(ids: &[i64]) -> Result<(), StoreError>;
        /// Marks an item that can never be processed (not a webhook body); it is kept.
        fn mark_rejected(id: i64, reason: &str) -> Result<(), StoreError>;
        /// Records a failed attempt; the item stays pending and no host claims it
        /// again before `retry_at` (Unix ms).
        fn mark_failed_attempt(id: i64, reason: &str, retry_at: i64) -> Result<(), StoreError>;
        /// Keeps an item the host does not model (or could not route) raw; once per item.
        fn record_unhandled(inbox_id: i64, item_index: usize, tenant: Option<&str>, reason: &str, kind: &str, raw: &serde_json::Value) -> Result<bool, StoreError>;
        /// Reads [`InboxStats`].
        fn stats() -> Result<InboxStats, StoreError>;
        /// The app and body of an inbox row, as received.
        fn body(id: i64) -> Result<Option<(String, Vec<u8>)>, StoreError>;
    }
}

#[cfg(test)]
mod tests {
    use super::InboxRepo;
    use crate::{Db, now_ms};

    #[test]
    fn pending_after_reads_due_pending_bodies_past_an_id_without_claiming_them() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("scrm.db")).unwrap();
        db.write_blocking(|c| {
            let ids = InboxRepo::append_many(
                c,
                &[("app", b"a"), ("app", b"b"), ("app", b"c"), ("app", b"d")],
            )?;
            InboxRepo::mark_done_many(c, &ids[1..2])?;
            // Waiting out a retry backoff: not due yet.
            InboxRepo::mark_failed_attempt(c, ids[2], "boom", now_ms() + 60_000)?;
            let ids_of =
                |items: Vec<super::InboxItem>| items.iter().map(|i| i.id).collect::<Vec<_>>();
            let now = now_ms();
            assert_eq!(
                ids_of(InboxRepo::pending_after(c, 0, now, 10)?),
                vec![ids[0], ids[3]]
            );
            assert_eq!(
                ids_of(InboxRepo::pending_after(c, ids[0], now, 10)?),
                vec![ids[3]]
            );
            assert_eq!(
                ids_of(InboxRepo::pending_after(c, 0, now, 1)?),
                vec![ids[0]]
            );
            // Once the backoff ends it is due again; reading claimed nothing.
            assert_eq!(
                ids_of(InboxRepo::pending_after(c, 0, now + 120_000, 10)?),
                vec![ids[0], ids[2], ids[3]]
            );
            Ok(())
        })
        .unwrap();
    }
}
