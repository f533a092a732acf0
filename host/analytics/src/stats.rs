//! Summaries of durations: how many, median, mean, 90th percentile.
//!
//! Percentiles are nearest-rank (the value at rank ⌈p·n⌉ of the sorted values), so
//! every figure is one that was observed; the median of an even count is the mean of
//! the two middle values. No values: every figure is 0 and `count` says why.

use serde::Serialize;

/// A summary of durations, in seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Summary {
    /// How many durations.
    pub count: u64,
    /// Their median, s.
    pub median_s: f64,
    /// Their mean, s.
    pub mean_s: f64,
    /// Their 90th percentile (nearest rank), s.
    pub p90_s: f64,
}

/// The nearest-rank `p` percentile (0 < p ≤ 1) of sorted `v`; 0 when empty.
pub fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Summarises durations given in ms.
pub fn summarize(mut ms: Vec<i64>) -> Summary {
    if ms.is_empty() {
        return Summary::default();
    }
    ms.sort_unstable();
    let n = ms.len();
    let median = if n % 2 == 1 {
        ms[n / 2] as f64
    } else {
        (ms[n / 2 - 1] as f64 + ms[n / 2] as f64) / 2.0
    };
    let mean = ms.iter().map(|&x| x as f64).sum::<f64>() / n as f64;
    Summary {
        count: n as u64,
        median_s: round1(median / 1000.0),
        mean_s: round1(mean / 1000.0),
        p90_s: round1(percentile(&ms, 0.9) as f64 / 1000.0),
    }
}

/// `part / whole`, 0 when `whole` is 0, rounded to 4 places (a share, never NaN).
pub fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        (part as f64 / whole as f64 * 10_000.0).round() / 10_000.0
    }
}

/// Rounded to one decimal.
pub fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_of_none_one_and_many() {
        assert_eq!(summarize(vec![]), Summary::default());
        let one = summarize(vec![255_000]);
        assert_eq!(
            (one.count, one.median_s, one.mean_s, one.p90_s),
            (1, 255.0, 255.0, 255.0)
        );
        // 1..=10 minutes: median 5.5 min, mean 5.5 min, p90 the 9th value.
        let s = summarize((1..=10).rev().map(|m| m * 60_000).collect());
        assert_eq!(
            (s.count, s.median_s, s.mean_s, s.p90_s),
            (10, 330.0, 330.0, 540.0)
        );
        assert_eq!(percentile(&[1, 2, 3], 1.0), 3);
        assert_eq!(percentile(&[7], 0.01), 7);
    }

    #[test]
    fn shares_are_never_nan() {
        assert_eq!(share(0, 0), 0.0);
        assert_eq!(share(1, 3), 0.3333);
        assert_eq!(share(8, 100), 0.08);
    }
}
