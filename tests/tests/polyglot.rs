//! The keyword classifier in Rust, JavaScript and Python: one table of cases, run
//! through the real host against each language's component, with identical
//! assertions. The JavaScript and Python components are built from source by
//! [`scrm_e2e::polyglot`].

use scrm_e2e::polyglot::{js_guest, py_guest};
use scrm_e2e::*;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Instant;

/// What a case expects of the stored message.
#[derive(Debug)]
enum Expect {
    /// Classified: these tags (in any order), intent name and priority (`None`:
    /// JSON null).
    Classified {
        tags: &'static [&'static str],
        intent: Option<&'static str>,
        priority: Option<&'static str>,
    },
    /// The plugin refused its configuration; `classify_error` contains each text.
    InvalidConfig(&'static [&'static str]),
}

/// One message through one binding configuration.
#[derive(Debug)]
struct Case {
    name: &'static str,
    config: Option<&'static str>,
    text: &'static str,
    expect: Expect,
}

const fn tagged(
    tags: &'static [&'static str],
    intent: Option<&'static str>,
    priority: Option<&'static str>,
) -> Expect {
    Expect::Classified {
        tags,
        intent,
        priority,
    }
}

const VIP_TOML: &str = r#"
defaults = false   # only this rule
[[rules]]
tag = "vip"
regex = 'order\s*#?\d{6}'
priority = "urgent"
"#;

const EXTEND_TOML: &str = r#"
[[rules]]
tag = "vip"
keywords = ["gold member", "cliente oro"]
intent = "vip-request"
priority = "urgent"

[[rules]]
tag = "complaint"
keywords = ["broken"]
"#;

const CASES: &[Case] = &[
    Case {
        name: "builtin-en-price",
        config: None,
        text: "How much is the blue one?",
        expect: tagged(&["price-inquiry"], Some("price-inquiry"), None),
    },
    Case {
        name: "builtin-it-price",
        config: None,
        text: "Ciao, QUANTO COSTA la borsa?",
        expect: tagged(&["price-inquiry"], Some("price-inquiry"), None),
    },
    Case {
        name: "builtin-en-order",
        config: None,
        text: "Hi, where's my order??",
        expect: tagged(&["order-status"], Some("order-status"), None),
    },
    Case {
        name: "builtin-it-order-typographic-apostrophe-and-spaces",
        config: None,
        text: "Dov\u{2019}è   il\tmio pacco?",
        expect: tagged(&["order-status"], Some("order-status"), None),
    },
    Case {
        name: "builtin-it-complaint",
        config: None,
        text: "Faccio reclamo!",
        expect: tagged(&["complaint"], Some("complaint"), Some("high")),
    },
    Case {
        name: "builtin-it-discount",
        config: None,
        text: "C\u{2019}è uno sconto?",
        expect: tagged(&["discount-inquiry"], Some("discount-inquiry"), None),
    },
    Case {
        name: "builtin-it-purchase-and-discount",
        config: None,
        text: "Voglio acquistare il prodotto A: any discount?",
        expect: tagged(
            &["purchase-intent", "discount-inquiry"],
            Some("purchase-intent"),
            None,
        ),
    },
    Case {
        name: "builtin-en-purchase",
        config: None,
        text: "I'd like to buy the blue bag",
        expect: tagged(&["purchase-intent"], Some("purchase-intent"), None),
    },
    Case {
        name: "keywords-match-at-word-starts-only",
        config: None,
        text: "Your prices are fine but the spice was not",
        expect: tagged(&["price-inquiry"], Some("price-inquiry"), None),
    },
    Case {
        name: "no-rule-matches",
        config: None,
        text: "Does it come in another colour? The spice rack.",
        expect: tagged(&[], None, None),
    },
    Case {
        name: "complaint-is-high-and-the-first-matching-rule-gives-the-intent",
        config: None,
        text: "How much was it? I want a refund",
        expect: tagged(
            &["price-inquiry", "complaint"],
            Some("price-inquiry"),
            Some("high"),
        ),
    },
    Case {
        name: "toml-rules-replace-builtins-with-a-regex",
        config: Some(VIP_TOML),
        text: "how much for ORDER #123456?",
        expect: tagged(&["vip"], Some("vip"), Some("urgent")),
    },
    Case {
        name: "toml-rules-replace-builtins-nothing-else-matches",
        config: Some(VIP_TOML),
        text: "how much? I want a refund",
        expect: tagged(&[], None, None),
    },
    Case {
        name: "toml-rules-extend-builtins-highest-priority-wins-tags-once",
        config: Some(EXTEND_TOML),
        text: "Cliente oro here: it arrived broken, refund please",
        expect: tagged(&["complaint", "vip"], Some("complaint"), Some("urgent")),
    },
    Case {
        name: "json-rules-extend-builtins",
        config: Some(r#"{"rules":[{"tag":"greeting","keywords":["hello"],"intent":null}]}"#),
        text: "Hello! how much?",
        expect: tagged(&["price-inquiry", "greeting"], Some("price-inquiry"), None),
    },
    Case {
        name: "json-rules-replace-builtins-with-a-regex",
        config: Some(
            r#"{"defaults": false, "rules": [{"tag": "sku", "regex": "\\bsku-\\d{3}\\b", "priority": "low", "intent": "product-question"}]}"#,
        ),
        text: "Is SKU-042 in stock? How much?",
        expect: tagged(&["sku"], Some("product-question"), Some("low")),
    },
    Case {
        name: "unknown-top-level-key",
        config: Some("colour = 1\n"),
        text: "how much?",
        expect: Expect::InvalidConfig(&["invalid TOML config", "unknown field", "colour"]),
    },
    Case {
        name: "unknown-rule-key-in-json",
        config: Some(r#"{"rules":[{"tag":"x","keywords":["a"],"weight":2}]}"#),
        text: "how much?",
        expect: Expect::InvalidConfig(&["invalid JSON config", "unknown field", "weight"]),
    },
    Case {
        name: "rule-without-keywords-or-regex",
        config: Some("[[rules]]\ntag = \"x\"\n"),
        text: "how much?",
        expect: Expect::InvalidConfig(&["rules[0]", "needs keywords or a regex"]),
    },
    Case {
        name: "invalid-regex",
        config: Some(
            "[[rules]]\ntag = \"ok\"\nkeywords = [\"a\"]\n[[rules]]\ntag = \"x\"\nregex = \"(\"\n",
        ),
        text: "how much?",
        expect: Expect::InvalidConfig(&["rules[1]", "invalid regex"]),
    },
    Case {
        name: "unknown-priority",
        config: Some("[[rules]]\ntag = \"x\"\nkeywords = [\"a\"]\npriority = \"asap\"\n"),
        text: "how much?",
        expect: Expect::InvalidConfig(&["unknown priority", "asap"]),
    },
    Case {
        name: "malformed-toml",
        config: Some("defaults = \n"),
        text: "how much?",
        expect: Expect::InvalidConfig(&["invalid TOML config"]),
    },
    Case {
        name: "malformed-json",
        config: Some("{\"rules\": ["),
        text: "how much?",
        expect: Expect::InvalidConfig(&["invalid JSON config"]),
    },
];

/// Installs `wasm` once per case (a tenant each, its own config), sends each case's
/// message, and checks every stored message against the table.
async fn run_cases(language: &str, wasm: &Path) {
    let host = Host::start().await;
    let plugin = wasm
        .file_stem()
        .map(|s| s.to_string_lossy().replace('_', "-"))
        .unwrap_or_default();
    let started = Instant::now();
    // The first case uploads the component; the others bind the stored one by its
    // hash (a 12–18 MB upload per tenant would only measure the upload).
    let mut sha256 = None;
    for (i, case) in CASES.iter().enumerate() {
        host.tenant(&tenant(i), &[&pnid(i)], "IT").await;
        let binding = match &sha256 {
            None => {
                host.install(&tenant(i), "classifier", wasm, case.config)
                    .await
            }
            Some(sha) => {
                host.ok(
                    "PUT",
                    &format!("/v1/tenants/{}/plugins/classifier", tenant(i)),
                    Some(json!({"sha256": sha, "config": case.config})),
                )
                .await
            }
        };
        assert_eq!(binding["version"], 1, "{language} {}: {binding}", case.name);
        sha256 = Some(binding["sha256"].clone());
    }
    let installed = started.elapsed();
    for (i, case) in CASES.iter().enumerate() {
        let (status, body) = host
            .post_signed(
                &text_webhook(&pnid(i), "393471234567", &[("wamid.case", case.text)]),
                APP_SECRET,
            )
            .await;
        assert_eq!(status, 200, "{language} {}: {body}", case.name);
    }
    host.settle().await;
    eprintln!(
        "{language}: {} installs in {:.1} s, {} messages classified {:.1} s later",
        CASES.len(),
        installed.as_secs_f64(),
        CASES.len(),
        (started.elapsed() - installed).as_secs_f64()
    );
    for (i, case) in CASES.iter().enumerate() {
        let msgs = host.messages(&tenant(i)).await;
        assert_eq!(msgs.len(), 1, "{language} {}: {msgs:?}", case.name);
        check(language, case, &plugin, &msgs[0]);
    }
}

fn tenant(i: usize) -> String {
    format!("case-{i}")
}

fn pnid(i: usize) -> String {
    format!("3{i:03}")
}

fn check(language: &str, case: &Case, plugin: &str, m: &Value) {
    let at = format!("{language} {}: {m}", case.name);
    match case.expect {
        Expect::Classified {
            tags,
            intent,
            priority,
        } => {
            assert_eq!(m["classify_error"], Value::Null, "{at}");
            // The host stores tags as a set; the intent shows which rule came first.
            let mut got: Vec<&str> = m["tags"]
                .as_array()
                .unwrap_or_else(|| panic!("{at}"))
                .iter()
                .filter_map(Value::as_str)
                .collect();
            got.sort_unstable();
            let mut want = tags.to_vec();
            want.sort_unstable();
            assert_eq!(got, want, "{at}");
            assert_eq!(m["classification"]["intent"]["name"], json!(intent), "{at}");
            if intent.is_some() {
                assert_eq!(m["classification"]["intent"]["confidence"], 1.0, "{at}");
            }
            assert_eq!(m["classification"]["priority"], json!(priority), "{at}");
            assert!(
                m["classifier"]
                    .as_str()
                    .is_some_and(|c| c.starts_with(&format!("{plugin}@1 "))),
                "{at}"
            );
        }
        Expect::InvalidConfig(reasons) => {
            assert_eq!(m["tags"], json!([]), "{at}");
            let err = m["classify_error"].as_str().unwrap_or_default();
            assert!(err.starts_with("plugin_error: "), "{at}");
            assert!(err.contains("invalid config: "), "{at}");
            for reason in reasons {
                assert!(err.contains(reason), "{at}: missing {reason:?}");
            }
        }
    }
}

scrm_e2e::both_backends! {
    #[tokio::test]
    async fn rust_keyword_classifier_passes_the_shared_cases() {
        run_cases("rust", &guest("keyword-classifier")).await;
    }

    #[tokio::test]
    async fn javascript_keyword_classifier_passes_the_shared_cases() {
        let started = Instant::now();
        let wasm = js_guest();
        eprintln!(
            "javascript: component ready in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        run_cases("javascript", &wasm).await;
    }

    #[tokio::test]
    async fn python_keyword_classifier_passes_the_shared_cases() {
        let started = Instant::now();
        let wasm = py_guest();
        eprintln!(
            "python: component ready in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        run_cases("python", &wasm).await;
    }
}
