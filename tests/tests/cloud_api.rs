//! The drop-in Cloud API endpoint, end to end with the real pywa client from PyPI:
//! pywa (its session's base URL pointed at scrm, an scrm token as its access token,
//! nothing else changed) → Prism with Meta's spec (every request pywa makes and
//! every answer scrm gives is checked against it) → scrm's
//! `/{version}/{phone_number_id}/messages` → the outbox and its rules → Prism again
//! → a local Cloud API server.

use reqwest::StatusCode;
use scrm_e2e::graph::Graph;
use scrm_e2e::prism::Contract;
use scrm_e2e::{APP_SECRET, Host};
use serde_json::{Value, json};

const PN: &str = "100200300";
const ALICE: &str = "393471234567";
const BOB: &str = "393471234568";
/// The WhatsApp Business Account the webhooks come from.
const WABA: &str = "419561257915477";

/// A host whose Cloud API is `graph_url`, with tenant `acme` owning `PN`.
async fn acme_host(dir: &std::path::Path, graph_url: &str) -> Host {
    Host::sending_to(dir, graph_url, PN).await
}

/// ALICE writes now, which opens her 24-hour window.
async fn alice_writes(host: &Host, wamid: &str) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let body = json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": WABA, "changes": [{"field": "messages", "value": {
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

/// ALICE sends a photo whose Meta media id is `media_id`.
async fn alice_sends_photo(host: &Host, media_id: &str) {
    let body = json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": WABA, "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550000000", "phone_number_id": PN},
            "contacts": [{"profile": {"name": "Alice"}, "wa_id": ALICE}],
            "messages": [{"from": ALICE, "id": "wamid.photo", "timestamp": "1744344496",
                          "type": "image", "image": {"id": media_id, "mime_type": "image/jpeg"}}]
        }}]}]
    });
    let (status, _) = host
        .post_signed(&serde_json::to_vec(&body).unwrap(), APP_SECRET)
        .await;
    assert_eq!(status, StatusCode::OK);
}

fn assert_error(step: &Value, class: &str, code: i64, status: i64) {
    assert_eq!(step["error"], class, "{step}");
    assert_eq!(step["code"], code, "{step}");
    assert_eq!(step["status"], status, "{step}");
}

/// A running scenario: the local Cloud API behind Prism, a host on it with ALICE's
/// window open, a manager token for the bot, a JPEG on disk.
struct Setup {
    graph: Graph,
    upstream: Contract,
    host: Host,
    token: String,
    jpeg: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let graph = Graph::start().await;
    let upstream = Contract::start(&graph).await;
    let dir = tempfile::tempdir().unwrap();
    let host = acme_host(dir.path(), &upstream.url()).await;
    alice_writes(&host, "wamid.in1").await;
    let token = token(&host, "manager").await;
    let jpeg = dir.path().join("parcel.jpg");
    image::RgbImage::from_fn(64, 48, |x, y| {
        image::Rgb([(x * 4) as u8, (y * 5) as u8, 90])
    })
    .save_with_format(&jpeg, image::ImageFormat::Jpeg)
    .unwrap();
    Setup {
        graph,
        upstream,
        host,
        token,
        jpeg,
        _dir: dir,
    }
}

async fn token(host: &Host, role: &str) -> String {
    host.ok(
        "POST",
        "/v1/tenants/acme/tokens",
        Some(json!({"role": role, "name": "bot"})),
    )
    .await["token"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Each send reached Meta in order and pywa got Meta's own message id; the file
/// pywa uploaded went to Meta as Meta's media id, uploaded first.
fn assert_sent(s: &Setup, out: &Value) {
    let sent = s.graph.sent_messages();
    let kinds: Vec<&str> = sent
        .iter()
        .map(|m| m.body["type"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        kinds,
        [
            "text",
            "image",
            "image",
            "interactive",
            "reaction",
            "template"
        ],
        "{out}"
    );
    let steps = [
        "text", "image", "uploaded", "buttons", "reaction", "template",
    ];
    for (step, meta) in steps.iter().zip(&sent) {
        assert_eq!(out[step]["id"], meta.wamid.as_str(), "{step}: {out}");
        assert_eq!(meta.phone_number_id, PN);
    }
    assert_eq!(out["text"]["to"], ALICE);
    assert_eq!(
        sent[1].body["image"]["link"],
        "https://example.com/parcel.jpg"
    );
    assert_eq!(sent[5].body["to"], BOB);
    let media_id = sent[2].body["image"]["id"].as_str().unwrap();
    assert!(
        media_id.bytes().all(|b| b.is_ascii_digit()),
        "{}",
        sent[2].body
    );
    let uploads = s
        .graph
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/media"))
        .count();
    assert_eq!(uploads, 1);
}

/// Mark-as-read and the typing indicator went out as Meta expects them.
fn assert_reads(s: &Setup, out: &Value) {
    assert_eq!(out["read"]["ok"], true, "{out}");
    assert_eq!(out["typing"]["ok"], true, "{out}");
    let reads: Vec<Value> = s
        .graph
        .requests()
        .iter()
        .filter_map(|r| r.body.json().filter(|b| b["status"] == "read").cloned())
        .collect();
    assert_eq!(reads.len(), 2, "{reads:?}");
    assert!(reads.iter().all(|r| r["message_id"] == "wamid.in1"));
    assert_eq!(reads[1]["typing_indicator"]["type"], "text");
}

/// `body` posted straight to scrm (past Prism: pywa would not send it).
async fn raw_send(s: &Setup, bearer: &str, version: &str, body: String) -> (u16, Value) {
    let resp = s
        .host
        .http
        .post(format!("{}/{version}/{PN}/messages", s.host.base))
        .bearer_auth(bearer)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

scrm_e2e::both_backends! {
    #[tokio::test]
    async fn pywa_sends_through_scrm_unchanged_and_catches_metas_errors() {
        let s = setup().await;
        let front = Contract::start_for(s.host.base.trim_start_matches("http://")).await;
        let templates = Graph::fixture_templates();
        s.graph.set_templates(WABA, templates.clone());
        let args = [&front.url(), &s.token, PN, ALICE, BOB, "wamid.in1", s.jpeg.to_str().unwrap(), WABA];
        let out = scrm_e2e::pywa::run("drop_in.py", &args).await.unwrap();
        assert_sent(&s, &out);
        assert_reads(&s, &out);

        // A file uploaded through scrm is found and downloaded as from Meta.
        let d = &out["download"];
        let id = d["id"].as_str().unwrap();
        assert!(id.len() == 24 && id.starts_with('9'), "numeric, longer than Meta's: {d}");
        assert_eq!(d["sha256_matches"], true, "{d}");
        assert_eq!(d["size_matches"], true, "{d}");
        assert_eq!(d["mime_type"], "image/jpeg", "{d}");

        // The template list is Meta's, asked with the tenant's own access token.
        let mut want: Vec<String> = templates
            .iter()
            .map(|t| format!("{}/{}", t["name"].as_str().unwrap(), t["language"].as_str().unwrap()))
            .collect();
        want.sort();
        assert_eq!(out["templates"], json!(want));

        // scrm's rules answer with Meta's codes, as pywa's own exception classes.
        assert_error(&out["outside_window"], "ReEngagementMessage", 131047, 400);
        assert_error(&out["bad_token"], "ExpiredAccessToken", 190, 401);
        assert_eq!(out["unknown_number"]["code"], 100, "{out}");
        assert_eq!(out["unknown_number"]["status"], 400, "{out}");

        // The sends are the tenant's like any other: in the outbox, named by the token.
        let items = s.host.all("/v1/tenants/acme/outbox").await;
        let by_bot = items
            .iter()
            .filter(|i| i["source"].as_str().is_some_and(|x| x.starts_with("cloud-api token:")))
            .count();
        assert_eq!(by_bot, 8, "{items:?}");
        assert!(items.iter().all(|i| i["to"] != BOB || i["kind"] == "template"));
        front.assert_clean();
        s.upstream.assert_clean();
    }

    #[tokio::test]
    async fn a_javascript_client_from_npm_sends_through_scrm_unchanged() {
        let s = setup().await;
        // Straight to scrm: Node's fetch says `User-Agent: node`, which Meta's spec
        // forbids (`name/x.y.z`) and Meta accepts; pywa's test checks the answers.
        let args = [s.host.base.clone(), s.token.clone(), PN.into(), ALICE.into(), BOB.into()];
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = scrm_e2e::jsclient::run("drop_in.mjs", &args).await.unwrap();
        let sent = s.graph.sent_messages();
        assert_eq!(sent.len(), 2, "{out}");
        assert_eq!(out["text"]["messages"][0]["id"], sent[0].wamid.as_str(), "{out}");
        assert_eq!(out["reaction"]["messages"][0]["id"], sent[1].wamid.as_str(), "{out}");
        assert_eq!(sent[1].body["reaction"]["emoji"], "📦");
        assert_eq!(out["outside_window"]["error"]["code"], 131047, "{out}");
        assert_eq!(out["read"]["success"], true, "{out}");
        s.upstream.assert_clean();
    }

    #[tokio::test]
    async fn what_pywa_would_not_send_gets_metas_codes_and_received_media_is_served() {
        let s = setup().await;
        let agent = token(&s.host, "agent").await;
        let text = json!({"messaging_product": "whatsapp", "to": ALICE, "type": "text",
                          "text": {"body": "hi"}})
        .to_string();
        let cases = [
            (&agent, "v23.0", text.clone(), 403, 10),
            (&s.token, "v23.0", "{not json".to_string(), 400, 100),
            (&s.token, "latest", text.clone(), 400, 2500),
            (&s.token, "v23.0", text.replace(ALICE, "not a number"), 400, 131009),
        ];
        for (bearer, version, body, status, code) in cases {
            let (got, v) = raw_send(&s, bearer, version, body.clone()).await;
            assert_eq!((got, v["error"]["code"].as_i64()), (status, Some(code)), "{body}: {v}");
            assert!(v["error"]["fbtrace_id"].is_string(), "{v}");
        }
        assert!(s.graph.sent_messages().is_empty(), "nothing was sent");

        // A photo Alice sent: the bot asks scrm for it by Meta's media id, as it
        // would ask Meta, and downloads the copy scrm kept, with its scrm token.
        let photo = std::fs::read(&s.jpeg).unwrap();
        let meta_id = s.graph.put_media(&photo, "image/jpeg");
        alice_sends_photo(&s.host, &meta_id).await;
        let stored = scrm_e2e::eventually(|| async {
            let media = s.host.all("/v1/tenants/acme/media?direction=inbound").await;
            Ok(media.iter().any(|m| m["state"] == "stored").then_some(()))
        })
        .await;
        stored.expect("the photo is stored");
        let bot = |url: String| s.host.http.get(url).bearer_auth(&s.token);
        let found: Value = bot(format!("{}/v23.0/{meta_id}", s.host.base))
            .send().await.unwrap().json().await.unwrap();
        assert_eq!(found["id"], meta_id.as_str(), "{found}");
        assert_eq!(found["mime_type"], "image/jpeg", "{found}");
        let bytes = bot(found["url"].as_str().unwrap().to_string())
            .send().await.unwrap().bytes().await.unwrap();
        assert_eq!(bytes.as_ref(), photo.as_slice());
        let unknown = bot(format!("{}/v23.0/123456", s.host.base)).send().await.unwrap();
        assert_eq!(unknown.status().as_u16(), 400);
        let v: Value = unknown.json().await.unwrap();
        assert_eq!((v["error"]["code"].as_i64(), v["error"]["error_subcode"].as_i64()), (Some(100), Some(33)), "{v}");
    }
}
