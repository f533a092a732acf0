//! Training a model file from labelled examples, and evaluating one: [`fit`] fits the
//! weights ([`Model`]), [`train`] writes them with the rules into the file the plugin
//! reads, [`evaluate`] measures a file on labelled examples, [`replace_rules`] gives a
//! file other rules.
//!
//! ```no_run
//! use scrm_intent::{data, rules, train};
//! # fn main() -> Result<(), scrm_intent::ClassifierError> {
//! let examples = data::load_csv("bitext-train.csv".as_ref())?;
//! let trained = train::train(&examples, &rules::defaults(), &Default::default())?;
//! std::fs::write("bitext.model", &trained.model).expect("write");
//! let eval = train::evaluate(&trained.model, &examples, 10)?;
//! println!("{}", eval.report.to_text());
//! # Ok(())
//! # }
//! ```

mod svm;

pub use svm::{Model, TrainError, TrainParams, fit};

use crate::data::Example;
use crate::report::Report;
use crate::{Classifier, ClassifierError, Rules, Workspace};
use std::time::Instant;

/// A trained model file.
#[derive(Debug, Clone)]
pub struct Trained {
    /// The model file: what the operator installs as the binding's configuration.
    pub model: Vec<u8>,
    /// Its intents, sorted.
    pub classes: Vec<String>,
    /// Wall-clock training time.
    pub seconds: f64,
}

/// Trains on `examples` and writes `rules` into the model file.
///
/// # Errors
/// When the rules cannot be encoded or training cannot start (no examples, bad
/// parameters).
pub fn train(
    examples: &[Example],
    rules: &Rules,
    params: &TrainParams,
) -> Result<Trained, ClassifierError> {
    let section = rules.encode().map_err(|e| ClassifierError::Rules {
        source_name: "rules".into(),
        message: e.0,
    })?;
    let started = Instant::now();
    let mut model = fit(examples, params)?;
    let seconds = started.elapsed().as_secs_f64();
    model.rules = section;
    Ok(Trained {
        model: model.to_bytes(),
        classes: model.classes,
        seconds,
    })
}

/// The result of evaluating a model on labelled examples.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// The scores.
    pub report: Report,
    /// Mean native prediction time per message (head parsed once), microseconds.
    pub micros_per_message: f64,
}

/// Predicts every example with `model` (the quantised file, as the plugin reads it)
/// and reports how well the predictions match the labels.
///
/// # Errors
/// When `model` is not a usable model.
pub fn evaluate(
    model: &[u8],
    examples: &[Example],
    top_confused: usize,
) -> Result<Evaluation, ClassifierError> {
    let classifier = Classifier::open(model)?;
    let mut ws = Workspace::default();
    let started = Instant::now();
    let predicted: Vec<String> = examples
        .iter()
        .map(|(text, _)| classifier.predict(model, text, 1, &mut ws).intent)
        .collect();
    let micros_per_message = started.elapsed().as_secs_f64() * 1e6 / examples.len().max(1) as f64;
    let report = Report::new(
        examples
            .iter()
            .zip(&predicted)
            .map(|((_, actual), p)| (actual.as_str(), p.as_str())),
        top_confused,
    );
    Ok(Evaluation {
        report,
        micros_per_message,
    })
}

/// `model` with its rules replaced by `rules`, weights unchanged.
///
/// # Errors
/// When `model` is not a usable model or the rules cannot be encoded.
pub fn replace_rules(model: &[u8], rules: &Rules) -> Result<Vec<u8>, ClassifierError> {
    let section = rules.encode().map_err(|e| ClassifierError::Rules {
        source_name: "rules".into(),
        message: e.0,
    })?;
    Ok(crate::with_rules(model, &section)?)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::rules;

    /// A small, separable data set: three intents, eight phrasings each.
    pub(crate) fn examples() -> Vec<Example> {
        let mut out = Vec::new();
        let sets: [(&str, &[&str]); 3] = [
            (
                "track_order",
                &[
                    "where is my order",
                    "track my parcel",
                    "when does my package arrive",
                    "has my order shipped",
                    "order status please",
                    "where is my parcel now",
                    "tracking number for my order",
                    "is my package on the way",
                ],
            ),
            (
                "complaint",
                &[
                    "I want to complain",
                    "this is unacceptable",
                    "file a complaint",
                    "terrible service",
                    "I am very unhappy",
                    "your product broke, I complain",
                    "worst support ever",
                    "I want to make a complaint",
                ],
            ),
            (
                "price_inquiry",
                &[
                    "how much is it",
                    "what is the price",
                    "how much does it cost",
                    "price of the red bag",
                    "quanto costa",
                    "how much for two",
                    "what does it cost",
                    "tell me the price",
                ],
            ),
        ];
        for (intent, texts) in sets {
            for t in texts {
                out.push((t.to_string(), intent.to_string()));
            }
        }
        out
    }

    fn small() -> TrainParams {
        TrainParams {
            features: crate::FeatureParams {
                hash_bits: 14,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn a_trained_model_predicts_its_training_data_and_keeps_its_rules() {
        let t = train(&examples(), &rules::defaults(), &small()).unwrap();
        assert_eq!(t.classes, ["complaint", "price_inquiry", "track_order"]);
        let eval = evaluate(&t.model, &examples(), 5).unwrap();
        assert_eq!(eval.report.correct, examples().len());
        let head = Classifier::open(t.model.as_slice()).unwrap();
        assert_eq!(Rules::decode(head.rules()).unwrap(), rules::defaults());
    }

    #[test]
    fn evaluation_counts_mistakes_against_other_labels() {
        let t = train(&examples(), &Rules::default(), &small()).unwrap();
        // Relabel the complaints: every one of them is now a mistake.
        let relabelled: Vec<Example> = examples()
            .into_iter()
            .map(|(text, i)| (text, if i == "complaint" { "refund".into() } else { i }))
            .collect();
        let r = evaluate(&t.model, &relabelled, 5).unwrap().report;
        assert_eq!(r.correct, 16);
        assert_eq!(r.confused[0].actual, "refund");
        assert_eq!(r.confused[0].predicted, "complaint");
        assert_eq!(r.confused[0].count, 8);
    }

    #[test]
    fn replacing_rules_changes_only_the_rules() {
        let t = train(&examples(), &rules::defaults(), &small()).unwrap();
        let custom = rules::parse("intent_tags = false\n", "r.toml").unwrap();
        let repacked = replace_rules(&t.model, &custom).unwrap();
        let head = Classifier::open(repacked.as_slice()).unwrap();
        assert_eq!(Rules::decode(head.rules()).unwrap(), custom);
        assert_eq!(
            evaluate(&repacked, &examples(), 0).unwrap().report,
            evaluate(&t.model, &examples(), 0).unwrap().report
        );
    }

    #[test]
    fn refuses_bytes_that_are_not_a_model() {
        let err = evaluate(b"name = 'x'", &examples(), 5).unwrap_err();
        assert!(
            err.to_string().starts_with("not a usable intent model"),
            "{err}"
        );
    }

    #[test]
    fn refuses_a_model_of_a_format_version_it_does_not_read_and_says_so_once() {
        let mut model = train(&examples(), &Rules::default(), &small())
            .unwrap()
            .model;
        model[8] = 2; // the format version (little-endian u32 at offset 8)
        let err = evaluate(&model, &examples(), 5).unwrap_err();
        assert_eq!(
            err.to_string(),
            "not a usable intent model: unsupported intent model version 2"
        );
        // The CLI prints the error chain: the cause must not appear a second time.
        assert!(std::error::Error::source(&err).is_none());
    }
}
