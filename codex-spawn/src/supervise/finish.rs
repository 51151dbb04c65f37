//! The end of a run: the final meta, the summary, `--json-out`, `run_completed`, the
//! closing lines — and every warning said, on stderr and in the meta's `warnings`.
//!
//! The reserve was released just before ([`super::files`]), so the final meta and the
//! summary have room even when the disk filled up during the run. What goes wrong here
//! is never silent:
//! - a truncated log: the meta says `log_truncated` and `outcome_reason` (a run codex
//!   finished well is `failed` with exit 125: its record is incomplete), the log gets a
//!   note where it was cut, stderr gets one line;
//! - a summary, `--json-out`, `--event-stream` or stdout that could not be written: a
//!   warning, and exit 125 instead of 0 (the meta keeps the run's own outcome);
//! - a final meta that could not be written: a line on stderr, exit 125.

use std::io::Write;

use codex_meta::Status;
use serde_json::Value;

use super::attempts::Final;
use super::files::{Log, Stdout};
use super::{Run, Warnings};
use crate::events::{self, Notify};

/// What the end needs from the run.
pub(super) struct Ending<'a> {
    pub end: Final,
    pub log: &'a mut Log,
    pub out: &'a mut Stdout,
    pub warnings: &'a mut Warnings,
    pub notifies: Vec<Notify>,
    pub attempts: Vec<Value>,
    pub session_id: Option<String>,
    pub output_bytes: u64,
    /// `--detach=session`: how the run ended, if no session id was reported.
    pub report: &'a mut crate::detach::SessionReport,
    /// `--worktree`: what became of it.
    pub worktree: Option<codex_meta::Worktree>,
}

/// codex-spawn's exit status when it could not write its files.
pub const EXIT_OWN_FAILURE: u8 = 125;

/// What the result object is made of, beside the run.
struct ResultFacts<'a> {
    status: Status,
    code: u8,
    codex_exit: Option<i64>,
    elapsed: f64,
    attempts: u32,
    session_id: Option<&'a str>,
    summary: &'a Value,
    summary_written: bool,
}

/// `by` of a `cancel_request` (written by `codex-meta cancel`): `user@host (pid N)`.
fn describe_cancel(request: &Value) -> Option<String> {
    let by = request.get("by")?;
    let user = by
        .get("user")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| by.get("uid").map(|u| format!("uid {u}")))
        .unwrap_or_else(|| "someone".to_owned());
    let host = by.get("host").and_then(Value::as_str).unwrap_or("?");
    let pid = by.get("pid").and_then(Value::as_u64);
    // codex-meta cancel, or codex-mcp's cancel tool (a name of ours only, never a path)
    let tool = by
        .get("tool")
        .and_then(Value::as_str)
        .filter(|t| matches!(*t, "codex-mcp" | "codex-meta"))
        .unwrap_or("codex-meta");
    Some(match pid {
        Some(p) => format!("{tool} cancel ({user}@{host}, pid {p})"),
        None => format!("{tool} cancel ({user}@{host})"),
    })
}

impl Run {
    /// The `--json` closing line: one object shaped like `claude -p --output-format
    /// json`'s result, with the run's files ([`crate::result`]).
    fn result_object(&self, f: &ResultFacts<'_>) -> Value {
        crate::result::result_object(&crate::result::ResultFacts {
            run_id: &self.id,
            status: f.status,
            code: f.code,
            codex_exit: f.codex_exit,
            elapsed_seconds: f.elapsed,
            queued_seconds: self.queued_seconds(),
            attempts: f.attempts,
            session_id: f.session_id,
            summary: f.summary,
            log_file: &self.log_path,
            meta_file: &self.meta_path,
            summary_file: f.summary_written.then_some(self.summary_path.as_path()),
            last_message_file: self.last_message.as_deref(),
        })
    }

    /// Write the run's end (see the module docs); returns the exit status.
    pub(super) fn finish(&self, e: Ending<'_>) -> u8 {
        let Ending {
            mut end,
            log,
            out,
            warnings,
            notifies,
            attempts,
            session_id,
            output_bytes,
            report,
            worktree,
        } = e;
        let verifying = self.config.verify.is_some();
        let elapsed = self.elapsed();
        // The streaming phase's peak memory, before the summary reads anything.
        let peak_rss = codex_meta::io::peak_rss_kib().unwrap_or(0);

        let truncation = log.truncation();
        if let Some(t) = &truncation {
            let note = format!(
                "the log is incomplete: writing it failed after {} bytes ({}); {} bytes of codex's output were read but could not be kept",
                t.written, t.error, t.lost
            );
            if end.status == Status::Succeeded {
                end.status = Status::Failed;
                end.exit_code = EXIT_OWN_FAILURE;
                end.reason = Some(format!("{note} (codex itself succeeded)"));
            }
            warnings.push(note.clone());
            let mut line = String::new();
            if log.last != b'\n' {
                line.push('\n');
            }
            line.push_str(&format!("codex-spawn: {note}\n"));
            log.write_after_release(line.as_bytes());
        }
        if let Some(err) = out.error() {
            warnings.undelivered(format!("cannot write to stdout: {err}"));
        }

        // Final meta and summary. The summary is made from the final meta in memory, so
        // the meta can take the model the summary found (codex's rollout knows it even
        // when no `-m` was given) in the same, single write.
        let mut summary = None;
        let sid = session_id.clone();
        let warn_now = warnings.list.clone();
        let mut reason = end.reason.clone();
        let updated = codex_meta::update_meta(&self.meta_path, |m| {
            m.status = Some(end.status);
            m.exit_code = Some(i32::from(end.exit_code));
            m.signal = end.signal.map(|s| s.as_str().to_owned());
            m.ended_at = Some(end.ended_at.clone());
            m.elapsed_seconds = Some(elapsed);
            if end.status == Status::Killed {
                // `codex-meta cancel` left word of who asked before it signalled
                if let Some(by) = m.extra.get("cancel_request").and_then(describe_cancel) {
                    reason = Some(format!(
                        "cancelled by {by}: {}",
                        end.reason.as_deref().unwrap_or("killed")
                    ));
                }
            }
            m.outcome_reason = reason.clone();
            m.attempts = Some(attempts.clone());
            if sid.is_some() {
                m.session_id = sid.clone();
            }
            if truncation.is_some() {
                m.log_truncated = Some(true);
            }
            if let Some(w) = &worktree {
                m.set_worktree(w);
            }
            if !warn_now.is_empty() {
                m.warnings = Some(warn_now.clone());
            }
            let s = crate::summary::summarize(Some(m), &self.meta_path, &self.runs_dir);
            if m.model.is_none() {
                m.model = s.get("model").and_then(|v| v.as_str()).map(str::to_owned);
            }
            summary = Some(s);
        });
        end.reason = reason;
        let meta_written = match &updated {
            Ok(_) => true,
            Err(e) => {
                warnings.push(format!("cannot write the final meta: {e}"));
                false
            }
        };
        let summary = match summary {
            Some(s) => s,
            None => crate::summary::summarize(None, &self.meta_path, &self.runs_dir),
        };
        let mut summary_written = true;
        if let Err(e) = codex_meta::write_json_atomic(&self.summary_path, &summary) {
            summary_written = false;
            warnings.undelivered(format!("cannot write the summary: {e}"));
        }
        if let Some(path) = &self.config.json_out {
            if let Err(e) = codex_meta::write_json_atomic(path, &summary) {
                warnings.undelivered(format!("--json-out {}: {e}", path.display()));
            }
        }

        // run_completed.
        let mut notifies = notifies;
        let mut fields = self.event_fields(end.status, session_id.clone());
        fields.exit_code = Some(i32::from(end.exit_code));
        fields.ended_at = Some(end.ended_at.clone());
        fields.elapsed_seconds = Some(elapsed);
        if verifying {
            fields.attempts = Some(end.attempts);
        }
        self.emit("run_completed", &fields, &mut notifies, warnings);
        for w in events::finish_notifies(notifies) {
            warnings.push(w);
        }
        // Warnings that came after the final meta go into it too.
        if meta_written && warnings.list != warn_now {
            let all = warnings.list.clone();
            if let Err(e) = codex_meta::update_meta(&self.meta_path, |m| m.warnings = Some(all)) {
                warnings.push(format!("cannot record the warnings in the meta: {e}"));
            }
        }

        // Closing lines (log, then stdout).
        let mut tail = String::new();
        if self.config.verbosity >= crate::config::Verbosity::Normal {
            tail.push_str(&format!("codex_output_bytes={output_bytes}\n"));
            if verifying {
                tail.push_str(&format!("codex_attempts={}\n", end.attempts));
            }
        }
        if self.config.verbosity >= crate::config::Verbosity::High {
            tail.push_str(&format!("supervisor_max_rss_kib={peak_rss}\n"));
        }
        for w in &warnings.list {
            tail.push_str(&format!("codex_spawn_warning={w}\n"));
        }
        let mut code = if !meta_written || (end.exit_code == 0 && warnings.undelivered) {
            EXIT_OWN_FAILURE
        } else {
            end.exit_code
        };
        let summary_line = serde_json::to_string(&summary).unwrap_or_else(|_| "null".to_owned());
        let summary_file = if summary_written {
            self.summary_path.display().to_string()
        } else {
            String::new()
        };
        // codex's own exit code: the last attempt's (none when it died by a signal)
        let codex_exit = attempts
            .last()
            .and_then(|a| a.get("exit_code"))
            .and_then(Value::as_i64);
        let closing = format!(
            "codex_run_id={}\nstatus={}\nexit_code={code}\ncodex_exit_code={}\nelapsed_seconds={:.3}\ncodex_session_id={}\nlog_file={}\nmeta_file={}\nsummary_file={summary_file}\nsummary_json={}\n",
            self.id,
            end.status,
            codex_exit.map_or_else(String::new, |c| c.to_string()),
            elapsed,
            session_id.as_deref().unwrap_or(""),
            self.log_path.display(),
            self.meta_path.display(),
            summary_line,
        );
        let mut log_tail = String::new();
        if log.last != b'\n' {
            log_tail.push('\n');
        }
        log_tail.push_str(&tail);
        log_tail.push_str(&closing);
        let tail_written = log.write_after_release(log_tail.as_bytes());
        let stdout_was_ok = out.error().is_none();
        if self.config.json {
            let v = self.result_object(&ResultFacts {
                status: end.status,
                code,
                codex_exit,
                elapsed,
                attempts: end.attempts,
                session_id: session_id.as_deref(),
                summary: &summary,
                summary_written,
            });
            out.write(format!("{v}\n").as_bytes());
        } else {
            if out.last != b'\n' {
                out.write(b"\n");
            }
            out.write(closing.as_bytes());
        }
        // The closing lines themselves may not go through (the disk filled at the very
        // end, the reader of stdout went away with an error): never a silent success.
        let mut late = Vec::new();
        if !tail_written && truncation.is_none() {
            late.push("cannot write the closing lines to the log".to_owned());
        }
        if let (true, Some(e)) = (stdout_was_ok, out.error()) {
            late.push(format!("cannot write the closing lines to stdout: {e}"));
        }
        if !late.is_empty() {
            for w in &late {
                warnings.undelivered(w.clone());
            }
            if code == 0 {
                code = EXIT_OWN_FAILURE;
            }
            let all = warnings.list.clone();
            if meta_written {
                let _ = codex_meta::update_meta(&self.meta_path, |m| m.warnings = Some(all));
            }
        }

        report.ended(end.status.as_str(), code);
        // Every warning, and why codex could not run, on stderr (even with --quiet).
        let mut err = std::io::stderr().lock();
        if matches!(end.exit_code, 126 | 127) {
            if let Some(r) = &end.reason {
                let _ = writeln!(err, "codex-spawn: {}", codex_meta::io::one_line(r));
            }
        }
        for w in &warnings.list {
            let _ = writeln!(
                err,
                "codex-spawn: warning: run {}: {}",
                self.id,
                codex_meta::io::one_line(w)
            );
        }
        code
    }
}
