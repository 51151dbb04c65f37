//! The files a process tree holds open, where the platform tells it: the exact evidence
//! of which rollout codex is writing (codex holds its session's rollout open while it
//! runs), however many runs of the same task share a directory.
//!
//! - Linux: the links in `/proc/<pid>/fd` of the process and everything below it (found
//!   down the kernel's children lists, [`super::proc_table::children`]);
//! - elsewhere: `None` (macOS could ask `proc_pidinfo(PROC_PIDLISTFDS)`; not done: the
//!   rollouts' own evidence is used there).

use std::path::{Path, PathBuf};

/// The files under `dir` that `root` or a process below it holds open; `None` where the
/// platform cannot tell.
pub fn held_under(root: i32, dir: &Path) -> Option<Vec<PathBuf>> {
    imp::held_under(root, dir)
}

#[cfg(target_os = "linux")]
mod imp {
    use std::path::{Path, PathBuf};

    /// A run's tree is small; a bound keeps a runaway fork bomb from making this slow.
    const MOST: usize = 4096;

    pub fn held_under(root: i32, dir: &Path) -> Option<Vec<PathBuf>> {
        // the links name canonical paths
        let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
        let dir = dir.as_path();
        let mut todo = vec![root];
        let mut seen = Vec::new();
        let mut out: Vec<PathBuf> = Vec::new();
        while let Some(pid) = todo.pop() {
            if seen.contains(&pid) || seen.len() >= MOST {
                continue;
            }
            seen.push(pid);
            if let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) {
                for fd in fds.flatten() {
                    if let Ok(target) = std::fs::read_link(fd.path()) {
                        if target.starts_with(dir) && !out.contains(&target) {
                            out.push(target);
                        }
                    }
                }
            }
            todo.extend(super::super::proc_table::children(pid).unwrap_or_default());
        }
        Some(out)
    }

    #[cfg(test)]
    #[test]
    fn a_file_held_by_a_child_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("held.jsonl");
        std::fs::write(&file, "x").unwrap();
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("exec 7<'{}'; sleep 5", file.display()))
            .spawn()
            .unwrap();
        let me = std::process::id() as i32;
        let mut held = Vec::new();
        for _ in 0..100 {
            held = held_under(me, dir.path()).unwrap();
            if !held.is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(held, [std::fs::canonicalize(&file).unwrap()]);
        assert_eq!(
            held_under(me, Path::new("/nonexistent-dir")),
            Some(Vec::new())
        );
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use std::path::{Path, PathBuf};

    pub fn held_under(_root: i32, _dir: &Path) -> Option<Vec<PathBuf>> {
        None
    }
}
