//! Inbound ingest at the machine's limit: scrm beside a bare reference receiver
//! (`tests/src/bin/bare-receiver.rs`: hyper + rusqlite, verify, parse, tag with
//! native rules, group-committed inserts with `synchronous=FULL`, acknowledge after
//! the commit), driven with the same signed real payloads in one run.
//!
//! Run: `cargo build --release -p scrm --bin scrm && cargo bench -p scrm-e2e --bench
//! ingest`. Each target (the bare receiver, `scrm serve` on SQLite, `scrm serve` on
//! PostgreSQL) is a fresh process on a fresh database, with the Rust keyword
//! classifier installed for scrm, and goes through three phases:
//! 1. **closed loop**: `SCRM_BENCH_INGEST_MESSAGES` (default 100,000) single-message
//!    webhooks, 64 in flight: acknowledged per second, and processed per second
//!    (stored, classified and tagged; scrm marks a body done in the transaction that
//!    records its classification and tags; the bare receiver stores before it
//!    answers), the clock stopping when the last message is processed;
//! 2. **open loop**: `SCRM_BENCH_INGEST_RATE` requests per second (default 5,000)
//!    for `SCRM_BENCH_INGEST_OPEN_SECONDS` (default 10), each request's latency taken
//!    from when it was due to be sent, not when it was (coordinated omission
//!    corrected): acknowledgement p50 / p99 / max;
//! 3. **burst**: the closed loop for `SCRM_BENCH_INGEST_BURST_SECONDS` (default 30),
//!    then how long until every message of it is processed.
//!
//! `SCRM_BENCH_INGEST_PLUGIN=js|python` installs the JavaScript or Python keyword
//! classifier (`plugins/keyword-classifier-js`, `-py`) instead of the Rust one.
//! `SCRM_BENCH_INGEST_ISOLATION=warm` installs it with warm instances (see
//! docs/plugins.md) instead of a fresh instance per message.
//! `SCRM_BENCH_INGEST_ONLY=bare,sqlite,pg` runs some targets only. The payload is
//! the Cloud API's `text_message.json` sample (`../shared/fixtures/webhooks`) with a
//! fresh message id, one of 5,000 senders and a text of the Bitext corpus.

use hdrhistogram::Histogram;
use scrm_e2e::fleet::HostProcess;
use scrm_e2e::{APP_SECRET, guest};
use std::io::BufRead;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const PN: &str = "100200300";
const IN_FLIGHT: usize = 64;
const SENDERS: usize = 5_000;

/// The signed payloads: the real sample with fresh ids, senders and texts.
struct Payloads {
    sample: serde_json::Value,
    texts: Vec<String>,
    run: String,
}

impl Payloads {
    fn new(run: &str) -> Payloads {
        let root = scrm_e2e::repo_root();
        let sample = std::fs::read(root.join("../shared/fixtures/webhooks/text_message.json"))
            .expect("the Cloud API's text message sample");
        let mut r =
            csv::Reader::from_path(root.join("../shared/fixtures/intents/bitext-train.csv"))
                .expect("the Bitext corpus");
        let texts = r
            .records()
            .filter_map(Result::ok)
            .filter_map(|rec| rec.get(0).map(str::to_string))
            .collect();
        Payloads {
            sample: serde_json::from_slice(&sample).expect("sample JSON"),
            texts,
            run: run.to_string(),
        }
    }

    /// Message `i`'s body and its signature.
    fn signed(&self, i: usize) -> (Vec<u8>, String) {
        let mut v = self.sample.clone();
        let from = format!("39347{:07}", i % SENDERS);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let value = &mut v["entry"][0]["changes"][0]["value"];
        value["metadata"]["phone_number_id"] = PN.into();
        value["contacts"][0]["wa_id"] = from.clone().into();
        let m = &mut value["messages"][0];
        m["from"] = from.into();
        m["id"] = format!("wamid.{}.{i}", self.run).into();
        m["timestamp"] = now.to_string().into();
        m["text"]["body"] = self.texts[i % self.texts.len()].clone().into();
        let body = serde_json::to_vec(&v).unwrap();
        let sig = signature(&body);
        (body, sig)
    }
}

fn signature(body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(APP_SECRET.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Posts one webhook until it is acknowledged.
async fn post(http: &reqwest::Client, url: &str, body: Vec<u8>, sig: String) {
    loop {
        let r = http
            .post(url)
            .header("x-hub-signature-256", &sig)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await;
        if r.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Messages `from..` posted `IN_FLIGHT` at a time until `to` or until `until`;
/// returns how many were posted.
async fn closed_loop(
    http: &reqwest::Client,
    url: &str,
    p: &Arc<Payloads>,
    from: usize,
    to: usize,
    until: Option<Instant>,
) -> usize {
    let slots = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let mut posts = tokio::task::JoinSet::new();
    let mut i = from;
    while i < to && until.is_none_or(|u| Instant::now() < u) {
        let permit = slots.clone().acquire_owned().await.unwrap();
        let (http, url, p) = (http.clone(), url.to_string(), p.clone());
        posts.spawn(async move {
            let (body, sig) = p.signed(i);
            post(&http, &url, body, sig).await;
            drop(permit);
        });
        i += 1;
    }
    while posts.join_next().await.is_some() {}
    i - from
}

/// `rate` requests a second for `seconds` from message `from`; the latency of each
/// from when it was due. Returns the histogram (µs) and the messages posted.
async fn open_loop(
    http: &reqwest::Client,
    url: &str,
    p: &Arc<Payloads>,
    from: usize,
    rate: usize,
    seconds: usize,
) -> (Histogram<u64>, usize) {
    let n = rate * seconds;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let start = tokio::time::Instant::now() + Duration::from_millis(100);
    let mut posts = tokio::task::JoinSet::new();
    for k in 0..n {
        let due = start + interval * k as u32;
        tokio::time::sleep_until(due).await;
        let (http, url, p) = (http.clone(), url.to_string(), p.clone());
        posts.spawn(async move {
            let (body, sig) = p.signed(from + k);
            post(&http, &url, body, sig).await;
            due.elapsed()
        });
    }
    let mut h = Histogram::<u64>::new(3).unwrap();
    while let Some(t) = posts.join_next().await {
        h.record(t.unwrap().as_micros() as u64).unwrap();
    }
    (h, n)
}

/// What is measured: a running receiver and whether it still has messages to process.
struct Target {
    url: String,
    waiting: Box<dyn Fn() -> bool>,
    _keep: Box<dyn std::any::Any>,
}

/// The bare receiver, killed when dropped.
struct Bare(std::process::Child);

impl Drop for Bare {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_bare(dir: &std::path::Path) -> Target {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_bare-receiver"))
        .arg(dir.join("bare.db"))
        .env("BARE_APP_SECRET", APP_SECRET)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start the bare receiver");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .expect("its address");
    let addr = line.trim().trim_start_matches("listening on ").to_string();
    // It answers only after storing: what it acknowledged is what it processed.
    Target {
        url: format!("http://{addr}/webhooks/whatsapp"),
        waiting: Box::new(|| false),
        _keep: Box::new(Bare(child)),
    }
}

async fn start_scrm(dir: &std::path::Path, url: Option<String>) -> Target {
    let graph = scrm_e2e::graph::Graph::start().await;
    let process = HostProcess::start(dir, url.as_deref(), &graph.url())
        .await
        .expect("start scrm serve");
    let host = process.host();
    host.tenant("acme", &[PN], "IT").await;
    let classifier = match std::env::var("SCRM_BENCH_INGEST_PLUGIN").as_deref() {
        Ok("js") => scrm_e2e::polyglot::js_guest(),
        Ok("python") => scrm_e2e::polyglot::py_guest(),
        _ => guest("keyword-classifier"),
    };
    let sha = host.upload(&classifier).await["sha256"].clone();
    // `SCRM_BENCH_INGEST_ISOLATION=warm`: the binding's instances kept warm.
    let isolation = std::env::var("SCRM_BENCH_INGEST_ISOLATION").unwrap_or("fresh".into());
    host.ok(
        "PUT",
        "/v1/tenants/acme/plugins/classifier",
        Some(serde_json::json!({"sha256": sha, "limits": {"isolation": isolation}})),
    )
    .await;
    let db = Arc::new(match &url {
        Some(u) => scrm_e2e::fleet::off_runtime(|| scrm_store::Db::connect(u, 2)).unwrap(),
        None => scrm_store::Db::open(&dir.join("scrm.db")).expect("the host's SQLite file"),
    });
    // Whether any body is still pending, through the inbox's partial index: one
    // index probe per poll. (Counting the done rows instead reads every body in the
    // table, ~1 KB each, and under a 400,000-message burst that poll alone takes a
    // core from the host it measures.)
    let waiting = move || {
        scrm_e2e::fleet::off_runtime(|| {
            db.with_conn(|c| {
                c.query_one(
                    "SELECT EXISTS (SELECT 1 FROM webhook_inbox WHERE state = 'pending')",
                    scrm_store::params![],
                    |r| r.get::<bool>(0),
                )
            })
        })
        .unwrap()
    };
    Target {
        url: format!("{}/webhooks/whatsapp", process.base),
        waiting: Box::new(waiting),
        _keep: Box::new((process, graph)),
    }
}

/// Waits until every acknowledged message is processed; `None` after `limit`.
/// Called once every request has been answered, so nothing pending means done.
async fn processed_by(t: &Target, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    while (t.waiting)() {
        if started.elapsed() > limit {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Some(started.elapsed())
}

/// One target's figures.
#[derive(Default, Clone)]
struct Figures {
    acked: f64,
    processed: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    burst: usize,
    drain_s: Option<f64>,
}

struct Sizes {
    messages: usize,
    rate: usize,
    open_s: usize,
    burst_s: usize,
}

async fn measure(name: &str, t: &Target, sizes: &Sizes) -> Figures {
    let http = reqwest::Client::new();
    let p = Arc::new(Payloads::new(&format!("{name}{}", std::process::id())));
    // Warm-up: the compiled plugin, caches, connection pools.
    let mut next = closed_loop(&http, &t.url, &p, 0, 500, None).await;
    processed_by(t, Duration::from_secs(120)).await;

    let started = Instant::now();
    next += closed_loop(&http, &t.url, &p, next, next + sizes.messages, None).await;
    let acked = started.elapsed();
    eprintln!(
        "{name}: closed loop {:.0} acked/s",
        sizes.messages as f64 / acked.as_secs_f64()
    );
    processed_by(t, Duration::from_secs(600)).await;
    let processed = started.elapsed();
    let mut f = Figures {
        acked: sizes.messages as f64 / acked.as_secs_f64(),
        processed: sizes.messages as f64 / processed.as_secs_f64(),
        ..Figures::default()
    };
    eprintln!("{name}: closed loop {:.0} processed/s", f.processed);

    let (h, sent) = open_loop(&http, &t.url, &p, next, sizes.rate, sizes.open_s).await;
    next += sent;
    (f.p50_ms, f.p99_ms, f.max_ms) = (
        h.value_at_quantile(0.5) as f64 / 1000.0,
        h.value_at_quantile(0.99) as f64 / 1000.0,
        h.max() as f64 / 1000.0,
    );
    eprintln!(
        "{name}: open loop {}/s: ack p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        sizes.rate, f.p50_ms, f.p99_ms, f.max_ms
    );
    processed_by(t, Duration::from_secs(600)).await;

    let until = Instant::now() + Duration::from_secs(sizes.burst_s as u64);
    f.burst = closed_loop(&http, &t.url, &p, next, usize::MAX, Some(until)).await;
    f.drain_s = processed_by(t, Duration::from_secs(600))
        .await
        .map(|d| d.as_secs_f64());
    eprintln!(
        "{name}: burst of {} messages drained in {:?} s",
        f.burst, f.drain_s
    );
    f
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let env = scrm_e2e::bench::env_size;
    let sizes = Sizes {
        messages: env("SCRM_BENCH_INGEST_MESSAGES", 100_000),
        rate: env("SCRM_BENCH_INGEST_RATE", 5_000),
        open_s: env("SCRM_BENCH_INGEST_OPEN_SECONDS", 10),
        burst_s: env("SCRM_BENCH_INGEST_BURST_SECONDS", 30),
    };
    let only = std::env::var("SCRM_BENCH_INGEST_ONLY").unwrap_or_default();
    let wanted = |key: &str| only.is_empty() || only.split(',').any(|k| k.trim() == key);
    let mut rows: Vec<(&str, Figures)> = Vec::new();
    if wanted("bare") {
        let dir = tempfile::tempdir().unwrap();
        let t = start_bare(dir.path());
        rows.push((
            "bare receiver (hyper + rusqlite)",
            measure("bare", &t, &sizes).await,
        ));
    }
    if wanted("sqlite") {
        let dir = tempfile::tempdir().unwrap();
        let t = start_scrm(dir.path(), None).await;
        rows.push(("scrm, SQLite", measure("sqlite", &t, &sizes).await));
    }
    if wanted("pg") {
        let cluster = scrm_e2e::fleet::off_runtime(scrm_store::testing::durable_cluster)
            .expect("PostgreSQL server binaries (initdb, postgres)");
        let url = scrm_e2e::fleet::off_runtime(|| scrm_store::testing::database_on(cluster));
        let dir = tempfile::tempdir().unwrap();
        let t = start_scrm(dir.path(), url).await;
        rows.push(("scrm, PostgreSQL", measure("pg", &t, &sizes).await));
    }
    let bare = rows
        .first()
        .filter(|r| r.0.starts_with("bare"))
        .map(|r| r.1.clone());
    let ratio = |v: f64, of: Option<f64>| {
        of.map_or(String::new(), |b| format!(" ({:.0} %)", v / b * 100.0))
    };
    println!(
        "\n{} messages closed loop (64 in flight); open loop {}/s for {} s; burst {} s\n",
        sizes.messages, sizes.rate, sizes.open_s, sizes.burst_s
    );
    println!(
        "| receiver | acknowledged/s | processed/s | ack p50 / p99 / max at {}/s | burst: messages, drained in |",
        sizes.rate
    );
    println!("|---|---:|---:|---:|---:|");
    for (name, f) in &rows {
        println!(
            "| {name} | {:.0}{} | {:.0}{} | {:.1} / {:.1} / {:.0} ms | {}, {} |",
            f.acked,
            ratio(f.acked, bare.as_ref().map(|b| b.acked)),
            f.processed,
            ratio(f.processed, bare.as_ref().map(|b| b.processed)),
            f.p50_ms,
            f.p99_ms,
            f.max_ms,
            f.burst,
            f.drain_s
                .map_or("not within 600 s".into(), |d| format!("{d:.1} s")),
        );
    }
}
