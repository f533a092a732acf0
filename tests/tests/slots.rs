//! The slots beyond the classifier: responders and their actions, each slot's world
//! checked at install, and the key-value store private to each tenant.

use scrm_e2e::*;
use serde_json::json;

const RESPONDER_RULES: &str = r#"
[[rules]]
when_tags = ["price-inquiry"]
reply = "Our price list: https://example.com/prices"
assign = "sales"
tag = "auto-replied"
once_per_conversation = true

[[rules]]
when_keywords = ["opening hours"]
template = { name = "hours", language = "en_US", parameters = ["9-18"] }
"#;

scrm_e2e::both_backends! {
    #[tokio::test]
    async fn responder_actions_are_recorded_once_per_conversation() {
        let host = Host::start().await;
        host.tenant("acme", &["100"], "US").await;
        host.install("acme", "classifier", &guest("keyword-classifier"), None)
            .await;
        let r = host
            .install(
                "acme",
                "responder",
                &guest("rule-responder"),
                Some(RESPONDER_RULES),
            )
            .await;
        assert_eq!(r["slot"], "responder");
        let body = text_webhook(
            "100",
            "16505551234",
            &[
                ("wamid.1", "How much is it?"),
                ("wamid.2", "how much with shipping?"),
                ("wamid.3", "What are your opening hours?"),
            ],
        );
        host.post_signed(&body, APP_SECRET).await;
        host.settle().await;
        let m = host.messages("acme").await;
        assert_eq!(
            m[0]["actions"],
            json!([
                {"type": "tag", "tag": "auto-replied"},
                {"type": "reply", "text": "Our price list: https://example.com/prices"},
                {"type": "assign", "to": "sales"}
            ])
        );
        assert_eq!(m[0]["tags"], json!(["auto-replied", "price-inquiry"]));
        assert!(
            m[0]["responder"]
                .as_str()
                .unwrap()
                .starts_with("rule-responder@1 sha256:")
        );
        // Same conversation: the rule already fired (remembered in the plugin's key-value store).
        assert_eq!(m[1]["actions"], json!([]));
        assert_eq!(m[1]["tags"], json!(["price-inquiry"]));
        assert_eq!(
            m[2]["actions"],
            json!([{"type": "template", "name": "hours", "language": "en_US", "parameters": ["9-18"]}])
        );
    }

    #[tokio::test]
    async fn a_broken_responder_config_is_reported_on_the_message() {
        let host = Host::start().await;
        host.tenant("acme", &["100"], "US").await;
        host.install(
            "acme",
            "responder",
            &guest("rule-responder"),
            Some("[[rules]]\nreply = \"hi\"\n"),
        )
        .await;
        host.post_signed(
            &text_webhook("100", "16505551234", &[("wamid.1", "hello")]),
            APP_SECRET,
        )
        .await;
        host.settle().await;
        let m = &host.messages("acme").await[0];
        let err = m["respond_error"].as_str().unwrap();
        assert!(
            err.starts_with("plugin_error: tenant acme, plugin rule-responder@1"),
            "{err}"
        );
        assert!(
            err.contains("rules[0] needs when_tags or when_keywords"),
            "{err}"
        );
        assert!(
            m["classify_error"].is_null(),
            "no classifier installed, none failed"
        );
    }

    #[tokio::test]
    async fn install_checks_the_component_fits_the_slot() {
        let host = Host::start().await;
        host.tenant("acme", &["100"], "US").await;
        let responder = host.upload(&guest("rule-responder")).await;
        assert_eq!(responder["slot"], "responder");
        assert_eq!(responder["world"], "scrm:plugin/responder@0.1.2");
        let (s, v) = host
            .api(
                "PUT",
                "/v1/tenants/acme/plugins/classifier",
                Some(json!({"sha256": responder["sha256"]})),
            )
            .await;
        assert_eq!(
            (s.as_u16(), v["error"]["code"].as_str()),
            (422, Some("wrong_slot")),
            "{v}"
        );
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("scrm:plugin/responder@0.1.2"),
            "{v}"
        );
    }

    #[tokio::test]
    async fn each_tenant_sees_only_its_own_key_value_store() {
        let host = Host::start().await;
        host.tenant("alpha", &["100"], "US").await;
        host.tenant("beta", &["200"], "US").await;
        let hostile = guest("hostile-classifier");
        host.install(
            "alpha",
            "classifier",
            &hostile,
            Some("behaviour = \"kv-write\""),
        )
        .await;
        host.install(
            "beta",
            "classifier",
            &hostile,
            Some("behaviour = \"kv-read\""),
        )
        .await;
        host.post_signed(
            &text_webhook("100", "16505551234", &[("wamid.a", "hi")]),
            APP_SECRET,
        )
        .await;
        host.settle().await;
        host.post_signed(
            &text_webhook("200", "16505551234", &[("wamid.b", "hi")]),
            APP_SECRET,
        )
        .await;
        host.settle().await;
        assert_eq!(
            host.messages("alpha").await[0]["tags"],
            json!(["kv-found-tenant-data"])
        );
        assert_eq!(
            host.messages("beta").await[0]["tags"],
            json!(["kv-empty"]),
            "beta cannot read alpha's data"
        );
        // A new version of the same plugin keeps the tenant's data.
        host.install(
            "alpha",
            "classifier",
            &hostile,
            Some("behaviour = \"kv-read\""),
        )
        .await;
        host.post_signed(
            &text_webhook("100", "16505551234", &[("wamid.c", "hi")]),
            APP_SECRET,
        )
        .await;
        host.settle().await;
        let alpha = host.messages("alpha").await;
        assert_eq!(alpha[1]["tags"], json!(["kv-found-tenant-data"]));
    }
}
