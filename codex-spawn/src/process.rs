//! Starting codex so that nothing of it outlives the supervisor.
//!
//! - codex runs in its own process group (so signals and the timeout reach everything it
//!   started) with `PR_SET_PDEATHSIG(SIGKILL)`, so the kernel kills it the moment the
//!   supervisor's main thread dies — even by `kill -9`.
//! - The real `codex` is a Node launcher that starts the native binary as its child; the
//!   death signal would kill only the launcher. So a *guardian* — a forked copy of the
//!   supervisor that does nothing but `read(2)` on a pipe whose only writer is the
//!   supervisor — kills codex's whole process group when that read returns EOF (the
//!   supervisor died). At a normal end the supervisor writes one byte ("disarm") first.
//!   Children that codex moves out of its group (setsid) are codex's own business.
//! - stdout and stderr share ONE pipe, so the log keeps codex's interleaving.
//! - stdin is /dev/null, or a memfd holding the prompt: codex reads it to EOF at its own
//!   pace, nothing can deadlock, and the prompt never touches argv or the disk.
//! - SIGINT/SIGTERM/SIGHUP/SIGCHLD are blocked and read from a signalfd by the event loop.
//!   std does NOT reset the signal mask in the children it spawns, so every child
//!   (codex, the `--verify` check, notify commands) unblocks all signals before exec —
//!   else a forwarded SIGTERM would wait, pending, for the SIGKILL.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::unistd::Pid;

use crate::error::SpawnError;

/// The signals the supervisor handles through its signalfd.
pub const HANDLED: [Signal; 4] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGCHLD,
];

/// Block the handled signals in this (single) thread and open a non-blocking signalfd for
/// them. Call before starting any thread.
pub fn signal_fd() -> Result<SignalFd, SpawnError> {
    let mut set = SigSet::empty();
    for s in HANDLED {
        set.add(s);
    }
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None)
        .map_err(|e| SpawnError::sys("block signals", e))?;
    SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .map_err(|e| SpawnError::sys("create signalfd", e))
}

/// codex's stdin.
pub enum Input<'a> {
    /// /dev/null.
    Null,
    /// The prompt, delivered through a memfd.
    Prompt(&'a [u8]),
}

/// A running codex (or `--verify` check): a child leading its own process group.
pub struct Codex {
    /// The child (its pid is also its process group id).
    pub child: Child,
    /// Read end of the stdout+stderr pipe (non-blocking, close-on-exec).
    pub output: OwnedFd,
}

impl Codex {
    /// codex's pid = its process group id.
    pub fn pgid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }
}

/// Start `bin args…` in its own process group, stdout+stderr into one pipe.
/// An error from here is "codex could not be started" (126/127 material).
pub fn spawn_codex(
    bin: &Path,
    argv0: &OsStr,
    args: &[OsString],
    input: Input<'_>,
) -> std::io::Result<Codex> {
    spawn_group(bin, argv0, args, input, None)
}

/// [`spawn_codex`] for any program, optionally in directory `cwd` (the `--verify` check
/// runs `sh -c CMD` in the repo this way).
pub fn spawn_group(
    bin: &Path,
    argv0: &OsStr,
    args: &[OsString],
    input: Input<'_>,
    cwd: Option<&Path>,
) -> std::io::Result<Codex> {
    let (read_end, write_end) =
        nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK).map_err(std::io::Error::from)?;
    // The write end must block for codex (O_NONBLOCK above applies to both ends).
    set_nonblocking(write_end.as_raw_fd(), false)?;
    let write_err = write_end.try_clone()?;
    let stdin = match input {
        Input::Null => Stdio::null(),
        Input::Prompt(bytes) => Stdio::from(prompt_memfd(bytes)?),
    };
    let parent = std::process::id() as libc::pid_t;
    let mut cmd = Command::new(bin);
    cmd.arg0(argv0)
        .args(args)
        .stdin(stdin)
        .stdout(Stdio::from(write_end))
        .stderr(Stdio::from(write_err))
        .process_group(0);
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    // SAFETY: the closure only makes async-signal-safe system calls (sigprocmask, prctl,
    // getppid, raise).
    unsafe {
        cmd.pre_exec(move || {
            unblock_all_signals();
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            // The supervisor may have died before prctl: then nobody would kill us.
            if libc::getppid() != parent {
                libc::raise(libc::SIGKILL);
            }
            Ok(())
        });
    }
    let child = cmd.spawn()?;
    drop(cmd); // closes our copies of the pipe's write end and the memfd
    Ok(Codex {
        child,
        output: read_end,
    })
}

fn prompt_memfd(bytes: &[u8]) -> std::io::Result<OwnedFd> {
    let fd = nix::sys::memfd::memfd_create(
        c"codex-spawn-prompt",
        nix::sys::memfd::MFdFlags::MFD_CLOEXEC,
    )
    .map_err(std::io::Error::from)?;
    let mut file = File::from(fd);
    file.write_all(bytes)?;
    file.seek(SeekFrom::Start(0))?;
    Ok(OwnedFd::from(file))
}

fn set_nonblocking(fd: RawFd, on: bool) -> std::io::Result<()> {
    // SAFETY: fcntl on a file descriptor we own.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let flags = if on {
        flags | libc::O_NONBLOCK
    } else {
        flags & !libc::O_NONBLOCK
    };
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// The guardian process (see the module docs). Dropping it without [`Guardian::disarm`]
/// (e.g. the supervisor dies) makes it kill codex's process group.
pub struct Guardian {
    pid: Pid,
    pipe: Option<OwnedFd>,
}

impl Guardian {
    /// Fork the guardian for process group `pgid`.
    pub fn start(pgid: Pid) -> Result<Guardian, SpawnError> {
        let (read_end, write_end) = nix::unistd::pipe2(OFlag::O_CLOEXEC)
            .map_err(|e| SpawnError::sys("create guardian pipe", e))?;
        let r = read_end.as_raw_fd();
        // SAFETY: the child only makes async-signal-safe system calls and never returns.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(SpawnError::sys("fork guardian", Errno::last()));
        }
        if pid == 0 {
            // SAFETY: we are the freshly forked child; see `guardian_main`.
            unsafe { guardian_main(r, pgid.as_raw()) }
        }
        drop(read_end);
        Ok(Guardian {
            pid: Pid::from_raw(pid),
            pipe: Some(write_end),
        })
    }

    /// Tell the guardian the run ended normally (it exits without killing) and reap it.
    pub fn disarm(mut self) {
        if let Some(pipe) = self.pipe.take() {
            let _ = nix::unistd::write(&pipe, b"x");
        }
        let _ = nix::sys::wait::waitpid(self.pid, None);
    }
}

/// The guardian's whole life: wait for a byte (disarmed) or EOF (supervisor gone → kill
/// the group). Only async-signal-safe calls: it runs in a fork of a possibly threaded
/// process.
unsafe fn guardian_main(r: RawFd, pgid: libc::pid_t) -> ! {
    // SAFETY: plain system calls on descriptors this process owns.
    unsafe {
        if r != 3 {
            libc::dup2(r, 3);
        }
        libc::syscall(libc::SYS_close_range, 4u32, u32::MAX, 0u32);
        libc::close(0);
        libc::close(1);
        libc::close(2);
        let mut byte = 0u8;
        loop {
            let n = libc::read(3, (&raw mut byte).cast(), 1);
            if n == 1 {
                libc::_exit(0);
            }
            if n == 0 {
                libc::kill(-pgid, libc::SIGKILL);
                libc::_exit(0);
            }
            if *libc::__errno_location() != libc::EINTR {
                libc::_exit(1);
            }
        }
    }
}

/// Clear the signal mask of the calling thread (in a `pre_exec` hook: the child starts
/// with no signal blocked, whatever the supervisor blocks for its signalfd).
/// Async-signal-safe.
pub fn unblock_all_signals() {
    // SAFETY: sigemptyset/sigprocmask on a local set; both are async-signal-safe.
    unsafe {
        let mut set = std::mem::MaybeUninit::<libc::sigset_t>::zeroed();
        libc::sigemptyset(set.as_mut_ptr());
        libc::sigprocmask(libc::SIG_SETMASK, set.as_ptr(), std::ptr::null_mut());
    }
}

/// A pending SIGINT/SIGTERM/SIGHUP on the signalfd (SIGCHLD is skipped), read without
/// blocking: the supervisor checks between two children so it never starts one only to
/// stop it.
pub fn pending_signal(sfd: &SignalFd) -> Option<Signal> {
    while let Ok(Some(info)) = sfd.read_signal() {
        match Signal::try_from(info.ssi_signo as i32) {
            Ok(Signal::SIGCHLD) | Err(_) => {}
            Ok(sig) => return Some(sig),
        }
    }
    None
}

/// Send `sig` to process group `pgid` (ignoring "no such process").
pub fn kill_group(pgid: Pid, sig: Signal) {
    let _ = nix::sys::signal::killpg(pgid, sig);
}
