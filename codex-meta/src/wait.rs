//! Waiting for a run to end, without polling where the run's witnesses can be seen: a
//! shared `flock` on its log (in a thread, so that a timeout applies), else its owner's
//! process (a pidfd, kqueue); a run of another machine (a shared runs dir) by its meta
//! and its scheduler ([`crate::scheduler`]), looked at now and then.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

use crate::lock::{EXIT_WAIT_TIMEOUT, effective_status_at, is_held, log_path_for, run_exit_code};
use crate::witness::Witness;
use crate::{Meta, MetaError, Status, read_meta};

/// How often [`wait_for`] looks at a run on another host (its meta, in a shared runs
/// dir), and how often it asks that run's scheduler.
const REMOTE_LOOK: Duration = Duration::from_secs(1);
const REMOTE_ASK: Duration = crate::scheduler::ASK_EVERY;

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
    /// The exit status a `wait` command reports for this run (see [`run_exit_code`]), 124
    /// on timeout.
    pub fn exit_code(&self) -> u8 {
        if self.timed_out {
            return EXIT_WAIT_TIMEOUT;
        }
        run_exit_code(&self.meta, self.status)
    }
}

/// Block until the run of the meta at `meta_path` is no longer running (or `timeout`
/// passes), then re-read the meta. No polling: while the owner's lock is held, a thread
/// blocks in a shared `flock` on the run's log, which the kernel grants the moment the
/// owner releases its lock or dies; when the log is gone or replaced (the lock is free but
/// the witness shows the owner alive), it waits for the owner's process to end
/// ([`Witness::wait_gone`]). (On timeout a lock-waiting thread stays blocked until the
/// owner goes away; it holds nothing that matters.)
pub fn wait_for(meta_path: &Path, timeout: Option<Duration>) -> Result<WaitOutcome, MetaError> {
    // A timeout too large to add to now is no timeout.
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    let mut asked: Option<Instant> = None;
    loop {
        let mut meta = read_meta(meta_path)?;
        if crate::witness::is_elsewhere(&meta) && !is_held_for(&meta, meta_path) {
            // another host's run: no lock or process to wait on here; its meta is looked
            // at every second, its scheduler asked every ten
            let ask = asked.is_none_or(|t| t.elapsed() >= REMOTE_ASK);
            let status = match meta.status {
                Some(s) if !s.is_live() => s,
                _ if ask => {
                    asked = Some(Instant::now());
                    effective_status_at(&meta, Some(meta_path))
                }
                stored => stored.unwrap_or(Status::Running),
            };
            if status.is_terminal() {
                return Ok(WaitOutcome {
                    meta,
                    status,
                    timed_out: false,
                });
            }
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                return Ok(WaitOutcome {
                    meta,
                    status,
                    timed_out: true,
                });
            }
            let nap = deadline.map_or(REMOTE_LOOK, |d| (d - now).min(REMOTE_LOOK));
            std::thread::sleep(nap);
            continue;
        }
        let status = effective_status_at(&meta, Some(meta_path));
        if status.is_terminal() {
            if status != Status::Lost && meta.status != Some(status) {
                // it ended while we looked: the final meta has its outcome
                meta = read_meta(meta_path)?;
            }
            return Ok(WaitOutcome {
                meta,
                status,
                timed_out: false,
            });
        }
        let held_log = log_path_for(&meta, Some(meta_path)).filter(|l| is_held(l));
        let woke = match held_log {
            Some(log) => wait_for_lock(log, deadline, meta_path)?,
            None => match Witness::from_meta(&meta) {
                // running by the witness alone: wait for that process
                Some(w) => w.wait_gone(deadline),
                // the lock was let go between the two looks: the next round says
                None => true,
            },
        };
        if !woke {
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

fn is_held_for(meta: &Meta, meta_path: &Path) -> bool {
    log_path_for(meta, Some(meta_path)).is_some_and(|l| is_held(&l))
}

/// Wait (in a thread) for a shared lock on `log`; false when `deadline` passed first.
fn wait_for_lock(
    log: PathBuf,
    deadline: Option<Instant>,
    meta_path: &Path,
) -> Result<bool, MetaError> {
    let (tx, rx) = mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("codex-meta-wait".into())
        .spawn(move || {
            // Ok: unlocked on drop at once; another error: stop waiting and re-read.
            let Ok(mut file) = crate::files::open_regular(&log) else {
                let _ = tx.send(());
                return;
            };
            match deadline {
                // no end: the kernel wakes us when the lock is let go (no CPU meanwhile)
                None => {
                    while let Err((f, Errno::EINTR)) = Flock::lock(file, FlockArg::LockShared) {
                        file = f;
                    }
                }
                // an end: a try every 100 ms, and the thread is gone at the deadline (a
                // blocked flock could not be called off: a long-lived caller such as
                // codex-mcp would keep a thread per wait that timed out, until the run
                // ended)
                Some(d) => loop {
                    match Flock::lock(file, FlockArg::LockSharedNonblock) {
                        Ok(_) => break,
                        Err((f, Errno::EWOULDBLOCK | Errno::EINTR)) => file = f,
                        Err(_) => break,
                    }
                    let now = Instant::now();
                    if now >= d {
                        return; // the receiver has timed out
                    }
                    std::thread::sleep((d - now).min(Duration::from_millis(100)));
                },
            }
            let _ = tx.send(());
        })
        .map_err(|e| MetaError::io(meta_path, "start waiting thread", e))?;
    let got = match deadline {
        None => rx.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected),
        Some(d) => rx.recv_timeout(d.saturating_duration_since(Instant::now())),
    };
    // the thread gives up at the deadline without a word: a closed channel then is a timeout
    let past = deadline.is_some_and(|d| Instant::now() + Duration::from_millis(150) >= d);
    Ok(match got {
        Ok(()) => true,
        Err(mpsc::RecvTimeoutError::Timeout) => false,
        Err(mpsc::RecvTimeoutError::Disconnected) => !past,
    })
}
