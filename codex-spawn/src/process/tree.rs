//! Finding and killing every process of a run, wherever it moved.
//!
//! A process belongs to the run when it is in the keeper's session (the keeper starts a
//! fresh session, so every member is a process codex started, unless it made a session
//! of its own), when it descends from the keeper (which, as a subreaper on Linux, adopts
//! every orphan of the tree — so also those that moved to another session or group), or
//! when it descends from a member of that session (codex runs its tools in sessions of
//! their own; where there is no subreaper, their parent chain is what ties them to us).
//!
//! Killing is done in rounds: each round first freezes (SIGSTOP) everything it finds,
//! looking again until nothing new appears — a stopped process can neither fork nor
//! lose its parent while we look — then SIGKILLs all of it. A round that finds nobody
//! ends it; SIGKILL cannot be ignored.

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::sys::proc_table::{self, Proc};

/// How many rounds [`kill_all`] makes at most (each after a short pause).
const ROUNDS: u32 = 200;

/// Who is part of the run, and who must be spared.
#[derive(Debug, Clone)]
pub struct Scope<'a> {
    /// The process whose descendants belong to the run (never killed itself).
    pub root: Pid,
    /// Sessions whose every member belongs to the run.
    pub sessions: &'a [Pid],
    /// Processes (with what descends from them) that are not part of it.
    pub spare: &'a [Pid],
}

impl Scope<'_> {
    fn owns(&self, p: &Proc, table: &[Proc]) -> bool {
        let me = std::process::id() as i32;
        if p.pid == self.root.as_raw() || p.pid == me || self.is_spared(p.pid) {
            return false;
        }
        self.sessions.iter().any(|s| s.as_raw() == p.sid) || self.descends(p, table)
    }

    fn is_spared(&self, pid: i32) -> bool {
        self.spare.iter().any(|s| s.as_raw() == pid)
    }

    /// Does `p` descend from the root, or from a member of one of the sessions (not
    /// through a spared process)?
    fn descends(&self, p: &Proc, table: &[Proc]) -> bool {
        let mut ppid = p.ppid;
        for _ in 0..table.len().min(4096) {
            if ppid == self.root.as_raw() {
                return true;
            }
            if ppid <= 1 || self.is_spared(ppid) {
                return false;
            }
            match table.iter().find(|q| q.pid == ppid) {
                Some(q) if self.sessions.iter().any(|s| s.as_raw() == q.sid) => return true,
                Some(q) => ppid = q.ppid,
                None => return false,
            }
        }
        false
    }
}

/// The processes of the run alive now (zombies have exited: they only link children to
/// their ancestors).
pub fn members(scope: &Scope<'_>) -> Vec<Proc> {
    let table = proc_table::list();
    table
        .iter()
        .filter(|p| !p.zombie && scope.owns(p, &table))
        .copied()
        .collect()
}

/// SIGKILL every process of the run (see the module docs), round after round, until a
/// round finds nobody (or the rounds are spent: a process stuck in the kernel cannot die
/// at once). `reap` is called after each round to collect this process's dead children.
/// Returns how many processes were killed.
pub fn kill_all(scope: &Scope<'_>, mut reap: impl FnMut()) -> usize {
    let mut killed = 0;
    for round in 0..ROUNDS {
        let mut frozen: Vec<i32> = Vec::new();
        for _ in 0..64 {
            let new: Vec<i32> = members(scope)
                .into_iter()
                .map(|p| p.pid)
                .filter(|pid| !frozen.contains(pid))
                .collect();
            if new.is_empty() {
                break;
            }
            for &pid in &new {
                let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGSTOP);
            }
            frozen.extend(new);
        }
        if frozen.is_empty() {
            break;
        }
        for &pid in &frozen {
            if nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL).is_ok() {
                killed += 1;
            }
        }
        reap();
        std::thread::sleep(std::time::Duration::from_millis(if round < 10 {
            2
        } else {
            20
        }));
        reap();
    }
    killed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pid: i32, ppid: i32, sid: i32) -> Proc {
        Proc {
            pid,
            ppid,
            pgid: pid,
            sid,
            zombie: false,
        }
    }

    #[test]
    fn the_run_is_the_keepers_session_and_descendants_minus_the_spared() {
        let table = [
            p(10, 1, 10),  // the keeper (root), its own session
            p(11, 10, 10), // codex
            p(12, 11, 10), // codex's native binary
            p(13, 12, 13), // a tool in a session of its own, still a descendant
            p(14, 1, 10),  // an orphan that went to init, still in the session
            p(18, 14, 18), // a tool in its own session under that orphan
            p(15, 1, 15),  // a stranger
            p(16, 10, 16), // spared, and
            p(17, 16, 16), // what descends from it
        ];
        let spare = [Pid::from_raw(16)];
        let sessions = [Pid::from_raw(10)];
        let scope = Scope {
            root: Pid::from_raw(10),
            sessions: &sessions,
            spare: &spare,
        };
        let owned: Vec<i32> = table
            .iter()
            .filter(|q| scope.owns(q, &table))
            .map(|q| q.pid)
            .collect();
        assert_eq!(owned, [11, 12, 13, 14, 18]);
    }
}
