//! The keeper: the process between the supervisor and each child it starts (codex, the
//! `--verify` check, a notify command), whose one job is that nothing the child starts
//! outlives the run.
//!
//! Why a process of its own, and why there: whatever kills the supervisor — `kill -9` of
//! its process group (CI runners, `timeout -s KILL`, `kill %1`), of its pid, the OOM
//! killer — must not take the keeper with it, so the keeper starts a session of its own
//! (out of the supervisor's process group and session, out of the terminal's reach). It
//! is the child's parent and, on Linux, a child subreaper: every orphan of the child's
//! tree is re-parented to it, whatever session or group it moved to. When the
//! supervisor dies, the keeper's control pipe reads EOF, and it kills everything of the
//! run ([`super::tree`]); at a normal end the supervisor sends `K` and the keeper does
//! the same before it exits.
//!
//! Protocol. Supervisor → keeper, the control pipe: `K` (finish), or EOF (the supervisor
//! is gone: finish). Keeper → supervisor, the status pipe, records of a tag byte and a
//! little-endian i32: `P` pid (the child runs; its pid is its process group), `E` errno
//! (exec failed; the keeper then exits), `X` wait status (the child exited).
//!
//! The keeper is a fork of the supervisor, which is single-threaded whenever it starts a
//! child, so it may run ordinary code; it leaves with `_exit` (never the supervisor's
//! destructors or buffers). It ignores INT, TERM, HUP and QUIT: those are for the
//! supervisor, which forwards them.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::sys::child::{self, Which};
use crate::sys::stdin::Feed;
use crate::sys::{reaper, signals};

/// Message tags on the status pipe.
pub const STARTED: u8 = b'P';
pub const EXEC_FAILED: u8 = b'E';
pub const EXITED: u8 = b'X';
/// The supervisor's "finish" byte on the control pipe.
pub const FINISH: u8 = b'K';
/// A status record's length.
pub const RECORD: usize = 5;

/// What the keeper needs, prepared by the supervisor before the fork.
pub struct Plan {
    /// The child: its program, argv, cwd and descriptors.
    pub exec: Exec,
    /// What remains of the prompt to write into the child's stdin (portable path).
    pub feed: Option<Feed>,
    pub status: OwnedFd,
    pub control: OwnedFd,
}

/// The keeper's whole life, in the freshly forked child. Never returns.
pub fn main(plan: Plan) -> ! {
    // Nothing of the supervisor's but the plan: no copy of its other children's pipes
    // (which would hold them open), of the run lock (which would make a run whose
    // supervisor died look alive), of the log.
    let mut keep = vec![
        plan.exec.stdin.as_raw_fd(),
        plan.exec.stdout.as_raw_fd(),
        plan.status.as_raw_fd(),
        plan.control.as_raw_fd(),
    ];
    keep.extend(plan.exec.stderr.as_ref().map(AsRawFd::as_raw_fd));
    keep.extend(plan.feed.as_ref().map(|f| f.fd.as_raw_fd()));
    crate::sys::close_other_fds(&keep);
    let _ = nix::unistd::setsid();
    let subreaper = reaper::become_subreaper();
    signals::ignore(&[
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGPIPE,
    ]);
    let code = match run(plan, subreaper) {
        Ok(()) => 0,
        Err(_) => 1,
    };
    // leave the forked process without running the supervisor's exit code
    child::exit_now(code)
}

fn send(status: &OwnedFd, tag: u8, value: i32) {
    let mut rec = [0u8; RECORD];
    rec[0] = tag;
    rec[1..].copy_from_slice(&value.to_le_bytes());
    // a record is far smaller than PIPE_BUF: one write, whole or not at all; a
    // supervisor that is gone (EPIPE) is noticed on the control pipe
    let _ = nix::unistd::write(status, &rec);
}

fn run(plan: Plan, subreaper: bool) -> nix::Result<()> {
    let Plan {
        exec,
        mut feed,
        status,
        control,
    } = plan;
    let sigchld =
        signals::Signals::install(&[Signal::SIGCHLD]).map_err(|_| nix::errno::Errno::EIO)?;
    let Some(child) = exec.start(&status)? else {
        return Ok(());
    };
    send(&status, STARTED, child.as_raw());

    let mut child = Child {
        pid: child,
        exited: false,
    };
    loop {
        let mut fds = vec![
            PollFd::new(control.as_fd(), PollFlags::POLLIN),
            PollFd::new(sigchld.fd(), PollFlags::POLLIN),
        ];
        if let Some(f) = &feed {
            fds.push(PollFd::new(f.as_fd(), PollFlags::POLLOUT));
        }
        match nix::poll::poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
        let ready = |i: usize| {
            fds.get(i)
                .and_then(PollFd::revents)
                .is_some_and(|r| !r.is_empty())
        };
        let (ctl_ready, chld_ready, feed_ready) = (ready(0), ready(1), ready(2));
        drop(fds);
        if chld_ready {
            while sigchld.next().is_some() {}
        }
        // the child's status goes to the supervisor; adopted orphans are reaped
        if !child.exited || chld_ready {
            child.reap(&status);
        }
        if feed_ready {
            let done = feed.as_mut().is_none_or(|f| f.write_some().unwrap_or(true));
            if done {
                feed = None;
            }
        }
        if ctl_ready {
            let mut byte = [0u8; 1];
            match nix::unistd::read(&control, &mut byte) {
                Err(nix::errno::Errno::EINTR) => continue,
                // FINISH, EOF (the supervisor is gone) or an error: finish
                _ => break,
            }
        }
    }
    drop(feed);
    finish(&mut child, &status, subreaper);
    Ok(())
}

/// The child's exec: what it runs, where, on which descriptors (prepared before the
/// fork; the keeper is single-threaded, so the child may allocate before it execs).
pub struct Exec {
    pub program: CString,
    pub argv: Vec<CString>,
    pub cwd: Option<CString>,
    /// The child's descriptors 0, 1 and 2 (stderr `None`: the supervisor's own).
    pub stdin: OwnedFd,
    pub stdout: OwnedFd,
    pub stderr: Option<OwnedFd>,
}

impl Exec {
    /// Fork and exec the child. `Ok(None)`: exec failed — its errno went to the
    /// supervisor on `status`, and the child is reaped.
    fn start(self, status: &OwnedFd) -> nix::Result<Option<Pid>> {
        let (err_r, err_w) = crate::sys::cloexec_pipe().map_err(|_| nix::errno::Errno::EMFILE)?;
        let me = nix::unistd::getpid();
        let forked = child::fork().map_err(|e| {
            e.raw_os_error()
                .map_or(nix::errno::Errno::EAGAIN, nix::errno::Errno::from_raw)
        })?;
        let child = match forked {
            nix::unistd::ForkResult::Child => self.exec_child(me, err_w.as_fd()),
            nix::unistd::ForkResult::Parent { child } => child,
        };
        drop((err_w, self));

        // exec's verdict: EOF when it succeeded (close-on-exec), else the errno
        let mut errno = [0u8; 4];
        let mut got = 0;
        while got < 4 {
            match nix::unistd::read(&err_r, &mut errno[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(nix::errno::Errno::EINTR) => {}
                Err(_) => break,
            }
        }
        if got == 4 {
            send(status, EXEC_FAILED, i32::from_le_bytes(errno));
            let _ = nix::sys::wait::waitpid(child, None);
            return Ok(None);
        }
        Ok(Some(child))
    }

    /// In the forked child: its own process group, dying with its keeper, default
    /// signals, its descriptors 0-2, its directory; then exec, or the errno on `err`.
    fn exec_child(&self, keeper: Pid, err: BorrowedFd<'_>) -> ! {
        let _ = nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0));
        reaper::die_with_parent(keeper.as_raw());
        signals::reset_for_exec();
        let _ = nix::unistd::dup2_stdin(&self.stdin);
        let _ = nix::unistd::dup2_stdout(&self.stdout);
        if let Some(e) = &self.stderr {
            let _ = nix::unistd::dup2_stderr(e);
        }
        if let Some(dir) = &self.cwd {
            if let Err(e) = nix::unistd::chdir(dir.as_c_str()) {
                fail_exec(err, e);
            }
        }
        match nix::unistd::execv(&self.program, &self.argv) {
            Err(e) => fail_exec(err, e),
        }
    }
}

/// The keeper's child. Once it exits it is left a zombie until the keeper's very end: its
/// pid is its process group's id, and a zombie keeps that number from being given to
/// another process while the keeper (or the supervisor) may still signal the group.
struct Child {
    pid: Pid,
    exited: bool,
}

impl Child {
    /// Send the child's status once it exited (it stays a zombie), and reap every other
    /// child that has exited (orphans this subreaper adopted).
    fn reap(&mut self, status: &OwnedFd) {
        if !self.exited {
            if let Some((_, raw)) = child::peek_exited(Which::Pid(self.pid.as_raw())) {
                self.exited = true;
                send(status, EXITED, raw);
            }
        }
        // others: whatever exited that is not the child
        loop {
            match child::peek_exited(Which::Any) {
                Some((pid, _)) if pid != self.pid.as_raw() => {
                    let _ = nix::sys::wait::waitpid(Pid::from_raw(pid), None);
                }
                // the child's zombie comes first in the list: ask the others one by one
                Some(_) => {
                    let me = std::process::id() as i32;
                    for pid in super::tree::children(me) {
                        if pid != self.pid.as_raw() {
                            let _ = nix::sys::wait::waitpid(
                                Pid::from_raw(pid),
                                Some(nix::sys::wait::WaitPidFlag::WNOHANG),
                            );
                        }
                    }
                    return;
                }
                None => return,
            }
        }
    }

    /// The child's pid and whether anything else of this keeper's tree could be alive:
    /// with a subreaper, every process of the run descends from the keeper, so only the
    /// child's zombie among its children means nothing is left.
    fn only_child_left(&self) -> bool {
        if !self.exited {
            return false;
        }
        let me = std::process::id() as i32;
        let children = codex_meta::sys::proc::children(me);
        children.is_some_and(|c| c.iter().all(|&p| p == self.pid.as_raw()))
    }
}

/// Kill everything of the run (see the module docs), reap it, and send the child's
/// status if it had not been sent. The child is reaped last: until then its zombie keeps
/// its pid (the group's id) from being reused.
fn finish(child: &mut Child, status: &OwnedFd, subreaper: bool) {
    child.reap(status);
    let me = nix::unistd::getpid();
    // Linux: everything of the run descends from this subreaper, so when the child's
    // zombie is its only child, nothing of the run is left — known from one small read.
    if !(subreaper && child.only_child_left()) {
        // The tree is looked at (and frozen) before anything in it is killed: killing a
        // parent first would orphan its children out of sight where there is no
        // subreaper. Codex's group last, while the child's zombie keeps its id ours.
        let sessions = [me];
        let scope = super::tree::Scope {
            root: me,
            sessions: &sessions,
            spare: &[],
            adopted: subreaper,
        };
        super::tree::kill_all(&scope, || child.reap(status));
        let _ = nix::sys::signal::killpg(child.pid, Signal::SIGKILL);
        child.reap(status);
    }
    // the child itself, last
    if let Ok(raw) = child::reap(child.pid.as_raw()) {
        if !child.exited {
            child.exited = true;
            send(status, EXITED, raw);
        }
    }
}

/// In the child, after a failed chdir/exec: report errno on `fd` and leave.
fn fail_exec(fd: BorrowedFd<'_>, errno: nix::errno::Errno) -> ! {
    let _ = nix::unistd::write(fd, &(errno as i32).to_le_bytes());
    child::exit_now(127)
}
