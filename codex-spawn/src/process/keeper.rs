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
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};

use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use nix::unistd::Pid;

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

/// What the keeper needs, prepared by the supervisor before the fork (nothing is
/// allocated for the child's exec after it).
pub struct Plan {
    pub program: CString,
    pub argv: Vec<CString>,
    pub cwd: Option<CString>,
    /// The child's descriptors 0, 1 and 2 (stderr `None`: the supervisor's own).
    pub stdin: OwnedFd,
    pub stdout: OwnedFd,
    pub stderr: Option<OwnedFd>,
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
        plan.stdin.as_raw_fd(),
        plan.stdout.as_raw_fd(),
        plan.status.as_raw_fd(),
        plan.control.as_raw_fd(),
    ];
    keep.extend(plan.stderr.as_ref().map(AsRawFd::as_raw_fd));
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
    // SAFETY: leave the forked process without running the supervisor's exit code.
    unsafe { libc::_exit(code) }
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
        program,
        argv,
        cwd,
        stdin,
        stdout,
        stderr,
        mut feed,
        status,
        control,
    } = plan;
    let sigchld =
        signals::Signals::install(&[Signal::SIGCHLD]).map_err(|_| nix::errno::Errno::EIO)?;
    let (err_r, err_w) = crate::sys::cloexec_pipe().map_err(|_| nix::errno::Errno::EMFILE)?;
    let me = nix::unistd::getpid();
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());

    // SAFETY: this process is single-threaded (a fork of the single-threaded
    // supervisor); the child below only makes async-signal-safe calls before exec.
    let child = match unsafe { nix::unistd::fork() }? {
        nix::unistd::ForkResult::Child => {
            // SAFETY: async-signal-safe calls on descriptors this process owns.
            unsafe {
                libc::setpgid(0, 0);
                reaper::die_with_parent(me.as_raw());
                signals::reset_for_exec();
                libc::dup2(stdin.as_raw_fd(), 0);
                libc::dup2(stdout.as_raw_fd(), 1);
                if let Some(e) = &stderr {
                    libc::dup2(e.as_raw_fd(), 2);
                }
                if let Some(dir) = &cwd {
                    if libc::chdir(dir.as_ptr()) != 0 {
                        fail_exec(err_w.as_raw_fd());
                    }
                }
                libc::execv(program.as_ptr(), argv_ptrs.as_ptr());
                fail_exec(err_w.as_raw_fd());
            }
        }
        nix::unistd::ForkResult::Parent { child } => child,
    };
    drop((err_w, stdin, stdout, stderr));

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
        send(&status, EXEC_FAILED, i32::from_le_bytes(errno));
        let _ = nix::sys::wait::waitpid(child, None);
        return Ok(());
    }
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

/// The keeper's child. Once it exits it is left a zombie until the keeper's very end: its
/// pid is its process group's id, and a zombie keeps that number from being given to
/// another process while the keeper (or the supervisor) may still signal the group.
struct Child {
    pid: Pid,
    exited: bool,
}

/// `waitid` on `idtype`/`id` for an exited child, without reaping it; its pid and raw
/// wait status.
fn peek(idtype: libc::idtype_t, id: libc::id_t) -> Option<(i32, i32)> {
    // SAFETY: waitid fills the zeroed siginfo it is given.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let rc = libc::waitid(
            idtype,
            id,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        );
        let pid = info.si_pid();
        if rc != 0 || pid == 0 {
            return None;
        }
        Some((pid, raw_status(info.si_code, info.si_status())))
    }
}

/// A waitid result as the wait status `waitpid` would give.
fn raw_status(code: libc::c_int, status: libc::c_int) -> i32 {
    // CLD_EXITED = 1, CLD_KILLED = 2, CLD_DUMPED = 3 (Linux and macOS alike)
    match code {
        1 => (status & 0xff) << 8,
        2 => status & 0x7f,
        3 => (status & 0x7f) | 0x80,
        _ => status,
    }
}

impl Child {
    /// Send the child's status once it exited (it stays a zombie), and reap every other
    /// child that has exited (orphans this subreaper adopted).
    fn reap(&mut self, status: &OwnedFd) {
        if !self.exited {
            if let Some((_, raw)) = peek(libc::P_PID, self.pid.as_raw() as libc::id_t) {
                self.exited = true;
                send(status, EXITED, raw);
            }
        }
        // others: whatever exited that is not the child
        loop {
            match peek(libc::P_ALL, 0) {
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
    loop {
        let mut raw = 0;
        // SAFETY: waitpid on our own child with a valid status pointer.
        let pid = unsafe { libc::waitpid(child.pid.as_raw(), &mut raw, 0) };
        if pid == child.pid.as_raw() {
            if !child.exited {
                child.exited = true;
                send(status, EXITED, raw);
            }
            break;
        }
        if pid < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            break;
        }
    }
}

/// In the child, after a failed chdir/exec: report errno and leave.
///
/// # Safety
/// Only in the forked child; async-signal-safe.
unsafe fn fail_exec(fd: RawFd) -> ! {
    let errno = std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::ENOEXEC);
    let bytes = errno.to_le_bytes();
    // SAFETY: write and _exit are async-signal-safe.
    unsafe {
        libc::write(fd, bytes.as_ptr().cast(), 4);
        libc::_exit(127)
    }
}
