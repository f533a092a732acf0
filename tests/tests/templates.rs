//! The template registry end to end: the real host syncs a WhatsApp Business
//! Account's templates from the local Graph server (several pages, Graph's paging),
//! lists them, refuses unknown, unapproved and mis-parameterised templates through
//! the check automations and campaigns use, keeps the stored list when Meta
//! refuses (a bad token, an HTML 502, a rate limit on the second page), follows
//! Meta's status webhooks, and checks an operator's template file.

use reqwest::StatusCode;
use scrm_e2e::graph::{ACCESS_TOKEN, Fault, Graph, MetaError};
use scrm_e2e::prism::Contract;
use scrm_e2e::{APP_SECRET, Host};
use serde_json::{Value, json};

const PN: &str = "100200300";
const WABA: &str = "102290129340398";

struct Setup {
    host: Host,
    graph: Graph,
}

/// A host on the local Graph server, tenant `acme` owning `PN` with its access
/// token; the server lists the fixture's 9 templates for `WABA`, 4 per page.
async fn setup() -> Setup {
    let graph = Graph::start().await;
    graph.set_templates(WABA, Graph::fixture_templates());
    graph.set_templates_page_max(4);
    let url = graph.url();
    let host = Host::start_configured_temp(|s| s.whatsapp.graph_url = url).await;
    host.tenant("acme", &[PN], "IT").await;
    set_token(&host, ACCESS_TOKEN).await;
    Setup { host, graph }
}

async fn set_token(host: &Host, token: &str) {
    host.ok(
        "PUT",
        "/v1/tenants/acme/secrets/whatsapp_access_token",
        Some(json!({"value": token})),
    )
    .await;
}

async fn sync(host: &Host, body: Value) -> (StatusCode, Value) {
    host.api("POST", "/v1/tenants/acme/templates/sync", Some(body))
        .await
}

async fn listed(host: &Host) -> Vec<String> {
    let v = host.ok("GET", "/v1/tenants/acme/templates", None).await;
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            format!(
                "{} {} {}",
                t["name"].as_str().unwrap(),
                t["language"].as_str().unwrap(),
                t["status"].as_str().unwrap()
            )
        })
        .collect()
}

async fn check(host: &Host, name: &str, language: &str, query: &str) -> (StatusCode, Value) {
    let path = format!("/v1/tenants/acme/templates/{name}/{language}/check{query}");
    host.api("GET", &path, None).await
}

/// The error's code and message.
fn error(v: &Value) -> (&str, &str) {
    (
        v["error"]["code"].as_str().unwrap_or(""),
        v["error"]["message"].as_str().unwrap_or(""),
    )
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A signed webhook from `WABA` sent at `time` (Unix s): an inbound text (which
/// teaches the host the WABA) or a template status update.
async fn webhook(host: &Host, time: u64, field: &str, value: Value) {
    let body = json!({"object": "whatsapp_business_account",
        "entry": [{"id": WABA, "time": time, "changes": [{"field": field, "value": value}]}]});
    let (status, _) = host
        .post_signed(&serde_json::to_vec(&body).unwrap(), APP_SECRET)
        .await;
    assert_eq!(status, StatusCode::OK);
    host.settle().await;
}

scrm_e2e::both_backends! {
    #[tokio::test]
    async fn a_sync_reads_every_page_and_the_check_refuses_with_the_reason() {
        let s = setup().await;
        let (status, report) = sync(&s.host, json!({"waba_id": WABA})).await;
        assert_eq!(status, StatusCode::OK, "{report}");
        assert_eq!((report["pages"].as_u64(), report["fetched"].as_u64(), report["added"].as_u64()), (Some(3), Some(9), Some(9)), "{report}");
        let asked: Vec<_> = s.graph.requests().into_iter()
            .filter(|r| r.path == format!("/v23.0/{WABA}/message_templates"))
            .collect();
        assert_eq!(asked.len(), 3);
        assert!(asked.iter().all(|r| r.header("authorization") == Some(&format!("Bearer {ACCESS_TOKEN}"))));
        assert!(asked[0].query.as_deref().unwrap().contains("parameter_format"), "{:?}", asked[0].query);
        assert!(asked[1].query.as_deref().unwrap().contains("after="), "{:?}", asked[1].query);

        let list = s.host.ok("GET", "/v1/tenants/acme/templates", None).await;
        assert_eq!(list["waba_id"], WABA);
        assert_eq!(list["items"].as_array().unwrap().len(), 9);
        let promo = list["items"].as_array().unwrap().iter().find(|t| t["name"] == "seasonal_promotion").unwrap();
        assert_eq!(promo["parameters"]["body_names"], json!(["first_name", "end_date", "discount_code"]));
        assert_eq!(promo["components"][0]["example"]["header_text_named_params"][0]["param_name"], "sale_name");
        let approved = s.host.ok("GET", "/v1/tenants/acme/templates?status=approved", None).await;
        assert_eq!(approved["items"].as_array().unwrap().len(), 5);

        let (status, info) = check(&s.host, "order_update", "en_US", "?body_params=3").await;
        assert_eq!(status, StatusCode::OK, "{info}");
        assert_eq!(info["category"], "UTILITY");
        assert_eq!(info["parameters"]["buttons"][0]["sub_type"], "url");
        let (status, v) = check(&s.host, "order_update", "en_US", "?body_params=1").await;
        assert_eq!((status, error(&v)), (StatusCode::UNPROCESSABLE_ENTITY, ("template_parameter_mismatch", "template \"order_update\" (en_US) takes 3 body parameters, got 1")));
        let (status, v) = check(&s.host, "receipt_document", "en_US", "").await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(error(&v).0, "template_not_approved");
        assert!(error(&v).1.contains("is PAUSED"), "{v}");
        let (status, v) = check(&s.host, "order_updat", "en_US", "").await;
        assert_eq!((status, error(&v).0), (StatusCode::NOT_FOUND, "unknown_template"));
        assert!(error(&v).1.contains("(known: 2023_april_promo, appointment_reminder, hello_world, new_arrivals, order_update, receipt_document, seasonal_promotion, verification_code)"), "{v}");
        let (status, v) = check(&s.host, "order_update", "de", "").await;
        assert_eq!((status, error(&v).0), (StatusCode::NOT_FOUND, "unknown_template_language"));

        // Meta deleted two templates: the next sync (the WABA is recorded) drops them.
        let mut fewer = Graph::fixture_templates();
        fewer.retain(|t| t["name"] != "2023_april_promo" && t["language"] != "it");
        s.graph.set_templates(WABA, fewer);
        let (status, report) = sync(&s.host, json!({})).await;
        assert_eq!(status, StatusCode::OK, "{report}");
        assert_eq!((report["removed"].as_array().unwrap().len(), report["unchanged"].as_u64()), (2, Some(7)), "{report}");
        assert_eq!(listed(&s.host).await.len(), 7);
    }

    #[tokio::test]
    async fn every_template_send_is_checked_against_the_registry_before_the_outbox() {
        let s = setup().await;
        let send = |name: &str, params: Vec<Value>| {
            let mut body = json!({"to": "393471234567", "type": "template", "category": "utility",
                "template": {"name": name, "language": {"code": "en_US"}}});
            if !params.is_empty() {
                body["template"]["components"] = json!([{"type": "body", "parameters": params}]);
            }
            body
        };
        let text = |t: &str| json!({"type": "text", "text": t});
        // No registry yet: Meta decides.
        let (status, v) = s.host.api("POST", "/v1/tenants/acme/messages", Some(send("anything", vec![]))).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{v}");
        let (status, report) = sync(&s.host, json!({"waba_id": WABA})).await;
        assert_eq!(status, StatusCode::OK, "{report}");

        let cases = [
            (send("order_update", vec![text("Ada")]), "template_parameter_mismatch", "takes 3 body parameters, got 1"),
            (send("order_updat", vec![]), "unknown_template", "known: 2023_april_promo"),
            (send("receipt_document", vec![text("Ada"), text("A-1")]), "template_not_approved", "is PAUSED"),
            (send("seasonal_promotion", vec![json!({"type": "text", "parameter_name": "first_name", "text": "Ada"})]),
             "template_parameter_mismatch", "end_date, discount_code"),
        ];
        let before = s.host.all("/v1/tenants/acme/outbox").await.len();
        for (body, code, says) in cases {
            let (status, v) = s.host.api("POST", "/v1/tenants/acme/messages", Some(body.clone())).await;
            assert_eq!((status, error(&v).0), (StatusCode::UNPROCESSABLE_ENTITY, code), "{body}: {v}");
            assert!(error(&v).1.contains(says), "{v}");
        }
        assert_eq!(s.host.all("/v1/tenants/acme/outbox").await.len(), before, "nothing refused was queued");
        let good = send("order_update", vec![text("Ada"), text("A-1"), text("Friday")]);
        let (status, v) = s.host.api("POST", "/v1/tenants/acme/messages", Some(good)).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{v}");
    }

    #[tokio::test]
    async fn a_template_created_at_meta_is_pending_until_approved_then_sendable() {
        let s = setup().await;
        let (status, report) = sync(&s.host, json!({"waba_id": WABA})).await;
        assert_eq!(status, StatusCode::OK, "{report}");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("delivery_window.json");
        let definition = json!({"name": "delivery_window", "language": "en_US", "category": "UTILITY",
            "components": [{"type": "BODY", "text": "Hi {{1}}, your parcel arrives between {{2}} and {{3}}.",
                            "example": {"body_text": [["Ada", "9:00", "11:00"]]}}]});
        std::fs::write(&file, definition.to_string()).unwrap();
        let out = s.host.cli(&["template", "create", "--tenant", "acme", "--file", file.to_str().unwrap(), "--json"]).await;
        let created: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        assert_eq!((created["status"].as_str(), created["body_params"].as_i64()), (Some("PENDING"), Some(3)), "{created}");
        let posted: Vec<_> = s.graph.requests().into_iter()
            .filter(|r| r.method == "POST" && r.path == format!("/v23.0/{WABA}/message_templates"))
            .collect();
        assert_eq!(posted.len(), 1);
        let sent = posted[0].body.json().unwrap();
        assert_eq!(sent["name"], "delivery_window");
        assert!(sent.get("status").is_none(), "a creation does not claim a status: {sent}");

        let body = json!({"to": "393471234567", "type": "template", "category": "utility",
            "template": {"name": "delivery_window", "language": {"code": "en_US"}, "components": [{"type": "body",
            "parameters": [{"type": "text", "text": "Ada"}, {"type": "text", "text": "9:00"}, {"type": "text", "text": "11:00"}]}]}});
        let (status, v) = s.host.api("POST", "/v1/tenants/acme/messages", Some(body.clone())).await;
        assert_eq!((status, error(&v).0), (StatusCode::UNPROCESSABLE_ENTITY, "template_not_approved"), "{v}");
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        webhook(&s.host, now + 1, "message_template_status_update", json!({
            "event": "APPROVED", "message_template_id": created["meta_id"],
            "message_template_name": "delivery_window", "message_template_language": "en_US"})).await;
        let (status, v) = s.host.api("POST", "/v1/tenants/acme/messages", Some(body)).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{v}");

        // Meta refuses a second template of that name and language: its words, kept.
        let (status, v) = s.host.api("POST", "/v1/tenants/acme/templates", Some(definition)).await;
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{v}");
        assert!(error(&v).1.contains("already exists"), "{v}");
    }

    #[tokio::test]
    async fn a_refused_sync_keeps_the_stored_list_and_says_why() {
        let s = setup().await;
        assert_eq!(sync(&s.host, json!({"waba_id": WABA})).await.0, StatusCode::OK);
        let before = listed(&s.host).await;
        s.graph.set_templates(WABA, vec![]);

        set_token(&s.host, "EAAexpiredToken").await;
        let (status, v) = sync(&s.host, json!({})).await;
        assert_eq!((status, error(&v).0), (StatusCode::BAD_GATEWAY, "graph_token_invalid"), "{v}");
        assert!(error(&v).1.contains("Meta error 190: Invalid OAuth access token"), "{v}");
        assert!(error(&v).1.contains("the stored templates are unchanged"), "{v}");
        assert_eq!(listed(&s.host).await, before);

        set_token(&s.host, ACCESS_TOKEN).await;
        s.graph.fail_next_for(WABA, Fault::Html(502));
        let (status, v) = sync(&s.host, json!({})).await;
        assert_eq!((status, error(&v).0), (StatusCode::BAD_GATEWAY, "graph_unavailable"), "{v}");
        assert!(error(&v).1.contains("HTTP 502"), "{v}");
        assert_eq!(listed(&s.host).await, before);

        // The first page comes, the second is refused: nothing of the first is stored.
        s.graph.set_templates(WABA, Graph::fixture_templates()[..6].to_vec());
        s.graph.fail_next_for(WABA, Fault::Delay(std::time::Duration::ZERO));
        s.graph.fail_next_for(WABA, Fault::Meta(MetaError::new(80007).retry_after(30)));
        let resp = s.host.http.post(format!("{}/v1/tenants/acme/templates/sync", s.host.base))
            .bearer_auth(scrm_e2e::TOKEN).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(resp.headers().get("retry-after").and_then(|h| h.to_str().ok()), Some("30"));
        let v: Value = resp.json().await.unwrap();
        assert_eq!(error(&v).0, "graph_rate_limited");
        assert_eq!(listed(&s.host).await, before);

        let (status, report) = sync(&s.host, json!({})).await;
        assert_eq!(status, StatusCode::OK, "{report}");
        assert_eq!(listed(&s.host).await.len(), 6);
    }

    #[tokio::test]
    async fn webhooks_teach_the_waba_and_move_a_templates_status() {
        let s = setup().await;
        let (status, v) = sync(&s.host, json!({})).await;
        assert_eq!((status, error(&v).0), (StatusCode::CONFLICT, "no_waba_id"), "{v}");
        webhook(&s.host, now_secs(), "messages", json!({"messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550000000", "phone_number_id": PN},
            "contacts": [{"profile": {"name": "Customer"}, "wa_id": "393471234567"}],
            "messages": [{"from": "393471234567", "id": "wamid.t1", "timestamp": "1750000000",
                          "type": "text", "text": {"body": "Hi"}}]})).await;
        let (status, report) = sync(&s.host, json!({})).await;
        assert_eq!(status, StatusCode::OK, "{report}");
        assert_eq!(report["waba_id"], WABA);

        let status_update = |event: &str| json!({"event": event,
            "message_template_id": 759133452832154_u64, "message_template_name": "order_update",
            "message_template_language": "en_US", "reason": null});
        webhook(&s.host, now_secs() + 1, "message_template_status_update", status_update("PAUSED")).await;
        let (status, v) = check(&s.host, "order_update", "en_US", "").await;
        assert_eq!(status, StatusCode::CONFLICT, "{v}");
        assert!(error(&v).1.contains("is PAUSED"), "{v}");
        assert_eq!(check(&s.host, "order_update", "it", "").await.0, StatusCode::OK);
        // A webhook older than what is known (delivered late) changes nothing.
        webhook(&s.host, now_secs() - 3_600, "message_template_status_update", status_update("REINSTATED")).await;
        assert_eq!(check(&s.host, "order_update", "en_US", "").await.0, StatusCode::CONFLICT);
        webhook(&s.host, now_secs() + 2, "message_template_status_update", status_update("REINSTATED")).await;
        assert_eq!(check(&s.host, "order_update", "en_US", "").await.0, StatusCode::OK);
    }

    #[tokio::test]
    async fn an_operator_template_is_checked_with_the_position_or_field_and_kept_by_syncs() {
        let s = setup().await;
        let put = |name: &str, language: &str, body: &str| {
            let rb = s.host.http
                .put(format!("{}/v1/tenants/acme/templates/{name}/{language}", s.host.base))
                .bearer_auth(scrm_e2e::TOKEN)
                .header("content-type", "application/json")
                .body(body.to_string());
            async move {
                let resp = rb.send().await.unwrap();
                (resp.status(), resp.json::<Value>().await.unwrap())
            }
        };
        let (status, v) = put("welcome", "en", "{\"name\": \"welcome\",\n \"language\": en}").await;
        assert_eq!((status, error(&v).0), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_template"));
        assert!(error(&v).1.contains("line 2, column 14: expected value"), "{v}");
        let good = r#"{"name": "welcome", "language": "en", "category": "MARKETING",
            "components": [{"type": "BODY", "text": "Welcome {{1}}, here is {{2}}"}]}"#;
        let (status, v) = put("welcome", "en", &good.replace("{{2}}", "{{3}}")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(error(&v).1.contains("`components[0].text`: variables must be numbered from {{1}} without a gap"), "{v}");
        let (status, v) = put("hello", "en", good).await;
        assert_eq!((status, error(&v).0), (StatusCode::UNPROCESSABLE_ENTITY, "template_mismatch"));

        let (status, v) = put("welcome", "en", good).await;
        assert_eq!(status, StatusCode::CREATED, "{v}");
        assert_eq!((v["source"].as_str(), v["status"].as_str(), v["body_params"].as_i64()), (Some("operator"), Some("APPROVED"), Some(2)));
        assert_eq!(put("welcome", "en", good).await.0, StatusCode::OK);
        assert_eq!(check(&s.host, "welcome", "en", "?body_params=2").await.0, StatusCode::OK);

        assert_eq!(sync(&s.host, json!({"waba_id": WABA})).await.0, StatusCode::OK);
        assert!(listed(&s.host).await.contains(&"welcome en APPROVED".to_string()));
        let (status, _) = s.host.api("DELETE", "/v1/tenants/acme/templates/welcome/en", None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, v) = check(&s.host, "welcome", "en", "").await;
        assert_eq!((status, error(&v).0), (StatusCode::NOT_FOUND, "unknown_template"));
        let (status, v) = s.host.api("GET", "/v1/tenants/nobody/templates", None).await;
        assert_eq!((status, error(&v).0), (StatusCode::NOT_FOUND, "not_found"));
    }
}

/// The client's requests and the local server's pages pass Meta's published spec
/// (Prism in between); the wire, not the store, so one backend is enough.
#[tokio::test]
async fn a_sync_through_metas_spec_breaks_nothing() {
    let graph = Graph::start().await;
    graph.set_templates(WABA, Graph::fixture_templates());
    graph.set_templates_page_max(4);
    let contract = Contract::start(&graph).await;
    let url = contract.url();
    let host = Host::start_configured_temp(|s| s.whatsapp.graph_url = url).await;
    host.tenant("acme", &[PN], "IT").await;
    set_token(&host, ACCESS_TOKEN).await;
    let (status, report) = sync(&host, json!({"waba_id": WABA})).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["pages"], 3, "{report}");
    let through: Vec<_> = contract
        .exchanges()
        .into_iter()
        .filter(|e| e.path.contains("/message_templates"))
        .collect();
    assert_eq!(through.len(), 3, "{through:?}");
    contract.assert_clean();
}
