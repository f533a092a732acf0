//! The mapper's checks beyond the message cases (each message reaches
//! `contact-to-crm` and `message-to-crm`, as the CRM sync hands it over): every CRM
//! record shape the reference connectors hand back reaches `crm-to-contact` — a
//! contact or party with a name and phone, a number without its country code, each
//! field-value type, empty values, no fields, no id, fields the mapper does not
//! know, a field named twice, hostile text — and what comes back is well-formed:
//! records with an object and named fields, none twice, defaults only of fields the
//! record has; contact changes that do not blank a name or phone.

use super::Check;
use super::cases::Case;
use super::classifier::name_problem;
use super::messages::Ran;
use crate::runner::Input;
use serde_json::{Value, json};

/// Error codes that are answers of the mapper contract, not failures: a required
/// field the mapper could not fill (`unmapped`) keeps the record out of the CRM.
pub(super) const ANSWERS: [&str; 1] = ["crm_unmapped_fields"];

/// One CRM record shape: its name and the record as `scrm plugin run` takes it.
fn shapes() -> Vec<(&'static str, Value)> {
    let at = 1_749_416_383_000_i64;
    let huge: String = "Nelson ".chars().cycle().take(4096).collect();
    vec![
        (
            "contact",
            json!({"object": "contact", "id": "101", "updated_at": at, "fields": [
                ["name", "Sheena Nelson"], ["phone", "+16505551234"],
                ["email", "sheena@example.com"], ["customer_level", "Gold"]]}),
        ),
        (
            "party",
            json!({"object": "party", "id": "7", "updated_at": at, "fields": [
                ["name", "Mario Rossi"], ["phone", "+393471234567"]]}),
        ),
        (
            "local-phone",
            json!({"object": "contact", "id": "102", "fields": [
                ["name", "Mario Rossi"], ["phone", "347 123 4567"], ["country", "IT"]]}),
        ),
        (
            "value-types",
            json!({"object": "contact", "id": "103", "updated_at": at, "fields": [
                ["name", "Ana Lima"], ["phone", "+5511987654321"], ["customer_level", 3],
                ["score", 4.5], ["vip", true], ["last_order", {"timestamp": at}],
                ["notes", null], ["priority", "High"], ["satisfaction", 0.8]]}),
        ),
        (
            "empty-values",
            json!({"object": "contact", "id": "104", "fields": [
                ["name", null], ["phone", null], ["customer_level", null], ["country", null]]}),
        ),
        (
            "no-fields",
            json!({"object": "contact", "id": "105", "fields": []}),
        ),
        (
            "no-id",
            json!({"object": "contact", "fields": [["name", "Walk-in"], ["phone", "+442071234567"]]}),
        ),
        (
            "unknown-fields",
            json!({"object": "contact", "id": "106", "fields": [
                ["hs_object_id", "106"], ["lifecyclestage", "lead"], ["Mailing_Street", "1 Via Roma"]]}),
        ),
        (
            "repeated-field",
            json!({"object": "contact", "id": "107", "fields": [
                ["name", "Old Name"], ["name", "New Name"], ["phone", "+16505551234"]]}),
        ),
        (
            "hostile-values",
            json!({"object": "contact", "id": "108", "fields": [
                ["name", huge], ["phone", "call me 📞 maybe"], ["customer_level", "😀🔥"],
                ["email", "a\u{0}b\u{202e}@example.com"], ["country", "中国"]]}),
        ),
    ]
}

/// The record cases, one check each: `record contact`, `record no-id`, ….
pub(super) fn records() -> Vec<Case> {
    shapes()
        .into_iter()
        .filter_map(|(name, record)| {
            let source = format!("{name} record");
            let input = Input::parse(record.to_string().as_bytes(), &source).ok()?;
            Some(Case {
                check: format!("record {name}"),
                source,
                input,
            })
        })
        .collect()
}

/// The output checks of a mapper.
pub(super) fn output(ran: &[Ran]) -> Vec<Check> {
    let (mut records, mut changes) = (0, 0);
    let (mut record_problems, mut change_problems) = (Vec::new(), Vec::new());
    for r in ran {
        for o in r.calls() {
            let Ok(v) = &o.result else { continue };
            let found = match o.call {
                "contact-to-crm" => {
                    records += 1;
                    let mut p = record_problems_of(&v["record"]);
                    p.extend(defaulted_problems(v));
                    p
                }
                "message-to-crm" => {
                    records += 1;
                    record_problems_of(v)
                }
                "crm-to-contact" => {
                    changes += 1;
                    change_problems.extend(
                        changes_problems(v)
                            .into_iter()
                            .map(|p| format!("{}: {p}", r.case.source)),
                    );
                    continue;
                }
                _ => continue,
            };
            record_problems.extend(
                found
                    .into_iter()
                    .map(|p| format!("{}: {} {p}", r.case.source, o.call)),
            );
        }
    }
    vec![
        Check::from_problems(
            "output records",
            format!(
                "{records} records: an object, every field named (at most 64 characters) and none twice, defaults only of fields the record has"
            ),
            &record_problems,
        ),
        Check::from_problems(
            "output changes",
            format!(
                "{changes} contact changes: a name or phone, when given, not empty; every field named and none twice"
            ),
            &change_problems,
        ),
    ]
}

/// What is wrong with a record (the host's JSON of it), if anything.
fn record_problems_of(record: &Value) -> Vec<String> {
    let mut problems: Vec<String> = name_problem("object", record["object"].as_str().unwrap_or(""))
        .into_iter()
        .collect();
    problems.extend(fields_problems(&record["fields"]));
    problems
}

/// What is wrong with `[[name, value], …]`: unnamed or badly named fields, a
/// field named twice.
fn fields_problems(fields: &Value) -> Vec<String> {
    let mut seen: Vec<&str> = Vec::new();
    let mut problems = Vec::new();
    for (i, f) in fields.as_array().into_iter().flatten().enumerate() {
        let name = f[0].as_str().unwrap_or("");
        if let Some(p) = name_problem(&format!("field {}", i + 1), name) {
            problems.push(p);
        } else if seen.contains(&name) {
            problems.push(format!("field {name:?} twice"));
        }
        seen.push(name);
    }
    problems
}

/// Defaults named that the record does not have.
fn defaulted_problems(mapped: &Value) -> Vec<String> {
    let names: Vec<&str> = mapped["record"]["fields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f[0].as_str())
        .collect();
    mapped["defaulted"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|d| !names.contains(d))
        .map(|d| format!("says it defaulted {d:?}, a field the record does not have"))
        .collect()
}

/// What is wrong with contact changes, if anything.
fn changes_problems(changes: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    for key in ["name", "phone"] {
        if changes[key].as_str().is_some_and(|s| s.trim().is_empty()) {
            problems.push(format!("an empty {key} would blank the contact's"));
        }
    }
    problems.extend(fields_problems(&changes["fields"]));
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shape_is_a_record_case() {
        let cases = records();
        assert_eq!(cases.len(), shapes().len());
        assert!(cases.iter().all(|c| matches!(c.input, Input::Record(_))));
    }

    #[test]
    fn finds_unnamed_repeated_and_invented_fields() {
        let rec = json!({"object": "contact", "fields": [["name", "A"], ["", 1], ["name", "B"]]});
        assert_eq!(
            record_problems_of(&rec),
            ["field 2 \"\" is empty", "field \"name\" twice"]
        );
        assert_eq!(
            record_problems_of(&json!({"object": "", "fields": []})).len(),
            1
        );
        let mapped = json!({"record": {"object": "c", "fields": [["level", "New"]]}, "defaulted": ["level", "tier"]});
        assert_eq!(defaulted_problems(&mapped).len(), 1);
        let ch = json!({"name": " ", "phone": null, "fields": []});
        assert_eq!(
            changes_problems(&ch),
            ["an empty name would blank the contact's"]
        );
    }
}
