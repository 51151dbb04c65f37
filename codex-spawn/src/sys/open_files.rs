//! The files a process tree holds open: how codex-spawn knows codex's rollout for
//! certain when codex names no session in its output (codex is a Node launcher; the
//! native child it starts writes the rollout, and holds it open from the session's
//! start to its end).
//!
//! - Linux: `readlink /proc/<pid>/fd/*` of the process and its descendants (the
//!   children from [`codex_meta::sys::proc::children`]);
//! - elsewhere: not known (`None`).

use std::path::{Path, PathBuf};

/// The most processes of the tree looked at (codex, its native child, their tools).
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
const MAX_PROCESSES: usize = 64;

/// The files under `dir` (an absolute path without symlinks) that `pid` or one of its
/// descendants holds open now, each once; `None` where the platform cannot tell.
pub fn held_under(pid: i32, dir: &Path) -> Option<Vec<PathBuf>> {
    imp::held_under(pid, dir)
}

#[cfg(target_os = "linux")]
mod imp {
    use super::*;

    pub fn held_under(pid: i32, dir: &Path) -> Option<Vec<PathBuf>> {
        let mut procs = vec![pid];
        let mut i = 0;
        while i < procs.len() && procs.len() < MAX_PROCESSES {
            for c in codex_meta::sys::proc::children(procs[i]).unwrap_or_default() {
                if !procs.contains(&c) && procs.len() < MAX_PROCESSES {
                    procs.push(c);
                }
            }
            i += 1;
        }
        let mut out: Vec<PathBuf> = Vec::new();
        for p in procs {
            let Ok(fds) = std::fs::read_dir(format!("/proc/{p}/fd")) else {
                continue; // gone, or not ours to read
            };
            for fd in fds.flatten() {
                let Ok(target) = std::fs::read_link(fd.path()) else {
                    continue;
                };
                if target.starts_with(dir) && !out.contains(&target) {
                    out.push(target);
                }
            }
        }
        Some(out)
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use super::*;

    pub fn held_under(_pid: i32, _dir: &Path) -> Option<Vec<PathBuf>> {
        None
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn a_file_this_process_holds_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        let dir_path = std::fs::canonicalize(dir.path()).unwrap();
        let path = dir_path.join("held.jsonl");
        let file = std::fs::File::create(&path).unwrap();
        let me = std::process::id() as i32;
        let held = held_under(me, &dir_path).unwrap_or_default();
        assert_eq!(held, vec![path.clone()]);
        drop(file);
        assert_eq!(held_under(me, &dir_path), Some(Vec::new()));
    }
}
