//! Schedules: a flow's `schedule` parameter (a cron expression in the tenant's time
//! zone) hands it `schedule` events, each re-armed for its next time; a flow can ask
//! for the next "10:00 on Tuesday" in a zone; bad expressions and zones are refused.

use reqwest::StatusCode;
use scrm_e2e::eventually;
use scrm_e2e::flows::{WEI, acme_host, add_flow, inbound};
use scrm_e2e::graph::Graph;
use serde_json::json;

scrm_e2e::both_backends! {
    #[tokio::test]
    async fn a_schedule_fires_every_second_and_is_rearmed() {
        let graph = Graph::start().await;
        let dir = tempfile::tempdir().unwrap();
        let host = acme_host(dir.path(), &graph, |_| {}).await;
        let tz = host.ok("PATCH", "/v1/tenants/acme", Some(json!({"time_zone": "Europe/Rome"}))).await;
        assert_eq!(tz["time_zone"], "Europe/Rome");
        add_flow(&host, "hostile-flow").await;
        host.ok("PUT", "/v1/tenants/acme/flows/hostile-flow",
            Some(json!({"set": {"every": "*/1 * * * * *"}}))).await;
        let v = eventually(|| async {
            let v = host.ok("GET", "/v1/tenants/acme/flows/hostile-flow", None).await;
            let fired = v["recent"].as_array().map_or(0, |r| r.iter().filter(|j| j["kind"] == "schedule").count());
            Ok((fired >= 3).then_some(v))
        })
        .await
        .expect("three schedule events");
        let fired: Vec<&serde_json::Value> = v["recent"].as_array().unwrap().iter()
            .filter(|j| j["kind"] == "schedule").collect();
        assert!(fired[0]["outcome"].as_str().unwrap().contains("next at"), "{}", fired[0]);
        let dues: Vec<i64> = fired.iter().map(|j| j["due_at"].as_i64().unwrap()).collect();
        assert!(dues.windows(2).all(|w| w[0] - w[1] == 1_000), "one second apart: {dues:?}");
        assert_eq!(v["waiting"].as_array().unwrap().iter().filter(|j| j["kind"] == "schedule").count(), 1);
        // Turned off: nothing more is armed.
        host.ok("PUT", "/v1/tenants/acme/flows/hostile-flow", Some(json!({"set": {"every": ""}}))).await;
        let v = host.ok("GET", "/v1/tenants/acme/flows/hostile-flow", None).await;
        assert!(v["waiting"].as_array().unwrap().iter().all(|j| j["kind"] != "schedule"), "{v}");
    }

    #[tokio::test]
    async fn a_flow_waits_for_ten_on_tuesday_in_a_zone_and_bad_schedules_are_refused() {
        let graph = Graph::start().await;
        let dir = tempfile::tempdir().unwrap();
        let host = acme_host(dir.path(), &graph, |_| {}).await;
        add_flow(&host, "hostile-flow").await;
        host.ok("PUT", "/v1/tenants/acme/flows/hostile-flow", None).await;
        inbound(&host, WEI, "Wei Chen", "wamid.n1", "next tuesday 10 Asia/Tokyo").await;
        let text = eventually(|| async {
            Ok(graph.sent_messages().first().and_then(|m| m.body["text"]["body"].as_str().map(str::to_owned)))
        })
        .await
        .unwrap();
        let at: i64 = text.strip_prefix("next: ").unwrap().parse().unwrap();
        // 10:00 in Tokyo (UTC+9, no daylight saving) is 01:00 UTC; a Tuesday.
        assert_eq!(at.rem_euclid(86_400_000), 3_600_000, "{text}");
        let days = at.div_euclid(86_400_000);
        assert_eq!((days + 4).rem_euclid(7), 2, "a Tuesday: {text}");

        let (code, err) = host.api("PUT", "/v1/tenants/acme/flows/hostile-flow",
            Some(json!({"set": {"every": "61 10 * * TUE"}}))).await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(err["error"]["message"].as_str().unwrap().contains("every"), "{err}");
        let (code, err) = host.api("PATCH", "/v1/tenants/acme", Some(json!({"time_zone": "Mars/Olympus"}))).await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(err["error"]["code"], "invalid_time_zone");
    }
}
