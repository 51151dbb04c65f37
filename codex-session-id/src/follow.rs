//! `--follow`: reading a log that is still being written, until an id appears, the run
//! writing it ends, or the timeout passes — on every kind of input.
//!
//! Why it exists apart from [`crate::read`]: following is about time and file identity,
//! not about bytes. A named file is followed like `tail -F`: it may not exist yet, be
//! truncated (read again from the start), renamed over or deleted and created again (the
//! old file is read to its end, then the new one from its start). Pipes, FIFOs and
//! character devices are read on a helper thread so the timeout holds even while a read
//! blocks, and even when the input never stops (`/dev/zero`).
//!
//! The end of a codex-spawn run is seen three ways: the owner's lock on the log being
//! released (probed through the open descriptor, so it still works once the name was
//! deleted or replaced); for a file named like a run log, the run's meta beside it saying
//! the run is over (its lock and its liveness witness,
//! [`codex_meta::effective_status_at`]); and, only where neither can tell (codex-spawn's
//! stdout captured to a file), its `codex_exit_code=` closing line — in a run's log that
//! line may be codex's own output (a tool printing another run's log).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::ops::ControlFlow;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::{Scanner, SessionId};

/// Read size.
const CHUNK: usize = 1 << 20;
/// How long `--follow` sleeps when a growing file has no new bytes.
pub(crate) const POLL: Duration = Duration::from_millis(50);
/// After a codex-spawn run ended, how long `--follow` waits for its remaining closing lines.
const GRACE: Duration = Duration::from_millis(200);
/// How long `--follow` waits for an empty run log, never seen locked, to be locked.
const UNLOCKED_PATIENCE: Duration = Duration::from_secs(1);

/// Whether `path` is named like a codex-spawn run log, `codex-run-<id>.log`.
pub fn is_run_log(path: &Path) -> bool {
    run_meta_of(path).is_some()
}

/// The meta beside a run log `<dir>/codex-run-<id>.log`.
fn run_meta_of(path: &Path) -> Option<PathBuf> {
    let id = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix(codex_meta::RUN_FILE_PREFIX))
        .and_then(|n| n.strip_suffix(".log"))?;
    codex_meta::RunId::parse(id).ok()?;
    Some(path.with_file_name(format!(
        "{}{id}{}",
        codex_meta::RUN_FILE_PREFIX,
        codex_meta::META_SUFFIX
    )))
}

/// Is the run whose log this is still going, by its meta? `None` when there is no meta
/// to tell (not a run log, or not written yet).
fn run_alive_by_meta(path: &Path) -> Option<bool> {
    let meta_path = run_meta_of(path)?;
    let meta = codex_meta::read_meta(&meta_path).ok()?;
    Some(codex_meta::effective_status_at(&meta, Some(&meta_path)).is_live())
}

/// The file being read, and who it is.
struct Open {
    file: File,
    dev: u64,
    ino: u64,
    pos: u64,
}

/// Follows the file named `path` (see the module docs) until `on_id` breaks, `deadline`
/// passes, or the run writing it is over. A name that is not a regular file (a FIFO, a
/// character device) is read as a stream ([`follow_reader`]). Returns whether it stopped
/// because of the deadline.
pub fn follow_path(
    path: &Path,
    deadline: Option<Instant>,
    mut on_id: impl FnMut(SessionId) -> ControlFlow<()>,
) -> io::Result<bool> {
    // A FIFO (or a device) is a stream: opened on the helper thread too, since opening a
    // FIFO blocks until a writer comes, and the timeout must hold even then.
    if let Ok(m) = std::fs::metadata(path) {
        if !m.is_file() && !m.is_dir() {
            let p = path.to_path_buf();
            return follow_stream(move || File::open(p), deadline, on_id);
        }
    }
    let mut follow = Follow::new(path);
    let mut buf = vec![0u8; CHUNK];
    let timed_out = loop {
        match follow.step(&mut buf, deadline, &mut on_id)? {
            Flow::Again => {}
            Flow::Done(timed_out) => break timed_out,
            Flow::Quit => return Ok(false),
            Flow::Stream(file) => return follow_reader(file, deadline, on_id),
        }
    };
    if let Some(id) = follow.scanner.finish() {
        let _ = on_id(id);
    }
    Ok(timed_out)
}

/// What [`follow_path`] does after a [`Follow::step`].
enum Flow {
    /// Step again.
    Again,
    /// The follow is over (`true`: the deadline passed); the unfinished last line counts.
    Done(bool),
    /// `on_id` broke: stop at once.
    Quit,
    /// The name is not a regular file: read it as a stream.
    Stream(File),
}

/// The state of [`follow_path`].
struct Follow<'p> {
    path: &'p Path,
    scanner: Scanner,
    cur: Option<Open>,
    run_log: bool,
    /// Whether the writer's lock tells the run's end (a run log, or a lock was seen).
    lock_rule: bool,
    seen_held: bool,
    free_since: Option<Instant>,
    idle_since_end: Option<Instant>,
    /// The run was seen over: the next read that finds no new byte ends the follow.
    draining: bool,
    read_any: bool,
}

impl<'p> Follow<'p> {
    fn new(path: &'p Path) -> Follow<'p> {
        let run_log = is_run_log(path);
        Follow {
            path,
            scanner: Scanner::new(),
            cur: None,
            run_log,
            lock_rule: run_log,
            seen_held: false,
            free_since: None,
            idle_since_end: None,
            draining: false,
            read_any: false,
        }
    }

    /// Opens the file when it is not open, reads what is new, or else looks whether the
    /// name moved on and whether the writer is done, and waits.
    fn step(
        &mut self,
        buf: &mut [u8],
        deadline: Option<Instant>,
        on_id: &mut impl FnMut(SessionId) -> ControlFlow<()>,
    ) -> io::Result<Flow> {
        if self.cur.is_none() {
            if let Some(flow) = self.open(on_id)? {
                return Ok(flow);
            }
        }
        if let Some(o) = self.cur.as_mut() {
            let n = read_retry(&mut o.file, buf)?;
            if n > 0 {
                o.pos += n as u64;
                self.read_any = true;
                for id in self.scanner.feed(&buf[..n]) {
                    if on_id(id).is_break() {
                        return Ok(Flow::Quit);
                    }
                }
                self.idle_since_end = None;
                return Ok(Flow::Again);
            }
        }
        if self.draining {
            return Ok(Flow::Done(false));
        }
        if let Some(flow) = self.moved_on(on_id)? {
            return Ok(flow);
        }
        Ok(self.wait(deadline))
    }

    /// Opens the file under the name, if there is one.
    fn open(
        &mut self,
        on_id: &mut impl FnMut(SessionId) -> ControlFlow<()>,
    ) -> io::Result<Option<Flow>> {
        match open_log(self.path, self.run_log) {
            Ok(file) => {
                let m = file.metadata()?;
                if !m.is_file() {
                    return Ok(Some(Flow::Stream(file)));
                }
                // another file under the name: a new stream
                if self.read_any && self.restart(on_id) {
                    return Ok(Some(Flow::Quit));
                }
                self.cur = Some(Open {
                    file,
                    dev: m.dev(),
                    ino: m.ino(),
                    pos: 0,
                });
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        Ok(None)
    }

    /// Ends the stream read so far and starts a new one; true when `on_id` broke.
    fn restart(&mut self, on_id: &mut impl FnMut(SessionId) -> ControlFlow<()>) -> bool {
        if let Some(id) = self.scanner.finish() {
            if on_id(id).is_break() {
                return true;
            }
        }
        self.scanner = Scanner::new();
        false
    }

    /// At the end of what is there: did the name move on (truncated, renamed over,
    /// created)? `None`: no.
    fn moved_on(
        &mut self,
        on_id: &mut impl FnMut(SessionId) -> ControlFlow<()>,
    ) -> io::Result<Option<Flow>> {
        let Some(o) = self.cur.as_mut() else {
            return Ok(self.path.exists().then_some(Flow::Again));
        };
        match std::fs::metadata(self.path) {
            Ok(m) if (m.dev(), m.ino()) == (o.dev, o.ino) => {
                if m.len() < o.pos {
                    // truncated: read it again from the start
                    o.file.seek(SeekFrom::Start(0))?;
                    o.pos = 0;
                    if self.restart(on_id) {
                        return Ok(Some(Flow::Quit));
                    }
                    return Ok(Some(Flow::Again));
                }
                Ok(None)
            }
            // renamed over, or deleted and created again: the old file was read to its
            // end; now the new one
            Ok(_) => {
                self.cur = None;
                Ok(Some(Flow::Again))
            }
            // deleted: the old descriptor still reads what its writer adds, and the name
            // may come back
            Err(_) => Ok(None),
        }
    }

    /// Is the writer (a codex-spawn run) still at it? When it is done, or the deadline
    /// passed, the follow ends; else a nap.
    fn wait(&mut self, deadline: Option<Instant>) -> Flow {
        let now = Instant::now();
        let held = self
            .cur
            .as_ref()
            .is_some_and(|o| codex_meta::is_held_file(&o.file));
        let by_meta = if held || !self.run_log {
            None
        } else {
            run_alive_by_meta(self.path)
        };
        if held || by_meta == Some(true) {
            self.seen_held = true;
            self.lock_rule = true;
            self.free_since = None;
        } else if self.lock_rule {
            let since = *self.free_since.get_or_insert(now);
            let exists = self.cur.is_some();
            if self.seen_held
                || by_meta == Some(false)
                || (exists && (self.read_any || now.duration_since(since) >= UNLOCKED_PATIENCE))
            {
                // everything the owner wrote was written before it let go: read on to
                // the end once more, then stop
                self.draining = true;
                return Flow::Again;
            }
        }
        // a closing line tells the end only where no lock does: in a live run's log it
        // may be codex's output (a tool that prints a codex-spawn log)
        if !self.lock_rule && self.scanner.run_ended() {
            let since = *self.idle_since_end.get_or_insert(now);
            if now.duration_since(since) >= GRACE {
                return Flow::Done(false);
            }
        }
        let mut nap = POLL;
        if let Some(deadline) = deadline {
            if now >= deadline {
                return Flow::Done(true);
            }
            nap = nap.min(deadline - now);
        }
        thread::sleep(nap);
        Flow::Again
    }
}

/// Open the followed file; one named like a run's log only as a run's own file is
/// opened ([`codex_meta::files::open_regular`]: never through a symlink — codex-spawn
/// never makes one, one there was planted).
fn open_log(path: &Path, run_log: bool) -> io::Result<File> {
    if run_log {
        codex_meta::files::open_regular(path)
    } else {
        File::open(path)
    }
}

fn read_retry(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match reader.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

/// Like [`crate::scan_reader`], but gives up at `deadline` even while a read blocks or
/// the input never ends (the reading happens on a helper thread, left blocked in `read`
/// if the deadline passes — meant for stdin, FIFOs and devices). Returns whether it
/// stopped because of the deadline.
pub fn follow_reader<R: Read + Send + 'static>(
    reader: R,
    deadline: Option<Instant>,
    on_id: impl FnMut(SessionId) -> ControlFlow<()>,
) -> io::Result<bool> {
    follow_stream(move || Ok(reader), deadline, on_id)
}

/// [`follow_reader`] on what `open` opens — on the helper thread, so a blocking open
/// (a FIFO with no writer yet) is bounded by the deadline as well.
fn follow_stream<R: Read + Send + 'static>(
    open: impl FnOnce() -> io::Result<R> + Send + 'static,
    deadline: Option<Instant>,
    mut on_id: impl FnMut(SessionId) -> ControlFlow<()>,
) -> io::Result<bool> {
    let Some(deadline) = deadline else {
        return crate::scan_reader(open()?, on_id).map(|()| false);
    };
    let (tx, rx) = mpsc::sync_channel::<io::Result<Vec<u8>>>(2);
    thread::spawn(move || {
        let mut reader = match open() {
            Ok(r) => r,
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        };
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let msg = read_retry(&mut reader, &mut buf).map(|n| buf[..n].to_vec());
            let done = !matches!(&msg, Ok(b) if !b.is_empty());
            if tx.send(msg).is_err() || done {
                return;
            }
        }
    });
    let mut scanner = Scanner::new();
    let timed_out = loop {
        let now = Instant::now();
        if now >= deadline {
            break true;
        }
        match rx.recv_timeout(deadline - now) {
            Ok(Ok(bytes)) if bytes.is_empty() => break false,
            Ok(Ok(bytes)) => {
                for id in scanner.feed(&bytes) {
                    if on_id(id).is_break() {
                        return Ok(false);
                    }
                }
            }
            Ok(Err(e)) => return Err(e),
            Err(mpsc::RecvTimeoutError::Timeout) => break true,
            Err(mpsc::RecvTimeoutError::Disconnected) => break false,
        }
    };
    if let Some(id) = scanner.finish() {
        let _ = on_id(id);
    }
    Ok(timed_out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn follow_stops_at_run_end_and_at_the_deadline() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("spawn.out");
        std::fs::File::create(&p)
            .unwrap()
            .write_all(b"x\ncodex_exit_code=1\ncodex_session_id=-\n")
            .unwrap();
        assert!(!follow_path(&p, None, |_| ControlFlow::Continue(())).unwrap());
        let q = dir.path().join("plain.log");
        std::fs::write(&q, "x\n").unwrap();
        let t = Instant::now();
        let timed_out = follow_path(
            &q,
            Some(Instant::now() + Duration::from_millis(100)),
            |_| ControlFlow::Continue(()),
        )
        .unwrap();
        assert!(timed_out);
        assert!(t.elapsed() >= Duration::from_millis(100));
    }

    #[test]
    fn an_endless_stream_stops_at_the_deadline() {
        let t = Instant::now();
        let zero = File::open("/dev/zero").unwrap();
        let timed_out = follow_reader(
            zero,
            Some(Instant::now() + Duration::from_millis(200)),
            |_| ControlFlow::Continue(()),
        )
        .unwrap();
        assert!(timed_out);
        assert!(t.elapsed() < Duration::from_secs(5));
    }
}
