use super::*;
use crate::testing::backends;
use crate::{Db, Store};

/// Tenant `acme` with six contacts:
///
/// | id | tags (via messages)  | fields                                 | consent        |
/// |----|----------------------|----------------------------------------|----------------|
/// | 1  | vip                  | city "Milano" (crm), tier "gold" (crm) | opted in       |
/// | 2  | vip, complained      | city "Roma" (whatsapp)                 | opted in       |
/// | 3  | vip                  | tier "silver" (whatsapp), age 30       | none           |
/// | 4  | —                    | city "Milano" (whatsapp)               | opted out      |
/// | 5  | vip (merged into 6)  | —                                      | —              |
/// | 6  | —                    | tier "gold" (crm)                      | in, then out, then in again |
///
/// and contact 7 of another tenant, tagged vip and opted in.
const ROWS: &str = r#"
INSERT INTO meta_apps (id, app_secret, verify_token, created_at) VALUES ('app', 's', 'v', 1);
INSERT INTO tenants (id, app_id, default_region, created_at) VALUES ('acme', 'app', 'IT', 1), ('other', 'app', 'IT', 1);
INSERT INTO contacts (id, tenant_id, wa_id, phone_e164, name, created_at, updated_at) VALUES
  (1, 'acme', '391', '+391', 'Uno', 1, 1), (2, 'acme', '392', '+392', 'Due', 1, 1),
  (3, 'acme', '393', '+393', 'Tre', 1, 1), (4, 'acme', '394', '+394', 'Quattro', 1, 1),
  (5, 'acme', '395', '+395', 'Cinque', 1, 1), (6, 'acme', NULL, '+396', 'Sei', 1, 1),
  (7, 'other', '397', '+397', 'Sette', 1, 1);
UPDATE contacts SET merged_into = 6 WHERE id = 5;
INSERT INTO conversations (id, tenant_id, contact_id, phone_number_id, created_at, last_message_at) VALUES
  (1, 'acme', 1, '100', 1, 1), (2, 'acme', 2, '100', 1, 1), (3, 'acme', 3, '100', 1, 1),
  (5, 'acme', 5, '100', 1, 1), (7, 'other', 7, '200', 1, 1);
INSERT INTO messages (id, tenant_id, conversation_id, contact_id, wamid, direction, type, timestamp,
                      content, context, raw, status, created_at) VALUES
  (1, 'acme', 1, 1, 'w1', 'inbound', 'text', 1, '{}', '{}', '{}', 'received', 1),
  (2, 'acme', 2, 2, 'w2', 'inbound', 'text', 1, '{}', '{}', '{}', 'received', 1),
  (3, 'acme', 2, 2, 'w3', 'inbound', 'text', 1, '{}', '{}', '{}', 'received', 1),
  (4, 'acme', 3, 3, 'w4', 'inbound', 'text', 1, '{}', '{}', '{}', 'received', 1),
  (5, 'acme', 5, 5, 'w5', 'inbound', 'text', 1, '{}', '{}', '{}', 'received', 1),
  (7, 'other', 7, 7, 'w7', 'inbound', 'text', 1, '{}', '{}', '{}', 'received', 1);
INSERT INTO message_tags (message_id, tag) VALUES
  (1, 'vip'), (2, 'vip'), (3, 'complained'), (4, 'vip'), (5, 'vip'), (7, 'vip');
INSERT INTO crm_fields (tenant_id, contact_id, field, value, changed_at, source) VALUES
  ('acme', 1, 'city', '"Milano"', 1, 'crm'), ('acme', 1, 'tier', '"gold"', 1, 'crm'),
  ('acme', 2, 'city', '"Roma"', 1, 'whatsapp'), ('acme', 3, 'tier', '"silver"', 1, 'whatsapp'),
  ('acme', 3, 'age', '30', 1, 'whatsapp'), ('acme', 4, 'city', '"Milano"', 1, 'whatsapp'),
  ('acme', 6, 'tier', '"gold"', 1, 'crm');
INSERT INTO consent (tenant_id, wa_id, opted_in_at, opted_out_at, updated_at) VALUES
  ('acme', '391', 5, NULL, 5), ('acme', '392', 5, NULL, 5), ('acme', '394', NULL, 6, 6),
  ('acme', '396', 9, 7, 9), ('other', '397', 5, NULL, 5);
"#;

fn filled() -> Vec<crate::testing::TestDb> {
    let dbs = backends();
    for t in &dbs {
        t.db.with_conn(|c| c.batch(ROWS)).unwrap();
    }
    dbs
}

fn tag(t: &str) -> Audience {
    Audience::Tag(t.into())
}

fn field(source: FieldSource, name: &str, test: FieldTest) -> Audience {
    Audience::Field {
        source,
        name: name.into(),
        test,
    }
}

fn not(a: Audience) -> Audience {
    Audience::Not(Box::new(a))
}

fn and(l: Audience, r: Audience) -> Audience {
    Audience::And(Box::new(l), Box::new(r))
}

fn or(l: Audience, r: Audience) -> Audience {
    Audience::Or(Box::new(l), Box::new(r))
}

fn ids(db: &Db, a: &Audience) -> Vec<i64> {
    let a = a.clone();
    db.read_blocking(move |s| CampaignRepo::audience_members(s, "acme", &a))
        .unwrap()
        .into_iter()
        .map(|m| m.contact_id)
        .collect()
}

#[test]
fn audiences_select_contacts_by_tag_field_crm_field_and_consent() {
    use FieldSource::{Any, Crm};
    use FieldTest::{Eq, Ne, Present};
    for t in filled() {
        eprintln!("backend: {}", t.backend);
        let db = &t.db;
        // Contact 5's tag counts for contact 6, which it was merged into.
        assert_eq!(ids(db, &tag("vip")), [1, 2, 3, 6]);
        assert_eq!(ids(db, &and(tag("vip"), not(tag("complained")))), [1, 3, 6]);
        assert_eq!(ids(db, &or(tag("complained"), tag("nothing"))), [2]);
        assert_eq!(
            ids(db, &field(Any, "city", Eq("Milano".into()))),
            [1, 4],
            "any source"
        );
        assert_eq!(ids(db, &field(Crm, "city", Eq("Milano".into()))), [1]);
        assert_eq!(ids(db, &field(Crm, "tier", Ne("gold".into()))), [2, 3, 4]);
        assert_eq!(ids(db, &field(Any, "tier", Present)), [1, 3, 6]);
        // Numbers match as written, quoted or not.
        assert_eq!(ids(db, &field(Any, "age", Eq("30".into()))), [3]);
        // Case matters: values are compared exactly.
        assert_eq!(
            ids(db, &field(Any, "city", Eq("milano".into()))),
            Vec::<i64>::new()
        );
        // Opted in: 1 and 2, and 6 (in again after an opt-out); 4 opted out.
        assert_eq!(ids(db, &Audience::OptedIn), [1, 2, 6]);
        assert_eq!(ids(db, &and(tag("vip"), not(Audience::OptedIn))), [3]);
    }
}

#[test]
fn members_carry_their_consent_and_address() {
    for t in filled() {
        let all = or(
            tag("vip"),
            field(FieldSource::Any, "city", FieldTest::Present),
        );
        let members =
            t.db.read_blocking(move |s| CampaignRepo::audience_members(s, "acme", &all))
                .unwrap();
        let view: Vec<(i64, &str, bool, bool)> = members
            .iter()
            .map(|m| (m.contact_id, m.wa_id.as_str(), m.opted_in, m.opted_out))
            .collect();
        assert_eq!(
            view,
            [
                (1, "391", true, false),
                (2, "392", true, false),
                (3, "393", false, false),
                (4, "394", false, true),
                (6, "396", true, false),
            ],
            "{}",
            t.backend
        );
    }
}

fn new_campaign(s: &dyn Store) -> Campaign {
    CampaignRepo::insert(
        s,
        &NewCampaign {
            tenant: "acme",
            name: "spring",
            template: "spring_promo",
            language: "it",
            category: "marketing",
            params: &serde_json::json!(["{{ contact.first_name | default(\"ciao\") }}"]),
            audience: "tag:vip",
            phone_number_id: "100",
            interactions: 3,
            state: "draft",
            scheduled_at: None,
        },
    )
    .unwrap()
}

#[test]
fn a_campaign_begins_once_and_its_recipients_move_batch_by_batch() {
    for t in filled() {
        let db = &t.db;
        db.write_blocking(|s| {
            let c = new_campaign(s);
            assert_eq!(c.state, "draft");
            assert!(
                CampaignRepo::set_state(s, "acme", c.id, &["running"], "paused", None)?
                    .is_some_and(|c| c.state == "draft"),
                "a draft cannot be paused"
            );
            let recipients = [
                (1, 0, None),
                (2, 0, None),
                (3, 1, None),
                (4, 0, Some("opted_out".to_string())),
            ]
            .map(|(id, batch, skipped)| NewRecipient {
                contact_id: id,
                wa_id: format!("39{id}"),
                batch,
                skipped,
            });
            let plan = serde_json::json!({"batch": true});
            assert!(CampaignRepo::begin(s, c.id, &plan, &recipients)?);
            assert!(
                !CampaignRepo::begin(s, c.id, &plan, &recipients)?,
                "begins once"
            );
            let c = CampaignRepo::get(s, "acme", c.id)?.unwrap();
            assert_eq!(
                (c.state.as_str(), c.plan.as_ref()),
                ("running", Some(&plan))
            );
            assert!(c.started_at.is_some());
            assert_eq!(CampaignRepo::active(s, 0)?.len(), 1);

            let p = CampaignRepo::progress(s, c.id)?;
            assert_eq!((p.batch, p.previous_batch_last_queued_at), (Some(0), None));
            let first = CampaignRepo::pending(s, c.id, 0, 1)?;
            assert_eq!(first[0].contact_id, 1);
            CampaignRepo::mark(s, c.id, 1, Ok(77), 1_000)?;
            CampaignRepo::mark(s, c.id, 2, Err("opted_out"), 1_001)?;
            let p = CampaignRepo::progress(s, c.id)?;
            assert_eq!(
                (p.batch, p.previous_batch_last_queued_at),
                (Some(1), Some(1_000))
            );
            CampaignRepo::mark(s, c.id, 3, Ok(78), 2_000)?;
            assert_eq!(CampaignRepo::progress(s, c.id)?, Progress::default());

            let counts = CampaignRepo::outcome_counts(s, c.id)?;
            // The outbox rows 77 and 78 do not exist: their outcome is unknown, failed.
            assert_eq!(
                counts,
                [("failed".to_string(), 2), ("skipped".to_string(), 2)]
            );
            assert_eq!(
                CampaignRepo::skipped_reasons(s, c.id)?,
                [("opted_out".to_string(), 2)]
            );
            let page = CampaignRepo::recipients(s, c.id, PageRequest::new(None, Some(2)))?;
            assert_eq!(page.items.len(), 2);
            assert_eq!(page.next_after, Some(2));
            assert_eq!(page.items[0].outbox_id, Some(77));

            let done =
                CampaignRepo::set_state(s, "acme", c.id, &["running", "paused"], "done", None)?
                    .unwrap();
            assert_eq!(done.state, "done");
            assert!(done.finished_at.is_some());
            assert!(CampaignRepo::active(s, i64::MAX)?.is_empty());
            Ok(())
        })
        .unwrap();
    }
}

#[test]
fn scheduled_campaigns_become_active_when_due_and_the_backlog_counts_campaign_sends() {
    for t in filled() {
        t.db.write_blocking(|s| {
            let c = new_campaign(s);
            let c = CampaignRepo::set_state(s, "acme", c.id, &["draft"], "scheduled", Some(5_000))?
                .unwrap();
            assert_eq!(c.scheduled_at, Some(5_000));
            assert!(CampaignRepo::active(s, 4_999)?.is_empty());
            assert_eq!(CampaignRepo::active(s, 5_000)?.len(), 1);
            assert_eq!(CampaignRepo::backlog(s, "100")?, 0);
            for (key, source) in [("a", "campaign:1"), ("b", "api"), ("c", "campaign:2")] {
                crate::OutboxRepo::enqueue(
                    s,
                    &crate::outbox::NewSend {
                        tenant: "acme",
                        phone_number_id: "100",
                        to: "391",
                        kind: "template",
                        category: "marketing",
                        body: &serde_json::json!({}),
                        idempotency_key: Some(key),
                        source,
                        not_before: 0,
                        wait_reason: None,
                    },
                )?;
            }
            assert_eq!(CampaignRepo::backlog(s, "100")?, 2);
            assert_eq!(CampaignRepo::list(s, "acme")?.len(), 1);
            Ok(())
        })
        .unwrap();
    }
}
