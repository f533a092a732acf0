//! Analytics over the API, from real conversations (signed webhooks in, replies
//! from the inbox out through the local Cloud API): response times per agent with
//! the 6-minute flag, resolution, hot words, the hour-of-week grid in the tenant's time zone,
//! watched words during a promotion, churn risk, alerts raised once and cleared, CSV, the weekly
//! service report (JSON, HTML), and every bad request refused with its
//! own code — an empty range answering zeros.

use chrono::{Datelike, TimeZone, Timelike};
use scrm_e2e::crm::{self, PN, now_secs};
use scrm_e2e::graph::Graph;
use scrm_e2e::orders::sent_containing;
use scrm_e2e::{Host, eventually};
use serde_json::{Value, json};

/// The ISO week holding Unix second `secs` in Rome, as `2026-W49`.
fn scrm_analytics_week(secs: u64) -> String {
    let d = chrono_tz::Europe::Rome
        .timestamp_opt(secs as i64, 0)
        .unwrap()
        .date_naive();
    let w = d.iso_week();
    format!("{}-W{:02}", w.year(), w.week())
}

async fn metric_path(host: &Host, token: &str, path: &str) -> Value {
    let (status, v) = host.api_as(token, "GET", path, None).await;
    assert_eq!(status, 200, "{path}: {v}");
    v
}

async fn metric(host: &Host, token: &str, query: &str) -> Value {
    let (status, v) = host
        .api_as(
            token,
            "GET",
            &format!("/v1/tenants/acme/analytics/{query}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{query}: {v}");
    v
}

scrm_e2e::both_backends! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn managers_get_response_times_words_and_hours() {
        let graph = Graph::start().await;
        let host = crm::setup_sending_tenant(&graph, "acme", &[], 0).await;
        host.ok("PATCH", "/v1/tenants/acme", Some(json!({"time_zone": "Europe/Rome"}))).await;
        let (giulia, giulia_t) = host.person_token("acme", "giulia@acme.example", "agent", None).await;
        let (_, marta_t) = host.person_token("acme", "marta@acme.example", "manager", None).await;

        // Anna wrote 10 minutes ago, Bruno 3; Carla 2 and nobody answers her.
        let now = now_secs();
        crm::inbound_at(&host, PN, "393471111111", Some("Anna"), &[("wamid.a1", "Avete uno sconto sulla spedizione?")], now - 600).await;
        crm::inbound_at(&host, PN, "393472222222", Some("Bruno"), &[("wamid.b1", "Spedizione in Sicilia? 👍")], now - 180).await;
        crm::inbound_at(&host, PN, "393473333333", Some("Carla"), &[("wamid.c1", "Buongiorno")], now - 120).await;
        for (wa, text) in [("393471111111", "Sì, il 10 %"), ("393472222222", "Certo, gratuita")] {
            let id = host.conversation_of("acme", wa).await;
            let (status, v) = host
                .api_as(&giulia_t, "POST", &format!("/v1/tenants/acme/inbox/conversations/{id}/messages"), Some(json!({"text": text})))
                .await;
            assert_eq!(status, 202, "{v}");
            sent_containing(&graph, text).await;
        }

        // Response times: two answered turns (≈ 10 and 3 min), Carla's open; Giulia's
        // mean is over 6 minutes, so she is flagged.
        let r = eventually(|| async {
            let r = metric(&host, &marta_t, "response-times").await;
            Ok((r["response"]["count"] == 2).then_some(r))
        })
        .await
        .expect("both replies stored");
        assert_eq!((r["turns"].as_u64(), r["unanswered"].as_u64()), (Some(3), Some(1)), "{r}");
        assert_eq!(r["first_response"]["count"], 2, "{r}");
        let p90 = r["response"]["p90_s"].as_f64().unwrap();
        assert!((595.0..=640.0).contains(&p90), "Anna waited ≈ 600 s: {r}");
        let agent = &r["agents"][0];
        assert_eq!((agent["person"].as_i64(), agent["conversations"].as_u64()), (Some(giulia), Some(2)), "{r}");
        assert_eq!(agent["flagged"], true, "mean ≈ 6.5 min: {r}");
        assert_eq!(r["range"]["tz"], "Europe/Rome");

        // Giulia takes Anna's conversation and resolves it: one of three resolved.
        let anna = host.conversation_of("acme", "393471111111").await;
        for (rest, body) in [("assign", json!({"person": giulia})), ("state", json!({"state": "resolved"}))] {
            let path = format!("/v1/tenants/acme/inbox/conversations/{anna}/{rest}");
            let (status, v) = host.api_as(&giulia_t, "POST", &path, Some(body)).await;
            assert_eq!(status, 200, "{rest}: {v}");
        }
        let res = metric(&host, &marta_t, "resolution").await;
        assert_eq!((res["conversations"].as_u64(), res["resolved"].as_u64(), res["rate"].as_f64()), (Some(3), Some(1), Some(0.3333)), "{res}");
        assert_eq!(res["agents"], json!([{"person": giulia, "conversations": 1, "resolved": 1, "rate": 1.0}]), "{res}");

        // This week's service report: the same numbers, Giulia flagged, as HTML too.
        let week = scrm_analytics_week(now);
        let (status, rep) = host.api_as(&marta_t, "GET", &format!("/v1/tenants/acme/reports/weekly?week={week}"), None).await;
        assert_eq!(status, 200, "{rep}");
        let this = &rep["service"]["this_week"];
        assert_eq!((this["turns"].as_u64(), this["unanswered"].as_u64()), (Some(3), Some(1)), "{rep}");
        assert_eq!((this["agents"][0]["name"].as_str(), this["agents"][0]["flagged"].as_bool()), (Some("giulia"), Some(true)), "{rep}");
        assert_eq!(rep["service"]["previous_week"]["turns"], 0, "{rep}");
        let page = reqwest::Client::new()
            .get(format!("{}/v1/tenants/acme/reports/weekly?week={week}&format=html", host.base))
            .bearer_auth(&marta_t)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(page.contains("Service efficiency") && page.contains("training suggested"), "{page}");

        // Hot words: one stem for spedizione/Spedizione, the emoji counted, stop
        // words dropped; share of conversations.
        let w = metric(&host, &marta_t, "hot-words?limit=10").await;
        let items = w["items"].as_array().unwrap();
        let sped = items.iter().find(|i| i["word"] == "spedizione").expect("spedizione");
        assert_eq!((sped["count"].as_u64(), sped["share"].as_f64()), (Some(2), Some(0.6667)), "{w}");
        assert!(items.iter().any(|i| i["word"] == "👍"), "{w}");
        assert!(items.iter().all(|i| i["word"] != "in" && i["word"] != "uno"), "{w}");
        assert_eq!(items[0]["word"], "spedizione", "most first: {w}");

        // The customers' three messages in the hour of the week they were written,
        // Rome time.
        let h = metric(&host, &marta_t, "hour-of-week").await;
        assert_eq!(h["total"], 3, "{h}");
        let at = chrono_tz::Europe::Rome.timestamp_opt((now - 600) as i64, 0).unwrap();
        let cell = &h["cells"][at.weekday().num_days_from_monday() as usize][at.hour() as usize];
        assert!(cell.as_u64() >= Some(1), "{h}");

        // A promotion whose word one conversation in three uses, against 50 %.
        let today = chrono::Utc::now().with_timezone(&chrono_tz::Europe::Rome).date_naive();
        let promo = json!({"watched_words": ["sconto"], "promotions": [{"name": "Natale", "words": ["sconto", "sconti"],
            "from": (today - chrono::Days::new(1)).to_string(), "to": (today + chrono::Days::new(1)).to_string(), "min_share": 0.5}]});
        let (status, v) = host.api_as(&marta_t, "PUT", "/v1/tenants/acme/analytics/settings", Some(promo.clone())).await;
        assert_eq!((status.as_u16(), v["error"]["code"].as_str()), (403, Some("insufficient_role")), "admins set them: {v}");
        host.ok("PUT", "/v1/tenants/acme/analytics/settings", Some(promo.clone())).await;
        let ww = metric(&host, &marta_t, "watched-words").await;
        assert_eq!(ww["items"][0]["conversations"], 1, "{ww}");
        let p = &ww["promotions"][0];
        assert_eq!((p["share"].as_f64(), p["below"].as_bool()), (Some(0.3333), Some(true)), "{ww}");

        // Alerts: the promotion under its target and Giulia's slowness, raised once;
        // the promotion's clears when its target is lowered under what it reaches.
        let check = || async {
            let (status, v) = host.api_as(&marta_t, "POST", "/v1/tenants/acme/alerts/check", None).await;
            assert_eq!(status, 200, "{v}");
            v
        };
        let first = check().await;
        let mut raised: Vec<(String, String)> = first["raised"].as_array().unwrap().iter()
            .map(|a| (a["kind"].as_str().unwrap().to_string(), a["subject"].as_str().unwrap().to_string())).collect();
        raised.sort();
        assert_eq!(raised, [("agent_slow".to_string(), format!("person:{giulia}")), ("promotion_below".into(), "Natale".into())], "{first}");
        let again = check().await;
        assert_eq!((again["raised"].as_array().map(Vec::len), again["cleared"].as_array().map(Vec::len)), (Some(0), Some(0)), "once: {again}");
        let mut lowered = promo.clone();
        lowered["promotions"][0]["min_share"] = json!(0.2);
        host.ok("PUT", "/v1/tenants/acme/analytics/settings", Some(lowered)).await;
        let after = check().await;
        assert_eq!(after["cleared"][0]["subject"], "Natale", "{after}");
        let open = metric_path(&host, &marta_t, "/v1/tenants/acme/alerts").await;
        assert_eq!(open["items"].as_array().map(Vec::len), Some(1), "{open}");
        let all = metric_path(&host, &marta_t, "/v1/tenants/acme/alerts?all=true").await;
        assert_eq!(all["items"].as_array().map(Vec::len), Some(2), "{all}");

        // CSV.
        let resp = reqwest::Client::new()
            .get(format!("{}/v1/tenants/acme/analytics/hot-words?format=csv&limit=3", host.base))
            .bearer_auth(&marta_t)
            .send()
            .await
            .unwrap();
        assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
        let text = resp.text().await.unwrap();
        assert!(text.starts_with("word,count,share\nspedizione,2,0.6667\n"), "{text}");

        // Agents do not read the numbers.
        let (status, _) = host.api_as(&giulia_t, "GET", "/v1/tenants/acme/analytics/hot-words", None).await;
        assert_eq!(status, 403);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn customers_writing_less_and_unhappy_are_at_churn_risk() {
        let host = Host::start().await;
        host.tenant("acme", &[PN], "IT").await;
        let day = 86_400;
        let now = now_secs();
        // Anna wrote on three days a week for four weeks, then once last week, unhappy;
        // Bruno wrote twice a week, then not at all; Carla every week as before.
        for (wa, name, days) in [
            ("393471111111", "Anna", vec![8, 9, 10, 15, 16, 17, 22, 23, 24, 29, 30, 31, 2]),
            ("393472222222", "Bruno", vec![8, 11, 15, 18, 22, 25, 29, 32]),
            ("393473333333", "Carla", vec![9, 16, 23, 30, 3]),
        ] {
            for d in days {
                crm::inbound_at(&host, PN, wa, Some(name), &[(&format!("wamid.{wa}.{d}"), "Ciao, una domanda")], now - d * day).await;
            }
        }
        // What a sentiment classifier stores on Anna's last message: very negative.
        host.with_conn(|c| {
            c.execute(
                "UPDATE messages SET classification = '{\"sentiment\": 0.1}' WHERE wamid = 'wamid.393471111111.2'",
                &[],
            )
            .map(|_| ())
        })
        .await
        .unwrap();
        let v = host.ok("GET", "/v1/tenants/acme/analytics/churn-risk", None).await;
        let items = v["items"].as_array().unwrap();
        let who: Vec<(&str, &str)> = items.iter().map(|i| (i["name"].as_str().unwrap(), i["risk"].as_str().unwrap())).collect();
        assert_eq!(who, [("Bruno", "medium"), ("Anna", "high"), ("Carla", "low")], "{v}");
        assert_eq!(v["high"], 1, "{v}");
        let anna = &items[1];
        assert_eq!((anna["baseline_per_week"].as_f64(), anna["last_week"].as_u64()), (Some(3.0), Some(1)), "{v}");
        assert!(anna["suggestion"].as_str().unwrap().contains("15 % discount"), "{v}");
        assert_eq!((items[0]["score"].as_f64(), items[1]["score"].as_f64()), (Some(0.8), Some(0.76)), "{v}");
        // Anna's high risk is an alert.
        let raised = host.ok("POST", "/v1/tenants/acme/alerts/check", None).await;
        let churn: Vec<&Value> = raised["raised"].as_array().unwrap().iter().filter(|a| a["kind"] == "churn_risk_high").collect();
        assert_eq!(churn.len(), 1, "{raised}");
        assert_eq!(churn[0]["subject"], format!("contact:{}", anna["contact_id"]), "{raised}");
        assert!(churn[0]["message"].as_str().unwrap().starts_with("Anna: wrote on 1 day(s) last week against 3.0"), "{raised}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bad_ranges_and_metrics_are_refused_and_empty_ranges_are_zeros() {
        let host = Host::start().await;
        host.tenant("acme", &[PN], "IT").await;
        for (query, code) in [
            ("response-times?from=2026-12-05&to=2026-12-01", "from_after_to"),
            ("response-times?from=2026-02-30", "invalid_date"),
            ("response-times?from=2024-01-01&to=2026-01-01", "range_too_long"),
            ("nps?from=2026-11-01", "unknown_metric"),
            ("hot-words?format=xml", "invalid_format"),
            ("hot-words?limit=0", "invalid_limit"),
        ] {
            let (status, v) = host.api("GET", &format!("/v1/tenants/acme/analytics/{query}"), None).await;
            assert_eq!((status.as_u16(), v["error"]["code"].as_str()), (400, Some(code)), "{query}: {v}");
        }
        let r = host.ok("GET", "/v1/tenants/acme/analytics/response-times?from=2026-01-05&to=2026-01-11", None).await;
        assert_eq!((r["turns"].as_u64(), r["response"]["median_s"].as_f64()), (Some(0), Some(0.0)), "{r}");
        let w = host.ok("GET", "/v1/tenants/acme/analytics/hot-words?from=2026-01-05&to=2026-01-11", None).await;
        assert_eq!(w["items"], json!([]), "{w}");
        let ww = host.ok("GET", "/v1/tenants/acme/analytics/watched-words", None).await;
        assert_eq!(ww["conversations"], 0, "{ww}");
        for bad in [
            json!({"watched_words": ["black friday"]}),
            json!({"business_hours": {"lun": "09:00-18:00"}}),
            json!({"agent_flag_minutes": -1}),
            json!({"colour": "red"}),
        ] {
            let (status, v) = host.api("PUT", "/v1/tenants/acme/analytics/settings", Some(bad.clone())).await;
            assert_eq!((status.as_u16(), v["error"]["code"].as_str()), (422, Some("invalid_analytics_settings")), "{bad}: {v}");
        }
        for (query, code) in [("week=2025-W53", "invalid_week"), ("week=48", "invalid_week"), ("format=docx", "invalid_format")] {
            let (status, v) = host.api("GET", &format!("/v1/tenants/acme/reports/weekly?{query}"), None).await;
            assert_eq!((status.as_u16(), v["error"]["code"].as_str()), (400, Some(code)), "{query}: {v}");
        }
        let empty = host.ok("GET", "/v1/tenants/acme/reports/weekly", None).await;
        assert_eq!(empty["service"]["this_week"]["mean_response_s"], 0.0, "{empty}");
        assert_eq!(empty["service"]["this_week"]["resolution_on_target"], false, "{empty}");
        let s = host.ok("GET", "/v1/tenants/acme/analytics/settings", None).await;
        assert_eq!((s["settings"]["agent_flag_minutes"].as_f64(), s["language"].as_str()), (Some(6.0), Some("it")), "{s}");
    }
}
