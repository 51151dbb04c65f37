//! The result object: one JSON object saying how a run ended, in the shape of `claude -p
//! --output-format json`'s result (`type`, `subtype`, `is_error`, `result`, `session_id`,
//! `total_cost_usd`, `usage`, …) plus the run's status, exit codes and files.
//!
//! Why it is a module of its own: two front ends print it — codex-spawn's `--json`
//! closing line, made at the end of the run from what the supervisor holds
//! ([`result_object`]), and codex-mcp's `result` tool, made later from the run's final
//! meta and summary ([`result_of_meta`]). One function builds it, so the two never drift.

use std::path::{Path, PathBuf};

use codex_meta::{Meta, RunsDir, Status, run_exit_code};
use codex_summarize::Summary;
use serde_json::{Value, json};

/// The most of the last agent message the result object carries.
pub const RESULT_MAX_BYTES: usize = 4096;

/// What the result object is made of.
#[derive(Debug)]
pub struct ResultFacts<'a> {
    pub run_id: &'a str,
    pub status: Status,
    /// codex-spawn's exit status.
    pub code: u8,
    /// codex's own exit code, last attempt (none when it died by a signal or never ran).
    pub codex_exit: Option<i64>,
    /// The run's own time (from when it left the queue).
    pub elapsed_seconds: f64,
    /// How long it waited in the queue (`--after`, `--max-running`); `None`: never queued.
    pub queued_seconds: Option<f64>,
    pub attempts: u32,
    pub session_id: Option<&'a str>,
    /// The run's summary.
    pub summary: &'a Summary,
    pub log_file: &'a Path,
    pub meta_file: &'a Path,
    /// `None` when the summary was not written.
    pub summary_file: Option<&'a Path>,
    pub last_message_file: Option<&'a Path>,
}

/// `subtype` of the result object, by status (the names `claude -p` uses where they exist).
pub fn subtype(status: Status, code: u8) -> &'static str {
    match status {
        Status::Succeeded if code == 0 => "success",
        Status::VerifyFailed => "error_verify_failed",
        Status::OverBudget => "error_max_budget",
        Status::TimedOut => "error_timeout",
        Status::Stalled => "error_stalled",
        Status::Killed => "error_killed",
        Status::DependencyFailed => "error_dependency_failed",
        _ => "error_during_execution",
    }
}

/// The result object (see the module docs); `result`, the last agent message, is cut at
/// [`RESULT_MAX_BYTES`] (on a character boundary, with `…`).
pub fn result_object(f: &ResultFacts<'_>) -> Value {
    let s = f.summary.made();
    let tokens = s.map(|s| &s.token_usage.run);
    let token = |k: fn(&codex_summarize::run::Tokens) -> Option<u64>| tokens.and_then(k);
    let result = s.and_then(|s| s.last_message.as_deref()).map(|m| {
        if m.len() <= RESULT_MAX_BYTES {
            m.to_owned()
        } else {
            let mut end = RESULT_MAX_BYTES;
            while !m.is_char_boundary(end) {
                end -= 1;
            }
            format!("{}…", &m[..end])
        }
    });
    let path = |p: &Path| p.display().to_string();
    let mut v = json!({
        "type": "result",
        "subtype": subtype(f.status, f.code),
        "is_error": f.code != 0,
        "result": result,
        "session_id": f.session_id,
        "run_id": f.run_id,
        "duration_ms": (f.elapsed_seconds * 1000.0).round() as u64,
        "num_attempts": f.attempts,
        "total_cost_usd": s.and_then(|s| s.cost.usd),
        "usage": {
            "input_tokens": token(|t| t.input_tokens),
            "cached_input_tokens": token(|t| t.cached_input_tokens),
            "output_tokens": token(|t| t.output_tokens),
            "reasoning_output_tokens": token(|t| t.reasoning_output_tokens),
            "total_tokens": token(|t| t.total_tokens),
            "total_is_blended": tokens.is_some_and(|t| t.total_is_blended),
        },
        "status": f.status.as_str(),
        "exit_code": f.code,
        "codex_exit_code": f.codex_exit,
        "log_file": path(f.log_file),
        "meta_file": path(f.meta_file),
        "summary_file": f.summary_file.map(path),
        "last_message_file": f.last_message_file.map(path),
    });
    if let (Some(q), Some(obj)) = (f.queued_seconds, v.as_object_mut()) {
        obj.insert("queued_ms".to_owned(), json!((q * 1000.0).round() as u64));
    }
    // a --worktree run: where its work is (the branch), and how much of it
    if let (Some(w), Some(obj)) = (s.and_then(|s| s.worktree.as_ref()), v.as_object_mut()) {
        obj.insert("worktree".to_owned(), slim_worktree(w));
    }
    v
}

/// Of a `--worktree` run's record, what the result object says: the branch, its head and
/// how much changed (not the worktree's path or base: the meta has them).
fn slim_worktree(w: &codex_meta::Worktree) -> Value {
    let mut slim = serde_json::Map::new();
    let mut put = |k: &str, x: Value| {
        if !x.is_null() {
            slim.insert(k.to_owned(), x);
        }
    };
    put("branch", json!(w.branch));
    put("commit", json!(w.commit));
    put("changed", json!(w.changed));
    put("files_changed", json!(w.files_changed));
    put("insertions", json!(w.insertions));
    put("deletions", json!(w.deletions));
    put("state", json!(w.state));
    Value::Object(slim)
}

/// The result object of a run that ended, from its final meta (read from `meta_path`),
/// its effective `status` and its summary. The exit status is the one `codex-meta wait`
/// gives the run ([`run_exit_code`]); the files are the run's own, beside its meta.
pub fn result_of_meta(meta: &Meta, status: Status, meta_path: &Path, summary: &Summary) -> Value {
    let own = RunsDir::own_paths(meta_path);
    let file = |pick: fn(&codex_meta::RunPaths) -> &PathBuf| {
        own.as_ref().map(pick).filter(|p| p.is_file()).cloned()
    };
    let log = match &own {
        Some(p) => p.log.clone(),
        None => PathBuf::from(meta.log_file.clone().unwrap_or_default()),
    };
    let summary_file = file(|p| &p.summary);
    let last_message = file(|p| &p.last_message);
    let attempts = meta.attempts.as_deref().unwrap_or_default();
    let codex_exit = attempts.last().and_then(|a| a.exit_code).map(i64::from);
    let run_id = codex_meta::display_id(meta, meta_path);
    result_object(&ResultFacts {
        run_id: &run_id,
        status,
        code: run_exit_code(meta, status),
        codex_exit,
        elapsed_seconds: meta.elapsed_seconds.unwrap_or(0.0),
        queued_seconds: meta.queued_seconds(),
        attempts: u32::try_from(attempts.len()).unwrap_or(u32::MAX),
        session_id: meta.session_id.as_deref().filter(|s| !s.is_empty()),
        summary,
        log_file: &log,
        meta_file: meta_path,
        summary_file: summary_file.as_deref(),
        last_message_file: last_message.as_deref(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_message_is_cut_on_a_char_boundary() {
        let mut made = codex_summarize::RunSummary {
            last_message: Some("é".repeat(RESULT_MAX_BYTES)),
            ..Default::default()
        };
        made.cost.usd = Some(0.5);
        let summary = Summary::from(made);
        let meta_path = Path::new("/r/codex-run-20260101-000000-abcdef.meta.json");
        let mut meta = Meta::new("20260101-000000-abcdef");
        meta.exit_code = Some(1);
        meta.attempts = Some(vec![codex_meta::Attempt {
            exit_code: Some(1),
            ..Default::default()
        }]);
        let v = result_of_meta(&meta, Status::Failed, meta_path, &summary);
        let r = v["result"].as_str().unwrap();
        assert!(r.len() <= RESULT_MAX_BYTES + '…'.len_utf8(), "{}", r.len());
        assert!(r.ends_with('…'));
        assert_eq!(v["subtype"], "error_during_execution");
        assert_eq!(v["is_error"], true);
        assert_eq!(v["exit_code"], 1);
        assert_eq!(v["codex_exit_code"], 1);
        assert_eq!(v["num_attempts"], 1);
        assert_eq!(v["total_cost_usd"], 0.5);
        assert_eq!(v["log_file"], "/r/codex-run-20260101-000000-abcdef.log");
        assert_eq!(v["summary_file"], Value::Null);
    }
}
