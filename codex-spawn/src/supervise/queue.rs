//! Waiting as `queued`: first for the runs named by `--after`, then for a slot of the
//! `--max-running` queue. No daemon: each run's supervisor does its own waiting, and the
//! state is in the runs dir.
//!
//! - **Slots** are files `<runs>/.queue/<name>/slot-<k>` (k < N); a run holds one by an
//!   exclusive `flock` until its supervisor exits, so a dead supervisor frees its slot
//!   at once (locks, not counters). At most N runs of a queue hold a slot at a time.
//! - **FIFO**: a waiter holds an exclusive `flock` on its ticket
//!   `<runs>/.queue/<name>/wait-<nanoseconds>-<run id>` (created O_EXCL when it starts
//!   waiting for a slot); only the oldest live ticket tries the slots. A ticket whose
//!   lock is free belongs to a dead waiter and is removed by the next one to look.
//! - **Dependencies** are judged by the runs' effective status (a lost one did not
//!   succeed), looked at with the slot every [`POLL`] while the signals are watched, so a
//!   SIGTERM (`codex-meta cancel`) ends a queued run at once, before codex ever starts.
//!
//! Runs of one queue should give the same N: a run counts only the slots below its own N.

use std::fs::File;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use codex_meta::{Outcome, Status, exit};
use nix::fcntl::{Flock, FlockArg};
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;

use super::Warnings;
use super::files::Log;
use crate::config::Queue;
use crate::sys::signals::Signals;

/// How often a queued run looks at its dependencies and at the slots.
pub const POLL: Duration = Duration::from_millis(100);

/// A dependency named by `--after`, resolved.
#[derive(Debug, Clone)]
pub struct Dependency {
    pub run_id: String,
    pub meta: PathBuf,
    /// When the scheduler of a run on another machine was last asked (it is asked every
    /// [`REMOTE_ASK`], not every [`POLL`]: a Slurm controller is not for polling).
    pub asked: std::cell::Cell<Option<Instant>>,
}

/// A slot of the queue, held until dropped (or the supervisor exits).
pub struct Slot {
    _lock: Flock<File>,
    pub index: u32,
}

/// How the wait ended.
pub enum Waited {
    /// Go: codex may start (holding this slot, with a queue).
    Go(Option<Slot>),
    /// A signal came first: the run ends `killed`, codex never started.
    Signal(Signal),
    /// A dependency did not succeed (the reason names it).
    DependencyFailed(String),
    /// The queue cannot be used (its directory or files): the reason.
    Broken(String),
}

/// Wait for `after`, then for a slot of `queue` in `runs_dir` (see the module docs).
/// `queued` is told each change of what is waited for (for the log).
pub fn wait(
    runs_dir: &Path,
    run_id: &str,
    after: &[Dependency],
    queue: Option<&Queue>,
    sigs: &Signals,
    queued: &mut dyn FnMut(&str),
) -> Waited {
    let mut pending: Vec<&Dependency> = after.iter().collect();
    if !pending.is_empty() {
        let names: Vec<&str> = pending.iter().map(|d| d.run_id.as_str()).collect();
        queued(&format!("waiting for run(s) {} to end", names.join(", ")));
    }
    let mut ticket: Option<Ticket> = None;
    loop {
        // a dependency is judged once, when it has ended (one that succeeded is not read
        // again while the run waits for a slot)
        let mut why_failed = None;
        pending.retain(|d| {
            let Some(end) = ended(d) else {
                return true;
            };
            if why_failed.is_none() {
                why_failed = failed(d, end);
            }
            false
        });
        if let Some(why) = why_failed {
            return Waited::DependencyFailed(why);
        }
        if pending.is_empty() {
            let Some(q) = queue else {
                return Waited::Go(None);
            };
            if ticket.is_none() {
                match Ticket::take(runs_dir, q, run_id) {
                    Ok(t) => ticket = Some(t),
                    Err(e) => return Waited::Broken(e),
                }
                queued(&format!(
                    "waiting for a slot of queue {} ({} running at most)",
                    q.name, q.max_running
                ));
            }
            if let Some(t) = &ticket {
                match t.try_slot(q) {
                    Ok(Some(slot)) => {
                        t.remove();
                        return Waited::Go(Some(slot));
                    }
                    Ok(None) => {}
                    Err(e) => {
                        t.remove();
                        return Waited::Broken(e);
                    }
                }
            }
        }
        if let Some(sig) = wait_signal(sigs, POLL) {
            if let Some(t) = &ticket {
                t.remove();
            }
            return Waited::Signal(sig);
        }
    }
}

/// How often the scheduler of a dependency on another machine is asked.
const REMOTE_ASK: Duration = codex_meta::scheduler::ASK_EVERY;

/// How a dependency ended (any final status, lost included), once it has; the meta that
/// cannot be read is `Err` (judged by [`failed`]). Its status is taken once: a second
/// look could tell another story (a scheduler that answered, then did not).
fn ended(d: &Dependency) -> Option<Result<Status, String>> {
    match codex_meta::read_meta(&d.meta) {
        Ok(m) => {
            if let Some(s) = m.status.filter(|s| s.is_terminal()) {
                return Some(Ok(s));
            }
            if codex_meta::witness::is_elsewhere(&m) {
                if d.asked.get().is_some_and(|t| t.elapsed() < REMOTE_ASK) {
                    return None;
                }
                d.asked.set(Some(Instant::now()));
            }
            let s = codex_meta::effective_status_at(&m, Some(&d.meta));
            s.is_terminal().then_some(Ok(s))
        }
        Err(e) => Some(Err(e.to_string())),
    }
}

/// Why a dependency did not succeed, from how it ended.
fn failed(d: &Dependency, end: Result<Status, String>) -> Option<String> {
    match end {
        Ok(Status::Succeeded) => None,
        Ok(s) => Some(format!("run {} (--after) ended {s}", d.run_id)),
        Err(e) => Some(format!(
            "run {} (--after) cannot be read any more: {e}",
            d.run_id
        )),
    }
}

/// Sleep up to `nap`, returning early with a SIGINT/SIGTERM/SIGHUP.
fn wait_signal(sigs: &Signals, nap: Duration) -> Option<Signal> {
    let until = Instant::now() + nap;
    loop {
        if let Some(sig) = sigs.next_stop() {
            return Some(sig);
        }
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        let ms = u16::try_from(left.as_millis() + 1).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(sigs.fd(), PollFlags::POLLIN)];
        let _ = nix::poll::poll(&mut fds, PollTimeout::from(ms));
    }
}

/// This run's place in the queue.
struct Ticket {
    dir: PathBuf,
    path: PathBuf,
    name: String,
    _lock: Flock<File>,
}

impl Ticket {
    fn take(runs_dir: &Path, q: &Queue, run_id: &str) -> Result<Ticket, String> {
        let dir = queue_dir(runs_dir, &q.name)?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let name = format!("wait-{nanos:020}-{run_id}");
        let path = dir.join(&name);
        // locked under another name first, then renamed: a ticket is never seen unlocked
        // (it would be taken for a dead waiter's)
        let tmp = dir.join(format!(".tmp-{name}"));
        let file = codex_meta::files::create_private(&tmp, false)
            .map_err(|e| format!("cannot queue in {}: {e}", dir.display()))?;
        let lock = Flock::lock(file, FlockArg::LockExclusiveNonblock)
            .map_err(|(_, e)| format!("cannot lock {}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, &path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            format!("cannot queue in {}: {e}", dir.display())
        })?;
        Ok(Ticket {
            dir,
            path,
            name,
            _lock: lock,
        })
    }

    /// A slot, when this ticket is the oldest live one and a slot is free.
    fn try_slot(&self, q: &Queue) -> Result<Option<Slot>, String> {
        if !self.is_first()? {
            return Ok(None);
        }
        for k in 0..q.max_running {
            let path = self.dir.join(format!("slot-{k}"));
            let file = codex_meta::files::create_or_open_private(&path)
                .map_err(|e| format!("queue slot {}: {e}", path.display()))?;
            match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(lock) => {
                    return Ok(Some(Slot {
                        _lock: lock,
                        index: k,
                    }));
                }
                Err((_, nix::errno::Errno::EWOULDBLOCK)) => {}
                Err((_, e)) => return Err(format!("queue slot {}: {e}", path.display())),
            }
        }
        Ok(None)
    }

    /// Whether no live ticket is older than this one (dead waiters' tickets are removed).
    fn is_first(&self) -> Result<bool, String> {
        let entries = std::fs::read_dir(&self.dir)
            .map_err(|e| format!("cannot read queue {}: {e}", self.dir.display()))?;
        let mut older: Vec<String> = entries
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.starts_with("wait-") && *n < self.name)
            .collect();
        older.sort();
        for name in older {
            let path = self.dir.join(&name);
            let Ok(file) = codex_meta::files::open_regular(&path) else {
                continue; // gone meanwhile, or not a ticket
            };
            match Flock::lock(file, FlockArg::LockSharedNonblock) {
                // nobody holds it: its waiter died
                Ok(_probe) => {
                    let _ = std::fs::remove_file(&path);
                }
                Err(_) => return Ok(false),
            }
        }
        Ok(true)
    }

    fn remove(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// `<runs>/.queue/<name>`, made (mode 0700) when missing, and checked like a runs dir.
fn queue_dir(runs_dir: &Path, name: &str) -> Result<PathBuf, String> {
    let dir = runs_dir.join(".queue").join(name);
    // one level at a time, each looked at before it is used: never made through (or
    // followed into) a planted symlink
    for d in [runs_dir.join(".queue"), dir.clone()] {
        match std::fs::DirBuilder::new().mode(0o700).create(&d) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(format!("cannot make queue dir {}: {e}", d.display())),
        }
        if std::fs::symlink_metadata(&d).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(format!(
                "queue dir {} is a symbolic link (refused)",
                d.display()
            ));
        }
        codex_meta::files::check_dir(&d).map_err(|e| e.to_string())?;
    }
    Ok(dir)
}

impl super::Run {
    /// Wait as `queued` ([`wait`]); `Err` is how the run ends without codex.
    pub(super) fn wait_queued(
        &mut self,
        log: &mut Log,
        sigs: &Signals,
        warnings: &mut Warnings,
    ) -> Result<Option<Slot>, super::attempts::Final> {
        let mut note = |text: &str| {
            log.write(format!("codex-spawn: queued: {text}\n").as_bytes());
        };
        let waited = wait(
            &self.runs_dir,
            &self.id,
            &self.after,
            self.config.queue.as_ref(),
            sigs,
            &mut note,
        );
        let ended = |outcome| super::attempts::Final::new(outcome, 0);
        if !matches!(waited, Waited::Go(_)) {
            // it never left the queue: its time is the wait's
            // (a run here was queued: it has a wait)
            let queued_seconds = self.queued_seconds().unwrap_or(0.0);
            if let Err(e) =
                codex_meta::update_meta(&self.meta_path, |m| m.set_queued_seconds(queued_seconds))
            {
                warnings.push(format!("cannot record the queue wait: {e}"));
            }
        }
        match waited {
            Waited::Go(slot) => {
                let queued_seconds = self.clock_start();
                let started_at = self.started_at.clone();
                let text = match &slot {
                    Some(s) => format!(
                        "codex starts after {queued_seconds} s queued (slot {} of queue {})",
                        s.index,
                        self.config.queue.as_ref().map_or("", |q| q.name.as_str())
                    ),
                    None => format!("codex starts after {queued_seconds} s queued"),
                };
                log.write(format!("codex-spawn: {text}\n").as_bytes());
                let index = slot.as_ref().map(|s| s.index);
                if let Err(e) = codex_meta::update_meta(&self.meta_path, |m| {
                    m.status = Some(Status::Running);
                    m.started_at = started_at.clone();
                    m.set_queued_seconds(queued_seconds);
                    if let Some(k) = index {
                        m.set_queue_slot(k);
                    }
                }) {
                    warnings.push(format!("cannot record the end of the queue wait: {e}"));
                }
                Ok(slot)
            }
            Waited::Signal(sig) => Err(ended(Outcome::killed(
                sig,
                format!(
                    "codex-spawn received {} while queued: codex never started",
                    sig.as_str()
                ),
            ))),
            Waited::DependencyFailed(why) => Err(ended(Outcome::new(
                Status::DependencyFailed,
                None,
                Some(format!("{why}: codex was not started")),
            ))),
            Waited::Broken(why) => Err(ended(Outcome::failed(
                exit::OWN_FAILURE,
                format!("{why}: codex was not started"),
            ))),
        }
    }
}
