//! Plugins: installing real components per tenant, their configuration, and
//! containment of misbehaving ones.

use scrm::config::PluginLimits;
use scrm_e2e::*;
use serde_json::{Value, json};

async fn put_binding(
    host: &Host,
    tenant: &str,
    sha: &str,
    body: serde_json::Value,
) -> (u16, Value) {
    let mut body = body;
    body["sha256"] = json!(sha);
    let (s, v) = host
        .api(
            "PUT",
            &format!("/v1/tenants/{tenant}/plugins/classifier"),
            Some(body),
        )
        .await;
    (s.as_u16(), v)
}

async fn send_and_read(
    host: &Host,
    tenant_pnid: &str,
    tenant: &str,
    wamid: &str,
    text: &str,
) -> Value {
    host.post_signed(
        &text_webhook(tenant_pnid, "16505551234", &[(wamid, text)]),
        APP_SECRET,
    )
    .await;
    host.settle().await;
    host.messages(tenant)
        .await
        .into_iter()
        .find(|m| m["wamid"] == wamid)
        .expect("message stored")
}

#[test]
fn a_warm_instance_answers_like_fresh_ones_call_after_call() {
    let dir = tempfile::tempdir().unwrap();
    let host = scrm_e2e::bench::plugin_host(dir.path());
    let sha = scrm_e2e::bench::install(&host, "keyword-classifier");
    host.activate(&scrm_e2e::bench::binding(
        "t",
        "classifier",
        &sha,
        "keyword-classifier",
        b"",
    ))
    .unwrap();
    let binding = host.snapshot("t").classifier.clone().unwrap();
    let mut warm = host.warm_classifier(binding.clone()).unwrap();
    let contact = scrm_e2e::bench::contact();
    for (i, text) in [
        "quanto costa?",
        "where is my order",
        "hello",
        "I want a refund",
    ]
    .iter()
    .cycle()
    .take(200)
    .enumerate()
    {
        let msg = scrm_e2e::bench::message(text);
        let fresh = scrm::slots::classify(&host, &binding, &msg, &contact).unwrap();
        assert_eq!(
            warm.classify(
                &scrm::slots::to_wit_message(&msg),
                &scrm::slots::to_wit_contact(&contact)
            )
            .unwrap(),
            fresh,
            "call {i}: {text}"
        );
    }
}

#[test]
fn warm_isolation_reuses_one_instance_and_discards_one_that_faulted() {
    let dir = tempfile::tempdir().unwrap();
    let host = scrm_e2e::bench::plugin_host(dir.path());
    let contact = scrm_e2e::bench::contact();
    let warm = |tenant: &str, package: &str, config: &[u8]| {
        let sha = scrm_e2e::bench::install(&host, package);
        let mut spec = scrm_e2e::bench::binding(tenant, "classifier", &sha, package, config);
        spec.limits = json!({"isolation": "warm"});
        host.activate(&spec).unwrap();
        host.snapshot(tenant).classifier.clone().unwrap()
    };
    let good = warm("good", "keyword-classifier", b"");
    for text in ["quanto costa?", "where is my order", "quanto costa?"] {
        let msg = scrm_e2e::bench::message(text);
        let out = scrm::slots::classify(&host, &good, &msg, &contact).unwrap();
        assert!(!out.tags.is_empty(), "{text}: {out:?}");
        // The one instance went back to the pool after each call.
        assert_eq!(host.warm_idle(), 1, "{text}");
    }
    let bad = warm("bad", "hostile-classifier", b"behaviour = \"panic\"");
    for _ in 0..2 {
        let msg = scrm_e2e::bench::message("hi");
        let err = scrm::slots::classify(&host, &bad, &msg, &contact).unwrap_err();
        // A fresh instance each time (the trapped one is dropped), failing the same way.
        assert_eq!(err.code(), "plugin_trap", "{err}");
        assert!(
            err.to_string()
                .contains("hostile plugin panicked on purpose"),
            "{err}"
        );
        assert_eq!(
            host.warm_idle(),
            1,
            "only the good binding's instance is kept"
        );
    }
}

#[tokio::test]
async fn isolation_is_a_per_binding_setting_checked_at_install() {
    let host = Host::start().await;
    host.tenant("acme", &["100"], "US").await;
    let comp = host.upload(&guest("keyword-classifier")).await;
    let sha = comp["sha256"].as_str().unwrap();
    let (s, v) = put_binding(
        &host,
        "acme",
        sha,
        json!({"limits": {"isolation": "sometimes"}}),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (400, Some("invalid_limits")),
        "{v}"
    );
    assert!(
        v["error"]["message"].as_str().unwrap().contains("`warm`"),
        "{v}"
    );
    let (s, v) = put_binding(&host, "acme", sha, json!({"limits": {"isolation": "warm"}})).await;
    assert_eq!(s, 201, "{v}");
    for i in 0..3 {
        let m = send_and_read(&host, "100", "acme", &format!("wamid.w{i}"), "how much?").await;
        assert_eq!(m["tags"], json!(["price-inquiry"]), "{m}");
    }
}

scrm_e2e::both_backends! {
    #[tokio::test]
    async fn one_component_serves_tenants_with_different_configs() {
        let host = Host::start().await;
        host.tenant("shop-it", &["100"], "IT").await;
        host.tenant("shop-vip", &["200"], "US").await;
        let wasm = guest("keyword-classifier");
        let a = host.install("shop-it", "classifier", &wasm, None).await;
        let config = r#"
    defaults = false
    [[rules]]
    tag = "vip"
    keywords = ["gold member"]
    priority = "urgent"
    "#;
        let b = host
            .install("shop-vip", "classifier", &wasm, Some(config))
            .await;
        assert_eq!(a["sha256"], b["sha256"], "the same component is shared");
        assert_eq!(a["version"], 1);

        let text = "I'm a gold member, how much is shipping?";
        host.post_signed(
            &text_webhook("100", "393471234567", &[("wamid.1", text)]),
            APP_SECRET,
        )
        .await;
        host.post_signed(
            &text_webhook("200", "16505551234", &[("wamid.1", text)]),
            APP_SECRET,
        )
        .await;
        host.settle().await;
        let it = &host.messages("shop-it").await[0];
        let vip = &host.messages("shop-vip").await[0];
        assert_eq!(it["tags"], json!(["price-inquiry"]));
        assert_eq!(vip["tags"], json!(["vip"]));
        assert_eq!(vip["classification"]["priority"], "urgent");

        let list = host.ok("GET", "/v1/tenants/shop-vip/plugins", None).await;
        assert_eq!(list["items"][0]["slot"], "classifier");
        assert_eq!(list["items"][0]["active"], true);
        assert_eq!(list["items"][0]["name"], "keyword-classifier");
    }

    #[tokio::test]
    async fn a_new_install_applies_to_the_next_message_and_is_recorded_on_it() {
        let host = Host::start().await;
        host.tenant("acme", &["100"], "US").await;
        let wasm = guest("keyword-classifier");
        host.install("acme", "classifier", &wasm, None).await;
        host.post_signed(
            &text_webhook("100", "16505551234", &[("wamid.1", "refund please")]),
            APP_SECRET,
        )
        .await;
        host.settle().await;
        host.install(
            "acme",
            "classifier",
            &wasm,
            Some("defaults = false\n[[rules]]\ntag = \"money-back\"\nkeywords = [\"refund\"]\n"),
        )
        .await;
        host.post_signed(
            &text_webhook("100", "16505551234", &[("wamid.2", "refund please")]),
            APP_SECRET,
        )
        .await;
        host.settle().await;
        let msgs = host.messages("acme").await;
        assert_eq!(msgs[0]["tags"], json!(["complaint"]));
        assert!(
            msgs[0]["classifier"]
                .as_str()
                .unwrap()
                .starts_with("keyword-classifier@1 ")
        );
        assert_eq!(msgs[1]["tags"], json!(["money-back"]));
        assert!(
            msgs[1]["classifier"]
                .as_str()
                .unwrap()
                .starts_with("keyword-classifier@2 ")
        );
    }

    #[tokio::test]
    async fn binary_configs_travel_as_base64() {
        let host = Host::start().await;
        host.tenant("acme", &["100"], "US").await;
        let comp = host.upload(&guest("keyword-classifier")).await;
        let sha = comp["sha256"].as_str().unwrap();
        // `defaults = false` and one rule tagging "hello" as b64, base64-encoded.
        let b64 = "ZGVmYXVsdHMgPSBmYWxzZQpbW3J1bGVzXV0KdGFnID0gImI2NCIKa2V5d29yZHMgPSBbImhlbGxvIl0K";
        let (s, v) = host
            .api(
                "PUT",
                "/v1/tenants/acme/plugins/classifier",
                Some(json!({"sha256": sha, "config": "", "config_base64": b64})),
            )
            .await;
        assert_eq!(
            (s.as_u16(), v["error"]["code"].as_str()),
            (400, Some("ambiguous_config"))
        );
        let (s, v) = host
            .api(
                "PUT",
                "/v1/tenants/acme/plugins/classifier",
                Some(json!({"sha256": sha, "config_base64": "not base64!"})),
            )
            .await;
        assert_eq!(
            (s.as_u16(), v["error"]["code"].as_str()),
            (400, Some("invalid_base64"))
        );
        host.ok(
            "PUT",
            "/v1/tenants/acme/plugins/classifier",
            Some(json!({"sha256": sha, "config_base64": b64})),
        )
        .await;
        host.post_signed(
            &text_webhook("100", "16505551234", &[("wamid.1", "hello, how much?")]),
            APP_SECRET,
        )
        .await;
        host.settle().await;
        assert_eq!(host.messages("acme").await[0]["tags"], json!(["b64"]));
    }

    #[tokio::test]
    async fn install_refuses_what_is_not_a_plugin_with_the_reason() {
        let host = Host::start().await;
        host.tenant("acme", &["100"], "US").await;
        let post = |bytes: Vec<u8>| {
            let http = host.http.clone();
            let url = format!("{}/v1/components?name=x", host.base);
            async move {
                let r = http
                    .post(url)
                    .bearer_auth(TOKEN)
                    .body(bytes)
                    .send()
                    .await
                    .unwrap();
                (r.status().as_u16(), r.json::<Value>().await.unwrap())
            }
        };
        let (status, v) = post(b"definitely not wasm".to_vec()).await;
        assert_eq!(status, 422);
        assert_eq!(v["error"]["code"], "not_a_component");
        // A core module (the empty one) is not a component.
        let (status, v) = post(b"\0asm\x01\0\0\0".to_vec()).await;
        assert_eq!(status, 422, "{v}");
        assert_eq!(v["error"]["code"], "not_a_component");
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("core module"),
            "{v}"
        );
        // An empty component imports and exports nothing: not a classifier.
        let (status, v) = post(b"\0asm\x0d\0\x01\0".to_vec()).await;
        assert_eq!(status, 422, "{v}");
        assert_eq!(v["error"]["code"], "unsupported_world", "{v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("scrm:plugin/classifier@0.1.2"),
            "{v}"
        );
        let (status, v) = post(Vec::new()).await;
        assert_eq!(
            (status, v["error"]["code"].as_str()),
            (400, Some("empty_body"))
        );

        let (status, v) = host
            .api(
                "PUT",
                "/v1/tenants/acme/plugins/translator",
                Some(json!({"sha256": "00"})),
            )
            .await;
        assert_eq!(
            (status.as_u16(), v["error"]["code"].as_str()),
            (400, Some("unknown_slot"))
        );
        let (status, v) = host
            .api(
                "PUT",
                "/v1/tenants/acme/plugins/classifier",
                Some(json!({"sha256": "00"})),
            )
            .await;
        assert_eq!(
            (status.as_u16(), v["error"]["code"].as_str()),
            (404, Some("not_found"))
        );
        let (status, _) = host
            .api(
                "PUT",
                "/v1/tenants/nobody/plugins/classifier",
                Some(json!({"sha256": "00"})),
            )
            .await;
        assert_eq!(status, 404);
    }

    /// Each misbehaviour fails its own call only: the message is stored untagged with
    /// the failure (naming tenant, plugin and cause), and a neighbour keeps working.
    #[tokio::test]
    async fn misbehaving_classifiers_fail_only_their_own_call() {
        // The deadline leaves the memory bomb time to reach the cap on a loaded machine.
        let host = Host::start_with(PluginLimits {
            deadline_ms: 1000,
            memory_mib: 32,
            // Fuel has its own test; here the loop must meet the deadline.
            fuel: 1_000_000_000_000_000,
            ..PluginLimits::default()
        })
        .await;
        let hostile = guest("hostile-classifier");
        let good = guest("keyword-classifier");
        let cases = [
            ("loop", "plugin_timeout", "timed out after 1000 ms"),
            (
                "memory-bomb",
                "plugin_memory_cap",
                "memory cap of 32 MiB exceeded",
            ),
            ("panic", "plugin_trap", "hostile plugin panicked on purpose"),
            // The guest's own stack lives in its linear memory and runs out first.
            ("recursion", "plugin_trap", "out of bounds memory access"),
            (
                "oversized-output",
                "plugin_output_too_large",
                "exceeds the cap of 65536 bytes",
            ),
            ("guest-error", "plugin_error", "refusing on purpose"),
        ];
        host.tenant("neighbour", &["100"], "US").await;
        host.install("neighbour", "classifier", &good, None).await;
        for (i, (behaviour, _, _)) in cases.iter().enumerate() {
            let pnid = format!("2{i:02}");
            host.tenant(behaviour, &[&pnid], "US").await;
            host.install(
                behaviour,
                "classifier",
                &hostile,
                Some(&format!("behaviour = \"{behaviour}\"")),
            )
            .await;
        }
        for (i, (behaviour, _, _)) in cases.iter().enumerate() {
            let pnid = format!("2{i:02}");
            let (status, _) = host
                .post_signed(
                    &text_webhook(&pnid, "16505551234", &[("wamid.h", "how much?")]),
                    APP_SECRET,
                )
                .await;
            assert_eq!(status, 200, "{behaviour}");
            host.post_signed(
                &text_webhook(
                    "100",
                    "16505551234",
                    &[(&format!("wamid.n{i}"), "how much?")],
                ),
                APP_SECRET,
            )
            .await;
        }
        host.settle().await;
        for (behaviour, code, cause) in cases {
            let msgs = host.messages(behaviour).await;
            assert_eq!(msgs.len(), 1, "{behaviour}: the message is stored");
            let m = &msgs[0];
            assert_eq!(m["tags"], json!([]), "{behaviour}");
            let err = m["classify_error"]
                .as_str()
                .unwrap_or_else(|| panic!("{behaviour}: {m}"));
            assert!(err.starts_with(code), "{behaviour}: {err}");
            assert!(err.contains(cause), "{behaviour}: {err}");
            assert!(
                err.contains(&format!("tenant {behaviour}")),
                "{behaviour}: {err}"
            );
            assert!(
                err.contains("plugin hostile-classifier@1"),
                "{behaviour}: {err}"
            );
        }
        let neighbour = host.messages("neighbour").await;
        assert_eq!(neighbour.len(), cases.len());
        assert!(
            neighbour
                .iter()
                .all(|m| m["tags"] == json!(["price-inquiry"])),
            "{neighbour:#?}"
        );
        let metrics = host.metrics().await;
        assert!(metrics.contains(r#"result="plugin_timeout""#), "{metrics}");
        assert!(metrics.contains(r#"scrm_plugin_call_seconds_count{tenant="neighbour",slot="classifier",plugin="keyword-classifier@1"} 6"#), "{metrics}");
    }

    #[tokio::test]
    async fn apps_tenants_and_plugins_survive_a_restart() {
        let host = Host::start().await;
        host.tenant("acme", &["100"], "IT").await;
        host.install("acme", "classifier", &guest("keyword-classifier"), None)
            .await;
        let host = host.restart().await;
        host.post_signed(
            &text_webhook("100", "393471234567", &[("wamid.r", "quanto costa?")]),
            APP_SECRET,
        )
        .await;
        host.settle().await;
        let msgs = host.messages("acme").await;
        assert_eq!(msgs[0]["tags"], json!(["price-inquiry"]));
        let tenants = host.ok("GET", "/v1/tenants", None).await;
        assert_eq!(tenants["items"][0]["default_region"], "IT");
    }

    #[tokio::test]
    async fn rollback_returns_to_the_previous_version_at_once() {
        let host = Host::start().await;
        host.tenant("acme", &["100"], "US").await;
        let comp = host.upload(&guest("keyword-classifier")).await;
        let sha = comp["sha256"].as_str().unwrap();
        assert_eq!(put_binding(&host, "acme", sha, json!({})).await.0, 201);
        let v2 = json!({"config": "defaults = false\n[[rules]]\ntag = \"money-back\"\nkeywords = [\"refund\"]\n"});
        assert_eq!(put_binding(&host, "acme", sha, v2).await.0, 201);
        let m = send_and_read(&host, "100", "acme", "wamid.1", "refund").await;
        assert_eq!(m["tags"], json!(["money-back"]));

        let back = host
            .ok("POST", "/v1/tenants/acme/plugins/classifier/rollback", None)
            .await;
        assert_eq!(back["version"], 1);
        let m = send_and_read(&host, "100", "acme", "wamid.2", "refund").await;
        assert_eq!(m["tags"], json!(["complaint"]));
        assert!(
            m["classifier"]
                .as_str()
                .unwrap()
                .starts_with("keyword-classifier@1 ")
        );

        let (s, v) = host
            .api("POST", "/v1/tenants/acme/plugins/classifier/rollback", None)
            .await;
        assert_eq!(
            (s.as_u16(), v["error"]["code"].as_str()),
            (404, Some("not_found")),
            "{v}"
        );
        let fwd = host
            .ok(
                "POST",
                "/v1/tenants/acme/plugins/classifier/rollback",
                Some(json!({"to": 2})),
            )
            .await;
        assert_eq!(fwd["version"], 2);
        let list = host.ok("GET", "/v1/tenants/acme/plugins", None).await;
        let active: Vec<i64> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| b["active"] == true)
            .map(|b| b["version"].as_i64().unwrap())
            .collect();
        assert_eq!(active, [2]);
        let m = send_and_read(&host, "100", "acme", "wamid.3", "refund").await;
        assert_eq!(m["tags"], json!(["money-back"]));
    }

    #[tokio::test]
    async fn repeated_faults_quarantine_a_binding_until_reenabled_or_replaced() {
        let host = Host::start_with(PluginLimits {
            quarantine_after: 3,
            ..PluginLimits::default()
        })
        .await;
        host.tenant("acme", &["100"], "US").await;
        host.install(
            "acme",
            "classifier",
            &guest("hostile-classifier"),
            Some("behaviour = \"panic\""),
        )
        .await;
        let mut errors = Vec::new();
        for i in 0..5 {
            let m = send_and_read(&host, "100", "acme", &format!("wamid.{i}"), "hi").await;
            errors.push(
                m["classify_error"]
                    .as_str()
                    .unwrap()
                    .split(':')
                    .next()
                    .unwrap()
                    .to_string(),
            );
        }
        assert_eq!(
            errors,
            [
                "plugin_trap",
                "plugin_trap",
                "plugin_trap",
                "plugin_quarantined",
                "plugin_quarantined"
            ]
        );
        let list = host.ok("GET", "/v1/tenants/acme/plugins", None).await;
        assert!(list["items"][0]["quarantined_at"].is_i64(), "{list}");
        assert_eq!(
            list["items"][0]["quarantine_reason"],
            "3 consecutive faults, last plugin_trap"
        );
        let metrics = host.metrics().await;
        assert!(
            metrics.contains(r#"scrm_plugin_quarantined{tenant="acme",slot="classifier",plugin="hostile-classifier@1"} 1"#),
            "{metrics}"
        );

        // Quarantine survives a restart.
        let host = host.restart().await;
        let m = send_and_read(&host, "100", "acme", "wamid.r", "hi").await;
        assert!(
            m["classify_error"]
                .as_str()
                .unwrap()
                .starts_with("plugin_quarantined"),
            "{m}"
        );

        // Re-enabled: calls run again.
        host.ok("POST", "/v1/tenants/acme/plugins/classifier/enable", None)
            .await;
        let m = send_and_read(&host, "100", "acme", "wamid.e", "hi").await;
        assert!(
            m["classify_error"]
                .as_str()
                .unwrap()
                .starts_with("plugin_trap"),
            "{m}"
        );

        // A new version replaces the quarantined one.
        host.install(
            "acme",
            "classifier",
            &guest("hostile-classifier"),
            Some("behaviour = \"ok\""),
        )
        .await;
        let m = send_and_read(&host, "100", "acme", "wamid.n", "hi").await;
        assert_eq!(m["tags"], json!(["hostile-ok"]));
    }

    #[tokio::test]
    async fn per_binding_limits_apply_and_fuel_is_a_limit_of_its_own() {
        let host = Host::start().await;
        host.tenant("acme", &["100"], "US").await;
        let comp = host.upload(&guest("hostile-classifier")).await;
        let sha = comp["sha256"].as_str().unwrap();
        let (s, v) = put_binding(
            &host,
            "acme",
            sha,
            json!({"limits": {"memory_mib": 100000}}),
        )
        .await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (400, Some("invalid_limits")),
            "{v}"
        );
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("memory_mib"),
            "{v}"
        );
        let (s, v) = put_binding(&host, "acme", sha, json!({"limits": {"cpu": 1}})).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (400, Some("invalid_limits")),
            "{v}"
        );

        let body = json!({"config": "behaviour = \"loop\"", "limits": {"deadline_ms": 10000, "fuel": 1000000}});
        assert_eq!(put_binding(&host, "acme", sha, body).await.0, 201);
        let m = send_and_read(&host, "100", "acme", "wamid.f", "hi").await;
        let err = m["classify_error"].as_str().unwrap();
        assert!(err.starts_with("plugin_fuel_exhausted"), "{err}");
        assert!(
            err.contains("instruction budget of 1000000 exhausted"),
            "{err}"
        );

        let body = json!({"config": "behaviour = \"memory-bomb\"", "limits": {"memory_mib": 8}});
        assert_eq!(put_binding(&host, "acme", sha, body).await.0, 201);
        let m = send_and_read(&host, "100", "acme", "wamid.m", "hi").await;
        assert!(
            m["classify_error"]
                .as_str()
                .unwrap()
                .contains("memory cap of 8 MiB exceeded"),
            "{m}"
        );
    }
}
