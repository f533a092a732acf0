//! Salesforce's date and time formats ↔ Unix milliseconds.
//!
//! - REST answers dateTime fields as `2026-11-25T10:00:00.000+0000`; Outbound
//!   Messages as `2026-11-25T10:00:00.000Z` (xsd:dateTime). [`parse_ms`] takes both,
//!   and an offset written `+01:00`.
//! - Field values sent to Salesforce are `yyyy-MM-ddTHH:mm:ss.SSSZ`
//!   ([`field_datetime`]) and dates `yyyy-MM-dd` ([`date`]).
//! - SOQL dateTime literals have no fractional seconds: `2026-11-25T10:00:00Z`
//!   ([`soql_datetime`]); they are never quoted.

use time::OffsetDateTime;
use time::format_description::BorrowedFormatItem;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

/// A REST dateTime: RFC 3339 but for the offset, written without a colon (`+0000`).
const REST_DATETIME: &[BorrowedFormatItem<'_>] = format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]][offset_hour sign:mandatory][offset_minute]"
);

/// Unix ms of a Salesforce dateTime (`YYYY-MM-DDThh:mm:ss[.fff](Z|±hhmm|±hh:mm)`).
pub fn parse_ms(s: &str) -> Option<i64> {
    let s = s.trim();
    // RFC 3339 parsing takes any character between date and time; Salesforce writes `T`.
    if s.as_bytes().get(10) != Some(&b'T') {
        return None;
    }
    let at = OffsetDateTime::parse(s, &Rfc3339)
        .or_else(|_| OffsetDateTime::parse(s, REST_DATETIME))
        .ok()?;
    Some(at.unix_timestamp() * 1000 + i64::from(at.millisecond()))
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
