//! {{name}}: a scrm classifier. Each rule of the binding's configuration tags the
//! messages whose text contains one of its words, ignoring case (see `config.toml`).

use scrm_plugin_sdk::{Classification, Classifier, ClassifyError, Contact, Message};
use serde::Deserialize;

/// The binding's configuration, TOML or JSON.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The rules, in order.
    #[serde(default)]
    pub rules: Vec<Rule>,
}

/// One rule: a tag for the messages that contain any of its words.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// The tag.
    pub tag: String,
    /// The words or phrases, matched anywhere in the text, ignoring case.
    pub words: Vec<String>,
}

/// The tags of `text` under `config`: each matching rule's tag once, in rule order.
pub fn tags_for(config: &Config, text: &str) -> Vec<String> {
    let text = text.to_lowercase();
    let mut tags: Vec<String> = Vec::new();
    for rule in &config.rules {
        let hit = rule.words.iter().any(|w| text.contains(&w.to_lowercase()));
        if hit && !rule.tag.is_empty() && !tags.contains(&rule.tag) {
            tags.push(rule.tag.clone());
        }
    }
    tags
}

struct Plugin;

impl Classifier for Plugin {
    fn classify(msg: Message, _sender: Contact) -> Result<Classification, ClassifyError> {
        let config: Config = scrm_plugin_sdk::config::parse()
            .map_err(ClassifyError::InvalidConfig)?
            .unwrap_or_default();
        let tags = msg
            .content
            .text()
            .map(|text| tags_for(&config, text))
            .unwrap_or_default();
        Ok(Classification {
            tags,
            ..Classification::default()
        })
    }
}

scrm_plugin_sdk::export_classifier!(Plugin);

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        scrm_plugin_sdk::config::parse_bytes(include_bytes!("../config.toml"))
            .expect("config.toml is valid")
            .expect("config.toml is not empty")
    }

    #[test]
    fn the_sample_config_tags_a_refund_request() {
        assert_eq!(tags_for(&config(), "I want my MONEY BACK"), ["refund"]);
        assert!(tags_for(&config(), "hello").is_empty());
    }
}
