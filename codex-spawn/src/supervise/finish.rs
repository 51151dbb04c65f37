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

use codex_meta::{Attempt, Outcome, Status, exit};
use codex_summarize::Summary;
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
    pub attempts: Vec<Attempt>,
    pub session_id: Option<String>,
    pub output_bytes: u64,
    /// `--detach=session`: how the run ended, if no session id was reported.
    pub report: &'a mut crate::detach::SessionReport,
    /// `--worktree`: what became of it.
    pub worktree: Option<codex_meta::Worktree>,
}

/// What the result object is made of, beside the run.
struct ResultFacts<'a> {
    status: Status,
    code: u8,
    codex_exit: Option<i64>,
    elapsed: f64,
    attempts: u32,
    session_id: Option<&'a str>,
    summary: &'a Summary,
    summary_written: bool,
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
        // The streaming phase's peak memory, before the summary reads anything.
        let peak_rss = codex_meta::io::peak_rss_kib().unwrap_or(0);
        let truncated = note_truncation(&mut end, log, warnings);
        if let Some(err) = out.error() {
            warnings.undelivered(format!("cannot write to stdout: {err}"));
        }
        let record = Record {
            attempts: &attempts,
            session_id: session_id.as_deref(),
            truncated,
            worktree: worktree.as_ref(),
            elapsed: self.elapsed(),
        };
        let warn_now = warnings.list.clone();
        let (meta_written, summary) = self.final_meta(&mut end, &record, warnings);
        let summary_written = self.write_summaries(&summary, warnings);
        self.run_completed(&end, &record, notifies, warnings);
        // Warnings that came after the final meta go into it too.
        if meta_written && warnings.list != warn_now {
            let all = warnings.list.clone();
            if let Err(e) = codex_meta::update_meta(&self.meta_path, |m| m.warnings = Some(all)) {
                warnings.push(format!("cannot record the warnings in the meta: {e}"));
            }
        }
        // a record not written, or a success whose summary or stdout was not delivered
        let code = if !meta_written || (end.outcome.exit_code == 0 && warnings.undelivered) {
            exit::OWN_FAILURE
        } else {
            end.outcome.exit_code
        };
        let closing = Closing {
            code,
            codex_exit: attempts.last().and_then(|a| a.exit_code).map(i64::from),
            summary: &summary,
            summary_written,
            truncated,
            meta_written,
            tail: self.tail_lines(&end, output_bytes, peak_rss, warnings),
        };
        let code = self.deliver_closing(&end, &record, &closing, log, out, warnings);
        report.ended(end.outcome.status.as_str(), code);
        say_on_stderr(&self.id, &end, warnings);
        code
    }

    /// The final meta, in one write, and the summary made from it in memory (so the meta
    /// can take the model the summary found — codex's rollout knows it even when no `-m`
    /// was given). Returns whether the meta was written, and the summary.
    fn final_meta(
        &self,
        end: &mut Final,
        r: &Record<'_>,
        warnings: &mut Warnings,
    ) -> (bool, Summary) {
        let mut summary = None;
        let warn_now = warnings.list.clone();
        let mut reason = end.outcome.reason.clone();
        let updated = codex_meta::update_meta(&self.meta_path, |m| {
            let o = &end.outcome;
            m.status = Some(o.status);
            m.exit_code = Some(i32::from(o.exit_code));
            m.signal = o.signal.map(|s| s.as_str().to_owned());
            m.ended_at = Some(end.ended_at.clone());
            m.elapsed_seconds = Some(r.elapsed);
            if o.status == Status::Killed {
                // `codex-meta cancel` left word of who asked before it signalled
                if let Some(by) = m.cancel_request().and_then(|r| r.describe()) {
                    let what = o.reason.as_deref().unwrap_or("killed");
                    reason = Some(format!("cancelled by {by}: {what}"));
                }
            }
            m.outcome_reason = reason.clone();
            m.attempts = Some(r.attempts.to_vec());
            if r.session_id.is_some() {
                m.session_id = r.session_id.map(str::to_owned);
            }
            if r.truncated {
                m.log_truncated = Some(true);
            }
            if let Some(w) = r.worktree {
                m.set_worktree(w);
            }
            if !warn_now.is_empty() {
                m.warnings = Some(warn_now.clone());
            }
            let s = crate::summary::summarize(Some(m), &self.meta_path, &self.runs_dir);
            if m.model.is_none() {
                m.model = s.made().and_then(|s| s.model.clone());
            }
            // the run's account, for readers of many metas (when the summary has one)
            if let Some(made) = s.made().filter(|s| s.token_usage.source.is_some()) {
                m.set_spend(&codex_meta::Spend {
                    tokens: made.token_usage.run.total_tokens,
                    tokens_blended: made.token_usage.run.total_is_blended,
                    cost_usd: made.cost.usd,
                    at: end.ended_at.clone(),
                });
            }
            summary = Some(s);
        });
        end.outcome.reason = reason;
        if let Err(e) = &updated {
            warnings.push(format!("cannot write the final meta: {e}"));
        }
        let summary = summary
            .unwrap_or_else(|| crate::summary::summarize(None, &self.meta_path, &self.runs_dir));
        (updated.is_ok(), summary)
    }

    /// The summary file and `--json-out`; returns whether the summary file was written.
    fn write_summaries(&self, summary: &Summary, warnings: &mut Warnings) -> bool {
        let mut written = true;
        if let Err(e) = codex_meta::write_json_atomic(&self.summary_path, summary) {
            written = false;
            warnings.undelivered(format!("cannot write the summary: {e}"));
        }
        if let Some(path) = &self.config.json_out {
            if let Err(e) = codex_meta::write_json_atomic(path, summary) {
                warnings.undelivered(format!("--json-out {}: {e}", path.display()));
            }
        }
        written
    }

    /// The `run_completed` event; notify commands in flight are waited for.
    fn run_completed(
        &self,
        end: &Final,
        r: &Record<'_>,
        mut notifies: Vec<Notify>,
        warnings: &mut Warnings,
    ) {
        let mut fields = self.event_fields(end.outcome.status, r.session_id.map(str::to_owned));
        fields.exit_code = Some(i32::from(end.outcome.exit_code));
        fields.ended_at = Some(end.ended_at.clone());
        fields.elapsed_seconds = Some(r.elapsed);
        if self.config.verify.is_some() {
            fields.attempts = Some(end.attempts);
        }
        self.emit("run_completed", &fields, &mut notifies, warnings);
        for w in events::finish_notifies(notifies) {
            warnings.push(w);
        }
    }

    /// The log's lines before the closing ones: output bytes, attempts, memory, warnings.
    fn tail_lines(&self, end: &Final, output_bytes: u64, peak_rss: u64, w: &Warnings) -> String {
        let mut tail = String::new();
        if self.config.verbosity >= crate::config::Verbosity::Normal {
            tail.push_str(&format!("codex_output_bytes={output_bytes}\n"));
            if self.config.verify.is_some() {
                tail.push_str(&format!("codex_attempts={}\n", end.attempts));
            }
        }
        if self.config.verbosity >= crate::config::Verbosity::High {
            tail.push_str(&format!("supervisor_max_rss_kib={peak_rss}\n"));
        }
        for w in &w.list {
            tail.push_str(&format!("codex_spawn_warning={w}\n"));
        }
        tail
    }

    /// The closing `key=value` lines (also the log's last lines).
    fn closing_lines(&self, end: &Final, r: &Record<'_>, c: &Closing<'_>) -> String {
        let summary_line = serde_json::to_string(c.summary).unwrap_or_else(|_| "null".to_owned());
        let summary_file = if c.summary_written {
            self.summary_path.display().to_string()
        } else {
            String::new()
        };
        format!(
            "codex_run_id={}\nstatus={}\nexit_code={}\ncodex_exit_code={}\nelapsed_seconds={:.3}\ncodex_session_id={}\nlog_file={}\nmeta_file={}\nsummary_file={summary_file}\nsummary_json={}\n",
            self.id,
            end.outcome.status,
            c.code,
            c.codex_exit.map_or_else(String::new, |c| c.to_string()),
            r.elapsed,
            r.session_id.unwrap_or(""),
            self.log_path.display(),
            self.meta_path.display(),
            summary_line,
        )
    }

    /// The closing lines to the log, then stdout (or `--json`'s result object). They
    /// may not go through (the disk filled at the very end, the reader of stdout went
    /// away with an error): never a silent success. Returns the exit status.
    fn deliver_closing(
        &self,
        end: &Final,
        r: &Record<'_>,
        c: &Closing<'_>,
        log: &mut Log,
        out: &mut Stdout,
        warnings: &mut Warnings,
    ) -> u8 {
        let closing = self.closing_lines(end, r, c);
        let mut log_tail = String::new();
        if log.last != b'\n' {
            log_tail.push('\n');
        }
        log_tail.push_str(&c.tail);
        log_tail.push_str(&closing);
        let tail_written = log.write_after_release(log_tail.as_bytes());
        let stdout_was_ok = out.error().is_none();
        if self.config.json {
            let v = self.result_object(&ResultFacts {
                status: end.outcome.status,
                code: c.code,
                codex_exit: c.codex_exit,
                elapsed: r.elapsed,
                attempts: end.attempts,
                session_id: r.session_id,
                summary: c.summary,
                summary_written: c.summary_written,
            });
            out.write(format!("{v}\n").as_bytes());
        } else {
            if out.last != b'\n' {
                out.write(b"\n");
            }
            out.write(closing.as_bytes());
        }
        let mut late = Vec::new();
        if !tail_written && !c.truncated {
            late.push("cannot write the closing lines to the log".to_owned());
        }
        if let (true, Some(e)) = (stdout_was_ok, out.error()) {
            late.push(format!("cannot write the closing lines to stdout: {e}"));
        }
        if late.is_empty() {
            return c.code;
        }
        for w in late {
            warnings.undelivered(w);
        }
        let all = warnings.list.clone();
        if c.meta_written {
            let _ = codex_meta::update_meta(&self.meta_path, |m| m.warnings = Some(all));
        }
        if c.code == 0 {
            exit::OWN_FAILURE
        } else {
            c.code
        }
    }
}

/// What the final record is made of, beside the outcome.
struct Record<'a> {
    attempts: &'a [Attempt],
    session_id: Option<&'a str>,
    truncated: bool,
    worktree: Option<&'a codex_meta::Worktree>,
    /// The run's own time (seconds).
    elapsed: f64,
}

/// What the closing lines say.
struct Closing<'a> {
    /// codex-spawn's exit status as the closing lines give it.
    code: u8,
    /// codex's own exit code: the last attempt's (none when it died by a signal).
    codex_exit: Option<i64>,
    summary: &'a Summary,
    summary_written: bool,
    truncated: bool,
    meta_written: bool,
    /// The log's lines before them.
    tail: String,
}

/// A log cut short by a full disk: a warning, a note in the log where it was cut, and
/// a run codex finished well is `failed` with exit 125 (its record is incomplete).
/// Returns whether the log was truncated.
fn note_truncation(end: &mut Final, log: &mut Log, warnings: &mut Warnings) -> bool {
    let Some(t) = log.truncation() else {
        return false;
    };
    let note = format!(
        "the log is incomplete: writing it failed after {} bytes ({}); {} bytes of codex's output were read but could not be kept",
        t.written, t.error, t.lost
    );
    if end.outcome.status == Status::Succeeded {
        end.outcome = Outcome::failed(
            exit::OWN_FAILURE,
            format!("{note} (codex itself succeeded)"),
        );
    }
    warnings.push(note.clone());
    let mut line = String::new();
    if log.last != b'\n' {
        line.push('\n');
    }
    line.push_str(&format!("codex-spawn: {note}\n"));
    log.write_after_release(line.as_bytes());
    true
}

/// Every warning, and why codex could not run, on stderr (even with --quiet).
fn say_on_stderr(id: &str, end: &Final, warnings: &Warnings) {
    let mut err = std::io::stderr().lock();
    if matches!(
        end.outcome.exit_code,
        exit::NOT_EXECUTABLE | exit::NOT_FOUND
    ) {
        if let Some(r) = &end.outcome.reason {
            let _ = writeln!(err, "codex-spawn: {}", codex_meta::io::one_line(r));
        }
    }
    for w in &warnings.list {
        let _ = writeln!(
            err,
            "codex-spawn: warning: run {id}: {}",
            codex_meta::io::one_line(w)
        );
    }
}
