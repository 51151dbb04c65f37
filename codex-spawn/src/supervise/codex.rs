//! One codex invocation: started under its keeper, watched to its end (the log, the
//! session id as soon as it is named, the budget), and its true outcome.

use std::ffi::OsString;
use std::io;
use std::os::unix::process::ExitStatusExt;

use codex_meta::{Outcome, Status, exit};
use nix::sys::signal::Signal;

use super::attempts::AttemptEnd;
use super::rollouts::{BudgetWatch, RolloutLookup};
use super::watch::{Limits, Stop, Watched, watch};
use super::{Ctx, Run};
use crate::argv::Unrunnable;
use crate::outcome::{Detector, Verdict};
use crate::process::{Kept, Output, Spec};

impl Run {
    /// One codex invocation, start to reaped (plus the drain), with its true outcome.
    pub(super) fn attempt(
        &self,
        argv: &[OsString],
        input: Option<&[u8]>,
        ctx: &mut Ctx<'_>,
    ) -> AttemptEnd {
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
            ctx.budget.as_ref().map(BudgetWatch::every),
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
        let meta_path = &self.meta_path;
        let mut spend_error: Option<String> = None;
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
            // what it spent so far, for readers of the meta — not when the budget stops
            // codex: the stop goes first (a meta write is an fsync; codex meanwhile makes
            // its next call, and the stop's count and the budget used would disagree)
            let record = over_budget.is_none();
            if let Some(s) = budget
                .as_mut()
                .filter(|_| record)
                .and_then(BudgetWatch::spend_to_record)
            {
                if let Err(e) = codex_meta::update_meta(meta_path, |m| m.set_spend(&s)) {
                    spend_error.get_or_insert(format!("cannot record the spend so far: {e}"));
                }
            }
            over_budget.is_some().then_some(Stop::Budget)
        });
        if let Some(w) = spend_error {
            ctx.warnings.push(w);
        }
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
