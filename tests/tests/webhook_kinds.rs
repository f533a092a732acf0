//! The webhook kinds beyond messages and statuses, end to end with Meta's documented
//! payloads (tests/fixtures/meta-docs): calls on the customer's conversation, message
//! echoes from the WhatsApp Business app as the business's messages, flow, address
//! and call-permission replies, and value-level errors — stored, shown by the API,
//! announced to the events hook and relayed as Meta sent them.

use scrm_e2e::catcher::Catcher;
use scrm_e2e::{APP_SECRET, Host, repo_root};
use serde_json::{Value, json};

const PN: &str = "100200300";
const ALICE: &str = "393471234567";
const BOB: &str = "393479876543";
/// The call id the status examples use, made the same call as the others'.
const CALL: &str = "wacid.ABGGFjFVU2AfAgo6V-Hc5eCgK5Gh";

/// A Meta example with its placeholders made real: the business number is [`PN`],
/// the customer `customer` (each of `customer_ids`), every call the same one.
fn meta_doc(name: &str, customer_ids: &[&str], customer: &str) -> Vec<u8> {
    let path = repo_root().join("tests/fixtures/meta-docs").join(name);
    let mut text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
    for pnid in [
        "<PHONE_NUMBER_ID>",
        "<BUSINESS_PHONE_NUMBER_ID>",
        "106540352242922",
    ] {
        text = text.replace(pnid, PN);
    }
    for id in customer_ids {
        text = text.replace(id, customer);
    }
    text.replace("\"wacid.ABGGFjFVU2AfAgo6V\"", &format!("\"{CALL}\""))
        .into_bytes()
}

async fn post(host: &Host, body: &[u8]) {
    let (status, text) = host.post_signed(body, APP_SECRET).await;
    assert_eq!(status.as_u16(), 200, "{text}");
}

scrm_e2e::both_backends! {
    #[tokio::test]
    async fn a_call_is_kept_on_the_conversation_whatever_order_its_events_come_in() {
        let host = Host::start_configured_temp(|_| {}).await;
        host.tenant("acme", &[PN], "IT").await;
        let hook = Catcher::start().await;
        host.ok("PUT", "/v1/tenants/acme/event-hook",
            Some(json!({"url": hook.url, "secret": "s", "types": ["call.ended"]}))).await;

        // Alice calls: the call ends before its "accepted" status arrives, and the
        // end is delivered twice.
        let alice = ["163155536021", "16315553602"];
        post(&host, &meta_doc("calls_connect.json", &alice, ALICE)).await;
        post(&host, &meta_doc("calls_terminate.json", &alice, ALICE)).await;
        post(&host, &meta_doc("calls_terminate.json", &alice, ALICE)).await;
        post(&host, &meta_doc("calls_status_accepted.json", &alice, ALICE)).await;
        // The business calls Bob; it fails.
        let mut failed: Value = serde_json::from_slice(
            &meta_doc("calls_terminate_failed.json", &["16315553601"], BOB)).unwrap();
        failed["entry"][0]["changes"][0]["value"]["calls"][0]["id"] = json!("wacid.bob");
        post(&host, &serde_json::to_vec(&failed).unwrap()).await;
        let inbox = host.settle().await;
        assert!(inbox["unhandled"].as_array().unwrap().is_empty(), "{inbox}");

        let calls = host.all("/v1/tenants/acme/calls").await;
        assert_eq!(calls.len(), 2, "{calls:#?}");
        let call = |id: &str| calls.iter().find(|c| c["call_id"] == id).cloned()
            .unwrap_or_else(|| panic!("no call {id}: {calls:#?}"));
        let alices = &call(CALL);
        assert_eq!(alices["state"], "completed", "the late status does not undo the end");
        assert_eq!(alices["direction"], "user_initiated");
        assert_eq!(alices["duration_s"], 120);
        assert_eq!((alices["started_at"].as_i64(), alices["ended_at"].as_i64()),
            (Some(1_671_644_824_000), Some(1_671_644_944_000)));
        assert_eq!(alices["events"].as_array().unwrap().len(), 3, "the redelivery is kept once");
        let bobs = &call("wacid.bob");
        assert_eq!((bobs["state"].as_str(), bobs["direction"].as_str()),
            (Some("failed"), Some("business_initiated")));
        assert_eq!(bobs["errors"][0]["code"], 138_007);

        // Each call is on its customer's conversation.
        let conversation = host.conversation_of("acme", ALICE).await;
        let view = host.ok("GET", &format!("/v1/tenants/acme/inbox/conversations/{conversation}"), None).await;
        assert_eq!(view["calls"].as_array().map(Vec::len), Some(1), "{view}");
        assert_eq!(view["calls"][0]["call_id"], CALL);
        assert_eq!(alices["conversation_id"], conversation);
        assert_ne!(bobs["conversation_id"], conversation);

        let got = hook.received(2).await;
        assert_eq!(hook.event_types(), ["call.ended", "call.ended"]);
        // One customer's events keep their order; two customers' need not.
        let ended = |customer: &str| -> Value {
            got.iter()
                .map(|(_, b)| serde_json::from_slice::<Value>(b).unwrap())
                .find(|e| e["data"]["customer"] == customer)
                .unwrap_or_else(|| panic!("no call.ended for {customer}"))
        };
        assert_eq!(ended(ALICE)["data"]["duration_s"], 120);
        assert_eq!(ended(BOB)["data"]["state"], "failed");
    }

    #[tokio::test]
    async fn an_echo_is_the_business_s_message_in_the_conversation() {
        let host = Host::start_configured_temp(|_| {}).await;
        host.tenant("acme", &[PN], "IT").await;
        let hook = Catcher::start().await;
        host.ok("PUT", "/v1/tenants/acme/event-hook",
            Some(json!({"url": hook.url, "secret": "s", "types": ["message.sent"]}))).await;
        let echo = meta_doc("message_echoes_text.json", &["16505551234"], ALICE);
        post(&host, &echo).await;
        post(&host, &echo).await;
        let inbox = host.settle().await;
        assert!(inbox["unhandled"].as_array().unwrap().is_empty(), "{inbox}");

        let messages = host.messages("acme").await;
        assert_eq!(messages.len(), 1, "stored once: {messages:#?}");
        let m = &messages[0];
        assert_eq!(m["direction"], "outbound");
        assert_eq!(m["source"], "business_app");
        assert_eq!(m["status"], "sent");
        assert_eq!(m["text"], "Here's the info you requested! https://www.meta.com/quest/quest-3/");
        assert_eq!(m["timestamp"], 1_739_321_024_000_i64);
        let conversation = host.conversation_of("acme", ALICE).await;
        assert_eq!(m["conversation_id"], conversation);

        let got = hook.received(1).await;
        assert_eq!(hook.event_types(), ["message.sent"]);
        let sent: Value = serde_json::from_slice(&got[0].1).unwrap();
        assert_eq!(sent["data"]["source"], "business_app");
        assert_eq!(sent["data"]["to"], ALICE);
    }

    #[tokio::test]
    async fn flow_address_and_call_permission_replies_are_messages_of_the_conversation() {
        let host = Host::start().await;
        host.tenant("acme", &[PN], "IT").await;
        let ids = ["{customer_phone_number}", "<PHONE_NUMBER>"];
        for name in [
            "interactive_nfm_reply_flow.json",
            "interactive_nfm_reply_address.json",
            "interactive_call_permission_reply.json",
        ] {
            post(&host, &meta_doc(name, &ids, ALICE)).await;
        }
        // Meta's examples share one wamid; the revoke is another message.
        let revoke = meta_doc("interactive_call_permission_reply_automatic_revoke.json", &ids, ALICE);
        let revoke = String::from_utf8(revoke).unwrap()
            .replace("wamid.sH0kFlaCGg0xcvZbgmg90lHrg2dL", "wamid.revoke");
        post(&host, revoke.as_bytes()).await;
        let inbox = host.settle().await;
        assert!(inbox["unhandled"].as_array().unwrap().is_empty(), "{inbox}");
        // The examples' timestamps, not their posting order, order them.
        let replies: Vec<(String, String, Value)> = host.messages("acme").await.iter()
            .map(|m| (m["content"]["id"].as_str().unwrap_or("-").to_owned(),
                      m["content"]["title"].as_str().unwrap_or("-").to_owned(),
                      m["content"]["description"].clone()))
            .collect();
        let mut ids: Vec<&str> = replies.iter().map(|(id, _, _)| id.as_str()).collect();
        ids.sort();
        assert_eq!(ids, ["address_message", "call_permission", "call_permission", "flow"], "{replies:#?}");
        let find = |id: &str, title: &str| replies.iter()
            .find(|(i, t, _)| i == id && (title.is_empty() || t == title))
            .unwrap_or_else(|| panic!("no {id} {title}: {replies:#?}"))
            .clone();
        let address: Value = serde_json::from_str(&find("address_message", "").1).unwrap();
        assert_eq!(address["values"]["city"], "Mumbai");
        assert_eq!(find("call_permission", "accept").2, json!("until 1768550400"));
        assert_eq!(find("call_permission", "reject").2, json!("automatic"));
    }

    #[tokio::test]
    async fn a_value_level_error_is_an_event_of_the_tenant() {
        let host = Host::start().await;
        host.tenant("acme", &[PN], "IT").await;
        post(&host, &meta_doc("errors_value_level.json", &[], ALICE)).await;
        let inbox = host.settle().await;
        assert!(inbox["unhandled"].as_array().unwrap().is_empty(), "{inbox}");
        let events = host.all("/v1/tenants/acme/events").await;
        assert_eq!(events.len(), 1, "{events:#?}");
        assert_eq!((events[0]["kind"].as_str(), events[0]["event"].as_str()),
            (Some("errors"), Some("130429")), "{events:#?}");
        assert_eq!(events[0]["raw"]["error_data"]["details"],
            "Message failed to send because there were too many messages sent from this phone number in a short period of time");
    }

    #[tokio::test]
    async fn every_kind_is_relayed_as_meta_sent_it() {
        let host = Host::start_configured_temp(|_| {}).await;
        host.tenant("acme", &[PN], "IT").await;
        let app = Catcher::start().await;
        host.ok("PUT", "/v1/tenants/acme/relay",
            Some(json!({"url": app.url, "app_secret": "bot-secret"}))).await;
        let bodies = [
            meta_doc("calls_connect.json", &["16315553602"], ALICE),
            meta_doc("message_echoes_text.json", &["16505551234"], ALICE),
            meta_doc("interactive_call_permission_reply.json", &["{customer_phone_number}"], ALICE),
            meta_doc("errors_value_level.json", &[], ALICE),
        ];
        for body in &bodies {
            post(&host, body).await;
        }
        let got = app.received(bodies.len()).await;
        for body in &bodies {
            let (headers, _) = got.iter().find(|(_, b)| b[..] == body[..])
                .unwrap_or_else(|| panic!("not relayed: {}", String::from_utf8_lossy(body)));
            assert_eq!(headers["x-hub-signature-256"].to_str().unwrap(),
                scrm_wire::signature::sign(b"bot-secret", body));
        }
    }
}
