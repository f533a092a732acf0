//! Auto-labelling: the tenant's rules (from the model's rules section) turn the
//! predicted intent, the text and the sentiment into tags and a priority.
//!
//! * The intent becomes a tag (kebab-case: `track_order` → `track-order`) when
//!   `intent_tags` is on and its confidence is at least `min_confidence`.
//! * A rule fires when the intent is one of its `intents` (same confidence floor) or
//!   one of its `keywords` starts at a word start of the lowercased text; it adds its
//!   `tag` and raises the priority to its `priority`.
//! * A sentiment at or below `negative_threshold` raises the priority to `high`.
//! * The priority is the highest raised, `normal` when nothing raised it.

use scrm_intent::{Priority, RulesView};

/// Tags and priority of one message.
#[derive(Debug, Clone, PartialEq)]
pub struct Labels {
    /// Tags, without duplicates, in the order the rules gave them.
    pub tags: Vec<String>,
    /// The resulting priority.
    pub priority: Priority,
}

/// `intent` as a tag: lowercase, with `_` and spaces turned into `-`.
pub fn kebab(intent: &str) -> String {
    intent
        .chars()
        .map(|c| match c {
            '_' | ' ' => '-',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// Applies `rules` to one message: its predicted `intent` (if any) with `confidence`,
/// its lowercased text and its sentiment.
pub fn apply(
    rules: &RulesView<'_>,
    intent: Option<(&str, f32)>,
    lower: &str,
    sentiment: f32,
) -> Labels {
    let sure = intent.filter(|(_, c)| *c >= rules.min_confidence);
    let mut tags: Vec<String> = Vec::new();
    let mut add = |tag: &str| {
        if !tags.iter().any(|t| t == tag) {
            tags.push(tag.to_string());
        }
    };
    if rules.intent_tags
        && let Some((name, _)) = sure
    {
        add(&kebab(name));
    }
    // Word starts, found once: a keyword matches when the text continues with it at
    // one of them (cheaper than a substring search per keyword).
    let starts: Vec<usize> = lower
        .char_indices()
        .scan(None::<char>, |prev, (i, c)| {
            let start = c.is_alphanumeric() && !prev.is_some_and(char::is_alphanumeric);
            *prev = Some(c);
            Some(start.then_some(i))
        })
        .flatten()
        .collect();
    let mut priority = Priority::Normal;
    for rule in rules.rules() {
        let by_intent = sure.is_some_and(|(name, _)| rule.intents().any(|i| i == name));
        let bytes = lower.as_bytes();
        let fires = by_intent
            || rule.keywords().any(|k| {
                // Compare the first byte before calling `starts_with` (a `memcmp` call).
                let first = k.as_bytes().first().copied();
                starts
                    .iter()
                    .any(|&s| bytes.get(s).copied() == first && lower[s..].starts_with(k))
            });
        if !fires {
            continue;
        }
        if let Some(tag) = rule.tag {
            add(tag);
        }
        if let Some(p) = rule.priority {
            priority = priority.max(p);
        }
    }
    if sentiment <= rules.negative_threshold {
        priority = priority.max(Priority::High);
    }
    Labels { tags, priority }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scrm_intent::{Rule, Rules};

    fn apply(rules: &Rules, intent: Option<(&str, f32)>, lower: &str, sentiment: f32) -> Labels {
        let text = rules.encode().unwrap();
        super::apply(&RulesView::parse(&text).unwrap(), intent, lower, sentiment)
    }

    fn rules() -> Rules {
        Rules {
            min_confidence: 0.5,
            rules: vec![
                Rule {
                    tag: Some("sales-opportunity".into()),
                    intents: vec!["price_inquiry".into()],
                    keywords: vec!["how much".into(), "quanto costa".into()],
                    ..Rule::default()
                },
                Rule {
                    tag: Some("logistics".into()),
                    intents: vec!["track_order".into()],
                    ..Rule::default()
                },
                Rule {
                    tag: None,
                    priority: Some(Priority::High),
                    intents: vec!["complaint".into()],
                    ..Rule::default()
                },
            ],
            ..Rules::default()
        }
    }

    #[test]
    fn an_intent_rule_adds_its_tag_next_to_the_intent_tag() {
        let l = apply(&rules(), Some(("track_order", 0.9)), "where is it", 0.5);
        assert_eq!(l.tags, ["track-order", "logistics"]);
        assert_eq!(l.priority, Priority::Normal);
    }

    #[test]
    fn a_keyword_fires_its_rule_whatever_the_intent() {
        let l = apply(
            &rules(),
            Some(("track_order", 0.9)),
            "ciao, quanto costa?",
            0.5,
        );
        // Tags come in rule order.
        assert_eq!(l.tags, ["track-order", "sales-opportunity", "logistics"]);
        // Keywords match at word starts only.
        let l = apply(&rules(), None, "somehow much", 0.5);
        assert!(l.tags.is_empty());
    }

    #[test]
    fn an_unsure_intent_adds_no_tag_and_fires_no_rule() {
        let l = apply(&rules(), Some(("complaint", 0.3)), "hm", 0.5);
        assert!(l.tags.is_empty());
        assert_eq!(l.priority, Priority::Normal);
    }

    #[test]
    fn complaints_and_strongly_negative_messages_get_high_priority() {
        let l = apply(&rules(), Some(("complaint", 0.8)), "x", 0.5);
        assert_eq!(
            (l.tags.as_slice(), l.priority),
            (&["complaint".to_string()][..], Priority::High)
        );
        let l = apply(&rules(), Some(("track_order", 0.8)), "x", 0.1);
        assert_eq!(l.priority, Priority::High);
    }

    #[test]
    fn intent_tags_can_be_turned_off() {
        let r = Rules {
            intent_tags: false,
            ..rules()
        };
        let l = apply(&r, Some(("track_order", 0.9)), "x", 0.5);
        assert_eq!(l.tags, ["logistics"]);
    }
}
