//! The PostgreSQL backend: a pool of connections (r2d2 over the `postgres`
//! driver), the versioned migrations applied once however many hosts start at the
//! same moment, and the URL shown with its password masked.
//!
//! Each pooled connection keeps its prepared statements ([`PgSession`]), so a
//! repository query costs one round trip after its first use on that connection.

use crate::StoreError;
use crate::migrations::POSTGRES;
use crate::sql::PgSession;
use std::cell::RefCell;
use std::time::Duration;

/// The advisory lock key that serialises migrations across hosts ("scrm" in ASCII).
const MIGRATION_LOCK: i64 = 0x7363_726d;

/// Connections kept per host unless the operator says otherwise.
pub const DEFAULT_POOL: u32 = 16;

/// Opens connections for the pool.
#[derive(Debug)]
pub(crate) struct Manager {
    config: postgres::Config,
}

impl r2d2::ManageConnection for Manager {
    type Connection = RefCell<PgSession>;
    type Error = postgres::Error;

    fn connect(&self) -> Result<Self::Connection, Self::Error> {
        let client = self.config.connect(postgres::NoTls)?;
        Ok(RefCell::new(PgSession::new(client)))
    }

    fn is_valid(&self, conn: &mut Self::Connection) -> Result<(), Self::Error> {
        conn.get_mut().client.simple_query("").map(|_| ())
    }

    fn has_broken(&self, conn: &mut Self::Connection) -> bool {
        !conn.get_mut().healthy()
    }
}

/// A pool of connections to one database.
pub(crate) type Pool = r2d2::Pool<Manager>;

/// The pool, closed on a thread of its own when the last handle goes: the driver
/// closes each connection by blocking on it, which tokio forbids on its async
/// workers, where the last clone of a [`crate::Db`] may well be dropped.
#[derive(Debug)]
pub(crate) struct PoolHandle(pub(crate) Option<Pool>);

impl PoolHandle {
    pub(crate) fn get(&self) -> Result<r2d2::PooledConnection<Manager>, StoreError> {
        self.0
            .as_ref()
            .expect("the pool lives until dropped")
            .get()
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }
}

impl Drop for PoolHandle {
    fn drop(&mut self) {
        if let Some(pool) = self.0.take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                let _ = std::thread::Builder::new()
                    .name("scrm-pg-close".into())
                    .spawn(move || drop(pool));
            } else {
                drop(pool);
            }
        }
    }
}

/// Connects to `url`, migrates the schema, and returns a pool of `size`
/// connections.
///
/// # Errors
/// [`StoreError::Connect`] when the URL is malformed or the server cannot be
/// reached (with the driver's reason); [`StoreError::SchemaTooNew`] when another
/// scrm migrated the database past this build.
pub(crate) fn open(url: &str, size: u32) -> Result<(Pool, postgres::Config), StoreError> {
    let connect_error = |reason: String| StoreError::Connect {
        url: mask(url),
        reason,
    };
    let mut config: postgres::Config = url
        .parse()
        .map_err(|e: postgres::Error| connect_error(e.to_string()))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(10));
    }
    config.application_name("scrm");
    let mut client = config
        .connect(postgres::NoTls)
        .map_err(|e| connect_error(reason(&e)))?;
    migrate(&mut client, url)?;
    drop(client);
    let pool = r2d2::Pool::builder()
        .max_size(size.max(1))
        .min_idle(Some(1))
        // A dead connection is found by the query that uses it (and the pool drops
        // it then); testing each one out would cost a round trip per call.
        .test_on_check_out(false)
        .connection_timeout(Duration::from_secs(10))
        .build(Manager {
            config: config.clone(),
        })
        .map_err(|e| connect_error(e.to_string()))?;
    Ok((pool, config))
}

/// A connection of its own that receives the notifications of the channels it
/// listens on ([`crate::Db::listen`]).
pub struct Listener {
    client: postgres::Client,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Listener")
    }
}

impl Listener {
    pub(crate) fn open(
        config: &postgres::Config,
        channels: &[&str],
    ) -> Result<Listener, StoreError> {
        let mut client = config.connect(postgres::NoTls)?;
        for channel in channels {
            client.batch_execute(&format!("LISTEN {channel}"))?;
        }
        Ok(Listener { client })
    }

    /// The next notification, `(channel, payload)`, waiting at most `timeout`;
    /// `None` when none came.
    ///
    /// # Errors
    /// When the connection is lost (open a new listener, and catch up on what a
    /// notification would have said).
    pub fn next(&mut self, timeout: Duration) -> Result<Option<(String, String)>, StoreError> {
        use postgres::fallible_iterator::FallibleIterator;
        let next = self.client.notifications().timeout_iter(timeout).next()?;
        match next {
            Some(n) => Ok(Some((n.channel().to_string(), n.payload().to_string()))),
            None if self.client.is_closed() => Err(StoreError::Unavailable(
                "the listening connection closed".into(),
            )),
            None => Ok(None),
        }
    }
}

/// The driver's error with its cause, which is where "connection refused" or
/// "password authentication failed" is.
fn reason(e: &postgres::Error) -> String {
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

/// Applies the migrations this database lacks, each in its own transaction, under
/// an advisory lock so hosts starting together apply each one once.
fn migrate(client: &mut postgres::Client, url: &str) -> Result<(), StoreError> {
    client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])?;
    let result = apply(client, url);
    // Session locks end with the session too; unlocking early lets waiting hosts on.
    let _ = client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]);
    result
}

fn apply(client: &mut postgres::Client, url: &str) -> Result<(), StoreError> {
    client.batch_execute(
        "CREATE TABLE IF NOT EXISTS scrm_schema (
            version     BIGINT PRIMARY KEY,
            applied_at  BIGINT NOT NULL
        )",
    )?;
    let found: i64 = client
        .query_one("SELECT COALESCE(max(version), 0) FROM scrm_schema", &[])?
        .get(0);
    let known = POSTGRES.len();
    if found as usize > known {
        return Err(StoreError::SchemaTooNew {
            database: mask(url),
            found: found as usize,
            known,
        });
    }
    for (i, sql) in POSTGRES.iter().enumerate().skip(found as usize) {
        let mut tx = client.transaction()?;
        tx.batch_execute(sql)?;
        tx.execute(
            "INSERT INTO scrm_schema (version, applied_at) VALUES ($1, $2)",
            &[&(i as i64 + 1), &crate::now_ms()],
        )?;
        tx.commit()?;
    }
    Ok(())
}

/// `url` with its password replaced by `***`, for messages and logs. Both forms
/// the driver takes are masked: `postgres://user:pw@host/db` and
/// `host=… password=pw`.
pub fn mask(url: &str) -> String {
    if url.contains("://") {
        return match url::Url::parse(url) {
            Ok(mut u) if u.password().is_some() => {
                let _ = u.set_password(Some("***"));
                u.to_string()
            }
            Ok(u) => u.to_string(),
            // Unparseable: show the scheme only, never what might be a password.
            Err(_) => format!("{}://…", url.split("://").next().unwrap_or("")),
        };
    }
    url.split_whitespace()
        .map(|part| match part.split_once('=') {
            Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
            _ => part.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::mask;

    #[test]
    fn passwords_are_masked_in_both_forms() {
        assert_eq!(
            mask("postgres://scrm:s3cret@db.internal:5432/scrm"),
            "postgres://scrm:***@db.internal:5432/scrm"
        );
        assert_eq!(
            mask("postgres://scrm@db.internal/scrm"),
            "postgres://scrm@db.internal/scrm"
        );
        assert_eq!(
            mask("host=db user=scrm password=s3cret dbname=scrm"),
            "host=db user=scrm password=*** dbname=scrm"
        );
    }
}
