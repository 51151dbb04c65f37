//! The event loop for one child (codex or the `--verify` check): one thread, poll(2) on
//! the child's output pipe, its keeper's status pipe and the signals.
//!
//! Each chunk of output goes to a sink (the log first). Signals are forwarded to the
//! child's process group; an expired timer ([`Limits`]) sends SIGTERM, then SIGKILL
//! after the grace. After the child exits the pipe is drained briefly (background
//! children may hold it open); then the keeper kills whatever is left of the run. A
//! keeper that dies under the child (somebody killed it) ends the child too: the
//! supervisor sweeps what the keeper left ([`crate::process::Kept::keeper_died`]).

use std::os::fd::AsFd;
use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::process::Kept;
use crate::sys::signals::Signals;

/// After the child exits, stop reading its pipe after this long without data...
pub const DRAIN_SILENCE: Duration = Duration::from_millis(500);
/// ...or this long in all (a background child may keep writing).
pub const DRAIN_MAX: Duration = Duration::from_secs(2);
/// Read buffer for the child's output.
const CHUNK: usize = 64 * 1024;

/// Why [`watch`] stopped a child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// `--timeout`: the run's deadline.
    RunTimeout,
    /// The child's own deadline (`--verify-timeout`).
    OwnTimeout,
    /// `--stall-timeout`: no output for that long.
    Stall,
    /// `--max-tokens` / `--max-cost`: the sink found the budget passed.
    Budget,
}

/// The timers of one child.
pub struct Limits {
    pub run_deadline: Option<Instant>,
    pub own_deadline: Option<Instant>,
    pub stall: Option<Duration>,
    pub grace: Duration,
    /// While the child runs, the sink is also called with no bytes at least this often
    /// (a lookup that does not wait for output: the session in codex's rollouts, the
    /// budget). A sink that returns a [`Stop`] stops the child as a timer would.
    pub tick: Option<Duration>,
}

impl Limits {
    /// The timer that has expired at `now`, if any.
    fn due(&self, now: Instant, last_data: Instant) -> Option<Stop> {
        if self.run_deadline.is_some_and(|d| now >= d) {
            return Some(Stop::RunTimeout);
        }
        if self.own_deadline.is_some_and(|d| now >= d) {
            return Some(Stop::OwnTimeout);
        }
        if self.stall.is_some_and(|s| now >= last_data + s) {
            return Some(Stop::Stall);
        }
        None
    }

    /// When the next timer expires.
    fn next(&self, last_data: Instant) -> Option<Instant> {
        [
            self.run_deadline,
            self.own_deadline,
            self.stall.map(|s| last_data + s),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

/// How a watched child ended.
pub struct Watched {
    pub status: std::process::ExitStatus,
    pub stopped: Option<Stop>,
    pub forwarded: Option<Signal>,
    pub last_sent: Option<Signal>,
    pub output_bytes: u64,
    /// The keeper was killed under the child (the child was then killed too).
    pub keeper_died: bool,
    /// A SIGINT/SIGTERM/SIGHUP that came after the child had exited (during the drain):
    /// not forwarded to anyone, but the run must still stop before its next child.
    pub late_signal: Option<Signal>,
    pub warnings: Vec<String>,
}

/// Watch `child` to its end (see the module docs); `spare` are other keepers a sweep
/// after a dead keeper must leave alone.
pub fn watch(
    child: &mut Kept,
    sigs: &Signals,
    limits: &Limits,
    spare: &[Pid],
    sink: &mut dyn FnMut(&[u8]) -> Option<Stop>,
) -> Watched {
    let mut buf = vec![0u8; CHUNK];
    let mut pipe_open = child.output.is_some();
    let mut exit: Option<std::process::ExitStatus> = None;
    let mut exited_at = Instant::now();
    let mut last_data = Instant::now();
    let mut stopped: Option<Stop> = None;
    let mut forwarded: Option<Signal> = None;
    let mut kill_at: Option<Instant> = None;
    let mut last_sent: Option<Signal> = None;
    let mut output_bytes = 0u64;
    let mut keeper_died = false;
    let mut late_signal = None;
    let mut warnings = Vec::new();
    // The drain ends after DRAIN_SILENCE without data (counted from the exit at the
    // earliest: a codex quiet before it exited still gets its pipe read) or DRAIN_MAX.
    let drain_end = |last_data: Instant, exited_at: Instant| {
        (last_data.max(exited_at) + DRAIN_SILENCE).min(exited_at + DRAIN_MAX)
    };
    let mut next_tick = limits.tick.map(|t| Instant::now() + t);
    // a stop the sink asked for (the budget)
    let mut asked: Option<Stop> = None;

    loop {
        let now = Instant::now();
        if exit.is_some() && (!pipe_open || now >= drain_end(last_data, exited_at)) {
            break;
        }
        // Timers.
        let timers_on = exit.is_none() && stopped.is_none() && forwarded.is_none();
        if timers_on {
            if let Some(why) = asked.take().or_else(|| limits.due(now, last_data)) {
                stopped = Some(why);
                child.signal_group(Signal::SIGTERM);
                last_sent = Some(Signal::SIGTERM);
                kill_at.get_or_insert(now + limits.grace);
            }
        }
        if exit.is_none() {
            if let Some(k) = kill_at {
                if now >= k {
                    child.signal_group(Signal::SIGKILL);
                    last_sent = Some(Signal::SIGKILL);
                    kill_at = None;
                }
            }
        }
        let deadline = if exit.is_none() {
            let timer = if stopped.is_none() && forwarded.is_none() {
                limits.next(last_data)
            } else {
                None
            };
            [timer, kill_at, next_tick].into_iter().flatten().min()
        } else {
            Some(drain_end(last_data, exited_at))
        };
        let timeout = match deadline {
            None => PollTimeout::NONE,
            Some(d) => {
                let ms = d.saturating_duration_since(now).as_millis().min(60_000) as u32 + 1;
                PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
            }
        };
        let (pipe_ready, sig_ready, status_ready) = {
            let mut fds = Vec::with_capacity(3);
            fds.push(PollFd::new(sigs.fd(), PollFlags::POLLIN));
            let status_at = if exit.is_none() {
                fds.push(PollFd::new(child.status_fd(), PollFlags::POLLIN));
                Some(fds.len() - 1)
            } else {
                None
            };
            let pipe_at = match (&child.output, pipe_open) {
                (Some(out), true) => {
                    fds.push(PollFd::new(out.as_fd(), PollFlags::POLLIN));
                    Some(fds.len() - 1)
                }
                _ => None,
            };
            match nix::poll::poll(&mut fds, timeout) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => {
                    warnings.push(format!("poll failed: {e}"));
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
            let ready = |i: Option<usize>| {
                i.and_then(|i| fds.get(i))
                    .and_then(PollFd::revents)
                    .is_some_and(|r| !r.is_empty())
            };
            (ready(pipe_at), ready(Some(0)), ready(status_at))
        };

        if let (Some(at), Some(every)) = (next_tick, limits.tick) {
            if exit.is_none() && Instant::now() >= at {
                asked = asked.or(sink(&[]));
                next_tick = Some(Instant::now() + every);
            }
        }
        if pipe_ready {
            if let Some(out) = &child.output {
                // Read what is there, a bounded number of chunks per turn so signals and
                // timers stay responsive under a flood.
                for _ in 0..16 {
                    match nix::unistd::read(out, &mut buf) {
                        Ok(0) => {
                            pipe_open = false;
                            break;
                        }
                        Ok(n) => {
                            last_data = Instant::now();
                            output_bytes += n as u64;
                            asked = asked.or(sink(&buf[..n]));
                        }
                        Err(nix::errno::Errno::EINTR) => {}
                        Err(nix::errno::Errno::EAGAIN) => break,
                        Err(e) => {
                            warnings.push(format!("reading the child's output failed: {e}"));
                            pipe_open = false;
                            break;
                        }
                    }
                }
            }
        }
        if sig_ready {
            while let Some(sig) = sigs.next_stop() {
                if exit.is_some() {
                    late_signal.get_or_insert(sig);
                    continue;
                }
                // Forward to the child's group; escalate to SIGKILL after the grace.
                child.signal_group(sig);
                forwarded = Some(sig);
                last_sent = Some(sig);
                kill_at.get_or_insert(Instant::now() + limits.grace);
            }
        }
        if exit.is_none() && (status_ready || pipe_ready || sig_ready) {
            match child.try_wait() {
                Ok(Some(status)) => {
                    exit = Some(status);
                    exited_at = Instant::now();
                }
                Ok(None) => {}
                Err(crate::process::KeeperDied) => {
                    let n = child.keeper_died(spare);
                    warnings.push(format!(
                        "the keeper process (pid {}) was killed: codex's process tree was killed with it ({n} processes swept)",
                        child.keeper()
                    ));
                    keeper_died = true;
                    exit = child.try_wait().ok().flatten();
                    exited_at = Instant::now();
                }
            }
        }
    }
    Watched {
        status: exit.unwrap_or_else(|| std::process::ExitStatus::from_raw(0)),
        stopped,
        forwarded,
        last_sent,
        output_bytes,
        keeper_died,
        late_signal,
        warnings,
    }
}
