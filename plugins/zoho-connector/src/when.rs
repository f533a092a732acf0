//! Zoho's timestamps: ISO 8601 with a UTC offset and whole seconds
//! (`"2025-11-25T21:07:56+05:30"`, the org's time zone) in JSON and in the
//! `If-Modified-Since` header, and HTTP dates (`Date: Tue, 25 Nov 2025 15:37:56 GMT`)
//! on every response.

use time::format_description::BorrowedFormatItem;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

/// An HTTP date as RFC 9110 requires it be sent (IMF-fixdate).
const HTTP_DATE: &[BorrowedFormatItem<'_>] = format_description!(
    "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
);

/// Unix ms of a Zoho datetime (`YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM)`).
pub fn parse_iso_ms(s: &str) -> Option<i64> {
    let s = s.trim();
    // RFC 3339 parsing takes any character between date and time; Zoho writes `T`.
    if s.as_bytes().get(10) != Some(&b'T') {
        return None;
    }
    let at = OffsetDateTime::parse(s, &Rfc3339).ok()?;
    Some(at.unix_timestamp() * 1000 + i64::from(at.millisecond()))
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
    let at = PrimitiveDateTime::parse(s.trim(), HTTP_DATE).ok()?;
    Some(at.assume_utc().unix_timestamp())
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
