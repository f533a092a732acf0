//! HubSpot's datetimes (`"2019-10-30T03:30:17.883Z"`) ↔ Unix milliseconds.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Unix ms of an ISO 8601 datetime as HubSpot writes them (`…Z` or `…±hh:mm`, with
/// or without a fraction), or of a string of digits (HubSpot accepts and sometimes
/// returns epoch milliseconds).
pub fn parse_ms(s: &str) -> Option<i64> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().ok();
    }
    // RFC 3339 parsing takes any character between date and time; keep to the ones
    // ISO 8601 and RFC 3339 name.
    if !matches!(s.as_bytes().get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    let at = OffsetDateTime::parse(s, &Rfc3339).ok()?;
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()
}

/// The ISO 8601 UTC form HubSpot uses, with milliseconds.
pub fn format_ms(ms: i64) -> Option<String> {
    let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()?;
    Some(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hubspot_datetimes_become_unix_ms() {
        assert_eq!(
            parse_ms("2019-10-30T03:30:17.883Z"),
            Some(1_572_406_217_883)
        );
        assert_eq!(parse_ms("2019-10-30T03:30:17Z"), Some(1_572_406_217_000));
        assert_eq!(
            parse_ms("2019-10-30T05:30:17.883+02:00"),
            Some(1_572_406_217_883)
        );
        assert_eq!(
            parse_ms("2019-10-30T03:30:17.883456Z"),
            Some(1_572_406_217_883)
        );
        assert_eq!(parse_ms("1572406217883"), Some(1_572_406_217_883));
    }

    #[test]
    fn rejects_what_is_not_a_datetime() {
        for bad in [
            "",
            "yesterday",
            "2019-13-30T03:30:17Z",
            "2019-10-30T03:30:17",
            "2019-10-30T03:30:17.Z",
        ] {
            assert_eq!(parse_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn unix_ms_round_trip_through_iso() {
        for ms in [0, 1_572_406_217_883, 1_795_640_876_123] {
            assert_eq!(parse_ms(&format_ms(ms).unwrap()), Some(ms));
        }
        assert_eq!(
            format_ms(1_572_406_217_883).unwrap(),
            "2019-10-30T03:30:17.883Z"
        );
    }
}
