//! What the kernel tells about the processes of a run, asked one process at a time: a
//! process's parent, group, session and state ([`stat`]), its children ([`children`]),
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
//! - macOS: `proc_pidinfo(PROC_PIDTBSDINFO)` and `getsid`, `proc_listchildpids`, and
//!   for a session the user's own processes (`proc_listpids(PROC_UID_ONLY)`, filtered by
//!   the kernel) tried with `getsid`.
//! - elsewhere: nothing is known (the keeper then kills codex's process group only).

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

    fn stat_into(pid: i32, buf: &mut String) -> Option<Proc> {
        buf.clear();
        let mut f = std::fs::File::open(format!("/proc/{pid}/stat")).ok()?;
        f.read_to_string(buf).ok()?;
        parse_stat(pid, buf)
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

    /// `pid (comm) state ppid pgrp session …` — comm may hold anything, so the fields
    /// are taken after its last ')'.
    pub fn parse_stat(pid: i32, stat: &str) -> Option<Proc> {
        let rest = &stat[stat.rfind(')')? + 1..];
        let mut f = rest.split_ascii_whitespace();
        let state = f.next()?;
        Some(Proc {
            pid,
            ppid: f.next()?.parse().ok()?,
            pgid: f.next()?.parse().ok()?,
            sid: f.next()?.parse().ok()?,
            zombie: state == "Z" || state == "X",
        })
    }

    #[cfg(test)]
    #[test]
    fn stat_lines_parse_whatever_the_command_name() {
        let p = parse_stat(7, "7 (a) b) (c) S 1 7 5 0 -1 4194560 0").unwrap();
        assert_eq!((p.ppid, p.pgid, p.sid), (1, 7, 5));
        assert!(parse_stat(7, "7 (z) Z 1 7 5").unwrap().zombie);
        assert!(!p.zombie);
    }
}

#[cfg(target_os = "macos")]
mod imp {
    use super::Proc;

    /// Fill `buf` from a libproc call returning the bytes written; the pids it holds.
    fn pids(mut call: impl FnMut(*mut libc::c_void, libc::c_int) -> libc::c_int) -> Vec<i32> {
        let mut cap = 64usize;
        loop {
            let mut buf = vec![0 as libc::pid_t; cap];
            let bytes = (cap * std::mem::size_of::<libc::pid_t>()) as libc::c_int;
            let n = call(buf.as_mut_ptr().cast(), bytes);
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

    pub fn list() -> Vec<Proc> {
        // SAFETY: the buffer holds `bytes` bytes.
        let all = pids(|buf, bytes| unsafe { libc::proc_listallpids(buf, bytes) });
        all.into_iter().filter_map(stat).collect()
    }

    pub fn stat(pid: i32) -> Option<Proc> {
        let mut info = std::mem::MaybeUninit::<libc::proc_bsdinfo>::zeroed();
        let size = std::mem::size_of::<libc::proc_bsdinfo>() as libc::c_int;
        // SAFETY: the buffer is a zeroed proc_bsdinfo of the size given.
        let got = unsafe {
            libc::proc_pidinfo(
                pid,
                libc::PROC_PIDTBSDINFO,
                0,
                info.as_mut_ptr().cast(),
                size,
            )
        };
        if got != size {
            return None;
        }
        // SAFETY: proc_pidinfo filled it.
        let info = unsafe { info.assume_init() };
        // SAFETY: getsid takes any pid.
        let sid = unsafe { libc::getsid(pid) };
        Some(Proc {
            pid,
            ppid: info.pbi_ppid as i32,
            pgid: info.pbi_pgid as i32,
            sid,
            // SZOMB = 5
            zombie: info.pbi_status == 5,
        })
    }

    pub fn children(pid: i32) -> Option<Vec<i32>> {
        // SAFETY: the buffer holds `bytes` bytes.
        Some(pids(|buf, bytes| unsafe {
            libc::proc_listchildpids(pid, buf, bytes)
        }))
    }

    /// `PROC_UID_ONLY` of <sys/proc_info.h> (not in the libc crate).
    const PROC_UID_ONLY: u32 = 4;

    pub fn session(sid: i32) -> Vec<i32> {
        // No libproc call lists a session (and KERN_PROC_SESSION's kinfo_proc is not in
        // the libc crate): the kernel lists this user's processes — a run's processes
        // are all its user's — and getsid picks the session's.
        // SAFETY: geteuid cannot fail.
        let uid = unsafe { libc::geteuid() };
        // SAFETY: the buffer holds `bytes` bytes.
        let mine =
            pids(|buf, bytes| unsafe { libc::proc_listpids(PROC_UID_ONLY, uid, buf, bytes) });
        // SAFETY: getsid takes any pid.
        mine.into_iter()
            .filter(|&p| p > 0 && unsafe { libc::getsid(p) } == sid)
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
