//! The second witness of a run's liveness: its supervisor's pid, that process's start
//! time, and the machine's boot id, all kept in the meta (`pid`, `pid_start`, `boot_id`).
//!
//! Why it exists: the first witness, the owner's flock on the run's log, is lost when the
//! log is deleted, renamed over or rotated while the run goes on — and a reader would
//! call a live run `lost`. A pid alone is not enough (pids are reused); a pid with the
//! start time of the process that holds it, on the same boot of the same host, names one
//! process for good. `lost` needs both witnesses gone ([`crate::effective_status_at`]).
//!
//! Only what must differ by platform is below, side by side:
//! - Linux: `/proc/<pid>/stat` (start time in clock ticks since boot) and
//!   `/proc/sys/kernel/random/boot_id`; waiting for an exit through a pidfd;
//! - macOS: `proc_pidinfo` (start time) and the `kern.boottime` sysctl; waiting through
//!   kqueue's `EVFILT_PROC`;
//! - elsewhere: no witness (the lock alone judges), waiting by probing every 100 ms.

use std::time::{Duration, Instant};

use crate::Meta;

/// One process, named for good: pid, its start time, the boot it runs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Witness {
    pub pid: u32,
    /// The process's start time, as this platform tells it (opaque; compared for equality).
    pub start: String,
    /// This boot of this machine (opaque).
    pub boot_id: String,
}

/// What a witness says of its process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// That very process is running.
    Alive,
    /// It is gone (no such pid, another process under that pid, or another boot).
    Gone,
    /// Cannot be told here (no witness in the meta, another host, no way to look).
    Unknown,
}

impl Witness {
    /// The witness of process `pid` now, when this platform can tell it.
    pub fn of(pid: u32) -> Option<Witness> {
        Some(Witness {
            pid,
            start: imp::start_time(pid)?,
            boot_id: imp::boot_id()?,
        })
    }

    /// The witness of this process.
    pub fn current() -> Option<Witness> {
        Witness::of(std::process::id())
    }

    /// The witness a meta records (`pid`, `pid_start`, `boot_id`), if complete.
    pub fn from_meta(meta: &Meta) -> Option<Witness> {
        Some(Witness {
            pid: meta.pid?,
            start: meta.pid_start.clone()?,
            boot_id: meta.boot_id.clone()?,
        })
    }

    /// Put this witness into `meta`.
    pub fn record(&self, meta: &mut Meta) {
        meta.pid = Some(self.pid);
        meta.pid_start = Some(self.start.clone());
        meta.boot_id = Some(self.boot_id.clone());
    }

    /// Is the process this witness names running? (Only meaningful on the host that
    /// wrote it; see [`liveness`].)
    pub fn check(&self) -> Liveness {
        let Some(boot) = imp::boot_id() else {
            return Liveness::Unknown;
        };
        if boot != self.boot_id {
            return Liveness::Gone;
        }
        match imp::start_time(self.pid) {
            Some(start) if start == self.start => Liveness::Alive,
            Some(_) => Liveness::Gone,
            None if imp::CAN_TELL => Liveness::Gone,
            None => Liveness::Unknown,
        }
    }

    /// Block until the process is gone or `deadline` passes; true when gone. Costs no CPU
    /// where the platform can wait for a process (pidfd, kqueue).
    pub fn wait_gone(&self, deadline: Option<Instant>) -> bool {
        imp::wait_gone(self, deadline)
    }

    /// Send `signal` to the process this witness names, and only to it: on Linux through
    /// a pidfd opened before the witness is checked (a pid reused meanwhile cannot be
    /// hit); elsewhere checked just before `kill`. `Ok(false)`: the process is gone.
    pub fn signal(&self, signal: nix::sys::signal::Signal) -> std::io::Result<bool> {
        imp::signal(self, signal)
    }
}

/// `kill` after a check of the witness (where no process handle exists).
#[allow(dead_code)] // the fallback of every platform module; Linux uses it without pidfds
fn signal_after_check(w: &Witness, signal: nix::sys::signal::Signal) -> std::io::Result<bool> {
    if w.check() != Liveness::Alive {
        return Ok(false);
    }
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(w.pid as i32), signal) {
        Ok(()) => Ok(true),
        Err(nix::errno::Errno::ESRCH) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Whether the run's meta was written on another host than this one.
pub fn is_remote(meta: &Meta) -> bool {
    meta.host
        .as_deref()
        .is_some_and(|h| h != crate::hostname().as_str())
}

/// Whether the run's supervisor is on another machine: another host name and not this
/// boot of this kernel. (Containers on one kernel have host names of their own but see
/// one another's locks: there the lock on the log judges, as on one host.)
pub fn is_elsewhere(meta: &Meta) -> bool {
    is_remote(meta) && (meta.boot_id.is_none() || meta.boot_id != imp::boot_id())
}

/// What the meta's witness says of its supervisor: [`Liveness::Unknown`] when it has none
/// or was written on another host (then only the lock on the log can tell).
pub fn liveness(meta: &Meta) -> Liveness {
    let Some(w) = Witness::from_meta(meta) else {
        return Liveness::Unknown;
    };
    if meta.host.as_deref() != Some(crate::hostname().as_str()) {
        return Liveness::Unknown;
    }
    w.check()
}

/// The portable wait: probe every 100 ms (used where no process handle exists).
#[allow(dead_code)] // the fallback of every platform module; Linux and macOS use it on error
fn wait_by_probing(w: &Witness, deadline: Option<Instant>) -> bool {
    loop {
        if w.check() != Liveness::Alive {
            return true;
        }
        let nap = Duration::from_millis(100);
        match deadline {
            Some(d) => {
                let now = Instant::now();
                if now >= d {
                    return false;
                }
                std::thread::sleep(nap.min(d - now));
            }
            None => std::thread::sleep(nap),
        }
    }
}

#[cfg(target_os = "linux")]
mod imp {
    use super::{Instant, Witness};
    use std::os::fd::{AsFd, FromRawFd, OwnedFd};

    pub const CAN_TELL: bool = true;

    /// Field 22 of `/proc/<pid>/stat`: the start time in clock ticks since boot.
    pub fn start_time(pid: u32) -> Option<String> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // the command name (field 2) may hold spaces and ')': split after its last ')'
        let rest = &stat[stat.rfind(')')? + 1..];
        let start = rest.split_ascii_whitespace().nth(19)?;
        // a zombie has exited: it is not running any more
        let state = rest.split_ascii_whitespace().next()?;
        (state != "Z" && state != "X").then(|| start.to_owned())
    }

    pub fn boot_id() -> Option<String> {
        let id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
        Some(id.trim().to_owned()).filter(|s| !s.is_empty())
    }

    pub fn signal(w: &Witness, signal: nix::sys::signal::Signal) -> std::io::Result<bool> {
        // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, w.pid as libc::pid_t, 0) };
        if fd < 0 {
            return match std::io::Error::last_os_error() {
                e if e.raw_os_error() == Some(libc::ESRCH) => Ok(false),
                _ => super::signal_after_check(w, signal),
            };
        }
        // SAFETY: the kernel just gave us this descriptor.
        let pidfd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        // the descriptor names the process that had the pid when it was opened: if that
        // is the witness's process now, it is the one signalled
        if w.check() != super::Liveness::Alive {
            return Ok(false);
        }
        // SAFETY: a pidfd we own, a valid signal number, no siginfo, no flags.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                std::os::fd::AsRawFd::as_raw_fd(&pidfd),
                signal as libc::c_int,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        if rc == 0 {
            return Ok(true);
        }
        match std::io::Error::last_os_error() {
            e if e.raw_os_error() == Some(libc::ESRCH) => Ok(false),
            e if e.raw_os_error() == Some(libc::ENOSYS) => super::signal_after_check(w, signal),
            e => Err(e),
        }
    }

    pub fn wait_gone(w: &Witness, deadline: Option<Instant>) -> bool {
        // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, w.pid as libc::pid_t, 0) };
        if fd < 0 {
            return super::wait_by_probing(w, deadline);
        }
        // SAFETY: the kernel just gave us this descriptor.
        let pidfd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        // The pid may have been reused between the caller's look and the open.
        if w.check() != super::Liveness::Alive {
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
                Err(_) => return super::wait_by_probing(w, deadline),
            }
        }
    }
}

#[cfg(target_os = "macos")]
mod imp {
    use super::{Instant, Witness};

    pub const CAN_TELL: bool = true;

    /// `pbi_start_tvsec.pbi_start_tvusec` of `proc_pidinfo(PROC_PIDTBSDINFO)`.
    pub fn start_time(pid: u32) -> Option<String> {
        let mut info = std::mem::MaybeUninit::<libc::proc_bsdinfo>::zeroed();
        let size = std::mem::size_of::<libc::proc_bsdinfo>() as libc::c_int;
        // SAFETY: the buffer is a zeroed proc_bsdinfo of the size given.
        let n = unsafe {
            libc::proc_pidinfo(
                pid as libc::c_int,
                libc::PROC_PIDTBSDINFO,
                0,
                info.as_mut_ptr().cast(),
                size,
            )
        };
        if n != size {
            return None;
        }
        // SAFETY: proc_pidinfo filled the whole struct.
        let info = unsafe { info.assume_init() };
        // SZOMB = 5: a zombie has exited
        (info.pbi_status != 5)
            .then(|| format!("{}.{:06}", info.pbi_start_tvsec, info.pbi_start_tvusec))
    }

    pub fn signal(w: &Witness, signal: nix::sys::signal::Signal) -> std::io::Result<bool> {
        super::signal_after_check(w, signal)
    }

    /// `kern.boottime`: the boot's start, in seconds and microseconds.
    pub fn boot_id() -> Option<String> {
        let mut tv = std::mem::MaybeUninit::<libc::timeval>::zeroed();
        let mut len = std::mem::size_of::<libc::timeval>();
        let mut mib = [libc::CTL_KERN, libc::KERN_BOOTTIME];
        // SAFETY: sysctl writes at most `len` bytes into `tv`.
        let rc = unsafe {
            libc::sysctl(
                mib.as_mut_ptr(),
                2,
                tv.as_mut_ptr().cast(),
                &mut len,
                std::ptr::null_mut(),
                0,
            )
        };
        if rc != 0 {
            return None;
        }
        // SAFETY: sysctl succeeded.
        let tv = unsafe { tv.assume_init() };
        Some(format!("boot-{}.{:06}", tv.tv_sec, tv.tv_usec))
    }

    pub fn wait_gone(w: &Witness, deadline: Option<Instant>) -> bool {
        // SAFETY: kqueue() returns a new descriptor or -1.
        let kq = unsafe { libc::kqueue() };
        if kq < 0 {
            return super::wait_by_probing(w, deadline);
        }
        let mut change: libc::kevent = unsafe { std::mem::zeroed() };
        change.ident = w.pid as libc::uintptr_t;
        change.filter = libc::EVFILT_PROC;
        change.flags = libc::EV_ADD | libc::EV_ONESHOT;
        change.fflags = libc::NOTE_EXIT;
        // SAFETY: one change, no events asked for.
        let rc = unsafe { libc::kevent(kq, &change, 1, std::ptr::null_mut(), 0, std::ptr::null()) };
        let gone = if rc < 0 || w.check() != super::Liveness::Alive {
            rc >= 0 || super::wait_by_probing(w, deadline)
        } else {
            loop {
                let mut event: libc::kevent = unsafe { std::mem::zeroed() };
                let ts;
                let tsp = match deadline {
                    None => std::ptr::null(),
                    Some(d) => {
                        let left = d.saturating_duration_since(Instant::now());
                        if left.is_zero() {
                            break false;
                        }
                        ts = libc::timespec {
                            tv_sec: left.as_secs() as libc::time_t,
                            tv_nsec: left.subsec_nanos() as libc::c_long,
                        };
                        &ts as *const libc::timespec
                    }
                };
                // SAFETY: waits for one event into `event`.
                let n = unsafe { libc::kevent(kq, std::ptr::null(), 0, &mut event, 1, tsp) };
                if n > 0 {
                    break true;
                }
                if n < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                    break super::wait_by_probing(w, deadline);
                }
            }
        };
        // SAFETY: closing the kqueue we opened.
        unsafe { libc::close(kq) };
        gone
    }
}

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
mod imp {
    use super::{Instant, Witness};

    pub const CAN_TELL: bool = false;

    pub fn start_time(_pid: u32) -> Option<String> {
        None
    }

    pub fn boot_id() -> Option<String> {
        None
    }

    pub fn wait_gone(w: &Witness, deadline: Option<Instant>) -> bool {
        super::wait_by_probing(w, deadline)
    }

    pub fn signal(_w: &Witness, _signal: nix::sys::signal::Signal) -> std::io::Result<bool> {
        Err(std::io::Error::other(
            "this platform cannot name a process for good",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_dead_child_is_gone() {
        let me = Witness::current().expect("a witness on this platform");
        assert_eq!(me.check(), Liveness::Alive);
        let mut other = me.clone();
        other.start.push('0');
        assert_eq!(other.check(), Liveness::Gone, "another start time");
        let mut reboot = me.clone();
        reboot.boot_id.push('x');
        assert_eq!(reboot.check(), Liveness::Gone, "another boot");

        let mut child = std::process::Command::new("sleep")
            .arg("0.3")
            .spawn()
            .unwrap();
        let w = Witness::of(child.id()).unwrap();
        assert_eq!(w.check(), Liveness::Alive);
        let reaper = std::thread::spawn(move || child.wait());
        let t = Instant::now();
        assert!(w.wait_gone(Some(Instant::now() + Duration::from_secs(10))));
        assert!(t.elapsed() < Duration::from_secs(5));
        reaper.join().unwrap().unwrap();
        assert_eq!(w.check(), Liveness::Gone);
        assert!(!me.wait_gone(Some(Instant::now() + Duration::from_millis(50))));
    }

    #[test]
    fn a_meta_from_another_host_is_unknown() {
        let mut m = Meta::new("x");
        assert_eq!(liveness(&m), Liveness::Unknown, "no witness");
        Witness::current().unwrap().record(&mut m);
        m.host = Some(crate::hostname());
        assert_eq!(liveness(&m), Liveness::Alive);
        m.host = Some("some-other-host".into());
        assert_eq!(liveness(&m), Liveness::Unknown);
    }
}
