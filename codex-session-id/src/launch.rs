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
use std::time::{Duration, Instant};

use codex_meta::launch::{Launch, launch_in};

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
/// itself), a FIFO, a file whose first bytes are no run lines. A file not there yet, or
/// still empty (`codex-spawn --detach > a.launch &` — the shell makes it before
/// codex-spawn writes), is waited for until it has bytes (or `deadline`), and lines
/// that begin like run lines until they are whole (a moment). The file is the caller's
/// to name (a symlink to it is fine); the log it leads to is opened as a run's own.
pub(crate) fn launch_of_file(
    path: &Path,
    deadline: Option<Instant>,
) -> Result<Option<Launch>, Error> {
    if is_run_log(path) {
        return Ok(None);
    }
    let err = |why: String| Error::Read {
        path: path.to_owned(),
        source: io::Error::other(why),
    };
    let mut partial_since: Option<Instant> = None;
    loop {
        match std::fs::metadata(path) {
            Ok(m) if !m.is_file() => return Ok(None),
            Ok(m) if m.len() > 0 => {
                let head = read_head(path).map_err(|e| err(e.to_string()))?;
                let text = String::from_utf8_lossy(&head);
                if let Some(launch) = launch_in(&text).map_err(err)? {
                    return Ok(Some(launch));
                }
                // the first run line written, not yet the meta_file line: a moment more
                let begun =
                    text.starts_with("codex_run_id=") || text.starts_with("{\"codex_run_id\"");
                let since = *partial_since.get_or_insert_with(Instant::now);
                if !begun || since.elapsed() >= PARTIAL_PATIENCE {
                    return Ok(None);
                }
            }
            // not there, or empty: a launch file on its way, or a log to be followed
            _ => {}
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(None);
        }
        // (as often as --follow looks at a file that has no new bytes)
        std::thread::sleep(crate::follow::POLL);
    }
}

/// How long lines that begin like run lines may take to become whole.
const PARTIAL_PATIENCE: Duration = Duration::from_secs(1);

/// The first [`HEAD`] bytes of the file at `path`.
fn read_head(path: &Path) -> io::Result<Vec<u8>> {
    let mut head = Vec::new();
    std::fs::File::open(path)?
        .take(HEAD as u64)
        .read_to_end(&mut head)?;
    Ok(head)
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
