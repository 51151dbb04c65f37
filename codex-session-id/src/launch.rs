//! `--follow` on codex-spawn's run lines: `codex-spawn --detach … | codex-session-id
//! --follow`, or a launch file (`codex-spawn --detach > a.launch`). The lines name the run
//! but hold no session id yet (codex names it later, in the run's log), and a launch file
//! never grows: followed as it is, the pipe ended with nothing found and the file was
//! followed until the timeout (without one, forever). So once such an input has given no
//! id, the run's own log — beside its meta, named after its id
//! ([`codex_meta::launch::Launch::log_file`]), never a path the lines name — is followed,
//! until its id appears or the run ends.

use std::io::{self, Read};
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use codex_meta::launch::{Launch, launch_in, read_launch};

use crate::{Error, SessionId, follow_path, is_run_log};

/// How much of a stream is kept to look for run lines in (they are its first few hundred
/// bytes; codex-spawn's foreground output may follow them).
const HEAD: usize = 64 << 10;

/// A reader that keeps a copy of the first [`HEAD`] bytes read through it.
pub(crate) struct Tap<R> {
    inner: R,
    head: Arc<Mutex<Vec<u8>>>,
}

impl<R> Tap<R> {
    pub(crate) fn new(inner: R) -> Tap<R> {
        Tap {
            inner,
            head: Arc::default(),
        }
    }

    /// The bytes kept, shared: readable after the reader moved to another thread.
    pub(crate) fn head(&self) -> Arc<Mutex<Vec<u8>>> {
        Arc::clone(&self.head)
    }
}

impl<R: Read> Read for Tap<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Ok(mut head) = self.head.lock() {
            let room = HEAD.saturating_sub(head.len()).min(n);
            head.extend_from_slice(&buf[..room]);
        }
        Ok(n)
    }
}

/// The run that the stream's first bytes (`head`) name, if they are codex-spawn's run
/// lines. `input` names the stream in an error.
pub(crate) fn launch_of_stream(
    head: &Mutex<Vec<u8>>,
    input: &Path,
) -> Result<Option<Launch>, Error> {
    let text = match head.lock() {
        Ok(h) => String::from_utf8_lossy(&h).into_owned(),
        Err(_) => return Ok(None),
    };
    launch_in(&text).map_err(|why| Error::Read {
        path: input.to_owned(),
        source: io::Error::other(why),
    })
}

/// The run a launch file names: `None` for anything else — a run's log (followed as
/// itself), a file not there yet (followed like `tail -F`), a FIFO, a file with no run
/// lines.
pub(crate) fn launch_of_file(path: &Path) -> Result<Option<Launch>, Error> {
    let is_file = std::fs::metadata(path).is_ok_and(|m| m.is_file());
    if !is_file || is_run_log(path) {
        return Ok(None);
    }
    read_launch(path).map_err(|e| {
        // the why alone: the path is said once, by Error::Read
        let why = std::error::Error::source(&e).map_or_else(|| e.to_string(), |s| s.to_string());
        Error::Read {
            path: path.to_owned(),
            source: io::Error::other(why),
        }
    })
}

/// Follow the log of the run `launch` names ([`follow_path`]'s rules: until an id, the
/// run's end, or the deadline). A symlink in the log's place is refused, never followed,
/// and so is a runs dir others may write ([`codex_meta::files::check_dir`]).
pub(crate) fn follow_launch(
    launch: &Launch,
    deadline: Option<Instant>,
    on_id: impl FnMut(SessionId) -> ControlFlow<()>,
) -> Result<bool, Error> {
    let Some(log) = launch.log_file() else {
        return Ok(false);
    };
    let err = |source| Error::Read {
        path: log.clone(),
        source,
    };
    // the runs dir the tools write to, not one others could plant a log in
    if let Some(dir) = log.parent() {
        codex_meta::files::check_dir(dir).map_err(|e| err(io::Error::other(e.to_string())))?;
    }
    let m = std::fs::symlink_metadata(&log).map_err(err)?;
    if !m.is_file() {
        return Err(err(io::Error::other(format!(
            "run {}'s log is not a regular file (a symlink is never followed)",
            launch.run_id
        ))));
    }
    follow_path(&log, deadline, on_id).map_err(err)
}
