//! Jobs that run on one host at a time when several hosts share a PostgreSQL
//! database: scheduled CRM pulls and housekeeping, Cloud API health probes. The
//! holder renews a lease in the database on every pass; when it dies, another host
//! takes the job once the lease ends. On SQLite there is one host, which always
//! holds every job.

use scrm_store::{Db, Dialect, HostRepo, now_ms};
use std::sync::Arc;

/// One singleton job, as seen from this host.
#[derive(Debug, Clone)]
pub struct Singleton {
    db: Db,
    host: Arc<str>,
    name: &'static str,
    lease_ms: i64,
}

impl Singleton {
    /// The job `name`, held by `host` for `lease_ms` past each renewal.
    pub fn new(db: Db, host: &str, name: &'static str, lease_ms: i64) -> Singleton {
        Singleton {
            db,
            host: Arc::from(host),
            name,
            lease_ms,
        }
    }

    /// Takes or renews the job: whether this host runs it now.
    pub async fn held(&self) -> bool {
        if self.db.dialect() == Dialect::Sqlite {
            return true;
        }
        let (host, name, lease) = (self.host.clone(), self.name, self.lease_ms);
        match self
            .db
            .write(move |c| {
                let now = now_ms();
                HostRepo::acquire(c, name, &host, now, now + lease)
            })
            .await
        {
            Ok(held) => held,
            Err(e) => {
                tracing::error!(job = self.name, error = %e, "cannot renew a singleton job's lease");
                false
            }
        }
    }
}
