//! One intent-classifier call with a fresh instance (store + instantiate + call), the
//! way the pipeline runs every message, with models trained on the two fixtures.
//! Run: `cargo bench -p scrm-e2e --bench intent`.

use criterion::{Criterion, criterion_group, criterion_main};
use scrm::classifier::{data, rules, train};
use scrm::config::PluginLimits;
use scrm::plugins::PluginHost;
use scrm::store::contacts::Contact;
use scrm::store::plugins::BindingRow;
use scrm::whatsapp::payload::{self, Event};

fn bench(c: &mut Criterion) {
    let wasm = scrm_e2e::guest("intent-classifier");
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
    let contact = Contact {
        id: 1,
        wa_id: Some("16505551234".into()),
        user_id: None,
        phone: Some("+16505551234".into()),
        name: Some("Bench".into()),
        created_at: 0,
        updated_at: 0,
    };
    let cases = [
        (
            "bitext",
            "I need to track order #3707955617, where is it? I paid $160",
            "track_order",
        ),
        (
            "banking77",
            "My card still hasn't arrived after two weeks, what should I do?",
            "card_arrival",
        ),
    ];
    for (name, text, intent) in cases {
        let csv =
            scrm_e2e::repo_root().join(format!("../shared/fixtures/intents/{name}-train.csv"));
        let examples = data::load_csv(&csv).expect("load fixture");
        let model = train::train(&examples, &rules::defaults(), &Default::default())
            .expect("train")
            .model;
        host.activate(&BindingRow {
            tenant_id: name.into(),
            slot: "classifier".into(),
            version: 1,
            sha256: inspected.sha256.clone(),
            name: "intent-classifier".into(),
            config: model,
            limits: serde_json::json!({}),
            http: serde_json::json!({}),
            created_at: 0,
            active: true,
            quarantined_at: None,
            quarantine_reason: None,
        })
        .expect("activate");
        let binding = host.snapshot(name).classifier.clone().expect("binding");
        let body = scrm_e2e::text_webhook("1", "16505551234", &[("wamid.b", text)]);
        let msg = match payload::parse(&body).expect("parse").events().remove(0) {
            Event::Message(m) => m,
            other => panic!("unexpected event {other:?}"),
        };
        let out = host.classify(&binding, &msg, &contact).expect("classify");
        assert_eq!(out.details["intent"]["name"], intent, "{}", out.details);
        c.bench_function(&format!("intent_call_fresh_instance/{name}"), |b| {
            b.iter(|| host.classify(&binding, &msg, &contact).expect("classify"))
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
