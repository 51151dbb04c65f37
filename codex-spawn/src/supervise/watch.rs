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
    let now = Instant::now();
    let mut w = Watch {
        pipe_open: child.output.is_some(),
        exit: None,
        exited_at: now,
        last_data: now,
        stopped: None,
        forwarded: None,
        kill_at: None,
        last_sent: None,
        output_bytes: 0,
        keeper_died: false,
        late_signal: None,
        warnings: Vec::new(),
        next_tick: limits.tick.map(|t| now + t),
        asked: None,
    };
    let mut buf = vec![0u8; CHUNK];
    loop {
        let now = Instant::now();
        if w.exit.is_some() && (!w.pipe_open || now >= w.drain_end()) {
            break;
        }
        w.timers(child, limits, now);
        let ready = w.poll(child, sigs, w.poll_timeout(limits, now));
        if let (Some(at), Some(every)) = (w.next_tick, limits.tick) {
            if w.exit.is_none() && Instant::now() >= at {
                w.asked = w.asked.or(sink(&[]));
                w.next_tick = Some(Instant::now() + every);
            }
        }
        if ready.pipe {
            w.read_output(child, &mut buf, sink);
        }
        if ready.signal {
            w.forward_signals(child, sigs, limits);
        }
        if w.exit.is_none() && (ready.status || ready.pipe || ready.signal) {
            w.reap(child, spare);
        }
    }
    Watched {
        status: w
            .exit
            .unwrap_or_else(|| std::process::ExitStatus::from_raw(0)),
        stopped: w.stopped,
        forwarded: w.forwarded,
        last_sent: w.last_sent,
        output_bytes: w.output_bytes,
        keeper_died: w.keeper_died,
        late_signal: w.late_signal,
        warnings: w.warnings,
    }
}

/// The state of one [`watch`].
struct Watch {
    pipe_open: bool,
    exit: Option<std::process::ExitStatus>,
    exited_at: Instant,
    last_data: Instant,
    stopped: Option<Stop>,
    forwarded: Option<Signal>,
    kill_at: Option<Instant>,
    last_sent: Option<Signal>,
    output_bytes: u64,
    keeper_died: bool,
    late_signal: Option<Signal>,
    warnings: Vec<String>,
    next_tick: Option<Instant>,
    /// A stop the sink asked for (the budget).
    asked: Option<Stop>,
}

/// Which of the polled descriptors are ready.
struct Ready {
    pipe: bool,
    signal: bool,
    status: bool,
}

impl Watch {
    /// The drain ends after DRAIN_SILENCE without data (counted from the exit at the
    /// earliest: a codex quiet before it exited still gets its pipe read) or DRAIN_MAX.
    fn drain_end(&self) -> Instant {
        (self.last_data.max(self.exited_at) + DRAIN_SILENCE).min(self.exited_at + DRAIN_MAX)
    }

    /// An expired timer (or the sink's stop) sends SIGTERM; the grace after it, SIGKILL.
    fn timers(&mut self, child: &mut Kept, limits: &Limits, now: Instant) {
        let timers_on = self.exit.is_none() && self.stopped.is_none() && self.forwarded.is_none();
        if timers_on {
            if let Some(why) = self
                .asked
                .take()
                .or_else(|| limits.due(now, self.last_data))
            {
                self.stopped = Some(why);
                child.signal_group(Signal::SIGTERM);
                self.last_sent = Some(Signal::SIGTERM);
                self.kill_at.get_or_insert(now + limits.grace);
            }
        }
        if self.exit.is_none() {
            if let Some(k) = self.kill_at {
                if now >= k {
                    child.signal_group(Signal::SIGKILL);
                    self.last_sent = Some(Signal::SIGKILL);
                    self.kill_at = None;
                }
            }
        }
    }

    /// How long poll may sleep: until the next timer, kill, tick or the drain's end.
    fn poll_timeout(&self, limits: &Limits, now: Instant) -> PollTimeout {
        let deadline = if self.exit.is_none() {
            let timer = if self.stopped.is_none() && self.forwarded.is_none() {
                limits.next(self.last_data)
            } else {
                None
            };
            [timer, self.kill_at, self.next_tick]
                .into_iter()
                .flatten()
                .min()
        } else {
            Some(self.drain_end())
        };
        match deadline {
            None => PollTimeout::NONE,
            Some(d) => {
                let ms = d.saturating_duration_since(now).as_millis().min(60_000) as u32 + 1;
                PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
            }
        }
    }

    /// poll(2) on the signals, the keeper's status pipe (until the exit) and the output.
    fn poll(&mut self, child: &Kept, sigs: &Signals, timeout: PollTimeout) -> Ready {
        let mut fds = Vec::with_capacity(3);
        fds.push(PollFd::new(sigs.fd(), PollFlags::POLLIN));
        let status_at = if self.exit.is_none() {
            fds.push(PollFd::new(child.status_fd(), PollFlags::POLLIN));
            Some(fds.len() - 1)
        } else {
            None
        };
        let pipe_at = match (&child.output, self.pipe_open) {
            (Some(out), true) => {
                fds.push(PollFd::new(out.as_fd(), PollFlags::POLLIN));
                Some(fds.len() - 1)
            }
            _ => None,
        };
        match nix::poll::poll(&mut fds, timeout) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => {
                self.warnings.push(format!("poll failed: {e}"));
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let ready = |i: Option<usize>| {
            i.and_then(|i| fds.get(i))
                .and_then(PollFd::revents)
                .is_some_and(|r| !r.is_empty())
        };
        Ready {
            pipe: ready(pipe_at),
            signal: ready(Some(0)),
            status: ready(status_at),
        }
    }

    /// Read what is there, a bounded number of chunks per turn so signals and timers
    /// stay responsive under a flood; each chunk goes to the sink.
    fn read_output(
        &mut self,
        child: &Kept,
        buf: &mut [u8],
        sink: &mut dyn FnMut(&[u8]) -> Option<Stop>,
    ) {
        let Some(out) = &child.output else { return };
        for _ in 0..16 {
            match nix::unistd::read(out, buf) {
                Ok(0) => {
                    self.pipe_open = false;
                    break;
                }
                Ok(n) => {
                    self.last_data = Instant::now();
                    self.output_bytes += n as u64;
                    self.asked = self.asked.or(sink(&buf[..n]));
                }
                Err(nix::errno::Errno::EINTR) => {}
                Err(nix::errno::Errno::EAGAIN) => break,
                Err(e) => {
                    self.warnings
                        .push(format!("reading the child's output failed: {e}"));
                    self.pipe_open = false;
                    break;
                }
            }
        }
    }

    /// Forward SIGINT/SIGTERM/SIGHUP to the child's group (SIGKILL after the grace); one
    /// that comes after the exit is kept for the run.
    fn forward_signals(&mut self, child: &mut Kept, sigs: &Signals, limits: &Limits) {
        while let Some(sig) = sigs.next_stop() {
            if self.exit.is_some() {
                self.late_signal.get_or_insert(sig);
                continue;
            }
            child.signal_group(sig);
            self.forwarded = Some(sig);
            self.last_sent = Some(sig);
            self.kill_at.get_or_insert(Instant::now() + limits.grace);
        }
    }

    /// The child's exit, if it came (or its keeper's death: what it left is swept).
    fn reap(&mut self, child: &mut Kept, spare: &[Pid]) {
        match child.try_wait() {
            Ok(Some(status)) => {
                self.exit = Some(status);
                self.exited_at = Instant::now();
            }
            Ok(None) => {}
            Err(crate::process::KeeperDied) => {
                let n = child.keeper_died(spare);
                self.warnings.push(format!(
                    "the keeper process (pid {}) was killed: codex's process tree was killed with it ({n} processes swept)",
                    child.keeper()
                ));
                self.keeper_died = true;
                self.exit = child.try_wait().ok().flatten();
                self.exited_at = Instant::now();
            }
        }
    }
}
