//! `codex-meta cancel RUN… [--signal SIG] [--wait] [--timeout DUR]`: stop runs through
//! their supervisors.
//!
//! How a run is stopped — its supervisor signalled, the very process its meta's witness
//! names, after a `cancel_request` is recorded — is [`crate::cancel`]; this file says
//! what happened to each run, one line each. A run that already ended (or is lost) is
//! reported and left alone. A run on another host under Slurm is cancelled through
//! `scancel`; any other run of another host cannot be signalled from here: one line says
//! where it runs (exit 2).

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use nix::sys::signal::Signal;

use super::status::status_line;
use super::{CmdResult, View, display_id, report};
use crate::cancel::{CancelOutcome, cancel};
use crate::cli::CancelArgs;
use crate::{EXIT_WAIT_TIMEOUT, RunsDir, wait_for};

pub(crate) fn run(
    runs: &RunsDir,
    args: CancelArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> CmdResult {
    let paths = args
        .runs
        .iter()
        .map(|a| runs.resolve_run(a))
        .collect::<Result<Vec<_>, _>>()?;
    let signal = args.signal.unwrap_or(Signal::SIGTERM);
    let mut code = 0u8;
    let mut signalled: Vec<PathBuf> = Vec::new();
    for path in paths {
        let c = cancel(&path, signal)?;
        let id = &c.id;
        if let Some(w) = &c.warning {
            out.flush()?;
            report(err, w);
        }
        if let Some(why) = c.outcome.refusal(id) {
            out.flush()?;
            report(err, &why);
            code = 2;
            continue;
        }
        let note = c.outcome.note(signal).unwrap_or_default();
        match c.outcome {
            CancelOutcome::AlreadyEnded(status) => writeln!(out, "{id} {status}: {note}")?,
            _ => {
                writeln!(out, "{id} cancelling: {note}")?;
                signalled.push(path);
            }
        }
    }
    if !args.wait {
        return Ok(code);
    }
    let deadline = args.timeout.and_then(|t| Instant::now().checked_add(t));
    for path in signalled {
        let remaining = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let outcome = wait_for(&path, remaining)?;
        let id = display_id(&outcome.meta, &path);
        let v = View {
            object: serde_json::Map::new(),
            status: outcome.status,
            meta: outcome.meta,
        };
        writeln!(out, "{}", status_line(&id, &v))?;
        if outcome.timed_out {
            out.flush()?;
            report(err, &format!("run {id} is still running after the timeout"));
            code = code.max(EXIT_WAIT_TIMEOUT);
        }
    }
    Ok(code)
}
