//! What makes a responder's answer well-formed, checked on the actions as the plugin
//! gave them: replies and templates the outbox would send (the host's own send
//! check, `scrm_wire::outbound::check`, on the body it would queue; template names
//! and language codes as Meta takes them; no empty parameter), tags as for a
//! classifier, an assignee and field names that are not empty, and a bounded
//! number of actions.

use super::Check;
use super::classifier::name_problem;
use super::messages::{Ran, given};
use serde_json::Value;

/// Most actions one answer may carry.
const MAX_ACTIONS: usize = 32;

/// The output check of a responder.
pub(super) fn output(ran: &[Ran]) -> Vec<Check> {
    let answers = given(ran, "respond");
    let mut problems = Vec::new();
    let mut count = 0;
    for (source, actions) in &answers {
        let list = actions.as_array().map(Vec::as_slice).unwrap_or_default();
        count += list.len();
        if list.len() > MAX_ACTIONS {
            problems.push(format!(
                "{source}: {} actions (at most {MAX_ACTIONS})",
                list.len()
            ));
        }
        for (i, a) in list.iter().enumerate() {
            if let Some(p) = action_problem(a) {
                problems.push(format!(
                    "{source}: action {} ({}): {p}",
                    i + 1,
                    a["type"].as_str().unwrap_or("?")
                ));
            }
        }
    }
    vec![Check::from_problems(
        "output actions",
        format!(
            "{} answers, {count} actions: replies and templates the outbox would send, tags, assignees and fields named, at most {MAX_ACTIONS} per answer",
            answers.len()
        ),
        &problems,
    )]
}

/// What is wrong with one action, if anything.
fn action_problem(a: &Value) -> Option<String> {
    let text = |key: &str| a[key].as_str().unwrap_or("");
    match a["type"].as_str() {
        Some("reply") => send_problem(a),
        Some("template") => template_problem(a).or_else(|| send_problem(a)),
        Some("tag") => name_problem("tag", text("tag")),
        Some("assign") => name_problem("assignee", text("to")),
        Some("set_field") => name_problem("field name", text("name")),
        _ => Some("an action the host does not know".into()),
    }
}

/// Why the outbox would refuse to send the action, if it would.
fn send_problem(a: &Value) -> Option<String> {
    // The numbers do not matter to the check; the example's do.
    let body = crate::outbox::action_send(a, "106540352242922", "16505551234")?;
    scrm_wire::outbound::check(body)
        .err()
        .map(|e| format!("the outbox would refuse it: {e}"))
}

/// What is wrong with a template's name, language or parameters as Meta takes
/// them, if anything.
fn template_problem(a: &Value) -> Option<String> {
    let name = a["name"].as_str().unwrap_or("");
    let name_ok = !name.is_empty()
        && name.len() <= 512
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !name_ok {
        return Some(format!(
            "template name {name:?}: Meta takes 1-512 lowercase letters, digits and underscores"
        ));
    }
    let language = a["language"].as_str().unwrap_or("");
    if !language_ok(language) {
        return Some(format!(
            "language {language:?}: expected a code such as en, en_US or es_419"
        ));
    }
    let parameters = a["parameters"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    parameters
        .iter()
        .position(|p| p.as_str().is_none_or(|s| s.trim().is_empty()))
        .map(|i| format!("parameter {} is empty (Meta refuses the send)", i + 1))
}

/// `en`, `fil`, `en_US`, `es_419`, `zh_HK`.
fn language_ok(code: &str) -> bool {
    let (lang, region) = match code.split_once('_') {
        Some((l, r)) => (l, Some(r)),
        None => (code, None),
    };
    (2..=3).contains(&lang.len())
        && lang.chars().all(|c| c.is_ascii_lowercase())
        && region.is_none_or(|r| {
            (2..=3).contains(&r.len())
                && r.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn replies_and_templates_must_be_sendable() {
        assert_eq!(
            action_problem(&json!({"type": "reply", "text": "Hi!"})),
            None
        );
        let empty = action_problem(&json!({"type": "reply", "text": "  "})).unwrap();
        assert!(empty.contains("text.body"), "{empty}");
        let long = "x".repeat(scrm_wire::outbound::MAX_TEXT + 1);
        let long = action_problem(&json!({"type": "reply", "text": long})).unwrap();
        assert!(long.contains("at most 4096"), "{long}");
        let ok = json!({"type": "template", "name": "order_update", "language": "en_US", "parameters": ["A1"]});
        assert_eq!(action_problem(&ok), None);
        let bad = json!({"type": "template", "name": "Order Update", "language": "en_US", "parameters": []});
        assert!(action_problem(&bad).unwrap().contains("template name"));
        let bad = json!({"type": "template", "name": "x", "language": "english", "parameters": []});
        assert!(action_problem(&bad).unwrap().contains("language"));
        let bad = json!({"type": "template", "name": "x", "language": "it", "parameters": [""]});
        assert!(
            action_problem(&bad)
                .unwrap()
                .contains("parameter 1 is empty")
        );
    }

    #[test]
    fn tags_assignees_and_fields_are_named() {
        assert!(action_problem(&json!({"type": "tag", "tag": ""})).is_some());
        assert!(action_problem(&json!({"type": "assign", "to": "sales"})).is_none());
        assert!(action_problem(&json!({"type": "set_field", "name": "", "value": 1})).is_some());
        assert!(language_ok("es_419") && language_ok("fil") && !language_ok("EN"));
    }
}
