//! Campaigns end to end, on SQLite and PostgreSQL: contacts tagged by the real
//! keyword classifier from their WhatsApp messages, opt-ins recorded through the API,
//! a campaign created, planned and started over HTTP, its templates sent through the
//! outbox to the local Cloud API server with each contact's parameters, and its
//! progress read back. Batch mode above 80 % of a small daily cap; a customer's reply
//! while a campaign runs; pause, resume and a scheduled start; bad input refused.

use reqwest::StatusCode;
use scrm_e2e::flows::{PN, acme_host, add_template, inbound, now_secs, sent_at_least};
use scrm_e2e::graph::{Graph, SentMessage};
use scrm_e2e::{APP_SECRET, Host, eventually, guest};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Tags `vip` ("gold member") and `complained` ("complaint").
const CLASSIFIER: &str = "defaults = false\n\
[[rules]]\ntag = \"vip\"\nkeywords = [\"gold member\"]\n\
[[rules]]\ntag = \"complained\"\nkeywords = [\"complaint\"]\n";

const AUDIENCE: &str = "tag:vip AND NOT tag:complained";

/// A host with the classifier and the template `spring_promo` (en, two parameters).
async fn campaign_host(dir: &std::path::Path, graph: &Graph) -> Host {
    let host = acme_host(dir, graph, |_| {}).await;
    host.install(
        "acme",
        "classifier",
        &guest("keyword-classifier"),
        Some(CLASSIFIER),
    )
    .await;
    add_template(
        &host,
        "spring_promo",
        "en",
        "Hi {{1}}, as a {{2}} member you get 20 % off",
    )
    .await;
    host
}

/// Customer `wa` (profile `name`) writes `text`.
async fn says(host: &Host, wa: &str, name: &str, text: &str) {
    let wamid = format!("wamid.{wa}.{}", rand_suffix());
    inbound(host, wa, name, &wamid, text).await;
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

async fn opt_in(host: &Host, wa: &str) {
    host.ok(
        "PUT",
        &format!("/v1/tenants/acme/consent/{wa}"),
        Some(json!({"status": "opted_in", "source": "web_form"})),
    )
    .await;
}

/// `n` opted-in VIPs, 39347100000{i}.
async fn vips(host: &Host, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for i in 0..n {
        let wa = format!("3934710000{i:02}");
        says(host, &wa, &format!("Vip{i} Customer"), "I am a gold member").await;
        opt_in(host, &wa).await;
        out.push(wa);
    }
    out
}

async fn create(host: &Host, body: Value) -> Value {
    let (status, v) = host
        .api("POST", "/v1/tenants/acme/campaigns", Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    v
}

fn spring(audience: &str) -> Value {
    json!({"name": "spring", "template": "spring_promo", "audience": audience,
           "params": ["{{ contact.first_name | default(\"there\") }}", "{{ crm.tier | default(\"silver\") }}"]})
}

async fn status(host: &Host, id: &Value) -> Value {
    host.ok("GET", &format!("/v1/tenants/acme/campaigns/{id}"), None)
        .await
}

async fn until_state(host: &Host, id: &Value, state: &str) -> Value {
    eventually(|| async {
        let s = status(host, id).await;
        Ok((s["state"] == state).then_some(s))
    })
    .await
    .unwrap_or_else(|e| panic!("campaign {id} did not become {state}: {e}"))
}

fn templates(sent: &[SentMessage]) -> Vec<&SentMessage> {
    sent.iter()
        .filter(|m| m.body["type"] == "template")
        .collect()
}

async fn delivery_status(host: &Host, wamid: &str, to: &str, status: &str) {
    let body = json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA1", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550000000", "phone_number_id": PN},
            "statuses": [{"id": wamid, "status": status, "timestamp": now_secs().to_string(),
                          "recipient_id": to}]
        }}]}]
    });
    let (code, _) = host
        .post_signed(&serde_json::to_vec(&body).unwrap(), APP_SECRET)
        .await;
    assert_eq!(code, StatusCode::OK);
    host.settle().await;
}

/// Anna and Franco: VIPs who opted in. Bruno: a VIP who complained. Carla: a VIP
/// without opt-in. Dario: opted in, not a VIP. Elena: a VIP who wrote STOP. Anna's
/// tier (`gold`) comes from the CRM.
async fn six_customers(host: &Host) {
    let people = [
        (
            "393471000001",
            "Anna Rossi",
            &["I am a gold member"][..],
            true,
        ),
        (
            "393471000002",
            "Bruno Verdi",
            &["gold member here", "this is a complaint"][..],
            true,
        ),
        ("393471000003", "Carla Neri", &["gold member!"][..], false),
        ("393471000004", "Dario Blu", &["hello"][..], true),
        (
            "393471000005",
            "Elena Gialli",
            &["I'm a gold member"][..],
            true,
        ),
        (
            "393471000006",
            "Franco Viola",
            &["gold member since 2020"][..],
            true,
        ),
    ];
    for (wa, name, texts, opted_in) in people {
        for t in texts {
            says(host, wa, name, t).await;
        }
        if opted_in {
            opt_in(host, wa).await;
        }
    }
    // WhatsApp stamps messages in whole seconds: the STOP must come a second after
    // the opt-in to be the newer of the two.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    says(host, "393471000005", "Elena Gialli", "STOP").await;
    host.db()
        .write(|s| {
            let id = scrm_store::ContactRepo::id_by_phone(s, "acme", "+393471000001")?.unwrap();
            let tier = scrm_store::crm::FieldClock {
                value: json!("gold"),
                changed_at: 1,
                source: "crm".into(),
            };
            scrm_store::CrmRepo::set_field(s, "acme", id, "tier", &tier)
        })
        .await
        .unwrap();
}

/// A template send's recipient and body parameters.
fn to_and_params(m: &SentMessage) -> (String, Vec<String>) {
    let params = m.body["template"]["components"][0]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["text"].as_str().unwrap().to_string())
        .collect();
    (m.body["to"].as_str().unwrap().to_string(), params)
}

/// Each recipient's WhatsApp id with "outcome reason".
fn outcomes(page: &Value) -> Vec<(String, String)> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let outcome = i["outcome"].as_str().unwrap();
            let reason = i["reason"].as_str().unwrap_or("");
            (
                i["wa_id"].as_str().unwrap().into(),
                format!("{outcome} {reason}"),
            )
        })
        .collect()
}

scrm_e2e::both_backends! {
    #[tokio::test]
    async fn a_campaign_reaches_exactly_the_opted_in_vips_with_their_parameters() {
        let graph = Graph::start().await;
        let dir = tempfile::tempdir().unwrap();
        let host = campaign_host(dir.path(), &graph).await;
        six_customers(&host).await;
        let c = create(&host, spring(AUDIENCE)).await;
        assert_eq!(c["state"], "draft");
        assert_eq!(c["language"], "en");
        let plan = host.ok("GET", &format!("/v1/tenants/acme/campaigns/{}/plan", c["id"]), None).await;
        assert_eq!(plan["audience"], json!({"matched": 4, "recipients": 2, "no_opt_in": 1, "opted_out": 1}), "{plan}");
        assert_eq!(plan["api_calls"], 6);
        assert_eq!(plan["batch_mode"], false);
        assert_eq!(graph.sent_count(), 0, "the plan sends nothing");

        host.ok("POST", &format!("/v1/tenants/acme/campaigns/{}/start", c["id"]), None).await;
        let done = until_state(&host, &c["id"], "done").await;
        let sent = sent_at_least(&graph, 2).await;
        let mut sent = templates(&sent);
        sent.sort_by_key(|m| m.body["to"].as_str().unwrap_or_default().to_string());
        assert_eq!(sent.len(), 2, "{:?}", sent.iter().map(|m| &m.body).collect::<Vec<_>>());
        let got: Vec<(String, Vec<String>)> = sent.iter().map(|m| to_and_params(m)).collect();
        assert_eq!(
            got,
            [
                ("393471000001".to_string(), vec!["Anna".to_string(), "gold".to_string()]),
                ("393471000006".to_string(), vec!["Franco".to_string(), "silver".to_string()]),
            ]
        );
        assert_eq!(done["skipped"], json!({"no_opt_in": 1, "opted_out": 1}), "{done}");

        // Outcomes follow the status webhooks, read from the stored messages.
        delivery_status(&host, &sent[0].wamid, "393471000001", "delivered").await;
        delivery_status(&host, &sent[1].wamid, "393471000006", "read").await;
        let s = status(&host, &c["id"]).await;
        assert_eq!(s["counts"], json!({"delivered": 1, "read": 1, "skipped": 2}), "{s}");
        let r = host.ok("GET", &format!("/v1/tenants/acme/campaigns/{}/recipients", c["id"]), None).await;
        let outcomes = outcomes(&r);
        assert_eq!(
            outcomes,
            [
                ("393471000001".to_string(), "delivered ".to_string()),
                ("393471000003".to_string(), "skipped no_opt_in".to_string()),
                ("393471000005".to_string(), "skipped opted_out".to_string()),
                ("393471000006".to_string(), "read ".to_string()),
            ]
        );
        let list = host.ok("GET", "/v1/tenants/acme/campaigns", None).await;
        assert_eq!(list["items"][0]["id"], c["id"]);
    }

    #[tokio::test]
    async fn above_80_percent_of_a_small_daily_cap_the_campaign_runs_in_batch_mode() {
        let graph = Graph::start().await;
        let dir = tempfile::tempdir().unwrap();
        let host = campaign_host(dir.path(), &graph).await;
        host.ok("PUT", "/v1/tenants/acme/limits", Some(json!({"daily_cap": 5}))).await;
        vips(&host, 6).await;
        let c = create(&host, spring("tag:vip")).await;
        let plan = host.ok("GET", &format!("/v1/tenants/acme/campaigns/{}/plan", c["id"]), None).await;
        assert_eq!(plan["batch_mode"], true, "{plan}");
        assert_eq!(plan["cap_limit"], 4);
        let windows: Vec<(i64, i64)> = plan["windows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| (w["batch"].as_i64().unwrap(), w["recipients"].as_i64().unwrap()))
            .collect();
        assert_eq!(windows, [(0, 4), (1, 2)]);
        let gap = plan["windows"][1]["starts_at"].as_i64().unwrap() - plan["windows"][0]["starts_at"].as_i64().unwrap();
        assert_eq!(gap, 24 * 3600 * 1000);
        assert!(plan["summary"].as_array().unwrap().iter().any(|l| l.as_str().unwrap().starts_with("batch mode")), "{plan}");

        let started = Instant::now();
        host.ok("POST", &format!("/v1/tenants/acme/campaigns/{}/start", c["id"]), None).await;
        sent_at_least(&graph, 4).await;
        // Several rounds later the second window is still closed.
        tokio::time::sleep(Duration::from_secs(3).saturating_sub(started.elapsed())).await;
        assert_eq!(templates(&graph.sent_messages()).len(), 4);
        let s = status(&host, &c["id"]).await;
        assert_eq!(s["state"], "running");
        assert_eq!(s["counts"]["pending"], 2, "{s}");
        assert_eq!(s["current_batch"], 1);
        assert!(s["batch_starts_at"].as_i64().unwrap() >= plan["windows"][1]["starts_at"].as_i64().unwrap());
    }

    #[tokio::test]
    async fn a_customer_writing_during_a_campaign_is_answered_before_it_ends() {
        let graph = Graph::start().await;
        let dir = tempfile::tempdir().unwrap();
        let host = campaign_host(dir.path(), &graph).await;
        host.install(
            "acme",
            "responder",
            &guest("rule-responder"),
            Some("[[rules]]\nwhen_keywords = [\"opening hours\"]\nreply = \"We are open 9-19.\"\n"),
        )
        .await;
        // 2 messages a second from the number: the campaign queues 1 a second.
        host.ok("PUT", "/v1/tenants/acme/limits", Some(json!({"mps": 2}))).await;
        let audience = vips(&host, 8).await;
        let c = create(&host, spring("tag:vip")).await;
        let plan = host.ok("GET", &format!("/v1/tenants/acme/campaigns/{}/plan", c["id"]), None).await;
        assert_eq!(plan["campaign_mps"], 1);
        host.ok("POST", &format!("/v1/tenants/acme/campaigns/{}/start", c["id"]), None).await;
        sent_at_least(&graph, 1).await;

        let asked = Instant::now();
        says(&host, "393479999999", "Walk In", "what are your opening hours?").await;
        let reply = eventually(|| async {
            Ok(graph.sent_messages().into_iter().find(|m| m.body["to"] == "393479999999"))
        })
        .await
        .expect("the customer is answered");
        let waited = reply.at.duration_since(asked);
        assert_eq!(reply.body["text"]["body"], "We are open 9-19.");
        let campaign_sent_before = templates(&graph.sent_messages())
            .iter()
            .filter(|m| m.at < reply.at)
            .count();
        assert!(
            campaign_sent_before < audience.len(),
            "the reply waited for the whole campaign ({campaign_sent_before} sends first)"
        );
        assert!(waited < Duration::from_secs(3), "the reply took {waited:?}");
        until_state(&host, &c["id"], "done").await;
        assert_eq!(templates(&graph.sent_messages()).len(), audience.len());
    }

    #[tokio::test]
    async fn pause_resume_and_a_scheduled_start() {
        let graph = Graph::start().await;
        let dir = tempfile::tempdir().unwrap();
        let host = campaign_host(dir.path(), &graph).await;
        host.ok("PUT", "/v1/tenants/acme/limits", Some(json!({"mps": 2}))).await;
        vips(&host, 4).await;
        let c = create(&host, spring("tag:vip")).await;
        let path = format!("/v1/tenants/acme/campaigns/{}", c["id"]);
        host.ok("POST", &format!("{path}/start"), None).await;
        sent_at_least(&graph, 1).await;
        let paused = host.ok("POST", &format!("{path}/pause"), None).await;
        assert_eq!(paused["state"], "paused");
        let at_pause = templates(&graph.sent_messages()).len();
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        // At most a send already in the outbox went after the pause.
        let after = templates(&graph.sent_messages()).len();
        assert!(after <= at_pause + 1 && after < 4, "{at_pause} then {after}");
        assert_eq!(status(&host, &c["id"]).await["state"], "paused");
        host.ok("POST", &format!("{path}/start"), None).await;
        until_state(&host, &c["id"], "done").await;
        assert_eq!(templates(&graph.sent_messages()).len(), 4);

        // A second campaign, scheduled two seconds ahead.
        let mut body = spring("tag:vip");
        body["name"] = json!("later");
        body["at"] = json!("2s");
        let later = create(&host, body).await;
        assert_eq!(later["state"], "scheduled");
        let plan = host.ok("GET", &format!("/v1/tenants/acme/campaigns/{}/plan", later["id"]), None).await;
        assert!(plan["windows"][0]["starts_at"].as_i64().unwrap() >= later["scheduled_at"].as_i64().unwrap());
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        assert_eq!(templates(&graph.sent_messages()).len(), 4, "not before its time");
        let s = until_state(&host, &later["id"], "done").await;
        assert!(s["started_at"].as_i64().unwrap() >= later["scheduled_at"].as_i64().unwrap());
        assert_eq!(templates(&graph.sent_messages()).len(), 8);
        let (code, e) = host.api("POST", &format!("/v1/tenants/acme/campaigns/{}/start", later["id"]), None).await;
        assert_eq!(code, StatusCode::CONFLICT, "{e}");
        assert_eq!(e["error"]["code"], "campaign_state");
    }

    #[tokio::test]
    async fn bad_campaigns_are_refused_with_the_position_or_the_reason() {
        let graph = Graph::start().await;
        let dir = tempfile::tempdir().unwrap();
        let host = campaign_host(dir.path(), &graph).await;
        let post = |body: Value| {
            let host = &host;
            async move { host.api("POST", "/v1/tenants/acme/campaigns", Some(body)).await }
        };
        let (code, e) = post(spring("tag:vip AND (tag:new OR")).await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
        assert_eq!(e["error"]["code"], "invalid_audience");
        assert_eq!(
            e["error"]["message"],
            "audience \"tag:vip AND (tag:new OR\": line 1, column 24: expected tag:, field:, crm:, opted_in, NOT or '('"
        );
        let mut body = spring("tag:vip");
        body["template"] = json!("spring_promx");
        let (code, e) = post(body).await;
        assert_eq!(code, StatusCode::NOT_FOUND, "{e}");
        assert_eq!(e["error"]["code"], "unknown_template");
        assert!(e["error"]["message"].as_str().unwrap().contains("known: spring_promo"), "{e}");
        let mut body = spring("tag:vip");
        body["params"] = json!(["{{ contact.first_name }}", "{{ crm.tier | default(\"silver\") }}"]);
        let (code, e) = post(body).await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
        assert_eq!(e["error"]["code"], "invalid_parameter");
        assert!(e["error"]["message"].as_str().unwrap().contains("default"), "{e}");
        let (code, e) = host.api("GET", "/v1/tenants/acme/campaigns/999/plan", None).await;
        assert_eq!(code, StatusCode::NOT_FOUND, "{e}");
        assert!(host.ok("GET", "/v1/tenants/acme/campaigns", None).await["items"].as_array().unwrap().is_empty());
    }
}
