//! Tracked links end to end: a host with a `public_url` rewrites the links of the
//! messages it sends (through the real API, to the local Cloud API server), answers
//! `GET /l/{token}` with a 302 to the original URL, records the click with the user
//! agent, lists it through the read API, answers unknown tokens with a 404 page, and
//! sends a tenant's links as written once that tenant turned tracking off.

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, LOCATION, USER_AGENT};
use scrm::config::PublicUrl;
use scrm_e2e::graph::{ACCESS_TOKEN, Graph, SentMessage};
use scrm_e2e::{APP_SECRET, Host, eventually};
use serde_json::{Value, json};
use std::time::{SystemTime, UNIX_EPOCH};

const PUBLIC_URL: &str = "https://links.scrm.test";
const ACME_PN: &str = "100200300";
const BETA_PN: &str = "100200301";
const ALICE: &str = "393471234567";
const PHONE_UA: &str = "Mozilla/5.0 (Linux; Android 14; Pixel 8) Chrome/126.0 Mobile Safari/537.36";

struct Setup {
    host: Host,
    graph: Graph,
    /// Follows no redirects: the test looks at the 302 itself.
    browser: reqwest::Client,
    _dir: tempfile::TempDir,
}

/// A host with a public URL and tenants `acme` (tracking on, the default) and
/// `beta` (tracking turned off), each with a customer who just wrote.
async fn setup() -> Setup {
    let graph = Graph::start().await;
    let dir = tempfile::tempdir().unwrap();
    let graph_url = graph.url();
    let host = Host::start_configured(dir.path(), |s| {
        s.whatsapp.graph_url = graph_url;
        s.whatsapp.backoff_base_ms = 50;
        s.public_url = Some(PublicUrl::parse(PUBLIC_URL).unwrap());
    })
    .await;
    for (tenant, pn) in [("acme", ACME_PN), ("beta", BETA_PN)] {
        host.tenant(tenant, &[pn], "IT").await;
        host.ok(
            "PUT",
            &format!("/v1/tenants/{tenant}/secrets/whatsapp_access_token"),
            Some(json!({"value": ACCESS_TOKEN})),
        )
        .await;
        inbound(&host, pn, &format!("wamid.in.{tenant}")).await;
    }
    let off = host
        .ok(
            "PATCH",
            "/v1/tenants/beta",
            Some(json!({"track_links": false})),
        )
        .await;
    assert_eq!(off["track_links"], false, "{off}");
    let acme = host.ok("PATCH", "/v1/tenants/acme", Some(json!({}))).await;
    assert_eq!(acme["track_links"], true, "on by default: {acme}");
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Setup {
        host,
        graph,
        browser,
        _dir: dir,
    }
}

/// Alice writes to `pn` now, which opens her 24-hour window.
async fn inbound(host: &Host, pn: &str, wamid: &str) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let body = json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA1", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550000000", "phone_number_id": pn},
            "contacts": [{"profile": {"name": "Alice"}, "wa_id": ALICE}],
            "messages": [{"from": ALICE, "id": wamid, "timestamp": now.to_string(),
                          "type": "text", "text": {"body": "Hi, where is my order?"}}]
        }}]}]
    });
    let (status, _) = host
        .post_signed(&serde_json::to_vec(&body).unwrap(), APP_SECRET)
        .await;
    assert_eq!(status, StatusCode::OK);
    host.settle().await;
}

/// Sends `body` from `tenant` through the API and waits until Meta accepted it;
/// the outbox item and what the Cloud API server received.
async fn send(s: &Setup, tenant: &str, body: Value) -> (Value, SentMessage) {
    let item = s
        .host
        .ok(
            "POST",
            &format!("/v1/tenants/{tenant}/messages"),
            Some(body),
        )
        .await;
    let path = format!("/v1/tenants/{tenant}/outbox/{}", item["id"]);
    let sent = eventually(|| async {
        let item = s.host.ok("GET", &path, None).await;
        Ok((item["state"] == "sent").then_some(item))
    })
    .await
    .expect("the send reaches Meta");
    let wamid = sent["wamid"].as_str().unwrap().to_owned();
    let at_meta = s
        .graph
        .sent_messages()
        .into_iter()
        .find(|m| m.wamid == wamid)
        .expect("the Cloud API server got it");
    (sent, at_meta)
}

/// The token of the first tracked link in `text`.
fn token_in(text: &str) -> String {
    let prefix = format!("{PUBLIC_URL}/l/");
    let at = text
        .find(&prefix)
        .unwrap_or_else(|| panic!("no tracked link in {text:?}"));
    text[at + prefix.len()..].chars().take(22).collect()
}

/// Follows `/l/{token}` on the host as a browser with `user_agent` would.
async fn follow(s: &Setup, method: reqwest::Method, token: &str, ua: &str) -> reqwest::Response {
    s.browser
        .request(method, format!("{}/l/{token}", s.host.base))
        .header(USER_AGENT, ua)
        .send()
        .await
        .expect("the host answers")
}

async fn clicks(host: &Host, query: &str) -> Vec<Value> {
    host.all(&format!("/v1/tenants/acme/links/clicks{query}"))
        .await
}

scrm_e2e::both_backends! {
    #[tokio::test]
    async fn a_link_in_a_text_is_tracked_redirected_and_its_click_recorded_and_listed() {
        let s = setup().await;
        let original = "https://shop.example/orders/42?ref=wa";
        let text = format!("Your order is on its way: {original}. Thanks!");
        let (item, at_meta) = send(&s, "acme", json!({"to": ALICE, "type": "text",
            "text": {"body": text, "preview_url": true}})).await;
        let delivered = at_meta.body["text"]["body"].as_str().unwrap();
        assert!(!delivered.contains(original), "Meta got the original link: {delivered}");
        let token = token_in(delivered);
        assert_eq!(delivered, format!("Your order is on its way: {PUBLIC_URL}/l/{token}. Thanks!"));
        assert_eq!(item["body"]["text"]["body"], delivered, "the outbox keeps what was sent");

        // A link preview and a HEAD request are redirected, not counted.
        for (method, ua) in [(reqwest::Method::HEAD, PHONE_UA), (reqwest::Method::GET, "WhatsApp/2.24.10.79 A")] {
            let r = follow(&s, method, &token, ua).await;
            assert_eq!(r.status(), StatusCode::FOUND);
            assert_eq!(r.headers()[LOCATION], original);
        }
        assert!(clicks(&s.host, "").await.is_empty());

        let r = follow(&s, reqwest::Method::GET, &token, PHONE_UA).await;
        assert_eq!(r.status(), StatusCode::FOUND);
        assert_eq!(r.headers()[LOCATION], original);

        let contacts = s.host.all("/v1/tenants/acme/contacts").await;
        let alice = contacts.iter().find(|c| c["wa_id"] == ALICE).expect("Alice")["id"].clone();
        let listed = clicks(&s.host, "").await;
        assert_eq!(listed.len(), 1, "{listed:?}");
        let click = &listed[0];
        assert_eq!(click["url"], original);
        assert_eq!(click["user_agent"], PHONE_UA);
        assert_eq!(click["contact_id"], alice);
        assert_eq!(click["recipient"], ALICE);
        assert_eq!(click["wamid"], item["wamid"]);
        assert_eq!(click["outbox_id"], item["id"]);
        assert!(click["message_id"].is_i64(), "{click}");
        assert_eq!(clicks(&s.host, &format!("?contact={alice}&since=0")).await.len(), 1);
        assert!(clicks(&s.host, "?contact=999999").await.is_empty());
        let later = click["clicked_at"].as_i64().unwrap() + 1;
        assert!(clicks(&s.host, &format!("?since={later}")).await.is_empty());

        let per_message = s.host.all("/v1/tenants/acme/links/messages").await;
        assert_eq!(per_message.len(), 1, "{per_message:?}");
        assert_eq!(per_message[0]["wamid"], item["wamid"]);
        assert_eq!((per_message[0]["links"].clone(), per_message[0]["clicks"].clone()), (json!(1), json!(1)));
        let metrics = s.host.metrics().await;
        assert!(metrics.contains("scrm_link_clicks_total{tenant=\"acme\"} 1"), "{metrics}");
    }

    #[tokio::test]
    async fn an_unknown_token_is_a_404_page_never_a_redirect() {
        let s = setup().await;
        for token in ["AAAAAAAAAAAAAAAAAAAAAA", "%3Cscript%3Ealert(1)%3C%2Fscript%3E", "short"] {
            let r = follow(&s, reqwest::Method::GET, token, PHONE_UA).await;
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "{token}");
            assert!(r.headers().get(LOCATION).is_none(), "{token}");
            assert!(r.headers()[CONTENT_TYPE].to_str().unwrap().starts_with("text/html"));
            let page = r.text().await.unwrap();
            assert!(page.contains("Link not found"), "{page}");
            assert!(!page.contains("script") && !page.contains("AAAA"), "{page}");
        }
        assert!(clicks(&s.host, "").await.is_empty());
        let (status, _) = s.host.api("GET", "/v1/tenants/nobody/links/clicks", None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, body) = s.host.api("GET", "/v1/tenants/acme/links/clicks?since=-1", None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }

    #[tokio::test]
    async fn interactive_links_are_tracked_and_a_tenant_with_tracking_off_sends_them_as_written() {
        let s = setup().await;
        let cta = json!({"to": ALICE, "type": "interactive", "interactive": {"type": "cta_url",
            "body": {"text": "See your order"},
            "action": {"name": "cta_url", "parameters": {"display_text": "Open",
                                                          "url": "https://shop.example/o/7"}}}});
        let (_, at_meta) = send(&s, "acme", cta.clone()).await;
        let url = at_meta.body["interactive"]["action"]["parameters"]["url"].as_str().unwrap();
        let token = token_in(url);
        let r = follow(&s, reqwest::Method::GET, &token, PHONE_UA).await;
        assert_eq!(r.headers()[LOCATION], "https://shop.example/o/7");

        let (_, at_meta) = send(&s, "beta", cta).await;
        assert_eq!(at_meta.body["interactive"]["action"]["parameters"]["url"], "https://shop.example/o/7");
        let text = "Sale: https://shop.example/sale";
        let (_, at_meta) = send(&s, "beta", json!({"to": ALICE, "type": "text", "text": {"body": text}})).await;
        assert_eq!(at_meta.body["text"]["body"], text);
        assert!(s.host.all("/v1/tenants/beta/links/messages").await.is_empty());
    }

    #[tokio::test]
    async fn a_send_repeated_with_its_idempotency_key_keeps_its_one_set_of_links() {
        let s = setup().await;
        let body = json!({"to": ALICE, "type": "text", "text": {"body": "https://shop.example/a https://shop.example/b"}});
        let mut answers = Vec::new();
        for _ in 0..2 {
            let r = s.host.http
                .post(format!("{}/v1/tenants/acme/messages", s.host.base))
                .bearer_auth(scrm_e2e::TOKEN)
                .header("idempotency-key", "order-42-shipped")
                .json(&body)
                .send()
                .await
                .unwrap();
            answers.push((r.status(), r.json::<Value>().await.unwrap()));
        }
        assert_eq!(answers[0].0, StatusCode::ACCEPTED);
        assert_eq!(answers[1].0, StatusCode::OK);
        assert_eq!(answers[0].1["body"], answers[1].1["body"], "the same tracked links");
        let per_message = s.host.all("/v1/tenants/acme/links/messages").await;
        assert_eq!(per_message.len(), 1, "{per_message:?}");
        assert_eq!(per_message[0]["links"], 2);
        let rows = s.host.with_conn(|c| c.query_one("SELECT count(*) FROM links", scrm_store::params![], |r| r.get::<i64>(0))).await.unwrap();
        assert_eq!(rows, 2);
    }
}
