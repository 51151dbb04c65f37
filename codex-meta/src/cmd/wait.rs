//! `codex-meta wait RUN… [--timeout DUR]`: block until every run has ended.
//!
//! Waiting costs no CPU: [`crate::wait_for`] blocks in a shared flock on the run's log,
//! which the kernel grants when the owner lets go or dies. All RUNs are resolved before
//! waiting (a bad one is exit 2 at once); one deadline covers them all. At the end each
//! run's status line is printed (unless `--quiet`). Exit: 124 when the timeout passed
//! (stderr names the runs still running), else the first run's (in argument order)
//! non-zero exit status (125 for lost), else 0.

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

fn human(d: Duration) -> String {
    if d.as_millis() < 10_000 && d.subsec_millis() != 0 {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}s", d.as_secs())
    }
}
