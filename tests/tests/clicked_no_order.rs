//! `clicked-no-order` end to end: a link the business sent is tracked, the customer
//! clicks it (a real HTTP request to `/l/{token}`), and the flow's durable timer
//! decides, a settle delay after the deadline, whether the discount template goes:
//! once, and never when an order arrived — even one that landed just after the
//! deadline, inside the settle delay.

use scrm::config::PublicUrl;
use scrm_e2e::flows::{WEI, acme_host, add_flow, add_template, inbound, inbound_message, now_secs};
use scrm_e2e::graph::Graph;
use scrm_e2e::{Host, eventually};
use serde_json::{Value, json};
use std::time::Duration;

const PUBLIC_URL: &str = "https://go.acme.example";

struct Setup {
    host: Host,
    graph: Graph,
    _dir: tempfile::TempDir,
}

/// A host with tracked links and `clicked-no-order` enabled with `delay`; settle
/// delay `settle_ms`.
async fn setup(delay: &str, settle_ms: u64) -> Setup {
    let graph = Graph::start().await;
    let dir = tempfile::tempdir().unwrap();
    let host = acme_host(dir.path(), &graph, |s| {
        s.public_url = Some(PublicUrl::parse(PUBLIC_URL).unwrap());
        s.flows.settle_ms = settle_ms;
    })
    .await;
    add_flow(&host, "clicked-no-order").await;
    add_template(
        &host,
        "discount_15",
        "en",
        "Hi {{1}}, here is 15% off: {{2}}",
    )
    .await;
    let enabled = host
        .ok(
            "PUT",
            "/v1/tenants/acme/flows/clicked-no-order",
            Some(json!({"set": {"template": "discount_15", "delay": delay,
                "parameters": r#"["{{ contact.first_name | default(\"there\") }}", "SAVE15"]"#}})),
        )
        .await;
    assert_eq!(enabled["state"], "enabled", "{enabled}");
    Setup {
        host,
        graph,
        _dir: dir,
    }
}

/// The customer writes, the business answers with a link; the token of the tracked
/// link Meta received.
async fn link_sent(s: &Setup) -> String {
    inbound(
        &s.host,
        WEI,
        "Wei Chen",
        "wamid.in1",
        "Do you have the serum?",
    )
    .await;
    let (code, item) = s
        .host
        .api(
            "POST",
            "/v1/tenants/acme/messages",
            Some(json!({"to": WEI, "type": "text",
                        "text": {"body": "Here it is: https://shop.acme.example/serum"}})),
        )
        .await;
    assert!(code.is_success(), "{item}");
    let text = eventually(|| async {
        Ok(s.graph
            .sent_messages()
            .first()
            .and_then(|m| m.body["text"]["body"].as_str().map(str::to_owned)))
    })
    .await
    .unwrap();
    let prefix = format!("{PUBLIC_URL}/l/");
    let at = text
        .find(&prefix)
        .unwrap_or_else(|| panic!("not tracked: {text}"));
    text[at + prefix.len()..].chars().take(22).collect()
}

/// Clicks the tracked link like a phone's browser.
async fn click(s: &Setup, token: &str) {
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = browser
        .get(format!("{}/l/{token}", s.host.base))
        .header(
            "user-agent",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X)",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), reqwest::StatusCode::FOUND);
    assert_eq!(
        resp.headers()["location"],
        "https://shop.acme.example/serum"
    );
}

/// A WhatsApp catalogue order from the customer.
async fn order(s: &Setup) {
    inbound_message(
        &s.host,
        "Wei Chen",
        json!({"from": WEI, "id": "wamid.order1", "timestamp": now_secs().to_string(), "type": "order",
               "order": {"catalog_id": "cat1", "product_items": [{"product_retailer_id": "SERUM-30",
                         "quantity": 1, "item_price": 39.0, "currency": "EUR"}]}}),
    )
    .await;
}

async fn flow_status(host: &Host) -> Value {
    host.ok("GET", "/v1/tenants/acme/flows/clicked-no-order", None)
        .await
}

/// Waits until the flow has a pending timer.
async fn timer_waiting(host: &Host) -> Value {
    eventually(|| async {
        let v = flow_status(host).await;
        let waiting = v["waiting"]
            .as_array()
            .is_some_and(|w| w.iter().any(|j| j["kind"] == "timer"));
        Ok(waiting.then_some(v))
    })
    .await
    .expect("the click set a timer")
}

scrm_e2e::both_backends! {
    #[tokio::test]
    async fn a_click_without_an_order_gets_the_discount_template_once() {
        let s = setup("1s", 200).await;
        let token = link_sent(&s).await;
        click(&s, &token).await;
        timer_waiting(&s.host).await;
        let sent = eventually(|| async {
            let sent = s.graph.sent_messages();
            Ok((sent.len() >= 2).then_some(sent))
        })
        .await
        .expect("the discount went");
        let t = &sent[1].body["template"];
        assert_eq!(t["name"], "discount_15", "{}", sent[1].body);
        assert_eq!(t["components"][0]["parameters"][0]["text"], "Wei");
        assert_eq!(t["components"][0]["parameters"][1]["text"], "SAVE15");
        let outbox = s.host.ok("GET", "/v1/tenants/acme/outbox", None).await;
        let sources: Vec<&str> = outbox["items"].as_array().unwrap().iter()
            .filter_map(|i| i["source"].as_str()).collect();
        assert!(sources.contains(&"flow:clicked-no-order@1"), "{sources:?}");
        // Clicking again, later, sends nothing more: once per customer.
        click(&s, &token).await;
        tokio::time::sleep(Duration::from_millis(1800)).await;
        assert_eq!(s.graph.sent_messages().len(), 2);
    }

    #[tokio::test]
    async fn an_order_inside_the_settle_delay_after_the_deadline_is_still_seen() {
        // The deadline is 1 s after the click; the order lands 1.5 s after it, past
        // the deadline but inside the 3 s settle delay: no discount.
        let s = setup("1s", 3_000).await;
        let token = link_sent(&s).await;
        click(&s, &token).await;
        timer_waiting(&s.host).await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        order(&s).await;
        tokio::time::sleep(Duration::from_millis(3500)).await;
        assert_eq!(s.graph.sent_messages().len(), 1, "only the business's own message");
        let v = flow_status(&s.host).await;
        assert_eq!(v["waiting"], json!([]), "{v}");
        assert!(
            v["recent"].as_array().unwrap().iter().any(|j| j["state"] == "cancelled"),
            "the timer was cancelled by the order: {v}"
        );
    }
}
