//! Finding and killing every process of a run, wherever it moved.
//!
//! A process belongs to the run when it descends from the root (the keeper, which as a
//! subreaper on Linux adopts every orphan of the tree — so also those that moved to
//! another session or group), when it is in the keeper's session (the keeper starts a
//! fresh session, so every member is a process codex started, unless it made a session
//! of its own), or when it descends from a member of that session (codex runs its tools
//! in sessions of their own; where there is no subreaper, their parent chain is what
//! ties them to us).
//!
//! The run's processes are found by walking down from the root through the kernel's
//! children lists ([`proc_table::children`]): the cost follows the run's tree, never the
//! machine's process count. Only where nothing adopts orphans ([`Scope::adopted`] false:
//! macOS, the portable build) are the sessions' members asked for too; a kernel that
//! cannot list children makes the walk use the whole table instead.
//!
//! Killing is done in rounds: each round first freezes (SIGSTOP) everything it finds,
//! looking again until nothing new appears — a stopped process can neither fork nor
//! lose its parent while we look — then SIGKILLs all of it. A round that finds nobody
//! ends it; SIGKILL cannot be ignored.

use std::collections::HashSet;

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use codex_meta::sys::proc::{self as proc_table, Proc};

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
    /// The root is a subreaper: every orphan of the run was re-parented into its tree,
    /// so the walk down from it finds every process of the run, and the sessions need
    /// not be listed.
    pub adopted: bool,
}

/// Where the parent–child links come from: the kernel's children lists, or (a kernel
/// without them) one read of the whole table.
enum Links {
    Kernel,
    Table(Vec<Proc>),
}

impl Links {
    fn now() -> Links {
        match proc_table::children(std::process::id() as i32) {
            Some(_) => Links::Kernel,
            None => Links::Table(proc_table::list()),
        }
    }

    fn children(&self, pid: i32) -> Vec<i32> {
        match self {
            Links::Kernel => proc_table::children(pid).unwrap_or_default(),
            Links::Table(t) => t.iter().filter(|p| p.ppid == pid).map(|p| p.pid).collect(),
        }
    }

    fn session(&self, sid: i32) -> Vec<i32> {
        match self {
            Links::Kernel => proc_table::session(sid),
            Links::Table(t) => t.iter().filter(|p| p.sid == sid).map(|p| p.pid).collect(),
        }
    }

    fn stat(&self, pid: i32) -> Option<Proc> {
        match self {
            Links::Kernel => proc_table::stat(pid),
            Links::Table(t) => t.iter().find(|p| p.pid == pid).copied(),
        }
    }
}

impl Scope<'_> {
    fn is_spared(&self, pid: i32) -> bool {
        self.spare.iter().any(|s| s.as_raw() == pid)
    }

    /// The processes of the run alive now, found through `links` (zombies have exited:
    /// they only link children to their ancestors).
    fn walk(&self, links: &Links) -> Vec<i32> {
        let me = std::process::id() as i32;
        let mut todo = links.children(self.root.as_raw());
        if !self.adopted {
            for s in self.sessions {
                todo.extend(links.session(s.as_raw()));
            }
        }
        let mut seen = HashSet::new();
        let mut alive = Vec::new();
        while let Some(pid) = todo.pop() {
            if pid <= 1 || pid == me || pid == self.root.as_raw() || self.is_spared(pid) {
                continue;
            }
            if !seen.insert(pid) {
                continue;
            }
            let Some(p) = links.stat(pid) else { continue };
            if !p.zombie {
                alive.push(pid);
            }
            todo.extend(links.children(pid));
        }
        alive
    }
}

/// The children of `pid` (zombies included), where the kernel cannot list them from the
/// whole table.
pub fn children(pid: i32) -> Vec<i32> {
    match proc_table::children(pid) {
        Some(c) => c,
        None => Links::Table(proc_table::list()).children(pid),
    }
}

/// The processes of the run alive now.
pub fn members(scope: &Scope<'_>) -> Vec<i32> {
    scope.walk(&Links::now())
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
            start: None,
        }
    }

    fn table() -> Vec<Proc> {
        vec![
            p(10, 1, 10),  // the keeper (root), its own session
            p(11, 10, 10), // codex
            p(12, 11, 10), // codex's native binary
            p(13, 12, 13), // a tool in a session of its own, still a descendant
            p(14, 1, 10),  // an orphan that went to init, still in the session
            p(18, 14, 18), // a tool in its own session under that orphan
            p(15, 1, 15),  // a stranger
            p(16, 10, 16), // spared, and
            p(17, 16, 16), // what descends from it
            p(19, 1, 19),  // an orphan of its own session: not ours to find
        ]
    }

    fn walked(adopted: bool) -> Vec<i32> {
        let spare = [Pid::from_raw(16)];
        let sessions = [Pid::from_raw(10)];
        let scope = Scope {
            root: Pid::from_raw(10),
            sessions: &sessions,
            spare: &spare,
            adopted,
        };
        let mut owned = scope.walk(&Links::Table(table()));
        owned.sort_unstable();
        owned
    }

    #[test]
    fn the_run_is_the_keepers_session_and_descendants_minus_the_spared() {
        assert_eq!(walked(false), [11, 12, 13, 14, 18]);
    }

    #[test]
    fn with_a_subreaper_the_walk_is_the_roots_tree_alone() {
        // 14 and 18 went to init, which a subreaper would not let happen: not looked for
        assert_eq!(walked(true), [11, 12, 13]);
    }

    #[test]
    fn the_walk_through_the_kernel_finds_a_grandchild_in_a_session_of_its_own() {
        // this test process is the root: sh (in our session) starts a setsid sleep
        let mut sh = std::process::Command::new("sh")
            .args(["-c", "setsid sleep 5 & echo $!; wait"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("sh starts");
        let mut line = String::new();
        let out = sh.stdout.take().expect("piped");
        std::io::BufRead::read_line(&mut std::io::BufReader::new(out), &mut line)
            .expect("sh says the pid");
        let sleep: i32 = line.trim().parse().expect("a pid");
        let me = Pid::from_raw(std::process::id() as i32);
        let scope = Scope {
            root: me,
            sessions: &[],
            spare: &[],
            adopted: true,
        };
        let found = scope.walk(&Links::Kernel);
        let _ = nix::sys::signal::kill(Pid::from_raw(sleep), Signal::SIGKILL);
        let _ = sh.wait();
        assert!(found.contains(&(sh.id() as i32)), "{found:?}");
        assert!(found.contains(&sleep), "{found:?}");
    }
}
