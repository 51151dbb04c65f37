//! `--verify`'s check, run once per attempt: `sh -c CMD` in the repo, through a keeper
//! like codex (nothing it starts outlives the run), watched by the same event loop, its
//! output to the log and a bounded tail for the follow-up prompt.

use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::time::Instant;

use nix::sys::signal::Signal;

use super::attempts::pending_signal;
use super::watch::{Limits, Stop, watch};
use super::{Ctx, Run};
use crate::argv;
use crate::process::{Kept, Output, Spec};

/// How the check's run ended, beyond its exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CheckStop {
    /// It ran to its end (or its own `--verify-timeout`).
    None,
    /// codex-spawn got a signal: the run ends as killed.
    Signal(Signal),
    /// `--timeout` (the whole run's) expired: the run ends as timed out.
    RunTimeout,
}

pub(super) struct CheckEnd {
    pub check: crate::verify::Check,
    pub stop: CheckStop,
}

impl Run {
    /// Run the `--verify` check once (attempt `n`), its output to the log and `tail`.
    pub(super) fn check(
        &self,
        cmd: &str,
        n: u32,
        ctx: &mut Ctx<'_>,
        tail: &mut crate::verify::Tail,
    ) -> CheckEnd {
        let timeout = self.config.verify_timeout;
        let started = Instant::now();
        let failed = |code: i32, stop: CheckStop| CheckEnd {
            check: crate::verify::Check {
                exit_code: code,
                signal: None,
                elapsed: started.elapsed(),
                timed_out: false,
                timeout,
                output_bytes: 0,
            },
            stop,
        };
        if let Some(sig) = pending_signal(ctx) {
            return failed(128 + sig as i32, CheckStop::Signal(sig));
        }
        ctx.marker(&format!(
            "verify attempt {n}: sh -c {}",
            argv::shell_quote(std::ffi::OsStr::new(cmd))
        ));
        let args: Vec<OsString> = vec!["-c".into(), cmd.into()];
        let spec = Spec {
            program: std::path::Path::new("/bin/sh"),
            argv0: std::ffi::OsStr::new("sh"),
            args: &args,
            cwd: Some(&self.config.workdir),
            stdin: None,
            output: Output::Pipe,
        };
        let mut child = match Kept::spawn(&spec) {
            Ok(ch) => ch,
            Err(e) => {
                let msg = format!("verify: cannot run /bin/sh: {e}");
                ctx.line(&msg);
                tail.push(msg.as_bytes());
                let r = failed(127, CheckStop::None);
                ctx.marker(&format!("verify attempt {n}: {}", r.check.describe()));
                return r;
            }
        };
        let limits = Limits {
            run_deadline: ctx.run_deadline,
            own_deadline: Some(started + timeout),
            stall: None,
            grace: self.config.kill_grace,
            tick: None,
        };
        let spare = ctx.spare();
        let (log, out, echo, sigs) = (&mut *ctx.log, &mut *ctx.out, ctx.echo, ctx.sigs);
        let w = watch(&mut child, sigs, &limits, &spare, &mut |bytes| {
            log.write(bytes);
            tail.push(bytes);
            if echo {
                out.write(bytes);
            }
            None
        });
        child.finish();
        if ctx.late_signal.is_none() {
            ctx.late_signal = w.late_signal;
        }
        for warning in &w.warnings {
            ctx.warnings.push(warning.clone());
        }
        let signal = w.status.signal().and_then(|s| Signal::try_from(s).ok());
        let exit_code = match (w.status.code(), signal) {
            (Some(c), _) => c,
            (None, Some(sig)) => 128 + sig as i32,
            (None, None) => 1,
        };
        let stop = match (w.forwarded, w.stopped) {
            (Some(sig), _) => CheckStop::Signal(sig),
            (None, Some(Stop::RunTimeout)) => CheckStop::RunTimeout,
            _ => CheckStop::None,
        };
        let r = CheckEnd {
            check: crate::verify::Check {
                exit_code,
                signal: signal.map(|s| s.as_str()),
                elapsed: started.elapsed(),
                timed_out: w.stopped == Some(Stop::OwnTimeout),
                timeout,
                output_bytes: w.output_bytes,
            },
            stop,
        };
        ctx.marker(&format!("verify attempt {n}: {}", r.check.describe()));
        r
    }
}
