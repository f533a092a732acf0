//! Stratified k-fold cross-validation: each intent's examples are shuffled with a
//! fixed seed and dealt round-robin into the folds, so every fold has each intent in
//! proportion and the result is reproducible.

use crate::data::Example;
use crate::report::Report;
use crate::{Classifier, ClassifierError, TrainParams, Workspace};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Instant;

/// The result of a cross-validation.
#[derive(Debug, Clone, Serialize)]
pub struct CrossValidation {
    /// Number of folds.
    pub folds: usize,
    /// Accuracy of each fold.
    pub fold_accuracy: Vec<f64>,
    /// Mean of the fold accuracies.
    pub mean_accuracy: f64,
    /// Standard deviation of the fold accuracies.
    pub std_dev: f64,
    /// Mean training time per fold, seconds.
    pub train_seconds_per_fold: f64,
    /// The report over every out-of-fold prediction.
    pub report: Report,
}

/// The fold (0..folds) of each example.
pub fn assign_folds(examples: &[Example], folds: usize) -> Vec<usize> {
    let mut by_intent: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, (_, intent)) in examples.iter().enumerate() {
        by_intent.entry(intent).or_default().push(i);
    }
    let mut fold = vec![0; examples.len()];
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = 0usize;
    for indices in by_intent.values_mut() {
        // Fisher–Yates with xorshift64: deterministic, no dependency.
        for j in (1..indices.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            indices.swap(j, (state % (j as u64 + 1)) as usize);
        }
        for &i in indices.iter() {
            fold[i] = next % folds;
            next += 1;
        }
    }
    fold
}

/// Cross-validates training with `params` on `examples` over `folds` folds, predicting
/// with the quantised model file exactly as the plugin does.
///
/// # Errors
/// When `folds` < 2 or exceeds the number of examples, or training fails.
pub fn cross_validate(
    examples: &[Example],
    params: &TrainParams,
    folds: usize,
    top_confused: usize,
) -> Result<CrossValidation, ClassifierError> {
    if folds < 2 || folds > examples.len() {
        return Err(ClassifierError::Folds(format!(
            "{folds} folds for {} examples; use 2 ..= the number of examples",
            examples.len()
        )));
    }
    let fold_of = assign_folds(examples, folds);
    let mut predicted = vec![String::new(); examples.len()];
    let mut fold_accuracy = Vec::with_capacity(folds);
    let mut train_seconds = 0.0;
    for f in 0..folds {
        let train_set: Vec<Example> = examples
            .iter()
            .zip(&fold_of)
            .filter(|(_, k)| **k != f)
            .map(|(e, _)| e.clone())
            .collect();
        let started = Instant::now();
        let model = crate::fit(&train_set, params)?.to_bytes();
        train_seconds += started.elapsed().as_secs_f64();
        let classifier = Classifier::open(model.as_slice())?;
        let mut ws = Workspace::default();
        let (mut n, mut ok) = (0usize, 0usize);
        for (i, (text, intent)) in examples.iter().enumerate() {
            if fold_of[i] != f {
                continue;
            }
            let p = classifier
                .predict(model.as_slice(), text, 1, &mut ws)
                .intent;
            n += 1;
            ok += usize::from(&p == intent);
            predicted[i] = p;
        }
        fold_accuracy.push(if n == 0 { 0.0 } else { ok as f64 / n as f64 });
    }
    let mean_accuracy = fold_accuracy.iter().sum::<f64>() / folds as f64;
    let std_dev = (fold_accuracy
        .iter()
        .map(|a| (a - mean_accuracy).powi(2))
        .sum::<f64>()
        / folds as f64)
        .sqrt();
    let report = Report::new(
        examples
            .iter()
            .zip(&predicted)
            .map(|((_, actual), p)| (actual.as_str(), p.as_str())),
        top_confused,
    );
    Ok(CrossValidation {
        folds,
        fold_accuracy,
        mean_accuracy,
        std_dev,
        train_seconds_per_fold: train_seconds / folds as f64,
        report,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::tests::examples;

    #[test]
    fn folds_are_stratified_and_reproducible() {
        let ex = examples();
        let folds = assign_folds(&ex, 4);
        assert_eq!(folds, assign_folds(&ex, 4));
        for f in 0..4 {
            for intent in ["track_order", "complaint", "price_inquiry"] {
                let n = ex
                    .iter()
                    .zip(&folds)
                    .filter(|((_, i), k)| i == intent && **k == f)
                    .count();
                assert_eq!(n, 2, "fold {f} intent {intent}");
            }
        }
    }

    #[test]
    fn cross_validation_predicts_every_example_once() {
        let p = TrainParams {
            features: crate::FeatureParams {
                hash_bits: 14,
                ..Default::default()
            },
            ..Default::default()
        };
        let cv = cross_validate(&examples(), &p, 4, 3).unwrap();
        assert_eq!(cv.fold_accuracy.len(), 4);
        assert_eq!(cv.report.examples, examples().len());
        // Held-out phrasings of these intents share words; most are recognised.
        assert!(cv.mean_accuracy > 0.6, "{cv:?}");
        assert!(cross_validate(&examples(), &p, 1, 3).is_err());
    }
}
