//! `codex-meta set RUN KEY=VALUE…`: change fields of an existing meta.
//!
//! All assignments are parsed and type-checked first; then one locked read-modify-write
//! applies them to the stored JSON object (other fields, unknown ones included, and key
//! order are kept). A corrupt meta is refused, never overwritten.

use super::CmdResult;
use crate::cli::SetArgs;
use crate::{RunsDir, parse_assignment, update_meta_object};

pub(crate) fn run(runs: &RunsDir, args: SetArgs) -> CmdResult {
    let assignments = args
        .assignments
        .iter()
        .map(|a| parse_assignment(a))
        .collect::<Result<Vec<_>, _>>()?;
    let path = runs.resolve_run(&args.run)?;
    update_meta_object(&path, |object| {
        for (k, v) in assignments {
            object.insert(k, v);
        }
        Ok(())
    })?;
    Ok(0)
}
