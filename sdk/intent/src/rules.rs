//! The rules section of a model: per-tenant auto-labelling rules, a product table and
//! extra sentiment words, stored next to the weights so that the plugin's whole
//! configuration is one file.
//!
//! The host writes it from the operator's TOML (`scrm classifier train --rules`; the
//! file is read by `parse` under the `train` feature, its defaults are `defaults`);
//! the plugin decodes it on every call, so the encoding is a few UTF-8 lines that
//! parse in well under a microsecond, with no serde inside the plugin. One record per
//! line, fields separated by a tab (shown as ` → ` below), list items by `|`:
//!
//! ```text
//! scrm-rules 1
//! intent-tags → 1
//! min-confidence → 0.5
//! negative-threshold → 0.25
//! rule → sales-opportunity → - → price_inquiry|place_order → how much|quanto costa
//! rule → complaint → high → complaint → reclamo
//! product → BAG-RED-01 → red bag|borsa rossa
//! word → fantastico → 3
//! ```
//!
//! `rule` fields: tag (`-` for none), priority (`-`, `low`, `normal`, `high`,
//! `urgent`), intents, keywords (lowercase). A missing section decodes to
//! [`Rules::default`].

#[cfg(feature = "train")]
mod file;

#[cfg(feature = "train")]
pub use file::{DEFAULT_RULES, defaults, parse, unknown_intents};

/// The first line of an encoded rules section.
const HEADER: &str = "scrm-rules 1";

/// What the classifier does besides predicting the intent.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    /// Add the predicted intent (kebab-case) as a tag.
    pub intent_tags: bool,
    /// Below this confidence the intent adds no tag and fires no intent rule.
    pub min_confidence: f32,
    /// A sentiment at or below this raises the priority to high.
    pub negative_threshold: f32,
    /// Auto-labelling rules, in order.
    pub rules: Vec<Rule>,
    /// Products the entity extractor recognises by name.
    pub products: Vec<Product>,
    /// Extra sentiment words (lowercase) and their valence in [-4, 4]; they override
    /// the built-in lexicon.
    pub words: Vec<(String, f32)>,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            intent_tags: true,
            min_confidence: 0.0,
            negative_threshold: 0.25,
            rules: Vec::new(),
            products: Vec::new(),
            words: Vec::new(),
        }
    }
}

/// How urgently a conversation needs a person (mirrors the WIT `priority`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Priority {
    /// Can wait.
    Low,
    /// The default.
    Normal,
    /// Look soon.
    High,
    /// Look now.
    Urgent,
}

impl Priority {
    /// Parses `low`, `normal`, `high` or `urgent`.
    pub fn parse(s: &str) -> Option<Priority> {
        Some(match s {
            "low" => Priority::Low,
            "normal" => Priority::Normal,
            "high" => Priority::High,
            "urgent" => Priority::Urgent,
            _ => return None,
        })
    }

    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
            Priority::Urgent => "urgent",
        }
    }
}

/// One auto-labelling rule: fires when the predicted intent is one of `intents` (at
/// or above `min_confidence`) or a keyword occurs at a word start in the text.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Rule {
    /// Tag to add when the rule fires.
    pub tag: Option<String>,
    /// Priority to raise to when the rule fires.
    pub priority: Option<Priority>,
    /// Intents (class names of the model) that fire the rule.
    pub intents: Vec<String>,
    /// Lowercase keywords or phrases that fire the rule.
    pub keywords: Vec<String>,
}

/// A product of the tenant's catalogue.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Product {
    /// The SKU reported as the `sku` entity.
    pub code: String,
    /// Lowercase names and aliases customers write.
    pub names: Vec<String>,
}

/// Why rules cannot be encoded or decoded; the text names the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RulesError(pub String);

impl core::fmt::Display for RulesError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "rules: {}", self.0)
    }
}

impl std::error::Error for RulesError {}

fn check(what: &str, s: &str) -> Result<(), RulesError> {
    if s.is_empty() || s.contains(['\t', '\n', '\r', '|']) {
        return Err(RulesError(format!(
            "{what} {s:?} must be non-empty and contain no tab, newline or '|'"
        )));
    }
    Ok(())
}

fn list(what: &str, items: &[String]) -> Result<String, RulesError> {
    for i in items {
        check(what, i)?;
    }
    Ok(items.join("|"))
}

impl Rules {
    /// The section's text.
    ///
    /// # Errors
    /// When a name, keyword or tag is empty or contains a tab, newline or `|`.
    pub fn encode(&self) -> Result<String, RulesError> {
        let mut out = format!(
            "{HEADER}\nintent-tags\t{}\nmin-confidence\t{}\nnegative-threshold\t{}\n",
            u8::from(self.intent_tags),
            self.min_confidence,
            self.negative_threshold
        );
        for r in &self.rules {
            let tag = match &r.tag {
                Some(t) => {
                    check("tag", t)?;
                    t.as_str()
                }
                None => "-",
            };
            let priority = r.priority.map_or("-", Priority::as_str);
            out.push_str(&format!(
                "rule\t{tag}\t{priority}\t{}\t{}\n",
                list("intent", &r.intents)?,
                list("keyword", &r.keywords)?
            ));
        }
        for p in &self.products {
            check("product code", &p.code)?;
            out.push_str(&format!(
                "product\t{}\t{}\n",
                p.code,
                list("product name", &p.names)?
            ));
        }
        for (w, v) in &self.words {
            check("sentiment word", w)?;
            out.push_str(&format!("word\t{w}\t{v}\n"));
        }
        Ok(out)
    }

    /// Parses a section written by [`Rules::encode`]; an empty one gives the defaults.
    ///
    /// # Errors
    /// When a line is not a known record or a field does not parse; names the line.
    pub fn decode(text: &str) -> Result<Rules, RulesError> {
        let view = RulesView::parse(text)?;
        Ok(Rules {
            intent_tags: view.intent_tags,
            min_confidence: view.min_confidence,
            negative_threshold: view.negative_threshold,
            rules: view
                .rules()
                .map(|r| Rule {
                    tag: r.tag.map(str::to_string),
                    priority: r.priority,
                    intents: r.intents().map(str::to_string).collect(),
                    keywords: r.keywords().map(str::to_string).collect(),
                })
                .collect(),
            products: view
                .products()
                .map(|(code, names)| Product {
                    code: code.to_string(),
                    names: names.map(str::to_string).collect(),
                })
                .collect(),
            words: view.words().map(|(w, v)| (w.to_string(), v)).collect(),
        })
    }
}

/// A rules section read in place, without allocating: what the plugin uses on every
/// call (each allocation in a fresh WebAssembly instance touches new memory).
#[derive(Debug, Clone, Copy)]
pub struct RulesView<'a> {
    /// Add the predicted intent (kebab-case) as a tag.
    pub intent_tags: bool,
    /// Below this confidence the intent adds no tag and fires no intent rule.
    pub min_confidence: f32,
    /// A sentiment at or below this raises the priority to high.
    pub negative_threshold: f32,
    text: &'a str,
}

/// One rule of a [`RulesView`].
#[derive(Debug, Clone, Copy)]
pub struct RuleView<'a> {
    /// Tag to add when the rule fires.
    pub tag: Option<&'a str>,
    /// Priority to raise to when the rule fires.
    pub priority: Option<Priority>,
    intents: &'a str,
    keywords: &'a str,
}

impl<'a> RuleView<'a> {
    /// The intents that fire the rule.
    pub fn intents(&self) -> impl Iterator<Item = &'a str> + use<'a> {
        self.intents.split('|').filter(|x| !x.is_empty())
    }

    /// The (lowercase) keywords that fire the rule.
    pub fn keywords(&self) -> impl Iterator<Item = &'a str> + use<'a> {
        self.keywords.split('|').filter(|x| !x.is_empty())
    }
}

/// A record line split into its kind and fields.
fn records(text: &str) -> impl Iterator<Item = (usize, &str, std::str::Split<'_, char>)> {
    text.lines().enumerate().skip(1).filter_map(|(n, line)| {
        let mut fields = line.split('\t');
        let kind = fields.next().unwrap_or_default();
        (!kind.is_empty()).then_some((n, kind, fields))
    })
}

impl<'a> RulesView<'a> {
    /// Checks every line of `text` once; the iterators then read it again lazily.
    ///
    /// # Errors
    /// When a line is not a known record or a field does not parse; names the line.
    pub fn parse(text: &'a str) -> Result<RulesView<'a>, RulesError> {
        let defaults = Rules::default();
        let mut view = RulesView {
            intent_tags: defaults.intent_tags,
            min_confidence: defaults.min_confidence,
            negative_threshold: defaults.negative_threshold,
            text,
        };
        match text.lines().next() {
            None => return Ok(view),
            Some(HEADER) => {}
            Some(other) => {
                return Err(RulesError(format!(
                    "line 1: expected {HEADER:?}, found {other:?}"
                )));
            }
        }
        for (n, kind, mut f) in records(text) {
            let bad = |what: &str| RulesError(format!("line {}: {what}", n + 1));
            let mut field = || f.next().ok_or_else(|| bad("missing field"));
            let number = |s: &str| s.parse::<f32>().map_err(|_| bad("not a number"));
            match kind {
                "intent-tags" => view.intent_tags = field()? == "1",
                "min-confidence" => view.min_confidence = number(field()?)?,
                "negative-threshold" => view.negative_threshold = number(field()?)?,
                "rule" => {
                    field()?;
                    let p = field()?;
                    if p != "-" && Priority::parse(p).is_none() {
                        return Err(bad("unknown priority"));
                    }
                    field()?;
                    field()?;
                }
                "product" => {
                    field()?;
                    field()?;
                }
                "word" => {
                    field()?;
                    number(field()?)?;
                }
                other => return Err(bad(&format!("unknown record {other:?}"))),
            }
        }
        Ok(view)
    }

    /// The rules, in order.
    pub fn rules(&self) -> impl Iterator<Item = RuleView<'a>> + use<'a> {
        records(self.text).filter_map(|(_, kind, mut f)| {
            if kind != "rule" {
                return None;
            }
            let tag = f.next()?;
            let priority = f.next()?;
            Some(RuleView {
                tag: (tag != "-").then_some(tag),
                priority: Priority::parse(priority),
                intents: f.next()?,
                keywords: f.next()?,
            })
        })
    }

    /// The products: each code with its lowercase names.
    #[allow(clippy::type_complexity)]
    pub fn products(
        &self,
    ) -> impl Iterator<
        Item = (
            &'a str,
            std::iter::Filter<std::str::Split<'a, char>, fn(&&'a str) -> bool>,
        ),
    > + use<'a> {
        records(self.text).filter_map(|(_, kind, mut f)| {
            if kind != "product" {
                return None;
            }
            let code = f.next()?;
            let names = f.next()?;
            let non_empty: fn(&&'a str) -> bool = |x| !x.is_empty();
            Some((code, names.split('|').filter(non_empty)))
        })
    }

    /// The extra sentiment words and their valence.
    pub fn words(&self) -> impl Iterator<Item = (&'a str, f32)> + use<'a> {
        records(self.text).filter_map(|(_, kind, mut f)| {
            if kind != "word" {
                return None;
            }
            let w = f.next()?;
            Some((w, f.next()?.parse().ok()?))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Rules {
        Rules {
            intent_tags: false,
            min_confidence: 0.4,
            negative_threshold: 0.2,
            rules: vec![
                Rule {
                    tag: Some("sales-opportunity".into()),
                    priority: None,
                    intents: vec!["price_inquiry".into()],
                    keywords: vec!["how much".into(), "quanto costa".into()],
                },
                Rule {
                    tag: None,
                    priority: Some(Priority::High),
                    intents: vec!["complaint".into()],
                    keywords: vec![],
                },
            ],
            products: vec![Product {
                code: "BAG-RED-01".into(),
                names: vec!["red bag".into(), "borsa rossa".into()],
            }],
            words: vec![("fantastico".into(), 3.0)],
        }
    }

    #[test]
    fn decodes_what_it_encodes() {
        let text = sample().encode().unwrap();
        assert_eq!(Rules::decode(&text).unwrap(), sample());
    }

    #[test]
    fn an_empty_section_means_the_defaults() {
        assert_eq!(Rules::decode("").unwrap(), Rules::default());
    }

    #[test]
    fn refuses_separators_inside_values() {
        let mut r = sample();
        r.rules[0].keywords.push("a|b".into());
        assert!(r.encode().unwrap_err().0.contains("keyword \"a|b\""));
    }

    #[test]
    fn names_the_line_it_cannot_parse() {
        let err = Rules::decode("scrm-rules 1\nmin-confidence\tlots\n").unwrap_err();
        assert_eq!(err.0, "line 2: not a number");
        let err = Rules::decode("scrm-rules 1\nrule\tx\tsoon\t\t\n").unwrap_err();
        assert_eq!(err.0, "line 2: unknown priority");
        assert!(Rules::decode("{\"json\": 1}").is_err());
    }
}
