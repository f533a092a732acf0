//! Durable processed messages per second — stored *and* classified, not just
//! acknowledged — for one host on SQLite, one host on PostgreSQL, and two and three
//! hosts sharing one PostgreSQL database, measured side by side in one run.
//!
//! Run: `cargo build --release -p scrm --bin scrm && cargo bench -p scrm-e2e --bench
//! scale` (`SCRM_BENCH_SCALE_MESSAGES`, default 10,000 per configuration). Each configuration gets fresh hosts (`scrm serve`
//! processes) and a fresh database; PostgreSQL runs with its durable defaults (every
//! commit flushed, as SQLite's `synchronous=FULL`). A load generator keeps 64
//! requests in flight, spreading signed single-message webhooks round robin over the
//! hosts; the clock stops when the last message is classified in the database.

use scrm_e2e::fleet::HostProcess;
use scrm_e2e::{APP_SECRET, guest};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const PN: &str = "100200300";
const IN_FLIGHT: usize = 64;

fn body(run: &str, i: usize) -> Vec<u8> {
    let from = format!("39347{:07}", i % 5_000);
    let ts = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    serde_json::to_vec(&json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA1", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550000000", "phone_number_id": PN},
            "contacts": [{"profile": {"name": "Customer"}, "wa_id": from}],
            "messages": [{"from": from, "id": format!("wamid.{run}.{i}"),
                          "timestamp": ts.to_string(), "type": "text",
                          "text": {"body": "Ciao, quanto costa la borsa rossa?"}}]
        }}]}]
    }))
    .unwrap()
}

fn signature(body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(APP_SECRET.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Posts messages `from..to` of run `run`, `IN_FLIGHT` at a time, round robin over
/// `bases`; returns when all are acknowledged.
async fn load(http: &reqwest::Client, bases: &[String], run: &str, from: usize, to: usize) {
    let in_flight = std::env::var("SCRM_BENCH_IN_FLIGHT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(IN_FLIGHT);
    let slots = Arc::new(tokio::sync::Semaphore::new(in_flight));
    let mut posts = tokio::task::JoinSet::new();
    for i in from..to {
        let permit = slots.clone().acquire_owned().await.unwrap();
        let (http, base, body) = (http.clone(), bases[i % bases.len()].clone(), body(run, i));
        posts.spawn(async move {
            loop {
                let sig = signature(&body);
                let r = http
                    .post(format!("{base}/webhooks/whatsapp"))
                    .header("x-hub-signature-256", sig)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await;
                if r.is_ok_and(|r| r.status().is_success()) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            drop(permit);
        });
    }
    while posts.join_next().await.is_some() {}
}

/// Bodies fully processed: a body is marked done in the transaction that records its
/// message's classification (one message per body here).
fn classified(db: &scrm_store::Db) -> i64 {
    scrm_e2e::fleet::off_runtime(|| {
        db.with_conn(|c| {
            c.query_one(
                "SELECT count(*) FROM webhook_inbox WHERE state = 'done'",
                scrm_store::params![],
                |r| r.get(0),
            )
        })
    })
    .unwrap()
}

async fn until_classified(db: &scrm_store::Db, n: i64) {
    while classified(db) < n {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A CPU budget for one host process, as if it ran on a machine of its own of
/// that size: a cgroup (v1 `cpu` or v2) with a CFS quota, removed when dropped.
/// Needs root; `SCRM_BENCH_HOST_CPUS=0.4` gives every host 0.4 of a core.
struct CpuCap(std::path::PathBuf);

impl CpuCap {
    fn new(pid: u32, cpus: f64) -> CpuCap {
        const PERIOD_US: u64 = 100_000;
        let quota = (cpus * PERIOD_US as f64) as u64;
        let name = format!("scrm-bench-{}-{pid}", std::process::id());
        let v1 = std::path::Path::new("/sys/fs/cgroup/cpu");
        let dir = if v1.join("cpu.cfs_quota_us").exists() {
            let dir = v1.join(&name);
            std::fs::create_dir_all(&dir).expect("create a cpu cgroup (needs root)");
            std::fs::write(dir.join("cpu.cfs_period_us"), PERIOD_US.to_string()).unwrap();
            std::fs::write(dir.join("cpu.cfs_quota_us"), quota.to_string()).unwrap();
            dir
        } else {
            let dir = std::path::Path::new("/sys/fs/cgroup").join(&name);
            std::fs::create_dir_all(&dir).expect("create a cgroup (needs root, cgroup v2)");
            std::fs::write(dir.join("cpu.max"), format!("{quota} {PERIOD_US}")).unwrap();
            dir
        };
        std::fs::write(dir.join("cgroup.procs"), pid.to_string())
            .expect("move the host into its cgroup");
        CpuCap(dir)
    }
}

impl Drop for CpuCap {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// CPU time (user + system) process `pid` has used, in seconds, from
/// `/proc/PID/stat` (clock ticks of 1/100 s).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

/// Busy and total jiffies of the whole machine, from `/proc/stat`.
fn machine_jiffies() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let cpu: Vec<f64> = stat
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: f64 = cpu.iter().sum();
    // idle and iowait are the 4th and 5th.
    let idle = cpu.get(3).copied().unwrap_or(0.0) + cpu.get(4).copied().unwrap_or(0.0);
    (total - idle, total)
}

/// One configuration: `(hosts, database)`; messages per second acknowledged and
/// processed.
async fn measure(name: &str, hosts: usize, url: Option<String>, n: usize) -> (f64, f64) {
    let graph = scrm_e2e::graph::Graph::start().await;
    let dirs: Vec<tempfile::TempDir> = (0..hosts).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut procs = Vec::new();
    for d in &dirs {
        procs.push(
            HostProcess::start(d.path(), url.as_deref(), &graph.url())
                .await
                .expect("start scrm serve"),
        );
    }
    let caps: Vec<CpuCap> = match std::env::var("SCRM_BENCH_HOST_CPUS") {
        Ok(cpus) => {
            let cpus: f64 = cpus
                .parse()
                .expect("SCRM_BENCH_HOST_CPUS: a number of cores");
            procs
                .iter_mut()
                .map(|p| CpuCap::new(p.pid().expect("running"), cpus))
                .collect()
        }
        Err(_) => Vec::new(),
    };
    let a = procs[0].host();
    a.tenant("acme", &[PN], "IT").await;
    a.install("acme", "classifier", &guest("keyword-classifier"), None)
        .await;
    let db = match &url {
        Some(u) => scrm_e2e::fleet::off_runtime(|| scrm_store::Db::connect(u, 2)).unwrap(),
        None => scrm_store::Db::open(&dirs[0].path().join("scrm.db")).unwrap_or_else(|_| {
            // The host holds the SQLite data directory: read through a second handle.
            panic!("cannot open the benchmark's SQLite file")
        }),
    };
    let bases: Vec<String> = procs.iter().map(|p| p.base.clone()).collect();
    let http = reqwest::Client::new();
    // Warm-up: compiled plugin, warm caches and connection pools on every host.
    let warm = 500;
    load(&http, &bases, name, 0, warm).await;
    until_classified(&db, warm as i64).await;

    let statements = url.is_some() && std::env::var_os("SCRM_BENCH_DEBUG").is_some();
    if statements {
        // Needs SCRM_TEST_PG_OPTIONS="-c shared_preload_libraries=pg_stat_statements".
        scrm_e2e::fleet::off_runtime(|| {
            db.with_conn(|c| {
                c.batch("CREATE EXTENSION IF NOT EXISTS pg_stat_statements; SELECT pg_stat_statements_reset();")
            })
        })
        .unwrap();
    }
    let pids: Vec<u32> = procs.iter_mut().filter_map(HostProcess::pid).collect();
    let hosts_cpu = || pids.iter().map(|p| cpu_seconds(*p)).sum::<f64>();
    let (cpu_before, machine_before) = (hosts_cpu(), machine_jiffies());
    let started = Instant::now();
    load(&http, &bases, name, warm, warm + n).await;
    let acked = started.elapsed();
    until_classified(&db, (warm + n) as i64).await;
    let processed = started.elapsed();
    let (ack_rate, rate) = (
        n as f64 / acked.as_secs_f64(),
        n as f64 / processed.as_secs_f64(),
    );
    println!(
        "{name:<32} {n:>7} messages: acknowledged {ack_rate:>7.0}/s, processed {rate:>7.0}/s ({:.1} s)",
        processed.as_secs_f64()
    );
    let hosts_cores = (hosts_cpu() - cpu_before) / processed.as_secs_f64();
    let machine = machine_jiffies();
    let busy = (machine.0 - machine_before.0) / (machine.1 - machine_before.1).max(1.0);
    println!(
        "{:<32} hosts used {hosts_cores:.2} cores ({:.2} each{}); the machine was {:.0} % busy",
        "",
        hosts_cores / pids.len() as f64,
        match std::env::var("SCRM_BENCH_HOST_CPUS") {
            Ok(c) => format!(", at most {c}"),
            Err(_) => String::new(),
        },
        busy * 100.0
    );
    if statements {
        let rows: Vec<String> = scrm_e2e::fleet::off_runtime(|| db.with_conn(|c| c.query(
            "SELECT lpad(calls::text, 8) || lpad(round(total_exec_time)::text, 8) || ' ms  ' || left(regexp_replace(query, '\\s+', ' ', 'g'), 110)
               FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
              ORDER BY calls DESC LIMIT 40",
            scrm_store::params![], |r| r.get(0)))).unwrap();
        println!("   calls   total  statement");
        for r in rows {
            println!("   {r}");
        }

        let rows: Vec<String> = scrm_e2e::fleet::off_runtime(|| db.with_conn(|c| c.query(
            "SELECT relname || ' seq_scan=' || seq_scan || ' seq_tup_read=' || seq_tup_read || ' idx_scan=' || COALESCE(idx_scan,0) FROM pg_stat_user_tables ORDER BY seq_tup_read DESC LIMIT 8",
            scrm_store::params![], |r| r.get(0)))).unwrap();
        for r in rows {
            println!("   {r}");
        }
        let rows: Vec<String> = scrm_e2e::fleet::off_runtime(|| db.with_conn(|c| c.query(
            "SELECT 'commits=' || xact_commit || ' rollbacks=' || xact_rollback || ' tup_returned=' || tup_returned || ' tup_fetched=' || tup_fetched FROM pg_stat_database WHERE datname = current_database()",
            scrm_store::params![], |r| r.get(0)))).unwrap();
        for r in rows {
            println!("   {r}");
        }
    }
    drop(procs);
    drop(caps);
    (ack_rate, rate)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::var("SCRM_BENCH_SCALE_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    // SCRM_BENCH_PG_NO_FSYNC=1: the test cluster (no fsync), to see what durability costs.
    let fast = std::env::var_os("SCRM_BENCH_PG_NO_FSYNC").is_some_and(|v| v == "1");
    let cluster = scrm_e2e::fleet::off_runtime(if fast {
        scrm_store::testing::cluster
    } else {
        scrm_store::testing::durable_cluster
    })
    .expect("PostgreSQL server binaries (initdb, postgres) are needed for this benchmark");
    let pg = || scrm_e2e::fleet::off_runtime(|| scrm_store::testing::database_on(cluster));
    // SCRM_BENCH_SCALE_ONLY=sqlite,pg1: some configurations only (sqlite, pg1, pg2, pg3).
    let only = std::env::var("SCRM_BENCH_SCALE_ONLY").unwrap_or_default();
    let wanted = |key: &str| only.is_empty() || only.split(',').any(|k| k.trim() == key);
    let mut rows = Vec::new();
    for (key, name, hosts) in [
        ("sqlite", "1 host, SQLite", 1),
        ("pg1", "1 host, PostgreSQL", 1),
        ("pg2", "2 hosts, one PostgreSQL", 2),
        ("pg3", "3 hosts, one PostgreSQL", 3),
    ] {
        if wanted(key) {
            let url = if key == "sqlite" { None } else { pg() };
            rows.push((name, measure(name, hosts, url, n).await));
        }
    }
    let sqlite = rows
        .iter()
        .find(|r| r.0 == "1 host, SQLite")
        .map_or(f64::NAN, |r| r.1.1);
    println!();
    println!("| configuration | acknowledged/s | processed/s | vs SQLite |");
    println!("|---|---:|---:|---:|");
    for (name, (ack, rate)) in &rows {
        println!(
            "| {name} | {ack:.0} | {rate:.0} | {:.0} % |",
            rate / sqlite * 100.0
        );
    }
}
