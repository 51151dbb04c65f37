//! Run events for other programs: `--event-stream FILE` (JSON lines appended with
//! O_APPEND, one write(2) per line, so concurrent runs can share a file) and
//! `--notify-cmd CMD` (`sh -c CMD` with the event's JSON on stdin).
//!
//! A notify command runs beside the run; it gets a bounded time ([`NOTIFY_WAIT`] from its
//! start, `--notify-timeout`) and is then killed with its process group. Its failure is reported as a warning in the log and never
//! changes the run's outcome.

use std::ffi::{OsStr, OsString};
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::process::{Kept, Output, Spec};

use serde_json::{Map, Value, json};

/// How long a notify command may run by default (`--notify-timeout`).
pub const NOTIFY_WAIT: Duration = Duration::from_secs(10);

/// The fields every event carries.
#[derive(Debug, Clone, Default)]
pub struct EventFields {
    pub status: String,
    pub run_id: String,
    pub session_id: Option<String>,
    pub repo: String,
    pub mode: String,
    pub exit_code: Option<i32>,
    pub log_file: String,
    pub meta_file: String,
    pub summary_file: String,
    /// `None` for a run that never left the queue.
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
    pub elapsed_seconds: Option<f64>,
    /// `attempt_*` events: the attempt's number (1-based).
    pub attempt: Option<u32>,
    /// `attempt_completed`: the `--verify` check's exit code (null when it did not run).
    pub verify_exit_code: Option<Option<i32>>,
    /// `run_completed` with `--verify`: how many codex invocations the run made.
    pub attempts: Option<u32>,
}

/// One event as a one-line JSON object (`event`, the fields, `ts`). `attempt`,
/// `verify_exit_code` and `attempts` appear only on the events that carry them.
pub fn event_json(event: &str, f: &EventFields) -> String {
    let mut m = Map::new();
    m.insert("event".into(), json!(event));
    m.insert("status".into(), json!(f.status));
    m.insert("run_id".into(), json!(f.run_id));
    m.insert("session_id".into(), json!(f.session_id));
    m.insert("repo".into(), json!(f.repo));
    m.insert("mode".into(), json!(f.mode));
    m.insert("exit_code".into(), json!(f.exit_code));
    m.insert("log_file".into(), json!(f.log_file));
    m.insert("meta_file".into(), json!(f.meta_file));
    m.insert("summary_file".into(), json!(f.summary_file));
    m.insert("started_at".into(), json!(f.started_at));
    m.insert("ended_at".into(), json!(f.ended_at));
    m.insert("elapsed_seconds".into(), json!(f.elapsed_seconds));
    if let Some(n) = f.attempt {
        m.insert("attempt".into(), json!(n));
    }
    if let Some(code) = f.verify_exit_code {
        m.insert("verify_exit_code".into(), json!(code));
    }
    if let Some(n) = f.attempts {
        m.insert("attempts".into(), json!(n));
    }
    m.insert("ts".into(), json!(codex_meta::now_rfc3339()));
    Value::Object(m).to_string()
}

/// Append one line to the event stream (created 0600 if absent).
pub fn append_event(path: &Path, line: &str) -> std::io::Result<()> {
    let mut file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)?;
    let mut buf = Vec::with_capacity(line.len() + 1);
    buf.extend_from_slice(line.as_bytes());
    buf.push(b'\n');
    file.write_all(&buf)
}

/// A notify command started for one event (through a keeper, like codex: nothing it
/// starts outlives the run).
pub struct Notify {
    event: String,
    child: Kept,
    started: Instant,
    limit: Duration,
}

/// Start `sh -c CMD` with `line` on its stdin; stdout is discarded, stderr is ours.
pub fn start_notify(cmd: &str, event: &str, line: &str, limit: Duration) -> Result<Notify, String> {
    let mut input = line.as_bytes().to_vec();
    input.push(b'\n');
    let args = [OsString::from("-c"), OsString::from(cmd)];
    let spec = Spec {
        program: Path::new("/bin/sh"),
        argv0: OsStr::new("sh"),
        args: &args,
        cwd: None,
        stdin: Some(&input),
        output: Output::Quiet,
    };
    let child = Kept::spawn(&spec)
        .map_err(|e| format!("notify command for {event} could not start: {e}"))?;
    Ok(Notify {
        event: event.to_owned(),
        child,
        started: Instant::now(),
        limit,
    })
}

impl Notify {
    /// Has it ended? `Some(warning)` when it ended badly.
    pub fn poll(&mut self) -> Option<Option<String>> {
        match self.child.try_wait() {
            Ok(Some(status)) if status.success() => Some(None),
            Ok(Some(status)) => Some(Some(format!(
                "notify command for {} failed: {status}",
                self.event
            ))),
            Ok(None) => None,
            Err(_) => {
                // what the command started is swept, not left behind
                self.child.keeper_died(&[]);
                Some(Some(format!(
                    "notify command for {}: its keeper process was killed",
                    self.event
                )))
            }
        }
    }

    /// When it must be finished.
    pub fn deadline(&self) -> Instant {
        self.started + self.limit
    }

    /// Its keeper (a sweep after another keeper's death spares it).
    pub fn keeper(&self) -> nix::unistd::Pid {
        self.child.keeper()
    }

    /// Kill it (past its deadline) with everything it started; returns the warning.
    pub fn kill(self) -> String {
        self.child.signal_group(nix::sys::signal::Signal::SIGKILL);
        self.child.finish();
        format!(
            "notify command for {} did not finish within {:.1} s: killed",
            self.event,
            self.limit.as_secs_f64()
        )
    }
}

/// Wait for all notify commands without burning CPU (sleeping in short steps), killing
/// those past their deadline. Returns the warnings.
pub fn finish_notifies(notifies: Vec<Notify>) -> Vec<String> {
    let mut warnings = Vec::new();
    let mut pending = notifies;
    let mut step = Duration::from_millis(1);
    while !pending.is_empty() {
        let mut still = Vec::new();
        for mut n in pending {
            match n.poll() {
                Some(w) => warnings.extend(w),
                None if Instant::now() >= n.deadline() => warnings.push(n.kill()),
                None => still.push(n),
            }
        }
        // a finished one's keeper is told to finish (and reaped) when it is dropped
        pending = still;
        if !pending.is_empty() {
            std::thread::sleep(step);
            step = (step * 2).min(Duration::from_millis(50));
        }
    }
    warnings
}
