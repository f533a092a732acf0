//! Meta's webhook: handshake, signatures, durable intake and parsing of every
//! fixture payload into stored, queryable fields.

use scrm_e2e::*;
use serde_json::{Value, json};

scrm_e2e::both_backends! {
    /// The pipeline stores a batch while the plugin threads answer the previous one,
    /// over several lanes on PostgreSQL: each contact's messages are still stored,
    /// classified and answered in the order they came, whatever their neighbours do.
    #[tokio::test]
    async fn each_contacts_messages_are_answered_in_the_order_they_came() {
        let host = Host::start().await;
        host.tenant("acme", &["100"], "US").await;
        host.install("acme", "classifier", &guest("keyword-classifier"), None)
            .await;
        let rules = "[[rules]]\nwhen_keywords = [\"order\"]\nreply = \"On it\"\n";
        host.install("acme", "responder", &guest("rule-responder"), Some(rules))
            .await;
        const CONTACTS: usize = 4;
        const EACH: usize = 30;
        // The contacts write at once; each one's messages one after another (the
        // next once the last is acknowledged: the order Meta delivers them in).
        let url = format!("{}/webhooks/whatsapp", host.base);
        let now = scrm_store::now_ms() / 1000;
        let mut set = tokio::task::JoinSet::new();
        for c in 0..CONTACTS {
            let (http, url) = (host.http.clone(), url.clone());
            set.spawn(async move {
                let mut statuses = Vec::new();
                for i in 0..EACH {
                    // Sent now, so that the 24-hour window is open for the replies.
                    let body = String::from_utf8(text_webhook(
                        "100",
                        &format!("1650555{c:04}"),
                        &[(&format!("wamid.{c}.{i:03}"), "where is my order")],
                    ))
                    .unwrap()
                    .replace("\"1750000000\"", &format!("\"{now}\""))
                    .into_bytes();
                    let sig = scrm_wire::signature::sign(APP_SECRET.as_bytes(), &body);
                    let r = http.post(&url).header("x-hub-signature-256", sig).body(body);
                    statuses.push(r.send().await.unwrap().status().as_u16());
                }
                statuses
            });
        }
        let statuses: Vec<u16> = set.join_all().await.concat();
        assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
        host.settle().await;
        let messages = host.messages("acme").await;
        assert_eq!(messages.len(), CONTACTS * EACH);
        let id_of: std::collections::HashMap<String, i64> = messages
            .iter()
            .map(|m| (m["wamid"].as_str().unwrap().to_string(), m["id"].as_i64().unwrap()))
            .collect();
        let outbox = host.all("/v1/tenants/acme/outbox").await;
        for c in 0..CONTACTS {
            let wamids: Vec<String> = (0..EACH).map(|i| format!("wamid.{c}.{i:03}")).collect();
            let ids: Vec<i64> = wamids.iter().map(|w| id_of[w]).collect();
            assert!(ids.is_sorted(), "contact {c}: stored out of order: {ids:?}");
            // Its replies, in the order they were queued (outbox ids), answer its
            // messages in the order they came.
            let mut replies: Vec<(i64, i64)> = outbox
                .iter()
                .filter(|o| o["to"] == format!("1650555{c:04}"))
                .map(|o| {
                    let key = o["idempotency_key"].as_str().unwrap();
                    let message: i64 = key.split(':').nth(1).unwrap().parse().unwrap();
                    (o["id"].as_i64().unwrap(), message)
                })
                .collect();
            replies.sort();
            let answered: Vec<i64> = replies.iter().map(|r| r.1).collect();
            assert_eq!(answered, ids, "contact {c}: answered out of order");
        }
    }

    #[tokio::test]
    async fn verification_handshake_answers_the_challenge_only_for_the_right_token() {
        let host = Host::start().await;
        host.tenant("acme", &["111"], "US").await;
        let get = |q: &str| {
            let url = format!("{}/webhooks/whatsapp?{q}", host.base);
            let http = host.http.clone();
            async move {
                let r = http.get(url).send().await.unwrap();
                (r.status().as_u16(), r.text().await.unwrap())
            }
        };
        let ok = get(&format!(
            "hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=1158201444"
        ))
        .await;
        assert_eq!(ok, (200, "1158201444".to_string()));
        let wrong = get("hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1").await;
        assert_eq!(wrong.0, 403);
        assert!(wrong.1.contains("verification_failed"), "{}", wrong.1);
        assert_eq!(
            get(&format!(
                "hub.mode=unsubscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=1"
            ))
            .await
            .0,
            403
        );
        assert_eq!(get("hub.challenge=1").await.0, 403);
    }

    #[tokio::test]
    async fn bad_signatures_are_refused_and_store_nothing() {
        let host = Host::start().await;
        host.tenant("acme", &[FIXTURE_PNID], "US").await;
        let body = fixture("text_message");

        let (status, text) = host.post_webhook(&body, None).await;
        assert_eq!(status, 401);
        assert!(text.contains("signature_missing"), "{text}");

        let (status, text) = host.post_webhook(&body, Some("sha1=abc")).await;
        assert_eq!(status, 401);
        assert!(text.contains("signature_malformed"), "{text}");

        let (status, text) = host.post_signed(&body, "not-the-app-secret").await;
        assert_eq!(status, 401);
        assert!(text.contains("signature_mismatch"), "{text}");

        // A correct signature over a different body does not verify this one.
        let sig = scrm_wire::signature::sign(APP_SECRET.as_bytes(), b"{}");
        let (status, _) = host.post_webhook(&body, Some(&sig)).await;
        assert_eq!(status, 401);

        let inbox = host.settle().await;
        assert_eq!(
            (
                inbox["pending"].as_i64(),
                inbox["done"].as_i64(),
                inbox["rejected"].as_i64()
            ),
            (Some(0), Some(0), Some(0))
        );
        assert!(host.messages("acme").await.is_empty());
        let metrics = host.metrics().await;
        assert!(
            metrics.contains("scrm_webhooks_total{result=\"signature_mismatch\"} 2"),
            "{metrics}"
        );
    }

    #[tokio::test]
    async fn escaped_unicode_signature_form_is_accepted() {
        let host = Host::start().await;
        host.tenant("acme", &[FIXTURE_PNID], "US").await;
        let body = fixture("contact_sharing_message");
        assert!(!body.is_ascii(), "the fixture has non-ASCII names");
        let escaped = scrm_wire::signature::escape_non_ascii(&body).expect("escaped form");
        let sig = scrm_wire::signature::sign(APP_SECRET.as_bytes(), &escaped);
        let (status, _) = host.post_webhook(&body, Some(&sig)).await;
        assert_eq!(status, 200);
        host.settle().await;
        let msgs = host.messages("acme").await;
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0]["content"]["contacts"][0]["name"], "Lucía Gómez");
    }

    /// Every fixture, each routed to its own tenant (their wamids repeat across files),
    /// with the keyword classifier installed everywhere.
    #[tokio::test]
    async fn all_sixteen_fixtures_are_accepted_and_their_fields_stored() {
        let host = Host::start().await;
        let wasm = guest("keyword-classifier");
        let mut names: Vec<String> = std::fs::read_dir(fixtures_dir())
            .unwrap()
            .filter_map(|e| {
                let p = e.unwrap().path();
                (p.extension()? == "json")
                    .then(|| p.file_stem().unwrap().to_string_lossy().into_owned())
            })
            .collect();
        names.sort();
        assert_eq!(names.len(), 16, "{names:?}");
        for (i, name) in names.iter().enumerate() {
            let pnid = format!("9000{i:02}");
            host.tenant(name, &[&pnid], "US").await;
            host.install(name, "classifier", &wasm, None).await;
            let (status, text) = host
                .post_signed(&with_pnid(&fixture(name), &pnid), APP_SECRET)
                .await;
            assert_eq!(status, 200, "{name}: {text}");
            assert_eq!(text, "EVENT_RECEIVED");
        }
        let inbox = host.settle().await;
        assert_eq!(inbox["done"], 16, "{inbox}");
        assert_eq!(inbox["rejected"], 0, "{inbox}");

        let one = |name: &'static str| {
            let host = &host;
            async move {
                let msgs = host.messages(name).await;
                assert_eq!(msgs.len(), 1, "{name}: {msgs:#?}");
                let m = msgs.into_iter().next().unwrap();
                assert_eq!(m["direction"], "inbound");
                assert_eq!(m["status"], "received");
                assert!(m["wamid"].as_str().unwrap().starts_with("wamid."));
                assert!(m["classify_error"].is_null(), "{m}");
                assert!(
                    m["classifier"]
                        .as_str()
                        .unwrap()
                        .starts_with("keyword-classifier@1 sha256:")
                );
                m
            }
        };

        let m = one("text_message").await;
        assert_eq!(m["type"], "text");
        assert_eq!(
            m["wamid"],
            "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
        );
        assert_eq!(m["timestamp"], 1_749_416_383_000i64);
        assert_eq!(m["text"], "Does it come in another color?");
        assert_eq!(
            m["content"],
            json!({"type": "text", "body": "Does it come in another color?"})
        );
        assert_eq!(m["tags"], json!([]));

        let m = one("image_message").await;
        assert_eq!(m["type"], "image");
        assert_eq!(m["content"]["id"], "1003383421387256");
        assert_eq!(m["content"]["mime_type"], "image/jpeg");
        assert_eq!(
            m["content"]["sha256"],
            "SfInY0gGKTsJlUWbwxC1k+FAD0FZHvzwfpvO0zX0GUI="
        );
        assert_eq!(m["text"], "Taj Mahal");

        let m = one("button_message").await;
        assert_eq!(m["type"], "button");
        assert_eq!(m["content"]["id"], "Unsubscribe");
        assert_eq!(
            m["context"]["replied_to"],
            "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJFNjk2OTMwNEZCQjhGMzUyQUYA"
        );

        let m = one("contact_sharing_message").await;
        assert_eq!(m["type"], "contacts");
        assert_eq!(m["content"]["contacts"][0]["name"], "Lucía Gómez");
        assert_eq!(
            m["content"]["contacts"][0]["phones"],
            json!(["+1 (983) 555-2319"])
        );
        assert_eq!(m["content"]["contacts"][0]["organization"], "Google");

        let m = one("interactive_button_reply_message").await;
        assert_eq!(
            m["content"],
            json!({"type": "interactive_reply", "id": "cancel-button", "title": "Cancel", "description": null})
        );

        let m = one("interactive_list_reply_message").await;
        assert_eq!(m["content"]["id"], "priority_express");
        assert_eq!(m["content"]["title"], "Priority Mail Express");
        assert_eq!(m["content"]["description"], "Next Day to 2 Days");

        let m = one("location_message").await;
        assert_eq!(m["content"]["latitude"], 37.44221496582);
        assert_eq!(m["content"]["longitude"], -122.16165924072);
        assert_eq!(m["content"]["name"], "Philz Coffee");
        assert_eq!(
            m["content"]["address"],
            "101 Forest Ave, Palo Alto, CA 94301"
        );

        let m = one("order_message").await;
        assert_eq!(m["content"]["catalog_id"], "194836987003835");
        assert_eq!(
            m["content"]["items"],
            json!([
                {"product_retailer_id": "di9ozbzfi4", "quantity": 2, "item_price": 30.0, "currency": "USD"},
                {"product_retailer_id": "nqryix03ez", "quantity": 1, "item_price": 25.0, "currency": "USD"}
            ])
        );

        let m = one("reaction_message").await;
        assert_eq!(m["content"]["emoji"], "👍");
        assert_eq!(
            m["content"]["message_id"],
            "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0RTJEOTc2ODVERUY5RDlGNkYA"
        );

        let m = one("system_message").await;
        assert_eq!(m["type"], "system");
        assert_eq!(m["content"]["kind"], "user_changed_number");
        assert_eq!(m["content"]["new_wa_id"], "12195555358");

        let m = one("text_message_from_click_to_whatsapp_ad").await;
        assert_eq!(m["text"], "Hello! Can I get more info on this?");
        assert_eq!(m["context"]["ad_source_id"], "120226305854810726");
        assert_eq!(
            m["context"]["referral"]["source_url"],
            "https://fb.me/3cr4Wqqkv"
        );
        assert_eq!(m["context"]["referral"]["media_type"], "image");
        assert_eq!(
            m["raw"]["referral"]["ctwa_clid"]
                .as_str()
                .map(|s| s.starts_with("Aff-")),
            Some(true)
        );

        let m = one("text_message_with_context_product_inquiry").await;
        assert_eq!(m["context"]["referred_product"], "di9ozbzfi4");
        assert_eq!(m["text"], "Is this still available?");

        let m = one("unsupported_message").await;
        assert_eq!(m["type"], "unsupported");
        assert_eq!(m["raw"]["errors"][0]["code"], 131051);
        assert_eq!(
            m["errors"],
            json!([{"code": 131051, "title": "Message type unknown", "message": "Message type unknown",
                    "details": "Message type is currently not supported."}])
        );

        // The sender became a contact with an E.164 number and profile name.
        for name in ["text_message", "image_message", "order_message"] {
            let contacts = host.all(&format!("/v1/tenants/{name}/contacts")).await;
            assert_eq!(contacts.len(), 1, "{contacts:#?}");
            assert_eq!(contacts[0]["wa_id"], "16505551234");
            assert_eq!(contacts[0]["phone"], "+16505551234");
            assert_eq!(contacts[0]["name"], "Sheena Nelson");
            let convs = host.all(&format!("/v1/tenants/{name}/conversations")).await;
            assert_eq!(convs.len(), 1);
            assert_eq!(convs[0]["contact_id"], contacts[0]["id"]);
        }

        // Group notifications are not messages: kept raw and counted, per item.
        for name in [
            "group_create_message",
            "group_remove_participants",
            "group_settings_update",
        ] {
            assert!(host.messages(name).await.is_empty(), "{name}");
        }
        let unhandled = inbox["unhandled"].as_array().unwrap();
        let count = |reason: &str, kind: &str| {
            unhandled
                .iter()
                .find(|u| u["reason"] == reason && u["kind"] == kind)
                .map(|u| u["count"].as_i64().unwrap())
                .unwrap_or(0)
        };
        assert_eq!(count("unmodeled", "groups"), 3, "{inbox}");
        assert_eq!(count("unmodeled", "unsupported"), 1, "{inbox}");
    }

    #[tokio::test]
    async fn the_same_webhook_delivered_twice_yields_one_message() {
        let host = Host::start().await;
        host.tenant("acme", &[FIXTURE_PNID], "US").await;
        let body = fixture("text_message");
        for _ in 0..2 {
            assert_eq!(host.post_signed(&body, APP_SECRET).await.0, 200);
        }
        let inbox = host.settle().await;
        assert_eq!(inbox["done"], 2);
        assert_eq!(host.messages("acme").await.len(), 1);
        let metrics = host.metrics().await;
        assert!(
            metrics.contains("scrm_messages_duplicate_total 1"),
            "{metrics}"
        );
    }

    #[tokio::test]
    async fn a_body_with_three_messages_yields_three_tagged_messages() {
        let host = Host::start().await;
        host.tenant("acme", &["555"], "IT").await;
        host.install("acme", "classifier", &guest("keyword-classifier"), None)
            .await;
        let body = text_webhook(
            "555",
            "393471234567",
            &[
                ("wamid.a", "Ciao, quanto costa la borsa?"),
                ("wamid.b", "Dov'è il mio pacco?"),
                ("wamid.c", "Voglio fare un reclamo"),
            ],
        );
        assert_eq!(host.post_signed(&body, APP_SECRET).await.0, 200);
        host.settle().await;
        let msgs = host.messages("acme").await;
        let tags: Vec<(String, Value)> = msgs
            .iter()
            .map(|m| (m["wamid"].as_str().unwrap().to_string(), m["tags"].clone()))
            .collect();
        assert_eq!(
            tags,
            vec![
                ("wamid.a".to_string(), json!(["price-inquiry"])),
                ("wamid.b".to_string(), json!(["order-status"])),
                ("wamid.c".to_string(), json!(["complaint"])),
            ]
        );
        assert_eq!(msgs[2]["classification"]["priority"], "high");
        assert_eq!(msgs[0]["classification"]["intent"]["name"], "price-inquiry");
        let contacts = host.all("/v1/tenants/acme/contacts").await;
        assert_eq!(contacts.len(), 1);
        assert_eq!(contacts[0]["phone"], "+393471234567");
        let convs = host.all("/v1/tenants/acme/conversations").await;
        assert_eq!(
            convs[0]["tags"],
            json!(["complaint", "order-status", "price-inquiry"])
        );
        let by_tag = host.all("/v1/tenants/acme/messages?tag=complaint").await;
        assert_eq!(by_tag.len(), 1);
        assert_eq!(by_tag[0]["wamid"], "wamid.c");
    }

    #[tokio::test]
    async fn unknown_types_unrouted_numbers_and_non_webhooks_are_kept_and_counted() {
        let host = Host::start().await;
        host.tenant("acme", &["555"], "US").await;

        // A message type this host does not model: stored raw, counted, never a 5xx.
        let body = serde_json::to_vec(&json!({
            "object": "whatsapp_business_account",
            "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "1", "phone_number_id": "555"},
                "messages": [{"from": "16505551234", "id": "wamid.foo", "timestamp": "1750000000",
                              "type": "hologram", "hologram": {"beam": 3}}]
            }}]}]
        }))
        .unwrap();
        assert_eq!(host.post_signed(&body, APP_SECRET).await.0, 200);

        // A number no tenant owns: acknowledged, kept, counted as unrouted.
        let (status, _) = host
            .post_signed(
                &text_webhook("999", "16505551234", &[("wamid.x", "hi")]),
                APP_SECRET,
            )
            .await;
        assert_eq!(status, 200);

        // Signed JSON that is not a WhatsApp notification: kept, marked rejected.
        assert_eq!(
            host.post_signed(br#"{"hello": 1}"#, APP_SECRET).await.0,
            200
        );

        let inbox = host.settle().await;
        assert_eq!(inbox["rejected"], 1, "{inbox}");
        let unhandled = inbox["unhandled"].to_string();
        assert!(
            unhandled.contains(r#"{"count":1,"kind":"hologram","reason":"unmodeled"}"#),
            "{unhandled}"
        );
        assert!(
            unhandled.contains(r#"{"count":1,"kind":"text","reason":"unrouted"}"#),
            "{unhandled}"
        );
        let msgs = host.messages("acme").await;
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0]["type"], "hologram");
        assert_eq!(msgs[0]["raw"]["hologram"]["beam"], 3);
        let metrics = host.metrics().await;
        assert!(
            metrics.contains(r#"scrm_items_unhandled_total{reason="unmodeled",kind="hologram"} 1"#),
            "{metrics}"
        );
    }
}
