//! Every inbound webhook type end to end: one batched body holding every shared
//! fixture, edits and revokes, system notices, statuses that arrive out of order,
//! account-level events and marketing preferences, STOP / START keywords.
//!
//! Payloads come from ../shared/fixtures/webhooks (Meta's examples) and
//! tests/fixtures/synthetic (written for the gaps; see its README).

use scrm_e2e::*;

use serde_json::{Value, json};
use std::path::PathBuf;

/// A synthetic payload's bytes, by file stem.
fn synthetic(name: &str) -> Vec<u8> {
    let path = repo_root().join(format!("tests/fixtures/synthetic/{name}.json"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// A text-message webhook body with one message sent at `ts` (Unix seconds).
fn text_at(pnid: &str, from: &str, wamid: &str, text: &str, ts: i64) -> Vec<u8> {
    serde_json::to_vec(&json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [
        {"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550000000", "phone_number_id": pnid},
            "contacts": [{"profile": {"name": "Test Customer"}, "wa_id": from}],
            "messages": [{"from": from, "id": wamid, "timestamp": ts.to_string(), "type": "text", "text": {"body": text}}]
        }}]}]}))
    .unwrap()
}

/// One message of `tenant` by wamid.
async fn message(host: &Host, tenant: &str, wamid: &str) -> Value {
    host.messages(tenant)
        .await
        .into_iter()
        .find(|m| m["wamid"] == wamid)
        .unwrap_or_else(|| panic!("{tenant}: no message {wamid}"))
}

/// Stores an outbound message as the outbox does after Meta accepted it, then
/// applies statuses that arrived before it (the outbox's contract with statuses).
async fn store_outbound(host: &Host, tenant: &str, wamid: &str) -> Option<String> {
    let (tenant, wamid) = (tenant.to_owned(), wamid.to_owned());
    host.with_conn(move |c| {
        let contact: i64 = c.query_one(
            "INSERT INTO contacts (tenant_id, wa_id, created_at, updated_at) VALUES (?1, '16505551234', 0, 0)
             ON CONFLICT (tenant_id, wa_id) WHERE wa_id IS NOT NULL DO UPDATE SET updated_at = 0 RETURNING id",
            scrm_store::params![&tenant],
            |r| r.get(0),)?;
        let conversation: i64 = c.query_one(
            "INSERT INTO conversations (tenant_id, contact_id, phone_number_id, created_at, last_message_at)
             VALUES (?1, ?2, '106540352242922', 0, 0)
             ON CONFLICT (tenant_id, contact_id, phone_number_id) DO UPDATE SET created_at = 0 RETURNING id",
            scrm_store::params![&tenant, contact],
            |r| r.get(0),)?;
        c.execute(
            "INSERT INTO messages (tenant_id, conversation_id, contact_id, wamid, direction, type, timestamp,
                                   text, content, context, raw, status, created_at)
             VALUES (?1, ?2, ?3, ?4, 'outbound', 'text', 0, 'Your order shipped', '{}', '{}', '{}', 'accepted', 0)",
            scrm_store::params![&tenant, conversation, contact, &wamid],)?;
        scrm_store::MessageRepo::sync_status(c, &tenant, &wamid)
    })
    .await
    .expect("store an outbound message")
}

scrm_e2e::both_backends! {
    #[tokio::test]
    async fn one_body_with_every_fixture_is_processed_whole() {
        let host = Host::start().await;
        let mut names: Vec<String> = std::fs::read_dir(fixtures_dir())
            .unwrap()
            .filter_map(|e| {
                let p: PathBuf = e.unwrap().path();
                (p.extension()? == "json")
                    .then(|| p.file_stem().unwrap().to_string_lossy().into_owned())
            })
            .collect();
        names.sort();
        assert_eq!(names.len(), 16);
        // Each fixture goes to its own tenant (their wamids repeat across files); all of
        // their entries travel in one body, so the last one counts as much as the first.
        let mut entries = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let pnid = format!("7000{i:02}");
            host.tenant(name, &[&pnid], "US").await;
            let body: Value = serde_json::from_slice(&with_pnid(&fixture(name), &pnid)).unwrap();
            entries.extend(body["entry"].as_array().unwrap().iter().cloned());
        }
        let body = json!({"object": "whatsapp_business_account", "entry": entries});
        let (status, _) = host
            .post_signed(&serde_json::to_vec(&body).unwrap(), APP_SECRET)
            .await;
        assert_eq!(status, 200);
        let inbox = host.settle().await;
        assert_eq!(
            (inbox["done"].as_i64(), inbox["rejected"].as_i64()),
            (Some(1), Some(0))
        );
        for name in &names {
            let expected = usize::from(!name.starts_with("group_"));
            let msgs = host.messages(name).await;
            assert_eq!(msgs.len(), expected, "{name}: {msgs:#?}");
        }
        let last = host.messages("unsupported_message").await;
        assert_eq!(last[0]["errors"][0]["code"], 131051, "{:#?}", last[0]);
        assert_eq!(
            last[0]["errors"][0]["details"],
            "Message type is currently not supported."
        );
        let ad = &host
            .messages("text_message_from_click_to_whatsapp_ad")
            .await[0];
        assert_eq!(ad["context"]["referral"]["source_type"], "ad");
        assert_eq!(ad["context"]["referral"]["headline"], "Chat with us");
    }

    #[tokio::test]
    async fn an_edit_replaces_the_text_keeps_the_original_and_reclassifies() {
        let host = Host::start().await;
        host.tenant("acme", &[FIXTURE_PNID], "US").await;
        host.install("acme", "classifier", &guest("keyword-classifier"), None)
            .await;
        let wamid = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=";
        assert_eq!(
            host.post_signed(&fixture("text_message"), APP_SECRET)
                .await
                .0,
            200
        );
        host.settle().await;
        let before = message(&host, "acme", wamid).await;
        assert_eq!(before["tags"], json!([]));
        assert!(before["edited_at"].is_null() && before["original"].is_null());

        // The edit, delivered twice: applied once.
        for _ in 0..2 {
            assert_eq!(
                host.post_signed(&synthetic("edit_message"), APP_SECRET)
                    .await
                    .0,
                200
            );
        }
        host.settle().await;
        let msgs = host.messages("acme").await;
        assert_eq!(msgs.len(), 1, "an edit is not a new message: {msgs:#?}");
        let m = &msgs[0];
        assert_eq!(
            m["text"],
            "Does it come in another colour? Otherwise I want a refund"
        );
        assert_eq!(m["content"]["body"], m["text"]);
        assert_eq!(m["edited_at"], 1_749_416_500_000i64);
        assert_eq!(m["original"]["text"], "Does it come in another color?");
        assert_eq!(m["original"]["content"]["type"], "text");
        assert_eq!(m["revisions"].as_array().unwrap().len(), 1);
        assert_eq!(m["revisions"][0]["wamid"], "wamid.SYNTHETIC.edit.1");
        // The classifier saw the new version.
        assert_eq!(m["tags"], json!(["complaint"]));
        assert_eq!(m["classification"]["priority"], "high");

        // The customer deletes it: marked, content kept.
        assert_eq!(
            host.post_signed(&synthetic("revoke_message"), APP_SECRET)
                .await
                .0,
            200
        );
        host.settle().await;
        let m = message(&host, "acme", wamid).await;
        assert_eq!(m["revoked_at"], 1_749_416_600_000i64);
        assert_eq!(
            m["text"],
            "Does it come in another colour? Otherwise I want a refund"
        );
        assert_eq!(m["original"]["text"], "Does it come in another color?");
        let actions: Vec<_> = m["revisions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["action"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(actions, ["edit", "revoke"]);
    }

    #[tokio::test]
    async fn an_edit_that_arrives_before_its_message_applies_when_the_message_does() {
        let host = Host::start().await;
        host.tenant("acme", &[FIXTURE_PNID], "US").await;
        host.install("acme", "classifier", &guest("keyword-classifier"), None)
            .await;
        assert_eq!(
            host.post_signed(&synthetic("edit_message"), APP_SECRET)
                .await
                .0,
            200
        );
        host.settle().await;
        assert!(
            host.messages("acme").await.is_empty(),
            "nothing to edit yet"
        );
        assert_eq!(
            host.post_signed(&fixture("text_message"), APP_SECRET)
                .await
                .0,
            200
        );
        host.settle().await;
        let msgs = host.messages("acme").await;
        assert_eq!(msgs.len(), 1);
        assert_eq!(
            msgs[0]["text"],
            "Does it come in another colour? Otherwise I want a refund"
        );
        assert_eq!(
            msgs[0]["original"]["text"],
            "Does it come in another color?"
        );
        assert_eq!(
            msgs[0]["tags"],
            json!(["complaint"]),
            "plugins see the current version"
        );
    }

    #[tokio::test]
    async fn system_notices_keep_number_and_identity_changes() {
        let host = Host::start().await;
        host.tenant("acme", &[FIXTURE_PNID], "US").await;
        assert_eq!(
            host.post_signed(&synthetic("system_identity_changed"), APP_SECRET)
                .await
                .0,
            200
        );
        host.post_signed(&fixture("system_message"), APP_SECRET)
            .await;
        host.settle().await;
        let identity = message(&host, "acme", "wamid.SYNTHETIC.system.identity").await;
        assert_eq!(identity["content"]["kind"], "customer_identity_changed");
        assert_eq!(identity["content"]["identity"], "r0bT0KmVCBs=");
        let old = message(&host, "acme", "wamid.SYNTHETIC.system.number").await;
        assert_eq!(old["content"]["kind"], "customer_changed_number");
        assert_eq!(old["content"]["new_wa_id"], "12195555358");
        let current = message(
            &host,
            "acme",
            "wamid.HBgLMTk4MzU1NTE5NzQVAgASGAoxMTgyMDg2MjY3AA==",
        )
        .await;
        assert_eq!(current["content"]["kind"], "user_changed_number");
        assert_eq!(current["content"]["new_wa_id"], "12195555358");
    }

    #[tokio::test]
    async fn statuses_only_move_outbound_messages_forward_whatever_their_order() {
        let host = Host::start().await;
        host.tenant("acme", &[FIXTURE_PNID], "US").await;
        for wamid in [
            "wamid.SYNTHETIC.out.read",
            "wamid.SYNTHETIC.out.failed",
            "wamid.SYNTHETIC.out.voice",
        ] {
            assert_eq!(
                store_outbound(&host, "acme", wamid).await.as_deref(),
                Some("accepted")
            );
        }
        let body = synthetic("statuses_out_of_order");
        // Delivered twice, as Meta retries: each status is kept once.
        for _ in 0..2 {
            assert_eq!(host.post_signed(&body, APP_SECRET).await.0, 200);
        }
        host.settle().await;

        let read = message(&host, "acme", "wamid.SYNTHETIC.out.read").await;
        assert_eq!(
            read["status"], "read",
            "read arrived first, then sent and delivered"
        );
        assert_eq!(read["status_at"], 1_750_857_390_000i64);
        let history: Vec<_> = read["statuses"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["status"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            history,
            ["sent", "delivered", "read"],
            "every event kept once, in time order"
        );
        let sent = &read["statuses"][0];
        assert_eq!(
            sent["conversation"],
            json!({"id": "a75d17ad06104c51166f948319b03c6a", "origin_type": "utility", "expiration_timestamp": 1_750_943_820})
        );
        assert_eq!(
            sent["pricing"],
            json!({"billable": true, "pricing_model": "CBP", "category": "utility", "type": null})
        );

        let failed = message(&host, "acme", "wamid.SYNTHETIC.out.failed").await;
        assert_eq!(
            failed["status"], "failed",
            "a sent that arrives after failed changes nothing"
        );
        assert_eq!(failed["errors"][0]["code"], 131026);
        assert_eq!(failed["statuses"][0]["pricing"]["pricing_model"], "PMP");
        assert_eq!(failed["statuses"][0]["pricing"]["type"], "regular");

        let voice = message(&host, "acme", "wamid.SYNTHETIC.out.voice").await;
        assert_eq!(voice["status"], "played");
        assert_eq!(
            voice["statuses"][0]["pricing"]["type"],
            "free_customer_service"
        );
        assert!(voice["statuses"][0]["conversation"].is_null());

        // A status for a message whose send response had not come back yet is applied
        // when the outbox stores it.
        let early = host
            .with_conn(|c| scrm_store::MessageRepo::best_status(c, "acme", "wamid.SYNTHETIC.out.early"))
            .await
            .unwrap();
        assert_eq!(early.as_deref(), Some("delivered"));
        assert_eq!(
            store_outbound(&host, "acme", "wamid.SYNTHETIC.out.early").await.as_deref(),
            Some("delivered")
        );
        let m = message(&host, "acme", "wamid.SYNTHETIC.out.early").await;
        assert_eq!(
            (m["status"].as_str(), m["status_at"].as_i64()),
            (Some("delivered"), Some(1_760_000_200_000))
        );
    }

    #[tokio::test]
    async fn account_events_are_stored_per_tenant_or_app_and_preferences_change_consent() {
        let host = Host::start().await;
        host.tenant("acme", &[FIXTURE_PNID], "US").await;
        // A routed message teaches the host which account and display number are acme's.
        assert_eq!(
            host.post_signed(&fixture("text_message"), APP_SECRET)
                .await
                .0,
            200
        );
        host.settle().await;
        let body = synthetic("account_events");
        for _ in 0..2 {
            assert_eq!(host.post_signed(&body, APP_SECRET).await.0, 200);
        }
        let inbox = host.settle().await;
        assert!(inbox["unhandled"].as_array().unwrap().is_empty(), "{inbox}");

        let events = host.all("/v1/tenants/acme/events").await;
        let summary: Vec<_> = events
            .iter()
            .map(|e| {
                format!(
                    "{} {} {}",
                    e["field"].as_str().unwrap(),
                    e["event"].as_str().unwrap_or("-"),
                    e["subject"].as_str().unwrap_or("-")
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                "message_template_status_update APPROVED order_update",
                "message_template_quality_update YELLOW order_update",
                "template_category_update MARKETING order_update",
                "phone_number_quality_update UPGRADE 15550783881",
                "user_preferences stop 16505551234",
                "user_preferences resume 16505550000",
            ],
            "stored once although delivered twice"
        );
        assert_eq!(events[0]["raw"]["message_template_category"], "UTILITY");
        assert_eq!(events[0]["occurred_at"], 1_750_300_000_000i64);
        assert_eq!(events[4]["phone_number_id"], FIXTURE_PNID);
        assert_eq!(events[4]["occurred_at"], 1_750_300_050_000i64);

        let prefs = host
            .all("/v1/tenants/acme/events?field=user_preferences")
            .await;
        assert_eq!(prefs.len(), 2);
        // An account no tenant was seen under: the app keeps it.
        let app = host.all("/v1/apps/app1/events").await;
        assert_eq!(app.len(), 1, "{app:#?}");
        assert_eq!(app[0]["field"], "account_update");
        assert_eq!(app[0]["event"], "ACCOUNT_VIOLATION");
        assert!(app[0]["tenant_id"].is_null());

        let stopped = host
            .with_conn(|c| scrm_store::ConsentRepo::get(c, "acme", "16505551234"))
            .await
            .unwrap();
        assert_eq!(stopped.marketing_stopped_at, Some(1_750_300_050_000));
        let resumed = host
            .with_conn(|c| scrm_store::ConsentRepo::get(c, "acme", "16505550000"))
            .await
            .unwrap();
        assert_eq!(resumed.marketing_stopped_at, None);

        // Bad requests get a code and a message.
        let (status, body) = host
            .api("GET", "/v1/tenants/acme/events?colour=red", None)
            .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["code"], "invalid_query", "{body}");
        assert!(body["error"]["message"].is_string(), "{body}");
        let (status, body) = host.api("GET", "/v1/tenants/nobody/events", None).await;
        assert_eq!(
            (status.as_u16(), body["error"]["code"].as_str()),
            (404, Some("not_found"))
        );
        let (status, _) = host.api("GET", "/v1/apps/nobody/events", None).await;
        assert_eq!(status, 404);
    }

    #[tokio::test]
    async fn an_older_marketing_preference_arriving_late_does_not_undo_a_newer_one() {
        let host = Host::start().await;
        host.tenant("acme", &["555"], "US").await;
        let pref = |value: &str, ts: i64| {
            serde_json::to_vec(&json!({"object": "whatsapp_business_account", "entry": [{"id": "w", "changes": [
                {"field": "user_preferences", "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": "1", "phone_number_id": "555"},
                    "user_preferences": [{"wa_id": "39333", "detail": "", "category": "marketing_messages",
                                          "value": value, "timestamp": ts}]}}]}]}))
            .unwrap()
        };
        host.post_signed(&pref("resume", 2_000), APP_SECRET).await;
        host.settle().await;
        host.post_signed(&pref("stop", 1_000), APP_SECRET).await;
        host.settle().await;
        let c = host
            .with_conn(|c| scrm_store::ConsentRepo::get(c, "acme", "39333"))
            .await
            .unwrap();
        assert_eq!(c.marketing_stopped_at, None, "the later resume stands");
        assert_eq!(
            host.all("/v1/tenants/acme/events").await.len(),
            2,
            "both are kept"
        );
    }

    #[tokio::test]
    async fn stop_and_start_keywords_change_consent_with_the_message() {
        let host = Host::start().await;
        host.tenant("acme", &["555"], "IT").await;
        let consent_of = async |wa_id: &'static str| {
            host.with_conn(move |c| scrm_store::ConsentRepo::get(c, "acme", wa_id))
                .await
                .unwrap()
        };
        let stop = text_at("555", "393470000002", "wamid.k2", " Stop! ", 1_750_000_000);
        host.post_signed(
            &text_at(
                "555",
                "393470000001",
                "wamid.k1",
                "please don't stop",
                1_750_000_000,
            ),
            APP_SECRET,
        )
        .await;
        host.post_signed(&stop, APP_SECRET).await;
        host.settle().await;
        assert!(
            !consent_of("393470000001").await.opted_out(),
            "a sentence is not a keyword"
        );
        let stopped = consent_of("393470000002").await;
        assert!(stopped.opted_out());
        assert_eq!(stopped.opt_out_source.as_deref(), Some("keyword"));
        assert_eq!(
            host.messages("acme").await.len(),
            2,
            "the keyword is also a message"
        );

        // START opts back in; the STOP delivered again later is a duplicate and changes nothing.
        let start = text_at("555", "393470000002", "wamid.k3", "START", 1_750_000_060);
        host.post_signed(&start, APP_SECRET).await;
        host.settle().await;
        host.post_signed(&stop, APP_SECRET).await;
        host.settle().await;
        let back = consent_of("393470000002").await;
        assert!(back.opted_in() && !back.opted_out(), "{back:?}");
    }
}
