//! {{name}}: a scrm responder. The first rule of the binding's configuration whose
//! words the message contains (ignoring case) answers it and tags it (see
//! `config.toml`).

use scrm_plugin_sdk::{Action, Event, RespondError, Responder};
use serde::Deserialize;

/// The binding's configuration, TOML or JSON.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The rules, in order: the first that matches answers.
    #[serde(default)]
    pub rules: Vec<Rule>,
}

/// One rule: the words or phrases that trigger it, the reply and an optional tag.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Matched anywhere in the text, ignoring case.
    pub words: Vec<String>,
    /// The text to answer with.
    pub reply: String,
    /// A tag for the message and its conversation.
    #[serde(default)]
    pub tag: Option<String>,
}

/// What to do about a message with `text` under `config`: the first matching rule's
/// tag and reply, or nothing.
pub fn actions_for(config: &Config, text: &str) -> Vec<Action> {
    let text = text.to_lowercase();
    let Some(rule) = config
        .rules
        .iter()
        .find(|r| r.words.iter().any(|w| text.contains(&w.to_lowercase())))
    else {
        return Vec::new();
    };
    let mut actions = Vec::new();
    if let Some(tag) = rule.tag.as_ref().filter(|t| !t.is_empty()) {
        actions.push(Action::Tag(tag.clone()));
    }
    actions.push(Action::Reply(rule.reply.clone()));
    actions
}

struct Plugin;

impl Responder for Plugin {
    fn respond(e: Event) -> Result<Vec<Action>, RespondError> {
        let config: Config = scrm_plugin_sdk::config::parse()
            .map_err(RespondError::InvalidConfig)?
            .unwrap_or_default();
        Ok(e.message
            .content
            .text()
            .map(|text| actions_for(&config, text))
            .unwrap_or_default())
    }
}

scrm_plugin_sdk::export_responder!(Plugin);

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        scrm_plugin_sdk::config::parse_bytes(include_bytes!("../config.toml"))
            .expect("config.toml is valid")
            .expect("config.toml is not empty")
    }

    #[test]
    fn the_sample_config_answers_a_refund_request() {
        let actions = actions_for(&config(), "I want my MONEY BACK");
        assert!(matches!(&actions[..], [Action::Tag(t), Action::Reply(r)]
            if t == "refund" && r.contains("refund")));
        assert!(actions_for(&config(), "hello").is_empty());
    }
}
