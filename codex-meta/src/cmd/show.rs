//! `codex-meta show RUN`: the whole meta as pretty JSON.
//!
//! Printed is the effective view: `status` is derived (`lost` when the meta says running
//! but nobody holds the run), and when that differs from the file, the stored value is
//! shown as `stored_status`. The file itself is never changed.

use std::io::Write;

use super::{CmdResult, view};
use crate::RunsDir;
use crate::cli::ShowArgs;

pub(crate) fn run(runs: &RunsDir, args: ShowArgs, out: &mut dyn Write) -> CmdResult {
    let path = runs.resolve_run(&args.run)?;
    let view = view(&path)?;
    let text =
        serde_json::to_string_pretty(&view.object).map_err(|e| crate::MetaError::Serialize {
            path: path.clone(),
            message: e.to_string(),
        })?;
    writeln!(out, "{text}")?;
    Ok(0)
}
