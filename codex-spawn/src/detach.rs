//! `--detach` without a daemon: the process forks once; the child calls `setsid()` (a new
//! session: no controlling terminal, out of the caller's process group, so neither the
//! caller's exit nor a hang-up reaches it), points stdin/stdout/stderr at /dev/null and
//! becomes the supervisor. The parent writes the meta, prints the run lines and exits 0.
//!
//! The fork happens while the process is single-threaded, after the run's files and its
//! lock exist (the lock's open file description is shared with the child, so it stays
//! held when the parent exits — the parent must not unlock it). The child waits until the
//! parent has written the meta (EOF on a pipe) before it touches it.

use std::fs::OpenOptions;
use std::os::fd::{AsFd, OwnedFd};

use nix::unistd::{ForkResult, Pid};

use crate::error::SpawnError;
use crate::sys::signals::Signals;

/// Which side of the fork we are on.
pub enum Side {
    /// The caller's process: `child` is the supervisor; drop `sync` once the meta exists.
    Parent { child: Pid, sync: OwnedFd },
    /// The detached supervisor (the parent has written the meta or is gone).
    Child,
}

/// Fork the detached supervisor. Must be called while single-threaded. `sigs` (the
/// caller's, installed before) end up one set per process: held across the fork, the
/// child's renewed before either takes a signal ([`Signals::renew`]).
pub fn fork(sigs: &mut Signals) -> Result<Side, SpawnError> {
    let (r, w) = crate::sys::cloexec_pipe().map_err(|e| SpawnError::Sys {
        action: "create detach pipe",
        source: e,
    })?;
    let held = sigs.hold().map_err(|e| SpawnError::Sys {
        action: "hold signals",
        source: e,
    })?;
    // codex-spawn has not started any thread at this point, so the child may run
    // ordinary code
    let forked = match crate::sys::child::fork() {
        Ok(f) => f,
        Err(e) => {
            held.release();
            return Err(SpawnError::Sys {
                action: "fork",
                source: e,
            });
        }
    };
    match forked {
        ForkResult::Parent { child } => {
            held.release();
            drop(r);
            Ok(Side::Parent { child, sync: w })
        }
        ForkResult::Child => {
            let renewed = sigs.renew();
            held.release();
            renewed.map_err(|e| SpawnError::Sys {
                action: "receive signals",
                source: e,
            })?;
            drop(w);
            let _ = nix::unistd::setsid();
            if let Ok(null) = OpenOptions::new().read(true).write(true).open("/dev/null") {
                let _ = nix::unistd::dup2_stdin(&null);
                let _ = nix::unistd::dup2_stdout(&null);
                let _ = nix::unistd::dup2_stderr(&null);
            }
            let mut byte = [0u8; 1];
            while let Err(nix::errno::Errno::EINTR) = nix::unistd::read(&r, &mut byte) {}
            Ok(Side::Child)
        }
    }
}

/// `--detach=session`: the detached supervisor tells the caller's process the session
/// id as soon as it is known (`S <uuid>`), or how the run ended when it ends first
/// (`E <status> <exit>`). One line, then the pipe is closed. Writes never block the run:
/// the pipe is non-blocking and a line is far below its capacity.
pub struct SessionReport {
    fd: Option<OwnedFd>,
}

impl SessionReport {
    /// A report on `fd` (`None`: nobody waits).
    pub fn new(fd: Option<OwnedFd>) -> SessionReport {
        if let Some(fd) = &fd {
            let _ = crate::sys::set_nonblocking(fd);
        }
        SessionReport { fd }
    }

    /// The session is known.
    pub fn session(&mut self, id: &str) {
        self.send(&format!("S {id}\n"));
    }

    /// The run ended (without a session id reported).
    pub fn ended(&mut self, status: &str, exit_code: u8) {
        self.send(&format!("E {status} {exit_code}\n"));
    }

    fn send(&mut self, line: &str) {
        if let Some(fd) = self.fd.take() {
            let _ = nix::unistd::write(&fd, line.as_bytes());
        }
    }
}

/// What the caller learned while it waited for the session id.
#[derive(Debug, PartialEq, Eq)]
pub enum Reported {
    Session(String),
    /// The run ended first: its status and exit status.
    Ended(String, u8),
    /// The supervisor went away without a word.
    Gone,
    /// Nothing within the timeout.
    TimedOut,
    /// The caller was interrupted (SIGINT/SIGTERM/SIGHUP) while it waited: the run goes on.
    Interrupted(nix::sys::signal::Signal),
}

/// Wait up to `timeout` for the supervisor's report on `fd`; a signal from `sigs` (the
/// caller's Ctrl-C) ends the wait.
pub fn await_session(
    fd: &OwnedFd,
    timeout: std::time::Duration,
    sigs: Option<&Signals>,
) -> Reported {
    use nix::poll::{PollFd, PollFlags, PollTimeout};
    let deadline = std::time::Instant::now() + timeout;
    let mut line = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Reported::TimedOut;
        }
        let ms = u32::try_from(left.as_millis().min(60_000) + 1).unwrap_or(60_000);
        let mut fds = vec![PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        if let Some(s) = sigs {
            fds.push(PollFd::new(s.fd(), PollFlags::POLLIN));
        }
        let polled = nix::poll::poll(
            &mut fds,
            PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
        );
        let report_ready = fds[0].revents().is_some_and(|r| !r.is_empty());
        drop(fds);
        if let Some(sig) = sigs.and_then(Signals::next_stop) {
            return Reported::Interrupted(sig);
        }
        match polled {
            Ok(_) if report_ready => {}
            Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return Reported::Gone,
        }
        let mut buf = [0u8; 256];
        match nix::unistd::read(fd, &mut buf) {
            Ok(0) => return parse_report(&line),
            Ok(n) => {
                line.extend_from_slice(&buf[..n]);
                if line.contains(&b'\n') || line.len() > 1024 {
                    return parse_report(&line);
                }
            }
            Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => {}
            Err(_) => return Reported::Gone,
        }
    }
}

fn parse_report(line: &[u8]) -> Reported {
    let text = String::from_utf8_lossy(line);
    let mut words = text.split_ascii_whitespace();
    match (words.next(), words.next(), words.next()) {
        (Some("S"), Some(id), _) => Reported::Session(id.to_owned()),
        (Some("E"), Some(status), Some(code)) => {
            Reported::Ended(status.to_owned(), code.parse().unwrap_or(1))
        }
        _ => Reported::Gone,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_is_one_line_once() {
        let (r, w) = crate::sys::cloexec_pipe().unwrap();
        let mut rep = SessionReport::new(Some(w));
        rep.session("0199b2c4-5d6e-7f80-9a1b-2c3d4e5f6a7b");
        rep.ended("failed", 1); // after the first line: nothing more
        assert_eq!(
            await_session(&r, std::time::Duration::from_secs(5), None),
            Reported::Session("0199b2c4-5d6e-7f80-9a1b-2c3d4e5f6a7b".into())
        );
        let (r, w) = crate::sys::cloexec_pipe().unwrap();
        SessionReport::new(Some(w)).ended("failed", 1);
        assert_eq!(
            await_session(&r, std::time::Duration::from_secs(5), None),
            Reported::Ended("failed".into(), 1)
        );
        let (r, w) = crate::sys::cloexec_pipe().unwrap();
        drop(w);
        assert_eq!(
            await_session(&r, std::time::Duration::from_secs(5), None),
            Reported::Gone
        );
        let (r, _w) = crate::sys::cloexec_pipe().unwrap();
        assert_eq!(
            await_session(&r, std::time::Duration::from_millis(50), None),
            Reported::TimedOut
        );
    }
}
