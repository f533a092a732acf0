//! Churn risk per customer, as of a day: whether they are writing less than they
//! used to and how the last exchange went.
//!
//! - **interactions**: the days a customer wrote on (a burst of messages on one day is
//!   one interaction);
//! - **baseline**: their mean interactions per week over the four weeks before the last
//!   week; **last week**: their interactions in the last 7 days;
//! - **drop** = max(0, 1 − last week ÷ baseline);
//! - **mood** = 1 − the sentiment (0 very negative … 1 very positive) of their latest
//!   classified message in the last week; 0.5 when there is none;
//! - **score** = 0.6 × drop + 0.4 × mood, two decimals;
//! - **risk**: `high` when the baseline is at least 3 a week, last week at most 1 and
//!   the sentiment under 0.3; `medium` when the drop is at least half or the sentiment
//!   is under 0.3; `low` otherwise. Only customers with a baseline of at least one
//!   interaction a week are scored.

use serde::Serialize;

/// A customer's risk.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Risk {
    /// Mean interactions per week over the four weeks before the last.
    pub baseline_per_week: f64,
    /// Interactions in the last week.
    pub last_week: u64,
    /// The latest sentiment in the last week, if any.
    pub sentiment: Option<f64>,
    /// 0 (no risk) to 1.
    pub score: f64,
    /// `high`, `medium` or `low`.
    pub risk: &'static str,
}

/// The risk of a customer with `weeks[0..4]` interactions in the four weeks before
/// the last (oldest first) and `weeks[4]` in the last; `None` below a baseline of one
/// a week.
pub fn risk(weeks: [u64; 5], sentiment: Option<f64>) -> Option<Risk> {
    let baseline = weeks[..4].iter().sum::<u64>() as f64 / 4.0;
    if baseline < 1.0 {
        return None;
    }
    let last = weeks[4];
    let drop = (1.0 - last as f64 / baseline).max(0.0);
    let mood = 1.0 - sentiment.unwrap_or(0.5).clamp(0.0, 1.0);
    let score = ((0.6 * drop + 0.4 * mood) * 100.0).round() / 100.0;
    let sad = sentiment.is_some_and(|s| s < 0.3);
    let risk = if baseline >= 3.0 && last <= 1 && sad {
        "high"
    } else if drop >= 0.5 || sad {
        "medium"
    } else {
        "low"
    };
    Some(Risk {
        baseline_per_week: baseline,
        last_week: last,
        sentiment,
        score,
        risk,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_three_a_week_to_one_and_unhappy_is_high() {
        let high = risk([3, 3, 3, 3, 1], Some(0.2)).unwrap();
        assert_eq!(
            (high.risk, high.score),
            ("high", 0.72),
            "0.6 × 2/3 + 0.4 × 0.8"
        );
        let unhappy_but_loyal = risk([3, 3, 3, 3, 3], Some(0.1)).unwrap();
        assert_eq!(
            (unhappy_but_loyal.risk, unhappy_but_loyal.score),
            ("medium", 0.36)
        );
        let quieter = risk([2, 2, 2, 2, 0], None).unwrap();
        assert_eq!((quieter.risk, quieter.score), ("medium", 0.8));
        let steady = risk([1, 1, 1, 1, 1], Some(0.9)).unwrap();
        assert_eq!((steady.risk, steady.score), ("low", 0.04));
        assert!(
            risk([0, 1, 0, 1, 0], None).is_none(),
            "not a regular customer"
        );
    }
}
