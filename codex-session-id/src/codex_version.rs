//! What changed in the Codex CLI, and when: the one table of version facts.
//!
//! Why here: it sits beside the decoder of Codex's output (`log/`, `rollout/`), whose
//! formats it dates, and every tool that needs it — the supervisor (which flags it may
//! pass) and the readers (how to count a resumed run's tokens) — already uses this
//! crate. The readers tell formats apart from the data wherever the data says enough;
//! where it cannot (a resumed run's `turn.completed` is per run in some versions,
//! cumulative in others, and both look the same), they ask [`has`] with the version the
//! meta records.
//!
//! Measured on the registry's builds (linux-x64), offline against the mock endpoint:
//! `tests/fixtures/codex-<version>/` holds what each version printed.

use std::fmt;
use std::str::FromStr;

/// A Codex CLI version, `major.minor.patch` (a pre-release suffix is ignored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(pub u32, pub u32, pub u32);

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

impl FromStr for Version {
    type Err = String;

    /// `0.169.0`, `v0.169.0`, `0.169.0-alpha.3`.
    ///
    /// Hand-written, not the `semver` crate: semver refuses what this accepts and codex
    /// tools rely on — the `v` of a banner, text after a space (`0.36.0 (research
    /// preview)`), an empty pre-release (`0.45.0-`) — and would need all of that cut
    /// away first, leaving it the three numbers and their order, which this is.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().trim_start_matches('v');
        let core = t.split(['-', '+', ' ']).next().unwrap_or("");
        let mut parts = core.split('.').map(|p| p.parse::<u32>());
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(Ok(a)), Some(Ok(b)), Some(Ok(c)), None) => Ok(Version(a, b, c)),
            _ => Err(format!("not a version: '{s}'")),
        }
    }
}

/// A behaviour that some versions have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fact {
    /// `codex exec resume <ID|--last> [PROMPT]`.
    ExecResume,
    /// The output names the session: `session id:` in the human header, `thread.started`
    /// in `--json` (older versions name it only in the rollout's file name and first line).
    SessionIdInOutput,
    /// `--json` prints `thread.started` / `turn.completed` events (older versions print the
    /// `{"id":…,"msg":{"type":…}}` event stream).
    ThreadEvents,
    /// The human end of a turn is `tokens used` with the number on the next line (older:
    /// one line, `[timestamp] tokens used: N`).
    TwoLineTokensUsed,
    /// `exec resume --last PROMPT` (older versions take PROMPT for the session id and
    /// refuse it beside `--last`: the prompt must come on stdin).
    ResumeLastTakesPrompt,
    /// `turn.completed` usage has `reasoning_output_tokens`.
    ReasoningTokensInTurnUsage,
    /// Token counts are the process's running total: the old event stream's
    /// `token_count` in `info.total_token_usage`, each `tokens used: N` the sum so far
    /// (older versions count one model call in each: the run's total is their sum).
    CumulativeTokenCounts,
    /// On resume, `turn.completed` and `tokens used` count the whole session (older
    /// versions with thread events count that run's own calls only).
    ResumeUsageIsCumulative,
    /// The human transcript goes to stderr and only the final message to stdout (older
    /// versions print it all on stdout).
    TranscriptOnStderr,
    /// A failed turn (an HTTP error after the retries, a quota error) exits 1 (older
    /// versions exit 0: only the output tells).
    FailedTurnExitsNonZero,
    /// The rollout gets each model call's usage (`token_count` with `total_token_usage`)
    /// as the call ends; other versions write it when the turn ends (or, 0.36-0.45, when
    /// the next request begins, after the tool ran): a budget can be judged mid-turn.
    UsageInRolloutPerCall,
    /// `codex exec fork <SESSION_ID> [PROMPT]`: a new session that goes on from another's
    /// history (its rollout names it, `forked_from_id`; its history is paginated).
    ExecFork,
}

/// `(fact, first version that has it, last version that has it)`: the table. Read it as
/// "from … to …"; `None` as the end means "to the newest".
pub const TABLE: &[(Fact, Version, Option<Version>)] = &[
    (Fact::ExecResume, Version(0, 36, 0), None),
    (Fact::SessionIdInOutput, Version(0, 44, 0), None),
    (Fact::ThreadEvents, Version(0, 44, 0), None),
    (Fact::TwoLineTokensUsed, Version(0, 44, 0), None),
    (Fact::FailedTurnExitsNonZero, Version(0, 44, 0), None),
    (Fact::TranscriptOnStderr, Version(0, 45, 0), None),
    // 0.61.0 refuses it, 0.63.0 takes it (0.62 is not on the registry)
    (Fact::ResumeLastTakesPrompt, Version(0, 63, 0), None),
    (Fact::ReasoningTokensInTurnUsage, Version(0, 100, 0), None),
    (Fact::CumulativeTokenCounts, Version(0, 34, 0), None),
    // 0.77.0 counts per run, 0.79.0 the session (0.78 is not on the registry)
    (Fact::ResumeUsageIsCumulative, Version(0, 79, 0), None),
    // a tool that sleeps 5 s after call 1: 0.45.0 and 0.131.0 have call 1's usage in the
    // rollout only after it, 0.47.0 and 0.130.0 during it (0.46 is not on the registry)
    (
        Fact::UsageInRolloutPerCall,
        Version(0, 47, 0),
        Some(Version(0, 130, 0)),
    ),
    // `codex exec --help`: 0.147.0 lists resume and review, 0.148.0 fork too
    (Fact::ExecFork, Version(0, 148, 0), None),
];

/// The oldest version codex-spawn supports (the first whose `exec` can resume a session).
pub const MIN_SUPPORTED: Version = Version(0, 36, 0);

/// The first version that has `fact` (the readers' inference from the data: output
/// that shows a fact is of that version or later).
pub fn since(fact: Fact) -> Version {
    TABLE
        .iter()
        .find(|(f, _, _)| *f == fact)
        .map_or(MIN_SUPPORTED, |(_, from, _)| *from)
}

/// Does version `v` have `fact`?
pub fn has(v: Version, fact: Fact) -> bool {
    TABLE
        .iter()
        .filter(|(f, _, _)| *f == fact)
        .any(|(_, from, to)| v >= *from && to.is_none_or(|t| v <= t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_from_numbers() {
        assert_eq!("0.169.0".parse(), Ok(Version(0, 169, 0)));
        assert_eq!("v0.36.0".parse(), Ok(Version(0, 36, 0)));
        assert_eq!("0.1.2504172351".parse(), Ok(Version(0, 1, 2504172351)));
        assert_eq!("0.45.0-alpha.2".parse(), Ok(Version(0, 45, 0)));
        assert!("0.45".parse::<Version>().is_err());
        // the banner and `codex --version` forms: codex_session_id::log::version_in
        assert!(Version(0, 100, 0) > Version(0, 99, 9));
    }

    #[test]
    fn the_table_answers_by_range() {
        assert!(!has(Version(0, 29, 0), Fact::ExecResume));
        assert!(has(Version(0, 36, 0), Fact::ExecResume));
        assert!(!has(Version(0, 77, 0), Fact::ResumeUsageIsCumulative));
        assert!(has(Version(0, 79, 0), Fact::ResumeUsageIsCumulative));
        assert!(has(Version(0, 169, 0), Fact::ResumeUsageIsCumulative));
        assert_eq!(since(Fact::ReasoningTokensInTurnUsage), Version(0, 100, 0));
        assert!(!has(Version(0, 45, 0), Fact::UsageInRolloutPerCall));
        assert!(has(Version(0, 47, 0), Fact::UsageInRolloutPerCall));
        assert!(has(Version(0, 130, 0), Fact::UsageInRolloutPerCall));
        assert!(!has(Version(0, 131, 0), Fact::UsageInRolloutPerCall));
        assert!(!has(Version(0, 147, 0), Fact::ExecFork));
        assert!(has(Version(0, 148, 0), Fact::ExecFork));
    }
}
