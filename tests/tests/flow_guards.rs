//! The guards every automated send passes (tests for each): no message in a
//! conversation the business started unless the flow says so; free-form only inside
//! the customer's 24-hour window; nothing to a contact who opted out; every send
//! carries the flow and version that caused it, in the outbox, the conversation and
//! `/metrics`. (At most one message per contact per flow per `min_interval`:
//! `flows.rs`.)

use scrm_e2e::flows::{WEI, acme_host, add_flow, inbound, inbound_message};
use scrm_e2e::graph::{ACCESS_TOKEN, Graph};
use scrm_e2e::{Host, eventually};
use serde_json::{Value, json};
use std::time::{SystemTime, UNIX_EPOCH};

/// A host with `hostile-flow` (answers "ok: TEXT") enabled with `set`.
async fn host_with_echo(dir: &std::path::Path, graph: &Graph, set: Value) -> Host {
    let host = acme_host(dir, graph, |_| {}).await;
    let _ = ACCESS_TOKEN;
    add_flow(&host, "hostile-flow").await;
    host.ok(
        "PUT",
        "/v1/tenants/acme/flows/hostile-flow",
        Some(json!({"set": set})),
    )
    .await;
    host
}

/// The newest job's outcome once the flow handled `n` events.
async fn nth_outcome(host: &Host, n: usize) -> String {
    let v = eventually(|| async {
        let v = host
            .ok("GET", "/v1/tenants/acme/flows/hostile-flow", None)
            .await;
        let done = v["recent"].as_array().map_or(0, Vec::len);
        Ok((done >= n).then_some(v))
    })
    .await
    .expect("the flow handled the event");
    v["recent"][0]["outcome"].as_str().unwrap().to_string()
}

scrm_e2e::both_backends! {
    #[tokio::test]
    async fn no_automated_message_in_a_conversation_the_business_started_unless_allowed() {
        let graph = Graph::start().await;
        let dir = tempfile::tempdir().unwrap();
        let host = host_with_echo(dir.path(), &graph, json!({})).await;
        // The business opens the conversation with a template (business-initiated).
        let (code, item) = host
            .api("POST", "/v1/tenants/acme/messages", Some(json!({"to": WEI, "type": "template",
                "category": "marketing", "template": {"name": "spring_sale", "language": {"code": "it"}}})))
            .await;
        assert!(code.is_success(), "{item}");
        eventually(|| async { Ok((graph.sent_count() == 1).then_some(())) }).await.unwrap();
        eventually(|| async {
            let v = host.ok("GET", &format!("/v1/tenants/acme/outbox/{}", item["id"]), None).await;
            Ok((v["state"] == "sent").then_some(()))
        })
        .await
        .unwrap();
        inbound(&host, WEI, "Wei Chen", "wamid.r1", "what is on sale?").await;
        let outcome = nth_outcome(&host, 1).await;
        assert!(outcome.contains("the business started this conversation"), "{outcome}");
        assert_eq!(graph.sent_count(), 1);
        // The flow allowed to: it answers.
        host.ok("PUT", "/v1/tenants/acme/flows/hostile-flow",
            Some(json!({"set": {"business_initiated": "true"}}))).await;
        inbound(&host, WEI, "Wei Chen", "wamid.r2", "hello?").await;
        let outcome = nth_outcome(&host, 2).await;
        assert!(outcome.contains("reply queued"), "{outcome}");
    }

    #[tokio::test]
    async fn free_form_goes_only_inside_the_window_and_never_to_an_opted_out_contact() {
        let graph = Graph::start().await;
        let dir = tempfile::tempdir().unwrap();
        let host = host_with_echo(dir.path(), &graph, json!({})).await;
        // A message written two days ago (delivered late): its window has closed.
        let two_days_ago = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() - 2 * 86_400;
        inbound_message(&host, "Wei Chen", json!({"from": WEI, "id": "wamid.old", "type": "text",
            "timestamp": two_days_ago.to_string(), "text": {"body": "are you there?"}})).await;
        let outcome = nth_outcome(&host, 1).await;
        assert!(outcome.contains("24-hour window is closed"), "{outcome}");
        // STOP opts the contact out: the flow's answer is not sent.
        inbound(&host, WEI, "Wei Chen", "wamid.stop", "STOP").await;
        let outcome = nth_outcome(&host, 2).await;
        assert!(outcome.contains("opted out"), "{outcome}");
        assert_eq!(graph.sent_count(), 0, "nothing reached Meta");
    }

    #[tokio::test]
    async fn resolving_a_conversation_reaches_the_flows() {
        let graph = Graph::start().await;
        let dir = tempfile::tempdir().unwrap();
        let host = host_with_echo(dir.path(), &graph, json!({"min_interval": "0s"})).await;
        inbound(&host, WEI, "Wei Chen", "wamid.z1", "hi").await;
        eventually(|| async { Ok((graph.sent_count() == 1).then_some(())) }).await.unwrap();
        let conversation = host.ok("GET", "/v1/tenants/acme/conversations", None).await["items"][0]["id"].clone();
        let resolved = host.ok("POST", &format!("/v1/tenants/acme/conversations/{conversation}/resolve"), None).await;
        assert!(resolved["resolved_at"].as_i64().is_some(), "{resolved}");
        let texts = eventually(|| async {
            let texts: Vec<String> = graph.sent_messages().iter()
                .filter_map(|m| m.body["text"]["body"].as_str().map(str::to_owned)).collect();
            Ok((texts.len() == 2).then_some(texts))
        })
        .await
        .unwrap();
        assert_eq!(texts[1], "Thanks for talking to us!");
        let (code, _) = host.api("POST", "/v1/tenants/acme/conversations/999999/resolve", None).await;
        assert_eq!(code, reqwest::StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn every_automated_send_carries_the_flow_and_version_that_caused_it() {
        let graph = Graph::start().await;
        let dir = tempfile::tempdir().unwrap();
        let host = host_with_echo(dir.path(), &graph, json!({})).await;
        host.ok("PUT", "/v1/tenants/acme/flows/hostile-flow", Some(json!({"set": {"min_interval": "0s"}}))).await;
        inbound(&host, WEI, "Wei Chen", "wamid.v1", "hi").await;
        eventually(|| async { Ok((graph.sent_count() == 1).then_some(())) }).await.unwrap();
        let outbox = host.ok("GET", "/v1/tenants/acme/outbox", None).await;
        assert_eq!(outbox["items"][0]["source"], "flow:hostile-flow@2");
        let conversation = eventually(|| async {
            let msgs = host.messages("acme").await;
            Ok(msgs.into_iter().find(|m| m["direction"] == "outbound"))
        })
        .await
        .unwrap();
        assert_eq!(conversation["source"], "flow:hostile-flow@2", "{conversation}");
        let metrics = host.metrics().await;
        assert!(metrics.contains(r#"scrm_flow_sends_total{tenant="acme",flow="hostile-flow",version="2"} 1"#), "{metrics}");
    }
}
