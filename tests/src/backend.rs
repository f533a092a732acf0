//! Which database the test hosts of this thread run on, and [`both_backends!`],
//! which runs each test once on SQLite and once on PostgreSQL.
//!
//! The backend is a thread-local set by a [`BackendGuard`] at the start of a test's
//! body. `#[tokio::test]` polls the body on the test thread (inside `block_on`, for
//! either runtime flavour), so every [`Host::start`](crate::Host::start) the body
//! calls sees it. On PostgreSQL a host's data directory is paired with a fresh
//! database on the test cluster ([`scrm_store::testing`]) the first time a host
//! starts on it; a later start on the same directory (a restart) reconnects to the
//! same database.
//!
//! ```ignore
//! scrm_e2e::both_backends! {
//!     #[tokio::test]
//!     async fn a_message_is_stored() {
//!         let host = Host::start().await; // SQLite in `sqlite::…`, PostgreSQL in `postgres::…`
//!     }
//! }
//! ```

use std::cell::Cell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// A database engine a test host can run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The SQLite file in the host's data directory (the default).
    Sqlite,
    /// A fresh database on the test run's PostgreSQL cluster.
    Postgres,
}

thread_local! {
    static CURRENT: Cell<Backend> = const { Cell::new(Backend::Sqlite) };
}

/// The backend test hosts started on this thread use.
pub fn current() -> Backend {
    CURRENT.with(Cell::get)
}

/// Sets this thread's backend until dropped, then restores the previous one.
#[derive(Debug)]
pub struct BackendGuard {
    previous: Backend,
}

impl Drop for BackendGuard {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.previous));
    }
}

/// Makes `backend` this thread's backend for the test `test`; `None` (after saying
/// so loudly on standard error) when it is PostgreSQL and no PostgreSQL server
/// binaries are installed here, in which case the test must return at once.
///
/// # Panics
/// When PostgreSQL is required (`SCRM_REQUIRE_POSTGRES=1`) and missing, or the test
/// cluster fails to start.
pub fn enter(backend: Backend, test: &str) -> Option<BackendGuard> {
    if backend == Backend::Postgres && off_runtime(|| scrm_store::testing::cluster().is_none()) {
        eprintln!(
            "\n*** SKIPPED: {test} on PostgreSQL: no PostgreSQL server binaries here \
             (install PostgreSQL's server package, or set SCRM_PG_BIN). ***\n"
        );
        return None;
    }
    let previous = CURRENT.with(|c| c.replace(backend));
    Some(BackendGuard { previous })
}

/// The PostgreSQL database of the host data directory `data_dir`: the one a host
/// on it used before, else (on the PostgreSQL backend) a fresh one; `None` on
/// SQLite.
pub(crate) fn database_for(data_dir: &Path) -> Option<String> {
    static DATABASES: OnceLock<Mutex<HashMap<PathBuf, String>>> = OnceLock::new();
    // The directory may not exist yet; made now, it has one canonical name.
    let _ = std::fs::create_dir_all(data_dir);
    let key = std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
    let mut databases = DATABASES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(url) = databases.get(&key) {
        return Some(url.clone());
    }
    if current() != Backend::Postgres {
        return None;
    }
    let url = off_runtime(scrm_store::testing::postgres_database)
        .expect("the PostgreSQL backend is entered only when PostgreSQL is here");
    databases.insert(key, url.clone());
    Some(url)
}

/// Emits each test function twice: in `mod sqlite` on SQLite and in `mod postgres`
/// on a fresh PostgreSQL database per host. Where PostgreSQL is not installed the
/// `postgres::…` copy says `SKIPPED` loudly and returns (it panics instead under
/// `SCRM_REQUIRE_POSTGRES=1`). Helpers stay outside the macro; the copies reach
/// them through `use super::*`.
#[macro_export]
macro_rules! both_backends {
    ($($(#[$m:meta])* async fn $name:ident() $body:block)*) => {
        mod sqlite {
            #[allow(unused_imports)]
            use super::*;
            $(
                $(#[$m])*
                async fn $name() {
                    let _backend = $crate::backend::enter(
                        $crate::backend::Backend::Sqlite,
                        stringify!($name),
                    );
                    $body
                }
            )*
        }
        mod postgres {
            #[allow(unused_imports)]
            use super::*;
            $(
                $(#[$m])*
                async fn $name() {
                    let Some(_backend) = $crate::backend::enter(
                        $crate::backend::Backend::Postgres,
                        stringify!($name),
                    ) else {
                        return;
                    };
                    $body
                }
            )*
        }
    };
}

/// Runs `f` on a thread of its own: PostgreSQL's synchronous driver runs its own
/// runtime, which tokio refuses to start inside a test's `block_on`.
fn off_runtime<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    std::thread::scope(|s| match s.spawn(f).join() {
        Ok(r) => r,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}
