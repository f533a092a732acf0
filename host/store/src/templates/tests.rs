//! The template registry on both backends.

use super::*;
use crate::testing::{TestDb, backends};

fn db() -> Vec<TestDb> {
    let all = backends();
    for t in &all {
        t.db.with_conn(|c| {
            crate::apps::insert(c, "app", "secret", "verify")?;
            crate::tenants::insert(
                c,
                &crate::tenants::NewTenant {
                    id: "acme".into(),
                    app_id: "app".into(),
                    phone_number_ids: vec!["100".into()],
                    default_region: "IT".into(),
                },
            )
        })
        .unwrap();
    }
    all
}

fn template(name: &str, language: &str, status: &str) -> NewTemplate {
    NewTemplate {
        name: name.into(),
        language: language.into(),
        status: status.into(),
        category: "UTILITY".into(),
        parameter_format: "POSITIONAL".into(),
        body_params: 1,
        parameters: r#"{"format":"POSITIONAL","body":1}"#.into(),
        components: r#"[{"type":"BODY","text":"Hi {{1}}"}]"#.into(),
        meta_id: Some(format!("id-{name}-{language}")),
    }
}

fn names(c: &Conn<'_>) -> Vec<String> {
    keys(c, "acme")
        .unwrap()
        .into_iter()
        .map(|k| format!("{} {} {}", k.name, k.language, k.status))
        .collect()
}

#[test]
fn a_sync_adds_updates_and_removes_and_records_the_waba() {
    for t in db() {
        eprintln!("backend: {}", t.backend);
        t.db.with_conn(|c| {
            let first = [
                template("order_update", "en_US", "APPROVED"),
                template("order_update", "it", "APPROVED"),
                template("promo", "en_US", "PENDING"),
            ];
            let r = replace_synced(c, "acme", "waba-1", &first, 1_000)?;
            assert_eq!((r.added, r.updated, r.unchanged), (3, 0, 0));
            let account = account(c, "acme")?.unwrap();
            assert_eq!(account.waba_id.as_deref(), Some("waba-1"));
            assert!(account.synced_at.is_some());

            let second = [
                template("order_update", "en_US", "APPROVED"),
                template("promo", "en_US", "APPROVED"),
            ];
            let r = replace_synced(c, "acme", "waba-1", &second, 2_000)?;
            assert_eq!((r.added, r.updated, r.unchanged), (0, 1, 1));
            assert_eq!(r.removed.len(), 1);
            assert_eq!(
                (r.removed[0].name.as_str(), r.removed[0].language.as_str()),
                ("order_update", "it")
            );
            assert_eq!(
                names(c),
                ["order_update en_US APPROVED", "promo en_US APPROVED"]
            );
            let row = get(c, "acme", "promo", "en_US")?.unwrap();
            assert_eq!(row.source, "meta");
            assert_eq!(row.parameters["body"], 1);
            assert_eq!(row.components[0]["text"], "Hi {{1}}");
            assert_eq!(row.status_at, 2_000);
            Ok(())
        })
        .unwrap();
    }
}

#[test]
fn a_sync_keeps_operator_templates_unless_meta_has_the_same_one() {
    for t in db() {
        eprintln!("backend: {}", t.backend);
        t.db.with_conn(|c| {
            assert!(put(c, "acme", &template("manual", "en", "APPROVED"))?);
            assert!(put(c, "acme", &template("promo", "en_US", "APPROVED"))?);
            assert!(
                !put(c, "acme", &template("promo", "en_US", "PAUSED"))?,
                "replaced"
            );
            let r = replace_synced(
                c,
                "acme",
                "w",
                &[template("promo", "en_US", "APPROVED")],
                now_ms(),
            )?;
            assert_eq!((r.added, r.updated, r.removed.len()), (0, 1, 0));
            let rows = list(c, "acme", None)?;
            let sources: Vec<(&str, &str)> = rows
                .iter()
                .map(|r| (r.name.as_str(), r.source.as_str()))
                .collect();
            assert_eq!(sources, [("manual", "operator"), ("promo", "meta")]);
            // An empty list from Meta removes only what came from Meta.
            let r = replace_synced(c, "acme", "w", &[], now_ms())?;
            assert_eq!(r.removed.len(), 1);
            assert_eq!(names(c), ["manual en APPROVED"]);
            Ok(())
        })
        .unwrap();
    }
}

#[test]
fn a_failed_sync_changes_nothing() {
    for t in db() {
        eprintln!("backend: {}", t.backend);
        t.db.with_conn(|c| {
            replace_synced(
                c,
                "acme",
                "w",
                &[
                    template("a", "en", "APPROVED"),
                    template("b", "en", "APPROVED"),
                ],
                1,
            )?;
            let mut broken = template("b", "en", "APPROVED");
            broken.components = "not json".into();
            let err = replace_synced(c, "acme", "w2", &[template("a", "en", "PAUSED"), broken], 2);
            assert!(matches!(err, Err(StoreError::Json(_))), "{err:?}");
            assert_eq!(names(c), ["a en APPROVED", "b en APPROVED"]);
            assert_eq!(account(c, "acme")?.unwrap().waba_id.as_deref(), Some("w"));
            let unknown = replace_synced(c, "nobody", "w", &[template("a", "en", "APPROVED")], 3);
            assert!(
                matches!(unknown, Err(StoreError::NotFound { .. })),
                "{unknown:?}"
            );
            assert!(matches!(
                put(c, "nobody", &template("a", "en", "APPROVED")),
                Err(StoreError::NotFound { .. })
            ));
            Ok(())
        })
        .unwrap();
    }
}

#[test]
fn status_webhooks_apply_unless_a_newer_status_is_known() {
    for t in db() {
        eprintln!("backend: {}", t.backend);
        t.db.with_conn(|c| {
            replace_synced(
                c,
                "acme",
                "w",
                &[template("promo", "en", "APPROVED")],
                1_000,
            )?;
            assert!(apply_status(c, "acme", "promo", "en", "PAUSED", 2_000)?);
            assert!(
                !apply_status(c, "acme", "promo", "en", "APPROVED", 1_500)?,
                "older"
            );
            assert!(
                !apply_status(c, "acme", "other", "en", "PAUSED", 2_000)?,
                "unknown"
            );
            assert_eq!(names(c), ["promo en PAUSED"]);
            // A sync fetched before the webhook does not undo it; a later one does.
            replace_synced(
                c,
                "acme",
                "w",
                &[template("promo", "en", "APPROVED")],
                1_800,
            )?;
            assert_eq!(names(c), ["promo en PAUSED"]);
            replace_synced(
                c,
                "acme",
                "w",
                &[template("promo", "en", "APPROVED")],
                3_000,
            )?;
            assert_eq!(names(c), ["promo en APPROVED"]);
            Ok(())
        })
        .unwrap();
    }
}

#[test]
fn lists_filter_by_status_and_the_account_shows_webhook_wabas() {
    for t in db() {
        eprintln!("backend: {}", t.backend);
        t.db.with_conn(|c| {
            let a = account(c, "acme")?.unwrap();
            assert_eq!(
                (a.waba_id, a.synced_at, a.seen_waba_ids.len()),
                (None, None, 0)
            );
            assert_eq!(account(c, "nobody")?, None);
            crate::events::learn_number(c, "app", "100", "waba-9", None, "acme")?;
            assert_eq!(account(c, "acme")?.unwrap().seen_waba_ids, ["waba-9"]);
            replace_synced(
                c,
                "acme",
                "w",
                &[
                    template("b", "en", "PAUSED"),
                    template("a", "en", "APPROVED"),
                ],
                1,
            )?;
            let approved = list(c, "acme", Some("APPROVED"))?;
            assert_eq!(approved.len(), 1);
            assert_eq!(approved[0].name, "a");
            assert_eq!(list(c, "acme", None)?.len(), 2);
            assert!(delete(c, "acme", "a", "en")?);
            assert!(!delete(c, "acme", "a", "en")?);
            assert_eq!(names(c), ["b en PAUSED"]);
            Ok(())
        })
        .unwrap();
    }
}
