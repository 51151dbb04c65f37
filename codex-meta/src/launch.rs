//! A launch file: what `codex-spawn` printed, kept as a handle to the run.
//!
//! Why it exists: a Makefile or a script keeps `codex-spawn --detach … > a.launch` and
//! later names the run by that file (`codex-meta wait a.launch`, `codex-summarize
//! a.launch`, `codex-spawn --resume a.launch`), with no `sed` to dig the meta path out.
//! The file holds codex-spawn's run lines — `codex_run_id=…` and `meta_file=…` lines, or
//! one JSON object with those keys (`--json`) — and possibly its closing lines after them.
//!
//! The meta it names must be the run's own: a file named `codex-run-<id>.meta.json` for
//! the `codex_run_id` the launch file gives, a regular file in a safe runs dir.

use std::path::{Path, PathBuf};

use crate::runs_dir::{META_SUFFIX, RUN_FILE_PREFIX};
use crate::{MetaError, RunId};

/// The most of a launch file read (the run lines are a few hundred bytes; a foreground
/// run's captured output may follow them).
const MAX_LAUNCH_FILE: u64 = 1 << 20;

/// What a launch file names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    pub run_id: String,
    pub meta_file: PathBuf,
    /// `codex_session_id=` when it was printed (`--detach=session`, or the closing lines).
    pub session_id: Option<String>,
}

/// Read the launch file at `path`. `Ok(None)`: the file holds no run lines (it is not a
/// launch file).
pub fn read_launch(path: &Path) -> Result<Option<Launch>, MetaError> {
    let file = crate::files::open_regular(path).map_err(|e| MetaError::io(path, "read", e))?;
    let Some(bytes) = crate::files::read_to_cap(file, MAX_LAUNCH_FILE)
        .map_err(|e| MetaError::io(path, "read", e))?
    else {
        return Ok(None); // larger than any launch file: not one
    };
    launch_in(&String::from_utf8_lossy(&bytes))
        .map_err(|why| MetaError::io(path, "read", std::io::Error::other(why)))
}

/// The launch in `text` (codex-spawn's output as read from a pipe, say): `Ok(None)` when
/// it holds no run lines, `Err` (why, one line) when they name another run's meta.
pub fn launch_in(text: &str) -> Result<Option<Launch>, String> {
    let Some(launch) = parse(text) else {
        return Ok(None);
    };
    let expected = format!("{RUN_FILE_PREFIX}{}{META_SUFFIX}", launch.run_id);
    if launch.meta_file.file_name().and_then(|n| n.to_str()) != Some(expected.as_str()) {
        return Err(format!(
            "its meta_file {} is not run {}'s meta ({expected})",
            launch.meta_file.display(),
            launch.run_id
        ));
    }
    Ok(Some(launch))
}

impl Launch {
    /// The run's own log: beside its meta, named after its id (never a `log_file` the
    /// text names).
    pub fn log_file(&self) -> Option<PathBuf> {
        crate::RunsDir::own_paths(&self.meta_file).map(|p| p.log)
    }
}

/// The run lines in `text`: key=value lines, or JSON objects one per line.
fn parse(text: &str) -> Option<Launch> {
    let (mut run_id, mut meta_file, mut session_id) = (None, None, None);
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.starts_with('{') {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
            run_id = run_id.or(s("codex_run_id")).or(s("run_id"));
            meta_file = meta_file.or(s("meta_file"));
            session_id = session_id.or(s("codex_session_id")).or(s("session_id"));
        } else if let Some((k, v)) = line.split_once('=') {
            let v = v.to_owned();
            match k {
                "codex_run_id" if run_id.is_none() => run_id = Some(v),
                "meta_file" if meta_file.is_none() => meta_file = Some(v),
                "codex_session_id" if session_id.is_none() && !v.is_empty() => session_id = Some(v),
                _ => {}
            }
        }
    }
    let run_id = RunId::parse(&run_id?).ok()?.as_str().to_owned();
    let meta_file = PathBuf::from(meta_file.filter(|m| !m.is_empty())?);
    Some(Launch {
        run_id,
        meta_file,
        session_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forms_of_the_run_lines_are_read() {
        let human = "codex_run_id=20261201-101010-abcd\nlog_file=/r/codex-run-20261201-101010-abcd.log\nmeta_file=/r/codex-run-20261201-101010-abcd.meta.json\nsummary_file_pending=/r/x\ncodex_session_id=0199b2c4-5d6e-7f80-9a1b-2c3d4e5f6a7b\n";
        let l = parse(human).unwrap();
        assert_eq!(l.run_id, "20261201-101010-abcd");
        assert_eq!(
            l.meta_file,
            Path::new("/r/codex-run-20261201-101010-abcd.meta.json")
        );
        assert_eq!(
            l.session_id.as_deref(),
            Some("0199b2c4-5d6e-7f80-9a1b-2c3d4e5f6a7b")
        );
        let json = r#"{"codex_run_id":"r1","log_file":"/r/codex-run-r1.log","meta_file":"/r/codex-run-r1.meta.json","summary_file_pending":"/r/s"}"#;
        let l = parse(json).unwrap();
        assert_eq!(l.run_id, "r1");
        assert_eq!(l.session_id, None);
        assert_eq!(parse("hello\nworld=1\n"), None);
        assert_eq!(parse("codex_run_id=../x\nmeta_file=/a\n"), None);
        let l = launch_in(human).unwrap().unwrap();
        assert_eq!(
            l.log_file().as_deref(),
            Some(Path::new("/r/codex-run-20261201-101010-abcd.log"))
        );
        assert_eq!(launch_in("no run here\n"), Ok(None));
        assert!(
            launch_in("codex_run_id=r1\nmeta_file=/r/codex-run-r2.meta.json\n")
                .unwrap_err()
                .contains("not run r1's meta")
        );
    }
}
