//! `codex-meta write META_PATH [KEY=VALUE…] [--stdin]`: create or replace a meta.
//!
//! Everything is checked before anything is written: the stdin object (at most
//! [`META_MAX_BYTES`]), each assignment, the resulting meta's field types, that no field
//! only the run's owner writes is given ([`crate::PROTECTED_FIELDS`]), and that the
//! target's directory exists. The file is written in canonical form (known fields first, `null` when unset)
//! with one atomic rename. `run_id` defaults to the id in the file name.

use std::io::Write;
use std::path::PathBuf;

use serde_json::{Map, Value};

use super::{CmdResult, id_from_path};
use crate::cli::WriteArgs;
use crate::files::META_MAX_BYTES;
use crate::{Meta, MetaError, RunId, RunsDir, parse_assignment, write_meta};

pub(crate) fn run(runs: &RunsDir, args: WriteArgs, _out: &mut dyn Write) -> CmdResult {
    let assignments = args
        .assignments
        .iter()
        .map(|a| parse_assignment(a))
        .collect::<Result<Vec<_>, _>>()?;

    let mut object = if args.stdin {
        read_stdin_object()?
    } else {
        Map::new()
    };
    for key in object.keys() {
        crate::assign::refuse_protected(key)?;
    }
    for (k, v) in assignments {
        object.insert(k, v);
    }

    let path = target_path(runs, &args.meta)?;
    let mut meta = Meta::from_object(object).map_err(|e| MetaError::BadInput {
        what: if args.stdin { "<stdin>" } else { "arguments" }.to_owned(),
        message: e.to_string(),
    })?;
    if meta.run_id.is_empty() {
        if let Some(id) = id_from_path(&path) {
            meta.run_id = id;
        }
    }
    match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(dir) if !dir.is_dir() => {
            return Err(MetaError::NotFound {
                path: dir.to_path_buf(),
            }
            .into());
        }
        _ => {}
    }
    write_meta(&path, &meta)?;
    Ok(0)
}

/// A path as given, or a bare run id inside the runs dir (created if needed).
fn target_path(runs: &RunsDir, arg: &str) -> Result<PathBuf, MetaError> {
    if arg.contains('/') || arg.ends_with(".json") {
        return Ok(PathBuf::from(arg));
    }
    let id = RunId::parse(arg)?;
    runs.ensure()?;
    Ok(runs.paths(&id).meta)
}

fn read_stdin_object() -> Result<Map<String, Value>, MetaError> {
    let bytes = crate::files::read_to_cap(std::io::stdin().lock(), META_MAX_BYTES)
        .map_err(|e| MetaError::io("<stdin>", "read", e))?
        .ok_or_else(|| MetaError::TooLarge {
            what: "<stdin>".to_owned(),
            limit: META_MAX_BYTES,
        })?;
    let bad = |message: String| MetaError::BadInput {
        what: "<stdin>".to_owned(),
        message,
    };
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(bad("not a JSON object".to_owned())),
        Err(e) => Err(bad(format!("invalid JSON: {e}"))),
    }
}
