//! The files a process tree holds open: how codex-spawn knows codex's rollout for
//! certain when codex names no session in its output (codex is a Node launcher; the
//! native child it starts writes the rollout, and holds it open from the session's
//! start to its end).
//!
//! - Linux: `readlink /proc/<pid>/fd/*` of the process and its descendants (the
//!   children from [`codex_meta::sys::proc::children`]); [`written_elsewhere`] looks at
//!   every process but this one, and at the files each holds open for writing (its
//!   `fdinfo` flags: codex holds its rollout `O_RDWR|O_APPEND`, a reader holds one
//!   `O_RDONLY`);
//! - elsewhere: not known (`None`).

use std::path::{Path, PathBuf};

/// Whether this platform tells which files a process holds open.
pub const CAN_TELL: bool = cfg!(target_os = "linux");

/// The most processes of the tree looked at (codex, its native child, their tools).
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
const MAX_PROCESSES: usize = 64;

/// The files under `dir` (an absolute path without symlinks) that `pid` or one of its
/// descendants holds open now, each once; `None` where the platform cannot tell.
pub fn held_under(pid: i32, dir: &Path) -> Option<Vec<PathBuf>> {
    imp::held_under(pid, dir)
}

/// The files under `dir` (an absolute path without symlinks) that some process other
/// than this one holds open for writing now, each once; `None` where the platform
/// cannot tell.
///
/// It reads every process's open files, so its cost grows with the machine's process
/// count: it is for a question asked once per attempt at most (whose is this rollout),
/// never for a loop.
pub fn written_elsewhere(dir: &Path) -> Option<Vec<PathBuf>> {
    imp::written_elsewhere(dir)
}

#[cfg(target_os = "linux")]
mod imp {
    use super::*;

    /// Adds the files under `dir` that `pid` holds open (`writing`: for writing) to `out`.
    fn held_by(pid: i32, dir: &Path, writing: bool, out: &mut Vec<PathBuf>) {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            return; // gone, or not ours to read
        };
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            if !target.starts_with(dir) || out.contains(&target) {
                continue;
            }
            if !writing || for_writing(pid, &fd.file_name()) {
                out.push(target);
            }
        }
    }

    /// Does `pid` hold its descriptor `fd` open for writing? (`flags:` in its `fdinfo`,
    /// octal; the access mode is its low two bits: 0 is `O_RDONLY`.)
    fn for_writing(pid: i32, fd: &std::ffi::OsStr) -> bool {
        let path = Path::new("/proc")
            .join(pid.to_string())
            .join("fdinfo")
            .join(fd);
        let Ok(info) = std::fs::read_to_string(path) else {
            return false; // closed meanwhile
        };
        info.lines()
            .find_map(|l| l.strip_prefix("flags:"))
            .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
            .is_some_and(|flags| flags & 0o3 != 0)
    }

    pub fn written_elsewhere(dir: &Path) -> Option<Vec<PathBuf>> {
        let me = std::process::id() as i32;
        let mut out = Vec::new();
        for e in std::fs::read_dir("/proc").ok()?.flatten() {
            let pid = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok());
            if let Some(pid) = pid.filter(|&p| p != me) {
                held_by(pid, dir, true, &mut out);
            }
        }
        Some(out)
    }

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
            held_by(p, dir, false, &mut out);
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

    pub fn written_elsewhere(_dir: &Path) -> Option<Vec<PathBuf>> {
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

    #[test]
    fn a_file_another_process_writes_is_written_elsewhere_but_not_one_it_reads() {
        let dir = tempfile::tempdir().unwrap();
        let dir_path = std::fs::canonicalize(dir.path()).unwrap();
        let theirs = dir_path.join("theirs.jsonl");
        let read = dir_path.join("read.jsonl");
        let ours = dir_path.join("ours.jsonl");
        std::fs::write(&theirs, "").unwrap();
        std::fs::write(&read, "").unwrap();
        let _file = std::fs::File::create(&ours).unwrap();
        // as codex holds its rollout (O_RDWR|O_APPEND), and a reader one (O_RDONLY)
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg("exec 3<>\"$0\" 4<\"$1\"; echo ready; exec sleep 30")
            .arg(&theirs)
            .arg(&read)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut ready = String::new();
        let out = child.stdout.take().unwrap();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(out), &mut ready).unwrap();
        let held = written_elsewhere(&dir_path).unwrap_or_default();
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(held, vec![theirs.clone()]);
        assert_eq!(written_elsewhere(&dir_path), Some(Vec::new()));
    }
}
