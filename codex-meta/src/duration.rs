//! Durations on the command line: `200ms`, `5s`, `1.5s`, `2m`, `1h`, `1d`, `1h30m`; a bare
//! number is seconds. Shared by the tools' `--timeout` flags.
//!
//! Our own parser, not a wrapper of the `humantime` crate (2.4, measured against the cases
//! below): humantime refuses a bare number (`5`: "time unit needed") and `.5s`, and it
//! accepts what these flags refuse — `5 5s` (as 55 s), `1w`, `1M`, `1y`, `10us`, `5ns`,
//! and seconds past 1e12. Wrapping it would take a tokenizer of our own to refuse those,
//! i.e. this parser again; the error text (`invalid duration '…': … (e.g. 200ms, 30s, 5m,
//! 1h30m)`) stays ours either way.

use std::time::Duration;

/// Parse a duration like `200ms`, `30s`, `1.5m`, `2h`, `1d`, `1h30m` or `45` (seconds).
/// The error names the bad text.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = |why: &str| format!("invalid duration '{text}': {why} (e.g. 200ms, 30s, 5m, 1h30m)");
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(bad("no number"));
    }
    let mut secs = 0.0;
    let mut parts = 0;
    while !rest.is_empty() {
        let split = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, tail) = rest.split_at(split);
        if num.is_empty() {
            return Err(bad("no number"));
        }
        let value: f64 = num.parse().map_err(|_| bad("bad number"))?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_len);
        let scale = match unit.trim() {
            // a bare number is seconds, but only alone: `1h30` is ambiguous
            "" if parts == 0 && next.is_empty() => 1.0,
            "" => return Err(bad("a unit is needed after each number")),
            "s" | "sec" | "secs" | "second" | "seconds" => 1.0,
            "ms" | "msec" | "millis" => 0.001,
            "m" | "min" | "mins" | "minute" | "minutes" => 60.0,
            "h" | "hr" | "hour" | "hours" => 3600.0,
            "d" | "day" | "days" => 86400.0,
            _ => return Err(bad("unknown unit")),
        };
        secs += value * scale;
        parts += 1;
        rest = next;
    }
    if !secs.is_finite() || !(0.0..=1e12).contains(&secs) {
        return Err(bad("out of range"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(parse_duration("200ms"), Ok(Duration::from_millis(200)));
        assert_eq!(parse_duration("5"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86400)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("2m30s"), Ok(Duration::from_secs(150)));
        assert_eq!(
            parse_duration("1m 500ms"),
            Ok(Duration::from_millis(60_500))
        );
    }

    #[test]
    fn rejects_junk() {
        for bad in [
            "", "ms", "-1s", "1x", "1.2.3s", "s5", "nan", "1e400", "1h30", "5 5s",
        ] {
            let err = parse_duration(bad).unwrap_err();
            assert!(err.contains(&format!("'{bad}'")), "{err}");
        }
    }

    /// Where humantime 2.4 answers otherwise (why it is not used; see the module docs).
    #[test]
    fn keeps_what_humantime_would_change() {
        assert_eq!(parse_duration("5"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration(".5s"), Ok(Duration::from_millis(500)));
        for bad in ["5 5s", "1w", "1M", "1y", "10us", "5ns", "99999999999999s"] {
            let err = parse_duration(bad).unwrap_err();
            assert!(
                err.starts_with(&format!("invalid duration '{bad}': "))
                    && err.ends_with(" (e.g. 200ms, 30s, 5m, 1h30m)"),
                "{err}"
            );
        }
    }
}
