//! The AI replies flow (plugins/ai-replies) end to end, against a local server that
//! speaks the chat-completions wire format (tests/src/chat.rs): drafts an agent
//! sends or discards, answers sent inside the window, cost per reply in the
//! analytics, the monthly budget, each guardrail and each endpoint failure.

use scrm_e2e::chat::{self, ChatServer, Mode};
use scrm_e2e::flows::{WEI, acme_host, add_flow, handled, inbound, sent_at_least};
use scrm_e2e::graph::Graph;
use scrm_e2e::{Host, eventually, guest};
use serde_json::{Value, json};
use std::time::Duration;

/// A host with the keyword classifier, the team "Assistenza", the endpoint's key as
/// a tenant secret and the flow in the catalog.
async fn setup(dir: &std::path::Path, graph: &Graph) -> Host {
    let host = acme_host(dir, graph, |_| {}).await;
    host.install("acme", "classifier", &guest("keyword-classifier"), None)
        .await;
    host.team("acme", "Assistenza").await;
    host.ok(
        "PUT",
        "/v1/tenants/acme/secrets/llm_key",
        Some(json!({"value": chat::API_KEY})),
    )
    .await;
    add_flow(&host, "ai-replies").await;
    host
}

/// Enables the flow against `server` with `extra` parameters.
async fn enable(host: &Host, server: &ChatServer, extra: Value) -> Value {
    let mut set = json!({"endpoint": server.base, "model": chat::MODEL, "api_key_secret": "llm_key",
        "handoff": "Assistenza", "price_prompt_per_1k": 0.5, "price_completion_per_1k": 1.5});
    for (k, v) in extra.as_object().unwrap() {
        set[k] = v.clone();
    }
    host.ok(
        "PUT",
        "/v1/tenants/acme/flows/ai-replies",
        Some(json!({"set": set})),
    )
    .await
}

async fn conversation(host: &Host) -> Value {
    let id = host.conversation_of("acme", WEI).await;
    host.ok(
        "GET",
        &format!("/v1/tenants/acme/inbox/conversations/{id}"),
        None,
    )
    .await
}

/// Waits for the conversation's waiting drafts to be `n`.
async fn drafts(host: &Host, n: usize) -> (i64, Vec<Value>) {
    eventually(|| async {
        let v = conversation(host).await;
        let drafts = v["drafts"].as_array().cloned().unwrap_or_default();
        Ok((drafts.len() == n).then(|| (v["id"].as_i64().unwrap(), drafts)))
    })
    .await
    .unwrap_or_else(|e| panic!("{n} drafts: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draft_is_written_with_what_scrm_knows_and_sent_by_an_agent_as_edited() {
    let dir = tempfile::tempdir().unwrap();
    let graph = Graph::start().await;
    let server = ChatServer::start().await;
    let host = setup(dir.path(), &graph).await;
    enable(&host, &server, json!({})).await;
    server.answer_with(&["Ciao Wei! La spedizione arriva in 2 giorni."]);

    inbound(
        &host,
        WEI,
        "Wei Chen",
        "wamid.a1",
        "Quando arriva il mio ordine?",
    )
    .await;
    let (cid, waiting) = drafts(&host, 1).await;
    assert_eq!(
        waiting[0]["text"],
        "Ciao Wei! La spedizione arriva in 2 giorni."
    );
    assert!(
        waiting[0]["note"]
            .as_str()
            .unwrap()
            .starts_with(chat::MODEL),
        "{waiting:?}"
    );
    assert!(graph.sent_messages().is_empty(), "a draft is not sent");

    // What the model was asked: OpenAI's shape, the customer's name, the message.
    let asked = server.requests();
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0]["model"], chat::MODEL);
    assert_eq!(asked[0]["max_tokens"], 300);
    let messages = asked[0]["messages"].as_array().unwrap();
    assert_eq!(messages[0]["role"], "system");
    assert!(
        messages[0]["content"]
            .as_str()
            .unwrap()
            .contains("Wei Chen"),
        "{messages:?}"
    );
    let last = messages.last().unwrap();
    assert_eq!(
        (last["role"].as_str(), last["content"].as_str()),
        (Some("user"), Some("Quando arriva il mio ordine?"))
    );

    // Its cost is in the analytics: prompt and answer tokens at the flow's prices.
    let usage = host
        .ok("GET", "/v1/tenants/acme/analytics/model-usage", None)
        .await;
    let item = &usage["items"][0];
    assert_eq!(
        (item["flow"].as_str(), item["calls"].as_i64()),
        (Some("ai-replies"), Some(1)),
        "{usage}"
    );
    let (prompt, completion) = (
        item["prompt_tokens"].as_f64().unwrap(),
        item["completion_tokens"].as_f64().unwrap(),
    );
    assert_eq!(
        completion, 8.0,
        "the answer's words, as the server counts tokens"
    );
    let cost = item["cost"].as_f64().unwrap();
    assert!(
        (cost - (prompt / 1000.0 * 0.5 + completion / 1000.0 * 1.5)).abs() < 1e-9,
        "{usage}"
    );

    // The agent edits and sends it; it goes out once, as plain text.
    let draft = waiting[0]["id"].as_i64().unwrap();
    let send = format!("/v1/tenants/acme/inbox/conversations/{cid}/drafts/{draft}/send");
    host.ok(
        "POST",
        &send,
        Some(json!({"text": "Ciao Wei! Arriva in 2 giorni {{ contact.email }}."})),
    )
    .await;
    let sent = sent_at_least(&graph, 1).await;
    assert_eq!(
        sent[0].body["text"]["body"],
        "Ciao Wei! Arriva in 2 giorni {{ contact.email }}."
    );
    let (status, v) = host.api("POST", &send, Some(json!({}))).await;
    assert_eq!(
        (status.as_u16(), v["error"]["code"].as_str()),
        (409, Some("draft_decided")),
        "{v}"
    );
    drafts(&host, 0).await;

    // A second message's draft is discarded.
    inbound(&host, WEI, "Wei Chen", "wamid.a2", "Grazie!").await;
    let (_, waiting) = drafts(&host, 1).await;
    let discard = format!(
        "/v1/tenants/acme/inbox/conversations/{cid}/drafts/{}/discard",
        waiting[0]["id"]
    );
    host.ok("POST", &discard, None).await;
    drafts(&host, 0).await;
    assert_eq!(graph.sent_messages().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_mode_answers_in_the_window_with_the_answer_as_data() {
    let dir = tempfile::tempdir().unwrap();
    let graph = Graph::start().await;
    let server = ChatServer::start().await;
    let host = setup(dir.path(), &graph).await;
    enable(
        &host,
        &server,
        json!({"mode": "send", "allowed_links": ["shop.example.com"]}),
    )
    .await;
    server.answer_with(&["Hi {{ contact.name }}! Track it at https://shop.example.com/t/1 or pay at https://evil.example.net/pay."]);

    inbound(&host, WEI, "Wei Chen", "wamid.s1", "Where is my parcel?").await;
    let sent = sent_at_least(&graph, 1).await;
    let body = sent[0].body["text"]["body"].as_str().unwrap().to_owned();
    assert!(
        body.starts_with("Hi {{ contact.name }}! Track it at "),
        "template syntax is shown, not run: {body}"
    );
    assert!(
        body.contains("shop.example.com/t/1") || body.contains("/l/"),
        "the allowed link stays: {body}"
    );
    assert!(
        !body.contains("evil.example.net"),
        "a link to another host is removed: {body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn complaints_in_send_mode_and_a_failing_endpoint_go_to_a_person() {
    let dir = tempfile::tempdir().unwrap();
    let graph = Graph::start().await;
    let server = ChatServer::start().await;
    let host = setup(dir.path(), &graph).await;
    enable(&host, &server, json!({"mode": "send", "timeout": "1s"})).await;

    // A complaint: no model call, the conversation goes to Assistenza.
    inbound(&host, WEI, "Wei Chen", "wamid.c1", "Voglio fare un reclamo").await;
    handled(&host, "ai-replies", 1).await;
    assert!(
        server.requests().is_empty(),
        "the model is not asked about a complaint"
    );
    let v = conversation(&host).await;
    assert!(v["assignee_team"].is_number(), "handed to a team: {v}");

    // The endpoint rate-limits, fails, then is too slow: each message goes to a
    // person, nothing is sent, and no event is left waiting.
    for (i, mode) in [
        Mode::Status(429),
        Mode::Status(503),
        Mode::Late(Duration::from_secs(3)),
    ]
    .into_iter()
    .enumerate()
    {
        server.set_mode(mode.clone());
        inbound(
            &host,
            WEI,
            "Wei Chen",
            &format!("wamid.f{i}"),
            "Quanto costa la spedizione?",
        )
        .await;
        let flow = handled(&host, "ai-replies", i + 2).await;
        let recent = &flow["recent"][0];
        assert_eq!(recent["state"], "done", "{mode:?}: {flow}");
        assert!(
            recent["outcome"]
                .as_str()
                .unwrap()
                .contains("tag ai-handoff")
                || recent["outcome"].as_str().unwrap().contains("ai-handoff"),
            "{mode:?}: {flow}"
        );
    }
    assert!(graph.sent_messages().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spent_budget_stops_drafts_and_raises_an_alert() {
    let dir = tempfile::tempdir().unwrap();
    let graph = Graph::start().await;
    let server = ChatServer::start().await;
    let host = setup(dir.path(), &graph).await;
    enable(&host, &server, json!({})).await;
    let v = host
        .ok(
            "PATCH",
            "/v1/tenants/acme",
            Some(json!({"model_budget": 0.001})),
        )
        .await;
    assert_eq!(v["model_budget"], 0.001);
    let (status, v) = host
        .api(
            "PATCH",
            "/v1/tenants/acme",
            Some(json!({"model_budget": -1})),
        )
        .await;
    assert_eq!(
        (status.as_u16(), v["error"]["code"].as_str()),
        (422, Some("invalid_model_budget"))
    );

    inbound(&host, WEI, "Wei Chen", "wamid.b1", "Avete il modello blu?").await;
    drafts(&host, 1).await;
    // That call spent the budget: the next message is handed to a person unasked.
    inbound(&host, WEI, "Wei Chen", "wamid.b2", "E quello rosso?").await;
    handled(&host, "ai-replies", 2).await;
    assert_eq!(
        server.requests().len(),
        1,
        "the model is not asked once the budget is spent"
    );
    drafts(&host, 1).await;
    let usage = host
        .ok("GET", "/v1/tenants/acme/analytics/model-usage", None)
        .await;
    assert!(
        usage["spent_this_month"].as_f64().unwrap() >= 0.001,
        "{usage}"
    );
    let checked = host.ok("POST", "/v1/tenants/acme/alerts/check", None).await;
    let kinds: Vec<&str> = checked["raised"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["kind"].as_str())
        .collect();
    assert!(kinds.contains(&"model_budget_spent"), "{checked}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enabling_with_a_missing_secret_or_a_bad_endpoint_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let graph = Graph::start().await;
    let server = ChatServer::start().await;
    let host = setup(dir.path(), &graph).await;
    let (status, v) = host
        .api(
            "PUT",
            "/v1/tenants/acme/flows/ai-replies",
            Some(json!({"set": {
        "endpoint": server.base, "model": chat::MODEL, "api_key_secret": "nope"}})),
        )
        .await;
    assert_eq!(status.as_u16(), 422, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("api_key_secret"),
        "{v}"
    );
    let (status, v) = host
        .api(
            "PUT",
            "/v1/tenants/acme/flows/ai-replies",
            Some(json!({"set": {
        "endpoint": "ftp://models.example/v1", "model": chat::MODEL}})),
        )
        .await;
    assert_eq!(status.as_u16(), 422, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("endpoint"),
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_outside_the_operators_list_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let graph = Graph::start().await;
    let server = ChatServer::start().await;
    let host = acme_host(dir.path(), &graph, |s| {
        s.flows.endpoints = scrm::automation::endpoint::Allowlist(vec![
            "api.openai.com".into(),
            "*.openai.azure.com".into(),
        ]);
    })
    .await;
    add_flow(&host, "ai-replies").await;
    let (status, v) = host
        .api(
            "PUT",
            "/v1/tenants/acme/flows/ai-replies",
            Some(json!({"set": {"endpoint": server.base, "model": chat::MODEL}})),
        )
        .await;
    assert_eq!(
        (status.as_u16(), v["error"]["code"].as_str()),
        (422, Some("invalid_parameter")),
        "{v}"
    );
    let message = v["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("endpoint") && message.contains("[flows] endpoints"),
        "{v}"
    );
    assert!(server.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_the_endpoint_rejects_pauses_the_flow_until_it_is_enabled_again() {
    let dir = tempfile::tempdir().unwrap();
    let graph = Graph::start().await;
    let server = ChatServer::start().await;
    let host = setup(dir.path(), &graph).await;
    enable(&host, &server, json!({"model": "gpt-nope"})).await;

    inbound(&host, WEI, "Wei Chen", "wamid.p1", "Avete il modello blu?").await;
    let paused = eventually(|| async {
        let v = host
            .ok("GET", "/v1/tenants/acme/flows/ai-replies", None)
            .await;
        Ok((v["state"] == "paused").then_some(v))
    })
    .await
    .unwrap_or_else(|e| panic!("the flow is not paused: {e}"));
    let reason = paused["quarantine_reason"].as_str().unwrap();
    assert!(
        reason.contains("invalid config") && reason.contains("gpt-nope"),
        "the endpoint's words are shown: {paused}"
    );
    // The event is not dropped: it waits for the flow.
    assert_eq!(paused["waiting"].as_array().unwrap().len(), 1, "{paused}");
    assert!(
        paused["waiting"][0]["outcome"]
            .as_str()
            .unwrap()
            .starts_with("waiting: flow paused"),
        "{paused}"
    );
    // A second message waits too, without asking the endpoint again.
    inbound(&host, WEI, "Wei Chen", "wamid.p2", "E quello rosso?").await;
    eventually(|| async {
        let v = host
            .ok("GET", "/v1/tenants/acme/flows/ai-replies", None)
            .await;
        let waiting = v["waiting"].as_array().unwrap();
        Ok((waiting.len() == 2
            && waiting.iter().all(|j| {
                j["outcome"]
                    .as_str()
                    .is_some_and(|o| o.starts_with("waiting"))
            }))
        .then_some(()))
    })
    .await
    .unwrap_or_else(|e| panic!("the second event does not wait: {e}"));
    assert_eq!(server.requests().len(), 1, "a paused flow asks nothing");
    let checked = host.ok("POST", "/v1/tenants/acme/alerts/check", None).await;
    assert!(
        checked["raised"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["kind"] == "plugin_quarantined"
                && a["message"].as_str().unwrap().contains("gpt-nope")),
        "{checked}"
    );
    let text = host
        .cli(&["flow", "status", "--tenant", "acme", "ai-replies"])
        .await;
    assert!(
        text.contains("paused") && text.contains("gpt-nope"),
        "{text}"
    );

    // Enabled again with a model the endpoint serves: both messages are answered
    // at once (the newer draft replaces the older one).
    let v = enable(&host, &server, json!({"model": chat::MODEL})).await;
    assert!(v["quarantine_reason"].is_null(), "{v}");
    eventually(|| async {
        let v = host
            .ok("GET", "/v1/tenants/acme/flows/ai-replies", None)
            .await;
        Ok((v["state"] == "enabled" && v["counts"]["done"] == 2).then_some(()))
    })
    .await
    .unwrap_or_else(|e| panic!("the waiting events are not handled: {e}"));
    drafts(&host, 1).await;
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_edits_and_sends_a_draft_in_the_web_inbox() {
    if !scrm_e2e::browser::available("an_agent_edits_and_sends_a_draft_in_the_web_inbox") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let graph = Graph::start().await;
    let server = ChatServer::start().await;
    let host = setup(dir.path(), &graph).await;
    enable(&host, &server, json!({})).await;
    host.ok(
        "POST",
        "/v1/tenants/acme/people",
        Some(json!({"email": "giulia@acme.example",
        "name": "Giulia", "role": "agent", "password": "correct horse battery", "teams": []})),
    )
    .await;
    server.answer_with(&["Ciao Wei, arriva domani."]);
    inbound(&host, WEI, "Wei Chen", "wamid.w1", "Quando arriva?").await;
    drafts(&host, 1).await;

    let mut b = scrm_e2e::browser::Browser::start("ai_replies")
        .await
        .expect("headless chromium");
    b.client
        .goto(&format!("{}/login", host.base))
        .await
        .unwrap();
    b.type_into("#tenant", "acme").await.unwrap();
    b.type_into("#email", "giulia@acme.example").await.unwrap();
    b.type_into("#password", "correct horse battery")
        .await
        .unwrap();
    b.click("#login-submit").await.unwrap();
    b.click("#conversations li button").await.unwrap();
    b.until_text("#drafts", "drafted by ai-replies")
        .await
        .unwrap();
    // The agent edits it before sending.
    b.type_into(
        "#drafts .draft-text",
        "Ciao Wei, arriva domani. Buona giornata!",
    )
    .await
    .unwrap();
    b.screenshot("draft").await.unwrap();
    b.click("#drafts .draft-send").await.unwrap();
    let sent = sent_at_least(&graph, 1).await;
    assert_eq!(
        sent[0].body["text"]["body"],
        "Ciao Wei, arriva domani. Buona giornata!"
    );
    b.until_text("#messages", "Buona giornata!").await.unwrap();
    drafts(&host, 0).await;
    b.close().await;
}
