//! Train → serialise → predict, through the slice reader and a host-like reader.
#![cfg(feature = "train")]
use scrm_intent::*;
use std::cell::Cell;

fn rows() -> Vec<(String, String)> {
    let data = [
        ("where is my card", "card_arrival"),
        ("my card has not arrived yet", "card_arrival"),
        ("when will the card be delivered", "card_arrival"),
        ("how long does card delivery take", "card_arrival"),
        ("I want to cancel my order", "cancel_order"),
        ("please cancel order 12345", "cancel_order"),
        ("cancel the purchase I made", "cancel_order"),
        ("can you help me cancel an order", "cancel_order"),
        ("what is the exchange rate", "exchange_rate"),
        ("how much is one euro in dollars", "exchange_rate"),
        ("which rate do you use to exchange money", "exchange_rate"),
        ("exchange rates today", "exchange_rate"),
    ];
    data.iter()
        .map(|(t, i)| (t.to_string(), i.to_string()))
        .collect()
}

fn params() -> TrainParams {
    TrainParams {
        features: FeatureParams {
            hash_bits: 12,
            ..Default::default()
        },
        ..Default::default()
    }
}

/// A reader that only implements `read` (like the plugin's host call) and counts calls.
struct HostLike<'a> {
    bytes: &'a [u8],
    calls: Cell<usize>,
    bytes_read: Cell<usize>,
}
impl ModelReader for HostLike<'_> {
    fn size(&self) -> u64 {
        self.bytes.len() as u64
    }
    fn read(&self, offset: u64, len: u32) -> Vec<u8> {
        self.calls.set(self.calls.get() + 1);
        self.bytes_read.set(self.bytes_read.get() + len as usize);
        self.bytes[offset as usize..offset as usize + len as usize].to_vec()
    }
}

#[test]
fn predicts_the_trained_intents_from_the_serialised_model() {
    let m = fit(&rows(), &params()).unwrap();
    assert_eq!(m.classes, ["cancel_order", "card_arrival", "exchange_rate"]);
    let bytes = m.to_bytes();
    let p = predict(bytes.as_slice(), "My CARD still hasn't arrived").unwrap();
    assert_eq!(p.intent, "card_arrival");
    assert!(p.confidence > 1.0 / 3.0 && p.confidence <= 1.0);
    assert_eq!(p.top.len(), 3);
    assert_eq!(p.top[0].0, p.intent);
    assert!(p.top.windows(2).all(|w| w[0].1 >= w[1].1));
    let s: f32 = p.top.iter().map(|t| t.1).sum();
    assert!((s - 1.0).abs() < 1e-4);
    assert_eq!(
        predict(bytes.as_slice(), "please cancel my order")
            .unwrap()
            .intent,
        "cancel_order"
    );
    assert_eq!(
        predict(bytes.as_slice(), "euro exchange rate?")
            .unwrap()
            .intent,
        "exchange_rate"
    );
    // empty text: still a valid prediction (bias only)
    assert!(predict(bytes.as_slice(), "").is_ok());
}

#[test]
fn a_host_reader_reads_only_the_head_and_the_rows_it_needs() {
    let m = fit(&rows(), &params()).unwrap();
    let bytes = m.to_bytes();
    let host = HostLike {
        bytes: &bytes,
        calls: Cell::new(0),
        bytes_read: Cell::new(0),
    };
    let cl = Classifier::open(&host).unwrap();
    assert_eq!(host.calls.get(), 1, "a small head is fetched in one read");
    let mut ws = Workspace::default();
    for (t, _) in rows() {
        let a = cl.scores(&host, &t, &mut ws);
        let b = cl.scores(bytes.as_slice(), &t, &mut ws);
        assert_eq!(a, b);
    }
    // One read per distinct feature bucket, each exactly one row (n_classes bytes).
    host.calls.set(0);
    host.bytes_read.set(0);
    cl.scores(&host, "where is my card", &mut ws);
    assert!(host.calls.get() > 0);
    assert_eq!(host.bytes_read.get(), host.calls.get() * 3);
}

#[test]
fn quantised_scores_stay_close_to_f32() {
    let m = fit(&rows(), &params()).unwrap();
    let bytes = m.to_bytes();
    let cl = Classifier::open(bytes.as_slice()).unwrap();
    let mut ws = Workspace::default();
    for (t, _) in rows() {
        let a = m.scores(&t);
        let b = cl.scores(bytes.as_slice(), &t, &mut ws);
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 0.05, "{x} vs {y}");
        }
    }
}

#[test]
fn rejects_truncated_or_foreign_bytes() {
    let bytes = fit(&rows(), &params()).unwrap().to_bytes();
    assert_eq!(
        predict(&bytes[..10], "x").unwrap_err(),
        ModelError::Truncated
    );
    assert_eq!(
        predict(&bytes[..bytes.len() - 1], "x").unwrap_err(),
        ModelError::Truncated
    );
    let mut bad = bytes.clone();
    bad[0] = b'X';
    assert_eq!(
        predict(bad.as_slice(), "x").unwrap_err(),
        ModelError::BadMagic
    );
    let mut bad = bytes.clone();
    bad[8] = 9;
    assert_eq!(
        predict(bad.as_slice(), "x").unwrap_err(),
        ModelError::UnsupportedVersion(9)
    );
}

#[test]
fn training_is_deterministic() {
    assert_eq!(
        fit(&rows(), &params()).unwrap().to_bytes(),
        fit(&rows(), &params()).unwrap().to_bytes()
    );
}

#[test]
fn replacing_the_rules_keeps_the_predictions() {
    let bytes = fit(&rows(), &params()).unwrap().to_bytes();
    let text = Rules {
        rules: vec![Rule {
            tag: Some("logistics".into()),
            intents: vec!["card_arrival".into()],
            ..Rule::default()
        }],
        ..Rules::default()
    }
    .encode()
    .unwrap();
    let repacked = with_rules(&bytes, &text).unwrap();
    let cl = Classifier::open(repacked.as_slice()).unwrap();
    assert_eq!(cl.rules(), text);
    assert_eq!(Classifier::open(bytes.as_slice()).unwrap().rules(), "");
    for (t, _) in rows() {
        assert_eq!(
            predict(repacked.as_slice(), &t).unwrap(),
            predict(bytes.as_slice(), &t).unwrap()
        );
    }
    // Replacing again (a shorter section) still gives a valid model.
    let back = with_rules(&repacked, "").unwrap();
    assert_eq!(back, bytes);
}

#[test]
fn the_best_class_agrees_with_the_full_prediction() {
    let bytes = fit(&rows(), &params()).unwrap().to_bytes();
    let cl = Classifier::open(bytes.as_slice()).unwrap();
    let mut ws = Workspace::default();
    for (t, _) in rows() {
        let full = cl.predict(bytes.as_slice(), &t, 3, &mut ws);
        let (i, confidence) = cl.best(bytes.as_slice(), &t, &mut ws);
        assert_eq!(cl.class_name(i), full.intent);
        assert!((confidence - full.confidence).abs() < 1e-6, "{t}");
        assert_eq!(cl.predict(bytes.as_slice(), &t, 1, &mut ws).top.len(), 1);
    }
}
