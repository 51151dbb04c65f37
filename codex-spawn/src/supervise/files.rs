//! The run's files and what guards them: created without following anything planted,
//! written without ever blocking codex, and never a silent loss.
//!
//! - [`RunFiles::create`]: the run's id is claimed by its log and last-message file
//!   (O_EXCL|O_NOFOLLOW, 0600; a name taken in any form means another id), the run lock is
//!   taken, and room is reserved on the runs dir's disk for the final record
//!   ([`crate::sys::reserve`]). A run that cannot start (a full disk) removes what it
//!   created: no empty files are left behind.
//! - [`Log`]: codex's output, written whole while the disk has room. The first failed
//!   write stops the log there (so it stays a prefix of what codex printed); codex's
//!   output is still read and fed to the detectors, the bytes lost are counted, and the
//!   end of the run says so (a note in the log once the reserve is released, the meta's
//!   `log_truncated`, exit 125).
//! - [`Stdout`]: the run lines, the echo and the closing lines. A reader that hangs up
//!   (EPIPE) turns it off quietly; any other failure (`/dev/full`) is remembered and
//!   reported.

use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;

use codex_meta::{NewRun, RunLock, RunPaths, RunsDir};

use crate::config::Config;
use crate::error::SpawnError;
use crate::sys::reserve::Reserve;

/// Room kept for the final meta, the summary and the log's closing lines: enough for a
/// meta with a big task and many attempts (both written twice: the temp file and the old
/// one coexist for a moment), a summary with a 64 KiB last message, and the closing
/// lines (which repeat the summary).
pub fn reserve_bytes(config: &Config) -> u64 {
    let task = config.task.bytes.len().min(crate::supervise::META_TASK_MAX) as u64;
    let argv: u64 = config
        .codex_args
        .iter()
        .map(|a| a.len() as u64)
        .sum::<u64>()
        + if config.task.via_stdin {
            0
        } else {
            config.task.bytes.len() as u64
        };
    let attempts = u64::from(config.max_attempts.min(50));
    256 * 1024 + 4 * (task + argv) + 2048 * attempts
}

/// The files of a run that has started.
pub struct RunFiles {
    pub id: String,
    pub paths: RunPaths,
    /// Our `-o` file, unless the pass-through options name one.
    pub last_message: Option<PathBuf>,
    pub log: Log,
    /// The run lock, held by the process that supervises (see [`RunFiles::lock_here`]).
    pub lock: Option<RunLock>,
    pub reserve: Reserve,
    claimed_last_message: bool,
}

impl RunFiles {
    /// Claim a new run in `runs` (see the module docs). The run lock is taken here,
    /// unless the run detaches: then the detached supervisor takes it
    /// ([`RunFiles::lock_here`]) — a lock must belong to the process that holds the run,
    /// since where flock is emulated with POSIX locks (Linux NFS clients) a fork does not
    /// inherit it.
    pub fn create(runs: &RunsDir, config: &Config) -> Result<RunFiles, SpawnError> {
        let wants_last_message = !crate::argv::names_last_message(&config.codex_args);
        let new = runs.create_run(wants_last_message)?;
        let lock = if config.detach {
            None
        } else {
            match RunLock::acquire(&new.log, &new.paths.log) {
                Ok(l) => Some(l),
                Err(e) => {
                    new.discard();
                    return Err(e.into());
                }
            }
        };
        let name = format!(".codex-run-{}.reserve", new.id.as_str());
        let bytes = reserve_bytes(config);
        let reserve = match Reserve::claim(runs.path(), &name, bytes) {
            Ok(r) => r,
            Err(e) => {
                drop(lock);
                new.discard();
                return Err(SpawnError::io(
                    runs.path(),
                    if e.raw_os_error() == Some(libc::ENOSPC) {
                        "keep room for the run's record (the disk is full; nothing was started)"
                    } else {
                        "keep room for the run's record"
                    },
                    e,
                ));
            }
        };
        let NewRun {
            id,
            paths,
            log,
            last_message,
        } = new;
        Ok(RunFiles {
            id: id.as_str().to_owned(),
            last_message: wants_last_message.then(|| paths.last_message.clone()),
            log: Log::new(log),
            paths,
            lock,
            reserve,
            claimed_last_message: last_message,
        })
    }

    /// Take the run lock in this process (the detached supervisor).
    pub fn lock_here(&mut self) -> Result<(), SpawnError> {
        if self.lock.is_none() {
            self.lock = Some(RunLock::acquire(&self.log.file, &self.paths.log)?);
        }
        Ok(())
    }

    /// The run could not start: remove everything it created.
    pub fn discard(self) {
        let RunFiles {
            paths,
            log,
            lock,
            claimed_last_message,
            ..
        } = self;
        drop(lock);
        drop(log);
        for (p, ours) in [
            (&paths.log, true),
            (&paths.last_message, claimed_last_message),
            (&paths.meta, true),
        ] {
            if ours {
                let _ = std::fs::remove_file(p);
            }
        }
    }
}

/// The log file (see the module docs).
pub struct Log {
    pub(super) file: File,
    /// The last byte offered (to start our own lines on a line of their own).
    pub last: u8,
    written: u64,
    lost: u64,
    error: Option<io::Error>,
}

impl Log {
    fn new(file: File) -> Log {
        Log {
            file,
            last: b'\n',
            written: 0,
            lost: 0,
            error: None,
        }
    }

    /// Append `bytes`, or count them as lost once a write has failed.
    pub fn write(&mut self, bytes: &[u8]) {
        let Some(&last) = bytes.last() else { return };
        self.last = last;
        if self.error.is_some() {
            self.lost += bytes.len() as u64;
            return;
        }
        let mut rest = bytes;
        while !rest.is_empty() {
            match self.file.write(rest) {
                Ok(0) => {
                    self.fail(io::Error::from(io::ErrorKind::WriteZero), rest.len());
                    return;
                }
                Ok(n) => {
                    self.written += n as u64;
                    rest = &rest[n..];
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.fail(e, rest.len());
                    return;
                }
            }
        }
    }

    fn fail(&mut self, e: io::Error, unwritten: usize) {
        self.error = Some(e);
        self.lost += unwritten as u64;
    }

    /// Why the log stopped, with what was written and lost, if it did.
    pub fn truncation(&self) -> Option<Truncation> {
        self.error.as_ref().map(|e| Truncation {
            error: e.to_string(),
            written: self.written,
            lost: self.lost,
        })
    }

    /// After the reserve is released: try once more to append `bytes` (the note about
    /// the truncation, the closing lines). True when they were written.
    pub fn write_after_release(&mut self, bytes: &[u8]) -> bool {
        let mut rest = bytes;
        while !rest.is_empty() {
            match self.file.write(rest) {
                Ok(0) => return false,
                Ok(n) => rest = &rest[n..],
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        if let Some(&b) = bytes.last() {
            self.last = b;
        }
        true
    }
}

/// How the log was cut short.
#[derive(Debug, Clone)]
pub struct Truncation {
    pub error: String,
    pub written: u64,
    pub lost: u64,
}

/// Write all of `bytes` to stdout as a blocking descriptor would, also when the caller
/// left it non-blocking (Node.js parents do): EAGAIN waits for room, it is no failure.
fn write_blocking(mut bytes: &[u8]) -> io::Result<()> {
    use std::os::fd::AsFd;
    // Straight to descriptor 1: codex-spawn writes stdout nowhere else, so no buffer of
    // std's can hold half of a line when a write fails.
    let stdout = io::stdout();
    let fd = stdout.as_fd();
    while !bytes.is_empty() {
        match nix::unistd::write(fd, bytes) {
            Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
            Ok(n) => bytes = &bytes[n..],
            Err(nix::errno::Errno::EINTR) => {}
            Err(nix::errno::Errno::EAGAIN) => {
                let mut fds = [nix::poll::PollFd::new(fd, nix::poll::PollFlags::POLLOUT)];
                let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::NONE);
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// codex-spawn's stdout (see the module docs).
pub struct Stdout {
    on: bool,
    pub last: u8,
    error: Option<io::Error>,
}

impl Stdout {
    pub fn new(on: bool) -> Stdout {
        Stdout {
            on,
            last: b'\n',
            error: None,
        }
    }

    pub fn write(&mut self, bytes: &[u8]) {
        let Some(&last) = bytes.last() else { return };
        if !self.on {
            return;
        }
        if let Err(e) = write_blocking(bytes) {
            self.on = false;
            if !codex_meta::io::is_broken_pipe(&e) {
                self.error = Some(e);
            }
        }
        self.last = last;
    }

    /// A failure other than a reader hanging up.
    pub fn error(&self) -> Option<&io::Error> {
        self.error.as_ref()
    }
}
