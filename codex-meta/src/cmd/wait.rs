//! `codex-meta wait RUN… [--timeout DUR]`: block until every run has ended.
//!
//! Waiting costs no CPU: [`crate::wait_for`] blocks in a shared flock on the run's log,
//! which the kernel grants when the owner lets go or dies. All RUNs are resolved before
//! waiting (a bad one is exit 2 at once); one deadline covers them all. At the end each
//! run's status line is printed (unless `--quiet`). Exit: 124 when the timeout passed
//! (stderr names the runs still running), else the first run's (in argument order)
//! non-zero exit status (125 for lost), else 0.
//!
//! `--any`: one waiting thread per run; the first run to end is printed and gives the
//! exit status (the others are left running).

use std::io::Write;
use std::time::{Duration, Instant};

use super::status::status_line;
use super::{CmdResult, View, display_id, report};
use crate::cli::WaitArgs;
use crate::{EXIT_WAIT_TIMEOUT, RunsDir, wait_for};

pub(crate) fn run(
    runs: &RunsDir,
    args: WaitArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> CmdResult {
    let paths = args
        .runs
        .iter()
        .map(|a| runs.resolve_run(a))
        .collect::<Result<Vec<_>, _>>()?;
    let deadline = args.timeout.and_then(|t| Instant::now().checked_add(t));
    if args.any {
        return wait_any(paths, &args, deadline, out, err);
    }
    let mut still_running = Vec::new();
    let mut first_failure = 0u8;
    for path in &paths {
        let remaining = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let outcome = wait_for(path, remaining)?;
        let id = display_id(&outcome.meta, path);
        if !args.quiet {
            let v = View {
                object: serde_json::Map::new(),
                status: outcome.status,
                meta: outcome.meta.clone(),
            };
            writeln!(out, "{}", status_line(&id, &v))?;
        }
        if outcome.timed_out {
            still_running.push(id);
        } else if first_failure == 0 {
            first_failure = outcome.exit_code();
        }
    }
    if !still_running.is_empty() {
        out.flush()?;
        let waited = args.timeout.unwrap_or(Duration::ZERO);
        report(
            err,
            &format!(
                "timed out after {}; still running: {}",
                human(waited),
                still_running.join(" ")
            ),
        );
        return Ok(EXIT_WAIT_TIMEOUT);
    }
    Ok(first_failure)
}

/// `--any`: the first of `paths` to end.
fn wait_any(
    paths: Vec<std::path::PathBuf>,
    args: &WaitArgs,
    deadline: Option<Instant>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> CmdResult {
    let (tx, rx) = std::sync::mpsc::channel();
    for path in paths {
        let tx = tx.clone();
        let remaining = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let spawned = std::thread::Builder::new()
            .name("codex-meta-wait-any".into())
            .spawn(move || {
                let got = wait_for(&path, remaining);
                let _ = tx.send((path, got));
            });
        if let Err(e) = spawned {
            return Err(crate::MetaError::io(".", "start waiting thread", e).into());
        }
    }
    drop(tx);
    let mut timed_out = Vec::new();
    // every thread answers by the deadline at the latest (its own wait is bounded by it)
    let mut unreadable = false;
    while let Ok((path, got)) = rx.recv() {
        // one run that cannot be read is named; the others are still waited for
        let outcome = match got {
            Ok(o) => o,
            Err(e) => {
                report(err, &e.to_string());
                unreadable = true;
                continue;
            }
        };
        let id = display_id(&outcome.meta, &path);
        if outcome.timed_out {
            timed_out.push(id);
            continue;
        }
        if !args.quiet {
            let v = View {
                object: serde_json::Map::new(),
                status: outcome.status,
                meta: outcome.meta.clone(),
            };
            writeln!(out, "{}", status_line(&id, &v))?;
        }
        return Ok(outcome.exit_code());
    }
    if timed_out.is_empty() && unreadable {
        return Ok(2); // every run was unreadable: each is named above
    }
    let waited = args.timeout.unwrap_or(Duration::ZERO);
    report(
        err,
        &format!(
            "timed out after {}; none ended; still running: {}",
            human(waited),
            timed_out.join(" ")
        ),
    );
    Ok(EXIT_WAIT_TIMEOUT)
}

fn human(d: Duration) -> String {
    if d.as_millis() < 10_000 && d.subsec_millis() != 0 {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}s", d.as_secs())
    }
}
