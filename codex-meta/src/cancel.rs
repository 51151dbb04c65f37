//! Stopping a run through its supervisor: the library half of `codex-meta cancel`, so
//! that every front end (the CLI, codex-mcp's `cancel` tool) signals the same process
//! the same way and leaves the same record.
//!
//! A run is stopped by signalling its supervisor (codex-spawn), never codex directly:
//! the supervisor forwards the signal to codex's process group (SIGKILL after its
//! `--kill-grace`), and writes the final record itself — `killed`, with who asked. A
//! queued run is stopped before codex starts, so it never does.
//!
//! The process signalled is the one the meta's witness names (pid, start time, boot id,
//! on this host), and on Linux the signal goes through a pidfd opened before the witness
//! is checked: a pid reused by another process is never hit. Before the signal the meta
//! gets a `cancel_request` {requested_at, signal, by {user, uid, host, pid}}, which the
//! supervisor turns into the run's `outcome_reason`.
//!
//! A run on another host under Slurm (its meta's `scheduler`) is cancelled through
//! `scancel` of its job ([`crate::scheduler::cancel`]): Slurm sends the supervisor
//! SIGTERM on its node, which forwards it and records `killed`. Any other run of another
//! host cannot be signalled from here.

use std::path::Path;

use nix::sys::signal::Signal;

use crate::{CancelRequest, MetaError, Requester, Status, Witness, read_status, update_meta};

/// What [`cancel`] did to one run.
#[derive(Debug)]
pub enum CancelOutcome {
    /// The run had already ended (or is lost): nothing was sent.
    AlreadyEnded(Status),
    /// The signal reached the run's supervisor (pid).
    Signalled { pid: u32 },
    /// The run's supervisor runs on another host under Slurm: its job was cancelled
    /// (`scancel`), and Slurm sends the supervisor SIGTERM there.
    Scheduled {
        asked: String,
        job: String,
        host: String,
    },
    /// The run's scheduler would not cancel its job (one line of why).
    SchedulerFailed { job: String, error: String },
    /// The run's supervisor runs on another host: it cannot be signalled from here.
    OtherHost { host: String, here: String },
    /// The meta names no supervisor process (pid, pid_start, boot_id).
    NoWitness,
    /// Sending the signal failed.
    SignalFailed { pid: u32, error: std::io::Error },
}

impl CancelOutcome {
    /// True when the run is stopping or had already stopped (nothing left to do).
    pub fn is_ok(&self) -> bool {
        matches!(
            self,
            CancelOutcome::AlreadyEnded(_)
                | CancelOutcome::Signalled { .. }
                | CancelOutcome::Scheduled { .. }
        )
    }

    /// What was done, for a run that is stopping or had stopped (`None` for a refusal):
    /// `already ended, nothing to cancel`, `SIGTERM sent to its supervisor (pid N)`, ...
    /// The words `codex-meta cancel` prints after `<id> <status>:` and codex-mcp's `note`.
    pub fn note(&self, signal: Signal) -> Option<String> {
        match self {
            CancelOutcome::AlreadyEnded(_) => Some("already ended, nothing to cancel".to_owned()),
            CancelOutcome::Signalled { pid } => Some(format!(
                "{} sent to its supervisor (pid {pid})",
                signal.as_str()
            )),
            CancelOutcome::Scheduled { asked, job, host } => {
                Some(format!("{asked} ({job} on host {host})"))
            }
            _ => None,
        }
    }

    /// Why run `id` could not be cancelled (`None` when it is stopping or had stopped):
    /// the one line both `codex-meta cancel` and codex-mcp report.
    pub fn refusal(&self, id: &str) -> Option<String> {
        Some(match self {
            CancelOutcome::SchedulerFailed { job, error } => format!("run {id} ({job}): {error}"),
            CancelOutcome::OtherHost { host, here } => format!(
                "run {id} runs on host {host}, not on this one ({here}), under no scheduler this host can ask: cancel it there"
            ),
            CancelOutcome::NoWitness => format!(
                "run {id}: its meta names no supervisor process (pid, pid_start, boot_id): nothing can be signalled safely"
            ),
            CancelOutcome::SignalFailed { pid, error } => {
                format!("run {id}: cannot signal its supervisor (pid {pid}): {error}")
            }
            _ => return None,
        })
    }
}

/// [`cancel`]'s report: the outcome, the run's id, and a problem worth saying that did
/// not stop the signal (the cancel request could not be recorded in the meta).
#[derive(Debug)]
pub struct Cancelled {
    pub id: String,
    pub outcome: CancelOutcome,
    pub warning: Option<String>,
}

/// Stop the run of the meta at `meta_path` by sending `signal` to its supervisor (see the
/// module docs). Errors: the meta cannot be read.
pub fn cancel(meta_path: &Path, signal: Signal) -> Result<Cancelled, MetaError> {
    let (meta, status) = read_status(meta_path)?;
    let id = crate::display_id(&meta, meta_path);
    let done = |outcome| Cancelled {
        id: id.clone(),
        outcome,
        warning: None,
    };
    if !status.is_live() {
        return Ok(done(CancelOutcome::AlreadyEnded(status)));
    }
    let here = crate::hostname();
    if let Some(host) = meta.host.as_deref().filter(|h| *h != here) {
        // another host's run under Slurm: Slurm signals its supervisor there
        let Some(sched) = meta.scheduler().filter(|s| s.slurm_job().is_some()) else {
            return Ok(done(CancelOutcome::OtherHost {
                host: host.to_owned(),
                here,
            }));
        };
        let job = sched.describe();
        // scancel stops the whole job: never when other live runs share it
        let others = live_runs_of_job(meta_path, &sched);
        if !others.is_empty() {
            return Ok(Cancelled {
                id,
                outcome: CancelOutcome::SchedulerFailed {
                    error: format!(
                        "scancel would stop {} other run(s) of that job too ({}): cancel the runs on host {host}, or the whole job yourself (scancel {})",
                        others.len(),
                        others.join(", "),
                        sched.slurm_job().unwrap_or_default()
                    ),
                    job,
                },
                warning: None,
            });
        }
        let request = CancelRequest {
            requested_at: crate::now_rfc3339(),
            signal: "SIGTERM".to_owned(),
            via: Some("scancel".to_owned()),
            by: Some(requester()),
        };
        let warning = update_meta(meta_path, |m| m.set_cancel_request(&request))
            .err()
            .map(|e| format!("run {id}: cannot record the cancel request: {e}"));
        let outcome = match crate::scheduler::cancel(&sched) {
            Ok(asked) => CancelOutcome::Scheduled {
                asked,
                job,
                host: host.to_owned(),
            },
            Err(error) => CancelOutcome::SchedulerFailed { job, error },
        };
        return Ok(Cancelled {
            id,
            outcome,
            warning,
        });
    }
    let Some(witness) = Witness::from_meta(&meta) else {
        return Ok(done(CancelOutcome::NoWitness));
    };
    let request = CancelRequest {
        requested_at: crate::now_rfc3339(),
        signal: signal.as_str().to_owned(),
        via: None,
        by: Some(requester()),
    };
    // the signal still goes when the request cannot be recorded: the record of who
    // asked is what is lost
    let warning = update_meta(meta_path, |m| m.set_cancel_request(&request))
        .err()
        .map(|e| format!("run {id}: cannot record the cancel request: {e}"));
    let outcome = match witness.signal(signal) {
        Ok(true) => CancelOutcome::Signalled { pid: witness.pid },
        Ok(false) => CancelOutcome::AlreadyEnded(read_status(meta_path)?.1),
        Err(error) => CancelOutcome::SignalFailed {
            pid: witness.pid,
            error,
        },
    };
    Ok(Cancelled {
        id,
        outcome,
        warning,
    })
}

/// The other runs beside `meta_path` whose meta says they are live in the same Slurm
/// job (a batch script that runs several).
fn live_runs_of_job(meta_path: &Path, sched: &crate::scheduler::Scheduler) -> Vec<String> {
    let (Some(dir), Some(job)) = (meta_path.parent(), sched.slurm_job()) else {
        return Vec::new();
    };
    let Ok(runs) = crate::RunsDir::new(dir).and_then(|r| r.list_paths()) else {
        return Vec::new();
    };
    runs.into_iter()
        // by file name: `meta_path` may be relative, the listing's paths are not
        .filter(|(_, p)| p.file_name() != meta_path.file_name())
        .filter_map(|(_, p)| {
            let m = crate::read_meta(&p).ok()?;
            let live = m.status.is_none_or(|s| s.is_live());
            let same = m.scheduler().and_then(|s| s.slurm_job()).as_deref() == Some(job.as_str());
            (live && same).then(|| crate::display_id(&m, &p))
        })
        .collect()
}

/// Who asks: the user (name and uid), this host, this process — no environment values.
fn requester() -> Requester {
    let uid = nix::unistd::getuid();
    let name = nix::unistd::User::from_uid(uid)
        .ok()
        .flatten()
        .map(|u| u.name);
    // the program that asks (codex-meta, codex-mcp): its file name only
    let tool = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
    Requester {
        user: name,
        uid: Some(uid.as_raw()),
        host: Some(crate::hostname()),
        pid: Some(std::process::id()),
        tool,
    }
}

/// The signals a supervisor forwards to codex (INT, TERM, HUP), by name (with or without
/// `SIG`, any case) or number.
pub fn parse_signal(text: &str) -> Result<Signal, String> {
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

    #[test]
    fn an_ended_run_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir
            .path()
            .join("codex-run-20260101-000000-abcdef.meta.json");
        let mut meta = crate::Meta::new("20260101-000000-abcdef");
        meta.status = Some(Status::Succeeded);
        crate::write_meta(&path, &meta).unwrap();
        let c = cancel(&path, Signal::SIGTERM).unwrap();
        assert_eq!(c.id, "20260101-000000-abcdef");
        assert!(
            matches!(c.outcome, CancelOutcome::AlreadyEnded(Status::Succeeded)),
            "{c:?}"
        );
        assert!(c.outcome.is_ok());
        assert!(
            !crate::read_meta(&path)
                .unwrap()
                .extra
                .contains_key(crate::kept::CANCEL_REQUEST)
        );
    }
}
