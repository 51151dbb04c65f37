//! status, list, wait, result and cancel: what the CLI tools do, by the libraries they
//! use (codex-meta's effective status, waiting and cancel; codex-summarize's summary;
//! codex-spawn's result object), shaped as small JSON objects for an agent.
//!
//! Everything here blocks (file locks, waiting for a run's end): the server calls it in
//! `spawn_blocking`. A RUN argument is what the CLI tools accept: a run id (or a unique
//! prefix), a meta path, or a launch file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use codex_meta::cancel::{CancelOutcome, cancel as cancel_run};
use codex_meta::{Meta, RunsDir, Status, read_status, wait_for};
use codex_summarize::Summary;
use nix::sys::signal::Signal;
use serde_json::{Map, Value, json};

use crate::error::ToolError;

/// The most of a run's `outcome_reason` (or a task preview) shown.
const REASON_MAX_CHARS: usize = 200;
/// The task preview in `list`.
const TASK_PREVIEW_CHARS: usize = 48;
/// The default and largest `limit` of `list`.
pub const LIST_DEFAULT: usize = 10;
const LIST_MAX: usize = 1000;

/// The meta path a RUN argument names.
pub fn resolve(runs: &RunsDir, run: &str) -> Result<PathBuf, ToolError> {
    if run.trim().is_empty() {
        return Err(ToolError::bad_args(
            "run: empty (give a run id, a meta path or a launch file)",
        ));
    }
    // the server's runs only: a client names a run, not a file of this machine to read
    // (nor to learn whether it exists: outside the runs dir, what is no launch file of a
    // run of the server's gets the one same answer)
    let not_ours = || {
        ToolError::bad_args(format!(
            "run: {} is not a run of {} (give a run id, or a meta or launch file of that runs dir)",
            codex_meta::io::one_line(run),
            runs.path().display()
        ))
    };
    let runs_dir = std::fs::canonicalize(runs.path()).ok();
    let in_runs_dir = |dir: &Path| {
        std::fs::canonicalize(dir)
            .ok()
            .is_some_and(|d| Some(d) == runs_dir)
    };
    let named = if run.contains('/') {
        Some(PathBuf::from(run))
    } else {
        let here = runs.path().join(run);
        here.is_file().then_some(here)
    };
    let path = match named {
        Some(p) => {
            let dir = match p.parent() {
                Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                _ => PathBuf::from("."),
            };
            if in_runs_dir(&dir) {
                runs.resolve_run(&p.to_string_lossy())?
            } else {
                // elsewhere only a launch file of one of its runs (kept in a project dir,
                // say); anything else, there or not, readable or not, is one answer
                match codex_meta::launch::read_launch(&p) {
                    Ok(Some(l)) => l.meta_file,
                    _ => return Err(not_ours()),
                }
            }
        }
        // an id or a prefix, looked for in the runs dir only (not the server's cwd)
        None => runs.resolve_id(run)?,
    };
    // what it resolved to (a launch file's meta, a symlink) is in the runs dir too
    let resolved_dir = std::fs::canonicalize(&path)
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf));
    if !resolved_dir.is_some_and(|d| in_runs_dir(&d)) {
        return Err(not_ours());
    }
    Ok(path)
}

/// `text` on one line, at most `max` characters (with `…` when cut).
fn preview(text: &str, max: usize) -> String {
    let flat = crate::error::one_line(text);
    if flat.chars().count() <= max {
        return flat;
    }
    let mut cut: String = flat.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// A run as `status` shows it: id, effective status, exit code, session id, how long it
/// waited in the queue (`queued_seconds`, where it was queued), its own time so far or
/// in all (`elapsed_seconds`, from its start: never the wait), and (unless it
/// succeeded) why it ended so.
pub fn entry(meta: &Meta, status: Status, meta_path: &Path) -> Map<String, Value> {
    let mut v = Map::new();
    v.insert(
        "run_id".into(),
        json!(codex_meta::display_id(meta, meta_path)),
    );
    v.insert("status".into(), json!(status.as_str()));
    v.insert("exit_code".into(), json!(meta.exit_code));
    let sid = meta.session_id.as_deref().filter(|s| !s.is_empty());
    v.insert("session_id".into(), json!(sid));
    // seconds since an RFC 3339 time of the meta, to the tenth
    let since = |at: Option<&str>| {
        let t = chrono::DateTime::parse_from_rfc3339(at?).ok()?;
        let ms = (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_milliseconds();
        Some(json!((ms.max(0) / 100) as f64 / 10.0))
    };
    // the wait in the queue: going on, or as the run recorded it
    let queued = match status {
        Status::Queued => since(meta.queued_at()),
        _ => meta.queued_seconds().map(|q| json!(q)),
    };
    if let Some(q) = queued {
        v.insert("queued_seconds".into(), q);
    }
    if status.is_live() {
        // how long it has been going (a queued run has not started)
        if let Some(e) = since(meta.started_at.as_deref()) {
            v.insert("elapsed_seconds".into(), e);
        }
    } else {
        if let Some(e) = meta.elapsed_seconds {
            v.insert("elapsed_seconds".into(), json!(e));
        }
        if status != Status::Succeeded {
            let reason = match (&meta.outcome_reason, status) {
                (Some(r), _) => Some(preview(r, REASON_MAX_CHARS)),
                (None, Status::Lost) => Some("its supervisor is gone".to_owned()),
                _ => None,
            };
            if let Some(r) = reason {
                v.insert("reason".into(), json!(r));
            }
        }
    }
    v
}

/// `status {run}`.
pub fn status(runs: &RunsDir, run: &str) -> Result<Map<String, Value>, ToolError> {
    let path = resolve(runs, run)?;
    let (meta, status) = read_status(&path)?;
    Ok(entry(&meta, status, &path))
}

/// `status {runs}`: one entry per run, in order; a run that cannot be read is an entry
/// with its `error` (the others are still shown). The count: runs that could not be read.
pub fn status_many(runs: &RunsDir, args: &[String]) -> (Map<String, Value>, usize) {
    let mut failed = 0;
    let rows = args
        .iter()
        .map(|a| match status(runs, a) {
            Ok(e) => Value::Object(e),
            Err(e) => {
                failed += 1;
                json!({"run": a, "error": e.one_line()})
            }
        })
        .collect();
    let mut v = Map::new();
    v.insert("runs".into(), Value::Array(rows));
    (v, failed)
}

/// `list {limit, status}`: the newest runs first (from the file names: only the metas
/// shown, and those filtered out on the way, are read).
pub fn list(
    runs: &RunsDir,
    limit: Option<usize>,
    only: Option<&str>,
) -> Result<Map<String, Value>, ToolError> {
    let only = only
        .map(|s| {
            s.parse::<Status>()
                .map_err(|e| ToolError::bad_args(format!("status: {e}")))
        })
        .transpose()?;
    let limit = limit.unwrap_or(LIST_DEFAULT).min(LIST_MAX);
    let mut rows = Vec::new();
    let mut unreadable = 0u64;
    let mut more = false;
    for (_, path) in runs.list_paths()? {
        let Ok((meta, status)) = read_status(&path) else {
            unreadable += 1;
            continue;
        };
        if only.is_some_and(|s| s != status) {
            continue;
        }
        if rows.len() == limit {
            more = true;
            break;
        }
        let task = meta.task.as_deref().map(|t| preview(t, TASK_PREVIEW_CHARS));
        rows.push(json!({
            "run_id": codex_meta::display_id(&meta, &path),
            "status": status.as_str(),
            "exit_code": meta.exit_code,
            "task": task,
        }));
    }
    let mut v = Map::new();
    v.insert("runs".into(), Value::Array(rows));
    if more {
        v.insert("more".into(), json!(true));
    }
    if unreadable > 0 {
        v.insert("unreadable".into(), json!(unreadable));
    }
    if !runs.path().is_dir() {
        let why = format!("no runs: {} does not exist", runs.path().display());
        v.insert("note".into(), json!(why));
    }
    Ok(v)
}

/// `wait {run, timeout_seconds}`: block until the run ends or the timeout passes (the run
/// goes on: `timed_out: true`). No polling: codex-meta's [`wait_for`].
pub fn wait(
    path: &Path,
    timeout: Duration,
    stop: &std::sync::atomic::AtomicBool,
) -> Result<Map<String, Value>, ToolError> {
    // in slices, so that a call the client cancelled (`stop`) lets its thread go soon
    let deadline = std::time::Instant::now() + timeout;
    let o = loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let o = wait_for(path, Some(left.min(WAIT_SLICE)))?;
        if !o.timed_out || left <= WAIT_SLICE {
            break o;
        }
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(ToolError::Cancelled);
        }
    };
    let mut v = entry(&o.meta, o.status, path);
    v.insert("timed_out".into(), json!(o.timed_out));
    Ok(v)
}

/// How long one look of [`wait`] lasts before it checks whether its call was cancelled
/// (each look asks a remote run's scheduler once: no oftener than codex-meta's own
/// 10 s).
const WAIT_SLICE: Duration = codex_meta::scheduler::ASK_EVERY;

/// `result {run}`: how the run ended — status, session id, usage, cost and the last
/// agent message (`result`) — from codex-spawn's result object of its final meta and
/// summary. A run that has not ended gives its status and `result: null`.
pub fn result(runs: &RunsDir, run: &str) -> Result<Map<String, Value>, ToolError> {
    let path = resolve(runs, run)?;
    let (meta, status) = read_status(&path)?;
    if status.is_live() {
        let mut v = entry(&meta, status, &path);
        v.insert("result".into(), Value::Null);
        v.insert("note".into(), json!("the run has not ended: wait for it"));
        return Ok(v);
    }
    let summary = summary_of(&meta, &path, runs.path());
    let full = codex_spawn::result::result_of_meta(&meta, status, &path, &summary);
    let mut v = Map::new();
    for k in [
        "run_id",
        "status",
        "is_error",
        "exit_code",
        "session_id",
        "duration_ms",
        "num_attempts",
        "total_cost_usd",
    ] {
        v.insert(k.into(), full.get(k).cloned().unwrap_or(Value::Null));
    }
    let mut usage = full.get("usage").cloned().unwrap_or(Value::Null);
    if let Some(u) = usage.as_object_mut() {
        // said only when true: a blended total has no input/output split
        if u.get("total_is_blended") != Some(&Value::Bool(true)) {
            u.remove("total_is_blended");
        }
    }
    v.insert("usage".into(), usage);
    if let Some(r) = entry(&meta, status, &path).remove("reason") {
        v.insert("reason".into(), r);
    }
    if let Some(w) = meta.extra.get("worktree").and_then(Value::as_object) {
        let keep = ["branch", "commit", "files_changed", "state"];
        let w: Map<String, Value> = w
            .iter()
            .filter(|(k, _)| keep.contains(&k.as_str()))
            .map(|(k, x)| (k.clone(), x.clone()))
            .collect();
        v.insert("worktree".into(), Value::Object(w));
    }
    // the whole message (the summary's), cut later to the caller's max_bytes; the result
    // object's own copy stops at 4 KiB
    let made = summary.made();
    let message = made
        .and_then(|s| s.last_message.clone())
        .map(Value::String)
        .or_else(|| full.get("result").cloned())
        .unwrap_or(Value::Null);
    if made.is_some_and(|s| s.last_message_truncated) {
        v.insert("truncated".into(), json!(true));
    }
    v.insert("result".into(), message);
    Ok(v)
}

/// The run's summary: the one codex-spawn wrote at its end (beside the meta), else made
/// now by codex-summarize (a lost run, a summary that could not be written).
fn summary_of(meta: &Meta, meta_path: &Path, runs_dir: &Path) -> Summary {
    let written = RunsDir::own_paths(meta_path)
        .map(|p| p.summary)
        .filter(|p| p.is_file())
        .and_then(|p| {
            codex_meta::files::read_capped(&p, codex_meta::files::META_MAX_BYTES, "summary").ok()
        })
        .and_then(|bytes| serde_json::from_slice::<Summary>(&bytes).ok());
    written.unwrap_or_else(|| codex_spawn::summary::summarize(Some(meta), meta_path, runs_dir))
}

/// What `cancel` did: the result, and the meta path when the supervisor was signalled
/// (to wait for it).
pub struct Cancel {
    pub result: Map<String, Value>,
    pub signalled: Option<PathBuf>,
}

/// `cancel {run, signal}`: stop the run through its supervisor (codex-meta's cancel). A
/// run that already ended is said so, not an error; a run that cannot be signalled from
/// here is.
pub fn cancel(runs: &RunsDir, run: &str, signal: Option<&str>) -> Result<Cancel, ToolError> {
    let signal = match signal {
        Some(s) => codex_meta::cancel::parse_signal(s)
            .map_err(|e| ToolError::bad_args(format!("signal: {e}")))?,
        None => Signal::SIGTERM,
    };
    let path = resolve(runs, run)?;
    let c = cancel_run(&path, signal)?;
    let id = c.id;
    let mut v = Map::new();
    v.insert("run_id".into(), json!(id));
    if let Some(why) = c.outcome.refusal(&id) {
        return Err(ToolError::Refused(why));
    }
    let note = c.outcome.note(signal).unwrap_or_default();
    let signalled = match c.outcome {
        CancelOutcome::AlreadyEnded(s) => {
            v.insert("status".into(), json!(s.as_str()));
            v.insert("note".into(), json!(note));
            None
        }
        _ => {
            v.insert("status".into(), json!("cancelling"));
            v.insert("note".into(), json!(note));
            Some(path)
        }
    };
    if let Some(w) = c.warning {
        v.insert("warning".into(), json!(w));
    }
    Ok(Cancel {
        result: v,
        signalled,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs_with(metas: &[Meta]) -> (tempfile::TempDir, RunsDir) {
        let dir = tempfile::tempdir().unwrap();
        let runs = RunsDir::new(dir.path()).unwrap();
        for m in metas {
            let path = dir.path().join(format!("codex-run-{}.meta.json", m.run_id));
            codex_meta::write_meta(&path, m).unwrap();
        }
        (dir, runs)
    }

    fn ended(id: &str, status: Status, task: &str) -> Meta {
        let mut m = Meta::new(id);
        m.status = Some(status);
        m.exit_code = Some(if status == Status::Succeeded { 0 } else { 1 });
        m.task = Some(task.to_owned());
        m.elapsed_seconds = Some(1.5);
        m
    }

    #[test]
    fn status_and_list_show_what_an_agent_needs() {
        let mut failed = ended("20260101-000001-bbbbbb", Status::Failed, "two");
        failed.outcome_reason = Some("turn.failed:\nboom".into());
        let (_d, runs) = runs_with(&[
            ended(
                "20260101-000000-aaaaaa",
                Status::Succeeded,
                &"one ".repeat(40),
            ),
            failed,
        ]);
        let s = status(&runs, "20260101-000001").unwrap();
        assert_eq!(s["status"], "failed");
        assert_eq!(s["reason"], "turn.failed: boom");
        assert_eq!(s["exit_code"], 1);
        let l = list(&runs, None, None).unwrap();
        let rows = l["runs"].as_array().unwrap();
        assert_eq!(rows[0]["run_id"], "20260101-000001-bbbbbb");
        assert!(rows[1]["task"].as_str().unwrap().ends_with('…'));
        let l = list(&runs, Some(1), Some("succeeded")).unwrap();
        assert_eq!(l["runs"][0]["status"], "succeeded");
        assert!(l.get("more").is_none());
        assert!(list(&runs, None, Some("nope")).is_err());
        let (many, failed) = status_many(&runs, &["20260101-000000".into(), "zz".into()]);
        assert_eq!(failed, 1);
        assert_eq!(many["runs"][1]["run"], "zz");
    }

    #[test]
    fn the_queue_wait_is_shown_apart_from_the_runs_own_time() {
        let mut m = ended("20260101-000000-aaaaaa", Status::Succeeded, "x");
        m.set_queued_seconds(12.5);
        let e = entry(&m, Status::Succeeded, Path::new("/nowhere/m.json"));
        assert_eq!(e["queued_seconds"], 12.5);
        assert_eq!(e["elapsed_seconds"], 1.5);
        // still queued: the wait so far, and no run time (it has not started)
        let mut q = Meta::new("20260101-000000-bbbbbb");
        q.status = Some(Status::Queued);
        let at = chrono::Utc::now() - chrono::Duration::seconds(3);
        q.set_queued_at(&at.to_rfc3339());
        let e = entry(&q, Status::Queued, Path::new("/nowhere/m.json"));
        assert!(e["queued_seconds"].as_f64().unwrap() >= 3.0, "{e:?}");
        assert!(!e.contains_key("elapsed_seconds"), "{e:?}");
    }

    #[test]
    fn an_ended_run_is_not_cancelled() {
        let (_d, runs) = runs_with(&[ended("20260101-000000-aaaaaa", Status::Killed, "x")]);
        let c = cancel(&runs, "20260101-000000-aaaaaa", None).unwrap();
        assert_eq!(c.result["status"], "killed");
        assert!(c.signalled.is_none());
        assert!(cancel(&runs, "20260101-000000-aaaaaa", Some("KILL")).is_err());
    }
}
