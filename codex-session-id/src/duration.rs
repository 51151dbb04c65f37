//! `parse_duration`: the `--timeout DUR` syntax shared by the codex-tools (`500ms`, `30s`,
//! `5m`, `1h`, `1.5s`; a bare number is seconds). Kept tiny and dependency-free so other
//! crates can reuse it instead of inventing their own.

use std::time::Duration;

/// Why a duration did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration '{text}': {reason}")]
pub struct DurationError {
    /// The text as given.
    pub text: String,
    /// What was wrong with it.
    pub reason: &'static str,
}

/// Parses `N[.N](ms|s|m|h)`; a bare number means seconds. Whitespace around the number
/// and between number and unit is tolerated; negative, empty, non-finite or absurdly
/// large (> ~584 years) values are errors.
///
/// ```
/// use std::time::Duration;
/// use codex_session_id::parse_duration;
/// assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
/// assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
/// assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
/// assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
/// assert!(parse_duration("soon").is_err());
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let err = |reason| DurationError {
        text: text.to_owned(),
        reason,
    };
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    if number.is_empty() {
        return Err(err("expected a number, e.g. 500ms, 30s, 5m, 1h"));
    }
    if number.starts_with('.') || number.ends_with('.') || number.matches('.').count() > 1 {
        return Err(err("malformed number"));
    }
    let value: f64 = number.parse().map_err(|_| err("malformed number"))?;
    let scale = match unit.trim() {
        "ms" => 0.001,
        "" | "s" | "sec" | "secs" => 1.0,
        "m" | "min" | "mins" => 60.0,
        "h" | "hr" | "hrs" => 3600.0,
        _ => return Err(err("unknown unit (use ms, s, m or h)")),
    };
    Duration::try_from_secs_f64(value * scale).map_err(|_| err("out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration(" 10 "), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("0.25s"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2 min"), Ok(Duration::from_secs(120)));
    }

    #[test]
    fn errors() {
        for bad in [
            "",
            "ms",
            "-1s",
            "1.2.3s",
            ".5s",
            "5.s",
            "5x",
            "1e3",
            "nan",
            "99999999999999999999h",
        ] {
            let e = parse_duration(bad).expect_err(bad);
            assert!(e.to_string().contains(bad), "{e}");
        }
    }
}
