//! How a run ended, typed: the [`Outcome`] of a run or of one attempt, the exit status
//! that goes with each status (one mapping, [`Status::exit_code`]), and the meta's
//! `attempts` entries ([`Attempt`]).
//!
//! Why here: the supervisor writes these, and `codex-meta wait`, codex-mcp and
//! codex-summarize read them; one definition keeps the meta's flat fields (`status`,
//! `exit_code`, `signal`, `outcome_reason`) and the exit codes the tools document
//! in agreement.

use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::Status;

/// The exit statuses a run's status decides (codex-spawn's, and `codex-meta wait`'s).
pub mod exit {
    /// `verify_failed`: the check still failed when the attempts were spent.
    pub const VERIFY_FAILED: u8 = 3;
    /// `over_budget`: the run passed `--max-tokens` / `--max-cost`.
    pub const OVER_BUDGET: u8 = 4;
    /// `dependency_failed`: a run it came `--after` did not succeed.
    pub const DEPENDENCY_FAILED: u8 = 5;
    /// `timed_out` or `stalled`; also `wait`'s timeout.
    pub const TIMED_OUT: u8 = 124;
    /// `lost` (a reader's verdict), and codex-spawn's own failure to keep its files.
    pub const LOST: u8 = 125;
    /// codex-spawn could not write its files (the same number as [`LOST`]: both say
    /// "the record cannot be trusted to be complete").
    pub const OWN_FAILURE: u8 = 125;
    /// The codex binary is not executable.
    pub const NOT_EXECUTABLE: u8 = 126;
    /// The codex binary was not found.
    pub const NOT_FOUND: u8 = 127;

    /// 128+N for signal N.
    pub fn signalled(sig: nix::sys::signal::Signal) -> u8 {
        128u8.saturating_add(sig as i32 as u8)
    }
}

impl Status {
    /// The exit status this status always has, when it is fixed: 0 for `succeeded`, 3, 4,
    /// 5 for `verify_failed`, `over_budget`, `dependency_failed`, 124 for `timed_out` and
    /// `stalled` (and for a run still `queued`/`running` when a wait gives up), 125 for
    /// `lost`. `None` for `failed` and `killed`: their code is codex's, or 128+N.
    pub fn exit_code(self) -> Option<u8> {
        match self {
            Status::Succeeded => Some(0),
            Status::VerifyFailed => Some(exit::VERIFY_FAILED),
            Status::OverBudget => Some(exit::OVER_BUDGET),
            Status::DependencyFailed => Some(exit::DEPENDENCY_FAILED),
            Status::TimedOut | Status::Stalled | Status::Queued | Status::Running => {
                Some(exit::TIMED_OUT)
            }
            Status::Lost => Some(exit::LOST),
            Status::Failed | Status::Killed => None,
        }
    }
}

/// How a run, or one attempt of it, ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub status: Status,
    /// codex-spawn's exit status for it: the status's fixed one, codex's own code, or
    /// 126/127/128+N.
    pub exit_code: u8,
    /// The signal that ended codex (sent by codex-spawn, or the one it died by).
    pub signal: Option<Signal>,
    /// One line of why, for the meta's `outcome_reason`.
    pub reason: Option<String>,
}

impl Outcome {
    /// A status whose exit code is fixed ([`Status::exit_code`]; 1 for the others).
    pub fn new(status: Status, signal: Option<Signal>, reason: Option<String>) -> Outcome {
        Outcome {
            status,
            exit_code: status.exit_code().unwrap_or(1),
            signal,
            reason,
        }
    }

    /// `succeeded`, exit 0.
    pub fn succeeded() -> Outcome {
        Outcome::new(Status::Succeeded, None, None)
    }

    /// `failed` with codex-spawn's exit status `code`.
    pub fn failed(code: u8, reason: impl Into<String>) -> Outcome {
        Outcome {
            status: Status::Failed,
            exit_code: code,
            signal: None,
            reason: Some(reason.into()),
        }
    }

    /// `killed` by `sig`: exit 128+N.
    pub fn killed(sig: Signal, reason: impl Into<String>) -> Outcome {
        Outcome {
            status: Status::Killed,
            exit_code: exit::signalled(sig),
            signal: Some(sig),
            reason: Some(reason.into()),
        }
    }
}

/// The check of one attempt (`--verify`), as the meta records it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AttemptCheck {
    #[serde(default)]
    pub exit_code: Option<i32>,
    #[serde(default)]
    pub elapsed_seconds: Option<f64>,
    #[serde(default)]
    pub timed_out: Option<bool>,
    #[serde(default)]
    pub signal: Option<String>,
    #[serde(default)]
    pub output_bytes: Option<u64>,
}

/// One entry of the meta's `attempts`: one codex invocation and its check. Field order
/// here is the order in the file; unknown fields survive.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    #[serde(default)]
    pub n: Option<u32>,
    #[serde(default)]
    pub started_at: Option<String>,
    #[serde(default)]
    pub ended_at: Option<String>,
    /// codex's own exit code (null when it died by a signal).
    #[serde(default)]
    pub exit_code: Option<i32>,
    #[serde(default)]
    pub signal: Option<String>,
    #[serde(default)]
    pub status: Option<Status>,
    #[serde(default)]
    pub outcome_reason: Option<String>,
    #[serde(default)]
    pub session_id: Option<String>,
    #[serde(default)]
    pub output_bytes: Option<u64>,
    #[serde(default)]
    pub verify: Option<AttemptCheck>,
    /// codex's argv of a resumed attempt (the first one's is the meta's `codex_command`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codex_command: Option<Vec<String>>,
    /// Fields this version does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_status_has_its_exit_code_or_none() {
        let fixed: Vec<_> = Status::ALL
            .iter()
            .map(|s| (s.as_str(), s.exit_code()))
            .collect();
        assert_eq!(
            fixed,
            [
                ("queued", Some(124)),
                ("running", Some(124)),
                ("succeeded", Some(0)),
                ("failed", None),
                ("killed", None),
                ("timed_out", Some(124)),
                ("stalled", Some(124)),
                ("verify_failed", Some(3)),
                ("dependency_failed", Some(5)),
                ("over_budget", Some(4)),
                ("lost", Some(125)),
            ]
        );
        assert_eq!(Outcome::killed(Signal::SIGTERM, "x").exit_code, 143);
        assert_eq!(Outcome::new(Status::Failed, None, None).exit_code, 1);
    }

    #[test]
    fn attempts_keep_their_order_nulls_and_unknown_fields() {
        let text = r#"{"n":1,"started_at":"a","ended_at":"b","exit_code":0,"signal":null,"status":"succeeded","outcome_reason":null,"session_id":"s","output_bytes":9,"verify":null,"later":[1]}"#;
        let a: Attempt = serde_json::from_str(text).unwrap();
        assert_eq!(a.extra["later"], json!([1]));
        assert_eq!(serde_json::to_string(&a).unwrap(), text);
        let sparse: Attempt = serde_json::from_value(json!({"exit_code": 1})).unwrap();
        assert_eq!(sparse.exit_code, Some(1));
    }
}
