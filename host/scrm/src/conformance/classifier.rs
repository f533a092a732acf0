//! What makes a classifier's answer well-formed, checked on the answer as the plugin
//! gave it (the host would trim, lowercase and drop empty tags and clamp the
//! sentiment silently, hiding the bug): tags non-empty and bounded, an intent with
//! a name and a confidence in [0, 1], entities with a kind and a value, a
//! sentiment in [0, 1].

use super::Check;
use super::messages::{Ran, given};
use serde_json::Value;

/// Most tags one answer may carry.
pub(super) const MAX_TAGS: usize = 32;
/// Longest tag, intent name, entity kind or field name, in characters.
pub(super) const MAX_NAME: usize = 64;
/// Most entities one answer may carry.
const MAX_ENTITIES: usize = 64;
/// Longest entity value, in characters.
const MAX_VALUE: usize = 1024;

/// The output checks of a classifier.
pub(super) fn output(ran: &[Ran]) -> Vec<Check> {
    let answers = given(ran, "classify");
    let n = answers.len();
    let each = |f: fn(&Value) -> Vec<String>| -> Vec<String> {
        answers
            .iter()
            .flat_map(|(source, a)| f(a).into_iter().map(move |p| format!("{source}: {p}")))
            .collect()
    };
    vec![
        Check::from_problems(
            "output tags",
            format!(
                "{n} answers: at most {MAX_TAGS} tags, each non-empty, at most {MAX_NAME} characters, no control characters"
            ),
            &each(tags),
        ),
        Check::from_problems(
            "output intent",
            format!("{n} answers: each intent named, its confidence in [0, 1]"),
            &each(intent),
        ),
        Check::from_problems(
            "output entities",
            format!(
                "{n} answers: at most {MAX_ENTITIES} entities, each with a kind of at most {MAX_NAME} characters and a non-empty value of at most {MAX_VALUE}"
            ),
            &each(entities),
        ),
        Check::from_problems(
            "output sentiment",
            format!("{n} answers: sentiment, when given, in [0, 1]"),
            &each(sentiment),
        ),
    ]
}

/// What is wrong with `name` as a tag (or another short name), if anything.
pub(super) fn name_problem(what: &str, name: &str) -> Option<String> {
    if name.trim().is_empty() {
        return Some(format!("{what} {name:?} is empty"));
    }
    if name.chars().count() > MAX_NAME {
        return Some(format!(
            "{what} {:?}… is {} characters (at most {MAX_NAME})",
            name.chars().take(20).collect::<String>(),
            name.chars().count()
        ));
    }
    if name.chars().any(char::is_control) {
        return Some(format!("{what} {name:?} has control characters"));
    }
    None
}

fn tags(a: &Value) -> Vec<String> {
    let tags = a["tags"].as_array().map(Vec::as_slice).unwrap_or_default();
    let mut problems: Vec<String> = tags
        .iter()
        .enumerate()
        .filter_map(|(i, t)| name_problem(&format!("tag {}", i + 1), t.as_str().unwrap_or("")))
        .collect();
    if tags.len() > MAX_TAGS {
        problems.push(format!("{} tags (at most {MAX_TAGS})", tags.len()));
    }
    problems
}

fn intent(a: &Value) -> Vec<String> {
    let i = &a["intent"];
    if i.is_null() {
        return Vec::new();
    }
    let mut problems: Vec<String> = name_problem("intent", i["name"].as_str().unwrap_or(""))
        .into_iter()
        .collect();
    if let Some(p) = unit_problem("confidence", &i["confidence"]) {
        problems.push(p);
    }
    problems
}

fn entities(a: &Value) -> Vec<String> {
    let list = a["entities"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut problems = Vec::new();
    for (i, e) in list.iter().enumerate() {
        let kind = e["kind"].as_str().unwrap_or("");
        if let Some(p) = name_problem(&format!("entity {} kind", i + 1), kind) {
            problems.push(p);
        }
        let value = e["value"].as_str().unwrap_or("");
        if value.trim().is_empty() {
            problems.push(format!("entity {} ({kind}) has an empty value", i + 1));
        } else if value.chars().count() > MAX_VALUE {
            problems.push(format!(
                "entity {} ({kind}) is {} characters (at most {MAX_VALUE})",
                i + 1,
                value.chars().count()
            ));
        }
    }
    if list.len() > MAX_ENTITIES {
        problems.push(format!("{} entities (at most {MAX_ENTITIES})", list.len()));
    }
    problems
}

fn sentiment(a: &Value) -> Vec<String> {
    let s = &a["sentiment"];
    if s.is_null() {
        return Vec::new();
    }
    unit_problem("sentiment", s).into_iter().collect()
}

/// What is wrong with `v` as a number in [0, 1] (NaN and infinities come as text).
fn unit_problem(what: &str, v: &Value) -> Option<String> {
    match v.as_f64() {
        Some(x) if (0.0..=1.0).contains(&x) => None,
        Some(x) => Some(format!("{what} {x} is outside [0, 1]")),
        None => Some(format!(
            "{what} is {}, not a number in [0, 1]",
            v.as_str().unwrap_or("missing")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_empty_long_and_too_many_tags() {
        assert!(tags(&json!({"tags": ["refund", "price-inquiry"]})).is_empty());
        assert_eq!(
            tags(&json!({"tags": ["ok", " "]})),
            ["tag 2 \" \" is empty"]
        );
        let long = "x".repeat(MAX_NAME + 1);
        assert!(tags(&json!({"tags": [long]}))[0].contains("65 characters"));
        let many: Vec<String> = (0..=MAX_TAGS).map(|i| format!("t{i}")).collect();
        assert_eq!(tags(&json!({"tags": many})), ["33 tags (at most 32)"]);
    }

    #[test]
    fn confidences_and_sentiment_stay_in_the_unit_interval() {
        assert!(intent(&json!({"intent": {"name": "buy", "confidence": 1.0}})).is_empty());
        assert_eq!(
            intent(&json!({"intent": {"name": "buy", "confidence": 1.5}})),
            ["confidence 1.5 is outside [0, 1]"]
        );
        assert_eq!(
            sentiment(&json!({"sentiment": "NaN"})),
            ["sentiment is NaN, not a number in [0, 1]"]
        );
        assert!(sentiment(&json!({"sentiment": null})).is_empty());
    }
}
