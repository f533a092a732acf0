//! Rule parsing and matching, independent of the WIT bindings so it can be unit
//! tested natively.

use scrm_plugin_sdk::{Classification, Intent, Priority};
use serde::Deserialize;

/// The plugin's configuration as the operator writes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// Keep the built-in rules.
    #[serde(default = "yes")]
    defaults: bool,
    /// Extra rules, checked after the built-in ones.
    #[serde(default)]
    rules: Vec<RuleConfig>,
}

fn yes() -> bool {
    true
}

/// One rule as written in the configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleConfig {
    tag: String,
    #[serde(default)]
    keywords: Vec<String>,
    regex: Option<String>,
    priority: Option<String>,
    intent: Option<String>,
}

/// A compiled rule.
#[derive(Debug)]
struct Rule {
    tag: String,
    intent: String,
    keywords: Vec<String>,
    regex: Option<regex_lite::Regex>,
    priority: Option<Priority>,
}

/// The rules of one binding, ready to match.
#[derive(Debug)]
pub struct RuleSet {
    rules: Vec<Rule>,
}

impl RuleSet {
    /// Builds the rule set from the raw binding configuration (empty: built-ins).
    pub fn from_config(raw: &[u8]) -> Result<RuleSet, String> {
        let config = scrm_plugin_sdk::config::parse_bytes::<Config>(raw)?.unwrap_or(Config {
            defaults: true,
            rules: Vec::new(),
        });
        let mut rules = if config.defaults {
            builtin()
        } else {
            Vec::new()
        };
        for (i, rule) in config.rules.into_iter().enumerate() {
            rules.push(compile(rule).map_err(|e| format!("rules[{i}]: {e}"))?);
        }
        Ok(RuleSet { rules })
    }

    /// Applies every rule to `text`; each matching rule adds its tag once. The first
    /// matching rule gives the intent; the highest priority of the matches wins.
    pub fn classify(&self, text: &str) -> Classification {
        let text = normalise(text);
        let mut out = Classification::default();
        for rule in &self.rules {
            let hit = rule
                .keywords
                .iter()
                .any(|k| contains_at_word_start(&text, k))
                || rule.regex.as_ref().is_some_and(|re| re.is_match(&text));
            if !hit {
                continue;
            }
            if !out.tags.contains(&rule.tag) {
                out.tags.push(rule.tag.clone());
            }
            if out.intent.is_none() {
                out.intent = Some(Intent {
                    name: rule.intent.clone(),
                    confidence: 1.0,
                });
            }
            if let Some(p) = rule.priority
                && out.priority.is_none_or(|q| rank(p) > rank(q))
            {
                out.priority = Some(p);
            }
        }
        out
    }
}

fn builtin() -> Vec<Rule> {
    let rule = |tag: &str, keywords: &[&str], priority: Option<Priority>| Rule {
        tag: tag.to_string(),
        intent: tag.to_string(),
        keywords: keywords.iter().map(|k| normalise(k)).collect(),
        regex: None,
        priority,
    };
    vec![
        rule(
            "price-inquiry",
            &[
                "how much",
                "quanto costa",
                "quanto costano",
                "price",
                "prezzo",
            ],
            None,
        ),
        rule(
            "order-status",
            &[
                "where is my order",
                "where's my order",
                "dov'è il mio pacco",
                "dove è il mio pacco",
                "dov'è il mio ordine",
            ],
            None,
        ),
        rule(
            "complaint",
            &["complaint", "reclamo", "refund", "rimborso"],
            Some(Priority::High),
        ),
    ]
}

fn compile(rule: RuleConfig) -> Result<Rule, String> {
    if rule.tag.trim().is_empty() {
        return Err("tag must not be empty".into());
    }
    if rule.keywords.is_empty() && rule.regex.is_none() {
        return Err(format!("rule {:?} needs keywords or a regex", rule.tag));
    }
    let regex = rule
        .regex
        .map(|r| {
            regex_lite::RegexBuilder::new(&r)
                .case_insensitive(true)
                .build()
                .map_err(|e| format!("invalid regex {r:?}: {e}"))
        })
        .transpose()?;
    let priority = rule
        .priority
        .map(|p| match p.as_str() {
            "low" => Ok(Priority::Low),
            "normal" => Ok(Priority::Normal),
            "high" => Ok(Priority::High),
            "urgent" => Ok(Priority::Urgent),
            other => Err(format!(
                "unknown priority {other:?} (low, normal, high, urgent)"
            )),
        })
        .transpose()?;
    Ok(Rule {
        intent: rule.intent.unwrap_or_else(|| rule.tag.clone()),
        tag: rule.tag,
        keywords: rule.keywords.iter().map(|k| normalise(k)).collect(),
        regex,
        priority,
    })
}

fn rank(p: Priority) -> u8 {
    match p {
        Priority::Low => 0,
        Priority::Normal => 1,
        Priority::High => 2,
        Priority::Urgent => 3,
    }
}

/// Lowercases, unifies apostrophes and collapses white space so that "Dov’è  il"
/// matches "dov'è il".
fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last_space = true;
    for c in text.chars().flat_map(char::to_lowercase) {
        let c = match c {
            '\u{2019}' | '\u{2018}' | '`' | '\u{00b4}' => '\'',
            c => c,
        };
        if c.is_whitespace() {
            if !last_space {
                out.push(' ');
            }
            last_space = true;
        } else {
            out.push(c);
            last_space = false;
        }
    }
    out
}

/// True when `needle` occurs in `hay` starting at a word boundary ("price" matches
/// "prices" but not "spice").
fn contains_at_word_start(hay: &str, needle: &str) -> bool {
    hay.match_indices(needle).any(|(i, _)| {
        hay[..i]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(rules: &RuleSet, text: &str) -> Vec<String> {
        rules.classify(text).tags
    }

    #[test]
    fn builtin_rules_tag_english_and_italian() {
        let r = RuleSet::from_config(b"").unwrap();
        assert_eq!(tags(&r, "How much is the blue one?"), ["price-inquiry"]);
        assert_eq!(tags(&r, "Ciao, quanto costa?"), ["price-inquiry"]);
        assert_eq!(tags(&r, "What's the PRICE"), ["price-inquiry"]);
        assert_eq!(tags(&r, "Hi, where is my order??"), ["order-status"]);
        assert_eq!(tags(&r, "Dov’è il mio pacco?"), ["order-status"]);
        assert_eq!(tags(&r, "I want a refund"), ["complaint"]);
        assert_eq!(tags(&r, "Faccio reclamo"), ["complaint"]);
        assert!(tags(&r, "Does it come in another color?").is_empty());
        assert!(tags(&r, "spice").is_empty());
    }

    #[test]
    fn complaint_is_high_priority_and_first_rule_gives_intent() {
        let r = RuleSet::from_config(b"").unwrap();
        let c = r.classify("How much was it? I want a refund");
        assert_eq!(c.tags, ["price-inquiry", "complaint"]);
        assert_eq!(c.intent.unwrap().name, "price-inquiry");
        assert_eq!(c.priority, Some(Priority::High));
    }

    #[test]
    fn config_rules_extend_or_replace_builtins() {
        let conf = br#"
defaults = false
[[rules]]
tag = "vip"
regex = "order\\s*#?\\d{6}"
priority = "urgent"
"#;
        let r = RuleSet::from_config(conf).unwrap();
        assert_eq!(tags(&r, "about ORDER #123456"), ["vip"]);
        assert!(tags(&r, "how much").is_empty());
        let json = br#"{"rules":[{"tag":"greeting","keywords":["hello"]}]}"#;
        let r = RuleSet::from_config(json).unwrap();
        assert_eq!(tags(&r, "Hello! how much?"), ["price-inquiry", "greeting"]);
    }

    #[test]
    fn rejects_bad_config_with_the_reason() {
        let err = RuleSet::from_config(b"[[rules]]\ntag = \"x\"\n").unwrap_err();
        assert!(err.contains("needs keywords or a regex"), "{err}");
        let err = RuleSet::from_config(b"[[rules]]\ntag = \"x\"\nregex = \"(\"\n").unwrap_err();
        assert!(err.contains("invalid regex"), "{err}");
        let err = RuleSet::from_config(b"colour = 1").unwrap_err();
        assert!(err.contains("unknown field"), "{err}");
    }
}
