//! `codex-meta cancel RUN… [--signal SIG] [--wait] [--timeout DUR]`: stop runs through
//! their supervisors.
//!
//! A run is stopped by signalling its supervisor (codex-spawn), never codex directly:
//! the supervisor forwards the signal to codex's process group (SIGKILL after its
//! `--kill-grace`), and writes the final record itself — `killed`, with who asked. A
//! queued run is stopped before codex starts, so it never does.
//!
//! The process signalled is the one the meta's witness names (pid, start time, boot id,
//! on this host), and on Linux the signal goes through a pidfd opened before the witness
//! is checked: a pid reused by another process is never hit (a kernel without pidfds,
//! before 5.3, falls back to check-then-kill, as on macOS: a race of microseconds).
//! Before the signal the meta gets a `cancel_request` {requested_at, signal, by {user,
//! uid, host, pid}}, which the supervisor turns into the run's `outcome_reason`.
//!
//! A run that already ended (or is lost) is reported and left alone. A run on another
//! host under Slurm (its meta's `scheduler`) is cancelled through `scancel` of its job:
//! Slurm sends the supervisor SIGTERM on its node, which forwards it and records
//! `killed`. Any other run of another host cannot be signalled from here: one line says
//! where it runs (exit 2).

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use nix::sys::signal::Signal;
use serde_json::json;

use super::status::status_line;
use super::{CmdResult, View, display_id, report, view};
use crate::cli::CancelArgs;
use crate::{EXIT_WAIT_TIMEOUT, RunsDir, Witness, update_meta, wait_for};

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
        let v = view(&path)?;
        let id = display_id(&v.meta, &path);
        if !v.status.is_live() {
            writeln!(out, "{id} {}: already ended, nothing to cancel", v.status)?;
            continue;
        }
        let here = crate::hostname();
        if let Some(host) = v.meta.host.as_deref().filter(|h| *h != here) {
            // another host's run under Slurm: Slurm signals its supervisor there
            let request = json!({
                "requested_at": crate::now_rfc3339(),
                "signal": "SIGTERM",
                "via": "scancel",
                "by": requester(),
            });
            match v.meta.scheduler().filter(|s| s.slurm_job().is_some()) {
                Some(sched) => {
                    let _ = update_meta(&path, |m| {
                        m.extra.insert("cancel_request".into(), request.clone());
                    });
                    match crate::scheduler::cancel(&sched) {
                        Ok(asked) => {
                            writeln!(
                                out,
                                "{id} cancelling: {asked} ({} on host {host})",
                                sched.describe()
                            )?;
                            signalled.push(path);
                        }
                        Err(e) => {
                            out.flush()?;
                            report(err, &format!("run {id} ({}): {e}", sched.describe()));
                            code = 2;
                        }
                    }
                }
                None => {
                    out.flush()?;
                    report(
                        err,
                        &format!(
                            "run {id} runs on host {host}, not on this one ({here}), under no scheduler this host can ask: cancel it there"
                        ),
                    );
                    code = 2;
                }
            }
            continue;
        }
        let Some(witness) = Witness::from_meta(&v.meta) else {
            out.flush()?;
            report(
                err,
                &format!(
                    "run {id}: its meta names no supervisor process (pid, pid_start, boot_id): nothing can be signalled safely"
                ),
            );
            code = 2;
            continue;
        };
        let request = json!({
            "requested_at": crate::now_rfc3339(),
            "signal": signal.as_str(),
            "by": requester(),
        });
        if let Err(e) = update_meta(&path, |m| {
            m.extra.insert("cancel_request".into(), request.clone());
        }) {
            // the signal still goes: the record of who asked is what is lost
            report(
                err,
                &format!("run {id}: cannot record the cancel request: {e}"),
            );
        }
        match witness.signal(signal) {
            Ok(true) => {
                writeln!(
                    out,
                    "{id} cancelling: {} sent to its supervisor (pid {})",
                    signal.as_str(),
                    witness.pid
                )?;
                signalled.push(path);
            }
            Ok(false) => {
                let now = view(&path)?;
                writeln!(out, "{id} {}: already ended, nothing to cancel", now.status)?;
            }
            Err(e) => {
                out.flush()?;
                report(
                    err,
                    &format!(
                        "run {id}: cannot signal its supervisor (pid {}): {e}",
                        witness.pid
                    ),
                );
                code = 2;
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

/// Who asks: the user (name and uid), this host, this process — no environment values.
fn requester() -> serde_json::Value {
    let uid = nix::unistd::getuid();
    let name = nix::unistd::User::from_uid(uid)
        .ok()
        .flatten()
        .map(|u| u.name);
    json!({
        "user": name,
        "uid": uid.as_raw(),
        "host": crate::hostname(),
        "pid": std::process::id(),
    })
}

/// `--signal`: the signals a supervisor forwards to codex (INT, TERM, HUP), by name
/// (with or without `SIG`, any case) or number.
pub(crate) fn parse_signal(text: &str) -> Result<Signal, String> {
    let t = text.trim().to_ascii_uppercase();
    let name = t.strip_prefix("SIG").unwrap_or(&t);
    match name {
        "INT" | "2" => Ok(Signal::SIGINT),
        "TERM" | "15" => Ok(Signal::SIGTERM),
        "HUP" | "1" => Ok(Signal::SIGHUP),
        _ => Err(format!(
            "'{text}': a run is cancelled with INT, TERM or HUP (its supervisor forwards it to codex, then SIGKILL after --kill-grace)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_by_name_or_number() {
        assert_eq!(parse_signal("term"), Ok(Signal::SIGTERM));
        assert_eq!(parse_signal("SIGINT"), Ok(Signal::SIGINT));
        assert_eq!(parse_signal("1"), Ok(Signal::SIGHUP));
        assert!(parse_signal("KILL").unwrap_err().contains("KILL"));
    }
}
