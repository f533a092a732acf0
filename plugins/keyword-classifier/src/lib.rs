//! Reference classifier: keyword and regex rules from the binding's config become
//! tags, an intent and a priority.
//!
//! Configuration (TOML or JSON; everything optional):
//!
//! ```toml
//! # Keep the built-in English/Italian rules (default true).
//! defaults = true
//!
//! [[rules]]
//! tag = "vip"                       # tag to add when the rule matches
//! keywords = ["gold member"]        # case-insensitive, matched at word starts
//! regex = "order\\s*#?\\d{6}"       # optional; case-insensitive
//! priority = "high"                 # optional: low | normal | high | urgent
//! intent = "vip-request"            # optional; defaults to the tag
//! ```
//!
//! Without a configuration the built-in rules apply: "how much" / "quanto costa" /
//! "price" → `price-inquiry`; "where is my order" / "dov'è il mio pacco" →
//! `order-status`; "complaint" / "reclamo" / "refund" → `complaint` (priority high);
//! "voglio acquistare" / "I want to buy" … → `purchase-intent`, with the product named
//! after it as a `product` entity; "c'è uno sconto?" / "any discount?" →
//! `discount-inquiry`.

pub mod rules;

use rules::RuleSet;
use scrm_plugin_sdk::{Classification, Classifier, ClassifyError, Contact, Message};

/// The exported classifier.
#[derive(Debug)]
pub struct KeywordClassifier;

impl Classifier for KeywordClassifier {
    fn classify(msg: Message, _sender: Contact) -> Result<Classification, ClassifyError> {
        let rules = RuleSet::from_config(&scrm_plugin_sdk::config::bytes())
            .map_err(ClassifyError::InvalidConfig)?;
        Ok(match msg.content.text() {
            Some(text) => rules.classify(text),
            None => Classification::default(),
        })
    }
}

scrm_plugin_sdk::export_classifier!(KeywordClassifier);
