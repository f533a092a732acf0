//! The drop-in Cloud API endpoint, end to end with the real pywa client from PyPI:
//! pywa (its session's base URL pointed at scrm, an scrm token as its access token,
//! nothing else changed) → Prism with Meta's spec (every request pywa makes and
//! every answer scrm gives is checked against it) → scrm's
//! `/{version}/{phone_number_id}/messages` → the outbox and its rules → Prism again
//! → a local Cloud API server.

use reqwest::StatusCode;
use scrm_e2e::graph::{ACCESS_TOKEN, Graph};
use scrm_e2e::prism::Contract;
use scrm_e2e::{APP_SECRET, Host};
use serde_json::{Value, json};

const PN: &str = "100200300";
const ALICE: &str = "393471234567";
const BOB: &str = "393471234568";

/// A host whose Cloud API is `graph_url`, with tenant `acme` owning `PN`.
async fn acme_host(dir: &std::path::Path, graph_url: &str) -> Host {
    let host = Host::start_configured(dir, |s| {
        s.whatsapp.graph_url = graph_url.to_owned();
        s.whatsapp.backoff_base_ms = 50;
        s.whatsapp.max_attempts = 2;
    })
    .await;
    host.tenant("acme", &[PN], "IT").await;
    host.ok(
        "PUT",
        "/v1/tenants/acme/secrets/whatsapp_access_token",
        Some(json!({"value": ACCESS_TOKEN})),
    )
    .await;
    host
}

/// ALICE writes now, which opens her 24-hour window.
async fn alice_writes(host: &Host, wamid: &str) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let body = json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA1", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550000000", "phone_number_id": PN},
            "contacts": [{"profile": {"name": "Alice"}, "wa_id": ALICE}],
            "messages": [{"from": ALICE, "id": wamid, "timestamp": now.to_string(),
                          "type": "text", "text": {"body": "Where is my order?"}}]
        }}]}]
    });
    let (status, _) = host
        .post_signed(&serde_json::to_vec(&body).unwrap(), APP_SECRET)
        .await;
    assert_eq!(status, StatusCode::OK);
    host.settle().await;
}

fn assert_error(step: &Value, class: &str, code: i64, status: i64) {
    assert_eq!(step["error"], class, "{step}");
    assert_eq!(step["code"], code, "{step}");
    assert_eq!(step["status"], status, "{step}");
}

scrm_e2e::both_backends! {
    #[tokio::test]
    async fn pywa_sends_through_scrm_unchanged_and_catches_metas_errors() {
        let graph = Graph::start().await;
        let upstream = Contract::start(&graph).await;
        let dir = tempfile::tempdir().unwrap();
        let host = acme_host(dir.path(), &upstream.url()).await;
        alice_writes(&host, "wamid.in1").await;
        let token = host
            .ok("POST", "/v1/tenants/acme/tokens",
                Some(json!({"role": "manager", "name": "order bot"})))
            .await["token"]
            .as_str()
            .unwrap()
            .to_string();
        let front = Contract::start_for(host.base.trim_start_matches("http://")).await;
        let jpeg = dir.path().join("parcel.jpg");
        image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([(x * 4) as u8, (y * 5) as u8, 90]))
            .save_with_format(&jpeg, image::ImageFormat::Jpeg)
            .unwrap();
        let out = scrm_e2e::pywa::run(
            "drop_in.py",
            &[&front.url(), &token, PN, ALICE, BOB, "wamid.in1", jpeg.to_str().unwrap()],
        )
        .await
        .unwrap();

        // Each send reached Meta, in order, and pywa got Meta's own message id.
        let sent = graph.sent_messages();
        let kinds: Vec<&str> = sent.iter().map(|m| m.body["type"].as_str().unwrap_or("")).collect();
        assert_eq!(kinds, ["text", "image", "image", "interactive", "reaction", "template"], "{out}");
        let steps = ["text", "image", "uploaded", "buttons", "reaction", "template"];
        for (step, meta) in steps.iter().zip(&sent) {
            assert_eq!(out[step]["id"], meta.wamid.as_str(), "{step}: {out}");
            assert_eq!(meta.phone_number_id, PN);
        }
        assert_eq!(out["text"]["to"], ALICE);
        assert_eq!(sent[1].body["image"]["link"], "https://example.com/parcel.jpg");
        assert_eq!(sent[5].body["to"], BOB);
        // The uploaded file reached Meta as Meta's own media id, uploaded first.
        let media_id = sent[2].body["image"]["id"].as_str().unwrap();
        assert!(!media_id.starts_with("scrm:"), "{}", sent[2].body);
        let uploads = graph
            .requests()
            .iter()
            .filter(|r| r.path.ends_with("/media"))
            .count();
        assert_eq!(uploads, 1);

        // scrm's rules answer with Meta's codes, as pywa's own exception classes.
        assert_error(&out["outside_window"], "ReEngagementMessage", 131047, 400);
        assert_error(&out["bad_token"], "ExpiredAccessToken", 190, 401);
        assert_eq!(out["unknown_number"]["code"], 100, "{out}");
        assert_eq!(out["unknown_number"]["status"], 400, "{out}");

        // Mark-as-read and the typing indicator went out as Meta expects them.
        assert_eq!(out["read"]["ok"], true, "{out}");
        assert_eq!(out["typing"]["ok"], true, "{out}");
        let reads: Vec<Value> = graph
            .requests()
            .iter()
            .filter_map(|r| r.body.json().filter(|b| b["status"] == "read").cloned())
            .collect();
        assert_eq!(reads.len(), 2, "{reads:?} {:?}", host.all("/v1/tenants/acme/outbox").await);
        assert!(reads.iter().all(|r| r["message_id"] == "wamid.in1"));
        assert_eq!(reads[1]["typing_indicator"]["type"], "text");

        // The sends are the tenant's like any other: in the outbox, named by the token.
        let items = host.all("/v1/tenants/acme/outbox").await;
        let by_bot = items
            .iter()
            .filter(|i| i["source"].as_str().is_some_and(|s| s.starts_with("cloud-api token:")))
            .count();
        assert_eq!(by_bot, 8, "{items:?}");
        assert!(items.iter().all(|i| i["to"] != BOB || i["kind"] == "template"));

        // What pywa cannot send: a role that may not send, a body that is no JSON,
        // a version Meta would not spell. Straight to scrm, past Prism.
        let agent = host
            .ok("POST", "/v1/tenants/acme/tokens", Some(json!({"role": "agent"})))
            .await["token"]
            .as_str()
            .unwrap()
            .to_string();
        let text = json!({"messaging_product": "whatsapp", "to": ALICE, "type": "text",
                          "text": {"body": "hi"}});
        let cases = [
            (&agent, "v23.0", text.to_string(), 403, 10),
            (&token, "v23.0", "{not json".to_string(), 400, 100),
            (&token, "latest", text.to_string(), 400, 2500),
        ];
        for (bearer, version, body, status, code) in cases {
            let resp = host
                .http
                .post(format!("{}/{version}/{PN}/messages", host.base))
                .bearer_auth(bearer)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status().as_u16(), status, "{body}");
            let v: Value = resp.json().await.unwrap();
            assert_eq!(v["error"]["code"], code, "{v}");
            assert!(v["error"]["fbtrace_id"].is_string(), "{v}");
        }
        assert_eq!(graph.sent_messages().len(), 6, "nothing more was sent");

        front.assert_clean();
        upstream.assert_clean();
    }
}
