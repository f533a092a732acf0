//! Unit tests of the sync rules against a real store: each test runs on SQLite and
//! on PostgreSQL (see `scrm_store::testing`).

use super::dedupe::comparable_name;
use super::retention::unread_rule;
use super::*;
use scrm_store::messages::NewInbound;
use scrm_store::tenants;

struct Fixture {
    /// `sqlite` or `postgres`.
    backend: &'static str,
    db: Db,
    /// Keeps the SQLite file's directory for the test.
    _store: scrm_store::testing::TestDb,
}

/// A store of each backend with tenant `acme` syncing (a mapper and a connector
/// in its slots).
fn fixtures() -> Vec<Fixture> {
    scrm_store::testing::backends()
        .into_iter()
        .map(|t| {
            setup(&t.db);
            Fixture {
                backend: t.backend,
                db: t.db.clone(),
                _store: t,
            }
        })
        .collect()
}

fn setup(db: &Db) {
    db.with_conn(|c| {
        scrm_store::AppRepo::insert(c, "app", "secret", "verify")?;
        scrm_store::TenantRepo::insert(
            c,
            &tenants::NewTenant {
                id: "acme".into(),
                app_id: "app".into(),
                phone_number_ids: vec!["100".into()],
                default_region: "IT".into(),
            },
        )?;
        for slot in ["mapper", "connector"] {
            c.execute(
                "INSERT INTO plugin_slots (tenant_id, slot, active_version, updated_at)
                 VALUES ('acme', ?1, 1, 0)",
                scrm_store::params![slot],
            )?;
        }
        Ok(())
    })
    .unwrap();
}

impl Fixture {
    fn contact(&self, wa_id: &str, name: &str) -> i64 {
        self.db
            .with_conn(|c| {
                let facts = contacts::ContactFacts {
                    wa_id: Some(wa_id.into()),
                    user_id: None,
                    phone: Some(format!("+{wa_id}")),
                    name: Some(name.into()),
                };
                Ok(scrm_store::ContactRepo::upsert(c, "acme", &facts)?.id)
            })
            .unwrap()
    }

    /// A message from `contact` at `at` (Unix ms); its id.
    fn message(&self, contact: i64, wamid: &str, kind: &str, at: i64, raw: Value) -> i64 {
        self.db
            .with_conn(|c| {
                Ok(scrm_store::MessageRepo::insert_inbound(
                    c,
                    &NewInbound {
                        tenant: "acme",
                        contact_id: contact,
                        phone_number_id: "100",
                        wamid,
                        kind,
                        timestamp: at,
                        text: Some("hi"),
                        content: &json!({"type": kind}),
                        context: &json!({}),
                        raw: &raw,
                        errors: None,
                        inbox_id: 1,
                    },
                )?
                .message_id)
            })
            .unwrap()
    }

    fn order(&self, contact: i64, wamid: &str, at: i64, sku: &str) -> i64 {
        let raw = json!({"id": wamid, "type": "order", "order": {"catalog_id": "c",
            "product_items": [{"product_retailer_id": sku, "quantity": 1,
                               "item_price": 10.0, "currency": "EUR"}]}});
        self.message(contact, wamid, "order", at, raw)
    }

    fn duplicates(&self, message_id: i64) -> Option<i64> {
        self.db
            .with_conn(|c| {
                let m = scrm_store::MessageRepo::get(c, "acme", message_id)?.unwrap();
                record_purchases_and_find_duplicates(c, "acme", &m)
            })
            .unwrap()
    }

    fn reviews(&self) -> Vec<crm::Review> {
        self.db
            .with_conn(|c| {
                Ok(scrm_store::CrmRepo::list_reviews(
                    c,
                    "acme",
                    None,
                    scrm_store::page::PageRequest::new(None, None),
                )?
                .items)
            })
            .unwrap()
    }
}

#[test]
fn names_compare_without_case_or_punctuation() {
    assert_eq!(
        comparable_name("  Mario  ROSSI-Bianchi!"),
        "mario rossi bianchi"
    );
    assert!(strsim::normalized_levenshtein("mario rossi", "mario rosi") >= MIN_NAME_SIMILARITY);
    assert!(strsim::normalized_levenshtein("mario rossi", "anna verdi") < MIN_NAME_SIMILARITY);
}

#[test]
fn same_sku_and_a_similar_name_is_proposed_below_the_confidence_and_merged_above() {
    for f in fixtures() {
        println!("backend: {}", f.backend);
        let now = now_ms();
        let a = f.contact("393470000001", "Mario Rossi");
        let b = f.contact("393470000002", "Mario Rosi");
        let c = f.contact("393470000003", "Anna Verdi");
        f.order(a, "w1", now - 10 * DAY_MS, "SKU-1");
        // A different person who bought the same SKU is not a duplicate.
        let m = f.order(c, "w2", now - 5 * DAY_MS, "SKU-1");
        assert_eq!(f.duplicates(m), None);
        assert!(f.reviews().is_empty());
        // 0.9 similar: under the default 0.95 confidence, proposed once.
        let m = f.order(b, "w3", now, "SKU-1");
        assert_eq!(f.duplicates(m), None);
        let reviews = f.reviews();
        assert_eq!(reviews.len(), 1, "{reviews:?}");
        assert_eq!(reviews[0].kind, "duplicate");
        assert_eq!(reviews[0].contact_id, a);
        assert_eq!(reviews[0].detail["other_contact_id"], b);
        assert_eq!(reviews[0].detail["shared_skus"], json!(["SKU-1"]));
        assert_eq!(f.duplicates(m), None, "proposed only once");
        assert_eq!(f.reviews().len(), 1);

        // With the confidence lowered, a new pair is merged at once; both keep their
        // messages and the survivor is queued for the CRM.
        f.db.with_conn(|c| {
            let s = CrmSettings {
                merge_confidence: 0.8,
                ..CrmSettings::default()
            };
            scrm_store::CrmRepo::put_settings(c, "acme", &s)
        })
        .unwrap();
        let d = f.contact("393470000004", "Anna Verdí");
        let m = f.order(d, "w4", now, "SKU-1");
        assert_eq!(f.duplicates(m), Some(c));
        let (merged, jobs, messages_of_d) =
            f.db.with_conn(|conn| {
                Ok((
                    scrm_store::ContactRepo::get(conn, "acme", d)?
                        .unwrap()
                        .merged_into,
                    scrm_store::CrmRepo::list_jobs(
                        conn,
                        "acme",
                        Some("queued"),
                        scrm_store::page::PageRequest::new(None, None),
                    )?
                    .items,
                    conn.query_one(
                        "SELECT count(*) FROM messages WHERE contact_id = ?1",
                        scrm_store::params![d],
                        |r| r.get::<i64>(0),
                    )?,
                ))
            })
            .unwrap();
        assert_eq!(merged, Some(c));
        assert_eq!(messages_of_d, 1, "the merged contact keeps its messages");
        assert!(
            jobs.iter()
                .any(|j| j.kind == "contact" && j.contact_id == c),
            "{jobs:?}"
        );
        assert_eq!(f.reviews().last().unwrap().state, "accepted");
    }
}

#[test]
fn orders_more_than_90_days_apart_are_not_evidence() {
    for f in fixtures() {
        println!("backend: {}", f.backend);
        let now = now_ms();
        let a = f.contact("393470000001", "Mario Rossi");
        let b = f.contact("393470000002", "Mario Rossi");
        f.order(a, "w1", now - 120 * DAY_MS, "SKU-1");
        let m = f.order(b, "w2", now, "SKU-1");
        assert_eq!(f.duplicates(m), None);
        assert!(f.reviews().is_empty());
    }
}

#[test]
fn retention_purges_only_what_is_older_than_the_setting() {
    for f in fixtures() {
        println!("backend: {}", f.backend);
        let now = now_ms();
        let a = f.contact("393470000001", "Mario");
        let old = f.message(a, "old", "text", now - 181 * DAY_MS, json!({"id": "old"}));
        let kept = f.message(a, "kept", "text", now - 179 * DAY_MS, json!({"id": "kept"}));
        // Sent long ago but stored today (a replay): kept its full retention.
        let replayed = f.message(
            a,
            "replayed",
            "text",
            now - 400 * DAY_MS,
            json!({"id": "r"}),
        );
        f.db.with_conn(|c| {
            c.execute(
                "UPDATE messages SET created_at = ?2 WHERE id = ?1",
                scrm_store::params![old, now - 181 * DAY_MS],
            )?;
            Ok(())
        })
        .unwrap();
        f.db.with_conn(|c| {
            crate::sync::enqueue_message(c, "acme", a, old, &[])?;
            c.execute(
                "INSERT INTO message_tags (message_id, tag) VALUES (?1, 'x')",
                scrm_store::params![old],
            )?;
            Ok(())
        })
        .unwrap();
        let n = f
            .db
            .with_conn(|c| scrm_store::CrmRepo::purge_before(c, "acme", now - 180 * DAY_MS, 1000))
            .unwrap();
        assert_eq!(n, 1);
        let (left, jobs) =
            f.db.with_conn(|c| {
                Ok((
                    c.query(
                        "SELECT id FROM messages ORDER BY id",
                        scrm_store::params![],
                        |r| r.get::<i64>(0),
                    )?,
                    c.query_one(
                        "SELECT count(*) FROM crm_jobs",
                        scrm_store::params![],
                        |r| r.get::<i64>(0),
                    )?,
                ))
            })
            .unwrap();
        assert_eq!(left, [kept, replayed]);
        assert_eq!(jobs, 0);
    }
}

#[test]
fn a_business_message_unread_for_a_day_lowers_the_priority_until_it_is_read() {
    for f in fixtures() {
        println!("backend: {}", f.backend);
        let now = now_ms();
        let a = f.contact("393470000001", "Mario");
        let m = f.message(a, "out", "text", now - 25 * 3_600_000, json!({"id": "out"}));
        let fresh = f.message(a, "fresh", "text", now - 3_600_000, json!({"id": "fresh"}));
        f.db.with_conn(|c| {
            c.execute(
                "UPDATE messages SET direction = 'outbound', status = 'delivered' WHERE id IN (?1, ?2)",
                scrm_store::params![m, fresh],
            )?;
            Ok(())
        })
        .unwrap();
        assert_eq!(f.db.with_conn(|c| unread_rule(c)).unwrap(), 1);
        assert_eq!(f.db.with_conn(|c| unread_rule(c)).unwrap(), 0, "fires once");
        let (activity, jobs) =
            f.db.with_conn(|c| {
                Ok((
                    scrm_store::CrmRepo::activity(c, "acme", a, now - 28 * DAY_MS)?,
                    scrm_store::CrmRepo::list_jobs(
                        c,
                        "acme",
                        None,
                        scrm_store::page::PageRequest::new(None, None),
                    )?
                    .items,
                ))
            })
            .unwrap();
        // The contact's record carries the tenant's unread priority (the mapper
        // maps it to the CRM's field) and is queued.
        assert_eq!(activity.unread_priority.as_deref(), Some("low"));
        assert_eq!(activity.recent, 2);
        assert_eq!(activity.last_at, Some(now - 3_600_000));
        assert!(jobs.iter().any(|j| j.kind == "contact"));
        // Read at last: the flag clears once and the contact is written again, so the
        // mapper restores the priority.
        f.db.with_conn(|c| {
            c.execute(
                "UPDATE messages SET status = 'read' WHERE id = ?1",
                scrm_store::params![m],
            )?;
            c.execute("DELETE FROM crm_jobs", scrm_store::params![])?;
            Ok(())
        })
        .unwrap();
        assert_eq!(f.db.with_conn(|c| unread_rule(c)).unwrap(), 1, "cleared");
        assert_eq!(f.db.with_conn(|c| unread_rule(c)).unwrap(), 0, "once");
        let (activity, jobs) =
            f.db.with_conn(|c| {
                Ok((
                    scrm_store::CrmRepo::activity(c, "acme", a, now - 28 * DAY_MS)?,
                    scrm_store::CrmRepo::job_counts(c, "acme")?,
                ))
            })
            .unwrap();
        assert_eq!(activity.unread_priority, None);
        assert_eq!(jobs, [("queued".to_string(), 1)]);
        // Read messages never fire.
        let r = f.message(
            a,
            "read",
            "text",
            now - 30 * 3_600_000,
            json!({"id": "read"}),
        );
        f.db.with_conn(|c| {
            c.execute(
                "UPDATE messages SET direction = 'outbound', status = 'read' WHERE id = ?1",
                scrm_store::params![r],
            )?;
            Ok(())
        })
        .unwrap();
        assert_eq!(f.db.with_conn(|c| unread_rule(c)).unwrap(), 0);
    }
}

#[test]
fn backfill_queues_each_message_once_behind_live_jobs() {
    for f in fixtures() {
        println!("backend: {}", f.backend);
        let now = now_ms();
        let a = f.contact("393470000001", "Mario");
        f.message(a, "m1", "text", now - 10 * DAY_MS, json!({"id": "m1"}));
        f.message(a, "m2", "text", now - 200 * DAY_MS, json!({"id": "m2"}));
        let live = f.message(a, "m3", "text", now, json!({"id": "m3"}));
        f.db.with_conn(|c| crate::sync::enqueue_message(c, "acme", a, live, &[]))
            .unwrap();
        let since = now - 180 * DAY_MS;
        let first =
            f.db.with_conn(|c| scrm_store::CrmRepo::enqueue_backfill(c, "acme", since, 0))
                .unwrap();
        assert_eq!(
            first,
            (1, 2),
            "m1 queued; m3 already was; m2 is out of range"
        );
        let again =
            f.db.with_conn(|c| scrm_store::CrmRepo::enqueue_backfill(c, "acme", since, 0))
                .unwrap();
        assert_eq!(again, (0, 2));
        let due =
            f.db.with_conn(|c| scrm_store::CrmRepo::due(c, now_ms() + 1_000, 10))
                .unwrap();
        assert_eq!(due.len(), 2);
        assert_eq!(due[0].message_id, Some(live), "live first");
    }
}
