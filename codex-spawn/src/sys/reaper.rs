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
    use nix::sys::prctl;
    use nix::sys::signal::Signal;

    pub fn adopts_orphans() -> bool {
        prctl::get_child_subreaper().unwrap_or(false)
    }

    pub fn become_subreaper() -> bool {
        prctl::set_child_subreaper(true).is_ok()
    }

    /// prctl, getppid and raise: system calls, async-signal-safe.
    pub fn die_with_parent(parent: libc::pid_t) {
        let _ = prctl::set_pdeathsig(Signal::SIGKILL);
        // the parent may have died before prctl: then nobody would tell us
        if nix::unistd::getppid().as_raw() != parent {
            let _ = nix::sys::signal::raise(Signal::SIGKILL);
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
