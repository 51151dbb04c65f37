//! Keeping a process tree together: who adopts the orphans, who dies with its parent.
//!
//! - Linux: the keeper (and the supervisor) are child subreapers
//!   (`PR_SET_CHILD_SUBREAPER`): a descendant whose parent dies is re-parented to them,
//!   not to init, so every process codex started stays in their tree, however it forks
//!   and whatever session or group it moves to. codex gets `PR_SET_PDEATHSIG(SIGKILL)`:
//!   it dies the moment its keeper does.
//! - portable (macOS; Linux with the `portable` feature): neither exists. Orphans go to
//!   init (launchd); the keeper still finds every process of its session and every
//!   descendant of its own ([`crate::process::tree`]), and a keeper killed by SIGKILL is
//!   noticed by the supervisor, which sweeps the keeper's session.

/// Make this process a child subreaper (Linux); false where there is no such thing.
pub fn become_subreaper() -> bool {
    imp::become_subreaper()
}

/// This process is a child subreaper (Linux, after [`become_subreaper`]): every orphan
/// of its tree comes back to it.
pub fn adopts_orphans() -> bool {
    imp::adopts_orphans()
}

/// In a forked child, before exec: die the moment `parent` (its parent) dies (Linux), or
/// do nothing (portable). If the parent is already gone, die now. Async-signal-safe.
pub fn die_with_parent(parent: libc::pid_t) {
    imp::die_with_parent(parent);
}

#[cfg(linux_native)]
mod imp {
    pub fn adopts_orphans() -> bool {
        let mut on: libc::c_int = 0;
        // SAFETY: PR_GET_CHILD_SUBREAPER writes one int through the pointer given.
        let rc = unsafe { libc::prctl(libc::PR_GET_CHILD_SUBREAPER, &mut on as *mut libc::c_int) };
        rc == 0 && on != 0
    }

    pub fn become_subreaper() -> bool {
        // SAFETY: prctl with integer arguments.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1 as libc::c_ulong, 0, 0, 0) == 0 }
    }

    pub fn die_with_parent(parent: libc::pid_t) {
        // SAFETY: prctl, getppid and raise are async-signal-safe system calls.
        unsafe {
            libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            );
            // the parent may have died before prctl: then nobody would tell us
            if libc::getppid() != parent {
                libc::raise(libc::SIGKILL);
            }
        }
    }
}

#[cfg(not(linux_native))]
mod imp {
    pub fn adopts_orphans() -> bool {
        false
    }

    pub fn become_subreaper() -> bool {
        false
    }

    pub fn die_with_parent(_parent: libc::pid_t) {}
}
