//! One classifier call with a fresh instance (store + instantiate + call), the way
//! the pipeline runs every message. Run: `cargo bench -p scrm-e2e --bench classifier`.

use criterion::{Criterion, criterion_group, criterion_main};
use scrm::config::PluginLimits;
use scrm::plugins::PluginHost;
use scrm::store::contacts::Contact;
use scrm::store::plugins::BindingRow;
use scrm::whatsapp::payload::{self, Event};

fn bench(c: &mut Criterion) {
    let wasm = scrm_e2e::guest("keyword-classifier");
    let bytes = std::fs::read(&wasm).expect("read component");
    let dir = tempfile::tempdir().expect("tempdir");
    let host = PluginHost::new(
        PluginLimits::default(),
        dir.path().join("components"),
        dir.path().join("cache"),
    )
    .expect("host");
    let (inspected, _) = host.inspect(&bytes).expect("inspect");
    host.save_component(&inspected.sha256, &bytes)
        .expect("save");
    host.activate(&BindingRow {
        tenant_id: "bench".into(),
        slot: "classifier".into(),
        version: 1,
        sha256: inspected.sha256.clone(),
        name: "keyword-classifier".into(),
        config: Vec::new(),
        limits: serde_json::json!({}),
        http: serde_json::json!({}),
        created_at: 0,
        active: true,
        quarantined_at: None,
        quarantine_reason: None,
    })
    .expect("activate");
    let binding = host.snapshot("bench").classifier.clone().expect("binding");
    let body = scrm_e2e::text_webhook(
        "1",
        "393471234567",
        &[("wamid.b", "Ciao, quanto costa la borsa rossa?")],
    );
    let msg = match payload::parse(&body).expect("parse").events().remove(0) {
        Event::Message(m) => m,
        other => panic!("unexpected event {other:?}"),
    };
    let contact = Contact {
        id: 1,
        wa_id: Some("393471234567".into()),
        user_id: None,
        phone: Some("+393471234567".into()),
        name: Some("Bench".into()),
        created_at: 0,
        updated_at: 0,
    };
    let out = host.classify(&binding, &msg, &contact).expect("classify");
    assert_eq!(out.tags, ["price-inquiry"]);
    c.bench_function("classifier_call_fresh_instance", |b| {
        b.iter(|| host.classify(&binding, &msg, &contact).expect("classify"))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
