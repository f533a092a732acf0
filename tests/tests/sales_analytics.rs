//! Sales and engagement analytics over the API, from real traffic: customers write
//! (classified by the real keyword-classifier component), the business answers
//! through the local Cloud API with tracked links, Meta's statuses arrive with their
//! pricing, a customer clicks and places a WhatsApp order that the shop then marks
//! paid, another orders through the shop's API. The funnel, conversion (order value,
//! close rate by payment method, cycle), CTR / open rate with the emoji split, and
//! cost against the tenant's rate card are checked against those facts, with the
//! orders API's bad input refused.

use scrm::config::PublicUrl;
use scrm_e2e::crm::{self, PN};
use scrm_e2e::graph::{ACCESS_TOKEN, Graph};
use scrm_e2e::{Host, eventually};
use serde_json::{Value, json};

const PUBLIC_URL: &str = "https://links.scrm.test";
const ANNA: &str = "393471111111";
const BRUNO: &str = "393472222222";
const CARLA: &str = "393473333333";
const DARIO: &str = "393474444444";

async fn host(graph: &Graph, dir: &std::path::Path) -> Host {
    let graph_url = graph.url();
    let host = Host::start_configured(dir, |s| {
        s.whatsapp.graph_url = graph_url;
        s.whatsapp.backoff_base_ms = 50;
        s.public_url = Some(PublicUrl::parse(PUBLIC_URL).unwrap());
    })
    .await;
    host.tenant("acme", &[PN], "IT").await;
    host.ok(
        "PUT",
        "/v1/tenants/acme/secrets/whatsapp_access_token",
        Some(json!({"value": ACCESS_TOKEN})),
    )
    .await;
    crm::install_classifier(&host, "acme").await;
    host
}

/// Sends `text` to `to` through the API; its wamid once Meta accepted it.
async fn reply(host: &Host, to: &str, text: &str) -> String {
    let item = host
        .ok(
            "POST",
            "/v1/tenants/acme/messages",
            Some(json!({"to": to, "type": "text", "text": {"body": text}})),
        )
        .await;
    let path = format!("/v1/tenants/acme/outbox/{}", item["id"]);
    let sent = eventually(|| async {
        let item = host.ok("GET", &path, None).await;
        Ok((item["state"] == "sent").then_some(item))
    })
    .await
    .expect("the send reaches Meta");
    sent["wamid"].as_str().unwrap().to_owned()
}

/// The tracked-link token in what Meta received for `wamid`.
fn token_of(graph: &Graph, wamid: &str) -> String {
    let m = graph
        .sent_messages()
        .into_iter()
        .find(|m| m.wamid == wamid)
        .expect("sent");
    let text = m.body["text"]["body"].as_str().unwrap().to_owned();
    let prefix = format!("{PUBLIC_URL}/l/");
    let at = text
        .find(&prefix)
        .unwrap_or_else(|| panic!("no tracked link in {text:?}"));
    text[at + prefix.len()..].chars().take(22).collect()
}

async fn metric(host: &Host, query: &str) -> Value {
    host.ok("GET", &format!("/v1/tenants/acme/analytics/{query}"), None)
        .await
}

scrm_e2e::both_backends! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_funnel_conversion_ctr_and_cost_follow_real_traffic() {
        let graph = Graph::start().await;
        let dir = tempfile::tempdir().unwrap();
        let host = host(&graph, dir.path()).await;

        // Four customers write; Anna and Dario ask a price (the classifier says so).
        crm::inbound(&host, PN, ANNA, Some("Anna"), &[("wamid.a1", "Ciao, quanto costa la crema?")]).await;
        crm::inbound(&host, PN, BRUNO, Some("Bruno"), &[("wamid.b1", "Buongiorno, avete il siero?")]).await;
        crm::inbound(&host, PN, CARLA, Some("Carla"), &[("wamid.c1", "Ciao")]).await;
        crm::inbound(&host, PN, DARIO, Some("Dario"), &[("wamid.d1", "What's the price of the serum?")]).await;

        // The business answers Anna (with an emoji), Bruno and Dario, each with a link.
        let to_anna = reply(&host, ANNA, "Eccola 🔥 https://shop.example/crema").await;
        let to_bruno = reply(&host, BRUNO, "Sì: https://shop.example/siero").await;
        let to_dario = reply(&host, DARIO, "Here: https://shop.example/serum").await;
        // Meta: all delivered (Bruno's billed as marketing), Anna's and Dario's read.
        let service = json!({"billable": false, "pricing_model": "PMP", "category": "service", "type": "free_customer_service"});
        let marketing = json!({"billable": true, "pricing_model": "PMP", "category": "marketing", "type": "regular"});
        crm::status(&host, PN, &to_anna, ANNA, "delivered", Some(service.clone())).await;
        crm::status(&host, PN, &to_bruno, BRUNO, "delivered", Some(marketing)).await;
        crm::status(&host, PN, &to_dario, DARIO, "delivered", Some(service)).await;
        crm::status(&host, PN, &to_anna, ANNA, "read", None).await;
        crm::status(&host, PN, &to_dario, DARIO, "read", None).await;
        // Anna clicks; Dario answers without ordering.
        let click = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
            .get(format!("{}/l/{}", host.base, token_of(&graph, &to_anna)))
            .send().await.unwrap();
        assert_eq!(click.status(), 302);
        crm::inbound(&host, PN, DARIO, Some("Dario"), &[("wamid.d2", "Thanks, I'll think about it")]).await;

        // Anna orders on WhatsApp; the shop marks it paid by card. Bruno orders
        // through the shop (cash on delivery, not paid yet).
        crm::order(&host, PN, ANNA, "wamid.a-order", &[("CRE-50", 2, 29.9)]).await;
        let paid = host.ok("PUT", "/v1/tenants/acme/orders/wamid.a-order",
            Some(json!({"state": "paid", "payment_method": "card"}))).await;
        assert_eq!((paid["source"].as_str(), paid["state"].as_str()), (Some("whatsapp"), Some("paid")), "{paid}");
        assert!((paid["total"].as_f64().unwrap() - 59.8).abs() < 1e-9, "{paid}");
        let b = host.ok("PUT", "/v1/tenants/acme/orders/SHOP-1001",
            Some(json!({"phone": "347 222 2222", "total": 30, "currency": "eur", "payment_method": "Cash on delivery"}))).await;
        assert_eq!((b["currency"].as_str(), b["payment_method"].as_str(), b["state"].as_str()),
                   (Some("EUR"), Some("cash_on_delivery"), Some("placed")), "{b}");
        let listed = host.ok("GET", "/v1/tenants/acme/orders", None).await;
        assert_eq!(listed["items"].as_array().map(Vec::len), Some(2), "{listed}");

        // Funnel: 4 first contacts; Anna, Bruno (ordered) and Dario engaged; Anna
        // and Dario asked a price (Bruno counts through his order); two ordered; one paid.
        let f = metric(&host, "funnel").await;
        let counts: Vec<u64> = f["stages"].as_array().unwrap().iter().map(|s| s["count"].as_u64().unwrap()).collect();
        assert_eq!(counts, [4, 3, 3, 2, 1], "{f}");
        assert_eq!((f["overall"].as_f64(), f["on_target"].as_bool()), (Some(0.25), Some(true)), "{f}");

        // Conversion: two of four customers ordered; order value in EUR; card closes,
        // cash on delivery not yet; two first orders, no video sent.
        let c = metric(&host, "conversion").await;
        assert_eq!((c["conversion"]["customers"].as_u64(), c["conversion"]["converted"].as_u64(), c["conversion"]["rate"].as_f64()),
                   (Some(4), Some(2), Some(0.5)), "{c}");
        assert_eq!(c["order_value"], json!([{"currency": "EUR", "orders": 2, "revenue": 89.8, "average": 44.9}]), "{c}");
        let rates: Vec<(&str, f64)> = c["close_rate"].as_array().unwrap().iter()
            .map(|r| (r["payment_method"].as_str().unwrap(), r["close_rate"].as_f64().unwrap())).collect();
        assert_eq!(rates, [("card", 1.0), ("cash_on_delivery", 0.0)], "{c}");
        assert_eq!((c["cycle"]["all"]["count"].as_u64(), c["cycle"]["with_video"]["count"].as_u64()), (Some(2), Some(0)), "{c}");

        // CTR and open rate: three sends with links, one clicked (Anna's, with the
        // emoji); three delivered, two read.
        let e = metric(&host, "ctr").await;
        let t = &e["total"];
        assert_eq!((t["sent"].as_u64(), t["delivered"].as_u64(), t["read"].as_u64(), t["open_rate"].as_f64()),
                   (Some(3), Some(3), Some(2), Some(0.6667)), "{e}");
        assert_eq!((t["with_links"].as_u64(), t["clicked"].as_u64(), t["ctr"].as_f64()), (Some(3), Some(1), Some(0.3333)), "{e}");
        assert_eq!((e["emoji"]["emoji"]["ctr"].as_f64(), e["emoji"]["text_only"]["ctr"].as_f64()), (Some(1.0), Some(0.0)), "{e}");
        assert_eq!(e["emoji"]["lift"], Value::Null, "no text-only clicks to compare with: {e}");
        assert_eq!((e["items"][0]["kind"].as_str(), e["items"][0]["name"].as_str()), (Some("message"), Some("text")), "{e}");

        // Cost: Bruno's marketing message at the Italian rate, plus 7 EUR a week of
        // fixed costs over the default 30 days; four conversations, two new customers.
        let card = json!({"prices": {"currency": "EUR", "rates": {"IT": {"marketing": 0.0572}}}, "fixed_costs_per_week": 7});
        host.ok("PUT", "/v1/tenants/acme/analytics/settings", Some(card)).await;
        let cost = metric(&host, "cost").await;
        assert_eq!(cost["messages"]["lines"], json!([{"country": "IT", "category": "marketing", "charges": 1,
            "estimated": 0, "price": 0.0572, "cost": 0.0572}]), "{cost}");
        assert_eq!((cost["fixed_costs"].as_f64(), cost["total"].as_f64()), (Some(30.0), Some(30.0572)), "{cost}");
        assert_eq!((cost["conversations"].as_u64(), cost["per_conversation"].as_f64()), (Some(4), Some(7.5143)), "{cost}");
        assert_eq!((cost["new_customers"].as_u64(), cost["acquisition_cost"].as_f64(), cost["on_target"].as_bool()),
                   (Some(2), Some(15.0286), Some(false)), "{cost}");
        let svg = reqwest::Client::new().get(format!("{}/v1/tenants/acme/analytics/cost?format=svg", host.base))
            .bearer_auth(scrm_e2e::TOKEN).send().await.unwrap().text().await.unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("IT marketing"), "{svg}");
        let csv = reqwest::Client::new().get(format!("{}/v1/tenants/acme/analytics/funnel?format=csv", host.base))
            .bearer_auth(scrm_e2e::TOKEN).send().await.unwrap().text().await.unwrap();
        assert!(csv.starts_with("stage,count,of_previous,of_first\nfirst_contact,4,1,1\n"), "{csv}");

        // Bad input.
        for (path, body, status, code) in [
            ("SHOP-2", json!({"phone": "347 999 9999"}), 422, "unknown_contact"),
            ("SHOP-2", json!({"total": 5}), 422, "unknown_contact"),
            ("SHOP-1001", json!({"currency": "EURO"}), 422, "invalid_order"),
            ("SHOP-1001", json!({"total": -1}), 422, "invalid_order"),
        ] {
            let (s, v) = host.api("PUT", &format!("/v1/tenants/acme/orders/{path}"), Some(body.clone())).await;
            assert_eq!((s.as_u16(), v["error"]["code"].as_str()), (status, Some(code)), "{body}: {v}");
        }
        let (s, v) = host.api("PUT", "/v1/tenants/acme/orders/SHOP-1001", Some(json!({"state": "shipped"}))).await;
        assert!(s.is_client_error(), "{v}");
        let kept = host.ok("GET", "/v1/tenants/acme/orders", None).await;
        assert_eq!(kept["items"].as_array().map(Vec::len), Some(2), "bad writes change nothing: {kept}");
        let (s, v) = host.api("GET", "/v1/tenants/acme/analytics/ctr?team=1", None).await;
        assert_eq!((s.as_u16(), v["error"]["code"].as_str()), (400, Some("unsupported_scope")), "{v}");
        let (s, v) = host.api("PUT", "/v1/tenants/acme/analytics/settings",
            Some(json!({"prices": {"rates": {"Italy": {"marketing": 1}}}}))).await;
        assert_eq!((s.as_u16(), v["error"]["code"].as_str()), (422, Some("invalid_analytics_settings")), "{v}");
    }
}
