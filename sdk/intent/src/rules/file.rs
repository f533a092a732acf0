//! The operator's rules file (TOML) for the intent classifier, validated and turned
//! into the [`Rules`] whose compact section is stored in the model. The defaults are
//! `default_rules.toml` (the seed rules: price inquiry → `sales-opportunity`, order
//! status → `logistics`, complaint → priority high).

use super::{Priority, Product, Rule, Rules};
use crate::ClassifierError;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The built-in rules, used when training without `--rules`.
pub const DEFAULT_RULES: &str = include_str!("default_rules.toml");

/// The rules file as the operator writes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    /// Tag each message with its intent (kebab-case).
    #[serde(default = "yes")]
    intent_tags: bool,
    /// Below this confidence the intent adds no tag and fires no rule.
    #[serde(default)]
    min_confidence: f32,
    /// A sentiment at or below this raises the priority to high.
    #[serde(default = "negative_threshold")]
    negative_threshold: f32,
    /// Auto-labelling rules.
    #[serde(default)]
    rules: Vec<RuleFile>,
    /// The tenant's products, found as `sku` entities.
    #[serde(default)]
    products: Vec<ProductFile>,
    /// Extra sentiment words and their valence in [-4, 4].
    #[serde(default)]
    sentiment: BTreeMap<String, f32>,
}

fn yes() -> bool {
    true
}

fn negative_threshold() -> f32 {
    Rules::default().negative_threshold
}

/// One rule as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    /// Tag to add (lowercase kebab-case).
    tag: Option<String>,
    /// Priority to raise to: low | normal | high | urgent.
    priority: Option<String>,
    /// Intents that fire the rule.
    #[serde(default)]
    intents: Vec<String>,
    /// Keywords that fire the rule (case-insensitive, matched at word starts).
    #[serde(default)]
    keywords: Vec<String>,
}

/// One product as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProductFile {
    /// The SKU.
    code: String,
    /// Names and aliases customers write (case-insensitive).
    #[serde(default)]
    names: Vec<String>,
}

fn is_tag(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('-')
        && !s.ends_with('-')
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Parses and validates a rules file; `name` names it in errors.
///
/// # Errors
/// When the TOML is invalid or a value is out of range; the message names the rule.
pub fn parse(text: &str, name: &str) -> Result<Rules, ClassifierError> {
    let bad = |message: String| ClassifierError::Rules {
        source_name: name.to_string(),
        message,
    };
    let file: RulesFile = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
    for (what, v) in [
        ("min_confidence", file.min_confidence),
        ("negative_threshold", file.negative_threshold),
    ] {
        if !(0.0..=1.0).contains(&v) {
            return Err(bad(format!("{what} = {v} is outside [0, 1]")));
        }
    }
    let mut rules = Vec::new();
    for (i, r) in file.rules.into_iter().enumerate() {
        let at = |m: &str| bad(format!("rules[{i}]: {m}"));
        if let Some(tag) = &r.tag
            && !is_tag(tag)
        {
            return Err(at(&format!("tag {tag:?} is not lowercase kebab-case")));
        }
        let priority = match &r.priority {
            None => None,
            Some(p) => Some(Priority::parse(p).ok_or_else(|| {
                at(&format!(
                    "priority {p:?} is not one of low, normal, high, urgent"
                ))
            })?),
        };
        if r.tag.is_none() && priority.is_none() {
            return Err(at("needs a tag or a priority"));
        }
        if r.intents.is_empty() && r.keywords.is_empty() {
            return Err(at("needs intents or keywords"));
        }
        rules.push(Rule {
            tag: r.tag,
            priority,
            intents: r.intents,
            keywords: r
                .keywords
                .iter()
                .map(|k| k.to_lowercase().replace('’', "'"))
                .collect(),
        });
    }
    let mut words = Vec::new();
    for (w, v) in file.sentiment {
        if !(-4.0..=4.0).contains(&v) {
            return Err(bad(format!("sentiment.{w} = {v} is outside [-4, 4]")));
        }
        words.push((w.to_lowercase(), v));
    }
    let rules = Rules {
        intent_tags: file.intent_tags,
        min_confidence: file.min_confidence,
        negative_threshold: file.negative_threshold,
        rules,
        products: file
            .products
            .into_iter()
            .map(|p| Product {
                code: p.code,
                names: p.names.iter().map(|n| n.to_lowercase()).collect(),
            })
            .collect(),
        words,
    };
    // Encoding checks what TOML allows but the section cannot hold (tabs, `|`).
    rules.encode().map_err(|e| bad(e.0))?;
    Ok(rules)
}

/// The built-in rules.
pub fn defaults() -> Rules {
    // The file is part of the binary and covered by a test, so it always parses.
    parse(DEFAULT_RULES, "default rules").unwrap_or_default()
}

/// The intents `rules` name that are not classes of the model, to warn about (a rule
/// may name intents of other models on purpose, like the defaults do).
pub fn unknown_intents<'a>(rules: &'a Rules, classes: &[String]) -> Vec<&'a str> {
    let mut out: Vec<&str> = rules
        .rules
        .iter()
        .flat_map(|r| r.intents.iter())
        .filter(|i| !classes.contains(i))
        .map(String::as_str)
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_rules_hold_the_seed_rules() {
        let r = parse(DEFAULT_RULES, "defaults").unwrap();
        let tag_of = |intent: &str| {
            r.rules
                .iter()
                .find(|x| x.intents.iter().any(|i| i == intent))
                .cloned()
                .unwrap()
        };
        assert_eq!(
            tag_of("price_inquiry").tag.as_deref(),
            Some("sales-opportunity")
        );
        assert_eq!(tag_of("track_order").tag.as_deref(), Some("logistics"));
        assert_eq!(tag_of("complaint").priority, Some(Priority::High));
        assert_eq!(defaults(), r);
    }

    #[test]
    fn reads_products_sentiment_words_and_lowercases_keywords() {
        let r = parse(
            "[[rules]]\ntag = \"vip\"\nkeywords = [\"Gold Member\"]\n\
             [[products]]\ncode = \"BAG-RED-01\"\nnames = [\"Borsa Rossa\"]\n\
             [sentiment]\nfantastico = 3.5\n",
            "r.toml",
        )
        .unwrap();
        assert_eq!(r.rules[0].keywords, ["gold member"]);
        assert_eq!(r.products[0].names, ["borsa rossa"]);
        assert_eq!(r.words, [("fantastico".to_string(), 3.5)]);
        assert!(r.intent_tags);
    }

    #[test]
    fn names_the_rule_that_is_wrong() {
        let err = parse("[[rules]]\ntag = \"VIP\"\nkeywords = [\"x\"]\n", "r.toml").unwrap_err();
        assert_eq!(
            err.to_string(),
            "rules r.toml: rules[0]: tag \"VIP\" is not lowercase kebab-case"
        );
        let err = parse(
            "[[rules]]\ntag = \"a\"\npriority = \"asap\"\nintents = [\"x\"]\n",
            "r.toml",
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("rules[0]: priority \"asap\""),
            "{err}"
        );
        let err = parse("[[rules]]\ntag = \"a\"\n", "r.toml").unwrap_err();
        assert!(
            err.to_string().contains("needs intents or keywords"),
            "{err}"
        );
        let err = parse("min_confidence = 2.0\n", "r.toml").unwrap_err();
        assert!(err.to_string().contains("outside [0, 1]"), "{err}");
        let err = parse("colour = \"red\"\n", "r.toml").unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
    }

    #[test]
    fn lists_intents_the_model_does_not_know() {
        let r = defaults();
        let classes = vec!["complaint".to_string(), "track_order".to_string()];
        let unknown = unknown_intents(&r, &classes);
        assert!(unknown.contains(&"price_inquiry"));
        assert!(!unknown.contains(&"complaint"));
    }
}
