//! The batch paths (`upsert_many`, `insert_inbound_many`, `record_classifications`)
//! leave the database exactly as the one-by-one paths do, on both backends.

use super::*;
use crate::contacts::{self, ContactFacts};
use crate::params;
use crate::sql::Conn;
use crate::{apps, tenants};
use serde_json::json;

fn setup(c: &Conn<'_>) -> Result<(), crate::StoreError> {
    apps::insert(c, "app", "secret", "verify")?;
    for (id, number) in [("acme", "100"), ("zeta", "200")] {
        tenants::insert(
            c,
            &tenants::NewTenant {
                id: id.into(),
                app_id: "app".into(),
                phone_number_ids: vec![number.into()],
                default_region: "IT".into(),
            },
        )?;
    }
    // Known before the batch: a contact, a message of theirs (redelivered in the
    // batch), and an edit of a message that arrives in the batch.
    let known = contacts::upsert(c, "acme", &facts(Some("391"), None, Some("Anna")))?;
    // Created from CRM records: a Mexican mobile (its WhatsApp id will carry the old
    // "1"), and a number whose WhatsApp id is not known.
    contacts::upsert(
        c,
        "acme",
        &crm_made(Some("525512345678"), "+525512345678", "Carla"),
    )?;
    contacts::upsert(c, "acme", &crm_made(None, "+393470000001", "Dario"))?;
    insert_inbound(c, &message("acme", known.id, "100", "w.old", "text", 5))?;
    record_revision(
        c,
        &NewRevision {
            tenant: "acme",
            target_wamid: "w.edited",
            wamid: "w.edit",
            action: RevisionAction::Edit,
            kind: Some("text"),
            text: Some("edited"),
            content: Some(&json!({"type": "text", "body": "edited"})),
            raw: &json!({"id": "w.edit", "edit": {"message": {"type": "text", "text": {"body": "edited"}}}}),
            timestamp: 50,
            inbox_id: 1,
        },
    )?;
    Ok(())
}

fn crm_made(wa: Option<&str>, phone: &str, name: &str) -> ContactFacts {
    ContactFacts {
        wa_id: wa.map(Into::into),
        user_id: None,
        phone: Some(phone.into()),
        name: Some(name.into()),
    }
}

/// A sender whose WhatsApp id is written differently from its E.164 number.
fn sender(wa: &str, phone: &str) -> ContactFacts {
    ContactFacts {
        wa_id: Some(wa.into()),
        user_id: None,
        phone: Some(phone.into()),
        name: None,
    }
}

fn facts(wa: Option<&str>, user: Option<&str>, name: Option<&str>) -> ContactFacts {
    ContactFacts {
        wa_id: wa.map(Into::into),
        user_id: user.map(Into::into),
        phone: wa.map(|w| format!("+{w}")),
        name: name.map(Into::into),
    }
}

fn message<'a>(
    tenant: &'a str,
    contact_id: i64,
    number: &'a str,
    wamid: &'a str,
    kind: &'a str,
    at: i64,
) -> NewInbound<'a> {
    static CONTENT: std::sync::LazyLock<serde_json::Value> =
        std::sync::LazyLock::new(|| json!({"type": "text", "body": "hi"}));
    static ORDER: std::sync::LazyLock<serde_json::Value> = std::sync::LazyLock::new(
        || json!({"order": {"product_items": [{"product_retailer_id": "SKU-1"}, {"product_retailer_id": "SKU-2"}]}}),
    );
    static EMPTY: std::sync::LazyLock<serde_json::Value> = std::sync::LazyLock::new(|| json!({}));
    NewInbound {
        tenant,
        contact_id,
        phone_number_id: number,
        wamid,
        kind,
        timestamp: at,
        text: Some("hi"),
        content: &CONTENT,
        context: &EMPTY,
        raw: if kind == "order" { &ORDER } else { &EMPTY },
        errors: None,
        inbox_id: 1,
    }
}

/// The batch: `(tenant, sender, number, wamid, kind, at)`.
fn script() -> Vec<(
    &'static str,
    ContactFacts,
    &'static str,
    &'static str,
    &'static str,
    i64,
)> {
    vec![
        (
            "acme",
            facts(Some("392"), None, Some("Bruno")),
            "100",
            "w.1",
            "text",
            10,
        ),
        // The known contact: a new name, then a user id.
        (
            "acme",
            facts(Some("391"), None, Some("Anna B")),
            "100",
            "w.2",
            "text",
            20,
        ),
        (
            "acme",
            facts(Some("391"), Some("U.1"), Some("Anna B")),
            "100",
            "w.3",
            "order",
            30,
        ),
        // The new contact again, renamed, later and earlier than before.
        (
            "acme",
            facts(Some("392"), None, Some("Bruno R")),
            "100",
            "w.4",
            "text",
            5,
        ),
        // Twice in the batch, and a redelivery of a stored message.
        (
            "acme",
            facts(Some("393"), None, None),
            "100",
            "w.5",
            "text",
            40,
        ),
        (
            "acme",
            facts(Some("393"), None, None),
            "100",
            "w.5",
            "text",
            40,
        ),
        (
            "acme",
            facts(Some("391"), None, None),
            "100",
            "w.old",
            "text",
            5,
        ),
        // Its edit came first.
        (
            "acme",
            facts(Some("394"), None, None),
            "100",
            "w.edited",
            "text",
            45,
        ),
        // The CRM's contacts write in: found by phone number, their WhatsApp ids
        // learned.
        (
            "acme",
            sender("5215512345678", "+525512345678"),
            "100",
            "w.mx",
            "text",
            46,
        ),
        (
            "acme",
            sender("393470000001", "+393470000001"),
            "100",
            "w.it",
            "text",
            47,
        ),
        // The same wamid and sender under another tenant, and by user id only.
        (
            "zeta",
            facts(Some("392"), None, Some("Z")),
            "200",
            "w.1",
            "text",
            60,
        ),
        (
            "zeta",
            facts(None, Some("U.9"), Some("Nine")),
            "200",
            "w.6",
            "text",
            70,
        ),
        (
            "zeta",
            facts(Some("399"), Some("U.9"), Some("Nine")),
            "200",
            "w.7",
            "text",
            80,
        ),
    ]
}

/// What a test compares: every row, by natural keys instead of ids.
fn dump(c: &Conn<'_>) -> Vec<String> {
    let mut out = Vec::new();
    for sql in [
        "SELECT tenant_id || '|' || COALESCE(wa_id, '-') || '|' || COALESCE(user_id, '-') || '|' || COALESCE(phone_e164, '-')
                || '|' || COALESCE(name, '-') || '|' || COALESCE(profile_name, '-') FROM contacts",
        "SELECT v.tenant_id || '|' || COALESCE(k.wa_id, k.user_id) || '|' || v.phone_number_id || '|' || v.last_message_at
                || '|' || COALESCE(v.last_inbound_at, -1) FROM conversations v JOIN contacts k ON k.id = v.contact_id",
        "SELECT m.tenant_id || '|' || m.wamid || '|' || COALESCE(k.wa_id, k.user_id) || '|' || m.type || '|' || m.timestamp
                || '|' || COALESCE(m.text, '-') || '|' || COALESCE(m.classification, '-') || '|' || COALESCE(m.classifier, '-')
                || '|' || COALESCE(m.classify_error, '-') || '|' || (m.classified_at IS NOT NULL)
           FROM messages m JOIN contacts k ON k.id = m.contact_id",
        "SELECT m.tenant_id || '|' || m.wamid || '|' || t.tag FROM message_tags t JOIN messages m ON m.id = t.message_id",
        "SELECT p.tenant_id || '|' || p.sku || '|' || m.wamid FROM contact_purchases p JOIN messages m ON m.id = p.message_id",
    ] {
        let mut rows: Vec<String> = c.query(sql, params![], |r| r.get(0)).unwrap();
        rows.sort();
        out.extend(rows);
    }
    out
}

/// Runs the script one by one or batched; what each call returned, by wamid.
fn run(c: &Conn<'_>, batched: bool) -> Vec<String> {
    let script = script();
    let contacts: Vec<contacts::Contact> = if batched {
        let mut out = vec![None; script.len()];
        for tenant in ["acme", "zeta"] {
            let (at, facts): (Vec<usize>, Vec<ContactFacts>) = script
                .iter()
                .enumerate()
                .filter(|(_, s)| s.0 == tenant)
                .map(|(i, s)| (i, s.1.clone()))
                .unzip();
            for (i, contact) in at
                .into_iter()
                .zip(contacts::upsert_many(c, tenant, &facts).unwrap())
            {
                out[i] = Some(contact);
            }
        }
        out.into_iter().flatten().collect()
    } else {
        script
            .iter()
            .map(|s| contacts::upsert(c, s.0, &s.1).unwrap())
            .collect()
    };
    let rows: Vec<NewInbound<'_>> = script
        .iter()
        .zip(&contacts)
        .map(|(s, k)| message(s.0, k.id, s.2, s.3, s.4, s.5))
        .collect();
    let stored = if batched {
        insert_inbound_many(c, &rows).unwrap()
    } else {
        rows.iter().map(|m| insert_inbound(c, m).unwrap()).collect()
    };
    // Classify: every stored message's first result (the duplicate twice), then an
    // edit's result for one of them.
    let outcomes = [
        ClassifyOutcome::Classified {
            tags: vec!["a".into(), "b".into()],
            classification: json!({"intent": "x"}),
        },
        ClassifyOutcome::Failed("boom".into()),
        ClassifyOutcome::NoClassifier,
    ];
    let mut records: Vec<ClassificationRecord<'_>> = stored
        .iter()
        .enumerate()
        .map(|(i, s)| ClassificationRecord {
            message_id: s.message_id,
            classifier: Some("kw@1"),
            outcome: &outcomes[i % 3],
            first: true,
        })
        .collect();
    records.insert(
        3,
        ClassificationRecord {
            message_id: stored[0].message_id,
            classifier: Some("kw@2"),
            outcome: &outcomes[0],
            first: false,
        },
    );
    let recorded = if batched {
        record_classifications(c, &records).unwrap()
    } else {
        records
            .iter()
            .map(|r| {
                record_classification(c, r.message_id, r.classifier, r.outcome, r.first).unwrap()
            })
            .collect()
    };
    let wamid_of = |id: i64| -> String {
        c.query_one(
            "SELECT tenant_id || '/' || wamid FROM messages WHERE id = ?1",
            params![id],
            |r| r.get(0),
        )
        .unwrap()
    };
    let mut out: Vec<String> = script
        .iter()
        .zip(&contacts)
        .zip(&stored)
        .map(|((s, k), st)| {
            format!(
                "{} from {:?}/{:?} named {:?}: {} inserted={} unclassified={} edited={}",
                s.3,
                k.wa_id,
                k.user_id,
                k.name,
                wamid_of(st.message_id),
                st.inserted,
                st.unclassified,
                st.edited_by.is_some()
            )
        })
        .collect();
    out.extend(
        records
            .iter()
            .zip(recorded)
            .map(|(r, ok)| format!("{} first={} recorded={ok}", wamid_of(r.message_id), r.first)),
    );
    out
}

#[test]
fn a_contact_the_crm_created_is_found_by_phone_when_the_customer_writes() {
    for batched in [false, true] {
        for t in crate::testing::backends() {
            let rows = t
                .db
                .with_conn(|c| {
                    setup(c)?;
                    run(c, batched);
                    c.query(
                        "SELECT COALESCE(wa_id, '-') || ' ' || phone_e164 || ' ' || name FROM contacts
                         WHERE tenant_id = 'acme' AND phone_e164 IN ('+525512345678', '+393470000001')
                         ORDER BY phone_e164",
                        params![],
                        |r| r.get::<String>(0),
                    )
                })
                .unwrap();
            assert_eq!(
                rows,
                [
                    "393470000001 +393470000001 Dario",
                    "5215512345678 +525512345678 Carla"
                ],
                "{} batched={batched}",
                t.backend
            );
        }
    }
}

#[test]
fn batched_writes_leave_what_one_by_one_writes_leave() {
    for (one, many) in crate::testing::backends()
        .into_iter()
        .zip(crate::testing::backends())
    {
        let a = one
            .db
            .with_conn(|c| {
                setup(c)?;
                Ok((run(c, false), dump(c)))
            })
            .unwrap();
        let b = many
            .db
            .with_conn(|c| {
                setup(c)?;
                Ok((run(c, true), dump(c)))
            })
            .unwrap();
        assert_eq!(a.0, b.0, "{}: what the calls returned", one.backend);
        assert_eq!(a.1, b.1, "{}: the rows they left", one.backend);
        // The script does exercise what it claims to.
        let text = a.0.join("\n") + &a.1.join("\n");
        for expected in [
            "inserted=false",
            "edited=true",
            "recorded=false",
            "first=false recorded=true",
            "SKU-2",
            "Anna B",
            "U.1",
            "acme|w.4|a",
        ] {
            assert!(
                text.contains(expected),
                "{}: no {expected:?} in\n{text}",
                one.backend
            );
        }
    }
}

/// Two hosts meeting the same new sender at the same moment: the second one's
/// lookup finds nothing, its insert waits for the first one's transaction, and once
/// that commits it gets the contact the first one created (not a unique-key error
/// that fails its whole batch).
#[test]
fn a_contact_created_by_another_host_meanwhile_is_found_not_failed() {
    for t in crate::testing::backends() {
        if t.backend != "postgres" {
            // One writer: two SQLite transactions never overlap.
            continue;
        }
        t.db.with_conn(setup).unwrap();
        let other = t.reopen();
        let (inside, go) = (
            std::sync::mpsc::channel::<()>(),
            std::sync::mpsc::channel::<()>(),
        );
        let (inside_tx, inside_rx) = inside;
        let (go_tx, go_rx) = go;
        let first = std::thread::spawn(move || {
            other
                .write_blocking(|s| {
                    crate::transaction(s, |tx| {
                        let made =
                            tx.upsert_many("acme", &[facts(Some("399"), None, Some("Ugo"))])?;
                        inside_tx.send(()).unwrap();
                        go_rx.recv().unwrap();
                        Ok(made[0].id)
                    })
                })
                .unwrap()
        });
        inside_rx.recv().unwrap();
        let db = t.db.clone();
        let second = std::thread::spawn(move || {
            db.write_blocking(|s| {
                crate::transaction(s, |tx| {
                    let many = tx.upsert_many(
                        "acme",
                        &[
                            facts(Some("391"), None, None),
                            facts(Some("399"), None, Some("Ugo B.")),
                        ],
                    )?;
                    Ok(many.iter().map(|c| c.id).collect::<Vec<_>>())
                })
            })
        });
        // Let the second transaction look up (nothing yet) and block on its insert.
        std::thread::sleep(std::time::Duration::from_millis(300));
        go_tx.send(()).unwrap();
        let made = first.join().unwrap();
        let ids = second
            .join()
            .unwrap()
            .expect("the second host's batch succeeds");
        assert_eq!(ids[1], made, "both hosts speak of the one contact");
        let (rows, name): (i64, Option<String>) = t
            .db
            .with_conn(|c| {
                c.query_one(
                    "SELECT COUNT(*), MAX(name) FROM contacts WHERE tenant_id = 'acme' AND wa_id = '399'",
                    params![],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
            })
            .unwrap();
        assert_eq!(
            (rows, name.as_deref()),
            (1, Some("Ugo B.")),
            "one row, with what both learned"
        );
    }
}
