use super::*;
use scrm_plugin_sdk::Checkpoint;

fn params() -> Params {
    Params {
        intent: "order-status".into(),
        min_confidence: 60,
        keywords: serde_json::from_str(defaults::KEYWORDS).unwrap(),
        reply: defaults::REPLY.into(),
        no_order: defaults::NO_ORDER.into(),
        not_shipped: defaults::NOT_SHIPPED.into(),
        notify: defaults::NOTIFY.into(),
        template: "order_update".into(),
        template_language: "it".into(),
        status_words: serde_json::from_str(defaults::STATUS_WORDS).unwrap(),
        notify_tags: vec![
            "in-transit".into(),
            "out-for-delivery".into(),
            "delivered".into(),
        ],
        time_zone: "Europe/Rome".into(),
        language: "it".into(),
        window: 2 * 3_600_000,
        date_format: "%d/%m".into(),
        poll_interval: 2 * 3_600_000,
        poll_for: 14 * 86_400_000,
        lookback: 60 * 86_400_000,
    }
}

#[test]
fn the_question_by_keyword_or_confident_intent() {
    let p = params();
    assert_eq!(
        asks(&p, "Ciao, dov'è il mio pacco?", None),
        Some(Some("it".into()))
    );
    assert_eq!(
        asks(&p, "where's my parcel??", None),
        Some(Some("en".into()))
    );
    assert_eq!(
        asks(&p, "any news?", Some(("order-status", 0.9))),
        Some(None)
    );
    assert_eq!(asks(&p, "any news?", Some(("order-status", 0.3))), None);
    assert_eq!(asks(&p, "quanto costa?", None), None);
}

#[test]
fn the_parcel_view_has_the_status_in_words_and_the_window_in_the_zone() {
    let t = Tracking {
        number: "1Z9".into(),
        carrier: "brt".into(),
        tag: "in-transit".into(),
        status_text: "In Transit".into(),
        // 2026-12-10 13:30 UTC.
        expected_from: Some(1_796_909_400_000),
        expected_to: Some(1_796_909_400_000),
        link: Some("https://t.example/1Z9".into()),
        checkpoints: vec![Checkpoint {
            at: 0,
            tag: "in-transit".into(),
            message: "Partito".into(),
            location: Some("Bologna".into()),
        }],
    };
    let who = Customer {
        zone: "Europe/London".into(),
        language: "en".into(),
    };
    let v = parcel_view(&params(), &t, &who).unwrap();
    assert_eq!(v["status"], "on its way");
    assert_eq!(v["window"], "10/12 11:30–15:30");
    assert_eq!(v["location"], "Bologna");
    let bad = Customer {
        zone: "Mars/Olympus".into(),
        language: "en".into(),
    };
    assert!(matches!(
        parcel_view(&params(), &t, &bad),
        Err(FlowError::InvalidConfig(_))
    ));
}

#[test]
fn the_declared_defaults_parse() {
    let info = info();
    assert!(info.params.iter().all(|p| p.default.is_some()));
    let kw: BTreeMap<String, Vec<String>> = serde_json::from_str(defaults::KEYWORDS).unwrap();
    assert_eq!(kw.len(), 2);
    let words: BTreeMap<String, BTreeMap<String, String>> =
        serde_json::from_str(defaults::STATUS_WORDS).unwrap();
    assert_eq!(words["it"].len(), words["en"].len());
}
