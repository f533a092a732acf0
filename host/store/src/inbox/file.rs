//! On SQLite the webhook inbox is a file of its own beside the database
//! (`scrm.db` → `scrm.db-inbox`, with its own `-wal` and `-shm`).
//!
//! SQLite lets one connection write a file at a time. With the inbox in the main
//! file, a webhook's acknowledgement (the inbox's group commit) waited while the
//! pipeline's transaction held the writer, so acknowledgements ran no faster than
//! processing. In a file of its own, the inbox has its own writer: the
//! [`Appender`](super::Appender), which appends bodies and marks processed ones done
//! in the same group commits. The pipeline commits what a body carried to the main
//! file first and marks the body done afterwards, so a crash between the two makes it
//! process the body again, which stores nothing twice (messages are unique by wamid,
//! statuses by wamid and status, a message's plugin results are recorded once).
//!
//! Every other connection to the database attaches the inbox file as `inbox`, so
//! statements name `webhook_inbox` as before. `unhandled_items.inbox_id` cannot
//! reference a table in another file, so on SQLite that reference is not declared
//! (migration 0032); [`CROSS_FILE`] names it for the copy to PostgreSQL, which
//! declares it.
//!
//! A database from before the split has its inbox moved at start-up: the rows are
//! copied into the inbox file (committed), then the old table is dropped (committed):
//! a crash between the two copies the same rows again, keeping their ids. A
//! database whose inbox was moved but whose inbox file is gone is refused rather
//! than started with an empty inbox.

use crate::StoreError;
use rusqlite::Connection;
use std::path::{Path, PathBuf};

/// The inbox's schema in its own file: the same table as the main file's was.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS webhook_inbox (
    id            INTEGER PRIMARY KEY,
    app_id        TEXT NOT NULL,
    received_at   INTEGER NOT NULL,
    body          BLOB NOT NULL,
    state         TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'rejected')),
    attempts      INTEGER NOT NULL DEFAULT 0,
    last_error    TEXT,
    processed_at  INTEGER,
    claimed_by    TEXT,
    lease_until   INTEGER
) STRICT;
CREATE INDEX IF NOT EXISTS webhook_inbox_pending ON webhook_inbox(id) WHERE state = 'pending';
";

/// The table's columns, for moving rows from the main file.
const COLUMNS: &str = "id, app_id, received_at, body, state, attempts, last_error, processed_at, \
                       claimed_by, lease_until";

/// References between the files that SQLite cannot declare: `(table, column,
/// referenced table)`. PostgreSQL declares them.
pub const CROSS_FILE: &[(&str, &str, &str)] = &[("unhandled_items", "inbox_id", "webhook_inbox")];

/// The inbox file of the database at `db`.
pub fn path_of(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-inbox");
    PathBuf::from(name)
}

/// Whether the main file (attached as `main` on `conn`) still holds the inbox.
fn in_main(conn: &Connection) -> Result<bool, StoreError> {
    Ok(conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM main.sqlite_master WHERE type = 'table' AND name = 'webhook_inbox')",
        [],
        |r| r.get(0),
    )?)
}

/// Opens the inbox file of the database at `db` (migrated already, on `writer`),
/// creating it — and moving the inbox there from the main file — when needed; the
/// connection for the inbox's own writer.
///
/// # Errors
/// When the file cannot be opened, or is missing although the inbox was moved.
pub(crate) fn open(db: &Path, writer: &Connection) -> Result<Connection, StoreError> {
    let path = path_of(db);
    if !path.exists() && !in_main(writer)? {
        return Err(StoreError::InboxMissing(path.display().to_string()));
    }
    let inbox = Connection::open(&path)?;
    crate::configure(&inbox)?;
    inbox.execute_batch(SCHEMA)?;
    attach(writer, db)?;
    writer.pragma_update(Some("inbox"), "synchronous", "FULL")?;
    if in_main(writer)? {
        writer.execute_batch(&format!(
            "BEGIN;
             INSERT OR IGNORE INTO inbox.webhook_inbox ({COLUMNS}) SELECT {COLUMNS} FROM main.webhook_inbox;
             COMMIT;
             BEGIN;
             DROP TABLE main.webhook_inbox;
             COMMIT;"
        ))?;
    }
    Ok(inbox)
}

/// Attaches the inbox file of the database at `db` to `conn` as `inbox`.
///
/// # Errors
/// When it cannot be attached.
pub(crate) fn attach(conn: &Connection, db: &Path) -> Result<(), StoreError> {
    conn.execute(
        "ATTACH DATABASE ?1 AS inbox",
        [path_of(db).to_string_lossy()],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::path_of;
    use crate::{Db, InboxRepo, StoreError, params};

    /// A database from before the split keeps its inbox (rows, ids, states) and
    /// its unhandled items; new bodies follow the old ids; the pipeline's marks
    /// land; and once moved, a missing inbox file is refused.
    #[test]
    fn an_older_database_moves_its_inbox_to_its_own_file_and_keeps_every_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("scrm.db");
        {
            let mut c = rusqlite::Connection::open(&path).unwrap();
            c.pragma_update(None, "foreign_keys", "ON").unwrap();
            crate::migrations::migrations()
                .to_version(&mut c, 31)
                .unwrap();
            c.execute_batch(
                "INSERT INTO webhook_inbox (id, app_id, received_at, body, state) VALUES
                     (7, 'app', 1, x'7b7d', 'pending'), (8, 'app', 2, x'7b7d', 'done');
                 INSERT INTO unhandled_items (inbox_id, item_index, reason, kind, raw, created_at)
                     VALUES (8, 0, 'unrouted', 'text', '{}', 3);",
            )
            .unwrap();
        }
        assert!(!path_of(&path).exists());
        let db = Db::open(&path).unwrap();
        assert!(path_of(&path).exists());
        db.with_conn(|c| {
            let in_main: bool = c.query_one(
                "SELECT EXISTS (SELECT 1 FROM main.sqlite_master WHERE name = 'webhook_inbox')",
                params![],
                |r| r.get(0),
            )?;
            assert!(!in_main);
            let rows: Vec<(i64, String)> = c.query(
                "SELECT id, state FROM inbox.webhook_inbox ORDER BY id",
                params![],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            assert_eq!(rows, vec![(7, "pending".into()), (8, "done".into())]);
            let unhandled: i64 =
                c.query_one("SELECT inbox_id FROM unhandled_items", params![], |r| {
                    r.get(0)
                })?;
            assert_eq!(unhandled, 8);
            Ok(())
        })
        .unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let appender = super::super::Appender::start(db.clone());
        let id = rt.block_on(appender.append("app", b"{}".to_vec())).unwrap();
        assert_eq!(id, 9);
        rt.block_on(appender.mark_done(vec![7])).unwrap();
        let pending = db
            .read_blocking(|s| InboxRepo::pending_after(s, 0, crate::now_ms(), 10))
            .unwrap();
        assert_eq!(pending.iter().map(|i| i.id).collect::<Vec<_>>(), vec![9]);
        drop((appender, db, rt));
        // Opening it again moves nothing and loses nothing.
        let stats = Db::open(&path)
            .unwrap()
            .with_conn(|c| InboxRepo::stats(c))
            .unwrap();
        assert_eq!((stats.pending, stats.done), (1, 2));
        for suffix in ["", "-wal", "-shm"] {
            let mut f = path_of(&path).into_os_string();
            f.push(suffix);
            let _ = std::fs::remove_file(f);
        }
        match Db::open(&path) {
            Err(StoreError::InboxMissing(file)) => assert!(file.ends_with("scrm.db-inbox")),
            other => panic!("expected InboxMissing, got {other:?}"),
        }
    }
}
