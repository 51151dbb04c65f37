//! The attempts: codex, then (with `--verify`) the check, then — while the check fails
//! and attempts are left — codex again, resuming the session with the check's result.
//!
//! One codex invocation is one *attempt*: an entry of the meta's `attempts`, appended as
//! it ends (with its check's result), and with `--verify` an `attempt_started` /
//! `attempt_completed` event pair. The entries are kept in memory and the meta gets the
//! whole list each time, so one update lost to a full disk loses nothing for good.

use std::ffi::OsString;
use std::io;
use std::os::unix::process::ExitStatusExt;

use codex_meta::Status;
use codex_meta::codex_version::Fact;
use nix::sys::signal::Signal;
use serde_json::json;

use super::check::CheckStop;
use super::rollouts::{BudgetWatch, RolloutLookup};
use super::watch::{Limits, Stop, watch};
use super::{Ctx, Run, round3};
use crate::argv::{self, Unrunnable};
use crate::outcome::{Detector, Verdict};
use crate::process::{Kept, Output, Spec};

/// How one codex invocation ended.
#[derive(Debug, Clone)]
pub(super) struct AttemptEnd {
    pub started_at: String,
    pub ended_at: String,
    /// codex-spawn's exit status for it (codex's, 124, 126, 127, 128+N).
    pub exit_code: u8,
    pub status: Status,
    pub signal: Option<Signal>,
    pub reason: Option<String>,
    pub output_bytes: u64,
    /// codex's own exit code (null when it died by a signal; 126/127 when it could not
    /// be run) — `exit_code` above is codex-spawn's verdict for the attempt.
    pub codex_exit: Option<i32>,
    /// The session id in this attempt's output.
    pub session_id: Option<String>,
    /// codex's argv for a resumed attempt (the first one's is the meta's codex_command).
    pub command: Option<Vec<String>>,
}

/// How the run ended.
#[derive(Debug, Clone)]
pub(super) struct Final {
    pub status: Status,
    pub exit_code: u8,
    pub signal: Option<Signal>,
    pub reason: Option<String>,
    pub ended_at: String,
    /// Codex invocations made.
    pub attempts: u32,
}

impl Final {
    fn killed(sig: Signal, attempts: u32) -> Final {
        Final {
            status: Status::Killed,
            exit_code: 128 + sig as i32 as u8,
            signal: Some(sig),
            reason: Some(format!("codex-spawn received {}", sig.as_str())),
            ended_at: codex_meta::now_rfc3339(),
            attempts,
        }
    }
}

impl AttemptEnd {
    pub fn failed(started_at: String, code: u8, reason: String) -> AttemptEnd {
        AttemptEnd {
            started_at,
            ended_at: codex_meta::now_rfc3339(),
            exit_code: code,
            status: Status::Failed,
            signal: None,
            reason: Some(reason),
            output_bytes: 0,
            codex_exit: Some(i32::from(code)),
            session_id: None,
            command: None,
        }
    }

    /// The check changed the attempt's outcome.
    fn set(&mut self, status: Status, code: u8, signal: Option<Signal>, reason: String) {
        self.status = status;
        self.exit_code = code;
        self.signal = signal;
        self.reason = Some(reason);
    }

    pub fn into_final(self, attempts: u32) -> Final {
        Final {
            status: self.status,
            exit_code: self.exit_code,
            signal: self.signal,
            reason: self.reason,
            ended_at: codex_meta::now_rfc3339(),
            attempts,
        }
    }
}

impl Run {
    /// The attempts loop (see the module docs); returns how the run ended.
    pub(super) fn attempts(&self, ctx: &mut Ctx<'_>, output_bytes: &mut u64) -> Final {
        let c = &self.config;
        let max = c.max_attempts.max(1);
        let mut follow_up: Option<Vec<u8>> = None;
        for n in 1..=max {
            // A signal that arrived before codex (while the worktree was made) or between
            // two children ends the run here.
            if let Some(sig) = pending_signal(ctx) {
                return Final::killed(sig, n - 1);
            }
            if n > 1 {
                // no further attempt once the budget is spent
                let sid = ctx.session_id.as_deref();
                if let Some(why) = ctx.budget.as_mut().and_then(|b| b.refresh(sid)) {
                    return Final {
                        status: Status::OverBudget,
                        exit_code: crate::cli::EXIT_OVER_BUDGET,
                        signal: None,
                        reason: Some(format!("{why}, before attempt {n}")),
                        ended_at: codex_meta::now_rfc3339(),
                        attempts: n - 1,
                    };
                }
            }
            let (argv, input): (Vec<OsString>, Option<&[u8]>) =
                match (&follow_up, ctx.session_id.as_deref()) {
                    (Some(prompt), Some(sid)) => (
                        argv::resume_args(c, self.last_message.as_deref(), sid),
                        Some(prompt.as_slice()),
                    ),
                    _ => (
                        self.codex_argv.clone(),
                        c.task.via_stdin.then_some(c.task.bytes.as_slice()),
                    ),
                };
            if c.verify.is_some() {
                let what = match (n, ctx.session_id.as_deref(), &c.resume) {
                    (1, _, None) => "new".to_owned(),
                    (1, _, Some(r)) => format!("resume {}", r.as_str()),
                    (_, sid, _) => format!("resume {}", sid.unwrap_or("?")),
                };
                ctx.marker(&format!("codex-spawn attempt {n}/{max}: {what}"));
                if n > 1 && c.verbosity >= crate::config::Verbosity::Normal {
                    let cmd = argv::shell_command(&c.codex_bin, &argv);
                    ctx.line(&format!(
                        "codex_command={cmd}  # prompt on stdin: <follow-up prompt: {} bytes>",
                        input.map_or(0, <[u8]>::len)
                    ));
                }
                let mut f = self.event_fields(Status::Running, ctx.session_id.clone());
                f.attempt = Some(n);
                self.emit("attempt_started", &f, ctx.notifies, ctx.warnings);
            }

            let mut a = self.attempt(&argv, input, ctx);
            *output_bytes += a.output_bytes;
            if ctx.session_id.is_none() && !matches!(a.exit_code, 126 | 127) {
                self.session_from_elsewhere(&mut a, ctx);
            }
            if n > 1 {
                a.command = Some(
                    std::iter::once(&c.codex_bin)
                        .chain(argv.iter())
                        .map(|x| x.to_string_lossy().into_owned())
                        .collect(),
                );
            }

            // The check, when codex succeeded.
            let mut check = None;
            let mut tail = crate::verify::Tail::new();
            if let (Some(cmd), Status::Succeeded) = (&c.verify, a.status) {
                let r = self.check(cmd, n, ctx, &mut tail);
                match r.stop {
                    CheckStop::Signal(sig) => {
                        a.set(
                            Status::Killed,
                            128 + sig as i32 as u8,
                            Some(sig),
                            format!("codex-spawn received {} during the check", sig.as_str()),
                        );
                    }
                    CheckStop::RunTimeout => {
                        a.set(
                            Status::TimedOut,
                            crate::cli::EXIT_TIMED_OUT,
                            Some(Signal::SIGTERM),
                            format!(
                                "timed out after {} s (during the check)",
                                c.timeout.map_or(0.0, |t| t.as_secs_f64())
                            ),
                        );
                    }
                    CheckStop::None => {
                        if !r.check.passed() {
                            a.set(
                                Status::VerifyFailed,
                                crate::cli::EXIT_VERIFY_FAILED,
                                None,
                                format!(
                                    "verify `{cmd}`: {} on attempt {n}/{max}",
                                    r.check.describe()
                                ),
                            );
                        }
                    }
                }
                check = Some(r.check);
            }
            self.record_attempt(n, &a, check.as_ref(), ctx);
            if c.verify.is_some() {
                let mut f =
                    self.event_fields(a.status, a.session_id.clone().or(ctx.session_id.clone()));
                f.attempt = Some(n);
                f.exit_code = Some(i32::from(a.exit_code));
                f.ended_at = Some(codex_meta::now_rfc3339());
                f.elapsed_seconds = Some(self.elapsed());
                f.verify_exit_code = Some(check.as_ref().map(|k| k.exit_code));
                self.emit("attempt_completed", &f, ctx.notifies, ctx.warnings);
            }

            let (Some(cmd), Some(k)) = (&c.verify, &check) else {
                return a.into_final(n);
            };
            if a.status != Status::VerifyFailed || n == max {
                let mut f = a.into_final(n);
                if f.status == Status::VerifyFailed {
                    f.reason = Some(format!(
                        "verify `{cmd}` still failed after {n} attempt{}: {}",
                        if n == 1 { "" } else { "s" },
                        k.describe()
                    ));
                }
                return f;
            }
            if ctx.session_id.is_none() {
                let mut f = a.into_final(n);
                f.reason = Some(format!(
                    "verify `{cmd}` failed ({}) and codex's session id was not found in its output, so it cannot be resumed",
                    k.describe()
                ));
                return f;
            }
            follow_up = Some(crate::verify::follow_up_prompt(cmd, k, &tail).into_bytes());
        }
        // Not reached: the loop returns on its last attempt.
        AttemptEnd::failed(codex_meta::now_rfc3339(), 1, "no attempt was made".into()).into_final(0)
    }

    /// The live lookup of this attempt's session in codex's rollouts, for a version
    /// that names none in its output (`None` for the others, and for an unknown one: the
    /// end of the attempt looks anyway).
    fn rollout_lookup(&self, started_at: &str) -> Option<RolloutLookup> {
        let v = self.codex_version?;
        if codex_meta::codex_version::has(v, Fact::SessionIdInOutput) {
            return None;
        }
        self.lookup_for(started_at).ok()
    }

    /// The lookup of the session of the attempt begun at `started_at`; `Err` with why
    /// there is none.
    fn lookup_for(&self, started_at: &str) -> Result<RolloutLookup, String> {
        let c = &self.config;
        if let Some(crate::config::Resume::Id(id)) = &c.resume {
            return Ok(RolloutLookup::known(id.clone()));
        }
        let home = codex_summarize::Options::default()
            .resolved_codex_home()
            .ok_or("codex named no session and CODEX_HOME is unknown (no $CODEX_HOME, no $HOME)")?;
        let since_ms = chrono::DateTime::parse_from_rfc3339(started_at)
            .map_err(|e| format!("the attempt's start {started_at} does not parse: {e}"))?
            .timestamp_millis();
        let resumed = matches!(c.resume, Some(crate::config::Resume::Last));
        Ok(RolloutLookup::new(
            home,
            c.workdir.clone(),
            since_ms,
            c.task.text_lossy(),
            resumed,
        ))
    }

    /// codex named no session in its output (before 0.44 it never does) and its open
    /// rollout was not seen while it ran: a resumed session is the one asked for; a new
    /// one is the rollout that the evidence says is this attempt's (see
    /// [`codex_summarize::rollout::find_run_session`]) — or none, and the meta's
    /// `session_id_reason` says why.
    fn session_from_elsewhere(&self, a: &mut AttemptEnd, ctx: &mut Ctx<'_>) {
        let transcript = codex_meta::files::open_regular(&self.log_path)
            .and_then(|f| {
                codex_meta::files::read_to_cap(f, codex_summarize::rollout::TRANSCRIPT_MAX_BYTES)
            })
            .ok()
            .flatten();
        let found = self
            .lookup_for(&a.started_at)
            .map(|l| l.settle(transcript.as_deref()));
        let sid = match found {
            Ok(codex_summarize::rollout::RunSession::Found(id)) => id,
            Ok(other) => return self.no_session(other.reason(), ctx),
            Err(why) => return self.no_session(Some(why), ctx),
        };
        let value = sid.clone();
        if let Err(e) = codex_meta::update_meta(&self.meta_path, |m| {
            m.session_id = Some(value);
            m.session_id_reason = None;
        }) {
            ctx.warnings
                .push(format!("cannot record the session id in the meta yet: {e}"));
        }
        ctx.report.session(&sid);
        a.session_id = Some(sid.clone());
        *ctx.session_id = Some(sid);
    }

    /// The meta says why the run has no session id.
    fn no_session(&self, reason: Option<String>, ctx: &mut Ctx<'_>) {
        let Some(reason) = reason else { return };
        if let Err(e) =
            codex_meta::update_meta(&self.meta_path, |m| m.session_id_reason = Some(reason))
        {
            ctx.warnings
                .push(format!("cannot record why the session id is unknown: {e}"));
        }
    }

    /// Append attempt `n` to the meta's `attempts` (a live reader sees each one as it ends).
    fn record_attempt(
        &self,
        n: u32,
        a: &AttemptEnd,
        check: Option<&crate::verify::Check>,
        ctx: &mut Ctx<'_>,
    ) {
        let mut entry = json!({
            "n": n,
            "started_at": a.started_at,
            "ended_at": a.ended_at,
            "exit_code": a.codex_exit,
            "signal": a.signal.map(|s| s.as_str()),
            "status": a.status.as_str(),
            "outcome_reason": a.reason,
            "session_id": a.session_id.as_deref().or(ctx.session_id.as_deref()),
            "output_bytes": a.output_bytes,
            "verify": check.map(|k| json!({
                "exit_code": k.exit_code,
                "elapsed_seconds": round3(k.elapsed.as_secs_f64()),
                "timed_out": k.timed_out,
                "signal": k.signal,
                "output_bytes": k.output_bytes,
            })),
        });
        if let (Some(cmd), Some(obj)) = (&a.command, entry.as_object_mut()) {
            obj.insert("codex_command".into(), json!(cmd));
        }
        ctx.attempts.push(entry);
        let all = ctx.attempts.clone();
        if let Err(e) = codex_meta::update_meta(&self.meta_path, |m| m.attempts = Some(all)) {
            ctx.warnings
                .push(format!("cannot record attempt {n} in the meta yet: {e}"));
        }
    }

    /// One codex invocation, start to reaped (plus the drain), with its true outcome.
    fn attempt(&self, argv: &[OsString], input: Option<&[u8]>, ctx: &mut Ctx<'_>) -> AttemptEnd {
        let started_at = codex_meta::now_rfc3339();
        let bin = match &self.codex_bin {
            Ok(b) => b.clone(),
            Err(u) => {
                let (code, what) = match u {
                    Unrunnable::NotFound => (127, "not found"),
                    Unrunnable::NotExecutable => (126, "not executable"),
                };
                // (one line in the log and on stderr, whatever the path holds)
                let reason = format!(
                    "codex binary '{}': {what}",
                    codex_meta::io::one_line(&self.config.codex_bin.to_string_lossy())
                );
                ctx.log.write(format!("codex-spawn: {reason}\n").as_bytes());
                return AttemptEnd::failed(started_at, code, reason);
            }
        };
        let spec = Spec {
            program: &bin,
            argv0: &self.config.codex_bin,
            args: argv,
            cwd: None,
            stdin: input,
            output: Output::Pipe,
        };
        let mut codex = match Kept::spawn(&spec) {
            Ok(c) => c,
            Err(e) => {
                let code = match e.kind() {
                    io::ErrorKind::NotFound => 127,
                    _ => 126,
                };
                let reason = format!("codex binary '{}' cannot be run: {e}", bin.display());
                ctx.log.write(format!("codex-spawn: {reason}\n").as_bytes());
                return AttemptEnd::failed(started_at, code, reason);
            }
        };
        let mut scanner = codex_session_id::Scanner::new();
        let mut detector = Detector::new();
        let mut mine: Option<String> = None;
        let mut sink_warnings = Vec::new();
        // A version that names no session in its output: the session is the rollout
        // codex's own process holds open, looked for while the run goes on, so a reader
        // of the meta has it early, as with newer versions (where the platform cannot
        // tell, the end of the attempt looks by the rollouts' evidence).
        let mut rollouts = match ctx.session_id {
            None => self
                .rollout_lookup(&started_at)
                .map(|l| l.watching(codex.pgid().as_raw())),
            Some(_) => None, // a later attempt resumes the session it knows
        };
        // wake as often as the most frequent look asks (a budget alone: its own pace)
        let tick = [
            rollouts.as_ref().map(|_| RolloutLookup::EVERY),
            ctx.budget.as_ref().map(|_| BudgetWatch::EVERY),
        ]
        .into_iter()
        .flatten()
        .min();
        let limits = Limits {
            run_deadline: ctx.run_deadline,
            own_deadline: None,
            stall: self.config.stall_timeout,
            grace: self.config.kill_grace,
            tick,
        };
        let mut over_budget: Option<String> = None;
        let spare = ctx.spare();
        let meta_path = &self.meta_path;
        let mut found = |id: &str,
                         mine: &mut Option<String>,
                         run_sid: &mut Option<String>,
                         report: &mut crate::detach::SessionReport| {
            if mine.is_none() {
                *mine = Some(id.to_owned());
            }
            if run_sid.is_none() {
                report.session(id);
                let sid = id.to_owned();
                if let Err(e) = codex_meta::update_meta(meta_path, |m| m.session_id = Some(sid)) {
                    sink_warnings
                        .push(format!("cannot record the session id in the meta yet: {e}"));
                }
                *run_sid = Some(id.to_owned());
            }
        };
        let (log, out, echo, sigs) = (&mut *ctx.log, &mut *ctx.out, ctx.echo, ctx.sigs);
        let run_sid = &mut *ctx.session_id;
        let report = &mut *ctx.report;
        let budget = &mut ctx.budget;
        let w = watch(&mut codex, sigs, &limits, &spare, &mut |bytes| {
            if mine.is_none() {
                if let Some(id) = rollouts.as_mut().and_then(RolloutLookup::poll) {
                    found(&id, &mut mine, run_sid, report);
                }
            }
            // the bytes first: a stop never costs the log (or the detectors) a chunk
            if !bytes.is_empty() {
                log.write(bytes);
                if mine.is_none() {
                    if let Some(id) = scanner.feed(bytes).next() {
                        found(id.uuid.as_str(), &mut mine, run_sid, report);
                    }
                }
                detector.feed(bytes);
                if echo {
                    out.write(bytes);
                }
            }
            // the budget: looked at until it is passed, then the stop holds
            if over_budget.is_none() {
                if let Some(why) = budget.as_mut().and_then(|b| b.poll(run_sid.as_deref())) {
                    over_budget = Some(why);
                }
            }
            over_budget.is_some().then_some(Stop::Budget)
        });
        if let Some(id) = scanner.finish() {
            if mine.is_none() {
                found(id.uuid.as_str(), &mut mine, run_sid, report);
            }
        }
        codex.finish();
        if ctx.late_signal.is_none() {
            ctx.late_signal = w.late_signal;
        }
        for w in sink_warnings.into_iter().chain(w.warnings.iter().cloned()) {
            ctx.warnings.push(w);
        }
        let ended_at = codex_meta::now_rfc3339();
        let died_by = w.status.signal().and_then(|n| Signal::try_from(n).ok());
        let verdict = detector.finish();
        let (exit_code, status, signal, reason) = match (w.stopped, w.forwarded, died_by) {
            (Some(Stop::Budget), _, _) => (
                crate::cli::EXIT_OVER_BUDGET,
                Status::OverBudget,
                w.last_sent,
                over_budget,
            ),
            (Some(Stop::Stall), _, _) => (
                crate::cli::EXIT_TIMED_OUT,
                Status::Stalled,
                w.last_sent,
                Some(format!(
                    "stalled: no output from codex for {} s (--stall-timeout)",
                    self.config.stall_timeout.map_or(0.0, |t| t.as_secs_f64())
                )),
            ),
            (Some(_), _, _) => (
                crate::cli::EXIT_TIMED_OUT,
                Status::TimedOut,
                w.last_sent,
                Some(format!(
                    "timed out after {} s",
                    self.config.timeout.map_or(0.0, |t| t.as_secs_f64())
                )),
            ),
            (None, Some(sig), _) => (
                128 + sig as i32 as u8,
                Status::Killed,
                Some(sig),
                Some(format!("codex-spawn received {}", sig.as_str())),
            ),
            (None, None, _) if w.keeper_died => (
                128 + Signal::SIGKILL as i32 as u8,
                Status::Killed,
                Some(Signal::SIGKILL),
                Some("codex's keeper process was killed, and codex with it".to_owned()),
            ),
            (None, None, Some(sig)) => (
                128 + sig as i32 as u8,
                Status::Killed,
                Some(sig),
                Some(format!("codex died by {}", sig.as_str())),
            ),
            (None, None, None) => {
                let code = w.status.code().unwrap_or(1);
                let code = u8::try_from(code).unwrap_or(1);
                match (code, verdict) {
                    (0, Verdict::Completed) => (0, Status::Succeeded, None, None),
                    // codex said 0, its output says otherwise.
                    (0, Verdict::Failed(why)) => (1, Status::Failed, None, Some(why)),
                    (code, Verdict::Completed) => (
                        code,
                        Status::Failed,
                        None,
                        Some(format!("codex exited with {code}")),
                    ),
                    (code, Verdict::Failed(why)) => (
                        code,
                        Status::Failed,
                        None,
                        Some(format!("codex exited with {code}: {why}")),
                    ),
                }
            }
        };
        AttemptEnd {
            started_at,
            ended_at,
            exit_code,
            status,
            signal,
            reason,
            output_bytes: w.output_bytes,
            codex_exit: w.status.code(),
            session_id: mine,
            command: None,
        }
    }
}

/// A pending SIGINT/SIGTERM/SIGHUP (SIGCHLD is skipped; one that came during the last
/// drain first), read without blocking: the supervisor checks between two children so
/// it never starts one only to stop it.
pub(super) fn pending_signal(ctx: &mut Ctx<'_>) -> Option<Signal> {
    ctx.late_signal.take().or_else(|| ctx.sigs.next_stop())
}
