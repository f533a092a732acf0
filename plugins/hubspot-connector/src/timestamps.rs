//! HubSpot's datetimes (`"2019-10-30T03:30:17.883Z"`) ↔ Unix milliseconds.

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// Unix ms of an ISO 8601 datetime as HubSpot writes them (`…Z` or `…±hh:mm`, with
/// or without a fraction), or of a string of digits (HubSpot accepts and sometimes
/// returns epoch milliseconds).
pub fn parse_ms(s: &str) -> Option<i64> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().ok();
    }
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
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
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let mut rest = &s[19..];
    let mut nanos = 0u32;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let mut scaled = frac[..digits.min(9)].to_string();
        while scaled.len() < 9 {
            scaled.push('0');
        }
        nanos = scaled.parse().ok()?;
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => UtcOffset::UTC,
        _ => {
            let sign: i8 = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (h, m) = rest[1..].split_once(':')?;
            UtcOffset::from_hms(
                sign * h.parse::<i8>().ok()?,
                sign * m.parse::<i8>().ok()?,
                0,
            )
            .ok()?
        }
    };
    let t = Time::from_hms_nano(
        u8::try_from(num(11..13)?).ok()?,
        u8::try_from(num(14..16)?).ok()?,
        u8::try_from(num(17..19)?).ok()?,
        nanos,
    )
    .ok()?;
    let at = PrimitiveDateTime::new(date, t).assume_offset(offset);
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
