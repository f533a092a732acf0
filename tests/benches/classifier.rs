//! One classifier call with a fresh instance (store + instantiate + call), the way
//! the pipeline runs every message. Run: `cargo bench -p scrm-e2e --bench classifier`.

use criterion::{Criterion, criterion_group, criterion_main};
use scrm_e2e::bench;

fn classifier_call(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let host = bench::plugin_host(dir.path());
    let sha = bench::install(&host, "keyword-classifier");
    host.activate(&bench::binding(
        "bench",
        "classifier",
        &sha,
        "keyword-classifier",
        b"",
    ))
    .expect("activate");
    let binding = host.snapshot("bench").classifier.clone().expect("binding");
    let msg = bench::message("Ciao, quanto costa la borsa rossa?");
    let contact = bench::contact();
    let out = scrm::slots::classify(&host, &binding, &msg, &contact).expect("classify");
    assert_eq!(out.tags, ["price-inquiry"]);
    c.bench_function("classifier_call_fresh_instance", |b| {
        b.iter(|| scrm::slots::classify(&host, &binding, &msg, &contact).expect("classify"))
    });
}

criterion_group!(benches, classifier_call);
criterion_main!(benches);
