//! Weekly reports and alerts delivered: the host emails a week's three reports
//! (HTML body, PDF and CSV attached) through a local SMTP server to the tenant's
//! report recipients, stores and lists them, serves them again as stored; alerts
//! raised and cleared are posted to the tenant's webhook, signed with its secret,
//! and emailed to its alert recipients — once each.

use chrono::Datelike;
use scrm::config::Smtp as SmtpConfig;
use scrm_e2e::crm::{self, PN};
use scrm_e2e::smtp::{Smtp, Webhook};
use scrm_e2e::{Host, eventually};
use serde_json::{Value, json};

/// Last week's ISO name in UTC (the tenant's zone).
fn last_week() -> String {
    let d = chrono::Utc::now().date_naive() - chrono::Days::new(7);
    let w = d.iso_week();
    format!("{}-W{:02}", w.year(), w.week())
}

scrm_e2e::both_backends! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reports_are_emailed_and_alerts_posted_signed_and_emailed() {
        let smtp = Smtp::start();
        let hook = Webhook::start().await;
        let dir = tempfile::tempdir().unwrap();
        let url = smtp.url();
        let host = Host::start_configured(dir.path(), move |s| {
            s.smtp = Some(SmtpConfig {
                url: url.into(),
                from: "scrm reports <reports@scrm.test>".parse().unwrap(),
            });
        })
        .await;
        host.tenant("acme", &[PN], "IT").await;
        host.ok("PUT", "/v1/tenants/acme/secrets/alert_webhook_secret", Some(json!({"value": "whsec-acme-0123"}))).await;
        let today = chrono::Utc::now().date_naive();
        let settings = json!({
            "report_recipients": ["boss@acme.example", "Sales <sales@acme.example>"],
            "alert_emails": ["ops@acme.example"],
            "alert_webhook": hook.url(),
            "promotions": [{"name": "Natale", "words": ["sconto"], "min_share": 0.5,
                            "from": (today - chrono::Days::new(1)).to_string(), "to": (today + chrono::Days::new(1)).to_string()}]
        });
        host.ok("PUT", "/v1/tenants/acme/analytics/settings", Some(settings.clone())).await;
        crm::inbound(&host, PN, "393471111111", Some("Anna"), &[("wamid.a1", "Buongiorno")]).await;

        // Last week's reports, sent now: stored and emailed once to both recipients.
        let week = last_week();
        let sent = host.ok("POST", &format!("/v1/tenants/acme/reports/{week}/send"), None).await;
        assert_eq!((sent["email"].as_bool(), sent["report"]["week"].as_str()), (Some(true), Some(week.as_str())), "{sent}");
        assert!(sent["report"]["emailed_at"].is_i64(), "{sent}");
        let again = host.ok("POST", &format!("/v1/tenants/acme/reports/{week}/send"), None).await;
        assert_eq!(again["report"]["emailed_at"], sent["report"]["emailed_at"], "once: {again}");
        let mails = smtp.mails();
        assert_eq!(mails.len(), 1, "{mails:?}");
        let m = &mails[0];
        assert_eq!(m.from, "reports@scrm.test");
        assert_eq!(m.to, ["boss@acme.example", "sales@acme.example"]);
        assert!(m.data.contains(&format!("Subject: Weekly reports {week}")), "{}", m.data);
        for part in ["Content-Type: text/html", "Content-Type: application/pdf", "Content-Type: text/csv",
                     &format!("filename=\"weekly-{week}.pdf\"")] {
            assert!(m.data.contains(part), "{part} in {}", m.data);
        }

        // Listed and served as stored.
        let list = host.ok("GET", "/v1/tenants/acme/reports", None).await;
        assert_eq!(list["items"][0]["week"], week.as_str(), "{list}");
        let pdf = reqwest::Client::new()
            .get(format!("{}/v1/tenants/acme/reports/{week}?format=pdf", host.base))
            .bearer_auth(scrm_e2e::TOKEN).send().await.unwrap();
        assert_eq!(pdf.headers()["content-type"], "application/pdf");
        assert!(pdf.bytes().await.unwrap().starts_with(b"%PDF-"));
        let (status, v) = host.api("GET", "/v1/tenants/acme/reports/2020-W01", None).await;
        assert_eq!((status.as_u16(), v["error"]["code"].as_str()), (404, Some("no_report")), "{v}");
        let this_week = { let w = today.iso_week(); format!("{}-W{:02}", w.year(), w.week()) };
        let (status, v) = host.api("POST", &format!("/v1/tenants/acme/reports/{this_week}/send"), None).await;
        assert_eq!((status.as_u16(), v["error"]["code"].as_str()), (400, Some("week_not_over")), "{v}");

        // The promotion is under its target: raised, posted signed, emailed.
        let check = host.ok("POST", "/v1/tenants/acme/alerts/check", None).await;
        assert_eq!(check["raised"][0]["kind"], "promotion_below", "{check}");
        let received = hook.received();
        assert_eq!(received.len(), 1);
        let signature = received[0].headers["x-scrm-signature-256"].to_str().unwrap().to_string();
        scrm_wire::signature::verify(b"whsec-acme-0123", &received[0].body, Some(&signature)).expect("signed with the tenant's secret");
        let posted: Value = serde_json::from_slice(&received[0].body).unwrap();
        assert_eq!((posted["event"].as_str(), posted["alert"]["subject"].as_str()), (Some("raised"), Some("Natale")), "{posted}");
        let alert_mail = eventually(|| async {
            Ok(smtp.mails().into_iter().find(|m| m.to == ["ops@acme.example"]))
        })
        .await
        .expect("the alert emailed");
        assert!(alert_mail.data.contains("Subject: [scrm acme] alert: promotion \"Natale\""), "{}", alert_mail.data);

        // Checked again: nothing new. The target lowered: cleared, posted once more.
        host.ok("POST", "/v1/tenants/acme/alerts/check", None).await;
        assert_eq!(hook.received().len(), 1, "once per condition");
        let mut lowered = settings;
        lowered["promotions"][0]["min_share"] = json!(0.0);
        host.ok("PUT", "/v1/tenants/acme/analytics/settings", Some(lowered)).await;
        let check = host.ok("POST", "/v1/tenants/acme/alerts/check", None).await;
        assert_eq!(check["cleared"][0]["subject"], "Natale", "{check}");
        let received = hook.received();
        assert_eq!(received.len(), 2);
        let posted: Value = serde_json::from_slice(&received[1].body).unwrap();
        assert_eq!(posted["event"], "cleared", "{posted}");

        // Bad recipients are refused and change nothing.
        let (status, v) = host.api("PUT", "/v1/tenants/acme/analytics/settings",
            Some(json!({"report_recipients": ["not-an-address"]}))).await;
        assert_eq!((status.as_u16(), v["error"]["code"].as_str()), (422, Some("invalid_analytics_settings")), "{v}");
        let (status, v) = host.api("PUT", "/v1/tenants/acme/analytics/settings",
            Some(json!({"alert_webhook": "ftp://example.com/x"}))).await;
        assert_eq!((status.as_u16(), v["error"]["code"].as_str()), (422, Some("invalid_analytics_settings")), "{v}");
    }
}
