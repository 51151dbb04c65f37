//! `codex-meta status RUN…`: one line per run, `<run_id> <status> exit=<code|->
//! session=<uuid|->`, with the effective status.
//!
//! A RUN that cannot be read gets a one-line error on stderr instead of its line; the
//! others are still printed, and the exit status is then 2.

use std::io::Write;

use super::{CmdResult, display_id, report, view};
use crate::RunsDir;
use crate::cli::StatusArgs;

pub(crate) fn run(
    runs: &RunsDir,
    args: StatusArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> CmdResult {
    let mut code = 0;
    for arg in &args.runs {
        let result = runs.resolve_run(arg).and_then(|p| view(&p).map(|v| (p, v)));
        match result {
            Ok((path, v)) => {
                writeln!(out, "{}", status_line(&display_id(&v.meta, &path), &v))?;
            }
            Err(e) => {
                out.flush()?;
                report(err, &e.to_string());
                code = 2;
            }
        }
    }
    Ok(code)
}

/// `<run_id> <status> exit=<code|-> session=<uuid|->`
pub(crate) fn status_line(id: &str, v: &super::View) -> String {
    let exit = v
        .meta
        .exit_code
        .map_or_else(|| "-".to_owned(), |c| c.to_string());
    let session = v
        .meta
        .session_id
        .as_deref()
        .filter(|s| !s.is_empty())
        .unwrap_or("-");
    let mut line = format!("{id} {} exit={exit} session={session}", v.status);
    // a live run of another host: where it is, and the job that holds it
    if v.status.is_live() && crate::witness::is_remote(&v.meta) {
        if let Some(h) = &v.meta.host {
            line.push_str(&format!(" host={h}"));
        }
        match v.meta.scheduler().and_then(|s| s.slurm_job()) {
            Some(job) => line.push_str(&format!(" slurm_job={job}")),
            // on this kernel (a container) its lock judged; elsewhere nothing could
            None if crate::witness::is_elsewhere(&v.meta) => {
                line.push_str(" (another host: not checked from here)");
            }
            None => {}
        }
    }
    line
}
