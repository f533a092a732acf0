//! Taking inbox bodies for the lanes. On PostgreSQL a claim is a row lock and a
//! lease in the database (several hosts share the inbox). On SQLite there is one
//! host, so its claims are kept in memory: the claimer reads the pending bodies
//! after the last one it took, and a [`Tracker`] remembers which bodies the lanes
//! still hold. That spares each body's row being written again (with its ~1 KB
//! payload) just to claim it, and the commit that costs; a body a crash leaves
//! unfinished is simply pending when the host starts again.

use super::{BATCH, BATCH_PG, IDLE_POLL, LEASE_MS, Pipeline, lane_key};
use scrm_store::inbox::InboxItem;
use scrm_store::{Dialect, StoreError, now_ms};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::Sender;

/// How often the SQLite claimer looks again from the start of the inbox: for
/// bodies whose retry backoff has ended.
const RESCAN: Duration = Duration::from_secs(5);

/// The bodies handed to lanes and not yet finished (SQLite's in-memory claims).
#[derive(Debug, Default)]
pub(super) struct Tracker {
    held: Mutex<HashSet<i64>>,
}

impl Tracker {
    fn hold(&self, ids: impl Iterator<Item = i64>) {
        self.lock().extend(ids);
    }

    /// The lanes are done with the bodies `ids` (processed, or left to a retry).
    pub fn release(&self, ids: impl IntoIterator<Item = i64>) {
        let mut held = self.lock();
        for id in ids {
            held.remove(&id);
        }
    }

    fn holds(&self, id: i64) -> bool {
        self.lock().contains(&id)
    }

    fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<i64>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Claims batches and hands each lane the bodies of its contacts, in inbox order,
/// waiting while the lanes are busy.
pub(super) async fn run(p: Pipeline, lanes: Vec<Sender<Vec<InboxItem>>>, tracker: Arc<Tracker>) {
    let mut cursor = Cursor {
        after: 0,
        rescanned: Instant::now(),
    };
    loop {
        let claimed = match p.db.dialect() {
            Dialect::Sqlite => cursor.next(&p, &tracker).await,
            Dialect::Postgres => p.claim().await,
        };
        let items = match claimed {
            Ok(items) => items,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the webhook inbox");
                tokio::time::sleep(IDLE_POLL).await;
                continue;
            }
        };
        if items.is_empty() {
            let _ = tokio::time::timeout(IDLE_POLL, p.wake.notified()).await;
            continue;
        }
        tracker.hold(items.iter().map(|i| i.id));
        let mut split: Vec<Vec<InboxItem>> = (0..lanes.len()).map(|_| Vec::new()).collect();
        for item in items {
            let lane = lane_key(&item.body) % lanes.len() as u64;
            split[lane as usize].push(item);
        }
        for (lane, items) in lanes.iter().zip(split) {
            if !items.is_empty() && lane.send(items).await.is_err() {
                return;
            }
        }
    }
}

/// Where the SQLite claimer is in the inbox.
struct Cursor {
    /// The newest body taken.
    after: i64,
    rescanned: Instant,
}

impl Cursor {
    /// The next due bodies no lane holds: after the newest taken, or from the start
    /// every [`RESCAN`] (and whenever nothing newer waits), skipping held ones.
    async fn next(
        &mut self,
        p: &Pipeline,
        tracker: &Tracker,
    ) -> Result<Vec<InboxItem>, StoreError> {
        let rescan = self.rescanned.elapsed() >= RESCAN;
        let mut items = self
            .read(p, tracker, if rescan { 0 } else { self.after })
            .await?;
        if rescan {
            self.rescanned = Instant::now();
        } else if items.is_empty() && self.after > 0 {
            // Nothing new: a retry may have come due.
            items = self.read(p, tracker, 0).await?;
            self.rescanned = Instant::now();
        }
        if let Some(last) = items.last() {
            self.after = self.after.max(last.id);
        }
        Ok(items)
    }

    async fn read(
        &self,
        p: &Pipeline,
        tracker: &Tracker,
        after: i64,
    ) -> Result<Vec<InboxItem>, StoreError> {
        // Enough rows to find a batch past the ones lanes hold.
        let limit = BATCH + if after == 0 { tracker.len() } else { 0 };
        let mut items =
            p.db.read(move |c| scrm_store::InboxRepo::pending_after(c, after, now_ms(), limit))
                .await?;
        items.retain(|i| !tracker.holds(i.id));
        items.truncate(BATCH);
        Ok(items)
    }
}

impl Pipeline {
    /// Claims the next bodies for this host in the database, with a lease.
    pub(super) async fn claim(&self) -> Result<Vec<InboxItem>, StoreError> {
        let host = self.host.clone();
        let limit = match self.db.dialect() {
            Dialect::Sqlite => BATCH,
            Dialect::Postgres => BATCH_PG,
        };
        self.db
            .write(move |c| {
                let now = now_ms();
                scrm_store::InboxRepo::claim(c, &host, now, now + LEASE_MS, limit)
            })
            .await
    }
}
