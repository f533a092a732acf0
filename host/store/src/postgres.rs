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

/// Connects to `url`, migrates the schema, and returns a pool of `size`
/// connections.
///
/// # Errors
/// [`StoreError::Connect`] when the URL is malformed or the server cannot be
/// reached (with the driver's reason); [`StoreError::SchemaTooNew`] when another
/// scrm migrated the database past this build.
pub(crate) fn open(url: &str, size: u32) -> Result<Pool, StoreError> {
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
    r2d2::Pool::builder()
        .max_size(size.max(1))
        .min_idle(Some(1))
        // A dead connection is found by the query that uses it (and the pool drops
        // it then); testing each one out would cost a round trip per call.
        .test_on_check_out(false)
        .connection_timeout(Duration::from_secs(10))
        .build(Manager { config })
        .map_err(|e| connect_error(e.to_string()))
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
