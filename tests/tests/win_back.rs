//! `win-back` end to end: a customer whose interactions fall from three days a week
//! to one, unhappy, becomes a high churn risk; the alert sets their `churn_risk`
//! field, the flow sends the recovery template through the local Cloud API — once per
//! period, even when the risk clears and comes back — and when the customer orders,
//! the churn-risk metric reports the win-back as recovered.

use scrm_e2e::crm;
use scrm_e2e::flows::{PN, acme_host, add_flow, add_template, handled, now_secs};
use scrm_e2e::graph::Graph;
use scrm_e2e::{Host, eventually};
use serde_json::json;

const ANNA: &str = "393471111111";

/// Sets the sentiment the classifier would have stored on Anna's latest message.
async fn mood(host: &Host, sentiment: f64) {
    let sql = format!(
        "UPDATE messages SET classification = '{{\"sentiment\": {sentiment}}}' WHERE wamid = 'wamid.anna.2'"
    );
    host.with_conn(move |c| c.execute(&sql, &[]).map(|_| ()))
        .await
        .unwrap();
}

scrm_e2e::both_backends! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_customer_at_high_churn_risk_is_won_back_once_and_counted_when_they_order() {
        let graph = Graph::start().await;
        let dir = tempfile::tempdir().unwrap();
        let host = acme_host(dir.path(), &graph, |_| {}).await;
        add_flow(&host, "win-back").await;
        add_template(&host, "we_miss_you", "it", "Ciao {{1}}, ci manchi: {{2}} per te").await;
        let enabled = host.ok("PUT", "/v1/tenants/acme/flows/win-back", Some(json!({"set": {
            "template": "we_miss_you", "template_language": "it", "period": "30d",
            "parameters": r#"["{{ contact.first_name | default(\"ciao\") }}", "TORNA15"]"#}}))).await;
        assert_eq!(enabled["state"], "enabled", "{enabled}");

        // Anna wrote on three days a week for four weeks, then once last week.
        let day = 86_400;
        let now = now_secs();
        for d in [8, 9, 10, 15, 16, 17, 22, 23, 24, 29, 30, 31, 2] {
            crm::inbound_at(&host, PN, ANNA, Some("Anna Rossi"), &[(&format!("wamid.anna.{d}"), "Ciao, una domanda")], now - d * day).await;
        }
        mood(&host, 0.1).await;

        // The alert sets her churn_risk field; the flow sends the recovery template.
        let check = host.ok("POST", "/v1/tenants/acme/alerts/check", None).await;
        assert!(check["raised"].as_array().unwrap().iter().any(|a| a["kind"] == "churn_risk_high"), "{check}");
        let sent = eventually(|| async {
            Ok(graph.sent_messages().into_iter().find(|m| m.body["type"] == "template"))
        })
        .await
        .expect("the win-back template went");
        let t = &sent.body["template"];
        assert_eq!((t["name"].as_str(), sent.body["to"].as_str()), (Some("we_miss_you"), Some(ANNA)), "{}", sent.body);
        assert_eq!(t["components"][0]["parameters"][0]["text"], "Anna");
        assert_eq!(t["components"][0]["parameters"][1]["text"], "TORNA15");
        let field = host
            .with_conn(|c| c.query_one("SELECT value FROM crm_fields WHERE field = 'churn_risk'", &[], |r| r.get::<String>(0)))
            .await
            .unwrap();
        assert_eq!(field, "\"high\"", "the field the CRM sees too");

        // Her mood lifts (the alert clears), then sinks again (raised again): the
        // flow handles both changes but sends nothing more within the period.
        mood(&host, 0.9).await;
        let cleared = host.ok("POST", "/v1/tenants/acme/alerts/check", None).await;
        assert_eq!(cleared["cleared"][0]["kind"], "churn_risk_high", "{cleared}");
        mood(&host, 0.1).await;
        host.ok("POST", "/v1/tenants/acme/alerts/check", None).await;
        handled(&host, "win-back", 3).await;
        let templates = graph.sent_messages().into_iter().filter(|m| m.body["type"] == "template").count();
        assert_eq!(templates, 1, "once per period");

        // She orders: the win-back counts as recovered.
        crm::order(&host, PN, ANNA, "wamid.anna.order", &[("CRE-50", 1, 29.9)]).await;
        let churn = host.ok("GET", "/v1/tenants/acme/analytics/churn-risk", None).await;
        assert_eq!(churn["win_back"], json!({"flow": "win-back", "days": 14, "sent": 1, "recovered": 1, "rate": 1.0}), "{churn}");
    }
}
