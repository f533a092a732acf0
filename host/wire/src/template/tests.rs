//! The template list parsed from a realistic Graph answer, checked against a golden
//! file: `tests/fixtures/synthetic/message_templates.json` (the answer) and
//! `message_templates.parameters.json` beside it (what each template's send needs).
//! Run with `SCRM_UPDATE_GOLDEN=1` to rewrite the golden file after a deliberate
//! change, and read the diff.

use super::*;
use serde_json::json;
use std::path::PathBuf;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/synthetic")
}

fn fixture_page() -> Page {
    let path = fixtures().join("message_templates.json");
    let body = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parse_page(&body).unwrap()
}

#[test]
fn golden_parameters_of_a_realistic_template_list() {
    let page = fixture_page();
    assert!(page.skipped.is_empty(), "{:?}", page.skipped);
    let summary: Vec<Value> = page
        .templates
        .iter()
        .map(|t| {
            json!({
                "name": t.name, "language": t.language, "status": t.status,
                "category": t.category, "approved": t.status.is_approved(),
                "parameters": t.parameters(),
            })
        })
        .collect();
    let actual = serde_json::to_string_pretty(&summary).unwrap() + "\n";
    let golden = fixtures().join("message_templates.parameters.json");
    if std::env::var_os("SCRM_UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &actual).unwrap();
    }
    let expected = std::fs::read_to_string(&golden).unwrap_or_default();
    assert!(
        actual == expected,
        "the parsed templates differ from {} (SCRM_UPDATE_GOLDEN=1 rewrites it):\n{actual}",
        golden.display()
    );
}

#[test]
fn unknown_categories_statuses_components_and_fields_are_kept() {
    let page = fixture_page();
    let t = page
        .templates
        .iter()
        .find(|t| t.name == "appointment_reminder")
        .unwrap();
    assert_eq!(t.category, Category::Other("SERVICE_NOTICE".into()));
    assert_eq!(t.status, Status::InAppeal);
    let auth = page
        .templates
        .iter()
        .find(|t| t.name == "verification_code")
        .unwrap();
    let body = auth.component(&ComponentKind::Body).unwrap();
    assert_eq!(body.other["add_security_recommendation"], json!(true));
    // Stored and read back, the components are what Meta sent.
    let original: Value = serde_json::from_slice::<Value>(
        &std::fs::read(fixtures().join("message_templates.json")).unwrap(),
    )
    .unwrap()["data"][4]["components"]
        .clone();
    assert_eq!(serde_json::to_value(&auth.components).unwrap(), original);
}

#[test]
fn a_template_that_cannot_be_read_is_skipped_with_the_reason() {
    let body = json!({"data": [
        {"name": "ok", "language": "en", "status": "APPROVED", "category": "UTILITY", "components": []},
        {"language": "en", "status": "APPROVED", "category": "UTILITY"},
        {"name": "typed", "language": "en", "status": 7, "category": "UTILITY"}
    ], "paging": {"cursors": {"before": "a", "after": "b"}, "next": "https://graph.facebook.com/v23.0/1/message_templates?after=b"}});
    let page = parse_page(body.to_string().as_bytes()).unwrap();
    assert_eq!(page.templates.len(), 1);
    assert_eq!(page.next_after.as_deref(), Some("b"));
    assert_eq!(page.skipped.len(), 2);
    assert_eq!(page.skipped[0].index, 1);
    assert!(page.skipped[0].reason.contains("missing field `name`"));
    assert_eq!(page.skipped[1].name.as_deref(), Some("typed"));
}

#[test]
fn a_body_that_is_not_a_list_is_refused() {
    assert!(matches!(parse_page(b"<html>"), Err(PageError::NotJson(_))));
    assert_eq!(parse_page(b"{\"error\": {}}"), Err(PageError::NoData));
    let no_cursor = br#"{"data": [], "paging": {"next": "https://x"}}"#;
    assert_eq!(parse_page(no_cursor), Err(PageError::NoCursor));
}

#[test]
fn lower_case_values_read_as_metas_upper_case_ones() {
    assert_eq!(Status::from("paused".to_string()), Status::Paused);
    assert_eq!(String::from(Category::Marketing), "MARKETING");
    assert_eq!(
        ComponentKind::from("limited_time_offer".to_string()).to_string(),
        "LIMITED_TIME_OFFER"
    );
}

#[test]
fn status_webhook_events_map_to_statuses() {
    assert_eq!(Status::from_status_event("PAUSED"), Some(Status::Paused));
    assert_eq!(
        Status::from_status_event("REINSTATED"),
        Some(Status::Approved)
    );
    assert_eq!(Status::from_status_event("FLAGGED"), None);
    assert_eq!(
        Status::from_status_event("approved"),
        Some(Status::Approved)
    );
}
