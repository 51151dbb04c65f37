//! A child's life as seen from this side, where the safe crates stop: the fork (only
//! while single-threaded), leaving a forked process without running this one's exit
//! code, the environment changed while single-threaded, and waiting for an exited child
//! without reaping it (`waitid(WNOWAIT)` with its pid: nix has `waitid` on Linux only,
//! rustix's gives no pid).

use std::ffi::OsStr;
use std::io;

/// Whether this process runs one thread, as far as the kernel tells; where it cannot
/// tell, codex-spawn's own rule stands: it starts no thread before its forks.
fn single_threaded() -> io::Result<()> {
    match codex_meta::sys::proc::own_threads() {
        Some(1) | None => Ok(()),
        Some(n) => Err(io::Error::other(format!(
            "refused while {n} threads run (a fork or an environment change needs one)"
        ))),
    }
}

/// `fork(2)`, refused while another thread runs: the child of a single-threaded process
/// may run any code (the supervisor forks its keepers and the detached supervisor; a
/// keeper forks codex).
pub(crate) fn fork() -> io::Result<nix::unistd::ForkResult> {
    single_threaded()?;
    // SAFETY: this process runs one thread (checked above where the kernel tells, and
    // codex-spawn starts none before it forks; nothing in between starts one), so the
    // child is a whole copy of it and may run any code.
    Ok(unsafe { nix::unistd::fork() }?)
}

/// Remove `vars` from this process's environment, refused while another thread runs
/// (one could be reading it).
pub(crate) fn remove_env(vars: &[impl AsRef<OsStr>]) -> io::Result<()> {
    single_threaded()?;
    for var in vars {
        // SAFETY: this process runs one thread (see `fork`): nothing reads the
        // environment while it changes.
        unsafe { std::env::remove_var(var) };
    }
    Ok(())
}

/// Leave this process at once with `code`: no destructors, no atexit handlers, no
/// flushing of buffers that belong to the process it was forked from.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit(2) has no precondition; it is async-signal-safe.
    unsafe { libc::_exit(code) }
}

/// Which children [`peek_exited`] looks at.
#[derive(Debug, Clone, Copy)]
pub enum Which {
    Pid(i32),
    Any,
}

/// An exited child of this process — its pid and its wait status as `waitpid` gives it —
/// left a zombie (`WNOWAIT`), without blocking; `None` when none has exited.
pub fn peek_exited(which: Which) -> Option<(i32, i32)> {
    waitid(which, libc::WEXITED | libc::WNOHANG | libc::WNOWAIT)
        .ok()
        .flatten()
}

/// Wait for child `pid` to exit and reap it: its wait status as `waitpid` gives it.
pub fn reap(pid: i32) -> io::Result<i32> {
    loop {
        match waitid(Which::Pid(pid), libc::WEXITED) {
            Ok(Some((_, raw))) => return Ok(raw),
            Ok(None) => return Err(io::Error::from_raw_os_error(libc::ECHILD)),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

fn waitid(which: Which, flags: libc::c_int) -> io::Result<Option<(i32, i32)>> {
    let (idtype, id) = match which {
        Which::Pid(pid) => (libc::P_PID, pid as libc::id_t),
        Which::Any => (libc::P_ALL, 0),
    };
    // SAFETY: waitid fills the siginfo it is given (zeroed: a valid siginfo_t, and
    // si_pid stays 0 when WNOHANG finds nothing); si_pid and si_status are read from
    // the SIGCHLD layout that waitid writes.
    let (rc, pid, code, status) = unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let rc = libc::waitid(idtype, id, &mut info, flags);
        (rc, info.si_pid(), info.si_code, info.si_status())
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((pid != 0).then(|| (pid, raw_status(code, status))))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::zombie_processes)] // reaped by `reap`, the function under test
    fn an_exited_child_is_seen_then_reaped() {
        // peeked first: still there (a zombie) afterwards, then reaped
        let child = std::process::Command::new("sh")
            .args(["-c", "exit 7"])
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let peeked = loop {
            if let Some(p) = peek_exited(Which::Pid(pid)) {
                break p;
            }
            std::thread::yield_now();
        };
        assert_eq!(peeked, (pid, 7 << 8));
        assert_eq!(peek_exited(Which::Pid(pid)), Some(peeked), "left a zombie");
        let raw = reap(pid).unwrap();
        assert_eq!(raw, 7 << 8);
        assert!(peek_exited(Which::Pid(pid)).is_none(), "reaped");
        assert_eq!(raw_status(2, 9), 9);
        assert_eq!(raw_status(3, 11), 11 | 0x80);
    }

    #[test]
    fn fork_and_environment_changes_are_refused_among_threads() {
        // a second thread for sure (whatever the harness runs this test on)
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let other = std::thread::spawn(move || rx.recv());
        if codex_meta::sys::proc::own_threads().is_none() {
            return; // no thread count here: the fork would not be refused
        }
        let err = fork().expect_err("refused");
        assert!(err.to_string().contains("threads run"), "{err}");
        assert!(remove_env(&["CODEX_SPAWN_NO_SUCH_VAR"]).is_err());
        drop(tx);
        let _ = other.join();
    }
}
