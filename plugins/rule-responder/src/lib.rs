//! Reference responder: rules on the message's tags and text become actions.
//!
//! ```toml
//! [[rules]]
//! when_tags = ["price-inquiry"]         # any of these tags (from the classifier)
//! when_keywords = ["opening hours"]     # or any of these words in the text
//! reply = "Our price list: https://example.com/prices"
//! template = { name = "price_list", language = "en_US", parameters = [] }
//! assign = "sales"
//! tag = "auto-replied"
//! once_per_conversation = true          # remembered in the plugin's key-value store
//! ```
//!
//! A rule needs a `when_tags` or `when_keywords` condition and at least one action.

use scrm_plugin_sdk::{Action, Event, RespondError, Responder, TemplateSend};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default)]
    rules: Vec<Rule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rule {
    #[serde(default)]
    when_tags: Vec<String>,
    #[serde(default)]
    when_keywords: Vec<String>,
    reply: Option<String>,
    template: Option<Template>,
    assign: Option<String>,
    tag: Option<String>,
    #[serde(default)]
    once_per_conversation: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Template {
    name: String,
    language: String,
    #[serde(default)]
    parameters: Vec<String>,
}

/// The exported responder.
#[derive(Debug)]
pub struct RuleResponder;

impl Responder for RuleResponder {
    fn respond(e: Event) -> Result<Vec<Action>, RespondError> {
        let config: Config = scrm_plugin_sdk::config::parse()
            .map_err(RespondError::InvalidConfig)?
            .unwrap_or(Config { rules: Vec::new() });
        let tags: Vec<String> = e
            .classification
            .as_ref()
            .map(|c| c.tags.clone())
            .unwrap_or_default();
        let text = e.message.content.text().unwrap_or("").to_lowercase();
        let mut actions = Vec::new();
        for (i, rule) in config.rules.iter().enumerate() {
            validate(i, rule)?;
            let hit = rule.when_tags.iter().any(|t| tags.contains(t))
                || rule
                    .when_keywords
                    .iter()
                    .any(|k| text.contains(&k.to_lowercase()));
            if !hit {
                continue;
            }
            if rule.once_per_conversation {
                let key = format!("replied/{}/{i}", e.conversation.id);
                let seen = scrm_plugin_sdk::kv::get(&key)
                    .map_err(|e| RespondError::Failed(format!("kv: {e:?}")))?;
                if seen.is_some() {
                    continue;
                }
                let now = scrm_plugin_sdk::clock::now_ms().to_string();
                scrm_plugin_sdk::kv::set(&key, now.as_bytes())
                    .map_err(|e| RespondError::Failed(format!("kv: {e:?}")))?;
            }
            actions.extend(rule_actions(rule));
        }
        Ok(actions)
    }
}

fn validate(i: usize, rule: &Rule) -> Result<(), RespondError> {
    if rule.when_tags.is_empty() && rule.when_keywords.is_empty() {
        return Err(RespondError::InvalidConfig(format!(
            "rules[{i}] needs when_tags or when_keywords"
        )));
    }
    if rule_actions(rule).is_empty() {
        return Err(RespondError::InvalidConfig(format!(
            "rules[{i}] needs an action: reply, template, assign or tag"
        )));
    }
    Ok(())
}

fn rule_actions(rule: &Rule) -> Vec<Action> {
    let mut out = Vec::new();
    if let Some(t) = &rule.tag {
        out.push(Action::Tag(t.clone()));
    }
    if let Some(r) = &rule.reply {
        out.push(Action::Reply(r.clone()));
    }
    if let Some(t) = &rule.template {
        out.push(Action::Template(TemplateSend {
            name: t.name.clone(),
            language: t.language.clone(),
            parameters: t.parameters.clone(),
        }));
    }
    if let Some(a) = &rule.assign {
        out.push(Action::Assign(a.clone()));
    }
    out
}

scrm_plugin_sdk::export_responder!(RuleResponder);
