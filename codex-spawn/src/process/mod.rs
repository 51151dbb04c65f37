//! Starting a child (codex, the `--verify` check, a notify command) so that nothing of it
//! outlives the run, however the supervisor dies.
//!
//! Each child is started through its own [`keeper`]: a forked process in a session of
//! its own (so `kill -9` of the supervisor's process group does not reach it), which is
//! the child's parent and, on Linux, a child subreaper (every orphan of the child's tree
//! comes back to it). When the supervisor dies the keeper kills everything of the run;
//! when the keeper is killed, the child dies with it (Linux: parent-death signal) and the
//! supervisor — itself a subreaper, so it adopts what the keeper left — sweeps the
//! keeper's session ([`Kept::keeper_died`]).
//!
//! The child leads its own process group (its pid is the group id), so signals and
//! timeouts reach everything it started in it; its stdout and stderr share ONE pipe, so
//! the log keeps codex's interleaving; its stdin is /dev/null or the prompt
//! ([`crate::sys::stdin`]); every signal disposition is back to default and its mask is
//! empty ([`crate::sys::signals::reset_for_exec`]).
//!
//! What remains uncovered: a keeper and a supervisor both killed in the same instant (a
//! `kill -9` naming both pids, before the supervisor can react) leave the child's tree
//! to init; on Linux the child itself dies with its keeper (parent-death signal), and the
//! rest — codex's native binary and its tools — goes on. On macOS, processes that leave
//! the keeper's session *and* lose their parent (a daemon's double fork) are not found.

pub mod keeper;
pub mod tree;

use std::ffi::{CString, OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::ExitStatus;

use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::sys::stdin::Prompt;

/// Where a child's output goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// stdout and stderr into one pipe, read by the supervisor ([`Kept::output`]).
    Pipe,
    /// stdout to /dev/null, stderr the supervisor's own (notify commands).
    Quiet,
}

/// What to start.
pub struct Spec<'a> {
    /// The program (a path; no PATH lookup here).
    pub program: &'a Path,
    pub argv0: &'a OsStr,
    pub args: &'a [OsString],
    /// The directory to run in (None: the supervisor's).
    pub cwd: Option<&'a Path>,
    /// The bytes on its stdin (None: /dev/null).
    pub stdin: Option<&'a [u8]>,
    pub output: Output,
}

/// A running child and its keeper.
pub struct Kept {
    /// The child's pid, which is also its process group id.
    pid: Pid,
    keeper: Pid,
    status: OwnedFd,
    control: Option<OwnedFd>,
    /// Read end of the stdout+stderr pipe (non-blocking) with [`Output::Pipe`].
    pub output: Option<OwnedFd>,
    exit: Option<ExitStatus>,
    /// The status pipe read EOF.
    keeper_gone: bool,
    partial: Vec<u8>,
    reaped: bool,
    /// The keeper exited 0 (it cleaned up after the child).
    keeper_ok: bool,
}

impl Kept {
    /// Start the child as `spec` says. An error is "the program could not be started"
    /// (exec's errno: NotFound → 127, anything else → 126).
    pub fn spawn(spec: &Spec<'_>) -> io::Result<Kept> {
        let cstr = |b: &[u8]| {
            CString::new(b)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL byte in an argument"))
        };
        let program = cstr(spec.program.as_os_str().as_bytes())?;
        let mut argv = vec![cstr(spec.argv0.as_bytes())?];
        for a in spec.args {
            argv.push(cstr(a.as_bytes())?);
        }
        let cwd = spec
            .cwd
            .map(|d| cstr(d.as_os_str().as_bytes()))
            .transpose()?;
        let (stdin, feed) = match spec.stdin {
            None => (OwnedFd::from(File::open("/dev/null")?), None),
            Some(bytes) => {
                let p = Prompt::new(bytes)?;
                (p.child, p.feed)
            }
        };
        let (output, stdout, stderr) = match spec.output {
            Output::Pipe => {
                let (r, w) = crate::sys::cloexec_pipe()?;
                crate::sys::set_nonblocking(&r)?;
                crate::sys::widen_pipe(&r);
                let e = w.try_clone()?;
                (Some(r), w, Some(e))
            }
            Output::Quiet => (
                None,
                OwnedFd::from(File::options().write(true).open("/dev/null")?),
                None,
            ),
        };
        let (status_r, status_w) = crate::sys::cloexec_pipe()?;
        crate::sys::set_nonblocking(&status_r)?;
        let (control_r, control_w) = crate::sys::cloexec_pipe()?;
        let plan = keeper::Plan {
            exec: keeper::Exec {
                program,
                argv,
                cwd,
                stdin,
                stdout,
                stderr,
            },
            feed,
            status: status_w,
            control: control_r,
        };
        // the keeper runs its own code and leaves with _exit
        let keeper = match crate::sys::child::fork()? {
            nix::unistd::ForkResult::Child => {
                drop((status_r, control_w, output));
                keeper::main(plan)
            }
            nix::unistd::ForkResult::Parent { child } => child,
        };
        drop(plan);
        let mut kept = Kept {
            pid: Pid::from_raw(0),
            keeper,
            status: status_r,
            control: Some(control_w),
            output,
            exit: None,
            keeper_gone: false,
            partial: Vec::new(),
            reaped: false,
            keeper_ok: false,
        };
        // The first record: started, or exec's errno.
        loop {
            let mut fds = [PollFd::new(kept.status.as_fd(), PollFlags::POLLIN)];
            match nix::poll::poll(&mut fds, PollTimeout::NONE) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
            match kept.read_record() {
                Some((keeper::STARTED, pid)) => {
                    kept.pid = Pid::from_raw(pid);
                    return Ok(kept);
                }
                Some((keeper::EXEC_FAILED, errno)) => {
                    kept.reap_keeper();
                    return Err(io::Error::from_raw_os_error(errno));
                }
                Some(_) => {}
                None if kept.keeper_gone => {
                    kept.reap_keeper();
                    return Err(io::Error::other(
                        "the keeper process died before the child started",
                    ));
                }
                None => {}
            }
        }
    }

    /// The child's pid = its process group id.
    pub fn pgid(&self) -> Pid {
        self.pid
    }

    /// The keeper's pid.
    pub fn keeper(&self) -> Pid {
        self.keeper
    }

    /// The status pipe, to poll for POLLIN: readable when the child exited or the keeper
    /// died (then call [`Kept::try_wait`]).
    pub fn status_fd(&self) -> BorrowedFd<'_> {
        self.status.as_fd()
    }

    /// The child's exit status, once it exited. `Err` when the keeper died before telling
    /// (see [`Kept::keeper_died`]).
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>, KeeperDied> {
        while self.exit.is_none() {
            match self.read_record() {
                Some((keeper::EXITED, raw)) => self.exit = Some(ExitStatus::from_raw(raw)),
                Some(_) => {}
                None if self.keeper_gone => return Err(KeeperDied),
                None => break,
            }
        }
        Ok(self.exit)
    }

    /// Send `sig` to the child's process group.
    pub fn signal_group(&self, sig: Signal) {
        let _ = nix::sys::signal::killpg(self.pid, sig);
    }

    /// The keeper died without the child's status (somebody killed it): the child died
    /// with it (Linux) or is an orphan now; kill what is left of the run — the keeper's
    /// session, and what this supervisor (a subreaper on Linux) adopted, except the
    /// processes in `spare` (other keepers, which look after their own) — and reap it.
    pub fn keeper_died(&mut self, spare: &[Pid]) -> usize {
        // Freeze codex's group first, while its id cannot have been reused (the child,
        // if it exited, is a zombie re-parented here and reaped only by the sweep), but
        // kill nothing yet: killing a parent before the tree is seen would orphan its
        // children out of sight where there is no subreaper.
        self.signal_group(Signal::SIGSTOP);
        self.reap_keeper();
        let me = nix::unistd::getpid();
        let sessions = [self.keeper];
        let scope = tree::Scope {
            root: me,
            sessions: &sessions,
            spare,
            adopted: crate::sys::reaper::adopts_orphans(),
        };
        let killed = tree::kill_all(&scope, reap_adopted);
        self.signal_group(Signal::SIGKILL);
        if self.exit.is_none() {
            self.exit = Some(ExitStatus::from_raw(libc::SIGKILL));
        }
        killed
    }

    /// End the child's run: the keeper kills whatever of it is left and exits; wait for
    /// it. A keeper that was killed instead (so it never cleaned up) is swept for
    /// ([`Kept::keeper_died`]). Returns the child's exit status when it was known.
    pub fn finish(mut self) -> Option<ExitStatus> {
        if !self.finish_inner() || self.try_wait().is_err() {
            self.keeper_died(&[]);
        }
        let _ = self.try_wait();
        self.exit
    }

    /// Tell the keeper to finish and reap it; true when it ended by itself (exit 0).
    fn finish_inner(&mut self) -> bool {
        if let Some(c) = self.control.take() {
            let _ = nix::unistd::write(&c, &[keeper::FINISH]);
        }
        self.reap_keeper()
    }

    /// Reap the keeper (once); true when it exited 0 (or was already reaped so).
    fn reap_keeper(&mut self) -> bool {
        if !self.reaped {
            self.keeper_ok = loop {
                match nix::sys::wait::waitpid(self.keeper, None) {
                    Err(nix::errno::Errno::EINTR) => {}
                    Ok(nix::sys::wait::WaitStatus::Exited(_, 0)) => break true,
                    // reaped by a sweep's reaping of adopted orphans: its pipe tells
                    Err(nix::errno::Errno::ECHILD) => {
                        break !self.keeper_gone || self.exit.is_some();
                    }
                    _ => break false,
                }
            };
            self.reaped = true;
        }
        self.keeper_ok
    }

    /// One whole record from the status pipe, if one is there.
    fn read_record(&mut self) -> Option<(u8, i32)> {
        loop {
            if self.partial.len() >= keeper::RECORD {
                let rec: Vec<u8> = self.partial.drain(..keeper::RECORD).collect();
                let v = i32::from_le_bytes([rec[1], rec[2], rec[3], rec[4]]);
                return Some((rec[0], v));
            }
            if self.keeper_gone {
                return None;
            }
            let mut buf = [0u8; 64];
            match nix::unistd::read(&self.status, &mut buf) {
                Ok(0) => self.keeper_gone = true,
                Ok(n) => self.partial.extend_from_slice(&buf[..n]),
                Err(nix::errno::Errno::EINTR) => {}
                Err(_) => return None,
            }
        }
    }
}

impl Drop for Kept {
    fn drop(&mut self) {
        if !self.reaped && !self.finish_inner() {
            self.keeper_died(&[]);
        }
    }
}

/// The keeper died before it could say how the child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeeperDied;

/// Reap every dead child of this process without blocking: the orphans it adopted as a
/// subreaper. (A keeper reaped here early is fine: keepers report through their status
/// pipes, and [`Kept`]'s own wait then finds nothing to wait for.)
fn reap_adopted() {
    while let Ok(st) = nix::sys::wait::waitpid(
        Pid::from_raw(-1),
        Some(nix::sys::wait::WaitPidFlag::WNOHANG),
    ) {
        if st == nix::sys::wait::WaitStatus::StillAlive {
            return;
        }
    }
}
