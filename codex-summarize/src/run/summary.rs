//! The summary of a run, as written (`codex-run-<id>.summary.json`, `--json-out`, the
//! `summary_json=` closing line) and read back (codex-spawn's result object, codex-mcp's
//! `result`): one type each way, so no reader picks fields out of JSON by name.
//!
//! Reading is lenient, as the meta's is: a field that is missing takes its default (a
//! summary written by an older codex-tools reads), a field it does not know is ignored.

use serde::{Deserialize, Serialize};

#[cfg(test)]
use std::path::Path;

use crate::usage::Usage;

/// Where a run's token numbers came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The session's rollout (exact, per call).
    Rollout,
    /// `codex exec --json` events in the log.
    Events,
    /// The human log's `tokens used` line (blended total only).
    Log,
}

/// Token counts; `None` where unknown.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Tokens {
    /// Input tokens, cached included.
    pub input_tokens: Option<u64>,
    /// Cached input tokens.
    pub cached_input_tokens: Option<u64>,
    /// Output tokens, reasoning included.
    pub output_tokens: Option<u64>,
    /// Reasoning output tokens.
    pub reasoning_output_tokens: Option<u64>,
    /// input + output — or, when only the human log is known, the blended total
    /// (input − cached) + output (then `total_is_blended` is true).
    pub total_tokens: Option<u64>,
    /// True when `total_tokens` is the human log's blended number.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub total_is_blended: bool,
}

impl Tokens {
    pub(super) fn exact(u: &Usage) -> Tokens {
        Tokens {
            input_tokens: Some(u.input_tokens),
            cached_input_tokens: Some(u.cached_input_tokens),
            output_tokens: Some(u.output_tokens),
            reasoning_output_tokens: Some(u.reasoning_output_tokens),
            total_tokens: Some(u.total_tokens),
            total_is_blended: false,
        }
    }

    pub(super) fn blended(total: Option<u64>) -> Tokens {
        Tokens {
            total_tokens: total,
            total_is_blended: true,
            ..Tokens::default()
        }
    }

    /// The exact usage, when the split is known.
    pub fn usage(&self) -> Option<Usage> {
        Some(Usage {
            input_tokens: self.input_tokens?,
            cached_input_tokens: self.cached_input_tokens?,
            output_tokens: self.output_tokens?,
            reasoning_output_tokens: self.reasoning_output_tokens?,
            total_tokens: self.total_tokens?,
        })
    }
}

/// `token_usage` of a summary.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TokenUsage {
    /// This run's tokens.
    #[serde(flatten)]
    pub run: Tokens,
    /// Which source gave them; null when none had usage.
    pub source: Option<Source>,
    /// The session's running total at the end of this run.
    pub session_total: Option<Tokens>,
    /// Why this run's numbers are (partly) unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The rollout file read, when one was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollout_file: Option<String>,
}

/// `cost` of a summary.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Cost {
    /// USD; null when it cannot be known.
    pub usd: Option<f64>,
    /// The model priced (comma-separated when several).
    pub model: Option<String>,
    /// Where the prices came from.
    pub pricing_source: String,
    /// Why `usd` is null.
    pub reason: Option<String>,
}

/// One attempt of a run with a verify loop.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AttemptSummary {
    /// 1-based attempt number.
    pub attempt: usize,
    /// When it started.
    pub started_at: Option<String>,
    /// When it ended.
    pub ended_at: Option<String>,
    /// codex's exit code.
    pub exit_code: Option<i64>,
    /// Its tokens (from the rollout), when known.
    pub token_usage: Option<Tokens>,
    /// Its cost, when known.
    pub cost_usd: Option<f64>,
}

/// Per-attempt tokens and their total.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Attempts {
    /// Each attempt.
    pub items: Vec<AttemptSummary>,
    /// Sum over attempts (null when any attempt's tokens are unknown).
    pub total: Option<Tokens>,
    /// Sum of attempt costs (null when any is unknown).
    pub total_cost_usd: Option<f64>,
}

/// The summary of one run (the JSON written to `codex-run-<id>.summary.json`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunSummary {
    /// The run id.
    pub run_id: Option<String>,
    /// Codex's session id.
    pub session_id: Option<String>,
    /// The session this run resumed.
    pub resume_session: Option<String>,
    /// The repo.
    pub repo: Option<String>,
    /// The task.
    pub task: Option<String>,
    /// Start (RFC 3339).
    pub started_at: Option<String>,
    /// End (RFC 3339).
    pub ended_at: Option<String>,
    /// Wall time.
    pub elapsed_seconds: Option<f64>,
    /// codex's exit code.
    pub exit_code: Option<i32>,
    /// exit 0 and not a failed status.
    pub success: Option<bool>,
    /// The log.
    pub log_file: Option<String>,
    /// The meta.
    pub meta_file: Option<String>,
    /// This run's tokens.
    pub token_usage: TokenUsage,
    /// This run's cost.
    pub cost: Cost,
    /// The model used.
    pub model: Option<String>,
    /// The run's status (`lost` derived).
    pub status: Option<String>,
    /// Why the run ended as it did, when codex-spawn said so (e.g. `turn.failed: …`,
    /// `no completed turn in codex's output`): the meta's `outcome_reason`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome_reason: Option<String>,
    /// The last agent message (from the `-o` file).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_message: Option<String>,
    /// True when the `-o` file was longer than [`LAST_MESSAGE_MAX_BYTES`](super::LAST_MESSAGE_MAX_BYTES) and
    /// `last_message` is its head.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub last_message_truncated: bool,
    /// Per-attempt tokens (runs with a verify loop).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts: Option<Attempts>,
    /// `codex-spawn --worktree`: the run's branch and what changed on it (the meta's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worktree: Option<codex_meta::Worktree>,
}

/// What a run's end leaves as its summary: the summary, or — when none could be made
/// (the meta unreadable, say) — the run and why (`{"run_id": …, "error": …}`). Written
/// and read as either object (untagged): a summary never has an `error` field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Summary {
    /// No summary could be made.
    Failed {
        /// The run, when known.
        run_id: Option<String>,
        /// Why.
        error: String,
    },
    /// The summary.
    Made(Box<RunSummary>),
}

impl Summary {
    /// The summary, when one was made.
    pub fn made(&self) -> Option<&RunSummary> {
        match self {
            Summary::Made(s) => Some(s),
            Summary::Failed { .. } => None,
        }
    }
}

impl From<RunSummary> for Summary {
    fn from(s: RunSummary) -> Self {
        Summary::Made(Box::new(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The summaries the golden test pins (every kind of run codex-spawn ends) read back
    /// as the type and write again byte for byte: nothing a reader needs is lost between.
    #[test]
    fn written_summaries_read_back_as_they_were() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/golden/runs");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).expect("golden runs") {
            let path = entry.expect("entry").path();
            if !path.to_string_lossy().ends_with(".summary.json") {
                continue;
            }
            // the golden masks times and durations; a number stands where one was
            let text = std::fs::read_to_string(&path)
                .expect("summary")
                .replace("\"<V>\"", "1.5");
            let s: Summary = serde_json::from_str(&text).expect("parses");
            assert!(s.made().is_some(), "{}", path.display());
            let again = serde_json::to_string_pretty(&s).expect("writes") + "\n";
            assert_eq!(again, text, "{}", path.display());
            seen += 1;
        }
        assert!(seen >= 9, "{seen} summaries");
    }

    #[test]
    fn a_summary_that_could_not_be_made_reads_back_as_such() {
        let failed = Summary::Failed {
            run_id: Some("r1".into()),
            error: "no meta".into(),
        };
        let text = serde_json::to_string(&failed).expect("writes");
        assert_eq!(text, r#"{"run_id":"r1","error":"no meta"}"#);
        assert_eq!(
            serde_json::from_str::<Summary>(&text).expect("reads"),
            failed
        );
        // an older or newer summary: missing fields take defaults, unknown ones are ignored
        let s: Summary = serde_json::from_str(r#"{"run_id":"r2","future":1}"#).expect("reads");
        assert_eq!(s.made().and_then(|s| s.run_id.as_deref()), Some("r2"));
    }
}
