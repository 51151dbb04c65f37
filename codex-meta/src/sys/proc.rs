//! What the kernel tells about processes, asked one process at a time: a process's
//! parent, group, session, state and start time ([`stat`]), its children ([`children`]),
//! and — where nothing adopts orphans — the members of a session ([`session`]). Nothing
//! here reads the whole process table on the way a run normally ends: the cost of
//! finding a run's processes follows the size of the run's tree, not the machine's.
//!
//! - Linux: `/proc/<pid>/stat`, and `/proc/<pid>/task/<tid>/children` of every thread
//!   (a child is listed under the thread that forked it, and codex's native binary forks
//!   from many). A kernel without that file (no `CONFIG_PROC_CHILDREN`) makes
//!   [`children`] answer `None`; the caller then derives the links from [`list`].
//!   A session's members: Linux has no call for them, so [`session`] reads the table —
//!   needed only where no subreaper adopts orphans (the `portable` build on Linux, a
//!   test of the macOS path).
//! - macOS: `proc_pidinfo(PROC_PIDTBSDINFO)` and `getsid`; `proc_listpids` with
//!   `PROC_PPID_ONLY` for the children, `PROC_ALL_PIDS` for the table, and for a session
//!   the user's own processes (`PROC_UID_ONLY`, filtered by the kernel) tried with
//!   `getsid`.
//! - elsewhere: nothing is known.

/// One process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proc {
    pub pid: i32,
    pub ppid: i32,
    pub pgid: i32,
    pub sid: i32,
    /// It has exited and waits to be reaped. Its children were re-parented before it
    /// became one, but a table read while that happened may show them under it: it
    /// stays in the table so such a child is still seen as a descendant.
    pub zombie: bool,
    /// When it started, as this platform counts (Linux: clock ticks since boot; macOS:
    /// microseconds since the epoch); `None` when the kernel did not say.
    pub start: Option<u64>,
}

impl Proc {
    /// The start time as the witness records it (`pid_start` in a meta): Linux the
    /// ticks (`/proc/<pid>/stat` field 22), macOS `SECONDS.MICROSECONDS` (6 digits).
    pub fn start_text(&self) -> Option<String> {
        let start = self.start?;
        Some(if cfg!(target_os = "macos") {
            format!("{}.{:06}", start / 1_000_000, start % 1_000_000)
        } else {
            start.to_string()
        })
    }
}

/// Every process this platform lets us see: the fallback where [`children`] cannot tell.
pub fn list() -> Vec<Proc> {
    imp::list()
}

/// One process, `None` when it is gone (or cannot be seen).
pub fn stat(pid: i32) -> Option<Proc> {
    imp::stat(pid)
}

/// The children of `pid` (zombies included), from every thread of it; `None` when the
/// platform cannot tell (then derive them from [`list`]).
pub fn children(pid: i32) -> Option<Vec<i32>> {
    imp::children(pid)
}

/// The members of session `sid` (zombies included).
pub fn session(sid: i32) -> Vec<i32> {
    imp::session(sid)
}

/// How many threads this process runs; `None` where the platform cannot tell.
pub fn own_threads() -> Option<u32> {
    imp::own_threads()
}

#[cfg(target_os = "linux")]
mod imp {
    use super::Proc;
    use std::io::Read;

    pub fn list() -> Vec<Proc> {
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        let mut buf = String::with_capacity(512);
        dir.flatten()
            .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()))
            .filter_map(|pid| stat_into(pid, &mut buf))
            .collect()
    }

    pub fn stat(pid: i32) -> Option<Proc> {
        stat_into(pid, &mut String::with_capacity(512))
    }

    fn read_stat(pid: i32, buf: &mut String) -> Option<()> {
        buf.clear();
        let mut f = std::fs::File::open(format!("/proc/{pid}/stat")).ok()?;
        f.read_to_string(buf).ok()?;
        Some(())
    }

    fn stat_into(pid: i32, buf: &mut String) -> Option<Proc> {
        read_stat(pid, buf)?;
        parse_stat(pid, buf)
    }

    pub fn own_threads() -> Option<u32> {
        let mut buf = String::with_capacity(512);
        read_stat(std::process::id() as i32, &mut buf)?;
        // field 20 (num_threads): the 18th after the command name
        fields(&buf)?.nth(17)?.parse().ok()
    }

    pub fn children(pid: i32) -> Option<Vec<i32>> {
        let tasks = match std::fs::read_dir(format!("/proc/{pid}/task")) {
            Ok(t) => t,
            // gone: no children (a vanished process is not "cannot tell")
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Some(Vec::new()),
            Err(_) => return None,
        };
        let mut out = Vec::new();
        let mut text = String::new();
        for task in tasks.flatten() {
            let mut path = task.path();
            path.push("children");
            text.clear();
            match std::fs::File::open(&path).and_then(|mut f| f.read_to_string(&mut text)) {
                Ok(_) => {}
                // the thread ended while we looked
                Err(_) if !task.path().exists() => continue,
                Err(_) => return None,
            }
            out.extend(
                text.split_ascii_whitespace()
                    .filter_map(|p| p.parse::<i32>().ok()),
            );
        }
        Some(out)
    }

    pub fn session(sid: i32) -> Vec<i32> {
        list()
            .into_iter()
            .filter(|p| p.sid == sid)
            .map(|p| p.pid)
            .collect()
    }

    /// The fields after the command name (field 3, the state, first): comm may hold
    /// anything — spaces, ')' — so they start after its last ')'.
    fn fields(stat: &str) -> Option<std::str::SplitAsciiWhitespace<'_>> {
        Some(stat[stat.rfind(')')? + 1..].split_ascii_whitespace())
    }

    /// `pid (comm) state ppid pgrp session … starttime(22) …`.
    pub fn parse_stat(pid: i32, stat: &str) -> Option<Proc> {
        let mut f = fields(stat)?;
        let state = f.next()?;
        Some(Proc {
            pid,
            ppid: f.next()?.parse().ok()?,
            pgid: f.next()?.parse().ok()?,
            sid: f.next()?.parse().ok()?,
            zombie: state == "Z" || state == "X",
            // field 22: 16 after the session (field 6)
            start: f.nth(15).and_then(|s| s.parse().ok()),
        })
    }

    #[cfg(test)]
    #[test]
    fn stat_lines_parse_whatever_the_command_name() {
        let p = parse_stat(7, "7 (a) b) (c) S 1 7 5 0 -1 4194560 0").unwrap();
        assert_eq!((p.ppid, p.pgid, p.sid), (1, 7, 5));
        assert!(parse_stat(7, "7 (z) Z 1 7 5").unwrap().zombie);
        assert!(!p.zombie);
        assert_eq!(p.start, None, "a line cut short has no start time");
        let full = "9 (x y) S 1 9 9 0 -1 4194560 80 0 0 0 1 2 0 0 20 0 3 0 123456 1 2";
        let p = parse_stat(9, full).unwrap();
        assert_eq!(
            (p.start, p.start_text().as_deref()),
            (Some(123456), Some("123456"))
        );
    }
}

#[cfg(target_os = "macos")]
mod imp {
    use super::Proc;

    /// `proc_listpids` kinds (<sys/proc_info.h>; not in the libc crate).
    const PROC_ALL_PIDS: u32 = 1;
    const PROC_UID_ONLY: u32 = 4;
    const PROC_PPID_ONLY: u32 = 6;

    /// The pids `proc_listpids(kind, arg)` lists. (It answers in bytes; the wrappers
    /// `proc_listallpids` and `proc_listchildpids` answer in pids.)
    fn pids(kind: u32, arg: u32) -> Vec<i32> {
        let mut cap = 64usize;
        loop {
            let mut buf = vec![0 as libc::pid_t; cap];
            let bytes = (cap * std::mem::size_of::<libc::pid_t>()) as libc::c_int;
            // SAFETY: `buf` holds `bytes` bytes; the kernel writes at most that many.
            let n = unsafe { libc::proc_listpids(kind, arg, buf.as_mut_ptr().cast(), bytes) };
            if n <= 0 {
                return Vec::new();
            }
            let got = n as usize / std::mem::size_of::<libc::pid_t>();
            // a full buffer may have been cut: ask again with room to spare
            if got < cap || cap >= 1 << 20 {
                buf.truncate(got);
                return buf;
            }
            cap *= 4;
        }
    }

    /// The libproc structs [`pidinfo`] fills: plain C data, for which all-zero bytes are
    /// a valid value.
    trait PidInfo: Copy {
        const FLAVOR: libc::c_int;
    }
    impl PidInfo for libc::proc_bsdinfo {
        const FLAVOR: libc::c_int = libc::PROC_PIDTBSDINFO;
    }
    impl PidInfo for libc::proc_taskinfo {
        const FLAVOR: libc::c_int = libc::PROC_PIDTASKINFO;
    }

    /// `proc_pidinfo(pid, T::FLAVOR)`, when it filled the whole struct.
    fn pidinfo<T: PidInfo>(pid: i32) -> Option<T> {
        let size = std::mem::size_of::<T>() as libc::c_int;
        // SAFETY: T is one of the plain C structs above (zero bytes are a valid T), and
        // proc_pidinfo writes at most `size` bytes into it.
        let (n, info) = unsafe {
            let mut info: T = std::mem::zeroed();
            let n = libc::proc_pidinfo(pid, T::FLAVOR, 0, (&raw mut info).cast(), size);
            (n, info)
        };
        (n == size).then_some(info)
    }

    pub fn list() -> Vec<Proc> {
        pids(PROC_ALL_PIDS, 0)
            .into_iter()
            .filter_map(stat)
            .collect()
    }

    pub fn stat(pid: i32) -> Option<Proc> {
        let info = pidinfo::<libc::proc_bsdinfo>(pid)?;
        let sid =
            nix::unistd::getsid(Some(nix::unistd::Pid::from_raw(pid))).map_or(-1, |p| p.as_raw());
        Some(Proc {
            pid,
            ppid: info.pbi_ppid as i32,
            pgid: info.pbi_pgid as i32,
            sid,
            // SZOMB = 5
            zombie: info.pbi_status == 5,
            start: Some(info.pbi_start_tvsec * 1_000_000 + info.pbi_start_tvusec),
        })
    }

    pub fn own_threads() -> Option<u32> {
        let info = pidinfo::<libc::proc_taskinfo>(std::process::id() as i32)?;
        u32::try_from(info.pti_threadnum).ok()
    }

    pub fn children(pid: i32) -> Option<Vec<i32>> {
        Some(pids(PROC_PPID_ONLY, pid as u32))
    }

    pub fn session(sid: i32) -> Vec<i32> {
        // No libproc call lists a session (and KERN_PROC_SESSION's kinfo_proc is not in
        // the libc crate): the kernel lists this user's processes — a run's processes
        // are all its user's — and getsid picks the session's.
        let uid = nix::unistd::geteuid().as_raw();
        pids(PROC_UID_ONLY, uid)
            .into_iter()
            .filter(|&p| {
                p > 0
                    && nix::unistd::getsid(Some(nix::unistd::Pid::from_raw(p)))
                        .is_ok_and(|s| s.as_raw() == sid)
            })
            .collect()
    }
}

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
mod imp {
    pub fn list() -> Vec<super::Proc> {
        Vec::new()
    }

    pub fn stat(_pid: i32) -> Option<super::Proc> {
        None
    }

    pub fn children(_pid: i32) -> Option<Vec<i32>> {
        None
    }

    pub fn session(_sid: i32) -> Vec<i32> {
        Vec::new()
    }

    pub fn own_threads() -> Option<u32> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_listed_with_its_parent() {
        let me = std::process::id() as i32;
        let all = list();
        let p = all
            .iter()
            .find(|p| p.pid == me)
            .expect("this process is listed");
        assert_eq!(p.ppid, nix::unistd::getppid().as_raw());
        assert_eq!(p.pgid, nix::unistd::getpgrp().as_raw());
        assert_eq!(stat(me), Some(*p));
        assert!(session(p.sid).contains(&me));
        assert!(p.start.is_some());
        assert!(own_threads().is_some_and(|n| n >= 1), "{:?}", own_threads());
    }

    #[test]
    fn the_children_of_every_thread_are_listed() {
        // a child forked from a second thread is listed under that thread (while it
        // lives; then it goes to another thread of the process)
        let (tx, rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let child = std::process::Command::new("sleep").arg("5").spawn();
            let _ = tx.send(child);
            let _ = done_rx.recv();
        });
        let mut child = rx.recv().expect("the thread ran").expect("sleep starts");
        let listed = children(std::process::id() as i32);
        let _ = child.kill();
        let _ = child.wait();
        let _ = done_tx.send(());
        let _ = thread.join();
        let listed = listed.expect("children can be told here");
        assert!(listed.contains(&(child.id() as i32)), "{listed:?}");
        assert_eq!(children(i32::MAX), Some(Vec::new()));
    }
}
