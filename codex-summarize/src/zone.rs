//! The time zone of a report's days, weeks and months (`--timezone`): UTC, the local
//! zone (the default), a fixed offset or an IANA name. chrono (and chrono-tz's built-in
//! database) does the calendar; what is ours is finding an instant's day fast, since a
//! report asks once per model call.

use std::fmt;
use std::str::FromStr;

use chrono::{FixedOffset, Local, Offset, TimeZone, Utc};

/// A zone, as `--timezone` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Zone {
    /// UTC.
    Utc,
    /// This machine's zone (`TZ`, else `/etc/localtime`).
    #[default]
    Local,
    /// A fixed offset from UTC (`+02:00`).
    Fixed(FixedOffset),
    /// An IANA zone (`Europe/Berlin`), with its daylight-saving rules.
    Named(chrono_tz::Tz),
}

impl FromStr for Zone {
    type Err = String;

    /// `UTC` (or `Z`), `local`, `+02:00` / `-0530` / `+2`, or an IANA name.
    fn from_str(s: &str) -> Result<Zone, String> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("utc") || t.eq_ignore_ascii_case("z") {
            return Ok(Zone::Utc);
        }
        if t.eq_ignore_ascii_case("local") {
            return Ok(Zone::Local);
        }
        if let Some(off) = fixed_offset(t) {
            return Ok(Zone::Fixed(off));
        }
        t.parse::<chrono_tz::Tz>().map(Zone::Named).map_err(|_| {
            format!("'{s}': expected UTC, local, an offset like +02:00, or an IANA zone name like Europe/Berlin")
        })
    }
}

/// `+HH:MM`, `+HHMM` or `+HH` (or `-…`), up to ±18 hours.
fn fixed_offset(t: &str) -> Option<FixedOffset> {
    let sign = match t.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let digits: String = t[1..].chars().filter(|c| *c != ':').collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) || !matches!(digits.len(), 1 | 2 | 4) {
        return None;
    }
    let (h, m) = if digits.len() == 4 {
        (
            digits[..2].parse::<i32>().ok()?,
            digits[2..].parse::<i32>().ok()?,
        )
    } else {
        (digits.parse::<i32>().ok()?, 0)
    };
    if m >= 60 || h > 18 {
        return None;
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

impl Zone {
    /// The zone's offset from UTC at instant `ms` (epoch milliseconds), in milliseconds.
    pub fn offset_ms(self, ms: i64) -> i64 {
        let secs = |o: FixedOffset| i64::from(o.local_minus_utc()) * 1000;
        let Some(at) = chrono::DateTime::<Utc>::from_timestamp_millis(ms) else {
            return 0;
        };
        match self {
            Zone::Utc => 0,
            Zone::Fixed(o) => secs(o),
            Zone::Local => secs(Local.offset_from_utc_datetime(&at.naive_utc()).fix()),
            Zone::Named(tz) => secs(tz.offset_from_utc_datetime(&at.naive_utc()).fix()),
        }
    }
}

impl fmt::Display for Zone {
    /// `UTC`, `+02:00`, `Europe/Berlin`, or `local (UTC+01:00)` (the offset now).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Zone::Utc => f.write_str("UTC"),
            Zone::Fixed(o) => write!(f, "{o}"),
            Zone::Named(tz) => f.write_str(tz.name()),
            Zone::Local => write!(f, "local (UTC{})", Local::now().offset()),
        }
    }
}

const DAY_MS: i64 = 86_400_000;
/// Zones change their offset on a quarter hour at the finest: an instant's offset is
/// the one of its quarter hour.
const QUARTER_MS: i64 = 900_000;

/// The day (days since 1970-01-01 in the zone) of instants, remembering the offset of the
/// last quarter hour asked about: a rollout's calls come in order, so a report asks the
/// zone's rules once per quarter hour of calls, not once per call.
#[derive(Debug, Clone)]
pub struct DayOf {
    zone: Zone,
    last: Option<(i64, i64)>,
}

impl DayOf {
    /// Days of `zone`.
    pub fn new(zone: Zone) -> DayOf {
        DayOf { zone, last: None }
    }

    /// The day of instant `ms` in the zone.
    pub fn day(&mut self, ms: i64) -> i64 {
        let offset = match self.zone {
            Zone::Utc => 0,
            _ => {
                let quarter = ms.div_euclid(QUARTER_MS);
                match self.last {
                    Some((q, off)) if q == quarter => off,
                    _ => {
                        let off = self.zone.offset_ms(quarter * QUARTER_MS);
                        self.last = Some((quarter, off));
                        off
                    }
                }
            }
        };
        (ms + offset).div_euclid(DAY_MS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_parse_and_say_their_name() {
        assert_eq!("UTC".parse(), Ok(Zone::Utc));
        assert_eq!("local".parse(), Ok(Zone::Local));
        let plus2 = FixedOffset::east_opt(7200).unwrap();
        for s in ["+02:00", "+0200", "+2", "+02"] {
            assert_eq!(s.parse(), Ok(Zone::Fixed(plus2)), "{s}");
        }
        assert_eq!("-05:30".parse::<Zone>().unwrap().to_string(), "-05:30");
        assert_eq!(
            "Europe/Berlin".parse::<Zone>().unwrap().to_string(),
            "Europe/Berlin"
        );
        for bad in ["Mars/Olympus", "+25:00", "+1:60", "", "+"] {
            let e = bad.parse::<Zone>().unwrap_err();
            assert!(e.contains("expected UTC, local"), "{bad}: {e}");
        }
    }

    #[test]
    fn an_instant_falls_on_its_zones_day_across_daylight_saving() {
        let ms = |s: &str| crate::time::parse_ts_ms(s).unwrap();
        let berlin = Zone::Named(chrono_tz::Tz::Europe__Berlin);
        let mut d = DayOf::new(berlin);
        // 23:30 UTC is the next day in Berlin, winter (+1) and summer (+2) alike
        let winter = ms("2026-01-15T23:30:00Z");
        assert_eq!(d.day(winter), winter.div_euclid(DAY_MS) + 1);
        let summer = ms("2026-07-15T22:30:00Z");
        assert_eq!(d.day(summer), summer.div_euclid(DAY_MS) + 1);
        // 22:30 UTC in winter is still the same day (23:30 local)
        let late = ms("2026-01-15T22:30:00Z");
        assert_eq!(d.day(late), late.div_euclid(DAY_MS));
        // the night the clocks go forward (2026-03-29 01:00 UTC): either side
        let before = ms("2026-03-28T22:59:59Z"); // 23:59:59 +1
        let after = ms("2026-03-28T23:00:00Z"); // 00:00 +1, the 29th
        assert_eq!(d.day(after) - d.day(before), 1);
        let mut utc = DayOf::new(Zone::Utc);
        assert_eq!(utc.day(winter), winter.div_euclid(DAY_MS));
    }
}
