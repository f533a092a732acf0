//! The contract-check harness itself: raw HTTP through Prism (loaded with Meta's
//! Cloud API spec) to the local Cloud API server. These tests prove that a
//! spec-breaking request fails, that a good one reaches the server, that the
//! server's answers (including scripted faults) pass Prism's response checks, and
//! which of Meta's own send examples the spec rejects.

use reqwest::StatusCode;
use scrm_e2e::graph::{ACCESS_TOKEN, Fault, Graph, MetaError, RecordedBody, VERSION};
use scrm_e2e::prism::{Contract, Prism, meta_spec};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const PNID: &str = "106540352242922";

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

fn text(to: &str, body: &str) -> Value {
    json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "text",
        "text": {"body": body},
    })
}

async fn post(
    base: &str,
    pnid: &str,
    body: &Value,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let resp = http()
        .post(format!("{base}/{VERSION}/{pnid}/messages"))
        .bearer_auth(ACCESS_TOKEN)
        .json(body)
        .send()
        .await
        .expect("send");
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("body");
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test]
async fn a_valid_text_send_passes_prism_and_returns_the_wamid() {
    let graph = Graph::start().await;
    let contract = Contract::start(&graph).await;
    let (status, _, body) = post(&contract.url(), PNID, &text("+1 555 0100 200", "hello")).await;
    assert_eq!(status, 200, "{body}");
    let wamid = body["messages"][0]["id"].as_str().expect("wamid");
    assert!(wamid.starts_with("wamid."), "{wamid}");
    assert_eq!(body["messages"][0]["message_status"], "accepted");
    assert_eq!(body["contacts"][0]["input"], "+1 555 0100 200");
    assert_eq!(body["contacts"][0]["wa_id"], "15550100200");
    assert_eq!(body["messaging_product"], "whatsapp");

    let sent = graph.sent_messages();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].wamid, wamid);
    assert_eq!(sent[0].phone_number_id, PNID);
    assert_eq!(sent[0].body["text"]["body"], "hello");
    let req = &graph.requests()[0];
    assert_eq!(
        req.header("authorization"),
        Some(&*format!("Bearer {ACCESS_TOKEN}"))
    );
    assert_eq!(
        req.header("x-scrm-graph"),
        None,
        "the router strips its header"
    );
    assert_eq!(contract.exchanges().len(), 1);
    contract.assert_clean();

    // A second send gets another wamid, and arrival times are recorded in order.
    let (_, _, again) = post(&contract.url(), PNID, &text("15550100200", "again")).await;
    assert_ne!(again["messages"][0]["id"], body["messages"][0]["id"]);
    let reqs = graph.requests();
    assert!(reqs[1].at >= reqs[0].at);
    contract.assert_clean();
}

#[tokio::test]
async fn a_send_without_messaging_product_is_stopped_by_prism() {
    let graph = Graph::start().await;
    let contract = Contract::start(&graph).await;
    let mut body = text("15550100200", "hello");
    body.as_object_mut()
        .expect("object")
        .remove("messaging_product");
    let (status, headers, problem) = post(&contract.url(), PNID, &body).await;
    assert_eq!(status, 422, "{problem}");
    assert!(
        headers["content-type"]
            .to_str()
            .expect("content-type")
            .starts_with("application/problem+json")
    );
    assert_eq!(
        problem["type"],
        "https://stoplight.io/prism/errors#UNPROCESSABLE_ENTITY"
    );
    assert!(graph.requests().is_empty(), "Prism must not forward it");
    let violations = contract.violations();
    assert!(
        violations
            .iter()
            .any(|(_, v)| v.message
                == "Request body must have required property 'messaging_product'"),
        "{violations:?}"
    );
    assert!(violations.iter().all(|(_, v)| !v.in_response()));
    let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| contract.assert_clean()));
    assert!(failed.is_err(), "assert_clean must fail on a violation");
}

#[tokio::test]
async fn the_spec_requires_recipient_type_a_bearer_token_and_plain_headers() {
    let graph = Graph::start().await;
    let contract = Contract::start(&graph).await;
    let mut body = text("15550100200", "hello");
    body.as_object_mut()
        .expect("object")
        .remove("recipient_type");
    let (status, _, _) = post(&contract.url(), PNID, &body).await;
    assert_eq!(status, 422);
    assert!(
        contract
            .violations()
            .iter()
            .any(|(_, v)| v.message.contains("required property 'recipient_type'"))
    );

    // The spec constrains two headers: User-Agent must look like `name/1.2.3`
    // (optionally `;key=value`), and Content-Type must be exactly application/json.
    let send_with = |user_agent: &'static str, content_type: &'static str| {
        let url = format!("{}/{VERSION}/{PNID}/messages", contract.url());
        async move {
            http()
                .post(url)
                .bearer_auth(ACCESS_TOKEN)
                .header("user-agent", user_agent)
                .header("content-type", content_type)
                .body(text("15550100200", "hello").to_string())
                .send()
                .await
                .expect("send")
                .status()
        }
    };
    let json = "application/json";
    assert_eq!(send_with("scrm/0.1.0", json).await, 200);
    assert_eq!(send_with("scrm/0.1.0;tenant=t1", json).await, 200);
    assert_eq!(
        send_with("scrm/0.1 (+https://example.invalid)", json).await,
        422
    );
    let charset = "application/json; charset=utf-8";
    assert_eq!(send_with("scrm/0.1.0", charset).await, 422);
    let headers: Vec<String> = contract
        .violations()
        .iter()
        .filter(|(_, v)| v.location.first().is_some_and(|l| l == "header"))
        .map(|(_, v)| v.location.join("."))
        .collect();
    assert_eq!(headers, ["header.user-agent", "header.content-type"]);

    // No token: Prism answers 401 itself (its problem, not Meta's envelope).
    let resp = http()
        .post(format!("{}/{VERSION}/{PNID}/messages", contract.url()))
        .json(&text("15550100200", "hello"))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 401);
    let problem: Value = resp.json().await.expect("json");
    assert_eq!(
        problem["type"],
        "https://stoplight.io/prism/errors#UNAUTHORIZED"
    );
    // Only the two good sends above reached the server.
    assert_eq!(graph.requests().len(), 2);

    // A token the server does not accept: Meta's 401 envelope, code 190.
    let resp = http()
        .post(format!("{}/{VERSION}/{PNID}/messages", contract.url()))
        .bearer_auth("EAAwrongToken")
        .json(&text("15550100200", "hello"))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 401);
    let envelope: Value = resp.json().await.expect("json");
    assert_eq!(envelope["error"]["code"], 190);
    assert_eq!(envelope["error"]["type"], "OAuthException");
}

/// The send examples in ../shared/fixtures/send that Meta's own spec rejects, with
/// a message Prism gives for each.
const SPEC_REJECTS: &[(&str, &str)] = &[
    ("send_audio_message_by_url", "must match format \"url\""),
    ("send_catalog_template_message", "index must be string"),
    ("send_flow_template_message", "index must match pattern"),
    (
        "send_message_template_interactive",
        "index must match pattern",
    ),
    ("send_test_message", "required property 'recipient_type'"),
    ("send_contact_message", "required property 'recipient_type'"),
    ("send_document_message_by_url", "must match format \"url\""),
    ("send_image_message_by_url", "must match format \"url\""),
    ("send_location_message", "location.latitude must be string"),
    (
        "send_multi_product_message",
        "interactive.header.type must be equal to one of the allowed values",
    ),
    (
        "send_order_details_message",
        "interactive.type must be equal to one of the allowed values",
    ),
    (
        "send_order_status_message",
        "interactive.type must be equal to one of the allowed values",
    ),
    (
        "send_reply_to_audio_message_by_url",
        "must match format \"url\"",
    ),
    (
        "send_reply_to_contact_message",
        "required property 'recipient_type'",
    ),
    (
        "send_reply_to_document_message_by_url",
        "must match format \"url\"",
    ),
    (
        "send_reply_to_image_message_by_url",
        "must match format \"url\"",
    ),
    (
        "send_reply_to_list_message",
        "must have required property 'type'",
    ),
    (
        "send_reply_to_location_message",
        "location.latitude must be string",
    ),
    (
        "send_reply_to_video_message_by_url",
        "must match format \"url\"",
    ),
    (
        "send_sample_issue_resolution_template",
        "index must be string",
    ),
    (
        "send_text_message_with_preview_url",
        "must have required property 'type'",
    ),
    ("send_video_message_by_url", "must match format \"url\""),
];

#[tokio::test]
async fn every_send_fixture_passes_or_is_a_known_spec_rejection() {
    let graph = Graph::start().await;
    let contract = Contract::start(&graph).await;
    let dir = scrm_e2e::repo_root().join("../shared/fixtures/send");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("fixtures dir")
        .filter_map(|e| {
            let name = e.ok()?.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".request.json").map(str::to_string)
        })
        .collect();
    names.sort();
    assert!(names.len() >= 40, "{} fixtures", names.len());
    let mut accepted = 0;
    for name in &names {
        let body: Value = serde_json::from_slice(
            &std::fs::read(dir.join(format!("{name}.request.json"))).expect("fixture"),
        )
        .expect("fixture json");
        let before = contract.exchanges().len();
        let (status, _, answer) = post(&contract.url(), PNID, &body).await;
        let exchange = &contract.exchanges()[before];
        match SPEC_REJECTS.iter().find(|(n, _)| n == name) {
            Some((_, why)) => {
                assert_eq!(status, 422, "{name}: the spec should reject it: {answer}");
                assert!(
                    exchange.violations.iter().any(|v| v.message.contains(why)),
                    "{name}: expected a violation containing {why:?}: {:?}",
                    exchange.violations
                );
            }
            None => {
                assert_eq!(status, 200, "{name}: {answer}");
                assert!(
                    exchange.violations.is_empty(),
                    "{name}: {:?}",
                    exchange.violations
                );
                if body.get("status").is_some() {
                    assert_eq!(answer, json!({"success": true}), "{name}");
                } else {
                    assert!(answer["messages"][0]["id"].is_string(), "{name}: {answer}");
                }
                accepted += 1;
            }
        }
    }
    for (name, _) in SPEC_REJECTS {
        assert!(names.iter().any(|n| n == name), "no fixture {name}");
    }
    assert_eq!(accepted, names.len() - SPEC_REJECTS.len());
    assert_eq!(
        graph.sent_messages().len() + graph.read_receipts().len(),
        accepted
    );
}

#[tokio::test]
async fn mark_as_read_passes_the_corrected_spec_and_fails_metas() {
    let graph = Graph::start().await;
    let contract = Contract::start(&graph).await;
    let read =
        json!({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.ABC"});
    let (status, _, body) = post(&contract.url(), PNID, &read).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"success": true}));
    let mut typing = read.clone();
    typing["typing_indicator"] = json!({"type": "text"});
    let (status, _, _) = post(&contract.url(), PNID, &typing).await;
    assert_eq!(status, 200);
    contract.assert_clean();
    let reads = graph.read_receipts();
    assert_eq!(reads.len(), 2);
    assert_eq!(reads[0].message_id, "wamid.ABC");
    assert!(!reads[0].typing_indicator && reads[1].typing_indicator);
    assert!(graph.sent_messages().is_empty());

    // The corrected spec is as strict as Meta's example: a stray field fails.
    let mut stray = read.clone();
    stray["to"] = json!("15550100200");
    let (status, _, _) = post(&contract.url(), PNID, &stray).await;
    assert_eq!(status, 422);

    // The erratum is still needed: Meta's spec as published rejects its own example.
    let upstream = graph.url();
    let raw = tokio::task::spawn_blocking(move || Prism::start(&meta_spec(), &upstream))
        .await
        .expect("join")
        .expect("start prism on Meta's spec");
    let (status, _, problem) = post(raw.url(), PNID, &typing).await;
    assert_eq!(
        status, 422,
        "Meta fixed the spec? Drop the erratum. {problem}"
    );
}

#[tokio::test]
async fn a_template_without_a_language_policy_passes_the_corrected_spec_and_fails_metas() {
    let graph = Graph::start().await;
    let contract = Contract::start(&graph).await;
    // The spec's own 'Basic Template' example.
    let hello = json!({"messaging_product": "whatsapp", "recipient_type": "individual",
        "to": "16315552222", "type": "template",
        "template": {"name": "hello_world", "language": {"code": "en"}}});
    let (status, _, body) = post(&contract.url(), PNID, &hello).await;
    assert_eq!(status, 200, "{body}");
    contract.assert_clean();
    let mut bad = hello.clone();
    bad["template"]["language"]["policy"] = json!("fallback");
    let (status, _, _) = post(&contract.url(), PNID, &bad).await;
    assert_eq!(status, 422, "policy keeps its enum");

    let upstream = graph.url();
    let raw = tokio::task::spawn_blocking(move || Prism::start(&meta_spec(), &upstream))
        .await
        .expect("join")
        .expect("start prism on Meta's spec");
    let (status, _, problem) = post(raw.url(), PNID, &hello).await;
    assert_eq!(
        status, 422,
        "Meta fixed the spec? Drop the erratum. {problem}"
    );
}

#[tokio::test]
async fn scripted_meta_errors_come_back_through_prism_with_metas_envelope() {
    let graph = Graph::start().await;
    let contract = Contract::start(&graph).await;
    let cases = [
        (130429, 400),
        (131056, 400),
        (131047, 400),
        (131026, 400),
        (131049, 400),
        (131050, 400),
        (368, 403),
        (100, 400),
    ];
    for (code, http_status) in cases {
        let mut error = MetaError::new(code);
        if code == 131056 {
            error = error.retry_after(7);
        }
        graph.fail_next_for(PNID, Fault::Meta(error));
        let (status, headers, body) = post(&contract.url(), PNID, &text("15550100200", "x")).await;
        assert_eq!(status.as_u16(), http_status, "{code}: {body}");
        let e = &body["error"];
        assert_eq!(e["code"], code, "{body}");
        assert_eq!(e["type"], "OAuthException");
        assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert_eq!(e["error_data"]["messaging_product"], "whatsapp");
        assert!(e["error_data"]["details"].is_string());
        assert!(e["fbtrace_id"].is_string());
        let retry_after = headers
            .get("retry-after")
            .map(|v| v.to_str().expect("ascii"));
        assert_eq!(retry_after, (code == 131056).then_some("7"), "{code}");
    }
    // Faults are per phone_number_id, then global, in order.
    graph.fail_next(Fault::Status(503));
    graph.fail_next(Fault::Status(500));
    graph.fail_next_for(
        "200000000000001",
        Fault::Meta(MetaError::new(131026).subcode(2494010)),
    );
    let (status, _, body) = post(&contract.url(), "200000000000001", &text("1555", "x")).await;
    assert_eq!(
        (status.as_u16(), body["error"]["error_subcode"].clone()),
        (400, json!(2494010))
    );
    let (status, _, _) = post(&contract.url(), "200000000000001", &text("1555", "x")).await;
    assert_eq!(status, 503);
    let (status, _, _) = post(&contract.url(), PNID, &text("1555", "x")).await;
    assert_eq!(status, 500);
    let (status, _, _) = post(&contract.url(), PNID, &text("1555", "x")).await;
    assert_eq!(status, 200);

    // Error statuses are not in the spec for `messages`: Prism warns, and the
    // harness tolerates exactly that warning.
    contract.assert_clean();
    let exchanges = contract.exchanges();
    assert!(
        exchanges
            .iter()
            .filter(|e| e.status != 200)
            .all(|e| e.tolerated.len() == 1)
    );
}

#[tokio::test]
async fn latency_and_hangs_are_scriptable() {
    let graph = Graph::start().await;
    let contract = Contract::start(&graph).await;
    graph.set_latency(Duration::from_millis(300));
    let started = Instant::now();
    let (status, _, _) = post(&contract.url(), PNID, &text("1555", "slow")).await;
    assert_eq!(status, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
    graph.set_latency(Duration::ZERO);

    graph.fail_next(Fault::Hang);
    let started = Instant::now();
    let err = http()
        .post(format!("{}/{VERSION}/{PNID}/messages", contract.url()))
        .bearer_auth(ACCESS_TOKEN)
        .timeout(Duration::from_millis(800))
        .json(&text("1555", "hang"))
        .send()
        .await
        .expect_err("the server never answers");
    assert!(err.is_timeout(), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // The next request is answered again.
    let (status, _, _) = post(&contract.url(), PNID, &text("1555", "after")).await;
    assert_eq!(status, 200);
    contract.assert_clean();
}

#[tokio::test]
async fn media_uploads_retrieves_downloads_and_deletes() {
    let graph = Graph::start().await;
    let contract = Contract::start(&graph).await;
    // Prism re-encodes multipart bodies as UTF-8 (stoplightio/prism#1321), so
    // through it the file must be text; binary files go to the server directly.
    let doc = b"Invoice 42\nTotal: 10 EUR\n".to_vec();
    let form = reqwest::multipart::Form::new()
        .text("messaging_product", "whatsapp")
        .text("type", "text/plain")
        .part(
            "file",
            reqwest::multipart::Part::bytes(doc.clone())
                .file_name("invoice.txt")
                .mime_str("text/plain")
                .expect("mime"),
        );
    let resp = http()
        .post(format!("{}/{VERSION}/{PNID}/media", contract.url()))
        .bearer_auth(ACCESS_TOKEN)
        .multipart(form)
        .send()
        .await
        .expect("upload");
    assert_eq!(resp.status(), 200);
    let id = resp.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("media id")
        .to_string();
    let upload = graph.requests().pop().expect("recorded");
    assert!(matches!(upload.body, RecordedBody::Multipart(_)));
    assert_eq!(
        upload
            .body
            .part("messaging_product")
            .map(|p| p.bytes.clone()),
        Some(b"whatsapp".to_vec())
    );
    assert_eq!(
        graph.media(&id),
        Some((doc.clone(), "text/plain".to_string()))
    );

    // Retrieve the URL through Prism, download from the server (as from Meta's CDN).
    let info: Value = http()
        .get(format!(
            "{}/{VERSION}/{id}?phone_number_id={PNID}",
            contract.url()
        ))
        .bearer_auth(ACCESS_TOKEN)
        .send()
        .await
        .expect("retrieve")
        .json()
        .await
        .expect("json");
    assert_eq!(info["id"], id.as_str());
    assert_eq!(info["messaging_product"], "whatsapp");
    assert_eq!(info["mime_type"], "text/plain");
    assert_eq!(info["file_size"], doc.len().to_string());
    use sha2::Digest as _;
    assert_eq!(info["sha256"], hex::encode(sha2::Sha256::digest(&doc)));
    let url = info["url"].as_str().expect("url");
    assert!(url.starts_with(&graph.url()), "{url}");
    let got = http()
        .get(url)
        .bearer_auth(ACCESS_TOKEN)
        .send()
        .await
        .expect("download");
    assert_eq!(got.status(), 200);
    assert_eq!(got.headers()["content-type"], "text/plain");
    assert_eq!(got.bytes().await.expect("bytes").to_vec(), doc);
    let anonymous = http().get(url).send().await.expect("download");
    assert_eq!(anonymous.status(), 401);

    // Binary media put in by the test round-trips byte for byte.
    let png: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
    let png_id = graph.put_media(&png, "image/png");
    let info: Value = http()
        .get(format!("{}/{VERSION}/{png_id}", contract.url()))
        .bearer_auth(ACCESS_TOKEN)
        .send()
        .await
        .expect("retrieve")
        .json()
        .await
        .expect("json");
    let bytes = http()
        .get(info["url"].as_str().expect("url"))
        .bearer_auth(ACCESS_TOKEN)
        .send()
        .await
        .expect("download")
        .bytes()
        .await
        .expect("bytes");
    assert_eq!(bytes.to_vec(), png);

    // Delete (the spec wants a Content-Type even without a body), then it is gone.
    let resp = http()
        .delete(format!(
            "{}/{VERSION}/{id}?phone_number_id={PNID}",
            contract.url()
        ))
        .bearer_auth(ACCESS_TOKEN)
        .header("content-type", "application/json")
        .send()
        .await
        .expect("delete");
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.json::<Value>().await.expect("json"),
        json!({"success": true})
    );
    assert_eq!(graph.media(&id), None);
    let gone = http()
        .get(format!("{}/{VERSION}/{id}", graph.url()))
        .bearer_auth(ACCESS_TOKEN)
        .send()
        .await
        .expect("retrieve");
    assert_eq!(gone.status(), 400);
    contract.assert_clean();
}

#[tokio::test]
async fn binary_media_uploads_directly_round_trip() {
    let graph = Graph::start().await;
    let png: Vec<u8> = (0..=255u8).rev().cycle().take(10_000).collect();
    let form = reqwest::multipart::Form::new()
        .text("messaging_product", "whatsapp")
        .text("type", "image/png")
        .part(
            "file",
            reqwest::multipart::Part::bytes(png.clone())
                .file_name("a.png")
                .mime_str("image/png")
                .expect("mime"),
        );
    let resp = http()
        .post(format!("{}/{VERSION}/{PNID}/media", graph.url()))
        .bearer_auth(ACCESS_TOKEN)
        .multipart(form)
        .send()
        .await
        .expect("upload");
    assert_eq!(resp.status(), 200);
    let id = resp.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_string();
    assert_eq!(graph.media(&id), Some((png, "image/png".to_string())));
    // Another phone number cannot see it.
    let other = http()
        .get(format!(
            "{}/{VERSION}/{id}?phone_number_id=999",
            graph.url()
        ))
        .bearer_auth(ACCESS_TOKEN)
        .send()
        .await
        .expect("retrieve");
    assert_eq!(other.status(), 400);
}

#[tokio::test]
async fn the_health_probe_answers_and_fails_on_demand() {
    let graph = Graph::start().await;
    let contract = Contract::start(&graph).await;
    let probe = || async {
        let resp = http()
            .get(format!(
                "{}/{VERSION}/{PNID}?fields=id,quality_rating,verified_name",
                contract.url()
            ))
            .bearer_auth(ACCESS_TOKEN)
            .send()
            .await
            .expect("probe");
        let status = resp.status();
        (status, resp.json::<Value>().await.unwrap_or(Value::Null))
    };
    let (status, body) = probe().await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"id": PNID, "quality_rating": "GREEN", "verified_name": "scrm Test Business"})
    );

    graph.set_health_fault(Some(Fault::Meta(MetaError::new(131016))));
    let (status, body) = probe().await;
    assert_eq!(
        (status.as_u16(), body["error"]["code"].clone()),
        (503, json!(131016))
    );
    // This operation documents a JSON 500, so a failing probe through Prism must be
    // Meta's envelope; a bare 500 (a front-end failure) is checked directly.
    graph.set_health_fault(Some(Fault::Meta(MetaError::new(131000))));
    assert_eq!(probe().await.0, 500);
    graph.set_health_fault(Some(Fault::Status(500)));
    let bare = http()
        .get(format!("{}/{VERSION}/{PNID}", graph.url()))
        .bearer_auth(ACCESS_TOKEN)
        .send()
        .await
        .expect("probe");
    assert_eq!(bare.status(), 500);
    graph.set_health_fault(None);
    graph.set_health_latency(Duration::from_millis(250));
    let started = Instant::now();
    assert_eq!(probe().await.0, 200);
    assert!(started.elapsed() >= Duration::from_millis(250));
    contract.assert_clean();
}
