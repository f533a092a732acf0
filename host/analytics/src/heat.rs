//! Messages by local hour of the week: a 7 × 24 grid, Monday first, in the tenant's
//! time zone — when customers write, for staffing and for scheduling campaigns.

use chrono::{Datelike, TimeZone, Timelike};
use chrono_tz::Tz;
use serde::Serialize;

/// Counts by weekday (0 = Monday) and local hour.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HourOfWeek {
    /// `cells[day][hour]`: messages.
    pub cells: [[u64; 24]; 7],
    /// All of them.
    pub total: u64,
}

/// One cell with its share of the week and of its day.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Peak {
    /// `mon` … `sun`.
    pub day: &'static str,
    /// Local hour, 0–23.
    pub hour: u32,
    /// Messages.
    pub count: u64,
    /// Of the whole range's messages.
    pub share_of_week: f64,
    /// Of that weekday's messages.
    pub share_of_day: f64,
    /// How far above (or below, negative) the mean of all 168 hours, as a share
    /// (0.4 = 40 % above).
    pub above_mean: f64,
}

/// Weekday names, Monday first.
pub const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

impl HourOfWeek {
    /// An empty grid.
    pub fn new() -> HourOfWeek {
        HourOfWeek {
            cells: [[0; 24]; 7],
            total: 0,
        }
    }

    /// Counts `n` messages at `at_ms`.
    pub fn add(&mut self, at_ms: i64, n: u64, tz: Tz) {
        let Some(t) = tz.timestamp_millis_opt(at_ms).single() else {
            return;
        };
        let d = t.weekday().num_days_from_monday() as usize;
        self.cells[d][t.hour() as usize] += n;
        self.total += n;
    }

    /// The `n` busiest cells, busiest first (earlier in the week first on ties).
    pub fn peaks(&self, n: usize) -> Vec<Peak> {
        let mut all: Vec<(usize, usize, u64)> = (0..7)
            .flat_map(|d| (0..24).map(move |h| (d, h)))
            .map(|(d, h)| (d, h, self.cells[d][h]))
            .filter(|c| c.2 > 0)
            .collect();
        all.sort_by(|a, b| b.2.cmp(&a.2).then((a.0, a.1).cmp(&(b.0, b.1))));
        let mean = self.total as f64 / 168.0;
        all.into_iter()
            .take(n)
            .map(|(d, h, count)| {
                let day_total: u64 = self.cells[d].iter().sum();
                Peak {
                    day: DAY_NAMES[d],
                    hour: h as u32,
                    count,
                    share_of_week: crate::stats::share(count, self.total),
                    share_of_day: crate::stats::share(count, day_total),
                    above_mean: if mean > 0.0 {
                        ((count as f64 / mean - 1.0) * 10_000.0).round() / 10_000.0
                    } else {
                        0.0
                    },
                }
            })
            .collect()
    }
}

impl Default for HourOfWeek {
    fn default() -> Self {
        HourOfWeek::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_hours_monday_first_with_peaks() {
        let rome = chrono_tz::Europe::Rome;
        let mut g = HourOfWeek::new();
        // Tuesday 2026-12-01 10:30 Rome = 09:30 UTC.
        let tue_1030 = chrono::DateTime::parse_from_rfc3339("2026-12-01T10:30:00+01:00")
            .unwrap()
            .timestamp_millis();
        g.add(tue_1030, 3, rome);
        g.add(tue_1030 + 3_600_000, 1, rome);
        assert_eq!(g.cells[1][10], 3);
        assert_eq!(g.cells[1][11], 1);
        assert_eq!(g.total, 4);
        let p = g.peaks(1);
        assert_eq!(
            (p[0].day, p[0].hour, p[0].share_of_week, p[0].share_of_day),
            ("tue", 10, 0.75, 0.75)
        );
        assert_eq!(p[0].above_mean, 125.0, "3 against a mean of 4/168");
        assert!(HourOfWeek::new().peaks(3).is_empty());
    }
}
