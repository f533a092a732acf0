//! Outbound events: a tenant's events hook (docs/events.md) receives signed events of
//! the types it asked for — messages received and sent, statuses, tags, assignments,
//! resolutions, alerts and dead-lettered CRM writes — with a delivery log.

use reqwest::StatusCode;
use scrm_e2e::catcher::Catcher;
use scrm_e2e::graph::{ACCESS_TOKEN, Graph};
use scrm_e2e::{APP_SECRET, Host, eventually, guest, text_webhook};
use serde_json::{Value, json};

const PN: &str = "100200300";
const ALICE: &str = "393471234567";
const SECRET: &str = "zapier-catch-hook-secret";

scrm_e2e::both_backends! {
    #[tokio::test]
    async fn a_catch_hook_gets_signed_events_of_the_types_it_asked_for() {
        let host = Host::start_configured_temp(|_| {}).await;
        host.tenant("acme", &[PN], "IT").await;
        let hook = Catcher::start().await;
        let (status, v) = host.api("PUT", "/v1/tenants/acme/event-hook",
            Some(json!({"url": hook.url, "secret": SECRET, "types": ["nothing.here"]}))).await;
        assert_eq!((status.as_u16(), v["error"]["code"].as_str()), (422, Some("invalid_event_type")), "{v}");
        host.ok("PUT", "/v1/tenants/acme/event-hook",
            Some(json!({"url": hook.url, "secret": SECRET, "types": ["message.received"]}))).await;

        let (status, _) = host.post_signed(&text_webhook(PN, ALICE, &[("wamid.e1", "hi")]), APP_SECRET).await;
        assert_eq!(status, StatusCode::OK);
        let got = eventually(|| async {
            let got = hook.got();
            Ok((!got.is_empty()).then_some(got))
        })
        .await
        .expect("the event arrives");
        let (headers, body) = &got[0];
        assert_eq!(headers["x-scrm-event"], "message.received");
        let sig = headers["x-scrm-signature-256"].to_str().unwrap();
        assert_eq!(sig, scrm_wire::signature::sign(SECRET.as_bytes(), body));
        let event: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(event["type"], "message.received");
        assert_eq!(event["tenant"], "acme");
        assert_eq!(event["data"]["wamid"], "wamid.e1");
        assert_eq!(event["data"]["from"], ALICE);

        let log = host.all("/v1/tenants/acme/event-hook/deliveries").await;
        assert_eq!(log.len(), 1, "only the type asked for: {log:?}");
        assert_eq!(log[0]["state"], "delivered");
    }

    #[tokio::test]
    async fn tags_and_sends_reach_the_hook() {
        let graph = Graph::start().await;
        let url = graph.url();
        let host = Host::start_configured_temp(|s| s.whatsapp.graph_url = url).await;
        host.tenant("acme", &[PN], "IT").await;
        host.ok("PUT", "/v1/tenants/acme/secrets/whatsapp_access_token",
            Some(json!({"value": ACCESS_TOKEN}))).await;
        let rules = "defaults = false\n[[rules]]\ntag = \"shipping\"\nkeywords = [\"parcel\"]\n";
        host.install("acme", "classifier", &guest("keyword-classifier"), Some(rules)).await;
        let hook = Catcher::start().await;
        host.ok("PUT", "/v1/tenants/acme/event-hook",
            Some(json!({"url": hook.url, "secret": SECRET,
                        "types": ["conversation.tagged", "message.sent"]}))).await;
        let (status, _) = host.post_signed(&text_webhook(PN, ALICE, &[("wamid.e3", "where is my parcel?")]), APP_SECRET).await;
        assert_eq!(status, StatusCode::OK);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        let fresh = String::from_utf8(text_webhook(PN, ALICE, &[("wamid.e4", "hi")])).unwrap()
            .replace("1750000000", &now.to_string());
        host.post_signed(fresh.as_bytes(), APP_SECRET).await;
        host.settle().await;
        host.ok("POST", "/v1/tenants/acme/messages",
            Some(json!({"to": ALICE, "type": "text", "text": {"body": "On its way"}}))).await;

        let events = eventually(|| async {
            let events: Vec<Value> = hook.got().iter()
                .filter_map(|(_, b)| serde_json::from_slice(b).ok())
                .collect();
            Ok((events.len() >= 2).then_some(events))
        })
        .await
        .expect("a tag and a send");
        let tagged = events.iter().find(|e| e["type"] == "conversation.tagged").expect("tagged");
        assert_eq!(tagged["data"]["tags"], json!(["shipping"]), "{tagged}");
        let sent = events.iter().find(|e| e["type"] == "message.sent").expect("sent");
        assert_eq!(sent["data"]["wamid"], graph.sent_messages()[0].wamid.as_str(), "{sent}");
        assert!(events.iter().all(|e| e["type"] != "message.received"), "{events:?}");
    }

    #[tokio::test]
    async fn a_raised_alert_reaches_the_hook() {
        let host = Host::start_configured_temp(|_| {}).await;
        host.tenant("acme", &[PN], "IT").await;
        let hook = Catcher::start().await;
        host.ok("PUT", "/v1/tenants/acme/event-hook",
            Some(json!({"url": hook.url, "secret": SECRET, "types": ["alert.raised"]}))).await;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        let fresh = String::from_utf8(text_webhook(PN, ALICE, &[("wamid.e5", "hello")])).unwrap()
            .replace("1750000000", &(now - 60).to_string());
        host.post_signed(fresh.as_bytes(), APP_SECRET).await;
        host.settle().await;
        let today = chrono::Utc::now().date_naive();
        host.ok("PUT", "/v1/tenants/acme/analytics/settings", Some(json!({"promotions": [{
            "name": "Natale", "words": ["sconto"], "min_share": 0.5,
            "from": (today - chrono::Days::new(1)).to_string(),
            "to": (today + chrono::Days::new(1)).to_string()}]}))).await;
        let checked = host.ok("POST", "/v1/tenants/acme/alerts/check", None).await;
        assert_eq!(checked["raised"][0]["kind"], "promotion_below", "{checked}");
        let event = eventually(|| async {
            let got = hook.got();
            Ok(got.first().and_then(|(_, b)| serde_json::from_slice::<Value>(b).ok()))
        })
        .await
        .expect("the alert's event");
        assert_eq!(event["type"], "alert.raised");
        assert_eq!(event["data"]["kind"], "promotion_below");
        assert_eq!(event["data"]["subject"], "Natale");
    }

    #[tokio::test]
    async fn statuses_assignments_and_resolutions_reach_the_hook_in_order() {
        let host = Host::start_configured_temp(|_| {}).await;
        host.tenant("acme", &[PN], "IT").await;
        let hook = Catcher::start().await;
        host.ok("PUT", "/v1/tenants/acme/event-hook", Some(json!({"url": hook.url, "secret": SECRET}))).await;
        let (status, _) = host.post_signed(&text_webhook(PN, ALICE, &[("wamid.e2", "hello")]), APP_SECRET).await;
        assert_eq!(status, StatusCode::OK);
        let status_body = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [
            {"field": "messages", "value": {"messaging_product": "whatsapp",
             "metadata": {"display_phone_number": "15550000000", "phone_number_id": PN},
             "statuses": [{"id": "wamid.out1", "status": "delivered", "timestamp": "1750000000",
                           "recipient_id": ALICE}]}}]}]});
        let (status, _) = host.post_signed(&serde_json::to_vec(&status_body).unwrap(), APP_SECRET).await;
        assert_eq!(status, StatusCode::OK);
        host.settle().await;
        let conversation = host.conversation_of("acme", ALICE).await;
        let base = format!("/v1/tenants/acme/inbox/conversations/{conversation}");
        host.ok("POST", &format!("{base}/assign"), Some(json!({"team": null, "person": null}))).await;
        host.ok("POST", &format!("{base}/state"), Some(json!({"state": "resolved"}))).await;

        let types = eventually(|| async {
            let types: Vec<String> = hook.got().iter()
                .filter_map(|(h, _)| h.get("x-scrm-event").and_then(|v| v.to_str().ok()).map(str::to_owned))
                .collect();
            Ok((types.len() >= 4).then_some(types))
        })
        .await
        .expect("four events");
        for t in ["message.received", "message.status", "conversation.assigned", "conversation.resolved"] {
            assert!(types.iter().any(|x| x == t), "{t} missing from {types:?}");
        }
        let a = types.iter().position(|t| t == "conversation.assigned").unwrap();
        let r = types.iter().position(|t| t == "conversation.resolved").unwrap();
        assert!(a < r, "one conversation's events keep their order: {types:?}");
    }

    #[tokio::test]
    async fn a_failing_hook_is_retried_then_dead_until_requeued() {
        let host = Host::start_configured_temp(|s| {
            s.relay.backoff_base_ms = 50;
            s.relay.backoff_max_ms = 200;
            s.relay.max_attempts = 3;
        })
        .await;
        host.tenant("acme", &[PN], "IT").await;
        let hook = Catcher::start().await;
        hook.fail(true);
        host.ok("PUT", "/v1/tenants/acme/event-hook",
            Some(json!({"url": hook.url, "secret": SECRET, "types": ["message.received"]}))).await;
        host.post_signed(&text_webhook(PN, ALICE, &[("wamid.f1", "hi")]), APP_SECRET).await;
        let dead = eventually(|| async {
            let dead = host.all("/v1/tenants/acme/event-hook/deliveries?state=dead").await;
            Ok((!dead.is_empty()).then_some(dead))
        })
        .await
        .expect("dead-lettered after its retries");
        assert_eq!((dead[0]["attempts"].as_i64(), dead[0]["last_status"].as_i64()), (Some(3), Some(500)), "{dead:?}");
        assert!(hook.got().is_empty());
        let (status, v) = host.api("GET", "/v1/tenants/acme/event-hook/deliveries?state=lost", None).await;
        assert_eq!((status.as_u16(), v["error"]["code"].as_str()), (400, Some("invalid_query")), "{v}");

        // Back up: the dead delivery, re-queued, arrives; it cannot be re-queued twice.
        hook.fail(false);
        let requeue = format!("/v1/tenants/acme/event-hook/deliveries/{}/requeue", dead[0]["id"]);
        host.ok("POST", &requeue, None).await;
        let got = hook.received(1).await;
        assert_eq!(got[0].0["x-scrm-event"], "message.received");
        let delivered = eventually(|| async {
            let d = host.all("/v1/tenants/acme/event-hook/deliveries?state=delivered").await;
            Ok((!d.is_empty()).then_some(d))
        })
        .await
        .expect("the log says delivered");
        assert_eq!(delivered[0]["id"], dead[0]["id"]);
        let (status, v) = host.api("POST", &requeue, None).await;
        assert_eq!((status.as_u16(), v["error"]["code"].as_str()), (409, Some("not_dead")), "{v}");
    }
}

/// A CRM write HubSpot refuses for good (a revoked token) is dead-lettered, and the
/// hook hears of it with the job and HubSpot's reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_lettered_crm_write_reaches_the_hook() {
    use scrm_e2e::crm;
    use scrm_e2e::hubspot::{self, CLIENT_SECRET, HubSpot};
    let hub = HubSpot::start().await;
    let host = crm::setup_tenant(
        "acme",
        &[
            ("hubspot_token", hubspot::ACCESS_TOKEN),
            ("hubspot_client_secret", CLIENT_SECRET),
        ],
        0,
    )
    .await;
    crm::install_classifier(&host, "acme").await;
    crm::install_mapper(&host, "acme", "required = [\"phone\"]\n").await;
    let config = format!(
        "base_url = \"{}\"\npull_settle_ms = 0\npull_orders = false\n",
        hub.url()
    );
    let policy = crm::loopback_policy(hub.addr().port(), "hubspot_token", "Bearer ");
    crm::install_connector(&host, "acme", "hubspot-connector", &config, policy).await;
    let hook = Catcher::start().await;
    host.ok(
        "PUT",
        "/v1/tenants/acme/event-hook",
        Some(json!({"url": hook.url, "secret": SECRET, "types": ["crm.sync_failed"]})),
    )
    .await;

    hub.revoke_token(hubspot::ACCESS_TOKEN);
    crm::customer_writes(&host, "Anna", &[("wamid.s1", "hello")]).await;
    let dead = crm::jobs_until(
        &host,
        "acme",
        "dead",
        "the 401 was not dead-lettered",
        |d| !d.is_empty(),
    )
    .await;
    let got = eventually(|| async {
        let got = hook.got();
        Ok((!got.is_empty()).then_some(got))
    })
    .await
    .expect("the event arrives");
    let (headers, body) = &got[0];
    assert_eq!(headers["x-scrm-event"], "crm.sync_failed");
    let event: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(event["data"]["job_id"], dead[0]["id"], "{event}");
    let error = event["data"]["error"].as_str().unwrap_or_default();
    assert!(error.starts_with("crm_unauthorized"), "{event}");
    assert_eq!(
        got.len(),
        dead.len(),
        "one event per dead-lettered job: {event}"
    );
}
