//! The subcommands of `codex-meta`, one file each, and what they share: the failure
//! type (a library error or a failed write to stdout), the one-line error report, and
//! the "view" of a meta that show/get/list print (effective status derived).

use std::io::{self, Write};
use std::path::Path;

use serde_json::{Map, Value};

use crate::cli::{Cli, Command};
use crate::{Meta, MetaError, RunsDir, Status, effective_status_at, read_meta_object};

mod cancel;
mod get;
mod list;
mod prune;
mod set;
mod show;
mod status;
mod wait;
mod write;

pub(crate) use crate::cancel::parse_signal;
pub(crate) use crate::runs_dir::{display_id, id_from_path};

/// Why a command stopped early.
#[derive(Debug)]
pub(crate) enum Failure {
    /// A library error: reported on one line, exit 2.
    Meta(MetaError),
    /// Writing to stdout failed (a broken pipe is a quiet success).
    Output(io::Error),
}

impl From<MetaError> for Failure {
    fn from(e: MetaError) -> Self {
        Failure::Meta(e)
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Failure::Output(e)
    }
}

/// A command's result: its exit status, or why it failed.
pub(crate) type CmdResult = Result<u8, Failure>;

/// Run the command and map failures to exit statuses and one-line messages.
pub(crate) fn dispatch(cli: Cli, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let result = RunsDir::resolve(cli.runs_dir.as_deref())
        .map_err(Failure::from)
        .and_then(|runs| match cli.command {
            Command::Write(a) => write::run(&runs, a, out),
            Command::Set(a) => set::run(&runs, a),
            Command::Get(a) => get::run(&runs, a, out),
            Command::Show(a) => show::run(&runs, a, out),
            Command::Status(a) => status::run(&runs, a, out, err),
            Command::Wait(a) => wait::run(&runs, a, out, err),
            Command::List(a) => list::run(&runs, a, out, err),
            Command::Cancel(a) => cancel::run(&runs, a, out, err),
            Command::Prune(a) => prune::run(&runs, a, out, err),
        });
    match result {
        Ok(code) => code,
        Err(Failure::Output(e)) if crate::io::is_broken_pipe(&e) => 0,
        Err(Failure::Output(e)) => {
            report(err, &format!("cannot write to stdout: {e}"));
            2
        }
        Err(Failure::Meta(e)) => {
            report(err, &e.to_string());
            2
        }
    }
}

/// Print `codex-meta: <message>` on one line ([`crate::io::one_line`]).
pub(crate) fn report(err: &mut dyn Write, message: &str) {
    let _ = writeln!(err, "codex-meta: {}", crate::io::one_line(message));
    let _ = err.flush();
}

/// A meta as readers should see it: the stored object with `status` replaced by the
/// effective status; when they differ the stored value follows as `stored_status`.
pub(crate) struct View {
    pub object: Map<String, Value>,
    pub meta: Meta,
    pub status: Status,
}

impl View {
    /// The view without the stored object (the table needs only the typed meta).
    pub(crate) fn slim(self) -> View {
        // of the extra fields, only what the table shows (a worktree run's branch, what a
        // run spent)
        let mut extra = Map::new();
        for key in ["worktree", crate::kept::SPEND] {
            if let Some(w) = self.meta.extra.get(key) {
                extra.insert(key.to_owned(), w.clone());
            }
        }
        View {
            object: Map::new(),
            meta: Meta {
                extra,
                attempts: None,
                codex_command: None,
                warnings: None,
                ..self.meta
            },
            status: self.status,
        }
    }
}

/// Read the meta at `path` and derive its [`View`].
pub(crate) fn view(path: &Path) -> Result<View, MetaError> {
    let read = || -> Result<(Map<String, Value>, Meta), MetaError> {
        let stored = read_meta_object(path)?;
        let meta = Meta::from_object(stored.clone()).map_err(|e| MetaError::Corrupt {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        Ok((stored, meta))
    };
    let (mut stored, mut meta) = read()?;
    let status = effective_status_at(&meta, Some(path));
    if status != Status::Lost && meta.status.is_some_and(|s| s != status) {
        // it ended while we looked: show the final meta
        (stored, meta) = read()?;
    }
    Ok(View {
        object: derive_status(stored, &meta, status),
        meta,
        status,
    })
}

fn derive_status(stored: Map<String, Value>, meta: &Meta, status: Status) -> Map<String, Value> {
    if meta.status == Some(status) {
        return stored;
    }
    let effective = Value::String(status.to_string());
    let stored_value = stored.get("status").cloned().unwrap_or(Value::Null);
    let mut object = Map::new();
    let mut placed = false;
    for (k, v) in stored {
        if k == "stored_status" {
            continue;
        }
        if k == "status" {
            object.insert("status".into(), effective.clone());
            object.insert("stored_status".into(), stored_value.clone());
            placed = true;
        } else {
            object.insert(k, v);
        }
    }
    if !placed {
        object.insert("status".into(), effective);
        object.insert("stored_status".into(), stored_value);
    }
    object
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn derived_status_keeps_order_and_stored_value() {
        let stored = json!({"run_id":"a","status":"running","x":1});
        let Value::Object(stored) = stored else {
            unreachable!()
        };
        let meta = Meta::from_object(stored.clone()).unwrap();
        let same = derive_status(stored.clone(), &meta, Status::Running);
        assert_eq!(same, stored);
        let lost = derive_status(stored, &meta, Status::Lost);
        let keys: Vec<&str> = lost.keys().map(String::as_str).collect();
        assert_eq!(keys, ["run_id", "status", "stored_status", "x"]);
        assert_eq!(lost["status"], json!("lost"));
        assert_eq!(lost["stored_status"], json!("running"));
    }

    #[test]
    fn ids_come_from_meta_or_file_name() {
        let p = Path::new("/r/codex-run-20260101-000000-abcdef.meta.json");
        assert_eq!(display_id(&Meta::default(), p), "20260101-000000-abcdef");
        // the file name is the run's identity, whatever the content says
        assert_eq!(display_id(&Meta::new("x"), p), "20260101-000000-abcdef");
        assert_eq!(display_id(&Meta::new("x"), Path::new("/r/m.json")), "x");
        assert_eq!(id_from_path(Path::new("/r/other.json")), None);
    }
}
