//! Outbound HTTP from plugins: only allowlisted hosts, never private or loopback
//! addresses unless explicitly allowed (checked after DNS), a request budget per call,
//! and credentials added by the host so the plugin never sees them.

use axum::http::HeaderMap;
use scrm_e2e::*;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

/// How long the stand-in's `/slow` takes to answer.
const SLOW_MS: u64 = 600;

/// A local stand-in for a CRM: answers 200 (`/slow` after [`SLOW_MS`]) and remembers the Authorization headers.
async fn crm_server() -> (u16, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let app = axum::Router::new()
        .route(
            "/slow",
            axum::routing::get(|| async {
                tokio::time::sleep(std::time::Duration::from_millis(SLOW_MS)).await;
                "slow"
            }),
        )
        .route(
            "/",
            axum::routing::get(move |headers: HeaderMap| {
                let s = s.clone();
                async move {
                    let auth = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string();
                    s.lock().unwrap().push(auth);
                    "ok"
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (port, seen)
}

async fn tags_for(
    host: &Host,
    tenant: &str,
    pnid: &str,
    sha: &str,
    urls: &[String],
    http: Value,
) -> Value {
    host.tenant(tenant, &[pnid], "US").await;
    let config = format!(
        "behaviour = \"http\"\nurls = {}\n",
        serde_json::to_string(urls).unwrap()
    );
    host.ok(
        "PUT",
        &format!("/v1/tenants/{tenant}/plugins/classifier"),
        Some(json!({"sha256": sha, "config": config, "http": http})),
    )
    .await;
    host.post_signed(
        &text_webhook(pnid, "16505551234", &[("wamid.1", "hi")]),
        APP_SECRET,
    )
    .await;
    host.settle().await;
    let m = &host.messages(tenant).await[0];
    assert!(m["classify_error"].is_null(), "{m}");
    m["tags"].clone()
}

scrm_e2e::both_backends! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn plugin_http_is_limited_to_the_allowlist_and_public_addresses() {
        let (port, seen) = crm_server().await;
        let local = format!("http://127.0.0.1:{port}/");
        let host = Host::start().await;
        let comp = host.upload(&guest("hostile-classifier")).await;
        let sha = comp["sha256"].as_str().unwrap().to_string();

        let t = tags_for(
            &host,
            "off-list",
            "101",
            &sha,
            std::slice::from_ref(&local),
            json!({"allow": ["api.example.com"]}),
        )
        .await;
        assert_eq!(t, json!(["http-request-denied"]));

        let t = tags_for(
            &host,
            "loopback",
            "102",
            &sha,
            std::slice::from_ref(&local),
            json!({"allow": ["127.0.0.1"]}),
        )
        .await;
        assert_eq!(t, json!(["destination-ip-prohibited"]));

        // A name that resolves to loopback is refused after resolution.
        let by_name = format!("http://localhost:{port}/");
        let t = tags_for(
            &host,
            "by-name",
            "103",
            &sha,
            &[by_name],
            json!({"allow": ["localhost"]}),
        )
        .await;
        assert_eq!(t, json!(["destination-ip-prohibited"]));

        // A private address is refused before any packet is sent.
        let t = tags_for(
            &host,
            "private",
            "104",
            &sha,
            &["http://10.20.30.40/".into()],
            json!({"allow": ["10.20.30.40"]}),
        )
        .await;
        assert_eq!(t, json!(["destination-ip-prohibited"]));
        assert!(
            seen.lock().unwrap().is_empty(),
            "nothing reached the server so far"
        );

        // Explicitly allowed, with a credential from the tenant's secrets and a budget of one.
        host.tenant("allowed", &["105"], "US").await;
        host.ok(
            "PUT",
            "/v1/tenants/allowed/secrets/crm-token",
            Some(json!({"value": "s3cr3t-token"})),
        )
        .await;
        let policy = json!({
            "allow": ["127.0.0.1"],
            "allow_private": [format!("127.0.0.1:{port}")],
            "max_requests": 1,
            "credentials": [{"host": "127.0.0.1", "header": "authorization", "secret": "crm-token", "prefix": "Bearer "}]
        });
        let config = format!("behaviour = \"http\"\nurls = [\"{local}\", \"{local}\"]\n");
        host.ok(
            "PUT",
            "/v1/tenants/allowed/plugins/classifier",
            Some(json!({"sha256": sha, "config": config, "http": policy})),
        )
        .await;
        host.post_signed(
            &text_webhook("105", "16505551234", &[("wamid.1", "hi")]),
            APP_SECRET,
        )
        .await;
        host.settle().await;
        let m = &host.messages("allowed").await[0];
        assert_eq!(
            m["tags"],
            json!(["http-request-denied", "status-200"]), // served sorted: one sent, one over budget
            "{m}"
        );
        assert_eq!(
            *seen.lock().unwrap(),
            vec!["Bearer s3cr3t-token".to_string()]
        );
        let everything = host
            .ok("GET", "/v1/tenants/allowed/messages", None)
            .await
            .to_string();
        assert!(
            !everything.contains("s3cr3t"),
            "the secret never reaches the plugin's output"
        );
        let secrets = host.ok("GET", "/v1/tenants/allowed/secrets", None).await;
        assert_eq!(secrets["items"][0]["name"], "crm-token");
        assert!(!secrets.to_string().contains("s3cr3t"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn waiting_for_a_slow_answer_does_not_use_up_the_cpu_deadline() {
        let (port, _) = crm_server().await;
        let slow = format!("http://127.0.0.1:{port}/slow");
        let host = Host::start().await;
        host.tenant("acme", &["100"], "US").await;
        let comp = host.upload(&guest("hostile-classifier")).await;
        let policy = json!({
            "allow": ["127.0.0.1"],
            "allow_private": [format!("127.0.0.1:{port}")],
        });
        // Two answers of 600 ms each, under a 100 ms deadline.
        let config = format!("behaviour = \"http\"\nurls = [\"{slow}\", \"{slow}\"]\n");
        host.ok(
            "PUT",
            "/v1/tenants/acme/plugins/classifier",
            Some(json!({"sha256": comp["sha256"], "config": config, "http": policy,
                        "limits": {"deadline_ms": 100}})),
        )
        .await;
        host.post_signed(
            &text_webhook("100", "16505551234", &[("wamid.1", "hi")]),
            APP_SECRET,
        )
        .await;
        host.settle().await;
        let m = &host.messages("acme").await[0];
        // Both answered (tags are a set), and the call did not time out.
        assert!(m["classify_error"].is_null(), "{m}");
        assert_eq!(m["tags"], json!(["status-200"]), "{m}");
    }

    #[tokio::test]
    async fn bad_http_policies_are_refused_at_install() {
        let host = Host::start().await;
        host.tenant("acme", &["100"], "US").await;
        let comp = host.upload(&guest("hostile-classifier")).await;
        let sha = comp["sha256"].as_str().unwrap();
        for (policy, needle) in [
            (json!({"allow": ["https://x.com/"]}), "must be a host name"),
            (
                json!({"allow": ["x.com"], "credentials": [{"host": "y.com", "header": "authorization", "secret": "s"}]}),
                "not on the allowlist",
            ),
            (json!({"allow": ["x.com"], "proxy": true}), "unknown field"),
        ] {
            let (s, v) = host
                .api(
                    "PUT",
                    "/v1/tenants/acme/plugins/classifier",
                    Some(json!({"sha256": sha, "http": policy})),
                )
                .await;
            assert_eq!(
                (s.as_u16(), v["error"]["code"].as_str()),
                (400, Some("invalid_http_policy")),
                "{v}"
            );
            assert!(
                v["error"]["message"].as_str().unwrap().contains(needle),
                "{v}"
            );
        }
    }
}
