//! The admin and read API: authentication, validation with specific errors,
//! secrets never served, pagination.

use scrm_e2e::*;
use serde_json::json;

scrm_e2e::both_backends! {
    #[tokio::test]
    async fn the_api_requires_the_operator_token() {
        let host = Host::start().await;
        let r = host
            .http
            .get(format!("{}/v1/tenants", host.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        assert_eq!(
            r.json::<serde_json::Value>().await.unwrap()["error"]["code"],
            "unauthenticated"
        );
        let r = host
            .http
            .get(format!("{}/v1/tenants", host.base))
            .bearer_auth("wrong-token-wrong-token")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        assert_eq!(
            r.json::<serde_json::Value>().await.unwrap()["error"]["code"],
            "invalid_token"
        );
        // Health and metrics are open.
        let r = host
            .http
            .get(format!("{}/healthz", host.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }

    #[tokio::test]
    async fn secrets_are_never_served() {
        let host = Host::start().await;
        host.tenant("acme", &["100"], "US").await;
        let apps = host.ok("GET", "/v1/apps", None).await.to_string();
        assert!(apps.contains("app1"));
        assert!(!apps.contains(APP_SECRET), "{apps}");
        assert!(!apps.contains(VERIFY_TOKEN), "{apps}");
        let tenant = host.ok("GET", "/v1/tenants/acme", None).await.to_string();
        assert!(!tenant.contains(APP_SECRET), "{tenant}");
    }

    #[tokio::test]
    async fn tenant_secrets_are_sealed_at_rest_and_survive_a_restart() {
        const VALUE: &str = "pat-na1-7c1d0e5b-sealed-at-rest";
        let host = Host::start().await;
        host.tenant("acme", &["100"], "US").await;
        host.ok(
            "PUT",
            "/v1/tenants/acme/secrets/hubspot-token",
            Some(json!({"value": VALUE})),
        )
        .await;
        let listed = host.ok("GET", "/v1/tenants/acme/secrets", None).await;
        assert!(listed.to_string().contains("hubspot-token") && !listed.to_string().contains(VALUE));
        // The rows hold no trace of the value, nor do the database's files.
        let rows: Vec<String> = host
            .with_conn(|c| {
                c.query("SELECT value FROM tenant_secrets", scrm_store::params![], |r| r.get(0))
            })
            .await
            .unwrap();
        assert_eq!(rows.len(), 1);
        assert!(rows[0].starts_with("sealed:v1:") && !rows[0].contains("pat-na1"), "{rows:?}");
        if host.database_url.is_none() {
            for entry in std::fs::read_dir(&host.data_dir).unwrap() {
                let path = entry.unwrap().path();
                if path.file_name().unwrap().to_string_lossy().starts_with("scrm.db") {
                    let bytes = std::fs::read(&path).unwrap();
                    assert!(
                        !bytes.windows(VALUE.len()).any(|w| w == VALUE.as_bytes()),
                        "{} holds the secret",
                        path.display()
                    );
                }
            }
        }
        // The key is in the data directory, readable by its owner only; after a
        // restart the host opens the secret with it.
        let key_file = host.data_dir.join("secrets.key");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "{mode:o}");
        }
        let host = host.restart().await;
        let value = host
            .with_conn(|c| scrm_store::SecretRepo::get(c, "acme", "hubspot-token"))
            .await
            .unwrap();
        assert_eq!(value.as_deref(), Some(VALUE));
        // With another key the host refuses to start and says why.
        let data_dir = host.data_dir.clone();
        let mut host = host;
        host.stop().await;
        let other = scrm_store::SecretsKey::generate().to_text();
        let Err(refused) = Host::try_start_configured(&data_dir, |s| {
            s.secrets_key = Some(other.into());
        })
        .await
        else {
            panic!("a host with another key is refused");
        };
        assert!(
            format!("{refused:#}").contains("sealed with another key"),
            "{refused:#}"
        );
        // The right key, given in the environment's place, opens it.
        let key = std::fs::read_to_string(&key_file).unwrap();
        let host = Host::start_configured(&data_dir, |s| {
            s.secrets_key = Some(key.into());
            s.secrets_key_file = data_dir.join("no-such-file");
        })
        .await;
        let value = host
            .with_conn(|c| scrm_store::SecretRepo::get(c, "acme", "hubspot-token"))
            .await
            .unwrap();
        assert_eq!(value.as_deref(), Some(VALUE));
    }

    #[tokio::test]
    async fn a_secret_past_the_rotation_period_is_reported_and_measured() {
        let host = Host::start().await;
        host.tenant("acme", &["100"], "US").await;
        for name in ["fresh-token", "old-token"] {
            host.ok(
                "PUT",
                &format!("/v1/tenants/acme/secrets/{name}"),
                Some(json!({"value": "v"})),
            )
            .await;
        }
        let health = host.ok("GET", "/v1/tenants/acme/health", None).await;
        assert_eq!(health, json!({"status": "ok", "warnings": []}));
        // One was set 45 days ago; the default rotation period is 30 days.
        let long_ago = scrm_store::now_ms() - 45 * 86_400_000;
        host.with_conn(move |c| {
            c.execute(
                "UPDATE tenant_secrets SET updated_at = ?1 WHERE name = 'old-token'",
                scrm_store::params![long_ago],
            )
        })
        .await
        .unwrap();
        let listed = host.ok("GET", "/v1/tenants/acme/secrets", None).await;
        let by_name = |n: &str| {
            listed["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["name"] == n)
                .cloned()
                .unwrap()
        };
        assert_eq!(by_name("old-token")["age_days"], 45);
        assert_eq!(by_name("old-token")["due_for_rotation"], true);
        assert_eq!(by_name("fresh-token")["due_for_rotation"], false);
        let health = host.ok("GET", "/v1/tenants/acme/health", None).await;
        assert_eq!(health["status"], "warning", "{health}");
        let warnings = health["warnings"].as_array().unwrap();
        assert_eq!(warnings.len(), 1, "{health}");
        assert_eq!(warnings[0]["code"], "secret_due_for_rotation");
        assert_eq!(warnings[0]["secret"], "old-token");
        let metrics = host.metrics().await;
        let line = metrics
            .lines()
            .find(|l| l.starts_with("scrm_secret_age_seconds{") && l.contains("old-token"))
            .unwrap_or_else(|| panic!("{metrics}"));
        let secs: i64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        assert!((45 * 86_400..46 * 86_400).contains(&secs), "{line}");

        // A longer period (or 0, never) clears the warning; a bad one is refused.
        let set = host
            .ok("PATCH", "/v1/tenants/acme", Some(json!({"secret_rotation_days": 60})))
            .await;
        assert_eq!(set["secret_rotation_days"], 60);
        let health = host.ok("GET", "/v1/tenants/acme/health", None).await;
        assert_eq!(health["status"], "ok", "{health}");
        for (body, status, code) in [
            (json!({"secret_rotation_days": -1}), 422, "invalid_secret_rotation_days"),
            (json!({"secret_rotation_day": 5}), 422, "invalid_json"),
        ] {
            let (s, v) = host.api("PATCH", "/v1/tenants/acme", Some(body)).await;
            assert_eq!(s.as_u16(), status, "{v}");
            assert_eq!(v["error"]["code"], code, "{v}");
        }
        let (s, v) = host
            .api("PATCH", "/v1/tenants/nope", Some(json!({"secret_rotation_days": 5})))
            .await;
        assert_eq!((s.as_u16(), v["error"]["code"].as_str()), (404, Some("not_found")), "{v}");
        // Deleting the secret removes its age from the metrics.
        host.ok("DELETE", "/v1/tenants/acme/secrets/old-token", None).await;
        assert!(!host.metrics().await.contains("old-token"));
    }

    #[tokio::test]
    async fn bad_input_gets_specific_errors_and_changes_nothing() {
        let host = Host::start().await;
        host.tenant("acme", &["100"], "US").await;
        let cases = [
            (
                json!({"id": "b", "app": "app1", "phone_number_ids": ["200"], "region": "ZZ"}),
                400,
                "invalid_region",
            ),
            (
                json!({"id": "b", "app": "app1", "phone_number_ids": []}),
                400,
                "invalid_phone_number_id",
            ),
            (
                json!({"id": "b", "app": "app1", "phone_number_ids": ["12a"]}),
                400,
                "invalid_phone_number_id",
            ),
            (
                json!({"id": "b c", "app": "app1", "phone_number_ids": ["200"]}),
                400,
                "invalid_id",
            ),
            (
                json!({"id": "b", "app": "nope", "phone_number_ids": ["200"]}),
                404,
                "not_found",
            ),
            (
                json!({"id": "acme", "app": "app1", "phone_number_ids": ["300"]}),
                409,
                "already_exists",
            ),
            (
                json!({"id": "b", "app": "app1", "phone_number_ids": ["100"]}),
                409,
                "already_exists",
            ),
            (
                json!({"id": "b", "app": "app1", "phone_number_ids": ["200"], "colour": 1}),
                422,
                "invalid_json",
            ),
        ];
        for (body, status, code) in cases {
            let (s, v) = host.api("POST", "/v1/tenants", Some(body.clone())).await;
            assert_eq!(
                (s.as_u16(), v["error"]["code"].as_str()),
                (status, Some(code)),
                "{body}: {v}"
            );
            assert!(
                v["error"]["message"]
                    .as_str()
                    .is_some_and(|m| !m.is_empty())
            );
        }
        let r = host
            .http
            .post(format!("{}/v1/tenants", host.base))
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        let tenants = host.ok("GET", "/v1/tenants", None).await;
        assert_eq!(
            tenants["items"].as_array().unwrap().len(),
            1,
            "nothing was added"
        );
        assert_eq!(tenants["items"][0]["phone_number_ids"], json!(["100"]));

        let (s, v) = host
            .api(
                "POST",
                "/v1/apps",
                Some(json!({"id": "a2", "app_secret": "short", "verify_token": "v"})),
            )
            .await;
        assert_eq!(
            (s.as_u16(), v["error"]["code"].as_str()),
            (400, Some("invalid_app_secret"))
        );
        let (s, v) = host.api("GET", "/v1/tenants/nobody/messages", None).await;
        assert_eq!(
            (s.as_u16(), v["error"]["code"].as_str()),
            (404, Some("not_found"))
        );
        let (s, v) = host
            .api("GET", "/v1/tenants/acme/messages?limit=abc", None)
            .await;
        assert_eq!(
            (s.as_u16(), v["error"]["code"].as_str()),
            (400, Some("invalid_query"))
        );
    }

    #[tokio::test]
    async fn lists_are_paginated_with_a_cursor() {
        let host = Host::start().await;
        host.tenant("acme", &["100"], "US").await;
        let msgs: Vec<(String, String)> = (0..5)
            .map(|i| (format!("wamid.{i}"), format!("hello {i}")))
            .collect();
        let refs: Vec<(&str, &str)> = msgs.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        host.post_signed(&text_webhook("100", "16505551234", &refs), APP_SECRET)
            .await;
        host.settle().await;
        let p1 = host
            .ok("GET", "/v1/tenants/acme/messages?limit=2", None)
            .await;
        assert_eq!(p1["items"].as_array().unwrap().len(), 2);
        let after = p1["next_after"].as_i64().unwrap();
        let p2 = host
            .ok(
                "GET",
                &format!("/v1/tenants/acme/messages?limit=2&after={after}"),
                None,
            )
            .await;
        let after = p2["next_after"].as_i64().unwrap();
        let p3 = host
            .ok(
                "GET",
                &format!("/v1/tenants/acme/messages?limit=2&after={after}"),
                None,
            )
            .await;
        assert_eq!(p3["items"].as_array().unwrap().len(), 1);
        assert!(p3.get("next_after").is_none());
        let wamids: Vec<String> = [p1, p2, p3]
            .iter()
            .flat_map(|p| {
                p["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|m| m["wamid"].as_str().unwrap().to_string())
            })
            .collect();
        assert_eq!(
            wamids,
            ["wamid.0", "wamid.1", "wamid.2", "wamid.3", "wamid.4"]
        );
    }
}
