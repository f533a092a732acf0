//! Zoho's timestamps: ISO 8601 with a UTC offset and whole seconds
//! (`"2025-11-25T21:07:56+05:30"`, the org's time zone) in JSON and in the
//! `If-Modified-Since` header, and HTTP dates (`Date: Tue, 25 Nov 2025 15:37:56 GMT`)
//! on every response.

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// Unix ms of a Zoho datetime (`YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM)`).
pub fn parse_iso_ms(s: &str) -> Option<i64> {
    let s = s.trim();
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<u32> { s.get(from..to)?.parse().ok() };
    let month = Month::try_from(u8::try_from(num(5, 7)?).ok()?).ok()?;
    let date = Date::from_calendar_date(
        i32::try_from(num(0, 4)?).ok()?,
        month,
        u8::try_from(num(8, 10)?).ok()?,
    )
    .ok()?;
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let mut rest = &s[19..];
    let mut millis = 0u16;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.chars().take_while(char::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let padded = format!("{:0<3}", &frac[..digits.min(3)]);
        millis = padded.parse().ok()?;
        rest = &frac[digits..];
    }
    let offset = if rest == "Z" {
        UtcOffset::UTC
    } else {
        let sign: i8 = match rest.as_bytes().first()? {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        let (h, m) = rest.get(1..)?.split_once(':')?;
        if h.len() != 2 || m.len() != 2 {
            return None;
        }
        UtcOffset::from_hms(
            sign * h.parse::<i8>().ok()?,
            sign * m.parse::<i8>().ok()?,
            0,
        )
        .ok()?
    };
    let t = Time::from_hms_milli(
        u8::try_from(num(11, 13)?).ok()?,
        u8::try_from(num(14, 16)?).ok()?,
        u8::try_from(num(17, 19)?).ok()?,
        millis,
    )
    .ok()?;
    let at = PrimitiveDateTime::new(date, t).assume_offset(offset);
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()
}

/// `secs` (Unix) as Zoho writes datetimes, in UTC: `2025-11-25T15:37:56+00:00`.
pub fn format_iso(secs: i64) -> String {
    let at = OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}+00:00",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// The UTC date `days` after the Unix ms `now`, as `YYYY-MM-DD` (a Zoho date field).
pub fn date_after(now_ms: i64, days: u32) -> String {
    let at =
        OffsetDateTime::from_unix_timestamp(now_ms.div_euclid(1000) + i64::from(days) * 86_400)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}",
        at.year(),
        u8::from(at.month()),
        at.day()
    )
}

/// Unix seconds of an HTTP `Date` header (IMF-fixdate, `Tue, 25 Nov 2025 15:37:56 GMT`).
pub fn parse_http_date(s: &str) -> Option<i64> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    let [_weekday, day, month, year, clock, "GMT"] = parts.as_slice() else {
        return None;
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let m = MONTHS.iter().position(|x| x == month)?;
    let month = Month::try_from(u8::try_from(m + 1).ok()?).ok()?;
    let date = Date::from_calendar_date(year.parse().ok()?, month, day.parse().ok()?).ok()?;
    let mut hms = clock.split(':').map(|x| x.parse::<u8>().ok());
    let t = Time::from_hms(hms.next()??, hms.next()??, hms.next()??).ok()?;
    Some(
        PrimitiveDateTime::new(date, t)
            .assume_utc()
            .unix_timestamp(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zoho_datetimes_with_offsets_become_unix_ms() {
        // 2020-10-14T05:01:43Z
        assert_eq!(
            parse_iso_ms("2020-10-14T10:31:43+05:30"),
            Some(1_602_651_703_000)
        );
        assert_eq!(
            parse_iso_ms("2023-05-10T01:10:47-07:00"),
            parse_iso_ms("2023-05-10T08:10:47Z")
        );
        assert_eq!(
            parse_iso_ms("2023-05-10T08:10:47.25Z"),
            Some(parse_iso_ms("2023-05-10T08:10:47Z").unwrap() + 250)
        );
        assert_eq!(parse_iso_ms("2023-05-10 08:10:47"), None);
        assert_eq!(parse_iso_ms("yesterday"), None);
    }

    #[test]
    fn datetimes_round_trip_through_the_if_modified_since_format() {
        let s = format_iso(1_602_651_703);
        assert_eq!(s, "2020-10-14T05:01:43+00:00");
        assert_eq!(parse_iso_ms(&s), Some(1_602_651_703_000));
    }

    #[test]
    fn closing_dates_are_utc_calendar_days() {
        assert_eq!(date_after(1_602_651_703_000, 0), "2020-10-14");
        assert_eq!(date_after(1_602_651_703_000, 30), "2020-11-13");
    }

    #[test]
    fn http_dates_are_read() {
        assert_eq!(
            parse_http_date("Wed, 14 Oct 2020 05:01:43 GMT"),
            Some(1_602_651_703)
        );
        assert_eq!(parse_http_date("14 Oct 2020"), None);
    }
}
