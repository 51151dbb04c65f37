//! Each tool's arguments. The JSON schemas the server lists are derived from these
//! types (their doc comments are the descriptions an agent reads), so a schema cannot
//! drift from what is accepted. Unknown fields are refused: a typo (`timeout_secs`)
//! is a one-line error naming the field, not a silently ignored limit.

use schemars::JsonSchema;
use serde::Deserialize;

/// A duration: seconds as a number, or text like `90s`, `30m`, `1h`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Duration {
    Seconds(f64),
    Text(String),
}

impl Duration {
    /// The duration as codex-spawn's `DUR` argument.
    pub fn to_arg(&self) -> Result<String, String> {
        match self {
            Duration::Seconds(s) if s.is_finite() && *s >= 0.0 => {
                Ok(format!("{}ms", (s * 1000.0).round() as u64))
            }
            Duration::Seconds(s) => Err(format!("{s}: not a duration in seconds")),
            Duration::Text(t) => Ok(t.clone()),
        }
    }
}

/// `spawn`: launch a Codex task (or a resume of a session) as a detached run.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SpawnParams {
    /// The repository codex works in (a directory; relative to the server's working directory)
    pub repo: String,
    /// The prompt (required unless `resume` or `task_file` is given)
    pub task: Option<String>,
    /// Read the prompt from this file instead (it reaches codex on its stdin)
    pub task_file: Option<String>,
    /// Resume a Codex session: a session id, `last`, or a run id whose session it continues
    pub resume: Option<String>,
    /// Options passed to `codex exec` (before `resume`), e.g. ["-m", "gpt-5.1-codex", "-s", "workspace-write"]
    pub codex_args: Option<Vec<String>>,
    /// After codex succeeds, run this shell command in the repo; while it fails, resume the session with its output
    pub verify: Option<String>,
    /// With `verify`: codex invocations at most (default 3)
    pub max_attempts: Option<u32>,
    /// With `verify`: how long one run of the check may take (default 10m)
    pub verify_timeout: Option<Duration>,
    /// Stop the run after this long (all attempts): status timed_out
    pub timeout: Option<Duration>,
    /// Stop codex when it prints nothing for this long: status stalled
    pub stall_timeout: Option<Duration>,
    /// Stop codex once the run cost more than this many US dollars: status over_budget
    pub max_cost_usd: Option<f64>,
    /// Stop codex once the run used more than this many tokens: status over_budget
    pub max_tokens: Option<u64>,
    /// Wait as `queued` while this many runs of the queue are running
    pub max_running: Option<u32>,
    /// The queue `max_running` counts in (default: one per runs dir)
    pub queue: Option<String>,
    /// Start only after these runs ended, and only if they succeeded (else: dependency_failed)
    pub after: Option<Vec<String>>,
    /// Run codex in a git worktree of its own (branch `codex/<run id>`)
    pub worktree: Option<bool>,
    /// With `worktree`: the commit the worktree starts from (default HEAD)
    pub base: Option<String>,
    /// With `worktree`: the branch name (default `codex/<run id>`)
    pub branch: Option<String>,
    /// With `worktree`: keep the worktree after the run (its branch is always kept)
    pub keep_worktree: Option<bool>,
    /// Return only once codex has named its session, with `session_id` (to resume it at once)
    pub wait_for_session: Option<bool>,
    /// With `wait_for_session`: how long to wait for the session id (default 60s)
    pub session_timeout: Option<Duration>,
    /// The most bytes of JSON to return (default 1024; at least 256)
    pub max_bytes: Option<usize>,
}

/// `status`: the status of one run or of several.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusParams {
    /// A run: its id (or a unique prefix), its meta file, or a launch file
    pub run: Option<String>,
    /// Several runs (each like `run`)
    pub runs: Option<Vec<String>>,
    /// The most bytes of JSON to return (default 1024; at least 256)
    pub max_bytes: Option<usize>,
}

/// `list`: the runs in the runs dir, newest first.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// How many runs at most (default 10)
    pub limit: Option<usize>,
    /// Only runs of this status (queued, running, succeeded, failed, killed, timed_out, stalled, verify_failed, over_budget, dependency_failed, lost)
    pub status: Option<String>,
    /// The most bytes of JSON to return (default 1024; at least 256)
    pub max_bytes: Option<usize>,
}

/// `wait`: block until a run ends (progress notifications while it runs).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WaitParams {
    /// A run: its id (or a unique prefix), its meta file, or a launch file
    pub run: String,
    /// Give up after this many seconds (the run goes on; `timed_out: true`); default 300
    pub timeout_seconds: Option<f64>,
    /// The most bytes of JSON to return (default 1024; at least 256)
    pub max_bytes: Option<usize>,
}

/// `result`: how a run ended, compactly.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResultParams {
    /// A run: its id (or a unique prefix), its meta file, or a launch file
    pub run: String,
    /// The most bytes of JSON to return (default 1024; at least 256); the last agent message is cut to fit
    pub max_bytes: Option<usize>,
}

/// `cancel`: stop a run through its supervisor.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelParams {
    /// A run: its id (or a unique prefix), its meta file, or a launch file
    pub run: String,
    /// The signal for its supervisor: TERM (default), INT or HUP
    pub signal: Option<String>,
    /// Wait up to this many seconds for the run to end (default 0: return at once)
    pub wait_seconds: Option<f64>,
    /// The most bytes of JSON to return (default 1024; at least 256)
    pub max_bytes: Option<usize>,
}

/// A timeout in seconds from a tool argument: finite, not negative, at most a day.
pub fn seconds(name: &str, value: f64) -> Result<std::time::Duration, String> {
    if !value.is_finite() || value < 0.0 {
        return Err(format!("{name}: {value} is not a number of seconds"));
    }
    Ok(std::time::Duration::from_secs_f64(value.min(86_400.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The defaults `spawn`'s schema tells an agent are codex-spawn's (stated once there).
    #[test]
    fn spawn_schema_states_codex_spawns_defaults() {
        use codex_spawn::config::{
            DEFAULT_DETACH_TIMEOUT, DEFAULT_MAX_ATTEMPTS, DEFAULT_VERIFY_TIMEOUT,
        };
        let schema = serde_json::to_value(schemars::schema_for!(SpawnParams)).unwrap();
        let stated = |field: &str| {
            let d = schema["properties"][field]["description"]
                .as_str()
                .unwrap_or_default();
            let (_, tail) = d.rsplit_once("(default ").unwrap_or(("", ""));
            tail.strip_suffix(')').unwrap_or_default().to_owned()
        };
        assert_eq!(stated("max_attempts"), DEFAULT_MAX_ATTEMPTS.to_string());
        for (field, default) in [
            ("verify_timeout", DEFAULT_VERIFY_TIMEOUT),
            ("session_timeout", DEFAULT_DETACH_TIMEOUT),
        ] {
            let text = stated(field);
            assert_eq!(
                codex_meta::parse_duration(&text),
                Ok(default),
                "{field}: {text:?}"
            );
        }
    }
}
