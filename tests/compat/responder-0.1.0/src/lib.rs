//! A responder built against the first released WIT version, `scrm:plugin@0.1.0`
//! (`tests/compat/wit-0.1.0`), so the tests can prove that the current host still
//! loads and calls it.
//!
//! Config: lines `keyword: reply` (blank lines ignored; any other line is refused as
//! `invalid-config`). For a text containing a keyword (case-insensitive) it answers
//! with the reply, tags the conversation `answered` and sets the contact field
//! `last_keyword`; otherwise it does nothing.

#[allow(missing_docs, missing_debug_implementations, unsafe_code)]
mod bindings {
    wit_bindgen::generate!({
        path: "../wit-0.1.0",
        world: "responder",
        generate_all,
    });
}

use bindings::exports::scrm::plugin::respond::{Action, Event, Guest, RespondError};
use bindings::scrm::plugin::config;
use bindings::scrm::plugin::types::{Content, FieldValue};

/// The rules of a configuration: `(keyword, reply)`, keywords lowercased.
///
/// # Errors
/// The first line that is not `keyword: reply`.
pub fn rules(config: &str) -> Result<Vec<(String, String)>, String> {
    let mut rules = Vec::new();
    for (n, line) in config.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        match line.split_once(':') {
            Some((k, r)) if !k.trim().is_empty() && !r.trim().is_empty() => {
                rules.push((k.trim().to_lowercase(), r.trim().to_string()));
            }
            _ => {
                return Err(format!(
                    "line {}: expected `keyword: reply`, got {line:?}",
                    n + 1
                ));
            }
        }
    }
    Ok(rules)
}

struct Compat;

impl Guest for Compat {
    fn respond(e: Event) -> Result<Vec<Action>, RespondError> {
        let text = String::from_utf8_lossy(&config::get()).into_owned();
        let rules = rules(&text).map_err(RespondError::InvalidConfig)?;
        let body = match &e.message.content {
            Content::Text(t) => t.to_lowercase(),
            _ => return Ok(Vec::new()),
        };
        let Some((keyword, reply)) = rules.iter().find(|(k, _)| body.contains(k.as_str())) else {
            return Ok(Vec::new());
        };
        Ok(vec![
            Action::Reply(reply.clone()),
            Action::Tag("answered".into()),
            Action::SetField(("last_keyword".into(), FieldValue::Text(keyword.clone()))),
        ])
    }
}

/// The generated export glue is unsafe code (the canonical ABI).
#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)]
mod export {
    use super::Compat;
    crate::bindings::export!(Compat with_types_in crate::bindings);
}

#[cfg(test)]
mod tests {
    use super::rules;

    #[test]
    fn reads_rules_and_refuses_other_lines() {
        let r = rules("Hours: 9 to 5").unwrap();
        assert_eq!(r, [("hours".into(), "9 to 5".into())]);
        assert!(rules("x").is_err());
    }
}
