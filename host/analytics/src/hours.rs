//! Business hours: the part of an interval that falls inside them.
//!
//! A tenant's hours are one interval per weekday in its time zone
//! (`{"mon": "09:00-18:00", …, "sun": null}`); a day that is missing or `null` is
//! closed. With no hours set, every minute counts (24/7). A customer who writes on
//! Saturday evening to a business open Monday at 9 has waited 0 business minutes
//! until Monday 9:00.

use chrono::{Datelike, Days, NaiveDate, NaiveTime, TimeZone, Timelike};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Opening hours per weekday, minutes after local midnight `[open, close)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BusinessHours {
    week: Option<[Option<(u32, u32)>; 7]>,
}

/// A bad business-hours setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("business hours: {0}")]
pub struct InvalidHours(String);

fn minutes(s: &str) -> Option<u32> {
    if s == "24:00" {
        return Some(24 * 60);
    }
    let t = NaiveTime::parse_from_str(s, "%H:%M").ok()?;
    Some(t.hour() * 60 + t.minute())
}

impl BusinessHours {
    /// Every minute counts.
    pub fn always() -> BusinessHours {
        BusinessHours { week: None }
    }

    /// From `{"mon": "09:00-18:00", "sat": "09:00-13:00", "sun": null}`; an empty map
    /// is 24/7.
    ///
    /// # Errors
    /// An unknown day, a time that is not `HH:MM`, or a close not after the open.
    pub fn parse(days: &BTreeMap<String, Option<String>>) -> Result<BusinessHours, InvalidHours> {
        if days.is_empty() {
            return Ok(BusinessHours::always());
        }
        let mut week = [None; 7];
        for (day, span) in days {
            let i = DAYS.iter().position(|d| d == day).ok_or_else(|| {
                InvalidHours(format!(
                    "{day:?} is not a day (mon, tue, wed, thu, fri, sat, sun)"
                ))
            })?;
            let Some(span) = span.as_deref().filter(|s| !s.trim().is_empty()) else {
                continue;
            };
            let bad = || {
                InvalidHours(format!(
                    "{day}: {span:?} is not HH:MM-HH:MM with the close after the open"
                ))
            };
            let (a, b) = span.trim().split_once('-').ok_or_else(bad)?;
            let (open, close) = (
                minutes(a.trim()).ok_or_else(bad)?,
                minutes(b.trim()).ok_or_else(bad)?,
            );
            if close <= open {
                return Err(bad());
            }
            week[i] = Some((open, close));
        }
        Ok(BusinessHours { week: Some(week) })
    }

    /// As the setting is written.
    pub fn to_map(&self) -> BTreeMap<String, Option<String>> {
        let Some(week) = &self.week else {
            return BTreeMap::new();
        };
        let hm = |m: u32| format!("{:02}:{:02}", m / 60, m % 60);
        DAYS.iter()
            .zip(week)
            .map(|(d, span)| {
                (
                    d.to_string(),
                    span.map(|(a, b)| format!("{}-{}", hm(a), hm(b))),
                )
            })
            .collect()
    }

    /// Whether every minute counts.
    pub fn is_always(&self) -> bool {
        self.week.is_none()
    }

    /// The business milliseconds in `[start, end)`, in time zone `tz`.
    pub fn business_ms(&self, start: i64, end: i64, tz: Tz) -> i64 {
        if end <= start {
            return 0;
        }
        let Some(week) = &self.week else {
            return end - start;
        };
        let local_day = |ms: i64| {
            tz.timestamp_millis_opt(ms)
                .single()
                .map_or_else(|| NaiveDate::MIN, |t| t.date_naive())
        };
        let (mut day, last) = (local_day(start), local_day(end));
        let mut total = 0;
        // A year at most: an unanswered message is not waited on for longer.
        for _ in 0..370 {
            if day > last {
                break;
            }
            if let Some((open, close)) = week[day.weekday().num_days_from_monday() as usize] {
                let at = |m: u32| {
                    let t = day.and_hms_opt(0, 0, 0).expect("midnight")
                        + chrono::Duration::minutes(i64::from(m));
                    tz.from_local_datetime(&t)
                        .earliest()
                        .map_or_else(|| t.and_utc().timestamp_millis(), |x| x.timestamp_millis())
                };
                let (a, b) = (at(open).max(start), at(close).min(end));
                total += (b - a).max(0);
            }
            day = day + Days::new(1);
        }
        total
    }
}

impl Serialize for BusinessHours {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_map().serialize(s)
    }
}

impl<'de> Deserialize<'de> for BusinessHours {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, Option<String>>::deserialize(d)?;
        BusinessHours::parse(&map).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hours(json: &str) -> Result<BusinessHours, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    fn ms(rfc3339: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(rfc3339)
            .unwrap()
            .timestamp_millis()
    }

    #[test]
    fn only_open_minutes_count() {
        let h = hours(
            r#"{"mon": "09:00-18:00", "tue": "09:00-18:00", "sat": "09:00-13:00", "sun": null}"#,
        )
        .unwrap();
        let rome = chrono_tz::Europe::Rome;
        // Saturday 12:50 → Monday 09:10: 10 minutes on Saturday, 10 on Monday.
        let waited = h.business_ms(
            ms("2026-11-28T12:50:00+01:00"),
            ms("2026-11-30T09:10:00+01:00"),
            rome,
        );
        assert_eq!(waited, 20 * 60_000);
        // Inside the day: all of it; entirely outside: none.
        assert_eq!(
            h.business_ms(
                ms("2026-11-30T10:00:00+01:00"),
                ms("2026-11-30T10:04:15+01:00"),
                rome
            ),
            255_000
        );
        assert_eq!(
            h.business_ms(
                ms("2026-11-29T10:00:00+01:00"),
                ms("2026-11-29T20:00:00+01:00"),
                rome
            ),
            0
        );
        assert_eq!(BusinessHours::always().business_ms(0, 5, rome), 5);
        assert_eq!(h.to_map()["sat"].as_deref(), Some("09:00-13:00"));
        assert_eq!(h.to_map()["wed"], None);
    }

    #[test]
    fn bad_hours_are_refused_with_the_reason() {
        assert!(
            hours(r#"{"lun": "09:00-18:00"}"#)
                .unwrap_err()
                .contains("\"lun\" is not a day")
        );
        assert!(
            hours(r#"{"mon": "18:00-09:00"}"#)
                .unwrap_err()
                .contains("close after the open")
        );
        assert!(hours(r#"{"mon": "9-18"}"#).unwrap_err().contains("HH:MM"));
        assert!(hours("{}").unwrap().is_always());
        assert!(hours(r#"{"mon": "00:00-24:00"}"#).is_ok());
    }
}
