//! The pipeline's steady state. A claimer takes batches of inbox bodies and hands
//! each lane the bodies of its contacts. A lane stores a batch (one transaction),
//! gives its messages to the plugin workers and, while they run, stores the next
//! batch; a batch's results are recorded and its bodies marked done in the
//! transaction that stores a later one. So a batch costs one commit, the plugins
//! run beside the store writes rather than between them, and a contact's messages
//! keep their order: one lane, one plugin thread, batches recorded in order.

use super::Pipeline;
use super::claimer::Tracker;
use super::inbound::Queued;
use super::plugins::{Classified, Done, PluginPool, count_calls};
use super::store::{self, Parsed, StoredBatch};
use scrm_store::StoreError;
use scrm_store::inbox::InboxItem;
use std::collections::VecDeque;
use std::sync::Arc;
use tokio::sync::mpsc;
use tracing::Instrument;

/// Batches a lane has with the plugin workers at once: one being classified while
/// the next is stored.
const DEPTH: usize = 2;

/// A stored batch whose plugins are running.
struct InFlight {
    seq: u64,
    /// The bodies, for processing them one by one should recording fail.
    items: Vec<InboxItem>,
    /// The inbox ids the batch marks done when its results are recorded.
    done: Vec<i64>,
    results: Vec<Option<Classified>>,
    /// Plugin threads yet to answer.
    left: usize,
    /// Why some message's plugins could not run at all (a panic in the host).
    failed: Option<String>,
}

/// A batch whose plugins have all answered: its results, to record (or, when some
/// message's plugins could not run, its bodies to process again one by one).
struct Finished {
    again: bool,
    items: Vec<InboxItem>,
    done: Vec<i64>,
    results: Vec<Classified>,
}

/// One lane: what it has in flight and where its plugin results come back.
struct Lane {
    p: Pipeline,
    pool: Arc<PluginPool>,
    reply: mpsc::UnboundedSender<Done>,
    results: mpsc::UnboundedReceiver<Done>,
    inflight: VecDeque<InFlight>,
    seq: u64,
    tracker: Arc<Tracker>,
}

/// Runs one lane over the batches `rx` hands it until `rx` closes and everything
/// in flight is recorded.
pub(super) async fn run(
    p: Pipeline,
    mut rx: mpsc::Receiver<Vec<InboxItem>>,
    pool: Arc<PluginPool>,
    tracker: Arc<Tracker>,
) {
    let (reply, results) = mpsc::unbounded_channel();
    let mut lane = Lane {
        p,
        pool,
        reply,
        results,
        inflight: VecDeque::new(),
        seq: 0,
        tracker,
    };
    let mut open = true;
    let mut next: Option<Vec<InboxItem>> = None;
    loop {
        while let Ok(d) = lane.results.try_recv() {
            lane.place(d);
        }
        if next.is_none() && open && lane.inflight.len() < DEPTH {
            match rx.try_recv() {
                Ok(items) => next = Some(items),
                Err(mpsc::error::TryRecvError::Empty) => {}
                Err(mpsc::error::TryRecvError::Disconnected) => open = false,
            }
        }
        let finished = lane.take_finished();
        if finished.is_empty() && next.is_none() {
            if !open && lane.inflight.is_empty() {
                return;
            }
            let room = open && lane.inflight.len() < DEPTH;
            tokio::select! {
                Some(d) = lane.results.recv() => lane.place(d),
                items = rx.recv(), if room => match items {
                    Some(items) => next = Some(items),
                    None => open = false,
                },
            }
            continue;
        }
        let span = tracing::info_span!(
            "scrm.pipeline.step",
            recorded = finished.len(),
            stored = next.as_ref().map_or(0, Vec::len)
        );
        lane.step(finished, next.take()).instrument(span).await;
    }
}

impl Lane {
    /// Files a message's results with its batch.
    fn place(&mut self, d: Done) {
        let Some(b) = self.inflight.iter_mut().find(|b| b.seq == d.batch) else {
            return;
        };
        for (index, result) in d.results {
            match result {
                Ok(r) => {
                    count_calls(&self.p.metrics, &r);
                    b.results[index] = Some(r);
                }
                Err(why) => b.failed = Some(why),
            }
        }
        b.left -= 1;
    }

    /// The batches at the front whose plugins have all answered, in order; those
    /// with a message whose plugins could not run are processed again one by one.
    fn take_finished(&mut self) -> Vec<Finished> {
        let mut out = Vec::new();
        while self.inflight.front().is_some_and(|b| b.left == 0) {
            let b = self.inflight.pop_front().expect("checked");
            if let Some(why) = b.failed {
                tracing::warn!(reason = %why, "a batch's plugins failed; processing it again body by body");
                out.push(Finished {
                    again: true,
                    items: b.items,
                    done: Vec::new(),
                    results: Vec::new(),
                });
                continue;
            }
            out.push(Finished {
                again: false,
                items: b.items,
                done: b.done,
                results: b.results.into_iter().flatten().collect(),
            });
        }
        out
    }

    /// One transaction: records `finished`, stores `next`; then gives `next`'s
    /// messages to the plugin workers.
    async fn step(&mut self, finished: Vec<Finished>, next: Option<Vec<InboxItem>>) {
        // Bodies a failed plugin run left unrecorded go through the slow path.
        let (again, finished): (Vec<_>, Vec<_>) = finished.into_iter().partition(|f| f.again);
        for f in again {
            self.finish(f.items).await;
        }
        let (items, parsed) = match next {
            Some(items) => parse(items).await,
            None => (Vec::new(), None),
        };
        let (items, parsed) = match parsed {
            Some(parsed) => (items, Some(parsed)),
            None => {
                self.finish(items).await;
                (Vec::new(), None)
            }
        };
        let finished = Arc::new(finished);
        match self.write(finished.clone(), parsed).await {
            Ok((queued, stored)) => {
                self.p.woken_by(queued);
                let mut done: Vec<i64> = finished.iter().flat_map(|f| f.done.clone()).collect();
                let mut ids: Vec<i64> = finished.iter().flat_map(|f| ids_of(&f.items)).collect();
                if let Some(stored) = stored {
                    self.p.count_stored(&stored.counts);
                    if stored.jobs.is_empty() {
                        done.extend(stored.done);
                        ids.extend(ids_of(&items));
                    } else {
                        self.dispatch(items, stored);
                    }
                }
                self.release(done, ids);
            }
            Err(e) => {
                tracing::warn!(error = %e, "a pipeline transaction failed; recording and storing separately");
                self.settle().await;
                for i in 0..finished.len() {
                    self.record_alone(&finished, i).await;
                }
                self.finish(items).await;
            }
        }
    }

    /// The transaction itself: what recording queued, and what storing did.
    async fn write(
        &self,
        finished: Arc<Vec<Finished>>,
        parsed: Option<Vec<Parsed>>,
    ) -> Result<(Queued, Option<StoredBatch>), StoreError> {
        let recorder = self.p.recorder();
        let settings = self.p.send_settings.clone();
        // With an inbox apart, bodies are marked done after this commit (see
        // `release`); else in it.
        let apart = self.p.inbox_apart().is_some();
        self.p
            .db
            .write(move |conn| {
                scrm_store::transaction(conn, |tx| {
                    let mut queued = Queued::default();
                    for f in finished.iter() {
                        let done: &[i64] = if apart { &[] } else { &f.done };
                        queued.add(recorder.record(tx, &f.results, done)?);
                    }
                    let Some(parsed) = parsed else {
                        return Ok((queued, None));
                    };
                    let stored = store::store_parsed(tx, parsed, &settings)?;
                    // Nothing for the plugins: done now.
                    if stored.jobs.is_empty() && !apart {
                        scrm_store::InboxRepo::mark_done_many(tx, &stored.done)?;
                    }
                    Ok((queued, Some(stored)))
                })
            })
            .await
    }

    /// Marks the committed bodies `done` processed, unless the commit did (see
    /// [`Pipeline::inbox_apart`]), then lets the claimer have the bodies `ids`
    /// back: a body it reads again before it is marked is processed again, which
    /// stores nothing twice but costs as much as the first time.
    fn release(&self, done: Vec<i64>, ids: Vec<i64>) {
        let Some(inbox) = self.p.inbox_apart().filter(|_| !done.is_empty()) else {
            self.tracker.release(ids);
            return;
        };
        let (inbox, tracker) = (inbox.clone(), self.tracker.clone());
        tokio::spawn(async move {
            if let Err(e) = inbox.mark_done(done).await {
                tracing::warn!(error = %e, "cannot mark processed bodies done; they will be processed again");
            }
            tracker.release(ids);
        });
    }

    /// Gives a stored batch's messages to the plugin workers.
    fn dispatch(&mut self, items: Vec<InboxItem>, stored: StoredBatch) {
        self.seq += 1;
        let n = stored.jobs.len();
        // Answers come back through this task only, so none is missed before the
        // batch is filed.
        let left = self.pool.submit(self.seq, stored.jobs, &self.reply);
        self.inflight.push_back(InFlight {
            seq: self.seq,
            items,
            done: stored.done,
            results: (0..n).map(|_| None).collect(),
            left,
            failed: None,
        });
    }

    /// Waits for everything in flight and records it, batch by batch: before the
    /// slow path runs, so a contact's messages keep their order.
    async fn settle(&mut self) {
        while !self.inflight.is_empty() {
            if let Some(d) = self.results.recv().await {
                self.place(d);
            }
            for f in self.take_finished() {
                if f.again {
                    self.finish(f.items).await;
                } else {
                    self.record_alone(&Arc::new(vec![f]), 0).await;
                }
            }
        }
    }

    /// Records one finished batch in its own transaction; when that fails too, its
    /// bodies are processed again one by one.
    async fn record_alone(&self, batches: &Arc<Vec<Finished>>, i: usize) {
        let recorder = self.p.recorder();
        let all = batches.clone();
        let recorded = self
            .p
            .db
            .write(move |conn| {
                let f = &all[i];
                scrm_store::transaction(conn, |tx| recorder.record(tx, &f.results, &f.done))
            })
            .await;
        let f = &batches[i];
        match recorded {
            Ok(queued) => {
                self.p.woken_by(queued);
                self.tracker.release(ids_of(&f.items));
            }
            Err(e) => {
                tracing::warn!(error = %e, "recording a batch failed; processing it again body by body");
                self.finish(f.items.clone()).await;
            }
        }
    }

    /// Processes `items` one by one (each retried after a backoff should it fail
    /// again) and lets the claimer have them back.
    async fn finish(&self, items: Vec<InboxItem>) {
        let ids: Vec<i64> = ids_of(&items).collect();
        self.p.one_by_one(items).await;
        self.tracker.release(ids);
    }
}

fn ids_of(items: &[InboxItem]) -> impl Iterator<Item = i64> + '_ {
    items.iter().map(|i| i.id)
}

/// Parses a batch's bodies off the async workers; `None` when parsing panicked (the
/// bodies then go through the slow path, one by one).
async fn parse(items: Vec<InboxItem>) -> (Vec<InboxItem>, Option<Vec<Parsed>>) {
    let parsed = tokio::task::spawn_blocking(move || {
        let parsed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            items.iter().map(Parsed::of).collect::<Vec<_>>()
        }));
        (items, parsed.ok())
    })
    .await;
    match parsed {
        Ok((items, Some(parsed))) => (items, Some(parsed)),
        Ok((items, None)) => {
            tracing::error!("parsing webhook bodies panicked");
            (items, None)
        }
        // Only when the runtime shuts down.
        Err(e) => {
            tracing::error!(error = %e, "parsing webhook bodies did not finish");
            (Vec::new(), None)
        }
    }
}
