//! One process named by its pid, as the [`crate::witness`] needs it: this boot's id, a
//! signal that cannot hit another process that got the pid since, waiting for an exit.
//!
//! - Linux: `/proc/sys/kernel/random/boot_id`; a pidfd (`pidfd_open`) polled for the
//!   exit and used for `pidfd_send_signal`;
//! - macOS: the `kern.boottime` sysctl; kqueue's `EVFILT_PROC` for the exit; a `kill`
//!   right after a check of the witness;
//! - elsewhere: no boot id, waiting by probing, no signal.
//!
//! The start time of a process (the witness's other half) comes from
//! [`super::proc::stat`].

#[cfg(target_os = "linux")]
mod imp {
    use crate::witness::{Liveness, Witness, signal_after_check, wait_by_probing};
    use rustix::io::Errno;
    use rustix::process::{Pid, PidfdFlags, pidfd_open};
    use std::os::fd::{AsFd, OwnedFd};
    use std::time::Instant;

    pub const CAN_TELL: bool = true;

    pub fn boot_id() -> Option<String> {
        let id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
        Some(id.trim().to_owned()).filter(|s| !s.is_empty())
    }

    /// A pidfd of whatever process has the witness's pid now (`Err`: as pidfd_open failed).
    fn open(w: &Witness) -> Result<OwnedFd, Errno> {
        let pid = i32::try_from(w.pid)
            .ok()
            .and_then(Pid::from_raw)
            .ok_or(Errno::INVAL)?;
        pidfd_open(pid, PidfdFlags::empty())
    }

    pub fn signal(w: &Witness, signal: nix::sys::signal::Signal) -> std::io::Result<bool> {
        let pidfd = match open(w) {
            Ok(fd) => fd,
            Err(Errno::SRCH) => return Ok(false),
            Err(_) => return signal_after_check(w, signal),
        };
        // the descriptor names the process that had the pid when it was opened: if that
        // is the witness's process now, it is the one signalled
        if w.check() != Liveness::Alive {
            return Ok(false);
        }
        let Some(sig) = rustix::process::Signal::from_named_raw(signal as i32) else {
            return signal_after_check(w, signal);
        };
        match rustix::process::pidfd_send_signal(&pidfd, sig) {
            Ok(()) => Ok(true),
            Err(Errno::SRCH) => Ok(false),
            Err(Errno::NOSYS) => signal_after_check(w, signal),
            Err(e) => Err(e.into()),
        }
    }

    pub fn wait_gone(w: &Witness, deadline: Option<Instant>) -> bool {
        let Ok(pidfd) = open(w) else {
            return wait_by_probing(w, deadline);
        };
        // The pid may have been reused between the caller's look and the open.
        if w.check() != Liveness::Alive {
            return true;
        }
        loop {
            let timeout = match deadline {
                None => nix::poll::PollTimeout::NONE,
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return false;
                    }
                    let ms = left.as_millis().min(60_000) as u32 + 1;
                    nix::poll::PollTimeout::try_from(ms).unwrap_or(nix::poll::PollTimeout::MAX)
                }
            };
            let mut fds = [nix::poll::PollFd::new(
                pidfd.as_fd(),
                nix::poll::PollFlags::POLLIN,
            )];
            match nix::poll::poll(&mut fds, timeout) {
                Ok(n) if n > 0 => return true,
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(_) => return wait_by_probing(w, deadline),
            }
        }
    }
}

#[cfg(target_os = "macos")]
mod imp {
    use crate::witness::{Liveness, Witness, signal_after_check, wait_by_probing};
    use nix::sys::event::{EvFlags, EventFilter, FilterFlag, KEvent, Kqueue};
    use std::time::Instant;

    pub const CAN_TELL: bool = true;

    pub fn signal(w: &Witness, signal: nix::sys::signal::Signal) -> std::io::Result<bool> {
        signal_after_check(w, signal)
    }

    /// `kern.boottime`: the boot's start, in seconds and microseconds.
    pub fn boot_id() -> Option<String> {
        let mut len = std::mem::size_of::<libc::timeval>();
        let mut mib = [libc::CTL_KERN, libc::KERN_BOOTTIME];
        // SAFETY: a zeroed timeval is a valid one; sysctl writes at most `len` bytes
        // into it, and reads the 2 ints of `mib`.
        let (rc, tv) = unsafe {
            let mut tv: libc::timeval = std::mem::zeroed();
            let rc = libc::sysctl(
                mib.as_mut_ptr(),
                2,
                (&raw mut tv).cast(),
                &mut len,
                std::ptr::null_mut(),
                0,
            );
            (rc, tv)
        };
        (rc == 0).then(|| format!("boot-{}.{:06}", tv.tv_sec, tv.tv_usec))
    }

    pub fn wait_gone(w: &Witness, deadline: Option<Instant>) -> bool {
        let Ok(kq) = Kqueue::new() else {
            return wait_by_probing(w, deadline);
        };
        let change = KEvent::new(
            w.pid as libc::uintptr_t,
            EventFilter::EVFILT_PROC,
            EvFlags::EV_ADD | EvFlags::EV_ONESHOT,
            FilterFlag::NOTE_EXIT,
            0,
            0,
        );
        let added = kq.kevent(&[change], &mut [], None).is_ok();
        if !added || w.check() != Liveness::Alive {
            return added || wait_by_probing(w, deadline);
        }
        loop {
            let mut events = [change];
            let timeout = match deadline {
                None => None,
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return false;
                    }
                    Some(libc::timespec {
                        tv_sec: left.as_secs() as libc::time_t,
                        tv_nsec: left.subsec_nanos() as libc::c_long,
                    })
                }
            };
            match kq.kevent(&[], &mut events, timeout) {
                Ok(n) if n > 0 => return true,
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(_) => return wait_by_probing(w, deadline),
            }
        }
    }
}

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
mod imp {
    use crate::witness::{Witness, wait_by_probing};
    use std::time::Instant;

    pub const CAN_TELL: bool = false;

    pub fn boot_id() -> Option<String> {
        None
    }

    pub fn wait_gone(w: &Witness, deadline: Option<Instant>) -> bool {
        wait_by_probing(w, deadline)
    }

    pub fn signal(_w: &Witness, _signal: nix::sys::signal::Signal) -> std::io::Result<bool> {
        Err(std::io::Error::other(
            "this platform cannot name a process for good",
        ))
    }
}

pub use imp::{CAN_TELL, boot_id, signal, wait_gone};
