//! A report's dates in the tenant's time zone.
//!
//! `from` and `to` are calendar dates, both included: the range runs from local
//! midnight at the start of `from` to local midnight at the end of `to` (so a day
//! with a daylight-saving change is 23 or 25 hours long, as it was lived). An ISO
//! week (`2026-W48`) is Monday to Sunday.

use chrono::{Datelike, Days, IsoWeek, NaiveDate, TimeZone, Weekday};
use chrono_tz::Tz;
use serde::Serialize;

/// A bad range, with the API's machine-readable code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    /// Not a `YYYY-MM-DD` date.
    #[error("{field} {value:?} is not a date (YYYY-MM-DD)")]
    InvalidDate {
        /// `from` or `to`.
        field: &'static str,
        /// What was given.
        value: String,
    },
    /// `from` is after `to`.
    #[error("from {from} is after to {to}")]
    FromAfterTo {
        /// The start.
        from: NaiveDate,
        /// The end.
        to: NaiveDate,
    },
    /// Not an ISO week, or a week the year does not have (`2025-W53`).
    #[error("{0:?} is not an ISO week (YYYY-Www, e.g. 2026-W48) that exists")]
    InvalidWeek(String),
    /// Longer than the history the tenant keeps.
    #[error("the range is {days} days; history is kept for {retention_days} days")]
    TooLong {
        /// The range's length.
        days: i64,
        /// The tenant's retention.
        retention_days: u32,
    },
}

impl RangeError {
    /// The API's error code.
    pub fn code(&self) -> &'static str {
        match self {
            RangeError::InvalidDate { .. } => "invalid_date",
            RangeError::FromAfterTo { .. } => "from_after_to",
            RangeError::InvalidWeek(_) => "invalid_week",
            RangeError::TooLong { .. } => "range_too_long",
        }
    }
}

/// Dates `from`..=`to` in time zone `tz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DateRange {
    /// The first day.
    #[serde(serialize_with = "date_str")]
    pub from: NaiveDate,
    /// The last day (included).
    #[serde(serialize_with = "date_str")]
    pub to: NaiveDate,
    /// The tenant's time zone.
    #[serde(serialize_with = "tz_name")]
    pub tz: Tz,
}

fn date_str<S: serde::Serializer>(d: &NaiveDate, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&d.format("%Y-%m-%d"))
}

fn tz_name<S: serde::Serializer>(tz: &Tz, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(tz.name())
}

fn date(field: &'static str, value: &str) -> Result<NaiveDate, RangeError> {
    NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d").map_err(|_| RangeError::InvalidDate {
        field,
        value: value.into(),
    })
}

impl DateRange {
    /// `from`..=`to` from the query's strings; `None` for `to` means `from` alone
    /// and `None` for both the `default_days` ending `today`.
    ///
    /// # Errors
    /// A date that does not parse, `from` after `to`, or a range longer than
    /// `retention_days`.
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        tz: Tz,
        today: NaiveDate,
        default_days: u64,
        retention_days: u32,
    ) -> Result<DateRange, RangeError> {
        let to_date = to.map(|t| date("to", t)).transpose()?;
        let from_date = from.map(|f| date("from", f)).transpose()?;
        let (from, to) = match (from_date, to_date) {
            (Some(f), Some(t)) => (f, t),
            (Some(f), None) => (f, today.max(f)),
            (None, Some(t)) => (t - Days::new(default_days.saturating_sub(1)), t),
            (None, None) => (today - Days::new(default_days.saturating_sub(1)), today),
        };
        let r = DateRange { from, to, tz };
        r.check(retention_days)?;
        Ok(r)
    }

    /// The ISO week `2026-W48` (Monday to Sunday).
    ///
    /// # Errors
    /// [`RangeError::InvalidWeek`] when it is not one, or the year has no such week.
    pub fn iso_week(week: &str, tz: Tz) -> Result<DateRange, RangeError> {
        let bad = || RangeError::InvalidWeek(week.into());
        let (y, w) = week.trim().split_once("-W").ok_or_else(bad)?;
        let (year, num) = (
            y.parse::<i32>().map_err(|_| bad())?,
            w.parse::<u32>().map_err(|_| bad())?,
        );
        let monday = NaiveDate::from_isoywd_opt(year, num, Weekday::Mon).ok_or_else(bad)?;
        Ok(DateRange {
            from: monday,
            to: monday + Days::new(6),
            tz,
        })
    }

    /// The ISO week holding `day`, as `2026-W48`.
    pub fn week_name(day: NaiveDate) -> String {
        let w: IsoWeek = day.iso_week();
        format!("{}-W{:02}", w.year(), w.week())
    }

    /// The week before this one's start week (`2026-W48` → `2026-W47`).
    pub fn previous_week(&self) -> DateRange {
        DateRange {
            from: self.from - Days::new(7),
            to: self.from - Days::new(1),
            tz: self.tz,
        }
    }

    /// The range of the same length just before this one.
    pub fn previous(&self) -> DateRange {
        let days = self.days() as u64;
        DateRange {
            from: self.from - Days::new(days),
            to: self.from - Days::new(1),
            tz: self.tz,
        }
    }

    /// Days in the range (`to` included).
    pub fn days(&self) -> i64 {
        (self.to - self.from).num_days() + 1
    }

    /// Fails when `from` is after `to` or the range is longer than the history kept.
    ///
    /// # Errors
    /// As [`DateRange::parse`].
    pub fn check(&self, retention_days: u32) -> Result<(), RangeError> {
        if self.from > self.to {
            return Err(RangeError::FromAfterTo {
                from: self.from,
                to: self.to,
            });
        }
        if self.days() > i64::from(retention_days) {
            return Err(RangeError::TooLong {
                days: self.days(),
                retention_days,
            });
        }
        Ok(())
    }

    /// Local midnight starting `day`, in Unix ms (the first instant of the day when
    /// midnight itself does not exist on a daylight-saving change).
    pub fn midnight_ms(day: NaiveDate, tz: Tz) -> i64 {
        let naive = day.and_hms_opt(0, 0, 0).expect("midnight");
        match tz.from_local_datetime(&naive) {
            chrono::LocalResult::Single(t) => t.timestamp_millis(),
            chrono::LocalResult::Ambiguous(early, _) => early.timestamp_millis(),
            chrono::LocalResult::None => {
                // A gap at midnight (e.g. America/Santiago): the day starts an hour in.
                let later = naive + chrono::Duration::hours(1);
                tz.from_local_datetime(&later).earliest().map_or_else(
                    || naive.and_utc().timestamp_millis(),
                    |t| t.timestamp_millis(),
                )
            }
        }
    }

    /// `[start, end)` in Unix ms.
    pub fn bounds_ms(&self) -> (i64, i64) {
        (
            Self::midnight_ms(self.from, self.tz),
            Self::midnight_ms(self.to + Days::new(1), self.tz),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn ranges_are_whole_local_days() {
        let r = DateRange::parse(
            Some("2026-03-29"),
            Some("2026-03-29"),
            chrono_tz::Europe::Rome,
            d("2026-12-01"),
            30,
            180,
        )
        .unwrap();
        let (a, b) = r.bounds_ms();
        assert_eq!(
            b - a,
            23 * 3_600_000,
            "the day the clocks go forward has 23 hours"
        );
        assert_eq!(a, 1_774_738_800_000, "2026-03-29T00:00+01:00");
        let r = DateRange::parse(None, None, chrono_tz::UTC, d("2026-12-04"), 30, 180).unwrap();
        assert_eq!(
            (r.from, r.to, r.days()),
            (d("2026-11-05"), d("2026-12-04"), 30)
        );
    }

    #[test]
    fn bad_ranges_say_what_is_wrong() {
        let tz = chrono_tz::UTC;
        let today = d("2026-12-04");
        let e = DateRange::parse(Some("2026-12-05"), Some("2026-12-01"), tz, today, 30, 180)
            .unwrap_err();
        assert_eq!(e.code(), "from_after_to");
        let e = DateRange::parse(Some("2026-13-01"), None, tz, today, 30, 180).unwrap_err();
        assert_eq!(e.code(), "invalid_date");
        assert!(e.to_string().contains("2026-13-01"), "{e}");
        let e = DateRange::parse(Some("2025-01-01"), Some("2026-01-01"), tz, today, 30, 180)
            .unwrap_err();
        assert_eq!(
            (e.code(), e.to_string().contains("366 days")),
            ("range_too_long", true),
            "{e}"
        );
    }

    #[test]
    fn iso_weeks_exist_or_are_refused() {
        let tz = chrono_tz::Europe::Rome;
        let w = DateRange::iso_week("2026-W48", tz).unwrap();
        assert_eq!((w.from, w.to), (d("2026-11-23"), d("2026-11-29")));
        assert_eq!(DateRange::week_name(d("2026-11-29")), "2026-W48");
        assert_eq!(w.previous_week().from, d("2026-11-16"));
        assert_eq!(
            DateRange::iso_week("2025-W53", tz).unwrap_err().code(),
            "invalid_week"
        );
        assert!(
            DateRange::iso_week("2026-W53", tz).is_ok(),
            "2026 starts on a Thursday: 53 weeks"
        );
        assert!(
            DateRange::iso_week("2020-W53", tz).is_ok(),
            "2020 had 53 weeks"
        );
        for bad in ["2026-48", "2026-W", "W48", "2026-W00", "x-W01"] {
            assert_eq!(
                DateRange::iso_week(bad, tz).unwrap_err().code(),
                "invalid_week",
                "{bad}"
            );
        }
        assert_eq!(DateRange::week_name(d("2027-01-01")), "2026-W53");
    }
}
