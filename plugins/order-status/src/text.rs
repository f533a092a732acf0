//! Recognising the question, and handing the host's template language the values
//! this flow looked up.
//!
//! The flow's messages are in the host's template language, rendered by the host
//! with the contact, its CRM fields and the flow's parameters. What the flow found
//! (the order, the parcel) goes in front of the message as `{% set order = {…} %}
//! {% set parcel = {…} %}`, each value a JSON string literal, which the template
//! language reads the same way: so a courier's text can never be read as template
//! syntax.

use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The text folded for matching: lowercase, typographic apostrophes made plain,
/// runs of white space made one space.
pub fn fold(text: &str) -> String {
    text.to_lowercase()
        .replace(['’', '‘', '`', '´'], "'")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// True when `phrase` occurs in `text` as whole words (both folded).
pub fn has_phrase(text: &str, phrase: &str) -> bool {
    if phrase.is_empty() {
        return false;
    }
    text.match_indices(phrase).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + phrase.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

/// The language whose keywords `text` contains (keywords by language code), if any.
pub fn asked_in(text: &str, keywords: &BTreeMap<String, Vec<String>>) -> Option<String> {
    let text = fold(text);
    keywords
        .iter()
        .find(|(_, words)| words.iter().any(|k| has_phrase(&text, &fold(k))))
        .map(|(lang, _)| lang.clone())
}

/// A JSON object without its null members: the template language has no `null`,
/// and a missing member reads as missing, which templates test with `if`.
fn without_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect::<Map<_, _>>(),
        ),
        other => other.clone(),
    }
}

/// `{% set order = … %}{% set parcel = … %}` for the values given (JSON objects).
pub fn prelude(order: &Value, parcel: &Value) -> String {
    format!(
        "{{% set order = {} %}}{{% set parcel = {} %}}",
        without_nulls(order),
        without_nulls(parcel)
    )
}

/// `value` as a template parameter the host renders as it is: plain text stays,
/// text with template syntax in it becomes a string expression.
pub fn literal(value: &str) -> String {
    if ["{{", "{%", "{#"].iter().any(|m| value.contains(m)) {
        format!("{{{{ {} }}}}", Value::from(value))
    } else {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn keywords() -> BTreeMap<String, Vec<String>> {
        serde_json::from_value(json!({
            "en": ["where is my order", "where is my parcel"],
            "it": ["dov'è il mio pacco", "dov'è il mio ordine"]}))
        .unwrap()
    }

    #[test]
    fn the_question_is_found_in_either_language_however_typed() {
        let k = keywords();
        assert_eq!(asked_in("Dov’è il mio   pacco?", &k).as_deref(), Some("it"));
        assert_eq!(asked_in("Hi! Where is my ORDER", &k).as_deref(), Some("en"));
        assert_eq!(asked_in("where is my orderly friend", &k), None);
        assert_eq!(asked_in("quanto costa?", &k), None);
    }

    #[test]
    fn values_travel_as_literals_without_nulls() {
        let p = prelude(
            &json!({"number": "SO1"}),
            &json!({"status": "a {{ x }}", "link": null}),
        );
        assert_eq!(
            p,
            "{% set order = {\"number\":\"SO1\"} %}{% set parcel = {\"status\":\"a {{ x }}\"} %}"
        );
        assert_eq!(literal("https://x/1"), "https://x/1");
        assert_eq!(literal("{{ evil }}"), "{{ \"{{ evil }}\" }}");
    }
}
