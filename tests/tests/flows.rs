//! Flows end to end: a flow component built from `plugins/` is added to the host's
//! catalog, enabled for a tenant with parameters, and driven by real webhooks; its
//! sends go through the outbox to the local Cloud API server. Bad configurations are
//! refused with the parameter and the reason. (Plugins built against WIT 0.1.0:
//! `wit_compat.rs`.)

use reqwest::StatusCode;
use scrm_e2e::flows::{
    WEI, acme_host, add_flow, add_template, handled, inbound, inbound_message, now_secs,
    sent_at_least,
};
use scrm_e2e::graph::Graph;
use scrm_e2e::{Host, eventually, guest};
use serde_json::{Value, json};

/// Taps option `id` of an interactive list.
async fn tap(host: &Host, wamid: &str, id: &str) {
    inbound_message(
        host,
        "Wei Chen",
        json!({"from": WEI, "id": wamid, "timestamp": now_secs().to_string(), "type": "interactive",
               "interactive": {"type": "list_reply", "list_reply": {"id": id, "title": "x"}}}),
    )
    .await;
}

/// Starts the quiz and answers its five questions with the "dry" option; returns
/// how many messages went out.
async fn complete_quiz(host: &Host, graph: &Graph) -> usize {
    inbound(
        host,
        WEI,
        "Wei Chen",
        "wamid.start",
        "I'd like the skin quiz",
    )
    .await;
    let sent = sent_at_least(graph, 1).await;
    assert_eq!(
        sent[0].body["interactive"]["type"], "list",
        "{}",
        sent[0].body
    );
    let answers = [
        ("q1", "tight"),
        ("q2", "rarely"),
        ("q3", "flakes"),
        ("q4", "barely"),
        ("q5", "flaky"),
    ];
    for (i, (q, a)) in answers.iter().enumerate() {
        tap(host, &format!("wamid.tap{i}"), &format!("quiz:{q}:{a}")).await;
        sent_at_least(graph, i + 2).await;
    }
    6
}

async fn contact_fields(host: &Host) -> std::collections::BTreeMap<String, Value> {
    let db = host.db();
    db.read(|c| {
        let id = scrm_store::ContactRepo::id_by_phone(c, "acme", "+393471234567")?.unwrap();
        scrm_store::CrmRepo::fields(c, "acme", id)
    })
    .await
    .unwrap()
    .into_iter()
    .map(|(k, v)| (k, v.value))
    .collect()
}

/// Registers the approved template `sample_request` (en) with one body parameter.
async fn add_sample_template(host: &Host) {
    add_template(
        host,
        "sample_request",
        "en",
        "Still deciding? Ask for free samples: {{1}}",
    )
    .await;
}

async fn enable_quiz(host: &Host, delay: &str) {
    add_flow(host, "questionnaire").await;
    add_sample_template(host).await;
    host.ok(
        "PUT",
        "/v1/tenants/acme/flows/questionnaire",
        Some(json!({"set": {"delay": delay, "sample_link": "https://shop.example/samples"}})),
    )
    .await;
}

const ANSWERS: &str = r#"[
  {"intent": "opening-hours", "keywords": ["opening hours", "orari"],
   "text": "Ciao {{ contact.first_name | default(\"there\") }}! Siamo aperti {{ flow.opening_hours }}."}
]"#;

scrm_e2e::both_backends! {
    #[tokio::test]
    async fn quick_replies_answer_by_keyword_with_the_customers_name_once_per_interval() {
        let graph = Graph::start().await;
        let dir = tempfile::tempdir().unwrap();
        let host = acme_host(dir.path(), &graph, |_| {}).await;
        let added = add_flow(&host, "quick-replies").await;
        assert_eq!(added["name"], "quick-replies");
        assert!(added["params"].as_array().unwrap().iter().any(|p| p["name"] == "min_interval"));
        let catalog = host.ok("GET", "/v1/flows", None).await;
        assert_eq!(catalog["items"][0]["triggers"], json!(["message"]));

        let enabled = host
            .ok(
                "PUT",
                "/v1/tenants/acme/flows/quick-replies",
                Some(json!({"set": {"answers": ANSWERS, "opening_hours": "lun-sab 9-19"}})),
            )
            .await;
        assert_eq!(enabled["state"], "enabled", "{enabled}");
        assert_eq!(enabled["version"], 1);

        inbound(&host, WEI, "Wei Chen", "wamid.q1", "Buongiorno, che orari fate?").await;
        let status = handled(&host, "quick-replies", 1).await;
        let job = &status["recent"][0];
        assert_eq!(job["state"], "done", "{status}");
        assert!(job["outcome"].as_str().unwrap().contains("reply queued"), "{job}");
        let sent = eventually(|| async {
            let sent = graph.sent_messages();
            Ok((!sent.is_empty()).then_some(sent))
        })
        .await
        .unwrap();
        assert_eq!(sent[0].body["to"], WEI);
        assert_eq!(sent[0].body["text"]["body"], "Ciao Wei! Siamo aperti lun-sab 9-19.");
        let outbox = host.ok("GET", "/v1/tenants/acme/outbox", None).await;
        assert_eq!(outbox["items"][0]["source"], "flow:quick-replies@1", "{outbox}");
        let metrics = host.metrics().await;
        assert!(
            metrics.contains(r#"scrm_flow_sends_total{tenant="acme",flow="quick-replies",version="1"} 1"#),
            "{metrics}"
        );

        // A second question within min_interval (1 minute by default) gets no answer.
        inbound(&host, WEI, "Wei Chen", "wamid.q2", "e gli orari di domenica?").await;
        let status = handled(&host, "quick-replies", 2).await;
        let outcome = status["recent"][0]["outcome"].as_str().unwrap();
        assert!(outcome.contains("min_interval"), "{outcome}");
        // A message that asks nothing it knows gets nothing.
        host.ok(
            "PUT",
            "/v1/tenants/acme/flows/quick-replies",
            Some(json!({"set": {"min_interval": "0s"}})),
        )
        .await;
        inbound(&host, WEI, "Wei Chen", "wamid.q3", "grazie!").await;
        let status = handled(&host, "quick-replies", 3).await;
        assert_eq!(status["version"], 2);
        assert_eq!(status["recent"][0]["outcome"], "nothing to do");
        assert_eq!(graph.sent_messages().len(), 1);

        // Disabled: events stop reaching it.
        let off = host.ok("POST", "/v1/tenants/acme/flows/quick-replies/disable", None).await;
        assert_eq!(off["state"], "disabled");
        inbound(&host, WEI, "Wei Chen", "wamid.q4", "orari?").await;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let status = host.ok("GET", "/v1/tenants/acme/flows/quick-replies", None).await;
        assert_eq!(status["recent"].as_array().unwrap().len(), 3, "{status}");
    }

    #[tokio::test]
    async fn bad_flow_configurations_are_refused_with_the_parameter_and_the_reason() {
        let graph = Graph::start().await;
        let dir = tempfile::tempdir().unwrap();
        let host = acme_host(dir.path(), &graph, |_| {}).await;
        add_flow(&host, "quick-replies").await;
        let put = |set: Value| {
            let host = &host;
            async move {
                host.api("PUT", "/v1/tenants/acme/flows/quick-replies", Some(json!({"set": set})))
                    .await
            }
        };
        let (code, err) = put(json!({"opening_hourz": "9-19"})).await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(err["error"]["code"], "invalid_parameter");
        let msg = err["error"]["message"].as_str().unwrap();
        assert!(msg.contains("opening_hourz") && msg.contains("opening_hours"), "{msg}");

        let (code, err) = put(json!({"min_interval": "ten minutes"})).await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(err["error"]["message"].as_str().unwrap().contains("min_interval"), "{err}");

        let missing = r#"[{"keywords": ["hi"], "text": "Hello\n{{ contact.first_name }}"}]"#;
        let (code, err) = put(json!({"answers": missing})).await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
        let msg = err["error"]["message"].as_str().unwrap();
        assert!(msg.contains("/0/text") && msg.contains("line 2") && msg.contains("default"), "{msg}");

        let (code, err) = put(json!({"answers": "[{\"text\": "})).await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(err["error"]["message"].as_str().unwrap().contains("column"), "{err}");

        // A template the tenant does not have is refused when the flow is enabled.
        add_flow(&host, "questionnaire").await;
        let (code, err) = host
            .api("PUT", "/v1/tenants/acme/flows/questionnaire", Some(json!({"set": {"sample_template": "sample_requets"}})))
            .await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
        let msg = err["error"]["message"].as_str().unwrap();
        assert!(msg.contains("sample_template") && msg.contains("unknown template \"sample_requets\""), "{msg}");

        let (code, err) = host.api("PUT", "/v1/tenants/acme/flows/no-such-flow", None).await;
        assert_eq!(code, StatusCode::NOT_FOUND);
        assert_eq!(err["error"]["code"], "unknown_flow");

        // Nothing was enabled by the refused attempts.
        let flows = host.ok("GET", "/v1/tenants/acme/flows", None).await;
        assert_eq!(flows["items"], json!([]));

        // A component that is not a flow is refused by the catalog, and a flow is
        // not installed as a slot plugin.
        let classifier = std::fs::read(guest("keyword-classifier")).unwrap();
        let resp = host
            .http
            .post(format!("{}/v1/flows", host.base))
            .bearer_auth(scrm_e2e::TOKEN)
            .body(classifier)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["error"]["code"], "not_a_flow", "{v}");
        let comp = host.upload(&guest("quick-replies")).await;
        let (code, err) = host
            .api(
                "PUT",
                "/v1/tenants/acme/plugins/flow",
                Some(json!({"sha256": comp["sha256"]})),
            )
            .await;
        assert_eq!(code, StatusCode::BAD_REQUEST);
        assert_eq!(err["error"]["code"], "use_flows");
    }
    #[tokio::test]
    async fn the_quiz_stores_answers_recommends_and_sends_the_sample_link_once_after_the_delay() {
        let graph = Graph::start().await;
        let dir = tempfile::tempdir().unwrap();
        let host = acme_host(dir.path(), &graph, |_| {}).await;
        enable_quiz(&host, "3s").await;
        let n = complete_quiz(&host, &graph).await;
        let sent = graph.sent_messages();
        let done = sent[n - 1].body["text"]["body"].as_str().unwrap();
        assert!(done.starts_with("Thank you Wei! Here is what we recommend for your skin (dry):"), "{done}");
        assert_eq!(done.matches('•').count(), 3, "{done}");
        let fields = contact_fields(&host).await;
        assert_eq!(fields["skin_type"], "dry");
        assert_eq!(fields["skin_quiz_q3"], "flakes");
        // The follow-up waits as a durable timer…
        let status = host.ok("GET", "/v1/tenants/acme/flows/questionnaire", None).await;
        assert_eq!(status["waiting"][0]["kind"], "timer", "{status}");
        // … and fires after the delay and the settle time: no order, so the link goes once.
        let sent = sent_at_least(&graph, n + 1).await;
        let last = &sent[n].body;
        assert!(last["text"]["body"].as_str().unwrap().contains("https://shop.example/samples"), "{last}");
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        assert_eq!(graph.sent_messages().len(), n + 1, "once");
        let status = host.ok("GET", "/v1/tenants/acme/flows/questionnaire", None).await;
        let fired = status["recent"].as_array().unwrap().iter().find(|j| j["kind"] == "timer").unwrap();
        assert_eq!(fired["state"], "done");
        assert!(fired["outcome"].as_str().unwrap().contains("reply queued"), "{fired}");
    }

    #[tokio::test]
    async fn an_order_before_the_deadline_cancels_the_follow_up() {
        let graph = Graph::start().await;
        let dir = tempfile::tempdir().unwrap();
        let host = acme_host(dir.path(), &graph, |_| {}).await;
        enable_quiz(&host, "2s").await;
        let n = complete_quiz(&host, &graph).await;
        inbound_message(
            &host,
            "Wei Chen",
            json!({"from": WEI, "id": "wamid.order1", "timestamp": now_secs().to_string(), "type": "order",
                   "order": {"catalog_id": "cat1", "text": "",
                             "product_items": [{"product_retailer_id": "SKU-1", "quantity": 1,
                                                "item_price": 24.5, "currency": "EUR"}]}}),
        )
        .await;
        let last = std::sync::Mutex::new(Value::Null);
        let status = eventually(|| async {
            let v = host.ok("GET", "/v1/tenants/acme/flows/questionnaire", None).await;
            *last.lock().unwrap() = v.clone();
            let cancelled = v["recent"].as_array().unwrap().iter().any(|j| j["state"] == "cancelled");
            Ok(cancelled.then_some(v))
        })
        .await
        .unwrap_or_else(|e| panic!("{e}: {}", last.lock().unwrap()));
        assert_eq!(status["waiting"], json!([]), "{status}");
        tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
        assert_eq!(graph.sent_messages().len(), n, "no sample link after an order");
    }

    #[tokio::test]
    async fn a_timer_survives_a_restart_and_fires_late_rather_than_never() {
        let graph = Graph::start().await;
        let dir = tempfile::tempdir().unwrap();
        let host = acme_host(dir.path(), &graph, |_| {}).await;
        enable_quiz(&host, "3s").await;
        let n = complete_quiz(&host, &graph).await;
        // Down before the timer is due, back well after it.
        let mut host = host;
        let stopping = std::time::Instant::now();
        host.stop().await;
        assert_eq!(graph.sent_messages().len(), n, "stopped in {:?}, before the timer", stopping.elapsed());
        tokio::time::sleep(std::time::Duration::from_millis(5000)).await;
        let url = graph.url();
        let host = Host::start_configured(dir.path(), |s| {
            s.whatsapp.graph_url = url;
            s.whatsapp.limits.recipient_interval_ms = 1;
            s.flows.settle_ms = 200;
        })
        .await;
        let sent = sent_at_least(&graph, n + 1).await;
        assert!(sent[n].body["text"]["body"].as_str().unwrap().contains("samples"));
        let status = host.ok("GET", "/v1/tenants/acme/flows/questionnaire", None).await;
        let fired = status["recent"].as_array().unwrap().iter().find(|j| j["kind"] == "timer").unwrap();
        assert!(fired["late_ms"].as_i64().unwrap() >= 1_000, "lateness recorded: {fired}");
        let metrics = host.metrics().await;
        assert!(metrics.contains("scrm_flow_timer_lateness_seconds_count 1"), "{metrics}");
    }
    #[tokio::test]
    async fn a_reply_can_name_the_customers_last_order() {
        let graph = Graph::start().await;
        let dir = tempfile::tempdir().unwrap();
        let host = acme_host(dir.path(), &graph, |_| {}).await;
        add_flow(&host, "quick-replies").await;
        let answers = r#"[{"keywords": ["my order"], "text": "Your order: {{ order.products | default([]) | join(\", \") }} ({{ order.total | default(0) }} {{ order.currency | default(\"\") }})"}]"#;
        host.ok("PUT", "/v1/tenants/acme/flows/quick-replies", Some(json!({"set": {"answers": answers}}))).await;
        inbound_message(&host, "Wei Chen", json!({"from": WEI, "id": "wamid.o1", "timestamp": now_secs().to_string(),
            "type": "order", "order": {"catalog_id": "c", "product_items": [
                {"product_retailer_id": "SERUM-30", "quantity": 2, "item_price": 19.5, "currency": "EUR"}]}})).await;
        inbound(&host, WEI, "Wei Chen", "wamid.o2", "where is my order?").await;
        let sent = sent_at_least(&graph, 1).await;
        assert_eq!(sent[0].body["text"]["body"], "Your order: SERUM-30 (39.0 EUR)");
    }
}
