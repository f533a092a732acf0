//! Evaluation reports: accuracy, per-intent precision / recall / F1, and the most
//! confused pairs, from `(actual, predicted)` intent pairs.

use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// How well predictions matched the labels.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    /// Examples evaluated.
    pub examples: usize,
    /// Examples whose predicted intent was the labelled one.
    pub correct: usize,
    /// `correct / examples`.
    pub accuracy: f64,
    /// Mean of the per-intent recalls (what a balanced test set measures).
    pub macro_recall: f64,
    /// Mean of the per-intent precisions.
    pub macro_precision: f64,
    /// One entry per intent seen in the labels or the predictions, by name.
    pub per_intent: Vec<IntentScore>,
    /// The most frequent (actual, predicted) mistakes, most frequent first.
    pub confused: Vec<Confusion>,
}

/// Scores of one intent.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IntentScore {
    /// The intent.
    pub intent: String,
    /// Examples labelled with it.
    pub support: usize,
    /// Examples predicted as it.
    pub predicted: usize,
    /// Of those predicted as it, the fraction labelled with it (1 when none predicted).
    pub precision: f64,
    /// Of those labelled with it, the fraction predicted as it (1 when none labelled).
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
}

/// One kind of mistake.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Confusion {
    /// The labelled intent.
    pub actual: String,
    /// What was predicted instead.
    pub predicted: String,
    /// How often.
    pub count: usize,
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}

impl Report {
    /// The report of `pairs` of (actual, predicted) intents, keeping the `top_confused`
    /// most frequent mistakes.
    pub fn new<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
        top_confused: usize,
    ) -> Report {
        // (support, predicted, correct) per intent
        let mut counts: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new();
        let mut mistakes: BTreeMap<(&str, &str), usize> = BTreeMap::new();
        let (mut examples, mut correct) = (0, 0);
        for (actual, predicted) in pairs {
            examples += 1;
            counts.entry(actual).or_default().0 += 1;
            counts.entry(predicted).or_default().1 += 1;
            if actual == predicted {
                correct += 1;
                counts.entry(actual).or_default().2 += 1;
            } else {
                *mistakes.entry((actual, predicted)).or_default() += 1;
            }
        }
        let per_intent: Vec<IntentScore> = counts
            .iter()
            .map(|(intent, &(support, predicted, hits))| {
                let precision = ratio(hits, predicted);
                let recall = ratio(hits, support);
                let f1 = if precision + recall == 0.0 {
                    0.0
                } else {
                    2.0 * precision * recall / (precision + recall)
                };
                IntentScore {
                    intent: intent.to_string(),
                    support,
                    predicted,
                    precision,
                    recall,
                    f1,
                }
            })
            .collect();
        let labelled: Vec<&IntentScore> = per_intent.iter().filter(|s| s.support > 0).collect();
        let predicted: Vec<&IntentScore> = per_intent.iter().filter(|s| s.predicted > 0).collect();
        let mean = |v: &[&IntentScore], f: fn(&IntentScore) -> f64| {
            if v.is_empty() {
                0.0
            } else {
                v.iter().map(|s| f(s)).sum::<f64>() / v.len() as f64
            }
        };
        let mut confused: Vec<Confusion> = mistakes
            .into_iter()
            .map(|((a, p), count)| Confusion {
                actual: a.to_string(),
                predicted: p.to_string(),
                count,
            })
            .collect();
        // Most frequent first; ties by name so the output is stable.
        confused.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then_with(|| (&a.actual, &a.predicted).cmp(&(&b.actual, &b.predicted)))
        });
        confused.truncate(top_confused);
        Report {
            examples,
            correct,
            accuracy: ratio(correct, examples),
            macro_recall: mean(&labelled, |s| s.recall),
            macro_precision: mean(&predicted, |s| s.precision),
            per_intent,
            confused,
        }
    }

    /// The report as a human-readable table.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "accuracy {:.2}% ({} of {}), macro precision {:.2}%, macro recall {:.2}%",
            100.0 * self.accuracy,
            self.correct,
            self.examples,
            100.0 * self.macro_precision,
            100.0 * self.macro_recall
        );
        let width = self
            .per_intent
            .iter()
            .map(|s| s.intent.len())
            .max()
            .unwrap_or(6)
            .max(6);
        let _ = writeln!(
            out,
            "\n{:<width$}  {:>9}  {:>7}  {:>6}  {:>7}",
            "INTENT", "PRECISION", "RECALL", "F1", "SUPPORT"
        );
        for s in &self.per_intent {
            let _ = writeln!(
                out,
                "{:<width$}  {:>8.1}%  {:>6.1}%  {:>6.3}  {:>7}",
                s.intent,
                100.0 * s.precision,
                100.0 * s.recall,
                s.f1,
                s.support
            );
        }
        if !self.confused.is_empty() {
            let _ = writeln!(out, "\nmost confused (actual -> predicted):");
            for c in &self.confused {
                let _ = writeln!(out, "{:>5}  {} -> {}", c.count, c.actual, c.predicted);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn computes_accuracy_precision_recall_and_confusions() {
        let pairs = [
            ("a", "a"),
            ("a", "a"),
            ("a", "b"),
            ("b", "b"),
            ("c", "b"),
            ("c", "b"),
        ];
        let r = Report::new(pairs, 10);
        assert_eq!((r.examples, r.correct), (6, 3));
        assert!((r.accuracy - 0.5).abs() < 1e-9);
        let b = r.per_intent.iter().find(|s| s.intent == "b").unwrap();
        assert_eq!((b.support, b.predicted), (1, 4));
        assert!((b.precision - 0.25).abs() < 1e-9 && (b.recall - 1.0).abs() < 1e-9);
        let c = r.per_intent.iter().find(|s| s.intent == "c").unwrap();
        assert_eq!((c.recall, c.f1), (0.0, 0.0));
        // recalls a 2/3, b 1, c 0
        assert!((r.macro_recall - (2.0 / 3.0 + 1.0) / 3.0).abs() < 1e-9);
        assert_eq!(
            r.confused,
            [
                Confusion {
                    actual: "c".into(),
                    predicted: "b".into(),
                    count: 2
                },
                Confusion {
                    actual: "a".into(),
                    predicted: "b".into(),
                    count: 1
                },
            ]
        );
        assert_eq!(Report::new(pairs, 1).confused.len(), 1);
        let text = r.to_text();
        assert!(text.starts_with("accuracy 50.00% (3 of 6)"), "{text}");
        assert!(text.contains("    2  c -> b"), "{text}");
    }
}
