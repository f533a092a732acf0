//! A classifier built against the first released WIT version, `scrm:plugin@0.1.0`
//! (`tests/compat/wit-0.1.0`, a copy of the released files), so the tests can prove
//! that the current host still loads and calls it. It uses every capability 0.1.0
//! gives a classifier:
//!
//! - `config`: lines `keyword: tag` (blank lines ignored; any other line is refused
//!   as `invalid-config`);
//! - `kv`: counts the messages it has seen (the `seen` entity);
//! - `clock`: the `clock` entity is `ok` when the host's clock reads after 2020;
//! - `log`: one record per message.
//!
//! Tags are those of the rules whose keyword the text contains (case-insensitive);
//! priority `high` when any matched.

#[allow(missing_docs, missing_debug_implementations, unsafe_code)]
mod bindings {
    wit_bindgen::generate!({
        path: "../wit-0.1.0",
        world: "classifier",
        generate_all,
    });
}

use bindings::exports::scrm::plugin::classify::{ClassifyError, Guest};
use bindings::scrm::plugin::types::{Classification, Contact, Content, Entity, Message, Priority};
use bindings::scrm::plugin::{clock, config, kv, log};

/// The rules of a configuration: `(keyword, tag)`, keywords lowercased.
///
/// # Errors
/// The first line that is not `keyword: tag`.
pub fn rules(config: &str) -> Result<Vec<(String, String)>, String> {
    let mut rules = Vec::new();
    for (n, line) in config.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        match line.split_once(':') {
            Some((k, t)) if !k.trim().is_empty() && !t.trim().is_empty() => {
                rules.push((k.trim().to_lowercase(), t.trim().to_string()));
            }
            _ => {
                return Err(format!(
                    "line {}: expected `keyword: tag`, got {line:?}",
                    n + 1
                ));
            }
        }
    }
    Ok(rules)
}

struct Compat;

impl Guest for Compat {
    fn classify(msg: Message, _sender: Contact) -> Result<Classification, ClassifyError> {
        let text = String::from_utf8_lossy(&config::get()).into_owned();
        let rules = rules(&text).map_err(ClassifyError::InvalidConfig)?;
        let body = match &msg.content {
            Content::Text(t) => t.to_lowercase(),
            _ => String::new(),
        };
        let tags: Vec<String> = rules
            .iter()
            .filter(|(k, _)| body.contains(k.as_str()))
            .map(|(_, t)| t.clone())
            .collect();
        let seen = match kv::get("seen") {
            Ok(Some(v)) => String::from_utf8_lossy(&v).parse::<u64>().unwrap_or(0) + 1,
            Ok(None) => 1,
            Err(e) => return Err(ClassifyError::Failed(format!("kv: {e:?}"))),
        };
        kv::set("seen", seen.to_string().as_bytes())
            .map_err(|e| ClassifyError::Failed(format!("kv: {e:?}")))?;
        let clock = if clock::now() > 1_577_836_800_000 {
            "ok"
        } else {
            "wrong"
        };
        log::write(
            log::Level::Info,
            "classified",
            &[("wamid".to_string(), msg.id.clone())],
        );
        Ok(Classification {
            priority: (!tags.is_empty()).then_some(Priority::High),
            tags,
            intent: None,
            entities: vec![
                Entity {
                    kind: "seen".into(),
                    value: seen.to_string(),
                },
                Entity {
                    kind: "clock".into(),
                    value: clock.into(),
                },
            ],
            sentiment: None,
        })
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
        let r = rules("Price: pricing\n\n  refund : complaint ").unwrap();
        assert_eq!(
            r,
            [
                ("price".into(), "pricing".into()),
                ("refund".into(), "complaint".into())
            ]
        );
        assert!(rules("just words").unwrap_err().starts_with("line 1:"));
    }
}
