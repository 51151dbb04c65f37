//! codex-meta: the run record of codex-tools.
//!
//! One JSON meta file per run (`codex-run-<id>.meta.json` in a runs dir) says what the
//! run is, who runs it, and how it ended. This library is what every tool uses to name,
//! create, read, update and wait for runs:
//!
//! - [`schema`]: [`Meta`], [`Status`], [`Mode`] — unknown fields survive updates;
//! - [`outcome`]: how a run ended ([`Outcome`], the exit code of each status), its
//!   [`Attempt`]s;
//! - [`RunId`] and [`RunsDir`]: ids, file names, run allocation with O_EXCL, lookup, listing;
//! - [`read_meta`], [`write_meta`], [`update_meta`], [`write_json_atomic`]: atomic files;
//! - [`RunLock`], [`is_held`], [`effective_status`], [`wait_for`]: liveness (`lost`) and
//!   waiting without polling; [`witness`]: the second witness (pid, start time, boot id);
//! - [`scheduler`]: a run under Slurm (or in a Kubernetes pod): its job, and what the
//!   scheduler says of it to a reader on another host; cancel through it;
//! - [`cancel`]: stopping a run through its supervisor (`codex-meta cancel`, codex-mcp);
//! - [`launch`]: a launch file (codex-spawn's run lines) as a handle to its run;
//! - [`files`]: run files created O_EXCL|O_NOFOLLOW, read only from regular files, capped;
//!   runs dirs checked like ssh's StrictModes;
//! - [`cli`]: the `codex-meta` command.

pub mod assign;
pub mod cancel;
pub mod cli;
mod cmd;
pub mod duration;
mod error;
pub mod files;
pub mod git;
pub mod io;
pub mod kept;
pub mod launch;
mod lock;
pub mod outcome;
pub mod prune;
mod random;
mod run_id;
mod runs_dir;
pub mod scheduler;
pub mod schema;
mod store;
pub mod sys;
mod wait;
pub mod witness;

pub use assign::{coerce_value, parse_assignment};
pub use duration::parse_duration;
pub use error::MetaError;
pub use kept::{CancelRequest, Requester, Spend};
pub use lock::{
    EXIT_LOST, EXIT_WAIT_TIMEOUT, RunLock, effective_status, effective_status_at, is_held,
    is_held_file, log_path_for, read_status, remote_liveness, run_exit_code,
};
pub use outcome::{Attempt, AttemptCheck, Outcome, exit};
pub use run_id::{MAX_RUN_ID_LEN, RunId};
pub use runs_dir::{
    DEFAULT_RUNS_DIR, ListedRun, META_SUFFIX, NewRun, RUN_FILE_PREFIX, RUNS_DIR_ENV, RunPaths,
    RunsDir, display_id, id_from_path,
};
pub use schema::{KNOWN_FIELDS, Meta, Mode, PROTECTED_FIELDS, ParseStatusError, Status, Worktree};
pub use store::{
    LOCK_FILE, read_meta, read_meta_object, update_meta, update_meta_object, write_bytes_atomic,
    write_json_atomic, write_meta, write_meta_object,
};
pub use wait::{WaitOutcome, wait_for};
pub use witness::{Liveness, Witness};

/// The current time, UTC, RFC 3339 with milliseconds and `Z`: `2026-11-23T19:57:51.123Z`.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// This machine's host name (`"unknown"` if it cannot be read).
pub fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_is_rfc3339_utc_millis() {
        let now = now_rfc3339();
        assert_eq!(now.len(), "2026-11-23T19:57:51.123Z".len(), "{now}");
        assert!(now.ends_with('Z'));
        assert!(chrono::DateTime::parse_from_rfc3339(&now).is_ok());
    }

    #[test]
    fn hostname_is_not_empty() {
        assert!(!hostname().is_empty());
    }
}
