use super::worker::CampaignWorker;
use super::*;
use crate::limits::Limits;
use crate::outbox::SendDefaults;
use scrm_store::testing::backends;
use serde_json::json;

/// Tenant `acme` (number 100) with an approved positional template `promo` (it,
/// two body parameters) and a named one `welcome` (en), and contacts 1–4 tagged vip
/// (4 also complained); 1–3 opted in, 4 not.
const ROWS: &str = r#"
INSERT INTO meta_apps (id, app_secret, verify_token, created_at) VALUES ('app', 's', 'v', 1);
INSERT INTO tenants (id, app_id, default_region, created_at) VALUES ('acme', 'app', 'IT', 1);
INSERT INTO phone_numbers (phone_number_id, tenant_id) VALUES ('100', 'acme');
INSERT INTO templates (tenant_id, name, language, status, category, parameter_format, body_params,
                       parameters, components, source, status_at, synced_at) VALUES
  ('acme', 'promo', 'it', 'APPROVED', 'MARKETING', 'POSITIONAL', 2,
   '{"format":"POSITIONAL","body":2}', '[]', 'operator', 1, 1),
  ('acme', 'welcome', 'en', 'APPROVED', 'UTILITY', 'NAMED', 1,
   '{"format":"NAMED","body":1,"body_names":["first_name"]}', '[]', 'operator', 1, 1);
INSERT INTO contacts (id, tenant_id, wa_id, phone_e164, name, created_at, updated_at) VALUES
  (1, 'acme', '393470000001', '+393470000001', 'Anna Bianchi', 1, 1),
  (2, 'acme', '393470000002', '+393470000002', 'Bruno', 1, 1),
  (3, 'acme', '393470000003', '+393470000003', NULL, 1, 1),
  (4, 'acme', '393470000004', '+393470000004', 'Dario', 1, 1);
INSERT INTO conversations (id, tenant_id, contact_id, phone_number_id, created_at, last_message_at) VALUES
  (1, 'acme', 1, '100', 1, 1), (2, 'acme', 2, '100', 1, 1), (3, 'acme', 3, '100', 1, 1),
  (4, 'acme', 4, '100', 1, 1);
INSERT INTO messages (id, tenant_id, conversation_id, contact_id, wamid, direction, type, timestamp,
                      content, context, raw, status, created_at) VALUES
  (1, 'acme', 1, 1, 'w1', 'inbound', 'text', 1, '{}', '{}', '{}', 'received', 1),
  (2, 'acme', 2, 2, 'w2', 'inbound', 'text', 1, '{}', '{}', '{}', 'received', 1),
  (3, 'acme', 3, 3, 'w3', 'inbound', 'text', 1, '{}', '{}', '{}', 'received', 1),
  (4, 'acme', 4, 4, 'w4', 'inbound', 'text', 1, '{}', '{}', '{}', 'received', 1);
INSERT INTO message_tags (message_id, tag) VALUES (1, 'vip'), (2, 'vip'), (3, 'vip'), (4, 'vip'), (4, 'complained');
INSERT INTO crm_fields (tenant_id, contact_id, field, value, changed_at, source) VALUES
  ('acme', 2, 'tier', '"gold"', 1, 'crm');
INSERT INTO consent (tenant_id, wa_id, opted_in_at, updated_at) VALUES
  ('acme', '393470000001', 5, 5), ('acme', '393470000002', 5, 5), ('acme', '393470000003', 5, 5);
"#;

fn request(audience: &str, params: Value) -> NewCampaign {
    NewCampaign {
        name: "spring".into(),
        template: "promo".into(),
        language: None,
        audience: audience.into(),
        params,
        from: None,
        interactions: None,
        at: None,
    }
}

fn good_params() -> Value {
    json!([
        "{{ contact.first_name | default(\"cliente\") }}",
        "{{ crm.tier | default(\"standard\") }}"
    ])
}

/// Runs `f` on a fresh store of each backend with [`ROWS`], inside a runtime (the
/// stores are made outside it: PostgreSQL's driver blocks).
fn on_each_backend<F, Fut>(f: F)
where
    F: Fn(scrm_store::Db) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let rt = tokio::runtime::Runtime::new().unwrap();
    for t in backends() {
        eprintln!("backend: {}", t.backend);
        t.db.with_conn(|c| c.batch(ROWS)).unwrap();
        rt.block_on(f(t.db.clone()));
    }
}

#[test]
fn bad_campaigns_are_refused_when_saved_with_the_reason() {
    on_each_backend(|db| async move {
        let db = &db;
        let e = create(db, "acme", request("tag:vip AND", good_params()))
            .await
            .unwrap_err();
        assert_eq!(e.code(), "invalid_audience");
        assert_eq!(
            e.to_string(),
            "audience \"tag:vip AND\": line 1, column 12: expected tag:, field:, crm:, opted_in, NOT or '('"
        );
        let mut r = request("tag:vip", good_params());
        r.template = "promo_x".into();
        let e = create(db, "acme", r).await.unwrap_err();
        assert_eq!(e.code(), "unknown_template");
        assert!(e.to_string().contains("known: promo, welcome"), "{e}");
        let e = create(
            db,
            "acme",
            request("tag:vip", json!(["{{ contact.first_name }}", "x"])),
        )
        .await
        .unwrap_err();
        assert_eq!(e.code(), "invalid_parameter");
        assert!(
            e.to_string().starts_with(
                "parameter 1: line 1: `contact.first_name`: this value can be missing"
            ),
            "{e}"
        );
        let e = create(db, "acme", request("tag:vip", json!(["only one"])))
            .await
            .unwrap_err();
        assert_eq!(e.code(), "template_parameter_mismatch");
        let mut r = request("tag:vip", good_params());
        r.from = Some("999".into());
        assert_eq!(
            create(db, "acme", r).await.unwrap_err().code(),
            "unknown_number"
        );
        let mut r = request("tag:vip", good_params());
        r.at = Some("yesterday at noon".into());
        assert_eq!(
            create(db, "acme", r).await.unwrap_err().code(),
            "invalid_campaign"
        );
        // A named template takes NAME=VALUE items (or an object).
        let mut r = request(
            "tag:vip",
            json!(["first_name={{ contact.first_name | default(\"ciao\") }}"]),
        );
        r.template = "welcome".into();
        let c = create(db, "acme", r).await.unwrap();
        assert_eq!(
            c.params,
            json!({"first_name": "{{ contact.first_name | default(\"ciao\") }}"})
        );
        assert_eq!(
            (c.language.as_str(), c.category.as_str()),
            ("en", "utility")
        );
    });
}

#[test]
fn a_campaign_plans_starts_sends_to_opted_in_vips_and_pauses() {
    on_each_backend(|db| async move {
        let db = &db;
        let c = create(
            db,
            "acme",
            request("tag:vip AND NOT tag:complained", good_params()),
        )
        .await
        .unwrap();
        assert_eq!(c.state, "draft");
        let plan = plan_of(db, "acme", c.id, Limits::default()).await.unwrap();
        assert_eq!(plan.audience.matched, 3);
        assert_eq!(plan.audience.recipients, 3);
        assert_eq!(plan.api_calls, 9);
        assert!(!plan.batch_mode);

        let c = start(db, "acme", c.id, None, Limits::default())
            .await
            .unwrap();
        assert_eq!(c.state, "running");
        let worker = CampaignWorker::new(db.clone(), "host-a", SendDefaults::default());
        // Pace: 80 mps → 40 a second, so all three go in one round.
        assert_eq!(worker.tick().await.unwrap(), 3);
        let bodies: Vec<(String, Value, String)> = db
            .read(|s| {
                Ok(scrm_store::OutboxRepo::list(
                    s,
                    "acme",
                    None,
                    scrm_store::page::PageRequest::new(None, None),
                )?
                .items
                .into_iter()
                .map(|o| (o.to, o.body, format!("{} {}", o.category, o.source)))
                .collect())
            })
            .await
            .unwrap();
        let texts: Vec<(String, Vec<String>)> = bodies
            .iter()
            .map(|(to, b, _)| {
                let p = b["template"]["components"][0]["parameters"]
                    .as_array()
                    .unwrap();
                (
                    to.clone(),
                    p.iter()
                        .map(|p| p["text"].as_str().unwrap().to_string())
                        .collect(),
                )
            })
            .collect();
        assert_eq!(
            texts,
            [
                (
                    "393470000001".to_string(),
                    vec!["Anna".to_string(), "standard".to_string()]
                ),
                (
                    "393470000002".to_string(),
                    vec!["Bruno".to_string(), "gold".to_string()]
                ),
                (
                    "393470000003".to_string(),
                    vec!["cliente".to_string(), "standard".to_string()]
                ),
            ]
        );
        assert!(
            bodies
                .iter()
                .all(|(_, _, s)| *s == format!("marketing campaign:{}", c.id)),
            "{bodies:?}"
        );
        // Every recipient handled: the next round ends it.
        assert_eq!(worker.tick().await.unwrap(), 0);
        let s = status(db, "acme", Some(c.id)).await.unwrap().remove(0);
        assert_eq!(s.campaign.state, "done");
        assert_eq!(s.counts["queued"], 3);
        let e = start(db, "acme", c.id, None, Limits::default())
            .await
            .unwrap_err();
        assert_eq!(e.code(), "campaign_state");
        let e = pause(db, "acme", c.id).await.unwrap_err();
        assert_eq!(e.code(), "campaign_state");
    });
}

#[test]
fn a_paused_campaign_queues_nothing_until_resumed_and_a_scheduled_one_waits() {
    on_each_backend(|db| async move {
        let db = &db;
        let worker = CampaignWorker::new(db.clone(), "host-a", SendDefaults::default());
        let mut r = request("tag:vip", good_params());
        r.at = Some("1h".into());
        let c = create(db, "acme", r).await.unwrap();
        assert_eq!(c.state, "scheduled");
        assert_eq!(worker.tick().await.unwrap(), 0);
        assert_eq!(
            status(db, "acme", Some(c.id)).await.unwrap()[0]
                .campaign
                .state,
            "scheduled"
        );
        let c = pause(db, "acme", c.id).await.unwrap();
        assert_eq!(c.state, "paused");
        let c = start(db, "acme", c.id, None, Limits::default())
            .await
            .unwrap();
        assert_eq!(
            c.state, "running",
            "a paused campaign that never began begins"
        );
        let c = pause(db, "acme", c.id).await.unwrap();
        assert_eq!(worker.tick().await.unwrap(), 0, "paused");
        let c = start(db, "acme", c.id, None, Limits::default())
            .await
            .unwrap();
        assert_eq!(c.state, "running");
        // Contact 4 has no opt-in: skipped from the start.
        assert_eq!(worker.tick().await.unwrap(), 3);
        let s = status(db, "acme", Some(c.id)).await.unwrap().remove(0);
        assert_eq!(s.skipped["no_opt_in"], 1);
    });
}

#[test]
fn a_contact_who_opts_out_after_the_start_is_skipped_at_send_time() {
    on_each_backend(|db| async move {
        let db = &db;
        let c = create(db, "acme", request("tag:vip", good_params()))
            .await
            .unwrap();
        start(db, "acme", c.id, None, Limits::default())
            .await
            .unwrap();
        db.write(|s| {
            scrm_store::ConsentRepo::opt_out(s, "acme", "393470000002", "keyword", now_ms())
        })
        .await
        .unwrap();
        let worker = CampaignWorker::new(db.clone(), "host-a", SendDefaults::default());
        assert_eq!(worker.tick().await.unwrap(), 2);
        let s = status(db, "acme", Some(c.id)).await.unwrap().remove(0);
        assert_eq!(s.skipped, json!({"no_opt_in": 1, "opted_out": 1}));
        let page = db
            .read(move |s| {
                CampaignRepo::recipients(s, c.id, scrm_store::page::PageRequest::new(None, None))
            })
            .await
            .unwrap();
        let two = page.items.iter().find(|r| r.contact_id == 2).unwrap();
        assert_eq!(outcome(two), ("skipped", Some("opted_out".to_string())));
    });
}

#[test]
fn start_times_are_rfc3339_or_a_delay() {
    let now = 1_700_000_000_000;
    assert_eq!(parse_start("2h", now).unwrap(), now + 7_200_000);
    assert_eq!(parse_start("in 30m", now).unwrap(), now + 1_800_000);
    assert_eq!(
        parse_start("2027-01-15T08:00:00Z", now).unwrap(),
        1_800_000_000_000
    );
    assert!(
        parse_start("2020-01-01T00:00:00Z", now)
            .unwrap_err()
            .to_string()
            .contains("past")
    );
    assert!(parse_start("soon", now).is_err());
}
