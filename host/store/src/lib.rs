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
//! (a commit is durable before a webhook is acknowledged), and the webhook inbox in a
//! second file beside it ([`inbox::file`]). Writes are serialised through one
//! connection per file (SQLite allows one writer at a time anyway); reads use a
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

pub mod alerts;
pub mod analytics;
pub mod apps;
pub mod assist;
mod bulk;
pub mod calls;
pub mod campaigns;
pub mod canned;
pub mod consent;
pub mod contacts;
pub mod conversations;
pub mod copy;
pub mod crm;
pub mod events;
pub mod flows;
pub mod health;
pub mod hooks;
pub mod hosts;
pub mod inbox;
pub mod kv;
pub mod links;
pub mod media;
pub mod messages;
mod migrations;
pub mod orders;
pub mod outbox;
pub mod page;
pub mod people;
pub mod plugins;
pub mod postgres;
pub mod repo;
pub mod reports;
mod seal;
pub mod secrets;
pub mod sessions;
pub mod settings;
pub mod sql;
pub mod templates;
pub mod tenants;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use alerts::AlertRepo;
pub use analytics::AnalyticsRepo;
pub use apps::AppRepo;
pub use assist::AssistRepo;
pub use calls::CallRepo;
pub use campaigns::CampaignRepo;
pub use canned::CannedRepo;
pub use consent::ConsentRepo;
pub use contacts::ContactRepo;
pub use conversations::ConversationRepo;
pub use crm::CrmRepo;
pub use events::EventRepo;
pub use flows::FlowRepo;
pub use health::HealthRepo;
pub use hooks::HookRepo;
pub use hosts::HostRepo;
pub use inbox::InboxRepo;
pub use kv::KvRepo;
pub use links::LinkRepo;
pub use media::MediaRepo;
pub use messages::MessageRepo;
pub use orders::OrderRepo;
pub use outbox::OutboxRepo;
pub use people::PeopleRepo;
pub use plugins::PluginRepo;
pub use postgres::{DEFAULT_POOL, mask as mask_url};
pub use repo::{Store, transaction, transaction_if};
pub use reports::ReportRepo;
use rusqlite::{Connection, OpenFlags};
pub use seal::SecretsKey;
pub use secrecy::{ExposeSecret, SecretString};
pub use secrets::SecretRepo;
pub use sessions::SessionRepo;
pub use settings::SettingRepo;
pub use sql::{Conn, Dialect};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
pub use templates::TemplateRepo;
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
        "database {database} has schema version {found}, newer than this scrm knows ({known}); run the scrm release that wrote it, or restore a backup"
    )]
    SchemaTooNew {
        /// The database file, or its URL with the password masked.
        database: String,
        /// Its schema version.
        found: usize,
        /// The newest version this build knows.
        known: usize,
    },
    /// The database's webhook inbox file (see [`inbox::file`]) is missing although
    /// the inbox was moved there: starting would lose the bodies it held.
    #[error(
        "the webhook inbox file {0} is missing; it is kept beside the database: restore both from the same backup"
    )]
    InboxMissing(String),
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
    /// PostgreSQL reported an error.
    #[error("database error: {}", postgres_reason(.0))]
    Postgres(#[from] ::postgres::Error),
    /// The database could not be reached at start-up, or the URL is malformed.
    #[error("cannot connect to database {url}: {reason}")]
    Connect {
        /// The URL with its password masked.
        url: String,
        /// The driver's reason.
        reason: String,
    },
    /// No connection to the database could be had (the server is down or every
    /// connection is busy past the pool's timeout).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The database refused a statement as written (a bug in scrm).
    #[error("database refused statement ({reason}): {sql}")]
    BadSql {
        /// The statement.
        sql: String,
        /// The server's reason.
        reason: String,
    },
    /// A column could not be read as the type asked for.
    #[error("unexpected column value: {0}")]
    Column(String),
    /// A query expected to return a row returned none.
    #[error("query returned no rows")]
    NoRows,
    /// A query expected to return at most one row returned more.
    #[error("query returned more than one row")]
    TooManyRows,
    /// The blocking task running the query panicked or was cancelled.
    #[error("database task failed: {0}")]
    Task(String),
    /// A sealed secret could not be opened (no key, or another key), or the
    /// database's secrets were sealed with another key.
    #[error("{0}")]
    Secrets(String),
}

/// How many read connections to keep.
const READERS: usize = 4;

/// A handle to the store, on either backend; cheap to clone.
#[derive(Clone, Debug)]
pub struct Db {
    backend: Arc<Backend>,
    /// Seals and opens tenant secrets; none: they are stored as given (tools, tests).
    secrets_key: Option<Arc<SecretsKey>>,
}

#[derive(Debug)]
enum Backend {
    Sqlite {
        path: PathBuf,
        writer: Mutex<Connection>,
        readers: Vec<Mutex<Connection>>,
        /// The inbox file's own writer (see [`inbox::file`]).
        inbox: Mutex<Connection>,
    },
    Postgres {
        pool: postgres::PoolHandle,
        config: ::postgres::Config,
        /// The URL with its password masked.
        url: String,
    },
}

impl Db {
    /// This handle, sealing tenant secrets with `key` from now on (and opening
    /// those sealed with it).
    pub fn with_secrets_key(mut self, key: SecretsKey) -> Db {
        self.secrets_key = Some(Arc::new(key));
        self
    }

    /// Opens (creating if needed) the SQLite database at `path` and migrates it to
    /// the latest schema.
    ///
    /// # Errors
    /// When the file cannot be opened or migrated, or was written by a newer scrm.
    pub fn open(path: &Path) -> Result<Db, StoreError> {
        let mut writer = Connection::open(path)?;
        configure(&writer)?;
        sql::sqlite_functions(&writer)?;
        let migrations = migrations::migrations();
        // A file written by a newer scrm is left exactly as it is: migrating it (or
        // running on it) could lose what the newer version stored.
        let ahead = -migrations.pending_migrations(&writer)?;
        if ahead > 0 {
            let known = migrations::MIGRATIONS.len();
            return Err(StoreError::SchemaTooNew {
                database: path.display().to_string(),
                found: known + ahead as usize,
                known,
            });
        }
        migrations.to_latest(&mut writer)?;
        let inbox = inbox::file::open(path, &writer)?;
        let readers = (0..READERS)
            .map(|_| {
                let c = Connection::open_with_flags(
                    path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                c.busy_timeout(std::time::Duration::from_secs(5))?;
                c.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
                sql::sqlite_functions(&c)?;
                inbox::file::attach(&c, path)?;
                Ok(Mutex::new(c))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Db {
            secrets_key: None,
            backend: Arc::new(Backend::Sqlite {
                path: path.to_path_buf(),
                writer: Mutex::new(writer),
                readers,
                inbox: Mutex::new(inbox),
            }),
        })
    }

    /// Connects to the PostgreSQL database at `url` (`postgres://user:pw@host/db` or
    /// `host=… dbname=…`) with a pool of up to `pool` connections, and migrates it
    /// to the latest schema. Hosts that start together migrate it once.
    ///
    /// # Errors
    /// [`StoreError::Connect`] with the masked URL and the driver's reason;
    /// [`StoreError::SchemaTooNew`] when a newer scrm migrated it.
    pub fn connect(url: &str, pool: u32) -> Result<Db, StoreError> {
        let (pool, config) = postgres::open(url, pool)?;
        Ok(Db {
            secrets_key: None,
            backend: Arc::new(Backend::Postgres {
                pool: postgres::PoolHandle(Some(pool)),
                config,
                url: postgres::mask(url),
            }),
        })
    }

    /// A connection of its own listening on `channels` (see
    /// [`hosts::PLUGINS_CHANNEL`]); `None` on SQLite, where one host makes every
    /// change itself.
    ///
    /// # Errors
    /// When the server cannot be reached.
    pub fn listen(&self, channels: &[&str]) -> Result<Option<postgres::Listener>, StoreError> {
        match &*self.backend {
            Backend::Sqlite { .. } => Ok(None),
            Backend::Postgres { config, .. } => {
                postgres::Listener::open(config, channels).map(Some)
            }
        }
    }

    /// Which backend this is.
    pub fn dialect(&self) -> Dialect {
        match &*self.backend {
            Backend::Sqlite { .. } => Dialect::Sqlite,
            Backend::Postgres { .. } => Dialect::Postgres,
        }
    }

    /// Where the data is, for messages: the SQLite file, or the PostgreSQL URL with
    /// its password masked.
    pub fn location(&self) -> String {
        match &*self.backend {
            Backend::Sqlite { path, .. } => path.display().to_string(),
            Backend::Postgres { url, .. } => url.clone(),
        }
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
        let db = self.clone();
        tokio::task::spawn_blocking(move || db.write_blocking(f))
            .await
            .map_err(|e| StoreError::Task(e.to_string()))?
    }

    /// Runs `f` with a read connection on the blocking pool.
    ///
    /// # Errors
    /// Whatever `f` returns, or [`StoreError::Task`] if the task died.
    pub async fn read<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        F: FnOnce(&dyn Store) -> Result<R, StoreError> + Send + 'static,
        R: Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || {
            if let Backend::Sqlite { readers, .. } = &*db.backend {
                // Take the first free reader before waiting on one chosen by thread.
                for r in readers {
                    if let Ok(conn) = r.try_lock() {
                        return f(&Conn::sqlite(&conn).with_key(db.secrets_key.as_deref()));
                    }
                }
            }
            db.read_blocking(f)
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }

    /// Runs `f` with a read connection on the current thread (for code already on
    /// a blocking thread, such as plugin capabilities).
    ///
    /// # Errors
    /// Whatever `f` returns.
    pub fn read_blocking<R>(
        &self,
        f: impl FnOnce(&dyn Store) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        match &*self.backend {
            Backend::Sqlite { readers, .. } => {
                let i = thread_index() % readers.len();
                let conn = readers[i].lock().unwrap_or_else(|p| p.into_inner());
                f(&Conn::sqlite(&conn).with_key(self.secrets_key.as_deref()))
            }
            Backend::Postgres { .. } => self.with_conn(|c| f(c)),
        }
    }

    /// Runs `f` with the write connection on the current thread. For code that is
    /// already on a blocking thread (CLI tools, the worker's blocking section).
    ///
    /// # Errors
    /// Whatever `f` returns.
    pub fn write_blocking<R>(
        &self,
        f: impl FnOnce(&dyn Store) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        self.with_conn(|c| f(c))
    }

    /// Runs `f` with the webhook inbox's writer on the current thread: on SQLite, a
    /// connection to the inbox's own file, which holds no other table (see
    /// [`inbox::file`]); on PostgreSQL, any connection. For
    /// [`inbox::Appender`] only.
    pub(crate) fn write_inbox_blocking<R>(
        &self,
        f: impl FnOnce(&dyn Store) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        match &*self.backend {
            Backend::Sqlite { inbox, .. } => {
                let conn = inbox.lock().unwrap_or_else(|p| p.into_inner());
                f(&Conn::sqlite(&conn))
            }
            Backend::Postgres { .. } => self.with_conn(|c| f(c)),
        }
    }

    /// Whether the webhook inbox has a writer of its own (SQLite: its own file), so
    /// the pipeline marks bodies done through [`inbox::Appender::mark_done`] after
    /// committing what they carried, rather than in the same transaction.
    pub fn inbox_apart(&self) -> bool {
        matches!(&*self.backend, Backend::Sqlite { .. })
    }

    /// Runs `f` with a writable connection of either backend on the current thread:
    /// for tests and tooling that set up or inspect rows no repository offers. Code
    /// of the product goes through [`Store`].
    ///
    /// # Errors
    /// Whatever `f` returns.
    #[doc(hidden)]
    pub fn with_conn<R>(
        &self,
        f: impl FnOnce(&Conn<'_>) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        match &*self.backend {
            Backend::Sqlite { writer, .. } => {
                let conn = writer.lock().unwrap_or_else(|p| p.into_inner());
                f(&Conn::sqlite(&conn).with_key(self.secrets_key.as_deref()))
            }
            Backend::Postgres { pool, .. } => {
                let session = pool.get()?;
                f(&Conn::postgres(&session).with_key(self.secrets_key.as_deref()))
            }
        }
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
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(())
}

/// Prepared statements kept per SQLite connection (rusqlite keeps 16 by default,
/// fewer than one pipeline batch uses).
const STATEMENT_CACHE: usize = 256;

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl StoreError {
    /// Whether the database itself is unreachable (as opposed to a bad request or a
    /// bug): the caller should answer "try again later".
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Unavailable(_) | StoreError::Connect { .. } => true,
            StoreError::Postgres(e) => e.is_closed() || e.code().is_none_or(is_connection_class),
            _ => false,
        }
    }

    fn is_unique_violation(&self) -> bool {
        match self {
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(f, _)) => {
                f.code == rusqlite::ErrorCode::ConstraintViolation
                    && matches!(
                        f.extended_code,
                        rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                            | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                    )
            }
            StoreError::Postgres(e) => {
                e.code() == Some(&::postgres::error::SqlState::UNIQUE_VIOLATION)
            }
            _ => false,
        }
    }
}

/// SQLSTATE class 08 (connection exception) and 57P (operator intervention: the
/// server shutting down).
fn is_connection_class(code: &::postgres::error::SqlState) -> bool {
    let c = code.code();
    c.starts_with("08") || c.starts_with("57P")
}

fn postgres_reason(e: &::postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => match std::error::Error::source(e) {
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        },
    }
}

/// Maps a unique-constraint violation to [`StoreError::Conflict`].
pub(crate) fn conflict_on_unique(e: StoreError, what: &'static str, id: &str) -> StoreError {
    if e.is_unique_violation() {
        StoreError::Conflict {
            what,
            id: id.to_string(),
        }
    } else {
        e
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
