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

use codex_meta::Worktree;

use crate::error::SpawnError;

mod end;
use codex_meta::git::{
    self, branch_exists, checked_out_at, git, git_retrying, git_text, repo_lock, worktrees_dir,
};

/// The default branch of a run is `<this>/<run id>`.
const DEFAULT_BRANCH_PREFIX: &str = "codex";
/// The longest part of a `--branch` between slashes (bytes): a ref is a file named after
/// it, whose `.lock` must fit in a file name (255 bytes).
const MAX_BRANCH_PART: usize = 240;

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

pub use codex_meta::git::{REPO_ENV, WORKTREES_DIR};

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
            "--worktree: branch {branch} of run {run} is checked out at {at}: look at what it holds, then remove it (git worktree remove --force {at})"
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
        Some(p) => prior_branch(&top, req, p, queued)?,
        None => {
            if let Some(b) = &req.branch {
                check_new_branch(&top, b)?;
            } else if branch_exists(&top, DEFAULT_BRANCH_PREFIX).map_err(gitfail)? {
                return Err(usage(format!(
                    "--worktree: a branch named {DEFAULT_BRANCH_PREFIX} exists in {}, so no {DEFAULT_BRANCH_PREFIX}/<run id> branch can be made: give --branch NAME",
                    top.display()
                )));
            }
            (
                req.branch.clone(),
                req.base.clone().unwrap_or_else(|| "HEAD".to_owned()),
                None,
            )
        }
    };
    let base = resolve_base(&top, req, &base_ref, queued)?;
    let notes = checkout_notes(&top, &base);
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

fn gitfail(e: impl std::fmt::Display) -> SpawnError {
    usage(format!("--worktree: {e}"))
}

/// A resumed run's worktree goes on on the branch of the run it resumes: it must still
/// exist and not be checked out elsewhere (both judged later for a queued run). Returns
/// (branch, base ref, the prior run's id).
fn prior_branch(
    top: &Path,
    req: &Request,
    p: Prior,
    queued: bool,
) -> Result<(Option<String>, String, Option<String>), SpawnError> {
    if req.base.is_some() || req.branch.is_some() {
        return Err(usage(format!(
            "--base/--branch: the session resumed ran in a worktree (run {}): it continues on its branch {}",
            p.run_id, p.worktree.branch
        )));
    }
    let b = p.worktree.branch.clone();
    match branch_exists(top, &b) {
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
        Err(e) => return Err(gitfail(e)),
    }
    let busy = if queued {
        None
    } else {
        checked_out_at(top, &b).map_err(gitfail)?
    };
    if let Some(at) = busy {
        return Err(usage(busy_branch(&b, &p.run_id, &at, top)));
    }
    Ok((Some(b.clone()), b, Some(p.run_id)))
}

/// `--branch NAME` must be a valid name that git can make beside the others.
fn check_new_branch(top: &Path, b: &str) -> Result<(), SpawnError> {
    let ok = git(top, ["check-ref-format", "--branch", b]).map_err(gitfail)?;
    // (a ref is a file: a name longer than a file name can be fails in git)
    let why = if b.starts_with("refs/") {
        Some(" (give it without refs/heads/)")
    } else if b.split('/').any(|part| part.len() > MAX_BRANCH_PART) {
        Some(" (too long)")
    } else if !ok.status.success() || b.starts_with('-') {
        Some("")
    } else {
        None
    };
    if let Some(why) = why {
        return Err(usage(format!(
            "--branch '{}': not a valid branch name{why}",
            b.escape_debug()
        )));
    }
    if branch_exists(top, b).map_err(gitfail)? {
        return Err(usage(format!(
            "--branch {}: a branch of that name exists in {} (choose another name)",
            b.escape_debug(),
            top.display()
        )));
    }
    if let Some(other) = git::branch_in_the_way(top, b).map_err(gitfail)? {
        return Err(usage(format!(
            "--branch {}: branch {other} exists in {}, and git keeps no branch beside a branch of the same path (choose another name)",
            b.escape_debug(),
            top.display()
        )));
    }
    Ok(())
}

/// The base's commit (empty for a queued run whose base does not resolve yet: judged
/// when it leaves its queue — an earlier run's branch, say).
fn resolve_base(
    top: &Path,
    req: &Request,
    base_ref: &str,
    queued: bool,
) -> Result<String, SpawnError> {
    if base_ref.starts_with('-') {
        return Err(usage(format!(
            "--base '{}': not a commit",
            base_ref.escape_debug()
        )));
    }
    let resolved = git_text(
        top,
        [
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{base_ref}^{{commit}}"),
        ],
    );
    match (resolved, queued) {
        (Ok(b), _) => Ok(b),
        (Err(_), true) => Ok(String::new()),
        (Err(_), false) => Err(match &req.base {
            Some(b) => usage(format!(
                "--base {}: not a commit in {}",
                b.escape_debug(),
                top.display()
            )),
            None => usage(format!(
                "--worktree: {} has no commit to start from (HEAD does not resolve)",
                top.display()
            )),
        }),
    }
}

/// What is worth saying about the checkout: uncommitted paths of the main checkout
/// (not in the worktree), submodules (not checked out).
fn checkout_notes(top: &Path, base: &str) -> Vec<String> {
    // --no-optional-locks: a look that never rewrites the main checkout's index under
    // the user's own git
    let dirty = git(
        top,
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
        && git(top, ["cat-file", "-e", &format!("{base}:.gitmodules")])
            .is_ok_and(|o| o.status.success())
    {
        notes.push(
            "the base has submodules (.gitmodules): they are not checked out in the worktree"
                .to_owned(),
        );
    }
    notes
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
            None => (format!("{DEFAULT_BRANCH_PREFIX}/{run_id}"), true),
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
