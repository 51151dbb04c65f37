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

use codex_meta::codex_version::Fact;
use codex_meta::{Attempt, AttemptCheck, Outcome, Status, exit};
use nix::sys::signal::Signal;

use super::check::CheckStop;
use super::rollouts::{BudgetWatch, RolloutLookup};
use super::watch::{Limits, Stop, Watched, watch};
use super::{Ctx, Run, round3};
use crate::argv::{self, Unrunnable};
use crate::outcome::{Detector, Verdict};
use crate::process::{Kept, Output, Spec};

/// How one codex invocation ended.
#[derive(Debug, Clone)]
pub(super) struct AttemptEnd {
    pub started_at: String,
    pub ended_at: String,
    /// Its outcome; the exit code is codex-spawn's (codex's, 124, 126, 127, 128+N).
    pub outcome: Outcome,
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
    pub outcome: Outcome,
    pub ended_at: String,
    /// Codex invocations made.
    pub attempts: u32,
}

impl Final {
    pub fn new(outcome: Outcome, attempts: u32) -> Final {
        Final {
            outcome,
            ended_at: codex_meta::now_rfc3339(),
            attempts,
        }
    }

    fn killed(sig: Signal, attempts: u32) -> Final {
        let why = format!("codex-spawn received {}", sig.as_str());
        Final::new(Outcome::killed(sig, why), attempts)
    }
}

impl AttemptEnd {
    pub fn failed(started_at: String, code: u8, reason: String) -> AttemptEnd {
        AttemptEnd {
            started_at,
            ended_at: codex_meta::now_rfc3339(),
            outcome: Outcome::failed(code, reason),
            output_bytes: 0,
            codex_exit: Some(i32::from(code)),
            session_id: None,
            command: None,
        }
    }

    pub fn into_final(self, attempts: u32) -> Final {
        Final::new(self.outcome, attempts)
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
                    let why = format!("{why}, before attempt {n}");
                    return Final::new(Outcome::new(Status::OverBudget, None, Some(why)), n - 1);
                }
            }
            let (argv, input) = self.attempt_argv(follow_up.as_deref(), ctx);
            if c.verify.is_some() {
                self.attempt_started(n, &argv, input, ctx);
            }
            let mut a = self.attempt(&argv, input, ctx);
            *output_bytes += a.output_bytes;
            let runnable = !matches!(a.outcome.exit_code, exit::NOT_EXECUTABLE | exit::NOT_FOUND);
            if ctx.session_id.is_none() && runnable {
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
            let mut tail = crate::verify::Tail::new();
            let check = self.verify_attempt(&mut a, n, ctx, &mut tail);
            self.record_attempt(n, &a, check.as_ref(), ctx);
            if c.verify.is_some() {
                self.attempt_completed(n, &a, check.as_ref(), ctx);
            }
            match self.next_attempt(a, n, check.as_ref(), ctx, &tail) {
                Ok(prompt) => follow_up = Some(prompt),
                Err(end) => return end,
            }
        }
        // Not reached: the loop returns on its last attempt.
        AttemptEnd::failed(codex_meta::now_rfc3339(), 1, "no attempt was made".into()).into_final(0)
    }

    /// codex's argv and stdin for the next attempt: the run's own, or a resume of the
    /// session with the follow-up prompt on stdin.
    fn attempt_argv<'p>(
        &'p self,
        follow_up: Option<&'p [u8]>,
        ctx: &Ctx<'_>,
    ) -> (Vec<OsString>, Option<&'p [u8]>) {
        let c = &self.config;
        match (follow_up, ctx.session_id.as_deref()) {
            (Some(prompt), Some(sid)) => (
                argv::resume_args(c, self.last_message.as_deref(), sid),
                Some(prompt),
            ),
            _ => (
                self.codex_argv.clone(),
                c.task.via_stdin.then_some(c.task.bytes.as_slice()),
            ),
        }
    }

    /// With `--verify`: the attempt's marker in the log, its command line, and
    /// `attempt_started`.
    fn attempt_started(&self, n: u32, argv: &[OsString], input: Option<&[u8]>, ctx: &mut Ctx<'_>) {
        let c = &self.config;
        let max = c.max_attempts.max(1);
        let what = match (n, ctx.session_id.as_deref(), &c.resume) {
            (1, _, None) => "new".to_owned(),
            (1, _, Some(r)) => format!("resume {}", r.as_str()),
            (_, sid, _) => format!("resume {}", sid.unwrap_or("?")),
        };
        ctx.marker(&format!("codex-spawn attempt {n}/{max}: {what}"));
        if n > 1 && c.verbosity >= crate::config::Verbosity::Normal {
            let cmd = argv::shell_command(&c.codex_bin, argv);
            ctx.line(&format!(
                "codex_command={cmd}  # prompt on stdin: <follow-up prompt: {} bytes>",
                input.map_or(0, <[u8]>::len)
            ));
        }
        let mut f = self.event_fields(Status::Running, ctx.session_id.clone());
        f.attempt = Some(n);
        self.emit("attempt_started", &f, ctx.notifies, ctx.warnings);
    }

    /// With `--verify`: `attempt_completed`.
    fn attempt_completed(
        &self,
        n: u32,
        a: &AttemptEnd,
        check: Option<&crate::verify::Check>,
        ctx: &mut Ctx<'_>,
    ) {
        let sid = a.session_id.clone().or(ctx.session_id.clone());
        let mut f = self.event_fields(a.outcome.status, sid);
        f.attempt = Some(n);
        f.exit_code = Some(i32::from(a.outcome.exit_code));
        f.ended_at = Some(codex_meta::now_rfc3339());
        f.elapsed_seconds = Some(self.elapsed());
        f.verify_exit_code = Some(check.map(|k| k.exit_code));
        self.emit("attempt_completed", &f, ctx.notifies, ctx.warnings);
    }

    /// The check, when codex succeeded: it may turn the attempt's outcome into
    /// `verify_failed`, `timed_out` or `killed`.
    fn verify_attempt(
        &self,
        a: &mut AttemptEnd,
        n: u32,
        ctx: &mut Ctx<'_>,
        tail: &mut crate::verify::Tail,
    ) -> Option<crate::verify::Check> {
        let c = &self.config;
        let (Some(cmd), Status::Succeeded) = (&c.verify, a.outcome.status) else {
            return None;
        };
        let r = self.check(cmd, n, ctx, tail);
        match r.stop {
            CheckStop::Signal(sig) => {
                let why = format!("codex-spawn received {} during the check", sig.as_str());
                a.outcome = Outcome::killed(sig, why);
            }
            CheckStop::RunTimeout => {
                let why = format!(
                    "timed out after {} s (during the check)",
                    c.timeout.map_or(0.0, |t| t.as_secs_f64())
                );
                a.outcome = Outcome::new(Status::TimedOut, Some(Signal::SIGTERM), Some(why));
            }
            CheckStop::None if !r.check.passed() => {
                let max = c.max_attempts.max(1);
                let why = format!(
                    "verify `{cmd}`: {} on attempt {n}/{max}",
                    r.check.describe()
                );
                a.outcome = Outcome::new(Status::VerifyFailed, None, Some(why));
            }
            CheckStop::None => {}
        }
        Some(r.check)
    }

    /// After attempt `n`: the follow-up prompt of the next one, or how the run ended.
    fn next_attempt(
        &self,
        a: AttemptEnd,
        n: u32,
        check: Option<&crate::verify::Check>,
        ctx: &Ctx<'_>,
        tail: &crate::verify::Tail,
    ) -> Result<Vec<u8>, Final> {
        let c = &self.config;
        let (Some(cmd), Some(k)) = (&c.verify, check) else {
            return Err(a.into_final(n));
        };
        if a.outcome.status != Status::VerifyFailed || n == c.max_attempts.max(1) {
            let mut f = a.into_final(n);
            if f.outcome.status == Status::VerifyFailed {
                f.outcome.reason = Some(format!(
                    "verify `{cmd}` still failed after {n} attempt{}: {}",
                    if n == 1 { "" } else { "s" },
                    k.describe()
                ));
            }
            return Err(f);
        }
        if ctx.session_id.is_none() {
            let mut f = a.into_final(n);
            f.outcome.reason = Some(format!(
                "verify `{cmd}` failed ({}) and codex's session id was not found in its output, so it cannot be resumed",
                k.describe()
            ));
            return Err(f);
        }
        Ok(crate::verify::follow_up_prompt(cmd, k, tail).into_bytes())
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
        let entry = Attempt {
            n: Some(n),
            started_at: Some(a.started_at.clone()),
            ended_at: Some(a.ended_at.clone()),
            exit_code: a.codex_exit,
            signal: a.outcome.signal.map(|s| s.as_str().to_owned()),
            status: Some(a.outcome.status),
            outcome_reason: a.outcome.reason.clone(),
            session_id: a.session_id.clone().or(ctx.session_id.clone()),
            output_bytes: Some(a.output_bytes),
            verify: check.map(|k| AttemptCheck {
                exit_code: Some(k.exit_code),
                elapsed_seconds: Some(round3(k.elapsed.as_secs_f64())),
                timed_out: Some(k.timed_out),
                signal: k.signal.map(str::to_owned),
                output_bytes: Some(k.output_bytes),
            }),
            codex_command: a.command.clone(),
            extra: serde_json::Map::new(),
        };
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
        let mut codex = match self.start_codex(argv, input) {
            Ok(c) => c,
            Err((code, reason)) => {
                // (one line in the log and on stderr, whatever the path holds)
                ctx.log.write(format!("codex-spawn: {reason}\n").as_bytes());
                return AttemptEnd::failed(started_at, code, reason);
            }
        };
        let seen = self.follow_codex(&mut codex, &started_at, ctx);
        codex.finish();
        let w = seen.watched;
        if ctx.late_signal.is_none() {
            ctx.late_signal = w.late_signal;
        }
        for warning in seen.warnings.into_iter().chain(w.warnings.iter().cloned()) {
            ctx.warnings.push(warning);
        }
        let ended_at = codex_meta::now_rfc3339();
        let outcome = self.codex_outcome(&w, seen.verdict, seen.over_budget);
        AttemptEnd {
            started_at,
            ended_at,
            outcome,
            output_bytes: w.output_bytes,
            codex_exit: w.status.code(),
            session_id: seen.session_id,
            command: None,
        }
    }

    /// Start codex in a process group of its own under a keeper; `Err` with the exit
    /// status (126, 127) and why it could not be run.
    fn start_codex(&self, argv: &[OsString], input: Option<&[u8]>) -> Result<Kept, (u8, String)> {
        let bin = match &self.codex_bin {
            Ok(b) => b.clone(),
            Err(u) => {
                let (code, what) = match u {
                    Unrunnable::NotFound => (exit::NOT_FOUND, "not found"),
                    Unrunnable::NotExecutable => (exit::NOT_EXECUTABLE, "not executable"),
                };
                let shown = codex_meta::io::one_line(&self.config.codex_bin.to_string_lossy());
                return Err((code, format!("codex binary '{shown}': {what}")));
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
        Kept::spawn(&spec).map_err(|e| {
            let code = match e.kind() {
                io::ErrorKind::NotFound => exit::NOT_FOUND,
                _ => exit::NOT_EXECUTABLE,
            };
            (
                code,
                format!("codex binary '{}' cannot be run: {e}", bin.display()),
            )
        })
    }

    /// Watch codex to its end: its output to the log (and stdout), the session id as
    /// soon as its output or its open rollout names it, the verdict of its output, the
    /// budget.
    fn follow_codex(&self, codex: &mut Kept, started_at: &str, ctx: &mut Ctx<'_>) -> Followed {
        let mut scanner = codex_session_id::Scanner::new();
        let mut detector = Detector::new();
        let mut sessions = Sessions {
            mine: None,
            meta_path: &self.meta_path,
            warnings: Vec::new(),
        };
        // A version that names no session in its output: the session is the rollout
        // codex's own process holds open, looked for while the run goes on, so a reader
        // of the meta has it early, as with newer versions (where the platform cannot
        // tell, the end of the attempt looks by the rollouts' evidence).
        let mut rollouts = match ctx.session_id {
            None => self
                .rollout_lookup(started_at)
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
        let (log, out, echo, sigs) = (&mut *ctx.log, &mut *ctx.out, ctx.echo, ctx.sigs);
        let run_sid = &mut *ctx.session_id;
        let report = &mut *ctx.report;
        let budget = &mut ctx.budget;
        let watched = watch(codex, sigs, &limits, &spare, &mut |bytes| {
            if sessions.mine.is_none() {
                if let Some(id) = rollouts.as_mut().and_then(RolloutLookup::poll) {
                    sessions.found(&id, run_sid, report);
                }
            }
            // the bytes first: a stop never costs the log (or the detectors) a chunk
            if !bytes.is_empty() {
                log.write(bytes);
                if sessions.mine.is_none() {
                    if let Some(id) = scanner.feed(bytes).next() {
                        sessions.found(id.uuid.as_str(), run_sid, report);
                    }
                }
                detector.feed(bytes);
                if echo {
                    out.write(bytes);
                }
            }
            // the budget: looked at until it is passed, then the stop holds
            if over_budget.is_none() {
                over_budget = budget.as_mut().and_then(|b| b.poll(run_sid.as_deref()));
            }
            over_budget.is_some().then_some(Stop::Budget)
        });
        if let Some(id) = scanner.finish() {
            if sessions.mine.is_none() {
                sessions.found(id.uuid.as_str(), run_sid, report);
            }
        }
        Followed {
            watched,
            verdict: detector.finish(),
            over_budget,
            session_id: sessions.mine,
            warnings: sessions.warnings,
        }
    }

    /// The attempt's outcome from how codex ended and what its output says.
    fn codex_outcome(&self, w: &Watched, verdict: Verdict, over_budget: Option<String>) -> Outcome {
        let died_by = w.status.signal().and_then(|n| Signal::try_from(n).ok());
        let secs = |d: Option<std::time::Duration>| d.map_or(0.0, |t| t.as_secs_f64());
        match (w.stopped, w.forwarded, died_by) {
            (Some(Stop::Budget), _, _) => {
                Outcome::new(Status::OverBudget, w.last_sent, over_budget)
            }
            (Some(Stop::Stall), _, _) => {
                let why = format!(
                    "stalled: no output from codex for {} s (--stall-timeout)",
                    secs(self.config.stall_timeout)
                );
                Outcome::new(Status::Stalled, w.last_sent, Some(why))
            }
            (Some(_), _, _) => {
                let why = format!("timed out after {} s", secs(self.config.timeout));
                Outcome::new(Status::TimedOut, w.last_sent, Some(why))
            }
            (None, Some(sig), _) => {
                Outcome::killed(sig, format!("codex-spawn received {}", sig.as_str()))
            }
            (None, None, _) if w.keeper_died => Outcome::killed(
                Signal::SIGKILL,
                "codex's keeper process was killed, and codex with it",
            ),
            (None, None, Some(sig)) => {
                Outcome::killed(sig, format!("codex died by {}", sig.as_str()))
            }
            (None, None, None) => {
                let code = u8::try_from(w.status.code().unwrap_or(1)).unwrap_or(1);
                match (code, verdict) {
                    (0, Verdict::Completed) => Outcome::succeeded(),
                    // codex said 0, its output says otherwise.
                    (0, Verdict::Failed(why)) => Outcome::failed(1, why),
                    (code, Verdict::Completed) => {
                        Outcome::failed(code, format!("codex exited with {code}"))
                    }
                    (code, Verdict::Failed(why)) => {
                        Outcome::failed(code, format!("codex exited with {code}: {why}"))
                    }
                }
            }
        }
    }
}

/// What [`Run::follow_codex`] saw.
struct Followed {
    watched: Watched,
    verdict: Verdict,
    over_budget: Option<String>,
    /// The session id this attempt's output (or open rollout) named.
    session_id: Option<String>,
    warnings: Vec<String>,
}

/// The session id as an attempt finds it: the attempt's own, and the run's (recorded in
/// the meta and reported to `--detach=session` the first time).
struct Sessions<'a> {
    mine: Option<String>,
    meta_path: &'a std::path::Path,
    warnings: Vec<String>,
}

impl Sessions<'_> {
    fn found(
        &mut self,
        id: &str,
        run_sid: &mut Option<String>,
        report: &mut crate::detach::SessionReport,
    ) {
        if self.mine.is_none() {
            self.mine = Some(id.to_owned());
        }
        if run_sid.is_none() {
            report.session(id);
            let sid = id.to_owned();
            if let Err(e) = codex_meta::update_meta(self.meta_path, |m| m.session_id = Some(sid)) {
                self.warnings
                    .push(format!("cannot record the session id in the meta yet: {e}"));
            }
            *run_sid = Some(id.to_owned());
        }
    }
}

/// A pending SIGINT/SIGTERM/SIGHUP (SIGCHLD is skipped; one that came during the last
/// drain first), read without blocking: the supervisor checks between two children so
/// it never starts one only to stop it.
pub(super) fn pending_signal(ctx: &mut Ctx<'_>) -> Option<Signal> {
    ctx.late_signal.take().or_else(|| ctx.sigs.next_stop())
}
