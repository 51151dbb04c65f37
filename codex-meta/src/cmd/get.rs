//! `codex-meta get RUN KEY`: print one field of the effective view of a meta.
//!
//! Strings print raw, anything else as one-line JSON; an absent or null field prints
//! nothing and exits 1. `status` is the effective status (`lost` derived) and
//! `stored_status` the stored one when they differ. A key that is not a top-level field
//! is tried as a dotted path (`attempts.0.exit_code`).

use std::io::Write;

use serde_json::Value;

use super::{CmdResult, view};
use crate::RunsDir;
use crate::cli::GetArgs;

pub(crate) fn run(runs: &RunsDir, args: GetArgs, out: &mut dyn Write) -> CmdResult {
    let path = runs.resolve_run(&args.run)?;
    let view = view(&path)?;
    let root = Value::Object(view.object);
    let found = match &root {
        Value::Object(map) if map.contains_key(&args.key) => map.get(&args.key),
        _ => lookup(&root, &args.key),
    };
    match found {
        None | Some(Value::Null) => Ok(1),
        Some(Value::String(s)) => {
            writeln!(out, "{s}")?;
            Ok(0)
        }
        Some(other) => {
            writeln!(out, "{other}")?;
            Ok(0)
        }
    }
}

/// Follow a dotted path: object keys, array indexes.
fn lookup<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(root, |v, part| match v {
        Value::Object(map) => map.get(part),
        Value::Array(items) => part.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dotted_paths_reach_into_objects_and_arrays() {
        let v = json!({"attempts":[{"exit_code":3}],"a":{"b":"c"}});
        assert_eq!(lookup(&v, "attempts.0.exit_code"), Some(&json!(3)));
        assert_eq!(lookup(&v, "a.b"), Some(&json!("c")));
        assert_eq!(lookup(&v, "attempts.1"), None);
        assert_eq!(lookup(&v, "attempts.x"), None);
        assert_eq!(lookup(&v, "a.b.c"), None);
    }
}
