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

/// A rule compiled from the configuration.
#[derive(Debug)]
struct Rule {
    tag: String,
    intent: String,
    keywords: Vec<String>,
    regex: Option<regex_lite::Regex>,
    priority: Option<Priority>,
}

/// A built-in rule: static, already normalised, so a call with no configuration
/// builds nothing.
struct Builtin {
    tag: &'static str,
    keywords: &'static [&'static str],
    priority: Option<Priority>,
}

/// The built-in English/Italian rules. Keywords are written normalised (lowercase,
/// `'` apostrophes, single spaces); a unit test checks that.
const BUILTIN: [Builtin; 3] = [
    Builtin {
        tag: "price-inquiry",
        keywords: &[
            "how much",
            "quanto costa",
            "quanto costano",
            "price",
            "prezzo",
        ],
        priority: None,
    },
    Builtin {
        tag: "order-status",
        keywords: &[
            "where is my order",
            "where's my order",
            "dov'è il mio pacco",
            "dove è il mio pacco",
            "dov'è il mio ordine",
        ],
        priority: None,
    },
    Builtin {
        tag: "complaint",
        keywords: &["complaint", "reclamo", "refund", "rimborso"],
        priority: Some(Priority::High),
    },
];

/// The rules of one binding, ready to match.
#[derive(Debug)]
pub struct RuleSet {
    defaults: bool,
    rules: Vec<Rule>,
}

impl RuleSet {
    /// Builds the rule set from the raw binding configuration (empty: built-ins).
    /// An empty configuration costs no parsing and no allocation.
    pub fn from_config(raw: &[u8]) -> Result<RuleSet, String> {
        let Some(config) = scrm_plugin_sdk::config::parse_bytes::<Config>(raw)? else {
            return Ok(RuleSet {
                defaults: true,
                rules: Vec::new(),
            });
        };
        let rules = config
            .rules
            .into_iter()
            .enumerate()
            .map(|(i, rule)| compile(rule).map_err(|e| format!("rules[{i}]: {e}")))
            .collect::<Result<_, _>>()?;
        Ok(RuleSet {
            defaults: config.defaults,
            rules,
        })
    }

    /// Applies every rule to `text`; each matching rule adds its tag once. The first
    /// matching rule gives the intent; the highest priority of the matches wins.
    pub fn classify(&self, text: &str) -> Classification {
        let text = normalise(text);
        let mut out = Classification::default();
        let mut hit = |tag: &str, intent: &str, priority: Option<Priority>| {
            if !out.tags.iter().any(|t| t == tag) {
                out.tags.push(tag.to_string());
            }
            if out.intent.is_none() {
                out.intent = Some(Intent {
                    name: intent.to_string(),
                    confidence: 1.0,
                });
            }
            if let Some(p) = priority
                && out.priority.is_none_or(|q| rank(p) > rank(q))
            {
                out.priority = Some(p);
            }
        };
        if self.defaults {
            for rule in &BUILTIN {
                if rule
                    .keywords
                    .iter()
                    .any(|k| contains_at_word_start(&text, k))
                {
                    hit(rule.tag, rule.tag, rule.priority);
                }
            }
        }
        for rule in &self.rules {
            if rule
                .keywords
                .iter()
                .any(|k| contains_at_word_start(&text, k))
                || rule.regex.as_ref().is_some_and(|re| re.is_match(&text))
            {
                hit(&rule.tag, &rule.intent, rule.priority);
            }
        }
        out
    }
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
/// matches "dov'è il". ASCII text (the common case) takes a byte-wise path.
fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last_space = true;
    if text.is_ascii() {
        for b in text.bytes() {
            // `char::is_whitespace`, as below (it includes the vertical tab).
            if (b as char).is_whitespace() {
                if !last_space {
                    out.push(' ');
                }
                last_space = true;
            } else {
                out.push(match b {
                    b'`' => '\'',
                    b => b.to_ascii_lowercase() as char,
                });
                last_space = false;
            }
        }
        return out;
    }
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
    let Some(&first) = needle.as_bytes().first() else {
        return true;
    };
    let bytes = hay.as_bytes();
    // Candidate starts are the needle's first byte; a plain scan beats building a
    // substring searcher for messages of a few dozen bytes.
    (0..bytes.len()).filter(|&i| bytes[i] == first).any(|i| {
        bytes[i..].starts_with(needle.as_bytes())
            && hay[..i]
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
    fn builtin_keywords_are_written_normalised() {
        for rule in &BUILTIN {
            for k in rule.keywords {
                assert_eq!(normalise(k), *k);
            }
        }
    }

    #[test]
    fn ascii_and_unicode_text_normalise_alike() {
        assert_eq!(normalise("  How   MUCH\tis `it`  "), "how much is 'it' ");
        assert_eq!(normalise("Dov’è  IL\u{a0}mio"), "dov'è il mio");
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
