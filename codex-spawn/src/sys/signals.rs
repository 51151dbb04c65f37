//! Signals as readable events in a poll(2) loop.
//!
//! The supervisor (INT, TERM, HUP, CHLD) and the keeper (CHLD) both wait in poll(2) on
//! their pipes *and* on signals. Two implementations, one interface:
//! - Linux: the signals are blocked and read from a signalfd;
//! - portable (macOS; Linux with the `portable` feature): a `sigaction` handler writes
//!   the signal's number into a non-blocking self-pipe, and the loop reads the pipe.
//!   One set per process (the handler finds the pipe through a static); a forked child
//!   installs its own.
//!
//! Children never inherit any of it: [`reset_for_exec`] runs in every child before exec
//! and gives it default dispositions for every signal (also those the caller ignored —
//! a script's `&` leaves SIGINT ignored, and codex would then shrug off a forwarded
//! SIGINT) and an empty mask.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use nix::sys::signal::Signal;

/// A set of signals delivered through a descriptor.
pub struct Signals {
    imp: imp::Signals,
    set: nix::sys::signal::SigSet,
}

/// The signal mask as it was before [`Signals::hold`]; [`Held::release`] restores it.
pub struct Held(nix::sys::signal::SigSet);

impl Held {
    /// The mask back as it was: what was held is delivered now, to this process.
    pub fn release(self) {
        let _ = nix::sys::signal::sigprocmask(
            nix::sys::signal::SigmaskHow::SIG_SETMASK,
            Some(&self.0),
            None,
        );
    }
}

impl Signals {
    /// Start receiving `signals` through [`Signals::fd`]. Call while single-threaded.
    pub fn install(signals: &[Signal]) -> io::Result<Signals> {
        let mut set = nix::sys::signal::SigSet::empty();
        for &s in signals {
            set.add(s);
        }
        Ok(Signals {
            imp: imp::Signals::install(signals)?,
            set,
        })
    }

    /// Hold (block) the set's signals until [`Held::release`]: around a fork, so that a
    /// signal sent to either process in between waits for that process's own
    /// descriptor ([`Signals::renew`]).
    pub fn hold(&self) -> io::Result<Held> {
        let mut old = nix::sys::signal::SigSet::empty();
        nix::sys::signal::sigprocmask(
            nix::sys::signal::SigmaskHow::SIG_BLOCK,
            Some(&self.set),
            Some(&mut old),
        )?;
        Ok(Held(old))
    }

    /// In a forked child that goes on as a process of its own (the detached
    /// supervisor): a descriptor of its own. The portable self-pipe is inherited by the
    /// fork — both processes would read (and write) one pipe, so a Ctrl-C to the caller
    /// could stop the run, or the run's SIGTERM end the caller's wait. A signalfd reads
    /// only its reader's signals: nothing to do there.
    pub fn renew(&mut self) -> io::Result<()> {
        self.imp.renew()
    }

    /// The descriptor to poll for POLLIN.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.imp.fd()
    }

    /// The next pending signal, without blocking.
    pub fn next(&self) -> Option<Signal> {
        self.imp.next()
    }

    /// The next pending signal that asks to stop (SIGINT, SIGTERM, SIGHUP, …), without
    /// blocking; SIGCHLDs on the way are read and dropped (a child's end is seen by
    /// waiting for it, not by its signal).
    pub fn next_stop(&self) -> Option<Signal> {
        std::iter::from_fn(|| self.next()).find(|&sig| sig != Signal::SIGCHLD)
    }
}

impl AsFd for Signals {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd()
    }
}

/// In a forked child, before exec: every signal back to its default disposition, and an
/// empty signal mask. Async-signal-safe (sigaction, sigprocmask).
pub fn reset_for_exec() {
    // every number, real-time signals too (nix's `Signal` names only the others)
    for sig in 1..max_signal() {
        if sig != libc::SIGKILL && sig != libc::SIGSTOP {
            set_disposition(sig, Disposition::Default);
        }
    }
    let _ = nix::sys::signal::sigprocmask(
        nix::sys::signal::SigmaskHow::SIG_SETMASK,
        Some(&nix::sys::signal::SigSet::empty()),
        None,
    );
}

/// Ignore `signals` in this process (the keeper: terminal and kill-by-name signals are
/// for the supervisor, which forwards them).
pub fn ignore(signals: &[Signal]) {
    for &s in signals {
        set_disposition(s as libc::c_int, Disposition::Ignore);
    }
}

/// What [`set_disposition`] gives a signal: only these, so it is safe to call.
#[derive(Clone, Copy)]
enum Disposition {
    Default,
    Ignore,
    /// The portable path's handler: the signal's number into the self-pipe.
    #[cfg(not(linux_native))]
    SelfPipe,
}

/// `sigaction(sig)` with an empty mask; false when it failed (a number that is not a
/// signal, or KILL and STOP). Async-signal-safe.
fn set_disposition(sig: libc::c_int, how: Disposition) -> bool {
    let (handler, flags) = match how {
        Disposition::Default => (libc::SIG_DFL, 0),
        Disposition::Ignore => (libc::SIG_IGN, 0),
        #[cfg(not(linux_native))]
        Disposition::SelfPipe => (
            imp::on_signal as *const () as libc::sighandler_t,
            libc::SA_RESTART,
        ),
    };
    // SAFETY: a zeroed sigaction is a valid one, filled here with an empty mask and a
    // disposition that is SIG_DFL, SIG_IGN or `on_signal` (which only calls write(2) and
    // keeps errno: async-signal-safe); sigaction and sigemptyset are async-signal-safe.
    unsafe {
        let mut act: libc::sigaction = std::mem::zeroed();
        act.sa_sigaction = handler;
        act.sa_flags = flags;
        libc::sigemptyset(&mut act.sa_mask);
        libc::sigaction(sig, &act, std::ptr::null_mut()) == 0
    }
}

/// One past the highest signal number.
fn max_signal() -> i32 {
    #[cfg(target_os = "linux")]
    {
        libc::SIGRTMAX() + 1
    }
    #[cfg(not(target_os = "linux"))]
    {
        32
    }
}

#[cfg(linux_native)]
mod imp {
    use super::*;
    use nix::sys::signal::{SigSet, SigmaskHow};
    use nix::sys::signalfd::{SfdFlags, SignalFd};

    pub struct Signals {
        sfd: SignalFd,
    }

    impl Signals {
        pub fn install(signals: &[Signal]) -> io::Result<Signals> {
            let mut set = SigSet::empty();
            for &s in signals {
                set.add(s);
            }
            nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None)?;
            let sfd = SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)?;
            Ok(Signals { sfd })
        }

        pub fn fd(&self) -> BorrowedFd<'_> {
            self.sfd.as_fd()
        }

        pub fn renew(&mut self) -> io::Result<()> {
            Ok(())
        }

        pub fn next(&self) -> Option<Signal> {
            while let Ok(Some(info)) = self.sfd.read_signal() {
                if let Ok(sig) = Signal::try_from(info.ssi_signo as i32) {
                    return Some(sig);
                }
            }
            None
        }
    }
}

#[cfg(not(linux_native))]
mod imp {
    use super::*;
    use nix::errno::Errno;
    use nix::sys::signal::{SigSet, SigmaskHow};
    use std::os::fd::{AsRawFd, OwnedFd};
    use std::sync::atomic::{AtomicI32, Ordering};

    /// The write end of this process's self-pipe (-1: none).
    static WRITE_FD: AtomicI32 = AtomicI32::new(-1);

    pub extern "C" fn on_signal(sig: libc::c_int) {
        let fd = WRITE_FD.load(Ordering::Relaxed);
        if fd >= 0 {
            let byte = sig as u8;
            let saved = Errno::last_raw();
            // SAFETY: write(2) is async-signal-safe and reads the one byte given; `fd` is
            // the self-pipe's write end, open while it is in WRITE_FD (a full pipe drops
            // the byte, and the reader already has that signal's number waiting).
            unsafe { libc::write(fd, (&raw const byte).cast(), 1) };
            Errno::set_raw(saved);
        }
    }

    pub struct Signals {
        read: OwnedFd,
        _write: OwnedFd,
    }

    fn pipe_nonblock_cloexec() -> io::Result<(OwnedFd, OwnedFd)> {
        let (r, w) = crate::sys::cloexec_pipe()?;
        crate::sys::set_nonblocking(&r)?;
        crate::sys::set_nonblocking(&w)?;
        Ok((r, w))
    }

    impl Signals {
        pub fn install(signals: &[Signal]) -> io::Result<Signals> {
            let (read, write) = pipe_nonblock_cloexec()?;
            WRITE_FD.store(write.as_raw_fd(), Ordering::Relaxed);
            let mut set = SigSet::empty();
            for &s in signals {
                if !set_disposition(s as libc::c_int, Disposition::SelfPipe) {
                    return Err(io::Error::last_os_error());
                }
                set.add(s);
            }
            nix::sys::signal::sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&set), None)?;
            Ok(Signals {
                read,
                _write: write,
            })
        }

        pub fn fd(&self) -> BorrowedFd<'_> {
            self.read.as_fd()
        }

        pub fn renew(&mut self) -> io::Result<()> {
            let (read, write) = pipe_nonblock_cloexec()?;
            WRITE_FD.store(write.as_raw_fd(), Ordering::Relaxed);
            // the inherited ends close here: the pipe is the other process's alone
            self.read = read;
            self._write = write;
            Ok(())
        }

        pub fn next(&self) -> Option<Signal> {
            let mut byte = [0u8; 1];
            loop {
                match nix::unistd::read(&self.read, &mut byte) {
                    Ok(1) => {
                        if let Ok(sig) = Signal::try_from(i32::from(byte[0])) {
                            return Some(sig);
                        }
                    }
                    Err(nix::errno::Errno::EINTR) => {}
                    _ => return None,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Signals sent to this process come out of the descriptor (in a child process, so
    /// the test harness's own signal setup is not disturbed).
    #[test]
    fn a_signal_sent_is_read_from_the_descriptor() {
        // SAFETY: the child only runs the code below and exits with _exit.
        match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => {
                let code = (|| {
                    let s = Signals::install(&[Signal::SIGUSR1, Signal::SIGCHLD]).ok()?;
                    nix::sys::signal::raise(Signal::SIGUSR1).ok()?;
                    let mut fds = [nix::poll::PollFd::new(s.fd(), nix::poll::PollFlags::POLLIN)];
                    nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(5000u16)).ok()?;
                    (s.next()? == Signal::SIGUSR1 && s.next().is_none()).then_some(0)
                })()
                .unwrap_or(1);
                // SAFETY: leave the forked test child without running the harness's code.
                unsafe { libc::_exit(code) }
            }
            nix::unistd::ForkResult::Parent { child } => {
                let st = nix::sys::wait::waitpid(child, None).unwrap();
                assert_eq!(st, nix::sys::wait::WaitStatus::Exited(child, 0));
            }
        }
    }

    /// After a fork, a renewed set is the child's alone: a signal the child takes never
    /// shows up on the parent's descriptor (the portable self-pipe was shared: the
    /// detached supervisor took the caller's Ctrl-C, the caller the run's SIGTERM).
    #[test]
    fn a_renewed_set_after_a_fork_is_the_childs_alone() {
        // SAFETY: the outer child only runs the code below and exits with _exit.
        match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => {
                let code = (|| {
                    let mut s = Signals::install(&[Signal::SIGUSR1]).ok()?;
                    let held = s.hold().ok()?;
                    // SAFETY: the inner child only raises a signal and exits with _exit.
                    match unsafe { nix::unistd::fork() }.ok()? {
                        nix::unistd::ForkResult::Child => {
                            let ok = s.renew().is_ok();
                            held.release();
                            let raised = nix::sys::signal::raise(Signal::SIGUSR1).is_ok();
                            // there on its own descriptor, left unread: were the pipe
                            // shared, the parent would read it below
                            let mut fds =
                                [nix::poll::PollFd::new(s.fd(), nix::poll::PollFlags::POLLIN)];
                            let mine = nix::poll::poll(&mut fds, nix::poll::PollTimeout::ZERO)
                                .is_ok_and(|n| n == 1);
                            // SAFETY: leave the inner child at once.
                            unsafe { libc::_exit(if ok && raised && mine { 0 } else { 1 }) }
                        }
                        nix::unistd::ForkResult::Parent { child } => {
                            held.release();
                            let st = nix::sys::wait::waitpid(child, None).ok()?;
                            let fine = st == nix::sys::wait::WaitStatus::Exited(child, 0);
                            (fine && s.next().is_none()).then_some(0)
                        }
                    }
                })()
                .unwrap_or(1);
                // SAFETY: leave the forked test child without running the harness's code.
                unsafe { libc::_exit(code) }
            }
            nix::unistd::ForkResult::Parent { child } => {
                let st = nix::sys::wait::waitpid(child, None).unwrap();
                assert_eq!(st, nix::sys::wait::WaitStatus::Exited(child, 0));
            }
        }
    }
}
