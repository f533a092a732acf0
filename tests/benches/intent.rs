//! One intent-classifier call with a fresh instance (store + instantiate + call), the
//! way the pipeline runs every message, with models trained on the two fixtures; and
//! the same call for a blank and a two-letter text, to split the cost.
//! Run: `cargo bench -p scrm-e2e --bench intent`.

use criterion::{Criterion, criterion_group, criterion_main};
use scrm_e2e::bench;
use scrm_intent::{data, rules, train};

fn intent_call(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let host = bench::plugin_host(dir.path());
    let sha = bench::install(&host, "intent-classifier");
    let contact = bench::contact();
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
        host.activate(&bench::binding(
            name,
            "classifier",
            &sha,
            "intent-classifier",
            &model,
        ))
        .expect("activate");
        let binding = host.snapshot(name).classifier.clone().expect("binding");
        let msg = bench::message(text);
        let out = scrm::slots::classify(&host, &binding, &msg, &contact).expect("classify");
        assert_eq!(out.details["intent"]["name"], intent, "{}", out.details);
        c.bench_function(&format!("intent_call_fresh_instance/{name}"), |b| {
            b.iter(|| scrm::slots::classify(&host, &binding, &msg, &contact).expect("classify"))
        });
        // Where the time goes: the same call for a blank text (model head, rules and
        // entities, no prediction) and for a two-letter text (plus a prediction over a
        // handful of features, sentiment and rules).
        for (case, text) in [("blank", " "), ("hi", "hi")] {
            let msg = bench::message(text);
            c.bench_function(&format!("intent_call_fresh_instance/{name}/{case}"), |b| {
                b.iter(|| scrm::slots::classify(&host, &binding, &msg, &contact).expect("classify"))
            });
        }
    }
}

criterion_group!(benches, intent_call);
criterion_main!(benches);
