//! Cloud API health and failover: probes of each app's primary base URL, the switch
//! to its backup after slow or failing probes, sends following the active URL, the
//! switch back, state in the API and `/metrics`, and across a restart. Two local
//! Cloud API servers play the primary and the backup.

use reqwest::StatusCode;
use scrm_e2e::graph::{ACCESS_TOKEN, Fault, Graph};
use scrm_e2e::{APP_SECRET, Host, eventually};
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const PN: &str = "100200300";
const ALICE: &str = "393471234567";
/// The slow threshold the tests use (the default is 1.5 s).
const SLOW_MS: u64 = 150;

struct Setup {
    host: Host,
    primary: Graph,
    backup: Graph,
    dir: tempfile::TempDir,
}

async fn start(dir: &Path, primary: &Graph, interval_secs: u64) -> Host {
    let url = primary.url();
    Host::start_configured(dir, |s| {
        s.whatsapp.graph_url = url;
        s.whatsapp.probe_slow_ms = SLOW_MS;
        s.whatsapp.probe_interval_secs = interval_secs;
        s.whatsapp.request_timeout_ms = 2_000;
    })
    .await
}

/// A host whose app `app1` has the primary as its (host-wide) URL and the backup
/// as its backup URL; tenant `acme` owns `PN` and has the access token.
async fn setup_with_interval(interval_secs: u64) -> Setup {
    let primary = Graph::start().await;
    let backup = Graph::start().await;
    let dir = tempfile::tempdir().unwrap();
    let host = start(dir.path(), &primary, interval_secs).await;
    host.tenant("acme", &[PN], "IT").await;
    host.ok(
        "PUT",
        "/v1/tenants/acme/secrets/whatsapp_access_token",
        Some(json!({"value": ACCESS_TOKEN})),
    )
    .await;
    let app = host
        .ok(
            "PATCH",
            "/v1/apps/app1",
            Some(json!({"backup_graph_url": backup.url()})),
        )
        .await;
    assert_eq!(app["backup_graph_url"], json!(backup.url()));
    Setup {
        host,
        primary,
        backup,
        dir,
    }
}

async fn setup() -> Setup {
    // An hour between scheduled probes: only the tests' own probes run.
    setup_with_interval(3_600).await
}

async fn probe(host: &Host) -> Value {
    host.ok("POST", "/v1/apps/app1/health/probe", None).await
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A signed webhook: ALICE writes now, which opens the 24-hour window.
async fn inbound(host: &Host, wamid: &str) {
    let body = json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA1", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550000000", "phone_number_id": PN},
            "contacts": [{"profile": {"name": "Alice"}, "wa_id": ALICE}],
            "messages": [{"from": ALICE, "id": wamid, "timestamp": now_secs().to_string(),
                          "type": "text", "text": {"body": "hello"}}]
        }}]}]
    });
    let (status, _) = host
        .post_signed(&serde_json::to_vec(&body).unwrap(), APP_SECRET)
        .await;
    assert_eq!(status, StatusCode::OK);
    host.settle().await;
}

/// Sends a text to ALICE and waits until `graph` accepted it (and the outbox says sent).
async fn send_through(host: &Host, graph: &Graph, text: &str) {
    let before = graph.sent_messages().len();
    let item = host
        .ok(
            "POST",
            "/v1/tenants/acme/messages",
            Some(json!({"to": ALICE, "type": "text", "text": {"body": text}})),
        )
        .await;
    let id = item["id"].as_i64().expect("outbox id");
    eventually(|| async {
        let v = host
            .ok("GET", &format!("/v1/tenants/acme/outbox/{id}"), None)
            .await;
        Ok((v["state"] == "sent").then_some(()))
    })
    .await
    .unwrap_or_else(|e| panic!("{text:?} was not sent: {e}"));
    let sent = graph.sent_messages();
    assert_eq!(sent.len(), before + 1, "{text:?} did not reach this server");
    assert_eq!(sent.last().unwrap().body["text"]["body"], text);
}

fn metric(metrics: &str, line_prefix: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|l| l.starts_with(line_prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

scrm_e2e::both_backends! {
    #[tokio::test]
    async fn three_slow_probes_switch_sends_to_the_backup_and_a_healthy_one_switches_back() {
        let s = setup().await;
        let host = &s.host;
        inbound(host, "wamid.in.1").await;
        send_through(host, &s.primary, "before the failover").await;

        s.primary
            .set_health_latency(Duration::from_millis(SLOW_MS + 150));
        for n in 1..=2 {
            let v = probe(host).await;
            assert_eq!(v["active"], "primary", "after {n} slow probes: {v}");
            assert_eq!(v["primary"]["consecutive_unhealthy"], n);
            assert_eq!(v["primary"]["last_probe"]["outcome"], "slow");
            assert!(v["primary"]["last_probe"]["latency_ms"].as_u64().unwrap() > SLOW_MS);
        }
        let v = probe(host).await;
        assert_eq!(v["active"], "backup", "{v}");
        assert_eq!(v["active_url"], json!(s.backup.url()));
        assert_eq!(v["switches"][0]["reason"], "primary_unhealthy");
        assert_eq!(v["switches"][0]["from_url"], json!(s.primary.url()));
        assert_eq!(v["switches"][0]["to_url"], json!(s.backup.url()));
        // The backup is probed as soon as it is active, and recorded.
        assert_eq!(v["backup"]["last_probe"]["outcome"], "ok", "{v}");
        assert_eq!(
            s.backup
                .requests()
                .iter()
                .filter(|r| r.path == format!("/v23.0/{PN}"))
                .count(),
            1
        );

        let metrics = host.metrics().await;
        assert_eq!(
            metric(&metrics, "scrm_graph_backup_active{app=\"app1\"}"),
            Some(1.0),
            "{metrics}"
        );
        assert_eq!(
            metric(
                &metrics,
                "scrm_graph_probe_failures_total{app=\"app1\",target=\"primary\",reason=\"slow\"}"
            ),
            Some(3.0),
            "{metrics}"
        );
        assert_eq!(
            metric(
                &metrics,
                "scrm_graph_probe_seconds_count{app=\"app1\",target=\"primary\"}"
            ),
            Some(3.0),
            "{metrics}"
        );
        assert_eq!(
            metric(
                &metrics,
                "scrm_graph_switches_total{app=\"app1\",target=\"backup\"}"
            ),
            Some(1.0),
            "{metrics}"
        );

        // Sends now go to the backup; the primary sees none of them.
        let primary_sends = s.primary.sent_messages().len();
        send_through(host, &s.backup, "during the failover").await;
        assert_eq!(s.primary.sent_messages().len(), primary_sends);

        // While on the backup the primary is still probed; healthy again, it is back.
        s.primary.set_health_latency(Duration::ZERO);
        let v = probe(host).await;
        assert_eq!(v["active"], "primary", "{v}");
        assert_eq!(v["primary"]["last_probe"]["outcome"], "ok");
        assert_eq!(v["switches"][0]["reason"], "primary_recovered");
        assert_eq!(v["switches"].as_array().unwrap().len(), 2);
        let metrics = host.metrics().await;
        assert_eq!(
            metric(&metrics, "scrm_graph_backup_active{app=\"app1\"}"),
            Some(0.0)
        );
        let backup_sends = s.backup.sent_messages().len();
        send_through(host, &s.primary, "after the failover").await;
        assert_eq!(s.backup.sent_messages().len(), backup_sends);
    }

    #[tokio::test]
    async fn failing_probes_switch_too_and_a_restart_keeps_the_backup_active() {
        let Setup {
            mut host,
            primary,
            backup,
            dir,
        } = setup().await;
        inbound(&host, "wamid.in.2").await;
        primary.set_health_fault(Some(Fault::Status(503)));
        probe(&host).await;
        // A healthy answer in between starts the count again.
        primary.set_health_fault(None);
        probe(&host).await;
        primary.set_health_fault(Some(Fault::Status(503)));
        for _ in 0..2 {
            assert_eq!(probe(&host).await["active"], "primary");
        }
        let v = probe(&host).await;
        assert_eq!(v["active"], "backup", "{v}");
        assert_eq!(v["primary"]["last_probe"]["outcome"], "failed");
        assert!(
            v["primary"]["last_probe"]["error"]
                .as_str()
                .unwrap()
                .contains("503"),
            "{v}"
        );
        let metrics = host.metrics().await;
        assert_eq!(
            metric(
                &metrics,
                "scrm_graph_probe_failures_total{app=\"app1\",target=\"primary\",reason=\"failed\"}"
            ),
            Some(4.0),
            "{metrics}"
        );

        host.stop().await;
        let host = start(dir.path(), &primary, 3_600).await;
        let v = host.ok("GET", "/v1/apps/app1/health", None).await;
        assert_eq!(v["active"], "backup", "{v}");
        assert_eq!(v["primary"]["consecutive_unhealthy"], 3);
        assert_eq!(v["primary"]["last_probe"]["outcome"], "failed");
        assert_eq!(v["backup"]["last_probe"]["outcome"], "ok");
        assert_eq!(v["switches"].as_array().unwrap().len(), 1);
        assert_eq!(v["probes"].as_array().unwrap().len(), 6, "{v}");
        assert!(v["next_probe_at"].as_i64().is_some());
        let metrics = host.metrics().await;
        assert_eq!(
            metric(&metrics, "scrm_graph_backup_active{app=\"app1\"}"),
            Some(1.0),
            "{metrics}"
        );
        send_through(&host, &backup, "after the restart").await;

        // Removing the backup URL sends the app back to the primary at once.
        let app = host
            .ok(
                "PATCH",
                "/v1/apps/app1",
                Some(json!({"backup_graph_url": null})),
            )
            .await;
        assert_eq!(app["backup_graph_url"], Value::Null);
        let v = host.ok("GET", "/v1/apps/app1/health", None).await;
        assert_eq!(v["active"], "primary", "{v}");
        assert_eq!(v["switches"][0]["reason"], "backup_removed");
        assert_eq!(v["switches"][0]["from_url"], json!(backup.url()));
        // Without a backup, failing probes change nothing but the counters.
        for _ in 0..4 {
            assert_eq!(probe(&host).await["active"], "primary");
        }
        primary.set_health_fault(None);
        send_through(&host, &primary, "primary only").await;
    }

    #[tokio::test]
    async fn metas_own_error_answers_do_not_trigger_a_switch() {
        let s = setup().await;
        // A token Meta refuses: the API answered, so the backup would not help.
        s.host
            .ok(
                "PUT",
                "/v1/tenants/acme/secrets/whatsapp_access_token",
                Some(json!({"value": "EAAnot-a-valid-token"})),
            )
            .await;
        for _ in 0..4 {
            let v = probe(&s.host).await;
            assert_eq!(v["active"], "primary", "{v}");
            assert_eq!(v["primary"]["last_probe"]["outcome"], "rejected");
            assert!(
                v["primary"]["last_probe"]["error"]
                    .as_str()
                    .unwrap()
                    .contains("190"),
                "{v}"
            );
        }
        let metrics = s.host.metrics().await;
        assert_eq!(
            metric(
                &metrics,
                "scrm_graph_probe_failures_total{app=\"app1\",target=\"primary\",reason=\"rejected\"}"
            ),
            Some(4.0),
            "{metrics}"
        );
    }

    #[tokio::test]
    async fn scheduled_probes_fail_over_without_being_asked() {
        let s = setup_with_interval(1).await;
        s.primary.set_health_fault(Some(Fault::Status(502)));
        let v = eventually(|| async {
            let v = s.host.ok("GET", "/v1/apps/app1/health", None).await;
            Ok((v["active"] == "backup").then_some(v))
        })
        .await
        .expect("the prober switched to the backup on its own");
        assert_eq!(v["switches"][0]["reason"], "primary_unhealthy");
        s.primary.set_health_fault(None);
        eventually(|| async {
            let v = s.host.ok("GET", "/v1/apps/app1/health", None).await;
            Ok((v["active"] == "primary").then_some(()))
        })
        .await
        .expect("the prober switched back on its own");
        drop(s.dir);
    }

    #[tokio::test]
    async fn app_endpoints_are_validated_and_listed_without_secrets() {
        let s = setup().await;
        let host = &s.host;
        let patch = |body: Value| async move { host.api("PATCH", "/v1/apps/app1", Some(body)).await };

        let (status, v) = patch(json!({"backup_graph_url": "ftp://example.com"})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(v["error"]["code"], "invalid_url", "{v}");
        let (status, v) = patch(json!({"graph_url": "not a url"})).await;
        assert_eq!(
            (status, v["error"]["code"].clone()),
            (StatusCode::BAD_REQUEST, json!("invalid_url"))
        );
        let (status, v) = patch(json!({"graph_url": "https://user:pw@graph.example.com"})).await;
        assert_eq!(
            (status, v["error"]["code"].clone()),
            (StatusCode::BAD_REQUEST, json!("invalid_url"))
        );
        let (status, v) = patch(json!({"graph_version": "23"})).await;
        assert_eq!(
            (status, v["error"]["code"].clone()),
            (StatusCode::BAD_REQUEST, json!("invalid_graph_version"))
        );
        let (status, v) = patch(json!({"backup_graph_url": format!("{}/", s.primary.url())})).await;
        assert_eq!(
            (status, v["error"]["code"].clone()),
            (StatusCode::BAD_REQUEST, json!("invalid_backup_graph_url")),
            "{v}"
        );
        let (status, v) = patch(json!({})).await;
        assert_eq!(
            (status, v["error"]["code"].clone()),
            (StatusCode::BAD_REQUEST, json!("nothing_to_change"))
        );
        let (status, _) = patch(json!({"graph_ur1": "https://x.example"})).await;
        assert!(status.is_client_error());
        let (status, _) = host
            .api(
                "PATCH",
                "/v1/apps/nope",
                Some(json!({"graph_version": "v23.0"})),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        // Nothing above changed the app.
        let apps = host.ok("GET", "/v1/apps", None).await;
        assert_eq!(apps["items"][0]["backup_graph_url"], json!(s.backup.url()));
        assert_eq!(apps["items"][0]["graph_url"], Value::Null);

        let (status, v) =
            patch(json!({"graph_url": format!("{}/", s.primary.url()), "graph_version": "v23.0"}))
                .await;
        assert_eq!(status, StatusCode::OK, "{v}");
        assert_eq!(
            v["graph_url"],
            json!(s.primary.url()),
            "trailing slash dropped"
        );
        let apps = host.ok("GET", "/v1/apps", None).await;
        let app = &apps["items"][0];
        assert_eq!(app["graph_url"], json!(s.primary.url()));
        assert_eq!(app["graph_version"], "v23.0");
        assert_eq!(app["backup_graph_url"], json!(s.backup.url()));
        let text = apps.to_string();
        assert!(
            !text.contains(APP_SECRET) && !text.contains("app_secret"),
            "{text}"
        );
        assert!(!text.contains("verify_token"), "{text}");

        // null clears: the host's default applies again.
        let (status, v) = patch(json!({"graph_url": null, "graph_version": null})).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            (v["graph_url"].clone(), v["graph_version"].clone()),
            (Value::Null, Value::Null)
        );
        let h = host.ok("GET", "/v1/apps/app1/health", None).await;
        assert_eq!(h["primary"]["url"], json!(s.primary.url()));
        assert_eq!(h["graph_version"], "v23.0");
        assert_eq!(h["thresholds"]["probe_slow_ms"], SLOW_MS);
    }

    #[tokio::test]
    async fn probing_needs_a_known_app_with_a_tenant_token() {
        let s = setup().await;
        let (status, v) = s.host.api("POST", "/v1/apps/nope/health/probe", None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
        let (status, _) = s.host.api("GET", "/v1/apps/nope/health", None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        s.host
            .ok(
                "DELETE",
                "/v1/tenants/acme/secrets/whatsapp_access_token",
                None,
            )
            .await;
        let (status, v) = s.host.api("POST", "/v1/apps/app1/health/probe", None).await;
        assert_eq!(status, StatusCode::CONFLICT, "{v}");
        assert_eq!(v["error"]["code"], "no_probe_credentials");
        assert!(s.primary.requests().is_empty(), "nothing was probed");
    }
}
