//! Test support: a real PostgreSQL server for the test run, and a fresh database of
//! each backend per test.
//!
//! The first test that asks starts one cluster for the whole test process:
//! `initdb` and `postgres` from the machine's PostgreSQL server package, in a
//! temporary directory, listening on a free loopback port, run as the `postgres`
//! user when the tests run as root (PostgreSQL refuses root). A watchdog stops the
//! server and removes its directory when the test process ends, however it ends.
//! Each test then gets a database of its own (`CREATE DATABASE`, milliseconds).
//!
//! Where no PostgreSQL server binaries are found, [`backends`] returns SQLite only
//! and says so on standard error, loudly, once per process; with
//! `SCRM_REQUIRE_POSTGRES=1` (set by CI) it panics instead, so a machine without
//! PostgreSQL can never pass CI silently. `SCRM_PG_BIN` names the directory of
//! `initdb` and `postgres` when they are not in a standard place.

use crate::Db;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Adds app `app` and its tenant `acme` (number `100`, region `IT`): what most
/// store tests start from.
///
/// # Errors
/// On database failure.
#[cfg(test)]
pub(crate) fn add_acme(c: &crate::sql::Conn<'_>) -> Result<(), crate::StoreError> {
    crate::apps::insert(c, "app", "secret", "verify")?;
    crate::tenants::insert(
        c,
        &crate::tenants::NewTenant {
            id: "acme".into(),
            app_id: "app".into(),
            phone_number_ids: vec!["100".into()],
            default_region: "IT".into(),
        },
    )?;
    Ok(())
}

/// A test database of one backend.
#[derive(Debug)]
pub struct TestDb {
    /// `sqlite` or `postgres`, for messages.
    pub backend: &'static str,
    /// The handle.
    pub db: Db,
    /// The SQLite file's directory (kept alive for the test), if SQLite.
    pub dir: Option<tempfile::TempDir>,
    /// The PostgreSQL URL, if PostgreSQL.
    pub url: Option<String>,
}

impl TestDb {
    /// Opens the same database again through a new handle (a restart).
    ///
    /// # Panics
    /// When it cannot be opened.
    pub fn reopen(&self) -> Db {
        match (&self.dir, &self.url) {
            (Some(dir), _) => Db::open(&dir.path().join("scrm.db")).expect("reopen sqlite"),
            (None, Some(url)) => Db::connect(url, 4).expect("reconnect"),
            (None, None) => unreachable!("a test database is a file or a URL"),
        }
    }
}

/// A fresh empty database of each available backend: SQLite always, PostgreSQL
/// when its server binaries are here (see the module docs).
///
/// # Panics
/// When a database cannot be created, or PostgreSQL is required and missing.
pub fn backends() -> Vec<TestDb> {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(&dir.path().join("scrm.db")).expect("open sqlite");
    let mut out = vec![TestDb {
        backend: "sqlite",
        db,
        dir: Some(dir),
        url: None,
    }];
    if let Some(url) = postgres_database() {
        let db = Db::connect(&url, 4).expect("connect to the test cluster");
        out.push(TestDb {
            backend: "postgres",
            db,
            dir: None,
            url: Some(url),
        });
    }
    out
}

/// The URL of a fresh empty PostgreSQL database on the test cluster, or `None`
/// (said loudly) when PostgreSQL is not installed here.
///
/// # Panics
/// When the cluster fails to start, or PostgreSQL is required and missing.
pub fn postgres_database() -> Option<String> {
    database_on(cluster()?)
}

/// A fresh empty database on `cluster`.
///
/// # Panics
/// When it cannot be created.
pub fn database_on(cluster: &Cluster) -> Option<String> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let name = format!(
        "t{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    );
    let mut admin = postgres::Client::connect(&cluster.url("postgres"), postgres::NoTls)
        .expect("connect to the test cluster");
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .expect("create a test database");
    Some(cluster.url(&name))
}

/// A running test cluster.
#[derive(Debug)]
pub struct Cluster {
    port: u16,
    dir: PathBuf,
    /// The watchdog shell: it outlives this process only long enough to stop the
    /// server, so it is never waited on.
    _watchdog: std::process::Child,
}

impl Cluster {
    /// The URL of database `name` on this cluster.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// The cluster's data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// The process's test cluster, started on first use; `None` when PostgreSQL is not
/// installed (and not required).
///
/// # Panics
/// When the cluster fails to start, or PostgreSQL is required and missing.
pub fn cluster() -> Option<&'static Cluster> {
    static CLUSTER: OnceLock<Option<Cluster>> = OnceLock::new();
    CLUSTER.get_or_init(|| start_if_installed(false)).as_ref()
}

/// A second cluster with PostgreSQL's durable defaults (every commit flushed to
/// disk, as SQLite's `synchronous=FULL`), for benchmarks that compare the two; the
/// test cluster trades durability for speed.
///
/// # Panics
/// As [`cluster`].
pub fn durable_cluster() -> Option<&'static Cluster> {
    static CLUSTER: OnceLock<Option<Cluster>> = OnceLock::new();
    CLUSTER.get_or_init(|| start_if_installed(true)).as_ref()
}

fn start_if_installed(durable: bool) -> Option<Cluster> {
    match find_bin() {
        Some(bin) => Some(start(&bin, durable)),
        None => {
            let msg = "PostgreSQL server binaries (initdb, postgres) not found: \
                           looked in $SCRM_PG_BIN and /usr/lib/postgresql/*/bin";
            if std::env::var_os("SCRM_REQUIRE_POSTGRES").is_some_and(|v| v == "1") {
                panic!("{msg}; SCRM_REQUIRE_POSTGRES=1 requires them");
            }
            eprintln!(
                "\n*** SKIPPED: every PostgreSQL half of the store tests in this run. {msg}. \
                     Install PostgreSQL's server package to run them. ***\n"
            );
            None
        }
    }
}

fn find_bin() -> Option<PathBuf> {
    let has = |d: &Path| d.join("initdb").is_file() && d.join("postgres").is_file();
    if let Some(d) = std::env::var_os("SCRM_PG_BIN").map(PathBuf::from) {
        return has(&d).then_some(d);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let v = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            has(&bin).then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// The `postgres` user's uid and gid, from /etc/passwd.
fn postgres_user() -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.first() == Some(&"postgres") && f.len() > 3)
            .then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?)))
            .flatten()
    })
}

fn is_root() -> bool {
    // The owner of a file this process just made is its effective user.
    let probe = tempfile::NamedTempFile::new().expect("temp file");
    std::os::unix::fs::MetadataExt::uid(&probe.as_file().metadata().expect("metadata")) == 0
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn start(bin: &Path, durable: bool) -> Cluster {
    let dir = tempfile::Builder::new()
        .prefix("scrm-pg-")
        .tempdir()
        .expect("tempdir")
        .keep();
    let user = if is_root() {
        let (uid, gid) =
            postgres_user().expect("tests run as root need a `postgres` user to run PostgreSQL as");
        std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).expect("chown the cluster dir");
        Some((uid, gid))
    } else {
        None
    };
    let as_user = |cmd: &mut Command| {
        if let Some((uid, gid)) = user {
            std::os::unix::process::CommandExt::uid(cmd, uid);
            std::os::unix::process::CommandExt::gid(cmd, gid);
        }
    };
    let data = dir.join("data");
    let mut initdb = Command::new(bin.join("initdb"));
    initdb
        .args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ])
        .arg("-D")
        .arg(&data)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    as_user(&mut initdb);
    let out = initdb.output().expect("run initdb");
    assert!(
        out.status.success(),
        "initdb failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let port = free_port();
    let speed = if durable {
        ""
    } else {
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    };
    // SCRM_TEST_PG_OPTIONS: more server options, e.g.
    // `-c shared_preload_libraries=pg_stat_statements` to see where time goes.
    let extra = std::env::var("SCRM_TEST_PG_OPTIONS").unwrap_or_default();
    // The server runs under a watchdog shell that stops it (immediate shutdown) and
    // removes the cluster when this test process is gone.
    let script = format!(
        r#""$1/postgres" -D "$2/data" -p {port} -k "$2" -c listen_addresses=127.0.0.1 \
             {speed} -c max_connections=500 -c shared_buffers=128MB {extra} >"$2/log" 2>&1 &
           pg=$!
           while [ -d /proc/{watch} ] && kill -0 $pg 2>/dev/null; do sleep 0.5; done
           kill -QUIT $pg 2>/dev/null; wait $pg; rm -rf "$2""#,
        watch = std::process::id()
    );
    let mut server = Command::new("sh");
    server
        .arg("-c")
        .arg(script)
        .arg("scrm-pg")
        .arg(bin)
        .arg(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    as_user(&mut server);
    let watchdog = server.spawn().expect("start postgres");
    let cluster = Cluster {
        port,
        dir,
        _watchdog: watchdog,
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match postgres::Client::connect(&cluster.url("postgres"), postgres::NoTls) {
            Ok(_) => return cluster,
            Err(e) if Instant::now() > deadline => {
                let log = std::fs::read_to_string(cluster.dir.join("log")).unwrap_or_default();
                panic!("the test PostgreSQL did not start: {e}\n{log}");
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}
