//! Persistence for scrm: the schema and its versioned migrations, one repository per
//! concern, and the seam a database backend implements.
//!
//! **The seam.** [`Db::read`] and [`Db::write`] run a closure on tokio's blocking
//! pool, never on the async workers, and hand it a `&dyn` [`Store`]: the union of one
//! trait per repository ([`TenantRepo`], [`MessageRepo`], [`OutboxRepo`],
//! [`CrmRepo`], …). Writes that must land together go through [`transaction`] (or
//! [`transaction_if`] for work that can refuse). Each repository module declares its
//! trait with the `repo!` macro, which implements it for the SQLite backend
//! ([`Sqlite`]) by calling the module's `pub(crate)` query function of the same name;
//! nothing outside this crate can reach SQL. A second backend implements the same
//! traits for its own connection type behind [`Db`].
//!
//! **SQLite**, the embedded default: one file in WAL mode with `synchronous=FULL`
//! (a commit is durable before a webhook is acknowledged). Writes are serialised
//! through one connection (SQLite allows one writer at a time anyway); reads use a
//! small pool of read-only connections so they never wait behind a write.
//!
//! ```no_run
//! # async fn demo() -> Result<(), scrm_store::StoreError> {
//! use scrm_store::{Db, TenantRepo};
//! let db = Db::open(std::path::Path::new("data/scrm.db"))?;
//! let tenants = db.read(|s| TenantRepo::list(s)).await?;
//! # Ok(()) }
//! ```
//!
//! **Never depends on** wasmtime, an HTTP stack, the plugin engine or the
//! application: the store knows rows, not requests or plugins. It may use
//! `scrm-wire` for phone normalisation.

pub mod apps;
pub mod consent;
pub mod contacts;
pub mod conversations;
pub mod crm;
pub mod events;
pub mod health;
pub mod inbox;
pub mod kv;
pub mod media;
pub mod messages;
mod migrations;
pub mod outbox;
pub mod page;
pub mod plugins;
pub mod repo;
pub mod secrets;
pub mod settings;
pub mod tenants;

pub use apps::AppRepo;
pub use consent::ConsentRepo;
pub use contacts::ContactRepo;
pub use conversations::ConversationRepo;
pub use crm::CrmRepo;
pub use events::EventRepo;
pub use health::HealthRepo;
pub use inbox::InboxRepo;
pub use kv::KvRepo;
pub use media::MediaRepo;
pub use messages::MessageRepo;
pub use outbox::OutboxRepo;
pub use plugins::PluginRepo;
pub use repo::{Sqlite, Store, transaction, transaction_if};
use rusqlite::{Connection, OpenFlags};
pub use secrecy::{ExposeSecret, SecretString};
pub use secrets::SecretRepo;
pub use settings::SettingRepo;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
pub use tenants::TenantRepo;

/// Errors from the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite reported an error.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The schema could not be migrated.
    #[error("database migration failed: {0}")]
    Migration(#[from] rusqlite_migration::Error),
    /// The database was written by a newer scrm: its schema is past the last migration
    /// this build knows. Nothing was changed.
    #[error(
        "database {} has schema version {found}, newer than this scrm knows ({known}); run the scrm release that wrote it, or restore a backup",
        path.display()
    )]
    SchemaTooNew {
        /// The database file.
        path: PathBuf,
        /// Its schema version.
        found: usize,
        /// The newest version this build knows.
        known: usize,
    },
    /// A referenced row does not exist.
    #[error("{what} {id:?} not found")]
    NotFound {
        /// What kind of row.
        what: &'static str,
        /// Its id.
        id: String,
    },
    /// A row with the same key exists already.
    #[error("{what} {id:?} already exists")]
    Conflict {
        /// What kind of row.
        what: &'static str,
        /// Its id.
        id: String,
    },
    /// A stored JSON column could not be (de)serialised.
    #[error("stored JSON is invalid: {0}")]
    Json(#[from] serde_json::Error),
    /// A transaction was rolled back on purpose ([`transaction_if`]); never returned
    /// to callers.
    #[error("transaction rolled back")]
    RolledBack,
    /// The blocking task running the query panicked or was cancelled.
    #[error("database task failed: {0}")]
    Task(String),
}

/// How many read connections to keep.
const READERS: usize = 4;

/// A handle to the SQLite store; cheap to clone.
#[derive(Clone, Debug)]
pub struct Db {
    path: PathBuf,
    writer: Arc<Mutex<Connection>>,
    readers: Arc<Vec<Mutex<Connection>>>,
}

impl Db {
    /// Opens (creating if needed) the database at `path` and migrates it to the
    /// latest schema.
    ///
    /// # Errors
    /// When the file cannot be opened or migrated.
    pub fn open(path: &Path) -> Result<Db, StoreError> {
        let mut writer = Connection::open(path)?;
        configure(&writer)?;
        let migrations = migrations::migrations();
        // A file written by a newer scrm is left exactly as it is: migrating it (or
        // running on it) could lose what the newer version stored.
        let ahead = -migrations.pending_migrations(&writer)?;
        if ahead > 0 {
            let known = migrations::MIGRATIONS.len();
            return Err(StoreError::SchemaTooNew {
                path: path.to_path_buf(),
                found: known + ahead as usize,
                known,
            });
        }
        migrations.to_latest(&mut writer)?;
        let readers = (0..READERS)
            .map(|_| {
                let c = Connection::open_with_flags(
                    path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                c.busy_timeout(std::time::Duration::from_secs(5))?;
                Ok(Mutex::new(c))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Db {
            path: path.to_path_buf(),
            writer: Arc::new(Mutex::new(writer)),
            readers: Arc::new(readers),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` with the write connection on the blocking pool.
    ///
    /// # Errors
    /// Whatever `f` returns, or [`StoreError::Task`] if the task died.
    pub async fn write<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        F: FnOnce(&dyn Store) -> Result<R, StoreError> + Send + 'static,
        R: Send + 'static,
    {
        let writer = self.writer.clone();
        tokio::task::spawn_blocking(move || {
            let conn = writer.lock().unwrap_or_else(|p| p.into_inner());
            f(&Sqlite(&conn))
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }

    /// Runs `f` with a read-only connection on the blocking pool.
    ///
    /// # Errors
    /// Whatever `f` returns, or [`StoreError::Task`] if the task died.
    pub async fn read<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        F: FnOnce(&dyn Store) -> Result<R, StoreError> + Send + 'static,
        R: Send + 'static,
    {
        let readers = self.readers.clone();
        tokio::task::spawn_blocking(move || {
            // Take the first free reader; if all are busy, wait on one chosen by thread.
            for r in readers.iter() {
                if let Ok(conn) = r.try_lock() {
                    return f(&Sqlite(&conn));
                }
            }
            let i = thread_index() % readers.len();
            let conn = readers[i].lock().unwrap_or_else(|p| p.into_inner());
            f(&Sqlite(&conn))
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }

    /// Runs `f` with a read-only connection on the current thread (for code already
    /// on a blocking thread, such as plugin capabilities).
    pub fn read_blocking<R>(
        &self,
        f: impl FnOnce(&dyn Store) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let i = thread_index() % self.readers.len();
        let conn = self.readers[i].lock().unwrap_or_else(|p| p.into_inner());
        f(&Sqlite(&conn))
    }

    /// Runs `f` with the write connection on the current thread. For code that is
    /// already on a blocking thread (CLI tools, the worker's blocking section).
    pub fn write_blocking<R>(
        &self,
        f: impl FnOnce(&dyn Store) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        f(&Sqlite(&conn))
    }

    /// Runs `f` with the SQLite write connection itself, on the current thread: for
    /// tests and tooling that set up or inspect rows no repository offers. Code of
    /// the product goes through [`Store`].
    ///
    /// # Errors
    /// Whatever `f` returns.
    #[doc(hidden)]
    pub fn sqlite_blocking<R>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        f(&conn)
    }
}

fn thread_index() -> usize {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    std::thread::current().id().hash(&mut h);
    h.finish() as usize
}

fn configure(conn: &Connection) -> Result<(), StoreError> {
    // WAL lets readers run beside the writer; FULL makes every commit durable before
    // we acknowledge a webhook, as the design requires.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(())
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Maps a unique-constraint violation to [`StoreError::Conflict`].
pub(crate) fn conflict_on_unique(e: rusqlite::Error, what: &'static str, id: &str) -> StoreError {
    match e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::ConstraintViolation
                && matches!(
                    f.extended_code,
                    rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                        | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                ) =>
        {
            StoreError::Conflict {
                what,
                id: id.to_string(),
            }
        }
        e => StoreError::Sqlite(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_a_database_written_by_a_newer_scrm_and_leaves_it_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("scrm.db");
        let known = migrations::MIGRATIONS.len();
        drop(Db::open(&path).unwrap());
        {
            let c = Connection::open(&path).unwrap();
            c.pragma_update(None, "user_version", known + 3).unwrap();
            c.execute("CREATE TABLE from_the_future (x INTEGER)", [])
                .unwrap();
        }
        let err = Db::open(&path).unwrap_err();
        assert!(
            matches!(err, StoreError::SchemaTooNew { found, known: k, .. } if found == known + 3 && k == known),
            "{err}"
        );
        assert!(
            err.to_string().contains("newer than this scrm knows"),
            "{err}"
        );
        let c = Connection::open(&path).unwrap();
        let version: usize = c
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, known + 3);
        c.query_row("SELECT count(*) FROM from_the_future", [], |r| {
            r.get::<_, i64>(0)
        })
        .unwrap();
    }

    #[test]
    fn opens_a_database_at_the_current_version_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("scrm.db");
        drop(Db::open(&path).unwrap());
        Db::open(&path).unwrap();
    }
}
