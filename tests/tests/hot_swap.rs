//! Zero-drop hot swap: a tenant's classifier is replaced 100 times while 10,000
//! webhooks flow. Nothing may fail or go missing, and every message must be tagged by
//! exactly one version — the one recorded on it.

use scrm_e2e::*;
use serde_json::json;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

const WEBHOOKS: usize = 10_000;
const SWAPS: usize = 100;
const SENDERS: usize = 16;

fn config(version: usize) -> String {
    format!("defaults = false\n[[rules]]\ntag = \"v{version}\"\nkeywords = [\"hello\"]\n")
}

scrm_e2e::both_backends! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn swapping_a_classifier_100_times_under_10000_webhooks_drops_nothing() {
        let host = Arc::new(Host::start().await);
        host.tenant("swap", &["100"], "US").await;
        let comp = host.upload(&guest("keyword-classifier")).await;
        let sha = comp["sha256"].as_str().unwrap().to_string();
        let install = |version: usize| {
            let host = host.clone();
            let sha = sha.clone();
            async move {
                let v = host
                    .ok(
                        "PUT",
                        "/v1/tenants/swap/plugins/classifier",
                        Some(json!({"sha256": sha, "config": config(version)})),
                    )
                    .await;
                assert_eq!(v["version"], version as i64);
            }
        };
        install(1).await;

        let sent = Arc::new(AtomicUsize::new(0));
        let mut senders = Vec::new();
        for s in 0..SENDERS {
            let host = host.clone();
            let sent = sent.clone();
            senders.push(tokio::spawn(async move {
                let mut i = s;
                while i < WEBHOOKS {
                    // Traffic flows at the pace the host processes it (a backlog of a
                    // few hundred bodies at most), so the swaps land among messages
                    // being classified, on either backend, however fast it acks.
                    if i % 100 < SENDERS {
                        loop {
                            let inbox = host.ok("GET", "/v1/inbox", None).await;
                            if inbox["pending"].as_i64().unwrap_or(0) < 400 {
                                break;
                            }
                            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                        }
                    }
                    let body = text_webhook(
                        "100",
                        "16505551234",
                        &[(&format!("wamid.{i}"), "hello there")],
                    );
                    let (status, text) = host.post_signed(&body, APP_SECRET).await;
                    assert_eq!(status, 200, "webhook {i}: {text}");
                    sent.fetch_add(1, Ordering::Relaxed);
                    i += SENDERS;
                }
            }));
        }
        // Swap while traffic flows: spread the 99 remaining installs over the run.
        for version in 2..=SWAPS {
            while sent.load(Ordering::Relaxed) < (version - 1) * WEBHOOKS / SWAPS {
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
            install(version).await;
        }
        for s in senders {
            s.await.unwrap();
        }
        let inbox = host.settle().await;
        assert_eq!(inbox["done"], WEBHOOKS as i64, "{inbox}");
        assert_eq!(inbox["rejected"], 0);

        let messages = host.messages("swap").await;
        assert_eq!(messages.len(), WEBHOOKS, "no message dropped");
        let wamids: HashSet<&str> = messages
            .iter()
            .map(|m| m["wamid"].as_str().unwrap())
            .collect();
        assert_eq!(wamids.len(), WEBHOOKS);
        let mut per_version: BTreeMap<usize, usize> = BTreeMap::new();
        for m in &messages {
            assert!(m["classify_error"].is_null(), "{m}");
            let label = m["classifier"]
                .as_str()
                .unwrap_or_else(|| panic!("unclassified: {m}"));
            let version: usize = label
                .strip_prefix("keyword-classifier@")
                .and_then(|rest| rest.split(' ').next())
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("label {label}"));
            assert_eq!(
                m["tags"],
                json!([format!("v{version}")]),
                "tags come from the recorded version: {m}"
            );
            *per_version.entry(version).or_default() += 1;
        }
        assert!(
            per_version.len() > SWAPS / 2,
            "traffic saw many versions: {per_version:?}"
        );
        let plugins = host.ok("GET", "/v1/tenants/swap/plugins", None).await;
        assert_eq!(plugins["items"].as_array().unwrap().len(), SWAPS);
    }
}
