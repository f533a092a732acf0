//! The inbox's one writer on the acknowledgement path: appends webhook bodies with
//! group commit and, on SQLite, marks bodies done for the pipeline in the same
//! commits (see [`super::file`]).

use super::InboxRepo;
use crate::{Db, StoreError};
use tokio::sync::{mpsc, oneshot};

/// Appends webhook bodies with group commit: requests that arrive while a commit is
/// under way are written together in the next transaction, so under load many
/// webhooks share one fsync, and each caller still hears back only once its body is
/// durable. Bodies the pipeline has finished are marked done in the same
/// transactions ([`Appender::mark_done`]).
#[derive(Debug, Clone)]
pub struct Appender {
    tx: mpsc::Sender<Op>,
}

/// Why a write failed, and whether the database was unreachable.
type Failure = (String, bool);

#[derive(Debug)]
enum Op {
    Append {
        app_id: String,
        body: Vec<u8>,
        /// The id, or why not.
        reply: oneshot::Sender<Result<i64, Failure>>,
    },
    Done {
        ids: Vec<i64>,
        reply: oneshot::Sender<Result<(), Failure>>,
    },
}

/// Most requests written by one transaction.
const GROUP: usize = 256;

impl Appender {
    /// Starts the appender's thread over `db`.
    pub fn start(db: Db) -> Appender {
        let (tx, mut rx) = mpsc::channel::<Op>(4 * GROUP);
        std::thread::Builder::new()
            .name("scrm-inbox".into())
            .spawn(move || {
                while let Some(first) = rx.blocking_recv() {
                    let mut group = vec![first];
                    while group.len() < GROUP {
                        match rx.try_recv() {
                            Ok(op) => group.push(op),
                            Err(_) => break,
                        }
                    }
                    write_group(&db, group);
                }
            })
            .expect("spawn inbox appender thread");
        Appender { tx }
    }

    /// Appends one body and returns its id once it is committed.
    ///
    /// # Errors
    /// When the database refused the write or the appender stopped.
    pub async fn append(&self, app_id: &str, body: Vec<u8>) -> Result<i64, StoreError> {
        let (reply, rx) = oneshot::channel();
        let op = Op::Append {
            app_id: app_id.to_string(),
            body,
            reply,
        };
        self.send(op, rx).await
    }

    /// Marks bodies processed, in the next group's transaction; returns once that
    /// is committed.
    ///
    /// # Errors
    /// When the database refused the write or the appender stopped.
    pub async fn mark_done(&self, ids: Vec<i64>) -> Result<(), StoreError> {
        let (reply, rx) = oneshot::channel();
        self.send(Op::Done { ids, reply }, rx).await
    }

    async fn send<T>(
        &self,
        op: Op,
        rx: oneshot::Receiver<Result<T, Failure>>,
    ) -> Result<T, StoreError> {
        let stopped = || StoreError::Task("inbox appender stopped".into());
        self.tx.send(op).await.map_err(|_| stopped())?;
        rx.await
            .map_err(|_| stopped())?
            .map_err(|(msg, unavailable)| {
                if unavailable {
                    StoreError::Unavailable(msg)
                } else {
                    StoreError::Task(msg)
                }
            })
    }
}

/// Writes one group in one transaction and answers each request.
fn write_group(db: &Db, group: Vec<Op>) {
    let mut appends = Vec::new();
    let mut dones = Vec::new();
    for op in group {
        match op {
            Op::Append {
                app_id,
                body,
                reply,
            } => appends.push((app_id, body, reply)),
            Op::Done { ids, reply } => dones.push((ids, reply)),
        }
    }
    let written = db.write_inbox_blocking(|s| {
        let bodies: Vec<(&str, &[u8])> = appends
            .iter()
            .map(|(app, body, _)| (app.as_str(), body.as_slice()))
            .collect();
        let done: Vec<i64> = dones.iter().flat_map(|(ids, _)| ids).copied().collect();
        crate::transaction(s, |tx| {
            let ids = InboxRepo::append_many(tx, &bodies)?;
            InboxRepo::mark_done_many(tx, &done)?;
            Ok(ids)
        })
    });
    match written {
        Ok(ids) => {
            for ((_, _, reply), id) in appends.into_iter().zip(ids) {
                let _ = reply.send(Ok(id));
            }
            for (_, reply) in dones {
                let _ = reply.send(Ok(()));
            }
        }
        Err(e) => {
            let why = (e.to_string(), e.is_unavailable());
            for (_, _, reply) in appends {
                let _ = reply.send(Err(why.clone()));
            }
            for (_, reply) in dones {
                let _ = reply.send(Err(why.clone()));
            }
        }
    }
}
