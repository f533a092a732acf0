//! Reference classifier: a trained intent model plus entities, sentiment and the
//! tenant's auto-labelling rules.
//!
//! The binding's configuration **is** the model file written by
//! `scrm classifier train --data FILE.csv [--rules RULES.toml] --out MODEL` (format:
//! [`scrm_intent::format`]). It is never copied in whole: each call reads the
//! model's head (one host call, a few KB) and then, in one `read-many` host call, only
//! the weight rows of the message's hashed features (~100 rows of one byte per intent).
//!
//! For a message with text the classification carries:
//!
//! * `intent`: the model's best class and its softmax confidence;
//! * `tags`: the intent in kebab-case and the tags of the rules that fire
//!   ([`labels`]);
//! * `entities`: order / invoice numbers, amounts, SKUs ([`entities`]), plus the
//!   catalogue products the message refers to or orders;
//! * `sentiment`: a lexicon score in [0, 1] ([`sentiment`]);
//! * `priority`: from the rules and the sentiment, `normal` by default.
//!
//! Messages without text (a photo without caption, a reaction) get only the entities
//! they carry. Docs: `docs/classifier.md` in the repository.

pub mod entities;
pub mod labels;
pub mod sentiment;

use scrm_intent::{Classifier as Model, ModelReader, RulesView, Workspace};
use scrm_plugin_sdk::{
    Classification, Classifier, ClassifyError, Contact, Intent, Message, Priority,
};

/// The exported classifier.
#[derive(Debug)]
pub struct IntentClassifier;

impl Classifier for IntentClassifier {
    fn classify(msg: Message, _sender: Contact) -> Result<Classification, ClassifyError> {
        classify(&InstalledConfig, &msg)
    }
}

scrm_plugin_sdk::export_classifier!(IntentClassifier);

/// The binding's configuration, read in ranges through the host.
#[derive(Debug)]
struct InstalledConfig;

impl ModelReader for InstalledConfig {
    fn size(&self) -> u64 {
        scrm_plugin_sdk::config::size()
    }

    fn read(&self, offset: u64, len: u32) -> Vec<u8> {
        scrm_plugin_sdk::config::read(offset, len)
    }

    fn read_rows(&self, offsets: &[u64], len: u32, out: &mut Vec<u8>) {
        // One host call for all rows of the message.
        let ranges: Vec<(u64, u32)> = offsets.iter().map(|&o| (o, len)).collect();
        *out = scrm_plugin_sdk::config::read_many(&ranges);
    }
}

fn priority(p: scrm_intent::Priority) -> Priority {
    match p {
        scrm_intent::Priority::Low => Priority::Low,
        scrm_intent::Priority::Normal => Priority::Normal,
        scrm_intent::Priority::High => Priority::High,
        scrm_intent::Priority::Urgent => Priority::Urgent,
    }
}

/// Classifies `msg` with the model (and its rules) that `model` reads.
///
/// # Errors
/// `invalid-config` when no model is installed or the configuration is not a model
/// this plugin reads.
pub fn classify<R: ModelReader + ?Sized>(
    model: &R,
    msg: &Message,
) -> Result<Classification, ClassifyError> {
    if model.size() == 0 {
        return Err(ClassifyError::InvalidConfig(
            "no model installed: train one with `scrm classifier train` and install it as \
             this binding's configuration"
                .into(),
        ));
    }
    let head = Model::open(model).map_err(|e| ClassifyError::InvalidConfig(e.to_string()))?;
    let rules = RulesView::parse(head.rules())
        .map_err(|e| ClassifyError::InvalidConfig(format!("model {e}")))?;
    let text = msg.content.text().unwrap_or_default();
    let lower = text.to_lowercase().replace('’', "'");
    let mut found = entities::extract(text, &lower, &rules);
    entities::from_message(msg, &mut found);
    if text.trim().is_empty() {
        return Ok(Classification {
            entities: found,
            ..Classification::default()
        });
    }
    let (best, confidence) = head.best(model, text, &mut Workspace::default());
    let name = head.class_name(best);
    let sentiment = sentiment::score(&lower, &rules);
    let labels = labels::apply(&rules, Some((name, confidence)), &lower, sentiment);
    Ok(Classification {
        tags: labels.tags,
        intent: Some(Intent {
            name: name.to_owned(),
            confidence,
        }),
        entities: found,
        sentiment: Some(sentiment),
        priority: Some(priority(labels.priority)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use scrm_plugin_sdk::{Content, Context, Direction, Media};

    fn message(content: Content) -> Message {
        Message {
            id: "wamid.1".into(),
            direction: Direction::Inbound,
            timestamp: 0,
            content,
            context: Context {
                replied_to: None,
                referred_product: None,
                ad_source_id: None,
            },
        }
    }

    fn text(t: &str) -> Message {
        message(Content::Text(t.into()))
    }

    /// A model trained on a handful of rows, with `rules` as its rules section.
    fn model(rules: &str) -> Vec<u8> {
        let rows: Vec<(String, String)> = [
            ("where is my order", "track_order"),
            ("track my parcel please", "track_order"),
            ("when will my order arrive", "track_order"),
            ("has my package shipped", "track_order"),
            ("I am angry, this is unacceptable", "complaint"),
            (
                "the product arrived broken, I want to complain",
                "complaint",
            ),
            ("terrible service, I want to file a complaint", "complaint"),
            ("your support is useless", "complaint"),
        ]
        .iter()
        .map(|(t, i)| (t.to_string(), i.to_string()))
        .collect();
        let params = scrm_intent::TrainParams {
            features: scrm_intent::FeatureParams {
                hash_bits: 12,
                ..Default::default()
            },
            ..Default::default()
        };
        let mut m = scrm_intent::fit(&rows, &params).expect("train");
        m.rules = rules.to_string();
        m.to_bytes()
    }

    #[test]
    fn reports_intent_tags_entities_sentiment_and_priority() {
        let rules = "scrm-rules 1\nrule\tlogistics\t-\ttrack_order\t\n";
        let m = model(rules);
        let c = classify(m.as_slice(), &text("Where is my order #12345? Thanks!")).unwrap();
        let intent = c.intent.unwrap();
        assert_eq!(intent.name, "track_order");
        assert!(intent.confidence > 0.5);
        assert_eq!(c.tags, ["track-order", "logistics"]);
        assert_eq!(c.entities.len(), 1);
        assert_eq!(
            (c.entities[0].kind.as_str(), c.entities[0].value.as_str()),
            ("order-number", "12345")
        );
        assert!(c.sentiment.unwrap() > 0.5);
        assert_eq!(c.priority, Some(Priority::Normal));
    }

    #[test]
    fn an_angry_complaint_is_high_priority() {
        let rules = "scrm-rules 1\nrule\t-\thigh\tcomplaint\t\n";
        let m = model(rules);
        let c = classify(m.as_slice(), &text("I am angry, it arrived broken")).unwrap();
        assert_eq!(c.intent.unwrap().name, "complaint");
        assert_eq!(c.tags, ["complaint"]);
        assert_eq!(c.priority, Some(Priority::High));
    }

    #[test]
    fn a_message_without_text_gets_only_its_entities() {
        let mut msg = message(Content::Image(Media {
            id: "m".into(),
            mime_type: None,
            sha256: None,
            caption: None,
            filename: None,
        }));
        msg.context.referred_product = Some("BAG-RED-01".into());
        let c = classify(model("").as_slice(), &msg).unwrap();
        assert!(c.intent.is_none() && c.tags.is_empty() && c.sentiment.is_none());
        assert_eq!(c.entities[0].value, "BAG-RED-01");
    }

    #[test]
    fn refuses_a_missing_or_foreign_configuration() {
        let err = classify(Vec::new().as_slice(), &text("hi")).unwrap_err();
        assert!(matches!(err, ClassifyError::InvalidConfig(m) if m.contains("no model installed")));
        let err = classify(b"defaults = true\n".as_slice(), &text("hi")).unwrap_err();
        assert!(matches!(err, ClassifyError::InvalidConfig(m) if m.contains("bad magic")));
        let mut m = model("");
        m.truncate(m.len() - 1);
        let err = classify(m.as_slice(), &text("hi")).unwrap_err();
        assert!(matches!(err, ClassifyError::InvalidConfig(m) if m.contains("truncated")));
    }

    #[test]
    fn refuses_a_model_with_unreadable_rules() {
        let err = classify(model("scrm-rules 1\nbogus\t1\n").as_slice(), &text("hi")).unwrap_err();
        assert!(matches!(err, ClassifyError::InvalidConfig(m) if m.contains("unknown record")));
    }
}
