//! The intent classifier end to end: a model trained by the host tooling on the
//! Bitext fixture, installed as two tenants' binding configuration (each with its own
//! rules), and real webhooks classified by the real plugin.

use scrm_e2e::*;
use scrm_intent::{data, rules, train};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::OnceLock;

fn bitext() -> PathBuf {
    repo_root().join("../shared/fixtures/intents/bitext-train.csv")
}

/// The Bitext model with the default (seed) rules, trained once per test process.
fn model() -> &'static [u8] {
    static MODEL: OnceLock<Vec<u8>> = OnceLock::new();
    MODEL.get_or_init(|| {
        let examples = data::load_csv(&bitext()).expect("load bitext");
        train::train(&examples, &rules::defaults(), &Default::default())
            .expect("train")
            .model
    })
}

/// A tenant's own rules: a product table, a sentiment word, an urgent keyword rule, no
/// intent tags.
const SHOP_RULES: &str = r#"
intent_tags = false

[[rules]]
tag = "sales-opportunity"
keywords = ["how much", "quanto costa"]

[[rules]]
tag = "legal"
priority = "urgent"
keywords = ["lawyer", "avvocato"]

[[products]]
code = "BAG-RED-01"
names = ["red bag", "borsa rossa"]

[sentiment]
gorgeous = 3.5
"#;

fn by_wamid<'a>(msgs: &'a [Value], wamid: &str) -> &'a Value {
    msgs.iter()
        .find(|m| m["wamid"] == wamid)
        .unwrap_or_else(|| panic!("no message {wamid} in {msgs:?}"))
}

fn entities(m: &Value) -> Vec<(String, String)> {
    m["classification"]["entities"]
        .as_array()
        .unwrap_or_else(|| panic!("no entities: {m}"))
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap_or_default().to_string(),
                e["value"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn has_entity(m: &Value, kind: &str, value: &str) -> bool {
    entities(m).iter().any(|(k, v)| k == kind && v == value)
}

fn sentiment(m: &Value) -> f64 {
    m["classification"]["sentiment"]
        .as_f64()
        .unwrap_or_else(|| panic!("no sentiment: {m}"))
}

scrm_e2e::both_backends! {
    #[tokio::test]
    async fn a_trained_model_classifies_webhooks_with_each_tenants_rules() {
        let host = Host::start().await;
        host.tenant("support", &["100"], "US").await;
        host.tenant("shop", &["200"], "IT").await;
        let wasm = guest("intent-classifier");
        let shop_model = train::replace_rules(
            model(),
            &rules::parse(SHOP_RULES, "shop rules").expect("rules"),
        )
        .expect("repack");
        let a = host
            .install_bytes("support", "classifier", &wasm, model())
            .await;
        let b = host
            .install_bytes("shop", "classifier", &wasm, &shop_model)
            .await;
        assert_eq!(
            a["sha256"], b["sha256"],
            "one component, two configurations"
        );

        let support = [
            (
                "wamid.track",
                "hi, I need to track order #3707955617, where is it?",
            ),
            (
                "wamid.complaint",
                "I want to file a complaint, your service is terrible!",
            ),
            (
                "wamid.refund",
                "I paid $160 for this article, how do I get a refund?",
            ),
            (
                "wamid.price",
                "how much do you charge for shipping to Canada?",
            ),
            ("wamid.thanks", "thank you, the delivery was great"),
        ];
        host.post_signed(&text_webhook("100", "16505551234", &support), APP_SECRET)
            .await;
        let shop = [
            (
                "wamid.borsa",
                "Ciao! Quanto costa la borsa rossa? È bellissima",
            ),
            ("wamid.lawyer", "I will call my lawyer about order 778899"),
            ("wamid.gorgeous", "what a gorgeous bag"),
        ];
        host.post_signed(&text_webhook("200", "393471234567", &shop), APP_SECRET)
            .await;
        host.settle().await;

        let msgs = host.messages("support").await;
        assert_eq!(msgs.len(), support.len());
        for m in &msgs {
            assert!(m["classify_error"].is_null(), "{m}");
            assert!(
                m["classifier"]
                    .as_str()
                    .is_some_and(|c| c.starts_with("intent-classifier@1 ")),
                "{m}"
            );
            let confidence = m["classification"]["intent"]["confidence"]
                .as_f64()
                .unwrap_or_else(|| panic!("no confidence: {m}"));
            assert!((0.0..=1.0).contains(&confidence), "{m}");
            assert!((0.0..=1.0).contains(&sentiment(m)), "{m}");
        }

        // Order status → the intent, its tag, the logistics tag and the order number.
        let m = by_wamid(&msgs, "wamid.track");
        assert_eq!(m["classification"]["intent"]["name"], "track_order", "{m}");
        assert_eq!(m["tags"], json!(["logistics", "track-order"]));
        assert!(has_entity(m, "order-number", "3707955617"), "{m}");
        assert_eq!(m["classification"]["priority"], "normal");

        // Complaint → high priority and a negative sentiment.
        let m = by_wamid(&msgs, "wamid.complaint");
        assert_eq!(m["classification"]["intent"]["name"], "complaint", "{m}");
        assert_eq!(m["tags"], json!(["complaint"]));
        assert_eq!(m["classification"]["priority"], "high");
        assert!(sentiment(m) < 0.5, "{m}");

        // Refund → the amount with its currency.
        let m = by_wamid(&msgs, "wamid.refund");
        assert_eq!(m["classification"]["intent"]["name"], "get_refund", "{m}");
        assert!(has_entity(m, "amount", "160 USD"), "{m}");

        // "How much" is a sales opportunity whatever the model's intent.
        let m = by_wamid(&msgs, "wamid.price");
        let tags = m["tags"].as_array().expect("tags");
        assert!(tags.contains(&json!("sales-opportunity")), "{m}");

        let m = by_wamid(&msgs, "wamid.thanks");
        assert!(sentiment(m) > 0.7, "{m}");
        assert_eq!(m["classification"]["priority"], "normal");

        // The shop's rules: no intent tags, its products, its words, its urgent rule.
        let msgs = host.messages("shop").await;
        let m = by_wamid(&msgs, "wamid.borsa");
        assert_eq!(m["tags"], json!(["sales-opportunity"]));
        assert!(has_entity(m, "sku", "BAG-RED-01"), "{m}");
        assert!(sentiment(m) > 0.5, "{m}");
        let m = by_wamid(&msgs, "wamid.lawyer");
        assert_eq!(m["tags"], json!(["legal"]));
        assert_eq!(m["classification"]["priority"], "urgent");
        assert!(has_entity(m, "order-number", "778899"), "{m}");
        let m = by_wamid(&msgs, "wamid.gorgeous");
        assert!(sentiment(m) > 0.7, "{m}");
    }

    #[tokio::test]
    async fn a_configuration_that_is_not_a_model_fails_the_call_with_the_reason() {
        let host = Host::start().await;
        host.tenant("acme", &["100"], "US").await;
        let wasm = guest("intent-classifier");
        host.install("acme", "classifier", &wasm, Some("defaults = true\n"))
            .await;
        host.post_signed(
            &text_webhook("100", "16505551234", &[("wamid.1", "where is my order?")]),
            APP_SECRET,
        )
        .await;
        host.settle().await;
        let msgs = host.messages("acme").await;
        assert_eq!(msgs[0]["tags"], json!([]));
        let err = msgs[0]["classify_error"].as_str().expect("classify_error");
        assert!(err.contains("invalid config"), "{err}");
        assert!(err.contains("not an intent model"), "{err}");
    }
}
