//! The delivery estimate as the customer reads it: a window of ± `margin` around
//! the courier's estimate, in the customer's time zone.
//!
//! A point estimate (or a range narrower than a day: its middle) becomes
//! `estimate ± margin`, e.g. `10/12 12:30–16:30`; an estimate of a whole day or
//! more (a date without a time) is shown as the day(s), e.g. `12/12`.

use jiff::Timestamp;
use jiff::tz::TimeZone;

/// A range at least this long is a day estimate, not a time.
const DAY_ESTIMATE_MS: i64 = 20 * 3_600_000;

/// The window as the customer reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// All of it, e.g. `10/12 12:30–16:30`.
    pub text: String,
    /// Its (first) day, in `date_format`.
    pub date: String,
    /// Its start time (`HH:MM`), none for a day estimate.
    pub from: Option<String>,
    /// Its end time (`HH:MM`), none for a day estimate.
    pub to: Option<String>,
}

fn format(fmt: &str, ms: i64, tz: &TimeZone) -> Result<String, String> {
    let z = Timestamp::from_millisecond(ms)
        .map_err(|e| e.to_string())?
        .to_zoned_datetime(tz.clone());
    jiff::fmt::strtime::format(fmt, &z).map_err(|e| format!("{fmt:?}: {e}"))
}

/// The window for an estimate from `from` to `to` (Unix ms; either may be
/// missing), `margin` ms either side, in `tz`; none without an estimate.
///
/// # Errors
/// A `date_format` that jiff's strftime cannot use.
pub fn window(
    from: Option<i64>,
    to: Option<i64>,
    margin: i64,
    tz: &TimeZone,
    date_format: &str,
) -> Result<Option<Window>, String> {
    let (start, end) = match (from, to) {
        (None, None) => return Ok(None),
        (Some(a), Some(b)) if b - a >= DAY_ESTIMATE_MS => {
            let first = format(date_format, a, tz)?;
            // The range ends at the start of the day after its last day.
            let last = format(date_format, b - 1, tz)?;
            let text = if first == last {
                first.clone()
            } else {
                format!("{first}–{last}")
            };
            return Ok(Some(Window {
                text,
                date: first,
                from: None,
                to: None,
            }));
        }
        (Some(a), Some(b)) => {
            let mid = a + (b - a) / 2;
            (mid - margin, mid + margin)
        }
        (Some(t), None) | (None, Some(t)) => (t - margin, t + margin),
    };
    let (d1, d2) = (
        format(date_format, start, tz)?,
        format(date_format, end, tz)?,
    );
    let (t1, t2) = (format("%H:%M", start, tz)?, format("%H:%M", end, tz)?);
    let text = if d1 == d2 {
        format!("{d1} {t1}–{t2}")
    } else {
        format!("{d1} {t1} – {d2} {t2}")
    };
    Ok(Some(Window {
        text,
        date: d1,
        from: Some(t1),
        to: Some(t2),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;
    /// 2026-12-10 13:30 UTC.
    const T: i64 = 1_796_909_400_000;

    fn tz(name: &str) -> TimeZone {
        TimeZone::get(name).unwrap()
    }

    #[test]
    fn a_point_estimate_is_two_hours_either_side_in_the_customers_zone() {
        let w = window(Some(T), Some(T), 2 * H, &tz("Europe/Rome"), "%d/%m")
            .unwrap()
            .unwrap();
        assert_eq!(w.text, "10/12 12:30–16:30");
        let w = window(Some(T), None, 2 * H, &tz("America/New_York"), "%d/%m")
            .unwrap()
            .unwrap();
        assert_eq!(w.text, "10/12 06:30–10:30");
    }

    #[test]
    fn a_window_across_midnight_names_both_days() {
        let w = window(Some(T + 9 * H), None, 2 * H, &tz("Europe/Rome"), "%d/%m")
            .unwrap()
            .unwrap();
        assert_eq!(w.text, "10/12 21:30 – 11/12 01:30");
    }

    #[test]
    fn a_day_estimate_is_the_day() {
        // 2026-12-12 00:00 in Rome is 2026-12-11 23:00 UTC.
        let day = 1_796_857_200_000 + 2 * 24 * H;
        let w = window(
            Some(day),
            Some(day + 24 * H),
            2 * H,
            &tz("Europe/Rome"),
            "%d/%m",
        )
        .unwrap()
        .unwrap();
        assert_eq!((w.text.as_str(), w.from), ("12/12", None));
        assert_eq!(
            window(None, None, 2 * H, &tz("UTC"), "%d/%m").unwrap(),
            None
        );
    }
}
