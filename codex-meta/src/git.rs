//! The git command line, as the worktree code runs it: an argv (never a shell), in a
//! process group of its own (a Ctrl-C or a scheduler's SIGTERM to the supervisor's
//! group never cuts a commit in half), with no hooks of the repo (a post-checkout
//! `npm install`, a commit hook that reads the terminal or pushes; nor the
//! `core.fsmonitor` command, a hook by another name — the repo's filters, git-lfs
//! among them, do run, as in any checkout of it), and with the caller's
//! `GIT_DIR`/`GIT_WORK_TREE`/`GIT_INDEX_FILE` removed, so that git finds the repo from
//! the directory it is given. Also the lock that keeps our runs off git's own locks.
//!
//! Why in codex-meta: a run's worktree is part of its record (`Worktree`), made by
//! codex-spawn and removed by `codex-meta prune`; both run git the same way, and take the
//! same lock, from here.

use std::ffi::OsStr;
use std::fs::File;
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use nix::fcntl::{Flock, FlockArg};

/// The environment variables that point git at a repository other than the one of the
/// directory it runs in: removed for our git commands, and for codex and the check.
pub const REPO_ENV: [&str; 8] = [
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_COMMON_DIR",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_QUARANTINE_PATH",
    "GIT_NAMESPACE",
];

/// The name of the directory (in the git common dir) that holds the runs' worktrees.
pub const WORKTREES_DIR: &str = "codex-worktrees";

/// Run git in `dir` with `args`; the output, or one line saying why it could not run.
pub fn git<I, S>(dir: &Path, args: I) -> Result<Output, String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new("git");
    cmd.arg("-C")
        .arg(dir)
        .args([
            "-c",
            "core.hooksPath=/dev/null",
            "-c",
            "core.fsmonitor=false",
        ])
        .args(args);
    for var in REPO_ENV {
        cmd.env_remove(var);
    }
    cmd.env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .process_group(0)
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => "git was not found in PATH".to_owned(),
            _ => format!("cannot run git: {e}"),
        })
}

/// git's first line of complaint (its `fatal:`/`error:` line when there is one).
pub fn complaint(o: &Output) -> String {
    let err = String::from_utf8_lossy(&o.stderr);
    let line = err
        .lines()
        .find(|l| l.starts_with("fatal:") || l.starts_with("error:"))
        .or_else(|| err.lines().find(|l| !l.trim().is_empty()))
        .unwrap_or("git failed without a message");
    line.trim().to_owned()
}

/// git's stdout, trimmed, when it exited 0.
pub fn git_text<I, S>(dir: &Path, args: I) -> Result<String, String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let o = git(dir, args)?;
    if o.status.success() {
        Ok(String::from_utf8_lossy(&o.stdout).trim().to_owned())
    } else {
        Err(complaint(&o))
    }
}

/// A branch that keeps `branch` from being made: one at a leading part of its path
/// (`a` for `a/b`), or one under it (`a/b` for `a`) — refs are files and directories.
pub fn branch_in_the_way(top: &Path, branch: &str) -> Result<Option<String>, String> {
    let mut at = 0;
    while let Some(slash) = branch[at..].find('/') {
        let parent = &branch[..at + slash];
        if branch_exists(top, parent)? {
            return Ok(Some(parent.to_owned()));
        }
        at += slash + 1;
    }
    let under = git_text(
        top,
        [
            "for-each-ref",
            "--count=1",
            "--format=%(refname:short)",
            &format!("refs/heads/{branch}/"),
        ],
    )?;
    Ok((!under.is_empty()).then_some(under))
}

/// The paths `.gitmodules` of the work tree `wt` registers (none without the file).
pub fn submodule_paths(wt: &Path) -> std::collections::HashSet<String> {
    let Ok(o) = git(
        wt,
        [
            "config",
            "--file",
            ".gitmodules",
            "--null",
            "--get-regexp",
            r"^submodule\..*\.path$",
        ],
    ) else {
        return Default::default();
    };
    // `key\nvalue\0` records
    o.stdout
        .split(|&b| b == 0)
        .filter_map(|r| {
            let nl = r.iter().position(|&b| b == b'\n')?;
            Some(String::from_utf8_lossy(&r[nl + 1..]).into_owned())
        })
        .collect()
}

/// Whether the checkout at `dir` is a git work tree at commit `object` with nothing
/// changed or untracked in it.
pub fn clean_at(dir: &Path, object: &str) -> bool {
    let at = git_text(dir, ["rev-parse", "HEAD"]).is_ok_and(|h| h == object);
    at && git(
        dir,
        [
            "--no-optional-locks",
            "status",
            "--porcelain",
            "--untracked-files=all",
        ],
    )
    .is_ok_and(|o| o.status.success() && o.stdout.is_empty())
}

pub fn branch_exists(top: &Path, branch: &str) -> Result<bool, String> {
    let o = git(
        top,
        [
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("refs/heads/{branch}"),
        ],
    )?;
    Ok(o.status.success())
}

/// Where `branch` is checked out, if anywhere (`git worktree list --porcelain`).
pub fn checked_out_at(top: &Path, branch: &str) -> Result<Option<String>, String> {
    let list = git_text(top, ["worktree", "list", "--porcelain"])?;
    let want = format!("branch refs/heads/{branch}");
    let mut path = None;
    for line in list.lines() {
        if let Some(p) = line.strip_prefix("worktree ") {
            path = Some(p.to_owned());
        } else if line == want {
            return Ok(path);
        }
    }
    Ok(None)
}

/// `<common>/codex-worktrees`, made (0700) when missing, never through a symlink.
pub fn worktrees_dir(common: &Path) -> Result<PathBuf, String> {
    let dir = common.join(WORKTREES_DIR);
    match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(format!("cannot make {}: {e}", dir.display())),
    }
    match std::fs::symlink_metadata(&dir) {
        Ok(m) if m.file_type().is_dir() => Ok(dir),
        Ok(_) => Err(format!("{} is not a directory (refused)", dir.display())),
        Err(e) => Err(format!("{}: {e}", dir.display())),
    }
}

/// The lock that serialises our git operations on one repo's worktrees: parallel runs
/// never meet on git's own lock files (`git worktree add` and `remove` take several).
pub fn repo_lock(dir: &Path) -> Result<Flock<File>, String> {
    let path = dir.join(".lock");
    let file = crate::files::create_or_open_private(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, e)| format!("{}: {e}", path.display()))
}

/// Run a git command that may meet a lock file of another git (the user's own, at the
/// same moment): a few tries, spaced, `undo` between them (what the failed try made).
pub fn git_retrying(dir: &Path, args: &[&OsStr], undo: &dyn Fn()) -> Result<Output, String> {
    let mut last = None;
    for pause in [50u64, 200, 500, 1000, 0] {
        let o = git(dir, args)?;
        if o.status.success() {
            return Ok(o);
        }
        let why = complaint(&o);
        let locked = why.contains(".lock") || why.contains("Unable to create");
        last = Some(why);
        if !locked || pause == 0 {
            break;
        }
        undo();
        std::thread::sleep(Duration::from_millis(pause));
    }
    Err(last.unwrap_or_default())
}

/// The paths `git status --porcelain=v1 -z` lists (a rename or copy is one, though it
/// names two).
pub fn status_entries(out: &[u8]) -> usize {
    let mut n = 0;
    let mut fields = out.split(|&b| b == 0).filter(|f| !f.is_empty());
    while let Some(entry) = fields.next() {
        n += 1;
        if entry.len() > 3 && (matches!(entry[0], b'R' | b'C') || matches!(entry[1], b'R' | b'C')) {
            fields.next(); // the rename's source
        }
    }
    n
}

/// `git diff --numstat -z`: files, insertions, deletions (a binary file counts as a file).
pub fn numstat(out: &[u8]) -> (u64, u64, u64) {
    let (mut files, mut ins, mut del) = (0, 0, 0);
    let mut fields = out.split(|&b| b == 0);
    while let Some(entry) = fields.next() {
        if entry.is_empty() {
            continue;
        }
        // "<ins>\t<del>\t<path>" or, for a rename, "<ins>\t<del>\t" then two paths
        let text = String::from_utf8_lossy(entry);
        let mut parts = text.splitn(3, '\t');
        let (Some(i), Some(d), rest) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        files += 1;
        ins += i.parse::<u64>().unwrap_or(0);
        del += d.parse::<u64>().unwrap_or(0);
        if rest.is_some_and(str::is_empty) {
            fields.next();
            fields.next();
        }
    }
    (files, ins, del)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_counts_a_rename_once() {
        assert_eq!(status_entries(b" M a.txt\0R  new.rs\0old.rs\0?? x\0"), 3);
        assert_eq!(status_entries(b""), 0);
    }

    #[test]
    fn numstat_sums_files_and_lines() {
        let out = b"3\t1\ta.txt\x00-\t-\tbin.png\x000\t0\t\x00old.rs\x00new.rs\x00";
        assert_eq!(numstat(out), (3, 3, 1));
        assert_eq!(numstat(b""), (0, 0, 0));
    }
}
