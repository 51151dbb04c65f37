//! The meta file's schema: one JSON object per run, `codex-run-<id>.meta.json`.
//!
//! It exists as a typed struct so every tool agrees on field names and types, while
//! `extra` keeps whatever a newer (or older) writer added: unknown fields survive every
//! read-modify-write. Known fields that are `None` are written as `null`, so readers see
//! a stable set of keys.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The state of a run. `Lost` is never stored by an owner: readers derive it when the
/// meta says `running` (or `queued`) but no process holds the run's lock (see
/// [`crate::effective_status`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Waiting for a slot (`--max-running`) or for the runs it comes `--after`; codex
    /// has not started. Its supervisor holds the run's lock as for `running`.
    Queued,
    Running,
    Succeeded,
    Failed,
    Killed,
    TimedOut,
    Stalled,
    VerifyFailed,
    /// A run it came `--after` did not succeed: codex never started.
    DependencyFailed,
    /// `--max-tokens` / `--max-cost` was passed: codex was stopped.
    OverBudget,
    Lost,
}

impl Status {
    /// Every status, in a stable order (for help texts and validation messages).
    pub const ALL: [Status; 11] = [
        Status::Queued,
        Status::Running,
        Status::Succeeded,
        Status::Failed,
        Status::Killed,
        Status::TimedOut,
        Status::Stalled,
        Status::VerifyFailed,
        Status::DependencyFailed,
        Status::OverBudget,
        Status::Lost,
    ];

    /// The serialised name (`"timed_out"`, …).
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Running => "running",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::Killed => "killed",
            Status::TimedOut => "timed_out",
            Status::Stalled => "stalled",
            Status::VerifyFailed => "verify_failed",
            Status::DependencyFailed => "dependency_failed",
            Status::OverBudget => "over_budget",
            Status::Lost => "lost",
        }
    }

    /// True for every status but `Queued` and `Running`: the run will not change any more.
    pub fn is_terminal(&self) -> bool {
        !self.is_live()
    }

    /// `Queued` or `Running`: a supervisor owns the run (or it is lost).
    pub fn is_live(&self) -> bool {
        matches!(self, Status::Queued | Status::Running)
    }

    /// The statuses' names, comma-separated (for messages).
    pub fn names() -> String {
        Status::ALL.map(|s| s.as_str()).join(", ")
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of [`Status::from_str`]: names the bad value and lists the good ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid status '{0}' (expected one of: {names})", names = Status::names())]
pub struct ParseStatusError(pub String);

impl FromStr for Status {
    type Err = ParseStatusError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .iter()
            .copied()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| ParseStatusError(s.to_owned()))
    }
}

/// Whether a run started a new Codex session or resumed one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    New,
    Resume,
}

impl Mode {
    /// The serialised name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Mode::New => "new",
            Mode::Resume => "resume",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Mode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "new" => Ok(Mode::New),
            "resume" => Ok(Mode::Resume),
            _ => Err(format!("invalid mode '{s}' (expected new or resume)")),
        }
    }
}

/// One run's record. Field order here is the order in the file.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Meta {
    #[serde(default)]
    pub run_id: String,
    pub status: Option<Status>,
    pub mode: Option<Mode>,
    pub session_id: Option<String>,
    /// Why `session_id` is null when codex named no session in its output and its
    /// rollouts could not tell which one is the run's (e.g. two runs of one task at once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id_reason: Option<String>,
    pub resume_session: Option<String>,
    pub repo: Option<String>,
    pub repo_abs: Option<String>,
    pub task: Option<String>,
    pub codex_bin: Option<String>,
    pub codex_command: Option<Vec<String>>,
    /// The Codex CLI's version (`0.169.0`), when codex-spawn could tell it: what the
    /// readers need where a format changed meaning between versions.
    pub codex_version: Option<String>,
    pub model: Option<String>,
    pub log_file: Option<String>,
    pub meta_file: Option<String>,
    pub summary_file: Option<String>,
    pub last_message_file: Option<String>,
    /// The supervisor's pid; with `pid_start` and `boot_id` the liveness witness
    /// ([`crate::Witness`]).
    pub pid: Option<u32>,
    /// The supervisor's start time (opaque, as the platform tells it).
    pub pid_start: Option<String>,
    /// The boot the supervisor runs in (opaque).
    pub boot_id: Option<String>,
    pub host: Option<String>,
    /// RFC 3339 UTC, e.g. `2026-11-23T19:57:51.123Z` (see [`crate::now_rfc3339`]).
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
    pub elapsed_seconds: Option<f64>,
    pub exit_code: Option<i32>,
    /// The signal that ended codex, e.g. `"SIGTERM"`.
    pub signal: Option<String>,
    pub outcome_reason: Option<String>,
    /// One entry per codex invocation (the verify loop).
    pub attempts: Option<Vec<crate::Attempt>>,
    /// What went wrong beside the outcome (a file that could not be written, a notify
    /// command that failed), one line each.
    pub warnings: Option<Vec<String>>,
    /// True when the log is missing part of codex's output (the disk filled up).
    pub log_truncated: Option<bool>,
    /// Fields this version does not know; they survive updates.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The names of the fields [`Meta`] knows, in file order.
pub const KNOWN_FIELDS: &[&str] = &[
    "run_id",
    "status",
    "mode",
    "session_id",
    "session_id_reason",
    "resume_session",
    "repo",
    "repo_abs",
    "task",
    "codex_bin",
    "codex_command",
    "codex_version",
    "model",
    "log_file",
    "meta_file",
    "summary_file",
    "last_message_file",
    "pid",
    "pid_start",
    "boot_id",
    "host",
    "started_at",
    "ended_at",
    "elapsed_seconds",
    "exit_code",
    "signal",
    "outcome_reason",
    "attempts",
    "warnings",
    "log_truncated",
];

/// The fields only the run's owner writes: its identity, its files, and the liveness
/// witness. `codex-meta set` and `write` refuse them, so a record cannot be made to name
/// another run, point a reader at another file, or look alive.
pub const PROTECTED_FIELDS: &[&str] = &[
    "run_id",
    "meta_file",
    "log_file",
    "summary_file",
    "last_message_file",
    "pid",
    "pid_start",
    "boot_id",
    "host",
    "started_at",
    "worktree",
    "scheduler",
];

/// `worktree`: the git worktree a `codex-spawn --worktree` run works in, and what became
/// of it. Kept among the meta's other fields (not a typed [`Meta`] field, so a meta
/// without a worktree has no `"worktree": null`); [`Meta::worktree`] reads it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Worktree {
    /// The worktree's directory (codex's `--cd`).
    pub path: String,
    /// The branch the run works on (`codex/<run id>` unless `--branch`).
    pub branch: String,
    /// The commit the run started from (`--base`, resolved; for a resumed branch, its head).
    pub base: String,
    /// What was asked for as the base (`HEAD`, a ref, or the resumed run's branch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_ref: Option<String>,
    /// The run whose branch this run continues (`--resume` of a worktree run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resumed_from: Option<String>,
    /// The branch head at the end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// Whether the branch moved during the run (codex's commits or the leftovers').
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed: Option<bool>,
    /// The commit codex-spawn made of what codex left uncommitted, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leftovers_commit: Option<String>,
    /// `git diff --numstat base commit`, summed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files_changed: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insertions: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletions: Option<u64>,
    /// A worktree left as it is (`left`): the paths codex changed and did not commit
    /// (`git status`): work that a prune would lose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uncommitted: Option<u64>,
    /// `pending` (a queued run: made when it leaves the queue), `not_made` (it ended
    /// before), `discarded` (made, but codex never started: directory and branch gone),
    /// `active` (the run goes on, or its supervisor died), `removed` (the directory is
    /// gone, the branch kept), `kept` (`--keep-worktree`), `left` (a killed run, or one
    /// whose end could not be committed: left for inspection).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

impl Worktree {
    /// Whether its branch is there to look at, merge or prune (not for a worktree that
    /// was never made, or discarded with its branch).
    pub fn has_branch(&self) -> bool {
        !matches!(self.state.as_deref(), Some("not_made" | "discarded"))
    }
}

impl Meta {
    /// The run's [`Worktree`], if it has one (and it is well formed).
    pub fn worktree(&self) -> Option<Worktree> {
        serde_json::from_value(self.extra.get("worktree")?.clone()).ok()
    }

    /// Record the run's [`Worktree`].
    pub fn set_worktree(&mut self, w: &Worktree) {
        if let Ok(v) = serde_json::to_value(w) {
            self.extra.insert("worktree".to_owned(), v);
        }
    }

    /// A meta for a new run id with everything else unset.
    pub fn new(run_id: impl Into<String>) -> Meta {
        Meta {
            run_id: run_id.into(),
            ..Meta::default()
        }
    }

    /// The meta as a JSON object: known fields first (`null` when unset), then the unknown
    /// ones in the order they were read. An unknown key that shadows a known one is dropped.
    pub fn to_object(&self) -> Map<String, Value> {
        let mut plain = self.clone();
        let extra = std::mem::take(&mut plain.extra);
        let mut out = match serde_json::to_value(&plain) {
            Ok(Value::Object(map)) => map,
            // Serialising plain strings/numbers/enums cannot fail; keep a total function.
            _ => Map::new(),
        };
        for (k, v) in extra {
            if !KNOWN_FIELDS.contains(&k.as_str()) {
                out.insert(k, v);
            }
        }
        out
    }

    /// Parse a JSON object into a meta, checking the known fields' types.
    pub fn from_object(object: Map<String, Value>) -> Result<Meta, serde_json::Error> {
        serde_json::from_value(Value::Object(object))
    }
}

/// Check that `value` has the right type for the field `key` (any value is fine for an
/// unknown key). The message says what was expected.
pub fn validate_field(key: &str, value: &Value) -> Result<(), String> {
    if !KNOWN_FIELDS.contains(&key) {
        return Ok(());
    }
    let mut probe = Map::new();
    probe.insert(key.to_owned(), value.clone());
    match Meta::from_object(probe) {
        Ok(_) => {
            if key == "run_id" && value.is_null() {
                return Err("run_id must be a string".to_owned());
            }
            Ok(())
        }
        Err(_) => Err(match (key, value.as_str()) {
            ("status", Some(s)) => ParseStatusError(s.to_owned()).to_string(),
            ("status", None) => format!("status must be one of {} or null", Status::names()),
            _ => format!("{key} must be {}", expected_type(key)),
        }),
    }
}

/// What a known field holds, for error messages.
fn expected_type(key: &str) -> &'static str {
    match key {
        "mode" => "\"new\", \"resume\" or null",
        "pid" => "a non-negative integer or null",
        "exit_code" => "an integer or null",
        "elapsed_seconds" => "a number or null",
        "codex_command" => "an array of strings or null",
        "attempts" => "an array of attempt objects or null",
        "warnings" => "an array of strings or null",
        "log_truncated" => "true, false or null",
        "run_id" => "a string",
        _ => "a string or null",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn status_names_round_trip() {
        for st in Status::ALL {
            let v = serde_json::to_value(st).unwrap();
            assert_eq!(v, Value::String(st.to_string()));
            assert_eq!(st.as_str().parse::<Status>().unwrap(), st);
            let back: Status = serde_json::from_value(v).unwrap();
            assert_eq!(back, st);
        }
        assert_eq!(Status::TimedOut.to_string(), "timed_out");
        assert_eq!(Status::VerifyFailed.to_string(), "verify_failed");
        assert!("Running".parse::<Status>().is_err());
        assert!(!Status::Running.is_terminal());
        assert!(Status::Lost.is_terminal());
        assert!(Status::Succeeded.is_terminal());
    }

    #[test]
    fn unknown_fields_survive_round_trip_in_order() {
        let text = r#"{"run_id":"r1","zeta":1,"status":"failed","alpha":{"x":[1,2]},"exit_code":3,"elapsed_seconds":12}"#;
        let meta: Meta = serde_json::from_str(text).unwrap();
        assert_eq!(meta.status, Some(Status::Failed));
        assert_eq!(meta.exit_code, Some(3));
        assert_eq!(meta.elapsed_seconds, Some(12.0));
        let keys: Vec<&String> = meta.extra.keys().collect();
        assert_eq!(keys, ["zeta", "alpha"]);
        let obj = meta.to_object();
        assert_eq!(obj["alpha"], json!({"x":[1,2]}));
        assert_eq!(obj["zeta"], json!(1));
        // Known fields come first, unset ones as null.
        assert_eq!(obj.keys().next().map(String::as_str), Some("run_id"));
        assert_eq!(obj["session_id"], Value::Null);
        let again = Meta::from_object(obj).unwrap();
        assert_eq!(again, meta);
    }

    #[test]
    fn missing_fields_are_none_and_nulls_accepted() {
        let meta: Meta = serde_json::from_str(r#"{"status":null,"pid":null}"#).unwrap();
        assert_eq!(meta, Meta::default());
    }

    #[test]
    fn wrong_types_are_rejected() {
        assert!(serde_json::from_str::<Meta>(r#"{"status":"bogus"}"#).is_err());
        assert!(serde_json::from_str::<Meta>(r#"{"exit_code":"0"}"#).is_err());
        assert!(serde_json::from_str::<Meta>(r#"{"exit_code":1.5}"#).is_err());
        assert!(serde_json::from_str::<Meta>(r#"{"pid":-1}"#).is_err());
        assert!(serde_json::from_str::<Meta>(r#"[1]"#).is_err());
    }

    #[test]
    fn validate_field_checks_known_types_only() {
        assert!(validate_field("status", &json!("running")).is_ok());
        let err = validate_field("status", &json!("runing")).unwrap_err();
        assert!(err.contains("runing"), "{err}");
        assert!(validate_field("exit_code", &json!(0)).is_ok());
        assert!(validate_field("exit_code", &json!("zero")).is_err());
        assert!(validate_field("exit_code", &Value::Null).is_ok());
        assert!(validate_field("run_id", &Value::Null).is_err());
        assert!(validate_field("whatever", &json!({"a":1})).is_ok());
        assert!(validate_field("codex_command", &json!(["codex", "exec"])).is_ok());
        assert!(validate_field("codex_command", &json!("codex exec")).is_err());
    }

    #[test]
    fn shadowing_extra_key_is_dropped() {
        let mut meta = Meta::new("r");
        meta.extra.insert("status".into(), json!("bogus"));
        meta.status = Some(Status::Running);
        let obj = meta.to_object();
        assert_eq!(obj["status"], json!("running"));
    }
}
