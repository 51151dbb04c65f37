//! Liveness of a run: the owner's lock, the derived `lost` status, and waiting.
//!
//! The run's owner (codex-spawn) takes an exclusive `flock` on the run's log file with
//! [`RunLock`] before it writes the meta as `running`, and keeps it until it has written
//! the final meta. The kernel drops the lock when the owner dies, however it dies. So:
//! - a reader that finds `running` but can take a shared lock knows nobody owns the run:
//!   the run is `lost` ([`effective_status`]);
//! - a waiter blocks in a shared `flock` (in a thread, so a timeout can be applied) and
//!   wakes the moment the owner is gone, with no polling ([`wait_for`]).
//!
//! The lock lives on its own open file description (the log reopened through
//! `/proc/self/fd` where available, else a dup), so the log descriptors handed to codex as
//! stdout/stderr do not keep the lock alive after the owner is gone.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

use crate::runs_dir::META_SUFFIX;
use crate::{Meta, MetaError, Status, read_meta};

/// Exit status of `wait` when the timeout passed first.
pub const EXIT_WAIT_TIMEOUT: u8 = 124;
/// Exit status of `wait` for a run that is `lost`.
pub const EXIT_LOST: u8 = 125;

/// How long [`RunLock::acquire`] retries while readers hold brief shared probes.
const ACQUIRE_PATIENCE: Duration = Duration::from_secs(2);

/// The owner's exclusive lock on a run's log. Held until dropped (or the process ends).
#[derive(Debug)]
pub struct RunLock {
    lock: Flock<File>,
    path: Option<PathBuf>,
}

impl RunLock {
    /// Take the run's lock on an open log (e.g. [`crate::NewRun::log`]): LOCK_EX|LOCK_NB on
    /// a new close-on-exec descriptor of the same file. Readers' brief shared probes are
    /// waited out (up to 2 s); a lock held by another owner gives [`MetaError::LockHeld`].
    pub fn acquire(log: &File) -> Result<RunLock, MetaError> {
        let proc_path = PathBuf::from(format!("/proc/self/fd/{}", log.as_raw_fd()));
        let own = match File::open(&proc_path) {
            Ok(f) => f,
            Err(_) => log
                .try_clone()
                .map_err(|e| MetaError::io(&proc_path, "duplicate log descriptor", e))?,
        };
        let name = std::fs::read_link(&proc_path).ok();
        Self::lock_file(own, name.unwrap_or(proc_path))
    }

    /// Take the run's lock on the log at `path` (opened read-only, close-on-exec).
    pub fn acquire_path(path: &Path) -> Result<RunLock, MetaError> {
        let file = File::open(path).map_err(|e| MetaError::io(path, "open log", e))?;
        Self::lock_file(file, path.to_path_buf())
    }

    fn lock_file(mut file: File, path: PathBuf) -> Result<RunLock, MetaError> {
        let start = Instant::now();
        loop {
            match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(lock) => {
                    return Ok(RunLock {
                        lock,
                        path: Some(path),
                    });
                }
                Err((f, Errno::EINTR)) => file = f,
                Err((f, Errno::EWOULDBLOCK)) if start.elapsed() < ACQUIRE_PATIENCE => {
                    file = f;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err((_, Errno::EWOULDBLOCK)) => return Err(MetaError::LockHeld { path }),
                Err((_, errno)) => {
                    return Err(MetaError::io(path, "lock log", io::Error::from(errno)));
                }
            }
        }
    }

    /// The log file this lock is on, when known.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Give the lock up now (dropping does the same).
    pub fn release(self) {
        drop(self.lock);
    }
}

/// True when some process (this one included, through another descriptor) holds the
/// run's lock on `log_path`. A log that is missing or cannot be opened counts as not held.
pub fn is_held(log_path: &Path) -> bool {
    let Ok(mut file) = File::open(log_path) else {
        return false;
    };
    loop {
        match Flock::lock(file, FlockArg::LockSharedNonblock) {
            Ok(_probe) => return false, // dropped at once: unlocks
            Err((f, Errno::EINTR)) => file = f,
            Err((_, Errno::EWOULDBLOCK)) => return true,
            Err(_) => return false,
        }
    }
}

/// The log whose lock tells whether the run is alive: the meta's `log_file` (relative to
/// the meta's directory if relative), else the sibling `codex-run-<id>.log` of the meta
/// file. The first that exists; `None` when neither does.
pub fn log_path_for(meta: &Meta, meta_path: Option<&Path>) -> Option<PathBuf> {
    let meta_dir = meta_path.and_then(Path::parent);
    let mut candidates = Vec::new();
    if let Some(log) = meta.log_file.as_deref().filter(|s| !s.is_empty()) {
        let log = Path::new(log);
        match meta_dir {
            Some(dir) if log.is_relative() => candidates.push(dir.join(log)),
            _ => candidates.push(log.to_path_buf()),
        }
    }
    if let Some(mp) = meta_path {
        if let Some(name) = mp.file_name().and_then(|n| n.to_str()) {
            if let Some(stem) = name.strip_suffix(META_SUFFIX) {
                candidates.push(mp.with_file_name(format!("{stem}.log")));
            }
        }
    }
    candidates.into_iter().find(|p| p.exists())
}

/// The status a reader should believe: the stored one, except that `running` (or no
/// status at all) with nobody holding the run's lock — or no log to lock — is `lost`.
pub fn effective_status(meta: &Meta) -> Status {
    effective_status_at(meta, None)
}

/// [`effective_status`], also looking for the log next to the meta file at `meta_path`.
pub fn effective_status_at(meta: &Meta, meta_path: Option<&Path>) -> Status {
    match meta.status {
        Some(s) if s != Status::Running => s,
        _ => match log_path_for(meta, meta_path) {
            Some(log) if is_held(&log) => Status::Running,
            _ => Status::Lost,
        },
    }
}

/// What [`wait_for`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct WaitOutcome {
    /// The meta as re-read at the end.
    pub meta: Meta,
    /// Its effective status (`Running` only when `timed_out`).
    pub status: Status,
    /// The timeout passed while the run was still running.
    pub timed_out: bool,
}

impl WaitOutcome {
    /// The exit status a `wait` command reports for this run: 124 on timeout, 125 for a
    /// lost run, the run's `exit_code` when it succeeded (0 when absent), and for any other
    /// end its non-zero `exit_code` (low 8 bits), else 128+signal number when `signal`
    /// names one, else 1.
    pub fn exit_code(&self) -> u8 {
        if self.timed_out {
            return EXIT_WAIT_TIMEOUT;
        }
        run_exit_code(&self.meta, self.status)
    }
}

/// The exit status for a run that ended with `status` (see [`WaitOutcome::exit_code`]).
pub fn run_exit_code(meta: &Meta, status: Status) -> u8 {
    let low = |c: i32| (c & 0xff) as u8;
    match status {
        Status::Lost => EXIT_LOST,
        Status::Running => EXIT_WAIT_TIMEOUT,
        Status::Succeeded => meta.exit_code.map(low).unwrap_or(0),
        _ => {
            if let Some(c) = meta.exit_code.map(low).filter(|&c| c != 0) {
                return c;
            }
            meta.signal
                .as_deref()
                .and_then(|s| s.parse::<nix::sys::signal::Signal>().ok())
                .map(|sig| 128u8.wrapping_add(sig as i32 as u8))
                .unwrap_or(1)
        }
    }
}

/// Block until the run of the meta at `meta_path` is no longer running (or `timeout`
/// passes), then re-read the meta. No polling: a thread blocks in a shared `flock` on the
/// run's log, which the kernel grants the moment the owner releases its lock or dies; the
/// caller waits on a channel with the timeout. (On timeout that thread stays blocked
/// until the owner goes away; it holds nothing that matters.)
pub fn wait_for(meta_path: &Path, timeout: Option<Duration>) -> Result<WaitOutcome, MetaError> {
    // A timeout too large to add to now is no timeout.
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    loop {
        let meta = read_meta(meta_path)?;
        let status = effective_status_at(&meta, Some(meta_path));
        if status.is_terminal() {
            return Ok(WaitOutcome {
                meta,
                status,
                timed_out: false,
            });
        }
        let Some(log) = log_path_for(&meta, Some(meta_path)) else {
            continue; // the log vanished between the two looks: next round says lost
        };
        let (tx, rx) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("codex-meta-wait".into())
            .spawn(move || {
                // Ok: unlocked on drop at once; another error: stop waiting and re-read.
                if let Ok(mut file) = File::open(&log) {
                    while let Err((f, Errno::EINTR)) = Flock::lock(file, FlockArg::LockShared) {
                        file = f;
                    }
                }
                let _ = tx.send(());
            })
            .map_err(|e| MetaError::io(meta_path, "start waiting thread", e))?;
        let got = match deadline {
            None => rx.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected),
            Some(d) => rx.recv_timeout(d.saturating_duration_since(Instant::now())),
        };
        if let Err(mpsc::RecvTimeoutError::Timeout) = got {
            let meta = read_meta(meta_path)?;
            let status = effective_status_at(&meta, Some(meta_path));
            return Ok(WaitOutcome {
                timed_out: !status.is_terminal(),
                meta,
                status,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{RunsDir, write_meta};

    fn running_meta(dir: &RunsDir) -> (crate::NewRun, Meta) {
        let run = dir.create_run().unwrap();
        let mut meta = Meta::new(run.id.as_str());
        meta.status = Some(Status::Running);
        meta.log_file = Some(run.paths.log.display().to_string());
        write_meta(&run.paths.meta, &meta).unwrap();
        (run, meta)
    }

    #[test]
    fn running_without_holder_is_lost_and_with_holder_running() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = RunsDir::new(tmp.path()).unwrap();
        let (run, meta) = running_meta(&dir);
        assert!(!is_held(&run.paths.log));
        assert_eq!(effective_status(&meta), Status::Lost);
        let lock = RunLock::acquire(&run.log).unwrap();
        assert!(is_held(&run.paths.log));
        assert_eq!(effective_status(&meta), Status::Running);
        // The log's own descriptor (as given to a child) does not hold the lock.
        assert!(matches!(
            RunLock::acquire_path(&run.paths.log),
            Err(MetaError::LockHeld { .. })
        ));
        lock.release();
        assert!(!is_held(&run.paths.log));
        assert_eq!(effective_status(&meta), Status::Lost);
        assert!(run.log.metadata().is_ok());
    }

    #[test]
    fn terminal_status_is_kept_and_missing_log_is_lost() {
        let mut meta = Meta::new("x");
        meta.status = Some(Status::Failed);
        assert_eq!(effective_status(&meta), Status::Failed);
        meta.status = Some(Status::Running);
        meta.log_file = Some("/nonexistent/codex-run-x.log".into());
        assert_eq!(effective_status(&meta), Status::Lost);
        meta.status = None;
        assert_eq!(effective_status(&meta), Status::Lost);
    }

    #[test]
    fn sibling_log_is_found_from_the_meta_path() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = RunsDir::new(tmp.path()).unwrap();
        let (run, mut meta) = running_meta(&dir);
        meta.log_file = None;
        let _lock = RunLock::acquire(&run.log).unwrap();
        assert_eq!(effective_status(&meta), Status::Lost);
        assert_eq!(
            effective_status_at(&meta, Some(&run.paths.meta)),
            Status::Running
        );
        meta.log_file = Some(run.paths.log.file_name().unwrap().to_str().unwrap().into());
        assert_eq!(
            effective_status_at(&meta, Some(&run.paths.meta)),
            Status::Running
        );
    }

    #[test]
    fn wait_returns_when_the_holder_lets_go() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = RunsDir::new(tmp.path()).unwrap();
        let (run, _) = running_meta(&dir);
        let lock = RunLock::acquire(&run.log).unwrap();
        let meta_path = run.paths.meta.clone();
        let owner = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            crate::update_meta(&meta_path, |m| {
                m.status = Some(Status::Failed);
                m.exit_code = Some(3);
            })
            .unwrap();
            drop(lock);
        });
        let start = Instant::now();
        let out = wait_for(&run.paths.meta, Some(Duration::from_secs(20))).unwrap();
        owner.join().unwrap();
        assert!(start.elapsed() >= Duration::from_millis(250));
        assert!(!out.timed_out);
        assert_eq!(out.status, Status::Failed);
        assert_eq!(out.exit_code(), 3);
    }

    #[test]
    fn wait_times_out_on_a_held_lock_and_sees_lost() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = RunsDir::new(tmp.path()).unwrap();
        let (run, _) = running_meta(&dir);
        let lock = RunLock::acquire(&run.log).unwrap();
        let out = wait_for(&run.paths.meta, Some(Duration::from_millis(100))).unwrap();
        assert!(out.timed_out);
        assert_eq!(out.status, Status::Running);
        assert_eq!(out.exit_code(), EXIT_WAIT_TIMEOUT);
        drop(lock);
        let out = wait_for(&run.paths.meta, Some(Duration::from_millis(100))).unwrap();
        assert_eq!(out.status, Status::Lost);
        assert_eq!(out.exit_code(), EXIT_LOST);
    }

    #[test]
    fn exit_codes_follow_the_rules() {
        let mut m = Meta::new("x");
        assert_eq!(run_exit_code(&m, Status::Succeeded), 0);
        m.exit_code = Some(0);
        assert_eq!(run_exit_code(&m, Status::VerifyFailed), 1);
        m.exit_code = Some(2);
        assert_eq!(run_exit_code(&m, Status::Failed), 2);
        m.exit_code = Some(256);
        assert_eq!(run_exit_code(&m, Status::Failed), 1);
        m.exit_code = None;
        m.signal = Some("SIGTERM".into());
        assert_eq!(run_exit_code(&m, Status::Killed), 143);
        assert_eq!(run_exit_code(&m, Status::Lost), 125);
    }
}
