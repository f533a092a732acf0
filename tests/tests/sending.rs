//! Sending end to end: the API → the durable outbox → WhatsApp's rules → the Cloud API
//! client → a local Cloud API server behind Prism loaded with Meta's published spec,
//! so every request the client makes is checked against it.

use reqwest::StatusCode;
use scrm_e2e::graph::{Fault, Graph, MetaError};
use scrm_e2e::prism::Contract;
use scrm_e2e::{APP_SECRET, Host, eventually};
use serde_json::{Value, json};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const PN: &str = "100200300";
const ALICE: &str = "393471234567";
const BOB: &str = "393471234568";

struct Setup {
    host: Host,
    graph: Graph,
    contract: Contract,
    _dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let graph = Graph::start().await;
    let contract = Contract::start(&graph).await;
    let dir = tempfile::tempdir().unwrap();
    let host = acme_host(dir.path(), &contract.url()).await;
    Setup {
        host,
        graph,
        contract,
        _dir: dir,
    }
}

/// A host whose Cloud API is `graph_url`, with tenant `acme` owning `PN`.
async fn acme_host(dir: &std::path::Path, graph_url: &str) -> Host {
    Host::sending_to(dir, graph_url, PN).await
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A signed webhook: `from` writes `text` now (which opens the 24-hour window).
async fn inbound(host: &Host, from: &str, wamid: &str, text: &str) {
    let body = json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA1", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550000000", "phone_number_id": PN},
            "contacts": [{"profile": {"name": "Customer"}, "wa_id": from}],
            "messages": [{"from": from, "id": wamid, "timestamp": now_secs().to_string(),
                          "type": "text", "text": {"body": text}}]
        }}]}]
    });
    let (status, _) = host
        .post_signed(&serde_json::to_vec(&body).unwrap(), APP_SECRET)
        .await;
    assert_eq!(status, StatusCode::OK);
    host.settle().await;
}

/// A signed status webhook for `wamid`.
async fn status(host: &Host, wamid: &str, status: &str, errors: Option<Value>) {
    let mut s = json!({"id": wamid, "status": status, "timestamp": now_secs().to_string(),
                       "recipient_id": ALICE});
    if let Some(e) = errors {
        s["errors"] = e;
    }
    let body = json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA1", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550000000", "phone_number_id": PN},
            "statuses": [s]
        }}]}]
    });
    let (code, _) = host
        .post_signed(&serde_json::to_vec(&body).unwrap(), APP_SECRET)
        .await;
    assert_eq!(code, StatusCode::OK);
    host.settle().await;
}

async fn send(host: &Host, body: Value) -> (StatusCode, Value) {
    host.api("POST", "/v1/tenants/acme/messages", Some(body))
        .await
}

fn text(to: &str, body: &str) -> Value {
    json!({"to": to, "type": "text", "text": {"body": body}})
}

fn template(to: &str, name: &str) -> Value {
    json!({"to": to, "type": "template", "category": "marketing",
           "template": {"name": name, "language": {"code": "it"}}})
}

/// Waits until outbox item `id` reaches `state`, and returns it.
async fn until_state(host: &Host, id: &Value, state: &str) -> Value {
    let path = format!("/v1/tenants/acme/outbox/{id}");
    let last = std::sync::Mutex::new(Value::Null);
    let result = eventually(|| async {
        let item = host.ok("GET", &path, None).await;
        *last.lock().unwrap() = item.clone();
        Ok((item["state"] == state).then_some(item))
    })
    .await;
    result.unwrap_or_else(|e| {
        panic!(
            "outbox item {id} never reached {state}: {e}; last {}",
            last.lock().unwrap()
        )
    })
}

scrm_e2e::both_backends! {
    #[tokio::test]
    async fn a_reply_inside_the_window_is_sent_and_status_webhooks_only_move_it_forward() {
        let s = setup().await;
        inbound(&s.host, ALICE, "wamid.in1", "Hi, where is my order?").await;
        let (code, item) = send(&s.host, text("+39 347 123 4567", "On its way!")).await;
        assert_eq!(code, StatusCode::ACCEPTED, "{item}");
        assert_eq!(item["to"], ALICE, "normalised to E.164 digits");
        let sent = until_state(&s.host, &item["id"], "sent").await;
        let wamid = sent["wamid"].as_str().unwrap().to_owned();

        let at_meta = s.graph.sent_messages();
        assert_eq!(at_meta.len(), 1);
        assert_eq!(at_meta[0].wamid, wamid);
        assert_eq!(at_meta[0].phone_number_id, PN);
        assert_eq!(at_meta[0].body["to"], ALICE);
        assert_eq!(at_meta[0].body["recipient_type"], "individual");
        assert_eq!(at_meta[0].body["text"]["body"], "On its way!");
        assert!(
            at_meta[0].body.get("category").is_none(),
            "scrm fields never reach Meta"
        );

        let outbound = |msgs: Vec<Value>| msgs.into_iter().find(|m| m["wamid"] == wamid.as_str());
        let m = outbound(s.host.messages("acme").await).expect("the sent message is stored");
        assert_eq!(m["direction"], "outbound");
        assert_eq!(m["status"], "accepted");
        status(&s.host, &wamid, "delivered", None).await;
        status(&s.host, &wamid, "sent", None).await; // late: must not move it back
        assert_eq!(
            outbound(s.host.messages("acme").await).unwrap()["status"],
            "delivered"
        );
        status(&s.host, &wamid, "read", None).await;
        assert_eq!(
            outbound(s.host.messages("acme").await).unwrap()["status"],
            "read"
        );
        s.contract.assert_clean();
    }

    #[tokio::test]
    async fn free_form_outside_the_window_is_refused_but_a_template_goes() {
        let s = setup().await;
        let (code, err) = send(&s.host, text(BOB, "hello?")).await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(err["error"]["code"], "outside_service_window", "{err}");
        let (code, item) = send(&s.host, template(BOB, "spring_sale")).await;
        assert_eq!(code, StatusCode::ACCEPTED, "{item}");
        let sent = until_state(&s.host, &item["id"], "sent").await;
        assert_eq!(sent["business_initiated"], true);
        let body = &s.graph.sent_messages()[0].body;
        assert_eq!(body["template"]["language"]["policy"], "deterministic");
        s.contract.assert_clean();
    }

    #[tokio::test]
    async fn bad_requests_get_specific_codes_and_store_nothing() {
        let s = setup().await;
        let cases = [
            (
                text("12", "x"),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_recipient",
            ),
            (
                json!({"to": ALICE, "type": "fax"}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_message",
            ),
            (
                json!({"to": ALICE, "from": "999", "text": {"body": "x"}}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown_number",
            ),
            (
                json!({"status": "read", "message_id": "wamid.nope"}),
                StatusCode::NOT_FOUND,
                "message_not_found",
            ),
            (
                json!("just a string"),
                StatusCode::BAD_REQUEST,
                "invalid_json",
            ),
        ];
        for (body, code, expected) in cases {
            let (got, err) = send(&s.host, body.clone()).await;
            assert_eq!(
                (got, err["error"]["code"].as_str()),
                (code, Some(expected)),
                "{body}: {err}"
            );
            assert!(
                err["error"]["message"]
                    .as_str()
                    .is_some_and(|m| !m.is_empty())
            );
        }
        let (code, _) = s
            .host
            .api(
                "POST",
                "/v1/tenants/nobody/messages",
                Some(text(ALICE, "x")),
            )
            .await;
        assert_eq!(code, StatusCode::NOT_FOUND);
        let outbox = s.host.ok("GET", "/v1/tenants/acme/outbox", None).await;
        assert_eq!(outbox["items"].as_array().unwrap().len(), 0);
    }

    #[tokio::test]
    async fn idempotency_key_makes_a_retried_request_one_send() {
        let s = setup().await;
        inbound(&s.host, ALICE, "wamid.in1", "hi").await;
        let post = || async {
            let resp = s
                .host
                .http
                .post(format!("{}/v1/tenants/acme/messages", s.host.base))
                .bearer_auth(scrm_e2e::TOKEN)
                .header("Idempotency-Key", "order-42-shipped")
                .json(&text(ALICE, "Shipped"))
                .send()
                .await
                .unwrap();
            (resp.status(), resp.json::<Value>().await.unwrap())
        };
        let (first, a) = post().await;
        let (second, b) = post().await;
        assert_eq!((first, second), (StatusCode::ACCEPTED, StatusCode::OK));
        assert_eq!(a["id"], b["id"]);
        until_state(&s.host, &a["id"], "sent").await;
        assert_eq!(s.graph.sent_messages().len(), 1);
    }

    #[tokio::test]
    async fn meta_errors_are_handled_by_code_never_blind_retries() {
        let s = setup().await;
        inbound(&s.host, ALICE, "wamid.a", "hi").await;

        // 131047: needs a template, said so in the API; not retried.
        s.graph.fail_next(Fault::Meta(MetaError::new(131047)));
        let (_, item) = send(&s.host, text(ALICE, "late reply")).await;
        let item = until_state(&s.host, &item["id"], "needs_template").await;
        assert_eq!(item["error_code"], 131047);
        assert_eq!(item["attempts"], 1);

        // 130429 with Retry-After: backs off, then goes.
        s.graph
            .fail_next(Fault::Meta(MetaError::new(130429).retry_after(1)));
        let (_, item) = send(&s.host, text(ALICE, "throttled")).await;
        let started = std::time::Instant::now();
        let item = until_state(&s.host, &item["id"], "sent").await;
        assert!(
            started.elapsed() >= Duration::from_millis(900),
            "Retry-After honoured"
        );
        assert_eq!(item["attempts"], 2);

        // 5xx: retried with back-off, then dead-lettered with the reason; re-queueable.
        s.graph.fail_next(Fault::Status(503));
        s.graph.fail_next(Fault::Status(500));
        let (_, item) = send(&s.host, text(ALICE, "unlucky")).await;
        let dead = until_state(&s.host, &item["id"], "dead").await;
        assert!(
            dead["last_error"]
                .as_str()
                .unwrap()
                .contains("gave up after 2 attempts"),
            "{dead}"
        );
        let letters = s
            .host
            .ok("GET", "/v1/tenants/acme/outbox?state=dead", None)
            .await;
        assert_eq!(letters["items"].as_array().unwrap().len(), 1);
        s.host
            .ok(
                "POST",
                &format!("/v1/tenants/acme/outbox/{}/requeue", item["id"]),
                None,
            )
            .await;
        until_state(&s.host, &item["id"], "sent").await;

        // 131026: the recipient is marked undeliverable.
        s.graph.fail_next(Fault::Meta(MetaError::new(131026)));
        let (_, item) = send(&s.host, text(ALICE, "anyone?")).await;
        until_state(&s.host, &item["id"], "undeliverable").await;
        let consent = s
            .host
            .ok("GET", &format!("/v1/tenants/acme/consent/{ALICE}"), None)
            .await;
        assert!(consent["undeliverable_at"].is_i64(), "{consent}");

        // 131050: marketing stopped for the contact; later marketing templates are refused.
        s.graph.fail_next(Fault::Meta(MetaError::new(131050)));
        let (_, item) = send(&s.host, template(BOB, "promo")).await;
        until_state(&s.host, &item["id"], "suppressed").await;
        let (code, err) = send(&s.host, template(BOB, "promo2")).await;
        assert_eq!(
            (code, err["error"]["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("marketing_stopped"))
        );
        s.contract.assert_clean();
    }

    #[tokio::test]
    async fn a_failed_status_webhook_acts_like_a_failed_send() {
        let s = setup().await;
        let (_, item) = send(&s.host, template(BOB, "promo")).await;
        let sent = until_state(&s.host, &item["id"], "sent").await;
        let wamid = sent["wamid"].as_str().unwrap();
        // Meta accepted it, then reported the per-user marketing limit (131049).
        status(&s.host, wamid, "failed", Some(json!([{"code": 131049, "title": "This message was not delivered to maintain healthy ecosystem engagement."}]))).await;
        let item = until_state(&s.host, &item["id"], "queued").await;
        assert_eq!(item["wait_reason"], "marketing_paused_for_contact");
        assert!(item["not_before"].as_i64().unwrap() > (now_secs() as i64 + 23 * 3600) * 1000);
        let consent = s
            .host
            .ok("GET", &format!("/v1/tenants/acme/consent/{BOB}"), None)
            .await;
        assert!(consent["marketing_paused_until"].is_i64(), "{consent}");
    }

    #[tokio::test]
    async fn daily_cap_and_opt_in_rule_hold_business_initiated_sends_without_dropping_them() {
        let s = setup().await;
        s.host
            .ok(
                "PUT",
                "/v1/tenants/acme/limits",
                Some(json!({"daily_cap": 2})),
            )
            .await;
        let limits = s.host.ok("GET", "/v1/tenants/acme/limits", None).await;
        assert_eq!(limits["numbers"][PN]["effective"]["daily_cap"], 2);

        let mut ids = Vec::new();
        for to in ["393470000001", "393470000002", "393470000003"] {
            let (code, item) = send(&s.host, template(to, "welcome")).await;
            assert_eq!(code, StatusCode::ACCEPTED);
            ids.push(item["id"].clone());
        }
        until_state(&s.host, &ids[0], "sent").await;
        until_state(&s.host, &ids[1], "sent").await;
        let held = until_state(&s.host, &ids[2], "queued").await;
        assert_eq!(held["wait_reason"], "daily_cap");

        // Without recorded opt-in, one business-initiated message per 24 h.
        let (_, again) = send(&s.host, template("393470000001", "reminder")).await;
        let again = until_state(&s.host, &again["id"], "queued").await;
        eventually(|| async {
            let item = s
                .host
                .ok(
                    "GET",
                    &format!("/v1/tenants/acme/outbox/{}", again["id"]),
                    None,
                )
                .await;
            Ok((item["wait_reason"] == "opt_in_required").then_some(()))
        })
        .await
        .unwrap();
        // Recording the opt-in releases it: the recipient was reached today, so the cap allows it.
        s.host
            .ok(
                "PUT",
                "/v1/tenants/acme/consent/393470000001",
                Some(json!({"status": "opted_in", "source": "crm"})),
            )
            .await;
        until_state(&s.host, &again["id"], "sent").await;
        // Raising the cap releases the held one.
        s.host
            .ok(
                "PUT",
                "/v1/tenants/acme/limits",
                Some(json!({"daily_cap": 10000})),
            )
            .await;
        until_state(&s.host, &ids[2], "sent").await;
        assert_eq!(s.graph.sent_messages().len(), 4);
    }

    #[tokio::test]
    async fn stop_keyword_opts_out_at_once_but_replies_in_the_window_still_go() {
        let s = setup().await;
        inbound(&s.host, ALICE, "wamid.stop", "STOP").await;
        let (code, err) = send(&s.host, template(ALICE, "promo")).await;
        // Inside the window a template is a reply, but marketing to an opted-out contact
        // outside the window is refused; here the window is open, so check the consent.
        let consent = s
            .host
            .ok("GET", &format!("/v1/tenants/acme/consent/{ALICE}"), None)
            .await;
        assert!(consent["opted_out_at"].is_i64(), "{consent}");
        assert_eq!(code, StatusCode::ACCEPTED, "{err}");
        let (code, _) = send(&s.host, text(ALICE, "You are unsubscribed.")).await;
        assert_eq!(code, StatusCode::ACCEPTED);
        // Another contact who opted out through the API, outside any window: refused.
        s.host
            .ok(
                "PUT",
                &format!("/v1/tenants/acme/consent/{BOB}"),
                Some(json!({"status": "opted_out"})),
            )
            .await;
        let (code, err) = send(&s.host, template(BOB, "promo")).await;
        assert_eq!(
            (code, err["error"]["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("contact_opted_out"))
        );
    }

    #[tokio::test]
    async fn mark_as_read_goes_from_the_number_that_received_the_message() {
        let s = setup().await;
        inbound(&s.host, ALICE, "wamid.toread", "hello").await;
        let (code, item) = send(
            &s.host,
            json!({"status": "read", "message_id": "wamid.toread"}),
        )
        .await;
        assert_eq!(code, StatusCode::ACCEPTED, "{item}");
        until_state(&s.host, &item["id"], "sent").await;
        let reads = s.graph.read_receipts();
        assert_eq!(reads.len(), 1);
        assert_eq!(
            (
                reads[0].phone_number_id.as_str(),
                reads[0].message_id.as_str()
            ),
            (PN, "wamid.toread")
        );
        s.contract.assert_clean();
    }

    #[tokio::test]
    async fn without_an_access_token_sends_wait_with_the_reason() {
        let s = setup().await;
        s.host
            .ok(
                "DELETE",
                "/v1/tenants/acme/secrets/whatsapp_access_token",
                None,
            )
            .await;
        let (_, item) = send(&s.host, template(BOB, "welcome")).await;
        eventually(|| async {
            let item = s
                .host
                .ok(
                    "GET",
                    &format!("/v1/tenants/acme/outbox/{}", item["id"]),
                    None,
                )
                .await;
            Ok((item["wait_reason"] == "no_access_token").then_some(()))
        })
        .await
        .unwrap();
        assert!(s.graph.sent_messages().is_empty());
    }

    #[tokio::test]
    async fn a_number_is_paced_to_its_messages_per_second() {
        // Straight to the local server: Prism's own latency would blur the spacing.
        let graph = Graph::start().await;
        let dir = tempfile::tempdir().unwrap();
        let host = acme_host(dir.path(), &graph.url()).await;
        host.ok(
            "PUT",
            &format!("/v1/tenants/acme/numbers/{PN}/limits"),
            Some(json!({"mps": 20})),
        )
        .await;
        for i in 0..40 {
            let (code, _) = host
                .api(
                    "POST",
                    "/v1/tenants/acme/messages",
                    Some(template(&format!("39347{:07}", 1000 + i), "welcome")),
                )
                .await;
            assert_eq!(code, StatusCode::ACCEPTED);
        }
        eventually(|| async { Ok((graph.sent_messages().len() == 40).then_some(())) })
            .await
            .unwrap();
        let sent = graph.sent_messages();
        let span = sent.last().unwrap().at - sent[0].at;
        // 40 sends at 20/s with a burst of 1: at least 39 / 20 s.
        assert!(
            span >= Duration::from_millis(1_900),
            "40 sends took only {span:?}"
        );
    }

    #[tokio::test]
    async fn a_responders_reply_goes_out_through_the_outbox() {
        let s = setup().await;
        s.host
            .install(
                "acme",
                "responder",
                &scrm_e2e::guest("rule-responder"),
                Some("[[rules]]\nwhen_keywords = [\"opening hours\"]\nreply = \"We are open 9-18, Monday to Saturday.\"\n"),
            )
            .await;
        inbound(
            &s.host,
            ALICE,
            "wamid.hours",
            "What are your opening hours?",
        )
        .await;
        eventually(|| async { Ok((!s.graph.sent_messages().is_empty()).then_some(())) })
            .await
            .expect("the reply reaches the Cloud API");
        let sent = s.graph.sent_messages();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].phone_number_id, PN);
        assert_eq!(sent[0].body["to"], ALICE);
        assert_eq!(
            sent[0].body["text"]["body"],
            "We are open 9-18, Monday to Saturday."
        );
        let outbox = s.host.ok("GET", "/v1/tenants/acme/outbox", None).await;
        assert_eq!(outbox["items"][0]["source"], "responder");
        // The same webhook delivered again does not answer twice.
        inbound(
            &s.host,
            ALICE,
            "wamid.hours",
            "What are your opening hours?",
        )
        .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(s.graph.sent_messages().len(), 1);
        s.contract.assert_clean();
    }

    #[tokio::test]
    async fn interactive_reaction_location_and_contacts_pass_metas_spec() {
        let s = setup().await;
        inbound(&s.host, ALICE, "wamid.q", "Which size should I take?").await;
        let bodies = [
            json!({"to": ALICE, "type": "interactive", "interactive": {"type": "button",
                "body": {"text": "Which size?"}, "action": {"buttons": [
                    {"type": "reply", "reply": {"id": "s", "title": "S"}},
                    {"type": "reply", "reply": {"id": "m", "title": "M"}}]}}}),
            json!({"to": ALICE, "type": "interactive", "interactive": {"type": "list",
                "body": {"text": "Pick a store"}, "action": {"button": "Stores", "sections": [
                    {"title": "Milan", "rows": [{"id": "mi1", "title": "Duomo"}]}]}}}),
            json!({"to": ALICE, "type": "reaction", "reaction": {"message_id": "wamid.q", "emoji": "👍"}}),
            json!({"to": ALICE, "type": "location", "location": {"latitude": 45.4642, "longitude": 9.19,
                "name": "Store", "address": "Piazza del Duomo, Milano"}}),
            json!({"to": ALICE, "type": "contacts", "contacts": [{"name": {"formatted_name": "Shop", "first_name": "Shop"},
                "phones": [{"phone": "+39 02 1234567", "type": "WORK"}]}]}),
        ];
        let mut ids = Vec::new();
        for body in bodies {
            let (code, item) = send(&s.host, body.clone()).await;
            assert_eq!(code, StatusCode::ACCEPTED, "{body}: {item}");
            ids.push(item["id"].clone());
        }
        for id in &ids {
            until_state(&s.host, id, "sent").await;
        }
        let kinds: Vec<String> = s
            .graph
            .sent_messages()
            .iter()
            .map(|m| m.body["type"].as_str().unwrap_or("").to_owned())
            .collect();
        assert_eq!(
            kinds,
            [
                "interactive",
                "interactive",
                "reaction",
                "location",
                "contacts"
            ]
        );
        s.contract.assert_clean();
    }

    #[tokio::test]
    async fn queued_sends_survive_a_restart_and_one_caught_mid_send_is_dead_lettered_not_resent() {
        let graph = Graph::start().await;
        let dir = tempfile::tempdir().unwrap();
        let url = graph.url();
        let mut host = acme_host(dir.path(), &url).await;
        host.ok(
            "PUT",
            "/v1/tenants/acme/limits",
            Some(json!({"daily_cap": 1})),
        )
        .await;
        // The first send hangs at Meta; the second waits for the daily cap.
        graph.fail_next(Fault::Hang);
        let (_, hanging) = host
            .api(
                "POST",
                "/v1/tenants/acme/messages",
                Some(template(ALICE, "a")),
            )
            .await;
        until_state(&host, &hanging["id"], "sending").await;
        let (_, capped) = host
            .api(
                "POST",
                "/v1/tenants/acme/messages",
                Some(template(BOB, "b")),
            )
            .await;
        host.stop().await;

        let host = Host::start_configured(dir.path(), |c| c.whatsapp.graph_url = url).await;
        let dead = until_state(&host, &hanging["id"], "dead").await;
        assert!(
            dead["last_error"]
                .as_str()
                .unwrap()
                .contains("interrupted while sending"),
            "{dead}"
        );
        let waiting = host
            .ok(
                "GET",
                &format!("/v1/tenants/acme/outbox/{}", capped["id"]),
                None,
            )
            .await;
        assert_eq!(
            (waiting["state"].as_str(), waiting["wait_reason"].as_str()),
            (Some("queued"), Some("daily_cap"))
        );
        // The operator decides: re-queue the interrupted one (the cap counts only what was sent).
        host.ok(
            "POST",
            &format!("/v1/tenants/acme/outbox/{}/requeue", hanging["id"]),
            None,
        )
        .await;
        until_state(&host, &hanging["id"], "sent").await;
        assert_eq!(graph.sent_messages().len(), 1);
    }

    #[tokio::test]
    async fn a_customer_who_changes_number_is_answered_on_the_new_one_with_their_consent() {
        let s = setup().await;
        const NEW: &str = "393479999999";
        inbound(&s.host, ALICE, "wamid.stop2", "STOP").await;
        let body = json!({
            "object": "whatsapp_business_account",
            "entry": [{"id": "WABA1", "changes": [{"field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "15550000000", "phone_number_id": PN},
                "messages": [{"from": ALICE, "id": "wamid.sys", "timestamp": now_secs().to_string(),
                    "type": "system", "system": {"body": format!("User changed from {ALICE} to {NEW}"),
                    "wa_id": NEW, "type": "user_changed_number"}}]
            }}]}]
        });
        let (code, _) = s
            .host
            .post_signed(&serde_json::to_vec(&body).unwrap(), APP_SECRET)
            .await;
        assert_eq!(code, StatusCode::OK);
        s.host.settle().await;
        let contacts = s.host.ok("GET", "/v1/tenants/acme/contacts", None).await;
        assert_eq!(
            contacts["items"].as_array().unwrap().len(),
            1,
            "one person, one contact"
        );
        assert_eq!(contacts["items"][0]["wa_id"], NEW);
        let consent = s
            .host
            .ok("GET", &format!("/v1/tenants/acme/consent/{NEW}"), None)
            .await;
        assert!(
            consent["opted_out_at"].is_i64(),
            "the opt-out follows the person: {consent}"
        );
        let (code, item) = send(&s.host, text(NEW, "Got it, we updated your number")).await;
        assert_eq!(
            code,
            StatusCode::ACCEPTED,
            "the window moved with the contact: {item}"
        );
        until_state(&s.host, &item["id"], "sent").await;
        assert_eq!(s.graph.sent_messages()[0].body["to"], NEW);
    }
}
