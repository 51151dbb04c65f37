//! Liveness of a run: the owner's lock, the derived `lost` status, and waiting.
//!
//! The run's owner (codex-spawn) takes an exclusive `flock` on the run's log file with
//! [`RunLock`] before it writes the meta as `running`, and keeps it until it has written
//! the final meta. The kernel drops the lock when the owner dies, however it dies. The
//! meta also carries a second witness, the owner's pid with its start time and the boot
//! id ([`crate::witness`]), because the lock is lost with the log when the log is
//! deleted, renamed over or rotated while the run goes on. So:
//! - a reader that finds `running` calls the run `lost` only when nobody holds the lock
//!   AND the witness says the owner is gone ([`effective_status_at`]); a run of another
//!   machine (a shared runs dir) is judged by its scheduler when its meta names one
//!   ([`crate::scheduler`]), and is not guessed without one;
//! - waiting for a run is [`crate::wait`].
//!
//! The lock lives on its own open file description (the log opened again by name), so
//! other descriptors of the log do not keep the lock alive after the owner is gone.
//! Readers only ever open the run's own log — the `codex-run-<id>.log` beside its meta —
//! never a path taken from the meta's content, and never through a symlink.

use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

use crate::runs_dir::RunsDir;
use crate::witness::{Liveness, liveness};
use crate::{Meta, MetaError, Status, read_meta};

/// Exit status of `wait` when the timeout passed first.
pub const EXIT_WAIT_TIMEOUT: u8 = crate::exit::TIMED_OUT;
/// Exit status of `wait` for a run that is `lost`.
pub const EXIT_LOST: u8 = crate::exit::LOST;

/// How long [`RunLock::acquire`] retries while readers hold brief shared probes.
const ACQUIRE_PATIENCE: Duration = Duration::from_secs(2);

/// The owner's exclusive lock on a run's log. Held until dropped (or the process ends).
#[derive(Debug)]
pub struct RunLock {
    lock: Flock<File>,
    path: Option<PathBuf>,
}

impl RunLock {
    /// Take the run's lock on its open log `log` (e.g. [`crate::NewRun::log`]) at `path`:
    /// the log is opened again by name (never through a symlink; it must still be the same
    /// file), and that new close-on-exec descriptor gets LOCK_EX|LOCK_NB. Readers' brief
    /// shared probes are waited out (up to 2 s); a lock held by another owner gives
    /// [`MetaError::LockHeld`].
    pub fn acquire(log: &File, path: &Path) -> Result<RunLock, MetaError> {
        let own =
            crate::files::open_regular(path).map_err(|e| MetaError::io(path, "open log", e))?;
        let (a, b) = (
            log.metadata()
                .map_err(|e| MetaError::io(path, "open log", e))?,
            own.metadata()
                .map_err(|e| MetaError::io(path, "open log", e))?,
        );
        if (a.dev(), a.ino()) != (b.dev(), b.ino()) {
            return Err(MetaError::io(
                path,
                "lock log",
                io::Error::other("the log was replaced right after it was created"),
            ));
        }
        Self::lock_file(own, path.to_path_buf())
    }

    /// Take the run's lock on the log at `path` (opened read-only, close-on-exec, never
    /// through a symlink).
    pub fn acquire_path(path: &Path) -> Result<RunLock, MetaError> {
        let file =
            crate::files::open_regular(path).map_err(|e| MetaError::io(path, "open log", e))?;
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
/// run's lock on `log_path`. A log that is missing, a symlink, or not a regular file counts
/// as not held.
pub fn is_held(log_path: &Path) -> bool {
    let Ok(mut file) = crate::files::open_regular(log_path) else {
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

/// [`is_held`] for a log already open (the probe goes through `file`'s own open file
/// description, so it sees the owner's lock on that very file even after the log's name
/// was deleted or now names another file).
pub fn is_held_file(file: &File) -> bool {
    let Ok(mut probe) = file.try_clone() else {
        return false;
    };
    loop {
        match Flock::lock(probe, FlockArg::LockSharedNonblock) {
            Ok(_probe) => return false,
            Err((f, Errno::EINTR)) => probe = f,
            Err((_, Errno::EWOULDBLOCK)) => return true,
            Err(_) => return false,
        }
    }
}

/// The run's own log, whose lock tells whether the run is alive: `codex-run-<id>.log`
/// beside the meta file at `meta_path` (the id from the meta's file name, else its
/// `run_id`). Without a meta path, the meta's `log_file` — only when it is named after the
/// meta's `run_id`. The meta's content never sends a reader anywhere else. `None` when
/// that file does not exist.
pub fn log_path_for(meta: &Meta, meta_path: Option<&Path>) -> Option<PathBuf> {
    RunsDir::run_paths(meta, meta_path)
        .map(|p| p.log)
        .filter(|p| p.exists())
}

/// The status a reader should believe: the stored one, except that `running` (or no
/// status at all) is `lost` when nobody holds the run's lock and the liveness witness does
/// not show the owner alive.
pub fn effective_status(meta: &Meta) -> Status {
    effective_status_at(meta, None)
}

/// [`effective_status`] for the meta read from `meta_path` (its own log is beside it).
/// A run that looks lost is looked at once more: it may have ended between the read of
/// its meta and the look at its lock (the owner writes the final meta before it lets go).
pub fn effective_status_at(meta: &Meta, meta_path: Option<&Path>) -> Status {
    match meta.status {
        Some(s) if !s.is_live() => s,
        stored => {
            let locked = log_path_for(meta, meta_path).is_some_and(|log| is_held(&log));
            if locked || liveness(meta) == Liveness::Alive {
                return stored.unwrap_or(Status::Running);
            }
            // another host's run: its scheduler tells, else it is not guessed
            if crate::witness::is_elsewhere(meta) && remote_liveness(meta) != Liveness::Gone {
                return stored.unwrap_or(Status::Running);
            }
            match meta_path.map(read_meta) {
                Some(Ok(again)) => match again.status {
                    Some(s) if !s.is_live() => s,
                    _ => Status::Lost,
                },
                _ => Status::Lost,
            }
        }
    }
}

/// What the scheduler of a run on another host says of it ([`crate::scheduler`]):
/// [`Liveness::Unknown`] without a scheduler, or without its tools here.
pub fn remote_liveness(meta: &Meta) -> Liveness {
    match meta.scheduler().map(|s| crate::scheduler::job_state(&s)) {
        Some(crate::scheduler::JobState::Active(_)) => Liveness::Alive,
        Some(crate::scheduler::JobState::Ended(_)) => Liveness::Gone,
        _ => Liveness::Unknown,
    }
}

/// Read the meta at `meta_path` and its effective status ([`effective_status_at`]); a run
/// that ended while it was looked at is read again, so the meta is the final one.
pub fn read_status(meta_path: &Path) -> Result<(Meta, Status), MetaError> {
    let meta = read_meta(meta_path)?;
    let status = effective_status_at(&meta, Some(meta_path));
    if status != Status::Lost && meta.status.is_some_and(|s| s != status) {
        return Ok((read_meta(meta_path)?, status));
    }
    Ok((meta, status))
}

/// The exit status for a run that ended with `status`: 0 for `succeeded` (whatever its
/// `exit_code` says), 125 for `lost`; for any other end its `exit_code` when that is 1 to
/// 255, else 128+N when `signal` names signal N, else 1. A code out of range (negative,
/// over 255) is never wrapped into another one.
pub fn run_exit_code(meta: &Meta, status: Status) -> u8 {
    if matches!(
        status,
        Status::Lost | Status::Running | Status::Queued | Status::Succeeded
    ) {
        return status.exit_code().unwrap_or(1);
    }
    // the others as recorded: a meta written by hand (or an older codex-spawn) may say
    // `timed_out` with exit_code 1
    if let Some(c) = meta
        .exit_code
        .and_then(|c| u8::try_from(c).ok())
        .filter(|&c| c != 0)
    {
        return c;
    }
    meta.signal
        .as_deref()
        .and_then(|s| s.parse::<nix::sys::signal::Signal>().ok())
        .map(crate::exit::signalled)
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wait_for;
    use crate::{RunId, RunsDir, write_meta};

    fn running_meta(dir: &RunsDir) -> (crate::NewRun, Meta) {
        let run = dir.create_run(false).unwrap();
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
        let lock = RunLock::acquire(&run.log, &run.paths.log).unwrap();
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
        let _lock = RunLock::acquire(&run.log, &run.paths.log).unwrap();
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
        let lock = RunLock::acquire(&run.log, &run.paths.log).unwrap();
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
        let lock = RunLock::acquire(&run.log, &run.paths.log).unwrap();
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
        m.exit_code = Some(5);
        assert_eq!(run_exit_code(&m, Status::Succeeded), 0, "succeeded is 0");
        m.exit_code = Some(0);
        assert_eq!(run_exit_code(&m, Status::VerifyFailed), 1);
        m.exit_code = Some(2);
        assert_eq!(run_exit_code(&m, Status::Failed), 2);
        for out_of_range in [256, 300, -1, i32::MIN] {
            m.exit_code = Some(out_of_range);
            assert_eq!(run_exit_code(&m, Status::Failed), 1, "{out_of_range}");
        }
        m.exit_code = Some(300);
        m.signal = Some("SIGTERM".into());
        assert_eq!(run_exit_code(&m, Status::Killed), 143);
        m.exit_code = None;
        assert_eq!(run_exit_code(&m, Status::Killed), 143);
        assert_eq!(run_exit_code(&m, Status::Lost), 125);
    }

    /// A live owner's run is `running` even when its log was deleted or replaced; `lost`
    /// only when the owner is gone too. The meta's log_file never sends a reader elsewhere.
    #[test]
    fn the_witness_keeps_a_run_whose_log_went_away_running() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = RunsDir::new(tmp.path()).unwrap();
        let (run, mut meta) = running_meta(&dir);
        let _lock = RunLock::acquire(&run.log, &run.paths.log).unwrap();
        meta.host = Some(crate::hostname());
        crate::Witness::current().unwrap().record(&mut meta);
        write_meta(&run.paths.meta, &meta).unwrap();
        std::fs::remove_file(&run.paths.log).unwrap();
        assert_eq!(
            effective_status_at(&meta, Some(&run.paths.meta)),
            Status::Running
        );
        std::fs::write(&run.paths.log, "rotated").unwrap();
        assert_eq!(
            effective_status_at(&meta, Some(&run.paths.meta)),
            Status::Running
        );
        // a waiter waits for the owner, not for the unlocked new file
        let out = wait_for(&run.paths.meta, Some(Duration::from_millis(300))).unwrap();
        assert!(out.timed_out);
        assert_eq!(out.status, Status::Running);
        // another process under the witness's name: gone
        meta.pid_start = Some("1".into());
        assert_eq!(
            effective_status_at(&meta, Some(&run.paths.meta)),
            Status::Lost
        );

        // a forged log_file pointing at a file someone holds a lock on is not looked at
        let decoy = tmp.path().join("decoy.log");
        std::fs::write(&decoy, "").unwrap();
        let _decoy_lock = RunLock::acquire_path(&decoy).unwrap();
        let mut forged = Meta::new(run.id.as_str());
        forged.status = Some(Status::Running);
        forged.log_file = Some(decoy.display().to_string());
        assert_eq!(effective_status(&forged), Status::Lost);
        assert_eq!(
            effective_status_at(&forged, Some(&run.paths.meta)),
            Status::Lost
        );
    }

    #[test]
    fn waiting_on_the_witness_ends_when_the_owner_exits() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = RunsDir::new(tmp.path()).unwrap();
        let (run, mut meta) = running_meta(&dir);
        let mut owner = std::process::Command::new("sleep")
            .arg("0.5")
            .spawn()
            .unwrap();
        meta.host = Some(crate::hostname());
        crate::Witness::of(owner.id()).unwrap().record(&mut meta);
        write_meta(&run.paths.meta, &meta).unwrap();
        drop(run);
        let reaper = std::thread::spawn(move || owner.wait());
        let start = Instant::now();
        let out = wait_for(
            &dir.paths(&RunId::parse(&meta.run_id).unwrap()).meta,
            Some(Duration::from_secs(20)),
        )
        .unwrap();
        reaper.join().unwrap().unwrap();
        assert!(
            start.elapsed() >= Duration::from_millis(300),
            "{:?}",
            start.elapsed()
        );
        assert!(start.elapsed() < Duration::from_secs(10));
        assert!(!out.timed_out);
        assert_eq!(out.status, Status::Lost);
    }
}
