//! The second witness of a run's liveness: its supervisor's pid, that process's start
//! time, and the machine's boot id, all kept in the meta (`pid`, `pid_start`, `boot_id`).
//!
//! Why it exists: the first witness, the owner's flock on the run's log, is lost when the
//! log is deleted, renamed over or rotated while the run goes on — and a reader would
//! call a live run `lost`. A pid alone is not enough (pids are reused); a pid with the
//! start time of the process that holds it, on the same boot of the same host, names one
//! process for good. `lost` needs both witnesses gone ([`crate::effective_status_at`]).
//!
//! What differs by platform is in [`crate::sys`]: the start time from the process table
//! ([`crate::sys::proc`]: `/proc/<pid>/stat` field 22 | `proc_pidinfo`), the boot id,
//! the signal and the wait ([`crate::sys::pid`]: pidfd | kqueue); elsewhere there is no
//! witness (the lock alone judges) and waiting probes every 100 ms.

use std::time::{Duration, Instant};

use crate::Meta;
use crate::sys::pid as imp;

/// The start time of process `pid`, as the witness records it; `None` when it is gone
/// or has exited (a zombie is not running any more).
fn start_time(pid: u32) -> Option<String> {
    let p = crate::sys::proc::stat(i32::try_from(pid).ok()?)?;
    if p.zombie {
        return None;
    }
    p.start_text()
}

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
            start: start_time(pid)?,
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
        match start_time(self.pid) {
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
pub(crate) fn signal_after_check(
    w: &Witness,
    signal: nix::sys::signal::Signal,
) -> std::io::Result<bool> {
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
pub(crate) fn wait_by_probing(w: &Witness, deadline: Option<Instant>) -> bool {
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
