//! Salesforce's date and time formats ↔ Unix milliseconds.
//!
//! - REST answers dateTime fields as `2026-11-25T10:00:00.000+0000`; Outbound
//!   Messages as `2026-11-25T10:00:00.000Z` (xsd:dateTime). [`parse_ms`] takes both,
//!   and an offset written `+01:00`.
//! - Field values sent to Salesforce are `yyyy-MM-ddTHH:mm:ss.SSSZ`
//!   ([`field_datetime`]) and dates `yyyy-MM-dd` ([`date`]).
//! - SOQL dateTime literals have no fractional seconds: `2026-11-25T10:00:00Z`
//!   ([`soql_datetime`]); they are never quoted.

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// Unix ms of a Salesforce dateTime (`YYYY-MM-DDThh:mm:ss[.fff](Z|±hhmm|±hh:mm)`).
pub fn parse_ms(s: &str) -> Option<i64> {
    let s = s.trim();
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return None;
    }
    if b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = s.get(r)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let date = Date::from_calendar_date(
        i32::try_from(num(0..4)?).ok()?,
        Month::try_from(u8::try_from(num(5..7)?).ok()?).ok()?,
        u8::try_from(num(8..10)?).ok()?,
    )
    .ok()?;
    let (h, m, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &s[19..];
    let mut millis = 0u32;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        // Milliseconds: the first three digits, right-padded.
        let ms: String = frac[..digits]
            .chars()
            .chain("000".chars())
            .take(3)
            .collect();
        millis = ms.parse().ok()?;
        rest = &frac[digits..];
    }
    let offset_secs: i32 = match rest {
        "Z" | "+0000" | "+00:00" | "-0000" | "-00:00" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let digits: String = rest[1..].chars().filter(|c| *c != ':').collect();
            if digits.len() != 4 || !digits.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            let hh: i32 = digits[..2].parse().ok()?;
            let mm: i32 = digits[2..].parse().ok()?;
            sign * (hh * 3600 + mm * 60)
        }
    };
    let time = Time::from_hms_milli(
        u8::try_from(h).ok()?,
        u8::try_from(m).ok()?,
        u8::try_from(sec).ok()?,
        u16::try_from(millis).ok()?,
    )
    .ok()?;
    let offset = UtcOffset::from_whole_seconds(offset_secs).ok()?;
    let at = PrimitiveDateTime::new(date, time).assume_offset(offset);
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()
}

fn utc(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// `YYYY-MM-DD` (UTC) of Unix ms: a date field's value.
pub fn date(ms: i64) -> String {
    let t = utc(ms);
    format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}

/// `YYYY-MM-DDThh:mm:ssZ`: a SOQL dateTime literal (whole seconds, rounded down).
pub fn soql_datetime(ms: i64) -> String {
    let t = utc(ms);
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        date(ms),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// `YYYY-MM-DDThh:mm:ss.SSSZ`: a dateTime field's value.
pub fn field_datetime(ms: i64) -> String {
    let t = utc(ms);
    format!(
        "{}T{:02}:{:02}:{:02}.{:03}Z",
        date(ms),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const AT: i64 = 1_795_634_400_000; // 2026-11-25T19:20:00Z

    #[test]
    fn rest_and_soap_datetimes_become_unix_ms() {
        assert_eq!(parse_ms("2026-11-25T19:20:00.000+0000"), Some(AT));
        assert_eq!(parse_ms("2026-11-25T19:20:00.000Z"), Some(AT));
        assert_eq!(parse_ms("2026-11-25T19:20:00Z"), Some(AT));
        assert_eq!(parse_ms("2026-11-25T20:20:00.000+01:00"), Some(AT));
        assert_eq!(parse_ms("2026-11-25T11:20:00-0800"), Some(AT));
        assert_eq!(parse_ms("2026-11-25T19:20:00.5Z"), Some(AT + 500));
        assert_eq!(parse_ms("2026-11-25T19:20:00.123456Z"), Some(AT + 123));
    }

    #[test]
    fn malformed_datetimes_are_refused() {
        for bad in [
            "",
            "2026-11-25",
            "2026-13-25T19:20:00Z",
            "2026-11-25 19:20:00Z",
            "2026-11-25T19:20:00",
            "2026-11-25T19:20:00.Z",
            "2026-11-25T19:20:00+1",
            "2026-11-25T19:20:00.000+00:0x",
        ] {
            assert_eq!(parse_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn formats_round_trip() {
        assert_eq!(soql_datetime(AT + 999), "2026-11-25T19:20:00Z");
        assert_eq!(field_datetime(AT + 7), "2026-11-25T19:20:00.007Z");
        assert_eq!(date(AT), "2026-11-25");
        assert_eq!(parse_ms(&field_datetime(AT + 42)), Some(AT + 42));
        assert_eq!(parse_ms(&soql_datetime(AT)), Some(AT));
    }
}
