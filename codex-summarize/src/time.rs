//! Timestamps without allocation: RFC 3339 strings to epoch milliseconds and back
//! to a UTC calendar day. Rollouts carry millions of them, so the common compact
//! form (`2026-11-23T20:21:09.006Z`) is cut into its numbers by hand (no allocation, no
//! format string); the calendar is chrono's, and anything else goes through chrono.

use chrono::{Datelike, NaiveDate};

/// chrono counts days from 0001-01-01 (day 1); ours from 1970-01-01 (day 0).
const EPOCH_DAY_FROM_CE: i64 = 719_163;

/// The day number (days since 1970-01-01) of a date.
pub fn day_of_date(date: NaiveDate) -> i64 {
    i64::from(date.num_days_from_ce()) - EPOCH_DAY_FROM_CE
}

/// The date of a day number (inverse of [`day_of_date`]); `None` past chrono's range.
pub fn date_of_day(day: i64) -> Option<NaiveDate> {
    i32::try_from(day + EPOCH_DAY_FROM_CE)
        .ok()
        .and_then(NaiveDate::from_num_days_from_ce_opt)
}

fn digits(b: &[u8], at: usize, n: usize) -> Option<u32> {
    let s = b.get(at..at + n)?;
    let mut v = 0u32;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

/// `YYYY-MM-DD` → day number.
pub fn parse_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, m, d) = (digits(b, 0, 4)?, digits(b, 5, 2)?, digits(b, 8, 2)?);
    NaiveDate::from_ymd_opt(i32::try_from(y).ok()?, m, d).map(day_of_date)
}

/// RFC 3339 timestamp → milliseconds since the epoch (UTC).
pub fn parse_ts_ms(s: &str) -> Option<i64> {
    let b = s.trim().as_bytes();
    if b.len() >= 20 && b[10] == b'T' || b.len() >= 20 && b[10] == b' ' {
        if let Some(v) = fast_ts(b) {
            return Some(v);
        }
    }
    chrono::DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|d| d.timestamp_millis())
}

fn fast_ts(b: &[u8]) -> Option<i64> {
    let day = parse_date(std::str::from_utf8(b.get(..10)?).ok()?)?;
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (h, mi, se) = (digits(b, 11, 2)?, digits(b, 14, 2)?, digits(b, 17, 2)?);
    if h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut i = 19;
    let mut ms = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let mut scale = 100i64;
        while let Some(c) = b.get(i).filter(|c| c.is_ascii_digit()) {
            ms += i64::from(c - b'0') * scale;
            scale /= 10;
            i += 1;
        }
    }
    let offset_min: i64 = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
            let v = i64::from(digits(b, i + 1, 2)? * 60 + digits(b, i + 4, 2)?);
            if *sign == b'+' { v } else { -v }
        }
        _ => return None,
    };
    let secs =
        day * 86_400 + i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(se) - offset_min * 60;
    Some(secs * 1000 + ms)
}

/// The UTC day (`YYYY-MM-DD`) of an epoch-millisecond instant.
pub fn day_string(ms: i64) -> String {
    match date_of_day(ms.div_euclid(86_400_000)) {
        Some(d) => format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day()),
        None => String::new(),
    }
}

/// A `--since/--until` bound: a date (the whole day in `zone`) or an RFC 3339 instant.
/// `end` picks the last millisecond of a date instead of the first.
pub fn parse_bound(s: &str, end: bool, zone: crate::zone::Zone) -> Option<i64> {
    if let Some(day) = parse_date(s) {
        // the zone's midnight: the offset there (taken at the UTC midnight, then again
        // at the instant it points to, for a day whose offset changed)
        let edge = if end { day + 1 } else { day } * 86_400_000;
        let guess = edge - zone.offset_ms(edge);
        let start = edge - zone.offset_ms(guess);
        return Some(if end { start - 1 } else { start });
    }
    parse_ts_ms(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_codex_timestamps() {
        let a = parse_ts_ms("2026-11-23T20:21:09.006Z");
        let b = chrono::DateTime::parse_from_rfc3339("2026-11-23T20:21:09.006Z")
            .map(|d| d.timestamp_millis())
            .ok();
        assert_eq!(a, b);
        assert_eq!(
            parse_ts_ms("2026-11-23T21:21:09+01:00"),
            parse_ts_ms("2026-11-23T20:21:09Z")
        );
        assert_eq!(parse_ts_ms("garbage"), None);
        assert_eq!(parse_ts_ms("2026-13-23T20:21:09Z"), None);
    }

    #[test]
    fn day_round_trip() {
        let ms = parse_ts_ms("2026-11-23T23:59:59.999Z").unwrap_or_default();
        assert_eq!(day_string(ms), "2026-11-23");
        assert_eq!(day_string(ms + 1), "2026-11-24");
        let leap = NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
        assert_eq!(date_of_day(day_of_date(leap)), Some(leap));
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2024-02-30"), None);
    }

    #[test]
    fn bounds() {
        use crate::zone::Zone;
        let s = parse_bound("2026-11-23", false, Zone::Utc).unwrap_or_default();
        let e = parse_bound("2026-11-23", true, Zone::Utc).unwrap_or_default();
        assert_eq!(e - s, 86_400_000 - 1);
        assert_eq!(Some(s), parse_ts_ms("2026-11-23T00:00:00Z"));
        // a day in Berlin: from its midnight (+01:00 in November) to the next
        let berlin: Zone = "Europe/Berlin".parse().unwrap();
        let s = parse_bound("2026-11-23", false, berlin);
        assert_eq!(s, parse_ts_ms("2026-11-22T23:00:00Z"));
        // the day the clocks go forward has 23 hours
        let s = parse_bound("2026-03-29", false, berlin).unwrap_or_default();
        let e = parse_bound("2026-03-29", true, berlin).unwrap_or_default();
        assert_eq!(e - s, 23 * 3_600_000 - 1);
        // an instant is an instant, whatever the zone
        let i = "2026-11-23T05:00:00Z";
        assert_eq!(parse_bound(i, false, berlin), parse_ts_ms(i));
    }
}
