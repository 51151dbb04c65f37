//! The attempts: codex, then (with `--verify`) the check, then — while the check fails
//! and attempts are left — codex again, resuming the session with the check's result.
//!
//! One codex invocation is one *attempt*: an entry of the meta's `attempts`, appended as
//! it ends (with its check's result), and with `--verify` an `attempt_started` /
//! `attempt_completed` event pair. The entries are kept in memory and the meta gets the
//! whole list each time, so one update lost to a full disk loses nothing for good.

use std::ffi::OsString;

use codex_meta::{Attempt, AttemptCheck, Outcome, Status, exit};
use codex_session_id::codex_version::Fact;
use nix::sys::signal::Signal;

use super::check::CheckStop;
use super::rollouts::RolloutLookup;
use super::{Ctx, Run, round3};
use crate::argv;

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
    pub(super) fn rollout_lookup(&self, started_at: &str) -> Option<RolloutLookup> {
        let v = self.codex_version?;
        if codex_session_id::codex_version::has(v, Fact::SessionIdInOutput) {
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
        let transcript = || {
            codex_meta::files::open_regular(&self.log_path)
                .and_then(|f| {
                    codex_meta::files::read_to_cap(
                        f,
                        codex_summarize::rollout::TRANSCRIPT_MAX_BYTES,
                    )
                })
                .ok()
                .flatten()
        };
        let found = self.lookup_for(&a.started_at).map(|l| l.settle(transcript));
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
}

/// A pending SIGINT/SIGTERM/SIGHUP (SIGCHLD is skipped; one that came during the last
/// drain first), read without blocking: the supervisor checks between two children so
/// it never starts one only to stop it.
pub(super) fn pending_signal(ctx: &mut Ctx<'_>) -> Option<Signal> {
    ctx.late_signal.take().or_else(|| ctx.sigs.next_stop())
}
