//! Run ids: generated as `YYYYMMDD-HHMMSS-<hex>` (UTC), parsed strictly.
//!
//! A run id becomes part of a file name, so parsing accepts only `[A-Za-z0-9._-]`, never
//! `.` or `..`, never more than 128 bytes: no path traversal through a RUN argument.

use std::fmt;

use crate::MetaError;

/// The longest run id accepted, in bytes.
pub const MAX_RUN_ID_LEN: usize = 128;

/// A validated run id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RunId(String);

impl RunId {
    /// A fresh id: the current UTC time to the second and 6 random hex digits,
    /// e.g. `20261123-195751-9f3ac2`. Callers that create files retry on collision
    /// (see [`crate::RunsDir::create_run`]).
    pub fn generate() -> RunId {
        let now = chrono::Utc::now();
        let random = crate::random::random_u64() & 0x00ff_ffff;
        RunId(format!("{}-{random:06x}", now.format("%Y%m%d-%H%M%S")))
    }

    /// Accept `s` as a run id when it is 1..=128 bytes of `[A-Za-z0-9._-]` and not `.`/`..`.
    pub fn parse(s: &str) -> Result<RunId, MetaError> {
        let bad = |reason| MetaError::InvalidRunId {
            arg: s.to_owned(),
            reason,
        };
        if s.is_empty() {
            return Err(bad("empty"));
        }
        if s.len() > MAX_RUN_ID_LEN {
            return Err(bad("longer than 128 bytes"));
        }
        if s == "." || s == ".." {
            return Err(bad("not a name"));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            return Err(bad("only letters, digits, '.', '_' and '-' are allowed"));
        }
        Ok(RunId(s.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for RunId {
    type Err = MetaError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RunId::parse(s)
    }
}

impl AsRef<str> for RunId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_have_the_documented_shape() {
        let id = RunId::generate();
        let s = id.as_str();
        assert_eq!(s.len(), "20261123-195751-9f3ac2".len(), "{s}");
        let parts: Vec<&str> = s.split('-').collect();
        assert_eq!(parts.len(), 3, "{s}");
        assert_eq!(parts[0].len(), 8);
        assert!(parts[0].bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(parts[1].len(), 6);
        assert!(parts[1].bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(parts[2].len(), 6);
        assert!(
            parts[2]
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_eq!(RunId::parse(s).unwrap(), id);
    }

    #[test]
    fn generated_ids_differ() {
        let ids: std::collections::HashSet<String> =
            (0..200).map(|_| RunId::generate().0).collect();
        assert!(ids.len() > 190, "too many collisions: {}", ids.len());
    }

    #[test]
    fn accepts_plain_names() {
        for ok in [
            "20261123-195751-9f3ac2",
            "a",
            "A.b_c-1",
            "..x",
            "x..",
            ".hidden",
        ] {
            assert_eq!(RunId::parse(ok).unwrap().as_str(), ok);
        }
        assert!(RunId::parse(&"a".repeat(128)).is_ok());
    }

    #[test]
    fn rejects_traversal_and_odd_bytes() {
        for bad in [
            "",
            ".",
            "..",
            "../x",
            "x/..",
            "/etc/passwd",
            "a/b",
            "a\\b",
            "a b",
            "a\0b",
            "a\nb",
            "é",
            "x:y",
            "*",
            "~",
        ] {
            let err = RunId::parse(bad).unwrap_err();
            assert!(
                matches!(err, MetaError::InvalidRunId { ref arg, .. } if arg == bad),
                "{bad:?}: {err}"
            );
        }
        assert!(RunId::parse(&"a".repeat(129)).is_err());
    }

    #[test]
    fn error_names_the_argument() {
        let err = RunId::parse("../etc").unwrap_err().to_string();
        assert!(err.contains("'../etc'"), "{err}");
    }
}
