//! Rule parsing and matching, independent of the WIT bindings so it can be unit
//! tested natively.

use scrm_plugin_sdk::{Classification, Entity, Intent, Priority};
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
const BUILTIN: [Builtin; 5] = [
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
    Builtin {
        tag: "purchase-intent",
        keywords: PURCHASE,
        priority: None,
    },
    Builtin {
        tag: "discount-inquiry",
        keywords: DISCOUNT,
        priority: None,
    },
];

/// Discount questions. "sconto" and "sconti" are listed apart, not as "scont", which
/// would also match "scontrino" (a receipt).
const DISCOUNT: &[&str] = &[
    "sconto",
    "sconti",
    "scontat",
    "scontistica",
    "codice promo",
    "promozione",
    "promozioni",
    "discount",
    "coupon",
    "promo code",
    "voucher",
];

/// Purchase intent: a verb of buying; what follows it names the product.
const PURCHASE: &[&str] = &[
    "voglio acquistare",
    "vorrei acquistare",
    "voglio comprare",
    "vorrei comprare",
    "voglio ordinare",
    "vorrei ordinare",
    "i want to buy",
    "i'd like to buy",
    "i would like to buy",
    "i want to order",
    "i'd like to order",
    "i would like to order",
    "i want to purchase",
    "i'd like to purchase",
    "i would like to purchase",
];

/// Words skipped before a product's name: articles and demonstratives.
const ARTICLES: &[&str] = &[
    "il", "lo", "la", "i", "gli", "le", "un", "uno", "una", "del", "della", "dello", "dei",
    "degli", "delle", "questo", "questa", "quel", "quello", "quella", "the", "a", "an", "this",
    "that", "some", "your",
];

/// Words that end a product's name: courtesy and time words.
const AFTER_PRODUCT: &[&str] = &[
    "per", "please", "grazie", "thanks", "thank", "for", "by", "entro", "oggi", "domani", "today",
    "tomorrow", "asap", "subito", "ma", "but", "e", "and",
];

/// The longest product name taken, in words.
const PRODUCT_WORDS: usize = 6;

/// The product named after a purchase phrase in `text` ("Voglio acquistare il
/// prodotto A" → "prodotto A"), in the customer's own spelling: leading articles
/// dropped, cut at punctuation, a courtesy word or [`PRODUCT_WORDS`] words.
fn product_after(text: &str, normalised: &str) -> Option<String> {
    let end = PURCHASE
        .iter()
        .filter_map(|k| find_at_word_start(normalised, k).map(|at| at + k.len()))
        .min()?;
    // Normalising only lowercases and collapses white space, so the n-th word of
    // the normalised text is the n-th word of the original.
    let consumed = normalised[..end].split_whitespace().count();
    let mut words = text.split_whitespace().skip(consumed).peekable();
    while let Some(w) = words.peek() {
        let lower = w.to_lowercase();
        if ARTICLES.contains(&lower.as_str()) {
            words.next();
        } else {
            break;
        }
    }
    let mut product: Vec<&str> = Vec::new();
    for (i, w) in words.enumerate() {
        // "l'iPhone", "un'auto": the article is part of the word.
        let w = if i == 0 {
            w.split_once(['\'', '\u{2019}'])
                .filter(|(a, _)| ["l", "un", "dell", "quell"].contains(&a.to_lowercase().as_str()))
                .map_or(w, |(_, rest)| rest)
        } else {
            w
        };
        let trimmed = w.trim_end_matches(|c: char| !c.is_alphanumeric());
        if AFTER_PRODUCT.contains(&trimmed.to_lowercase().as_str()) || trimmed.is_empty() {
            break;
        }
        product.push(trimmed);
        if trimmed.len() != w.len() || product.len() == PRODUCT_WORDS {
            break;
        }
    }
    (!product.is_empty()).then(|| product.join(" "))
}

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
        let original = text;
        let text = normalise(text);
        let mut out = Classification::default();
        let mut entities = Vec::new();
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
                    if rule.tag == "purchase-intent"
                        && let Some(product) = product_after(original, &text)
                    {
                        entities.push(Entity {
                            kind: "product".into(),
                            value: product,
                        });
                    }
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
        out.entities = entities;
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
    find_at_word_start(hay, needle).is_some()
}

/// Where `needle` first occurs in `hay` starting at a word boundary.
fn find_at_word_start(hay: &str, needle: &str) -> Option<usize> {
    let Some(&first) = needle.as_bytes().first() else {
        return Some(0);
    };
    let bytes = hay.as_bytes();
    // Candidate starts are the needle's first byte; a plain scan beats building a
    // substring searcher for messages of a few dozen bytes.
    (0..bytes.len()).filter(|&i| bytes[i] == first).find(|&i| {
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
    fn discount_questions_and_purchase_intent_in_italian_and_english() {
        let r = RuleSet::from_config(b"").unwrap();
        for text in [
            "c'è uno sconto?",
            "C’è uno SCONTO per studenti?",
            "Avete sconti?",
            "any discount?",
            "Do you have a promo code",
        ] {
            assert_eq!(tags(&r, text), ["discount-inquiry"], "{text}");
        }
        assert!(tags(&r, "Mi manda lo scontrino?").is_empty());
        let product = |text: &str| {
            let c = r.classify(text);
            assert_eq!(c.tags, ["purchase-intent"], "{text}");
            assert_eq!(c.intent.unwrap().name, "purchase-intent");
            c.entities
                .iter()
                .find(|e| e.kind == "product")
                .map(|e| e.value.clone())
        };
        assert_eq!(
            product("Voglio acquistare il prodotto A").as_deref(),
            Some("prodotto A")
        );
        assert_eq!(
            product("vorrei comprare l'iPhone 15 Pro, grazie").as_deref(),
            Some("iPhone 15 Pro")
        );
        assert_eq!(
            product("Vorrei  ordinare due borse nere per domani").as_deref(),
            Some("due borse nere")
        );
        assert_eq!(
            product("I want to buy the Blue Bag please").as_deref(),
            Some("Blue Bag")
        );
        assert_eq!(
            product("I'd like to order an XL t-shirt!").as_deref(),
            Some("XL t-shirt")
        );
        assert_eq!(product("Hi! I want to buy.").as_deref(), None);
        // Both at once: the purchase names the product, the question is tagged too.
        let c = r.classify("Voglio comprare la borsa rossa, c'è uno sconto?");
        assert_eq!(c.tags, ["purchase-intent", "discount-inquiry"]);
        assert_eq!(c.intent.unwrap().name, "purchase-intent");
        assert_eq!(c.entities.len(), 1);
        assert_eq!(c.entities[0].value, "borsa rossa");
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
