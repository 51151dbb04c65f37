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
use std::os::fd::{AsRawFd, OwnedFd};

use nix::unistd::{ForkResult, Pid};

use crate::error::SpawnError;

/// Which side of the fork we are on.
pub enum Side {
    /// The caller's process: `child` is the supervisor; drop `sync` once the meta exists.
    Parent { child: Pid, sync: OwnedFd },
    /// The detached supervisor (the parent has written the meta or is gone).
    Child,
}

/// Fork the detached supervisor. Must be called while single-threaded.
pub fn fork() -> Result<Side, SpawnError> {
    let (r, w) = crate::sys::cloexec_pipe().map_err(|e| SpawnError::Sys {
        action: "create detach pipe",
        source: e,
    })?;
    // SAFETY: codex-spawn has not started any thread at this point, so the child may run
    // ordinary code.
    match unsafe { nix::unistd::fork() }.map_err(|e| SpawnError::sys("fork", e))? {
        ForkResult::Parent { child } => {
            drop(r);
            Ok(Side::Parent { child, sync: w })
        }
        ForkResult::Child => {
            drop(w);
            let _ = nix::unistd::setsid();
            if let Ok(null) = OpenOptions::new().read(true).write(true).open("/dev/null") {
                for fd in 0..=2 {
                    // SAFETY: dup2 onto the standard descriptors of this process.
                    unsafe { libc::dup2(null.as_raw_fd(), fd) };
                }
            }
            let mut byte = [0u8; 1];
            while let Err(nix::errno::Errno::EINTR) = nix::unistd::read(&r, &mut byte) {}
            Ok(Side::Child)
        }
    }
}
