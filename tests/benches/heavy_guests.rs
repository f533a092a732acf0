//! Classifier calls per language (the Rust, JavaScript and Python keyword
//! classifiers, the same rules): a fresh instance per call against a warm instance
//! kept for the next call, p50 / p99 over `SCRM_BENCH_GUEST_CALLS` calls (default
//! 300), in one run. Run: `cargo bench -p scrm-e2e --bench heavy_guests`.

use scrm_e2e::bench;
use scrm_e2e::bench::percentile;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn main() {
    let calls = bench::env_size("SCRM_BENCH_GUEST_CALLS", 300);
    let dir = tempfile::tempdir().expect("tempdir");
    let host = bench::plugin_host(dir.path());
    let msg = bench::message("Ciao, quanto costa la borsa rossa?");
    let contact = bench::contact();
    println!("| guest | fresh instance p50 / p99 | warm instance p50 / p99 |");
    println!("|---|---:|---:|");
    let guests = [
        ("Rust", scrm_e2e::guest("keyword-classifier")),
        ("JavaScript", scrm_e2e::polyglot::js_guest()),
        ("Python", scrm_e2e::polyglot::py_guest()),
    ];
    for (tenant, (lang, path)) in guests.iter().enumerate() {
        let tenant = format!("t{tenant}");
        let sha = bench::install_file(&host, path);
        host.activate(&bench::binding(&tenant, "classifier", &sha, "kw", b""))
            .expect("activate");
        let binding = host.snapshot(&tenant).classifier.clone().expect("binding");
        let wit_msg = scrm::slots::to_wit_message(&msg);
        let wit_contact = scrm::slots::to_wit_contact(&contact);
        let time = |f: &mut dyn FnMut()| {
            let mut s: Vec<Duration> = (0..calls)
                .map(|_| {
                    let t = Instant::now();
                    f();
                    t.elapsed()
                })
                .collect();
            s.sort();
            (percentile(&s, 0.5), percentile(&s, 0.99))
        };
        let fresh = time(&mut || {
            let out = host
                .classify(&binding, &wit_msg, &wit_contact)
                .expect("classify");
            assert_eq!(out.tags, ["price-inquiry"]);
        });
        let mut warm = host
            .warm_classifier(Arc::clone(&binding))
            .expect("warm instance");
        let kept = time(&mut || {
            let out = warm.classify(&wit_msg, &wit_contact).expect("classify");
            assert_eq!(out.tags, ["price-inquiry"]);
        });
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "| {lang} | {:.3} / {:.3} ms | {:.3} / {:.3} ms |",
            ms(fresh.0),
            ms(fresh.1),
            ms(kept.0),
            ms(kept.1)
        );
    }
}
