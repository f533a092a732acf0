//! Reference flow `quick-replies`: answers the routine questions (shipping, returns,
//! opening hours, the store's address, …) the moment a customer asks them.
//!
//! An answer matches by the classifier's intent (at `min_confidence` or above) or by
//! a keyword or phrase in the message (whole words, any case); the first match
//! answers. Each answer's `text` is in the host's template language, so it can greet
//! the customer by name and use the flow's other parameters:
//!
//! ```json
//! [{"intent": "shipping", "keywords": ["shipping", "spedizione"],
//!   "text": "Hi {{ contact.first_name | default(\"there\") }}! We ship in {{ flow.shipping_days }} working days."}]
//! ```
//!
//! Enable it with `scrm flow enable --tenant T quick-replies --set answers=@answers.json
//! --set opening_hours="Mon-Sat 9-19"`. The host sends the answer only inside the
//! customer's 24-hour window (it is an answer to their message) and at most once
//! per `min_interval` (default 1 minute) per customer.

use scrm_plugin_sdk::automation::param;
use scrm_plugin_sdk::flows::{Action, Event, FlowError, Info, ParamKind, Trigger};
use serde::Deserialize;

/// One answer.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Answer {
    /// The intent that asks for it (from the tenant's classifier).
    #[serde(default)]
    pub intent: Option<String>,
    /// Words or phrases that ask for it.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// The answer, in the host's template language.
    pub text: String,
}

/// The flow's parameters, as the host hands them over.
#[derive(Debug, Deserialize)]
pub struct Params {
    /// The answers.
    pub answers: Vec<Answer>,
    /// The intent confidence (percent) at which an intent match counts.
    pub min_confidence: i64,
}

const DEFAULT_ANSWERS: &str = r#"[
  {"intent": "shipping", "keywords": ["shipping", "delivery time", "how long does delivery", "spedizione", "spedite", "consegna"],
   "text": "Hi {{ contact.first_name | default(\"there\") }}! We ship within {{ flow.shipping_days }} working days of your order; you get the tracking link by message as soon as it leaves."},
  {"intent": "returns", "keywords": ["return", "returns", "refund", "reso", "resi", "rimborso"],
   "text": "Hi {{ contact.first_name | default(\"there\") }}! You can return anything within {{ flow.returns_days }} days of delivery, free of charge: reply RETURN and we will send you the label."},
  {"intent": "opening-hours", "keywords": ["opening hours", "open today", "what time", "orari", "orario", "aperti"],
   "text": "We are open {{ flow.opening_hours }}."},
  {"intent": "store-address", "keywords": ["address", "where are you", "where is the store", "indirizzo", "dove siete", "dove si trova"],
   "text": "{% if flow.store_address %}You find us at {{ flow.store_address }}.{% else %}We are an online shop: everything ships to your door.{% endif %}"}
]"#;

/// What the flow says about itself.
pub fn info() -> Info {
    Info {
        name: "quick-replies".into(),
        description: "answers routine questions (shipping, returns, opening hours, address) by intent or keyword".into(),
        triggers: vec!["message".into()],
        params: vec![
            param("answers", ParamKind::Json, Some(DEFAULT_ANSWERS),
                "the answers: [{\"intent\", \"keywords\": [...], \"text\"}] (text in the template language)"),
            param("min_confidence", ParamKind::Integer, Some("60"),
                "the intent confidence (percent) at which an intent match counts"),
            param("shipping_days", ParamKind::Text, Some("1-3"), "working days to ship (flow.shipping_days)"),
            param("returns_days", ParamKind::Text, Some("30"), "days to return (flow.returns_days)"),
            param("opening_hours", ParamKind::Text, Some("Monday to Saturday, 9:00-19:00"),
                "opening hours (flow.opening_hours)"),
            param("store_address", ParamKind::Text, Some(""), "the store's address; empty: online only"),
            param("min_interval", ParamKind::Duration, Some("1m"),
                "at most one answer per customer within this period"),
        ],
    }
}

/// True when `phrase` occurs in `text` as whole words (both lowercase).
fn has_phrase(text: &str, phrase: &str) -> bool {
    if phrase.is_empty() {
        return false;
    }
    text.match_indices(phrase).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + phrase.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

/// The answer for a message with `text` and the classifier's `intent`.
pub fn pick<'a>(
    answers: &'a [Answer],
    text: &str,
    intent: Option<(&str, f32)>,
    min_confidence: i64,
) -> Option<&'a Answer> {
    let text = text.to_lowercase();
    let threshold = min_confidence as f32 / 100.0;
    answers
        .iter()
        .find(|a| {
            intent
                .is_some_and(|(name, conf)| a.intent.as_deref() == Some(name) && conf >= threshold)
        })
        .or_else(|| {
            answers.iter().find(|a| {
                a.keywords
                    .iter()
                    .any(|k| has_phrase(&text, &k.to_lowercase()))
            })
        })
}

/// The flow.
#[derive(Debug)]
pub struct QuickReplies;

impl scrm_plugin_sdk::Flow for QuickReplies {
    fn describe() -> Info {
        info()
    }

    fn handle(e: Event) -> Result<Vec<Action>, FlowError> {
        let Trigger::Message(inbound) = e.trigger else {
            return Ok(Vec::new());
        };
        let Some(text) = inbound.message.content.text() else {
            return Ok(Vec::new());
        };
        let params: Params = scrm_plugin_sdk::automation::params()?;
        let intent = inbound
            .classification
            .as_ref()
            .and_then(|c| c.intent.as_ref())
            .map(|i| (i.name.as_str(), i.confidence));
        Ok(pick(&params.answers, text, intent, params.min_confidence)
            .map(|a| vec![Action::Reply(a.text.clone())])
            .unwrap_or_default())
    }
}

scrm_plugin_sdk::export_flow!(QuickReplies);

#[cfg(test)]
mod tests {
    use super::*;

    fn answers() -> Vec<Answer> {
        serde_json::from_str(DEFAULT_ANSWERS).unwrap()
    }

    #[test]
    fn keywords_match_whole_words_in_any_case() {
        let a = answers();
        assert_eq!(
            pick(&a, "Quanto costa la SPEDIZIONE?", None, 60)
                .unwrap()
                .intent
                .as_deref(),
            Some("shipping")
        );
        assert_eq!(
            pick(&a, "What are your opening hours", None, 60)
                .unwrap()
                .intent
                .as_deref(),
            Some("opening-hours")
        );
        // "returned" is not "return"; "addresses" is not "address".
        assert!(pick(&a, "I returned home, addresses changed", None, 60).is_none());
    }

    #[test]
    fn a_confident_intent_wins_over_keywords() {
        let a = answers();
        let got = pick(&a, "shipping or refund?", Some(("returns", 0.9)), 60).unwrap();
        assert_eq!(got.intent.as_deref(), Some("returns"));
        let got = pick(&a, "shipping or refund?", Some(("returns", 0.3)), 60).unwrap();
        assert_eq!(got.intent.as_deref(), Some("shipping"));
    }

    #[test]
    fn the_declared_defaults_parse() {
        assert_eq!(answers().len(), 4);
        assert!(info().params.iter().all(|p| p.default.is_some()));
    }
}
