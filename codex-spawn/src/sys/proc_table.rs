//! The process table, as much of it as the keeper needs to find every process of a run:
//! each process's pid, parent, process group and session.
//!
//! - Linux: `/proc/<pid>/stat`;
//! - macOS: `proc_listallpids` and `proc_pidinfo(PROC_PIDTBSDINFO)`, with `getsid(2)`;
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

/// Every process this platform lets us see.
pub fn list() -> Vec<Proc> {
    imp::list()
}

/// The children of `pid` (zombies included), from one small read where the platform
/// has one (Linux: `/proc/<pid>/task/<pid>/children`); `None` when it cannot tell.
pub fn children(pid: i32) -> Option<Vec<i32>> {
    imp::children(pid)
}

#[cfg(target_os = "linux")]
mod imp {
    use super::Proc;

    pub fn list() -> Vec<Proc> {
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        let mut out = Vec::with_capacity(512);
        let mut buf = String::with_capacity(512);
        for entry in dir.flatten() {
            let name = entry.file_name();
            let Some(pid) = name.to_str().and_then(|n| n.parse::<i32>().ok()) else {
                continue;
            };
            buf.clear();
            let path = format!("/proc/{pid}/stat");
            let Ok(mut f) = std::fs::File::open(&path) else {
                continue;
            };
            use std::io::Read;
            if f.read_to_string(&mut buf).is_err() {
                continue;
            }
            if let Some(p) = parse_stat(pid, &buf) {
                out.push(p);
            }
        }
        out
    }

    pub fn children(pid: i32) -> Option<Vec<i32>> {
        // a single-threaded process: its main thread's list is the process's
        let text = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).ok()?;
        text.split_whitespace().map(|p| p.parse().ok()).collect()
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

    pub fn children(pid: i32) -> Option<Vec<i32>> {
        Some(
            list()
                .into_iter()
                .filter(|p| p.ppid == pid)
                .map(|p| p.pid)
                .collect(),
        )
    }

    pub fn list() -> Vec<Proc> {
        // SAFETY: a null buffer asks for the number of pids.
        let n = unsafe { libc::proc_listallpids(std::ptr::null_mut(), 0) };
        if n <= 0 {
            return Vec::new();
        }
        let mut pids = vec![0 as libc::pid_t; n as usize + 64];
        let bytes = (pids.len() * std::mem::size_of::<libc::pid_t>()) as libc::c_int;
        // SAFETY: the buffer holds `bytes` bytes.
        let n = unsafe { libc::proc_listallpids(pids.as_mut_ptr().cast(), bytes) };
        if n <= 0 {
            return Vec::new();
        }
        pids.truncate(n as usize);
        let mut out = Vec::with_capacity(pids.len());
        for pid in pids {
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
                continue;
            }
            // SAFETY: proc_pidinfo filled it.
            let info = unsafe { info.assume_init() };
            // SAFETY: getsid takes any pid.
            let sid = unsafe { libc::getsid(pid) };
            out.push(Proc {
                pid,
                ppid: info.pbi_ppid as i32,
                pgid: info.pbi_pgid as i32,
                sid,
                // SZOMB = 5
                zombie: info.pbi_status == 5,
            });
        }
        out
    }
}

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
mod imp {
    pub fn list() -> Vec<super::Proc> {
        Vec::new()
    }

    pub fn children(_pid: i32) -> Option<Vec<i32>> {
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
    }
}
