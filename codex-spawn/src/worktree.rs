//! `--worktree`: the run works in a git worktree of its own, on a branch of its own, so
//! parallel runs on one repo never edit the same files (nor the main checkout's).
//!
//! Three steps, each where a fault can still be told the way the user needs it:
//! 1. [`plan`], before any run file exists: the repo is a git work tree, `--base`
//!    resolves to a commit, `--branch` is a free, valid name (a resumed run's branch
//!    exists and is not checked out elsewhere). A fault is a usage error (exit 2) and
//!    nothing is left behind.
//! 2. [`Plan::create`], once the run id is known and before the meta is written:
//!    `git worktree add` into `<git common dir>/codex-worktrees/<run id>` (inside `.git`:
//!    never an untracked file of the main checkout, and on its filesystem), under a lock
//!    of ours so that parallel runs never meet on git's own lock files. A failure undoes
//!    what it made (exit 2).
//! 3. [`Active::finish`], after the last attempt: what codex left uncommitted is
//!    committed to the branch (no empty commit), the branch's change is counted, and the
//!    directory is removed (the branch stays) unless `--keep-worktree`. A killed run's
//!    worktree is left as it is, for inspection; a run that never started codex leaves
//!    nothing.
//!
//! Only the git command line is used, always with an argv (never a shell), with the
//! caller's `GIT_DIR`/`GIT_WORK_TREE`/`GIT_INDEX_FILE` removed so that git finds the repo
//! from the directory it is given.

use std::ffi::OsStr;
use std::fs::File;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use codex_meta::{Status, Worktree};
use nix::fcntl::{Flock, FlockArg};

use crate::error::SpawnError;

/// What `--worktree [--base REF] [--branch NAME] [--keep-worktree]` asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    pub base: Option<String>,
    pub branch: Option<String>,
    pub keep: bool,
}

/// The branch a resumed session worked on, from the run that worked there.
#[derive(Debug, Clone)]
pub struct Prior {
    pub run_id: String,
    pub worktree: Worktree,
}

/// The name of the directory (in the git common dir) that holds the runs' worktrees.
pub const WORKTREES_DIR: &str = "codex-worktrees";

/// Checked, not yet made: see the module docs.
#[derive(Debug)]
pub struct Plan {
    /// The main checkout's top directory.
    top: PathBuf,
    /// `--repo` below `top` (codex works in the same place of the worktree).
    sub: PathBuf,
    /// The git common dir (absolute).
    common: PathBuf,
    base: String,
    base_ref: String,
    /// `--branch`, or the resumed run's branch; `None`: `codex/<run id>`.
    branch: Option<String>,
    prior: Option<String>,
    keep: bool,
    /// Paths with uncommitted changes in the main checkout (not carried over).
    pub dirty: usize,
}

/// A run's worktree, made.
#[derive(Debug)]
pub struct Active {
    top: PathBuf,
    /// Where codex and the check run (the worktree, or `--repo`'s place in it).
    pub workdir: PathBuf,
    /// Whether the branch was made for this run (a resumed one was not).
    new_branch: bool,
    keep: bool,
    pub record: Worktree,
    pub dirty: usize,
}

fn usage(text: impl Into<String>) -> SpawnError {
    SpawnError::usage(text)
}

/// Run git in `dir` with `args`; the output, or one line saying why it could not run.
fn git<I, S>(dir: &Path, args: I) -> Result<Output, String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => "git was not found in PATH".to_owned(),
            _ => format!("cannot run git: {e}"),
        })
}

/// git's first line of complaint (its `fatal:`/`error:` line when there is one).
fn complaint(o: &Output) -> String {
    let err = String::from_utf8_lossy(&o.stderr);
    let line = err
        .lines()
        .find(|l| l.starts_with("fatal:") || l.starts_with("error:"))
        .or_else(|| err.lines().find(|l| !l.trim().is_empty()))
        .unwrap_or("git failed without a message");
    line.trim().to_owned()
}

/// git's stdout, trimmed, when it exited 0.
fn git_text<I, S>(dir: &Path, args: I) -> Result<String, String>
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

fn branch_exists(top: &Path, branch: &str) -> Result<bool, String> {
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
fn checked_out_at(top: &Path, branch: &str) -> Result<Option<String>, String> {
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

/// Step 1 of the module docs: everything that can be checked before a file exists.
pub fn plan(repo: &Path, req: &Request, prior: Option<Prior>) -> Result<Plan, SpawnError> {
    let shown = repo.display();
    let top = git_text(repo, ["rev-parse", "--show-toplevel"]).map_err(|e| {
        usage(format!(
            "--worktree: {shown} is not in a git work tree ({e})"
        ))
    })?;
    let top = PathBuf::from(top);
    let common = git_text(repo, ["rev-parse", "--git-common-dir"])
        .map_err(|e| usage(format!("--worktree: {shown}: {e}")))?;
    let common = std::fs::canonicalize(repo.join(&common))
        .map_err(|e| usage(format!("--worktree: git dir {common}: {e}")))?;
    let sub = std::fs::canonicalize(&top)
        .ok()
        .and_then(|t| repo.strip_prefix(t).ok().map(Path::to_path_buf))
        .unwrap_or_default();

    let (branch, base_ref, prior_run) = match prior {
        Some(p) => {
            if req.base.is_some() || req.branch.is_some() {
                return Err(usage(format!(
                    "--base/--branch: the session resumed ran in a worktree (run {}): it continues on its branch {}",
                    p.run_id, p.worktree.branch
                )));
            }
            let b = p.worktree.branch.clone();
            match branch_exists(&top, &b) {
                Ok(true) => {}
                Ok(false) => {
                    return Err(usage(format!(
                        "--worktree: branch {b} of run {} no longer exists in {}",
                        p.run_id,
                        top.display()
                    )));
                }
                Err(e) => return Err(usage(format!("--worktree: {e}"))),
            }
            if let Some(at) =
                checked_out_at(&top, &b).map_err(|e| usage(format!("--worktree: {e}")))?
            {
                return Err(usage(format!(
                    "--worktree: branch {b} of run {} is checked out at {at}: remove that worktree first (git worktree remove {at})",
                    p.run_id
                )));
            }
            (Some(b.clone()), b, Some(p.run_id))
        }
        None => {
            if let Some(b) = &req.branch {
                let ok = git(&top, ["check-ref-format", "--branch", b])
                    .map_err(|e| usage(format!("--worktree: {e}")))?;
                if !ok.status.success() || b.starts_with('-') {
                    return Err(usage(format!("--branch '{b}': not a valid branch name")));
                }
                if branch_exists(&top, b).map_err(|e| usage(format!("--worktree: {e}")))? {
                    return Err(usage(format!(
                        "--branch {b}: a branch of that name exists in {} (choose another, or delete it: git branch -D {b})",
                        top.display()
                    )));
                }
            }
            (
                req.branch.clone(),
                req.base.clone().unwrap_or_else(|| "HEAD".to_owned()),
                None,
            )
        }
    };
    if base_ref.starts_with('-') {
        return Err(usage(format!("--base '{base_ref}': not a commit")));
    }
    let base = git_text(
        &top,
        [
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{base_ref}^{{commit}}"),
        ],
    )
    .map_err(|_| match &req.base {
        Some(b) => usage(format!("--base {b}: not a commit in {}", top.display())),
        None => usage(format!(
            "--worktree: {} has no commit to start from (HEAD does not resolve)",
            top.display()
        )),
    })?;
    let dirty = git(
        &top,
        ["status", "--porcelain=v1", "-z", "--untracked-files=normal"],
    )
    .ok()
    .filter(|o| o.status.success())
    .map_or(0, |o| {
        o.stdout.split(|&b| b == 0).filter(|e| e.len() > 3).count()
    });
    Ok(Plan {
        top,
        sub,
        common,
        base,
        base_ref,
        branch,
        prior: prior_run,
        keep: req.keep,
        dirty,
    })
}

/// `<common>/codex-worktrees`, made (0700) when missing, never through a symlink.
fn worktrees_dir(common: &Path) -> Result<PathBuf, String> {
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
fn repo_lock(dir: &Path) -> Result<Flock<File>, String> {
    let path = dir.join(".lock");
    let file = match codex_meta::files::create_private(&path, false) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            codex_meta::files::open_regular_rw(&path)
                .map_err(|e| format!("{}: {e}", path.display()))?
        }
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, e)| format!("{}: {e}", path.display()))
}

/// Run a git command that may meet a lock file of another git (the user's own, at the
/// same moment): a few tries, spaced.
fn git_retrying(dir: &Path, args: &[&OsStr]) -> Result<Output, String> {
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
        std::thread::sleep(Duration::from_millis(pause));
    }
    Err(last.unwrap_or_default())
}

impl Plan {
    /// Step 2 of the module docs.
    pub fn create(self, run_id: &str) -> Result<Active, SpawnError> {
        let fail = |e: String| usage(format!("--worktree: {e}"));
        let dir = worktrees_dir(&self.common).map_err(fail)?;
        let path = dir.join(run_id);
        let (branch, new_branch) = match &self.branch {
            Some(b) if self.prior.is_some() => (b.clone(), false),
            Some(b) => (b.clone(), true),
            None => (format!("codex/{run_id}"), true),
        };
        let lock = repo_lock(&dir).map_err(fail)?;
        let mut args: Vec<&OsStr> = vec!["worktree".as_ref(), "add".as_ref(), "--quiet".as_ref()];
        if new_branch {
            args.extend([
                "-b".as_ref(),
                branch.as_ref(),
                path.as_os_str(),
                self.base.as_ref(),
            ]);
        } else {
            // a resumed branch is checked out (its head is the base)
            args.extend([path.as_os_str(), branch.as_ref()]);
        }
        if let Err(e) = git_retrying(&self.top, &args) {
            // undo whatever git made before it failed
            let _ = git(
                &self.top,
                [
                    OsStr::new("worktree"),
                    "remove".as_ref(),
                    "--force".as_ref(),
                    path.as_os_str(),
                ],
            );
            let _ = std::fs::remove_dir_all(&path);
            if new_branch && branch_exists(&self.top, &branch).unwrap_or(false) {
                let _ = git(&self.top, ["branch", "-D", &branch]);
            }
            return Err(fail(format!("git worktree add {}: {e}", path.display())));
        }
        drop(lock);
        Ok(Active {
            workdir: if self.sub.as_os_str().is_empty() {
                path.clone()
            } else {
                path.join(&self.sub)
            },
            top: self.top,
            new_branch,
            keep: self.keep,
            dirty: self.dirty,
            record: Worktree {
                path: path.display().to_string(),
                branch,
                base: self.base,
                base_ref: Some(self.base_ref),
                resumed_from: self.prior,
                state: Some("active".to_owned()),
                ..Worktree::default()
            },
        })
    }
}

/// The first line of the task, short, for the commit message.
fn subject(task: &str) -> String {
    let line = task
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let mut s: String = line.chars().take(60).collect();
    if line.chars().count() > 60 {
        s.push('…');
    }
    s
}

impl Active {
    fn path(&self) -> &Path {
        Path::new(&self.record.path)
    }

    /// The run could not start after all: its worktree (and a branch made for it) go.
    pub fn discard(&self) {
        let _lock = self.path().parent().and_then(|d| repo_lock(d).ok());
        let _ = git(
            &self.top,
            [
                OsStr::new("worktree"),
                "remove".as_ref(),
                "--force".as_ref(),
                self.path().as_os_str(),
            ],
        );
        if self.new_branch {
            let _ = git(&self.top, ["branch", "-D", &self.record.branch]);
        }
    }

    /// Step 3 of the module docs. `started`: whether codex ever ran. Returns the lines
    /// for the log, and a warning when the run's work could not be committed or the
    /// directory not removed (the worktree is then left, nothing is lost).
    pub fn finish(
        &mut self,
        run_id: &str,
        task: &str,
        status: Status,
        started: bool,
    ) -> (Vec<String>, Option<String>) {
        let mut lines = Vec::new();
        if !started {
            // codex never ran (cancelled while queued, a failed dependency): nothing to keep
            self.remove(&mut lines);
            if self.new_branch && self.record.state.as_deref() == Some("removed") {
                let _ = git(&self.top, ["branch", "-D", &self.record.branch]);
                lines.push(format!(
                    "worktree: codex never started; branch {} deleted",
                    self.record.branch
                ));
            }
            self.record.changed = Some(false);
            return (lines, None);
        }
        if status == Status::Killed {
            self.record.state = Some("left".to_owned());
            self.count();
            lines.push(format!(
                "worktree: the run was killed: {} is left as it is, uncommitted (remove it with: git worktree remove --force {})",
                self.record.path, self.record.path
            ));
            return (lines, None);
        }
        if let Err(e) = self.commit_leftovers(run_id, task, &mut lines) {
            self.record.state = Some("left".to_owned());
            self.count();
            let w = format!(
                "worktree: cannot commit codex's changes: {e}; {} is left as it is",
                self.record.path
            );
            lines.push(w.clone());
            return (lines, Some(w));
        }
        self.count();
        match (self.record.changed, &self.record.commit) {
            (Some(false), _) => lines.push(format!(
                "worktree: no changes: branch {} is still at its base {}",
                self.record.branch,
                short(&self.record.base)
            )),
            (_, Some(c)) => lines.push(format!(
                "worktree: branch {} at {}: {} files changed, +{} -{}",
                self.record.branch,
                short(c),
                self.record.files_changed.unwrap_or(0),
                self.record.insertions.unwrap_or(0),
                self.record.deletions.unwrap_or(0)
            )),
            _ => {}
        }
        if self.keep {
            self.record.state = Some("kept".to_owned());
            lines.push(format!(
                "worktree: kept at {} (--keep-worktree)",
                self.record.path
            ));
            return (lines, None);
        }
        let warning = self.remove(&mut lines);
        (lines, warning)
    }

    /// `git add -A` and a commit when anything is staged.
    fn commit_leftovers(
        &mut self,
        run_id: &str,
        task: &str,
        lines: &mut Vec<String>,
    ) -> Result<(), String> {
        let wt = self.path().to_path_buf();
        let add = git(&wt, ["add", "-A"])?;
        if !add.status.success() {
            return Err(format!("git add -A: {}", complaint(&add)));
        }
        let staged = git(&wt, ["diff", "--cached", "--quiet"])?;
        if staged.status.code() == Some(1) {
            let mut args: Vec<String> = Vec::new();
            // the user's identity when git has one, else ours (a CI machine has none)
            if !git(&wt, ["var", "GIT_COMMITTER_IDENT"])?.status.success() {
                args.extend(
                    [
                        "-c",
                        "user.name=codex-spawn",
                        "-c",
                        "user.email=codex-spawn@localhost",
                    ]
                    .map(str::to_owned),
                );
            }
            args.extend(
                [
                    "-c",
                    "commit.gpgsign=false",
                    "-c",
                    "gc.auto=0",
                    "-c",
                    "maintenance.auto=false",
                    "commit",
                    "--quiet",
                    "--no-verify",
                    "-m",
                ]
                .map(str::to_owned),
            );
            let mut message = format!("codex-spawn run {run_id}");
            let s = subject(task);
            if !s.is_empty() {
                message.push_str(": ");
                message.push_str(&s);
            }
            message.push_str(&format!(
                "\n\nWhat codex left uncommitted at the end of run {run_id}."
            ));
            args.push(message);
            let o = git(&wt, &args)?;
            if !o.status.success() {
                return Err(format!("git commit: {}", complaint(&o)));
            }
            let head = git_text(&wt, ["rev-parse", "HEAD"])?;
            lines.push(format!(
                "worktree: committed what codex left uncommitted to {} as {}",
                self.record.branch,
                short(&head)
            ));
            self.record.leftovers_commit = Some(head);
        } else if !staged.status.success() {
            return Err(format!("git diff --cached: {}", complaint(&staged)));
        }
        Ok(())
    }

    /// The branch head and `git diff --numstat base head`, summed, into the record.
    fn count(&mut self) {
        let wt = self.path().to_path_buf();
        let Ok(head) = git_text(&wt, ["rev-parse", "HEAD"]) else {
            return;
        };
        self.record.changed = Some(head != self.record.base);
        if let Ok(o) = git(&wt, ["diff", "--numstat", "-z", &self.record.base, &head]) {
            if o.status.success() {
                let (files, ins, del) = numstat(&o.stdout);
                self.record.files_changed = Some(files);
                self.record.insertions = Some(ins);
                self.record.deletions = Some(del);
            }
        }
        self.record.commit = Some(head);
    }

    /// Remove the directory (the branch stays); a warning when it cannot be.
    fn remove(&mut self, lines: &mut Vec<String>) -> Option<String> {
        let dir = self.path().parent().map(Path::to_path_buf);
        let _lock = dir.as_deref().and_then(|d| repo_lock(d).ok());
        let args = [
            OsStr::new("worktree"),
            "remove".as_ref(),
            "--force".as_ref(),
            self.path().as_os_str(),
        ];
        match git_retrying(&self.top, &args) {
            Ok(_) => {
                self.record.state = Some("removed".to_owned());
                lines.push(format!(
                    "worktree: {} removed (branch {} kept)",
                    self.record.path, self.record.branch
                ));
                None
            }
            Err(e) => {
                self.record.state = Some("left".to_owned());
                let w = format!("worktree: cannot remove {}: {e}", self.record.path);
                lines.push(w.clone());
                Some(w)
            }
        }
    }
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

/// `git diff --numstat -z`: files, insertions, deletions (a binary file counts as a file).
fn numstat(out: &[u8]) -> (u64, u64, u64) {
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
    fn numstat_sums_files_and_lines() {
        let out = b"3\t1\ta.txt\x00-\t-\tbin.png\x000\t0\t\x00old.rs\x00new.rs\x00";
        assert_eq!(numstat(out), (3, 3, 1));
        assert_eq!(numstat(b""), (0, 0, 0));
    }

    #[test]
    fn subject_is_the_first_line_short() {
        assert_eq!(subject("\n  fix the tests \nand more"), "fix the tests");
        assert_eq!(subject(&"x".repeat(100)).chars().count(), 61);
        assert_eq!(subject(""), "");
    }
}
