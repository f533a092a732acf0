//! Whole-runtime figures for BENCHMARKS.md (a plain binary, not criterion: it measures
//! distributions, memory and start-up). Run: `cargo bench -p scrm-e2e --bench runtime`.
//!
//! 1. fresh-instance classifier call, p50 / p99 (the pipeline's per-message cost);
//! 2. the same logic: warm instance vs native Rust;
//! 3. resident memory with 10,000 tenants × 4 bindings;
//! 4. host start-up with 1,000 tenants and a warm compile cache;
//! 5. p99 of calls while the binding is swapped continuously.

use scrm::config::{Overrides, Settings};
use scrm_e2e::bench;
use scrm_e2e::bench::percentile;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

fn report(name: &str, mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let (p50, p99) = (percentile(&samples, 0.50), percentile(&samples, 0.99));
    println!(
        "{name}: n={} p50={:.2} µs p99={:.2} µs",
        samples.len(),
        p50.as_secs_f64() * 1e6,
        p99.as_secs_f64() * 1e6
    );
    (p50, p99)
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn row(tenant: &str, slot: &str, sha: &str, config: &[u8]) -> scrm_engine::BindingSpec {
    bench::binding(tenant, slot, sha, "keyword-classifier", config)
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to parse.
    let dir = tempfile::tempdir().expect("tempdir");
    let host = Arc::new(bench::plugin_host(dir.path()));
    let sha = bench::install(&host, "keyword-classifier");
    host.activate(&row("bench", "classifier", &sha, b""))
        .expect("activate");
    let binding = host.snapshot("bench").classifier.clone().expect("binding");
    let msg = bench::message("Ciao, quanto costa la borsa rossa?");
    let contact = bench::contact();

    // 1. Fresh instance per call.
    for _ in 0..2_000 {
        scrm::slots::classify(&host, &binding, &msg, &contact).expect("warm-up");
    }
    let samples: Vec<Duration> = (0..20_000)
        .map(|_| {
            let t = Instant::now();
            scrm::slots::classify(&host, &binding, &msg, &contact).expect("classify");
            t.elapsed()
        })
        .collect();
    report(
        "1. classifier call, fresh instance (keyword-classifier)",
        samples,
    );

    // 2a. The same component, one warm instance reused for every call.
    let mut warm = host
        .warm_classifier(binding.clone())
        .expect("warm instance");
    let samples: Vec<Duration> = (0..20_000)
        .map(|_| {
            let t = Instant::now();
            warm.classify(
                &scrm::slots::to_wit_message(&msg),
                &scrm::slots::to_wit_contact(&contact),
            )
            .expect("classify");
            t.elapsed()
        })
        .collect();
    report("2a. classifier call, warm instance (reused)", samples);
    drop(warm);

    // 2b. Native Rust, same rules and text.
    let text = msg.content.text().unwrap_or_default().to_string();
    let samples: Vec<Duration> = (0..20_000)
        .map(|_| {
            let t = Instant::now();
            let rules = keyword_classifier::rules::RuleSet::from_config(b"").expect("rules");
            std::hint::black_box(rules.classify(std::hint::black_box(&text)));
            t.elapsed()
        })
        .collect();
    report(
        "2b. the same rules, native Rust (rules built per call, as the plugin does)",
        samples,
    );

    // 3. Memory: 10,000 tenants × 4 bindings over shared compiled components.
    let before = rss_kib();
    let responder = bench::install(&host, "rule-responder");
    let hostile = bench::install(&host, "hostile-classifier");
    let config = b"defaults = true\n".to_vec();
    for t in 0..10_000 {
        let tenant = format!("tenant-{t:05}");
        for (slot, sha) in [
            ("classifier", &sha),
            ("responder", &responder),
            ("mapper", &hostile),
            ("connector", &sha),
        ] {
            host.activate(&row(&tenant, slot, sha, &config))
                .expect("activate");
        }
    }
    let after = rss_kib();
    println!(
        "3. resident memory: {:.1} MiB before, {:.1} MiB after 40,000 bindings (+{:.1} MiB, {:.0} bytes per binding)",
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        (after - before) as f64 / 1024.0,
        (after - before) as f64 * 1024.0 / 40_000.0
    );
    println!("   whole process: {:.1} MiB", after as f64 / 1024.0);

    // 5. Calls while another thread swaps the binding continuously.
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let host = host.clone();
        let stop = stop.clone();
        let sha = sha.clone();
        std::thread::spawn(move || {
            let mut swaps = 0u64;
            let mut v = 2;
            while !stop.load(Ordering::Relaxed) {
                let mut r = row("bench", "classifier", &sha, b"");
                r.version = v;
                v += 1;
                host.activate(&r).expect("swap");
                swaps += 1;
                std::thread::sleep(Duration::from_micros(200));
            }
            swaps
        })
    };
    let started = Instant::now();
    let samples: Vec<Duration> = (0..20_000)
        .map(|_| {
            let b = host.snapshot("bench").classifier.clone().expect("binding");
            let t = Instant::now();
            scrm::slots::classify(&host, &b, &msg, &contact).expect("classify");
            t.elapsed()
        })
        .collect();
    stop.store(true, Ordering::Relaxed);
    let swaps = swapper.join().expect("swapper");
    report(
        &format!(
            "5. classifier call while swapping ({swaps} swaps in {:.1} s)",
            started.elapsed().as_secs_f64()
        ),
        samples,
    );

    // 4. Start-up of the whole host with 1,000 tenants and a warm compile cache.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let data = tempfile::tempdir().expect("tempdir");
        let settings = || {
            Settings::load(
                None,
                Overrides {
                    listen: Some("127.0.0.1:0".parse().expect("addr")),
                    data_dir: Some(data.path().to_path_buf()),
                    admin_token: Some(scrm::config::SecretString::from(scrm_e2e::TOKEN)),
                    compile_cache_dir: None,
                    graph_url: None,
                    database_url: None,
                    secrets_key: None,
                    public_url: None,
                    trusted_proxies: None,
                    smtp_url: None,
                    smtp_from: None,
                },
            )
            .expect("settings")
        };
        let running = scrm::server::start(settings()).await.expect("start");
        let base = format!("http://{}", running.local_addr);
        let http = reqwest::Client::new();
        let api = |method: reqwest::Method, path: String, body: serde_json::Value| {
            let http = http.clone();
            let base = base.clone();
            async move {
                let r = http
                    .request(method, format!("{base}{path}"))
                    .bearer_auth(scrm_e2e::TOKEN)
                    .json(&body)
                    .send()
                    .await
                    .expect("request");
                assert!(r.status().is_success(), "{path}: {}", r.status());
                r.json::<serde_json::Value>().await.unwrap_or_default()
            }
        };
        api(
            reqwest::Method::POST,
            "/v1/apps".into(),
            serde_json::json!({"id": "app1", "app_secret": scrm_e2e::APP_SECRET, "verify_token": "v"}),
        )
        .await;
        let wasm = std::fs::read(scrm_e2e::guest("keyword-classifier")).expect("wasm");
        let comp: serde_json::Value = http
            .post(format!("{base}/v1/components?name=keyword-classifier"))
            .bearer_auth(scrm_e2e::TOKEN)
            .body(wasm)
            .send()
            .await
            .expect("upload")
            .json()
            .await
            .expect("json");
        let sha = comp["sha256"].as_str().expect("sha").to_string();
        for t in 0..1_000 {
            let tenant = format!("t{t:04}");
            api(
                reqwest::Method::POST,
                "/v1/tenants".into(),
                serde_json::json!({"id": tenant, "app": "app1", "phone_number_ids": [format!("{}", 10_000 + t)]}),
            )
            .await;
            api(
                reqwest::Method::PUT,
                format!("/v1/tenants/{tenant}/plugins/classifier"),
                serde_json::json!({"sha256": sha}),
            )
            .await;
        }
        running.stop().await.expect("stop");
        let t = Instant::now();
        let running = scrm::server::start(settings()).await.expect("restart");
        let took = t.elapsed();
        println!(
            "4. start-up with 1,000 tenants (1,000 bindings) and a warm compile cache: {:.0} ms",
            took.as_secs_f64() * 1e3
        );
        running.stop().await.expect("stop");
    });
}
