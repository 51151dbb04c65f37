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
use std::path::{Path, PathBuf};

use codex_meta::{Status, Worktree};

use crate::error::SpawnError;

mod git;
use git::{
    branch_exists, checked_out_at, complaint, git, git_retrying, git_text, numstat, repo_lock,
    worktrees_dir,
};

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
    /// What the preamble warns of: uncommitted changes of the main checkout (not carried
    /// over), submodules (not checked out).
    pub notes: Vec<String>,
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
    /// See [`Plan::notes`].
    pub notes: Vec<String>,
}

fn usage(text: impl Into<String>) -> SpawnError {
    SpawnError::usage(text)
}

/// Step 1 of the module docs: everything that can be checked before a file exists.
/// Why a resumed run's branch cannot be checked out, and what to do about it.
fn busy_branch(branch: &str, run: &str, at: &str, top: &Path) -> String {
    if Path::new(at) == top {
        format!(
            "--worktree: branch {branch} of run {run} is checked out in the main checkout {at}: switch that to another branch first (git -C {at} switch -)"
        )
    } else {
        format!(
            "--worktree: branch {branch} of run {run} is checked out at {at}: remove that worktree first (git worktree remove {at})"
        )
    }
}

/// `queued`: the run waits (`--after`, `--max-running`) and its worktree is made when it
/// leaves the queue — what may change meanwhile (a base that an earlier run's branch will
/// be, a resumed branch still checked out by the run it follows) is judged then.
pub fn plan(
    repo: &Path,
    req: &Request,
    prior: Option<Prior>,
    queued: bool,
) -> Result<Plan, SpawnError> {
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
                // the run it follows may not have made it yet: judged at the end of the queue
                Ok(false) if queued => {}
                Ok(false) => {
                    return Err(usage(format!(
                        "--worktree: branch {b} of run {} no longer exists in {}",
                        p.run_id,
                        top.display()
                    )));
                }
                Err(e) => return Err(usage(format!("--worktree: {e}"))),
            }
            let busy = if queued {
                None
            } else {
                checked_out_at(&top, &b).map_err(|e| usage(format!("--worktree: {e}")))?
            };
            if let Some(at) = busy {
                return Err(usage(busy_branch(&b, &p.run_id, &at, &top)));
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
                        "--branch {b}: a branch of that name exists in {} (choose another name)",
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
    let resolved = git_text(
        &top,
        [
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{base_ref}^{{commit}}"),
        ],
    );
    let base = match (resolved, queued) {
        (Ok(b), _) => b,
        // judged when the run leaves its queue (an earlier run's branch, say)
        (Err(_), true) => String::new(),
        (Err(_), false) => {
            return Err(match &req.base {
                Some(b) => usage(format!("--base {b}: not a commit in {}", top.display())),
                None => usage(format!(
                    "--worktree: {} has no commit to start from (HEAD does not resolve)",
                    top.display()
                )),
            });
        }
    };
    // --no-optional-locks: a look that never rewrites the main checkout's index under
    // the user's own git
    let dirty = git(
        &top,
        [
            "--no-optional-locks",
            "status",
            "--porcelain=v1",
            "-z",
            "--untracked-files=normal",
        ],
    )
    .ok()
    .filter(|o| o.status.success())
    .map_or(0, |o| git::status_entries(&o.stdout));
    let mut notes = Vec::new();
    if dirty > 0 {
        notes.push(format!(
            "the main checkout has {dirty} uncommitted path(s); they are not in the worktree"
        ));
    }
    if !base.is_empty()
        && git(&top, ["cat-file", "-e", &format!("{base}:.gitmodules")])
            .is_ok_and(|o| o.status.success())
    {
        notes.push(
            "the base has submodules (.gitmodules): they are not checked out in the worktree"
                .to_owned(),
        );
    }
    Ok(Plan {
        top,
        sub,
        common,
        base,
        base_ref,
        branch,
        prior: prior_run,
        keep: req.keep,
        notes,
    })
}

impl Plan {
    /// Where the run's worktree goes: `<git common dir>/codex-worktrees/<run id>`.
    pub fn path(&self, run_id: &str) -> PathBuf {
        self.common.join(WORKTREES_DIR).join(run_id)
    }

    /// Where codex and the check run: the worktree, or `--repo`'s place in it.
    pub fn workdir(&self, run_id: &str) -> PathBuf {
        let path = self.path(run_id);
        if self.sub.as_os_str().is_empty() {
            path
        } else {
            path.join(&self.sub)
        }
    }

    fn branch_for(&self, run_id: &str) -> (String, bool) {
        match &self.branch {
            Some(b) if self.prior.is_some() => (b.clone(), false),
            Some(b) => (b.clone(), true),
            None => (format!("codex/{run_id}"), true),
        }
    }

    /// The record of a worktree to be made when the run leaves its queue (the base is
    /// taken then: a run `--after` another can start from that one's result).
    pub fn pending(&self, run_id: &str) -> Worktree {
        Worktree {
            path: self.path(run_id).display().to_string(),
            branch: self.branch_for(run_id).0,
            base: self.base.clone(),
            base_ref: Some(self.base_ref.clone()),
            resumed_from: self.prior.clone(),
            state: Some("pending".to_owned()),
            ..Worktree::default()
        }
    }

    /// Step 2 of the module docs.
    pub fn create(self, run_id: &str) -> Result<Active, SpawnError> {
        let fail = |e: String| usage(format!("--worktree: {e}"));
        let dir = worktrees_dir(&self.common).map_err(fail)?;
        let path = self.path(run_id);
        let workdir = self.workdir(run_id);
        let (branch, new_branch) = self.branch_for(run_id);
        let lock = repo_lock(&dir).map_err(fail)?;
        // looked at again under the lock, just before: the base may have moved since
        // the plan (a queued run), and a branch of that name may have come
        let base = git_text(
            &self.top,
            [
                "rev-parse",
                "--verify",
                "--quiet",
                &format!("{}^{{commit}}", self.base_ref),
            ],
        )
        .map_err(|_| fail(format!("{} no longer names a commit", self.base_ref)))?;
        if !new_branch {
            if let Some(at) = checked_out_at(&self.top, &branch).map_err(fail)? {
                let run = self.prior.clone().unwrap_or_default();
                return Err(usage(busy_branch(&branch, &run, &at, &self.top)));
            }
        }
        if new_branch && branch_exists(&self.top, &branch).map_err(fail)? {
            return Err(fail(format!(
                "a branch {branch} exists in {} (made since the run was launched)",
                self.top.display()
            )));
        }
        let mut args: Vec<&OsStr> = vec!["worktree".as_ref(), "add".as_ref(), "--quiet".as_ref()];
        if new_branch {
            args.extend([
                "-b".as_ref(),
                branch.as_ref(),
                path.as_os_str(),
                base.as_ref(),
            ]);
        } else {
            // a resumed branch is checked out (its head is the base)
            args.extend([path.as_os_str(), branch.as_ref()]);
        }
        // undo whatever a failed add made (only a branch this run made is deleted)
        let undo = || {
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
            // git's record of this worktree only (a prune would forget the user's own
            // worktrees whose directory is out of reach at the moment)
            let _ = std::fs::remove_dir_all(self.common.join("worktrees").join(run_id));
            if new_branch && branch_exists(&self.top, &branch).unwrap_or(false) {
                let _ = git(&self.top, ["branch", "-D", &branch]);
            }
        };
        if let Err(e) = git_retrying(&self.top, &args, &undo) {
            undo();
            return Err(fail(format!("git worktree add {}: {e}", path.display())));
        }
        if !workdir.is_dir() {
            undo();
            return Err(fail(format!(
                "{} does not exist at {} (--repo is a directory the base does not have)",
                self.sub.display(),
                self.base_ref
            )));
        }
        drop(lock);
        Ok(Active {
            workdir,
            top: self.top,
            new_branch,
            keep: self.keep,
            notes: self.notes,
            record: Worktree {
                path: path.display().to_string(),
                branch,
                base,
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
                self.record.state = Some("discarded".to_owned());
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
                "worktree: the run was killed: {} is left as it is, {} path(s) uncommitted (look before you remove it: git -C {} status)",
                self.record.path,
                self.record.uncommitted.unwrap_or(0),
                self.record.path
            ));
            return (lines, None);
        }
        if let Some(off) = self.off_branch() {
            self.record.state = Some("left".to_owned());
            self.count();
            let w = format!(
                "worktree: {off}: nothing was committed and {} is left as it is",
                self.record.path
            );
            lines.push(w.clone());
            return (lines, Some(w));
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

    /// Why the worktree is no place to commit to its branch: codex left HEAD on
    /// another branch or detached, or a rebase or merge under way (a commit there would
    /// not be on the branch, and removing the worktree would lose it).
    fn off_branch(&self) -> Option<String> {
        let wt = self.path().to_path_buf();
        let want = format!("refs/heads/{}", self.record.branch);
        match git_text(&wt, ["symbolic-ref", "-q", "HEAD"]) {
            Ok(head) if head == want => {}
            Ok(head) => return Some(format!("codex left HEAD on {head}, not on {want}")),
            Err(_) => return Some("codex left HEAD detached".to_owned()),
        }
        for (marker, what) in [
            ("rebase-merge", "a rebase"),
            ("rebase-apply", "a rebase"),
            ("MERGE_HEAD", "a merge"),
            ("CHERRY_PICK_HEAD", "a cherry-pick"),
        ] {
            let p = git_text(&wt, ["rev-parse", "--git-path", marker]).ok()?;
            if wt.join(&p).exists() || Path::new(&p).exists() {
                return Some(format!("codex left {what} under way"));
            }
        }
        None
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

    /// The branch head and `git diff --numstat base head`, summed, into the record; for a
    /// worktree left as it is, also what codex did not commit.
    fn count(&mut self) {
        let wt = self.path().to_path_buf();
        if self.record.state.as_deref() == Some("left") {
            if let Ok(o) = git(
                &wt,
                ["--no-optional-locks", "status", "--porcelain=v1", "-z"],
            ) {
                if o.status.success() {
                    self.record.uncommitted = Some(git::status_entries(&o.stdout) as u64);
                }
            }
        }
        let Ok(head) = git_text(
            &wt,
            [
                "rev-parse",
                "--verify",
                "--quiet",
                &format!("refs/heads/{}", self.record.branch),
            ],
        ) else {
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
        match git_retrying(&self.top, &args, &|| {}) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_is_the_first_line_short() {
        assert_eq!(subject("\n  fix the tests \nand more"), "fix the tests");
        assert_eq!(subject(&"x".repeat(100)).chars().count(), 61);
        assert_eq!(subject(""), "");
    }
}
