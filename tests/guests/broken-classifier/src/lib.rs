//! A classifier with one defect, chosen by its config, for proving that `scrm
//! plugin test` names the check each defect breaks: `defect = "none" | "empty-tag"
//! | "emoji-trap" | "random" | "confidence"`. With `none` it tags every message
//! `seen` with a confident `greeting` intent and passes every check.

use scrm_plugin_sdk::{Classification, Classifier, ClassifyError, Contact, Intent, Message};
use serde::Deserialize;
use std::hash::BuildHasher;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    defect: String,
}

/// The exported classifier.
#[derive(Debug)]
pub struct Broken;

impl Classifier for Broken {
    fn classify(msg: Message, _sender: Contact) -> Result<Classification, ClassifyError> {
        let config: Config = scrm_plugin_sdk::config::parse()
            .map_err(ClassifyError::InvalidConfig)?
            .ok_or_else(|| ClassifyError::InvalidConfig("defect is required".into()))?;
        let mut answer = Classification {
            tags: vec!["seen".into()],
            intent: Some(Intent {
                name: "greeting".into(),
                confidence: 0.9,
            }),
            ..Classification::default()
        };
        match config.defect.as_str() {
            "none" => {}
            "empty-tag" => answer.tags.push(String::new()),
            "emoji-trap" => {
                let text = msg.content.text().unwrap_or("");
                if emoji_only(text) {
                    panic!("cannot classify pictures");
                }
            }
            // Seeded from the host's random source: a new value in every instance.
            "random" => answer.tags.push(format!(
                "n{:x}",
                std::collections::hash_map::RandomState::new().hash_one(1u8)
            )),
            "confidence" => {
                if let Some(i) = answer.intent.as_mut() {
                    i.confidence = 1.5;
                }
            }
            other => {
                return Err(ClassifyError::InvalidConfig(format!(
                    "unknown defect {other:?}"
                )));
            }
        }
        Ok(answer)
    }
}

scrm_plugin_sdk::export_classifier!(Broken);

/// Text with something in it, all of it pictographs (no letter, digit or space).
fn emoji_only(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| !c.is_alphanumeric() && !c.is_whitespace() && !c.is_ascii())
}

#[cfg(test)]
mod tests {
    #[test]
    fn tells_emoji_only_text() {
        assert!(super::emoji_only("😀🔥👍🏽"));
        assert!(!super::emoji_only("ok 😀"));
        assert!(!super::emoji_only(""));
    }
}
