//! `codex-meta prune`: the files of ended runs, their worktrees, and their branches that
//! are merged into their base — removed, or (`dry_run`) only said.
//!
//! What is never removed: a run that is queued or running (its effective status, and a
//! log its supervisor still holds: a run whose final meta is written but whose closing
//! lines are not), a run that a queued run waits for (`--after`), a worktree with work
//! codex did not commit, a branch that is not merged into its base — the last two with
//! `force`. Each run is judged again under the runs dir's update lock just before its
//! files go, so a concurrent `codex-spawn`, `codex-meta set` or second prune sees the run
//! whole or not at all; a run that another prune removed first is passed over.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::git::{self, WORKTREES_DIR};
use crate::store::DirLock;
use crate::{Meta, MetaError, RunsDir, Status, Worktree, effective_status_at, is_held, read_meta};

/// What to prune.
#[derive(Debug, Clone, Default)]
pub struct PruneOptions {
    /// Only runs that ended longer ago than this.
    pub older_than: Option<Duration>,
    /// Only runs of these (effective, ended) statuses; empty: any ended run.
    pub statuses: Vec<Status>,
    /// Keep the newest N of the runs that match.
    pub keep: usize,
    /// Say what would go; remove nothing.
    pub dry_run: bool,
    /// Remove worktrees with uncommitted work and branches not merged, too.
    pub force: bool,
}

/// One thing removed (or, in a dry run, that would be).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removed {
    /// A file of the run (log, meta, summary, last message).
    File { path: PathBuf, bytes: u64 },
    /// The run's worktree, with the bytes its files took.
    Worktree { path: PathBuf, bytes: u64 },
    /// The run's branch.
    Branch { name: String },
}

/// What prune did, run by run, as it went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Something removed.
    Removed { run: String, what: Removed },
    /// Something kept that the options would have removed, and why (the refusals).
    Kept { run: String, why: String },
    /// Something that could not be removed (an I/O or git error).
    Failed { run: String, why: String },
}

/// The totals of a prune.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Runs whose files were removed.
    pub runs: usize,
    /// Bytes freed (files and worktrees).
    pub bytes: u64,
    /// Things kept by a refusal.
    pub kept: usize,
    /// Things that failed.
    pub failed: usize,
}

/// Prune `runs` (see the module docs); `event` is told each thing as it happens.
pub fn prune(
    runs: &RunsDir,
    opts: &PruneOptions,
    event: &mut dyn FnMut(&Event),
) -> Result<Totals, MetaError> {
    let mut totals = Totals::default();
    let mut tell = |e: Event, t: &mut Totals| {
        match &e {
            Event::Removed { what, .. } => {
                t.bytes += match what {
                    Removed::File { bytes, .. } | Removed::Worktree { bytes, .. } => *bytes,
                    Removed::Branch { .. } => 0,
                }
            }
            Event::Kept { .. } => t.kept += 1,
            Event::Failed { .. } => t.failed += 1,
        }
        event(&e);
    };
    let listed = runs.list()?;
    let awaited = awaited_by_queued(&listed);
    let now = SystemTime::now();
    let mut matching = 0usize;
    for run in &listed {
        let meta = match &run.meta {
            Ok(m) => m,
            // gone since the listing (another prune)
            Err(MetaError::NotFound { .. }) => continue,
            Err(e) => {
                // never removed on a guess: said, and left as it is
                let why = format!("{}: kept", crate::io::one_line(&e.to_string()));
                tell(
                    Event::Kept {
                        run: run.id.clone(),
                        why,
                    },
                    &mut totals,
                );
                continue;
            }
        };
        if !matches(meta, &run.meta_path, opts, now) {
            continue;
        }
        matching += 1;
        if matching <= opts.keep {
            continue;
        }
        let id = crate::display_id(meta, &run.meta_path);
        if awaited.contains(&id) {
            let why = "a queued run waits for it (--after): kept".to_owned();
            tell(Event::Kept { run: id, why }, &mut totals);
            continue;
        }
        if prune_run(runs, &id, (meta, &run.meta_path), opts, &mut |e| {
            tell(e, &mut totals)
        }) {
            totals.runs += 1;
        }
    }
    Ok(totals)
}

/// The ids the queued runs of the dir wait for (`after`).
fn awaited_by_queued(listed: &[crate::ListedRun]) -> HashSet<String> {
    let mut ids = HashSet::new();
    for run in listed {
        if run.status() != Some(Status::Queued) {
            continue;
        }
        let Ok(meta) = &run.meta else { continue };
        if let Some(after) = meta.extra.get("after").and_then(|a| a.as_array()) {
            ids.extend(after.iter().filter_map(|v| v.as_str().map(str::to_owned)));
        }
    }
    ids
}

/// Whether the run has ended (and its supervisor let go of its log) and the options
/// pick it.
fn matches(meta: &Meta, meta_path: &Path, opts: &PruneOptions, now: SystemTime) -> bool {
    let status = effective_status_at(meta, Some(meta_path));
    if status.is_live() || !opts.statuses.is_empty() && !opts.statuses.contains(&status) {
        return false;
    }
    if crate::log_path_for(meta, Some(meta_path)).is_some_and(|log| is_held(&log)) {
        return false; // its supervisor is still writing its end
    }
    match opts.older_than {
        None => true,
        Some(age) => {
            ended_at(meta, meta_path).is_some_and(|t| now.duration_since(t).is_ok_and(|d| d > age))
        }
    }
}

/// When the run ended: its `ended_at`, else when its meta was last written.
fn ended_at(meta: &Meta, meta_path: &Path) -> Option<SystemTime> {
    let stamp = meta
        .ended_at
        .as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .and_then(|t| u64::try_from(t.timestamp_millis()).ok())
        .map(|ms| SystemTime::UNIX_EPOCH + Duration::from_millis(ms));
    stamp.or_else(|| std::fs::metadata(meta_path).and_then(|m| m.modified()).ok())
}

/// One run: its worktree and branch, then (under the update lock, judged again) its
/// files, the meta last. Returns whether its files were removed.
fn prune_run(
    runs: &RunsDir,
    id: &str,
    (meta, meta_path): (&Meta, &Path),
    opts: &PruneOptions,
    tell: &mut dyn FnMut(Event),
) -> bool {
    // the listing's meta: a worktree or branch another prune removed meanwhile is found
    // gone (under the repo's lock), and the files are judged again under the runs dir's
    if let Some(w) = meta.worktree() {
        if !prune_worktree(id, meta, &w, opts, tell) {
            // its work stays, and with it the record that names it
            return false;
        }
    }
    // (a dry run takes no lock: it may look at a runs dir it cannot write)
    let _lock = match (!opts.dry_run).then(|| DirLock::acquire(runs.path())) {
        None => None,
        Some(Ok(l)) => Some(l),
        Some(Err(e)) => {
            let why = e.to_string();
            tell(Event::Failed {
                run: id.to_owned(),
                why,
            });
            return false;
        }
    };
    match read_meta(meta_path) {
        Ok(m) if matches(&m, meta_path, &PruneOptions::default(), SystemTime::now()) => {}
        _ => return false,
    }
    let Some(paths) = RunsDir::own_paths(meta_path) else {
        return false;
    };
    let mut removed_any = false;
    for path in [paths.log, paths.summary, paths.last_message, paths.meta] {
        let Ok(st) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        let bytes = st.len();
        if !opts.dry_run {
            if let Err(e) = std::fs::remove_file(&path) {
                let why = format!("cannot remove {}: {e}", path.display());
                tell(Event::Failed {
                    run: id.to_owned(),
                    why,
                });
                continue;
            }
        }
        removed_any = true;
        let what = Removed::File { path, bytes };
        tell(Event::Removed {
            run: id.to_owned(),
            what,
        });
    }
    if !opts.dry_run && removed_any {
        let _ = crate::store::sync_dir(runs.path());
    }
    removed_any
}

/// The run's worktree (when its directory is there) and its branch (when merged into
/// its base). Returns false when something was kept: the run's record stays.
fn prune_worktree(
    id: &str,
    meta: &Meta,
    w: &Worktree,
    opts: &PruneOptions,
    tell: &mut dyn FnMut(Event),
) -> bool {
    let run = || id.to_owned();
    let dir = PathBuf::from(&w.path);
    let present = std::fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir());
    if !present && !w.has_branch() {
        return true; // nothing of it is left in git
    }
    // only a worktree where codex-spawn makes them: <git common dir>/codex-worktrees/<id>
    let Some(lock_dir) = dir
        .parent()
        .filter(|p| p.file_name().is_some_and(|n| n == WORKTREES_DIR))
    else {
        let why = format!(
            "worktree {} is not in a {WORKTREES_DIR} directory: it and its branch are left alone",
            dir.display()
        );
        tell(Event::Kept { run: run(), why });
        return false;
    };
    // git runs in the run's repo, else in the git dir that holds the worktrees
    let top = meta
        .repo
        .as_deref()
        .map(PathBuf::from)
        .filter(|r| r.is_dir())
        .or_else(|| {
            lock_dir
                .parent()
                .filter(|p| p.is_dir())
                .map(Path::to_path_buf)
        });
    let Some(top) = top else {
        let why = "its repo is gone: its worktree and branch are left alone".to_owned();
        tell(Event::Kept { run: run(), why });
        return false;
    };
    // one prune at a time on the repo's worktrees and branches, and never beside a
    // codex-spawn making or ending one (a dry run only looks)
    let _lock = match (!opts.dry_run && lock_dir.is_dir()).then(|| git::repo_lock(lock_dir)) {
        Some(Err(why)) => {
            tell(Event::Failed { run: run(), why });
            return false;
        }
        lock => lock,
    };
    let mut outcome = |r: Result<Option<Removed>, Refused>| match r {
        Ok(Some(what)) => {
            tell(Event::Removed { run: run(), what });
            true
        }
        Ok(None) => true,
        Err(Refused::Kept(why)) => {
            tell(Event::Kept { run: run(), why });
            false
        }
        Err(Refused::Failed(why)) => {
            tell(Event::Failed { run: run(), why });
            false
        }
    };
    if present {
        let r = remove_worktree(&top, &dir, opts);
        if !outcome(r.map(|b| {
            b.map(|bytes| Removed::Worktree {
                path: dir.clone(),
                bytes,
            })
        })) {
            return false;
        }
    }
    if w.has_branch() {
        let r = remove_branch(&top, w, opts);
        let name = w.branch.clone();
        return outcome(r.map(|gone| gone.then_some(Removed::Branch { name })));
    }
    true
}

/// Why a worktree or branch stayed.
enum Refused {
    /// A refusal (work would be lost): said, and `force` overrides it.
    Kept(String),
    /// An error of git or the file system.
    Failed(String),
}

/// `git worktree remove` of a worktree with nothing uncommitted (or `force`), judged and
/// done under the repo's worktree lock (the caller's). Returns the bytes its files took;
/// `None` when it was gone by the time the lock was ours (another prune's).
fn remove_worktree(top: &Path, dir: &Path, opts: &PruneOptions) -> Result<Option<u64>, Refused> {
    if !std::fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir()) {
        return Ok(None);
    }
    let status = git::git(
        dir,
        ["status", "--porcelain=v1", "-z", "--untracked-files=all"],
    )
    .map_err(Refused::Failed)?;
    let dirty = if status.status.success() {
        git::status_entries(&status.stdout)
    } else {
        0 // not a worktree git knows any more: its directory is all that is left
    };
    if dirty > 0 && !opts.force {
        return Err(Refused::Kept(format!(
            "worktree {} has {dirty} uncommitted path(s): kept (--force removes it)",
            dir.display()
        )));
    }
    let bytes = tree_bytes(dir);
    if opts.dry_run {
        return Ok(Some(bytes));
    }
    let args = [
        OsStr::new("worktree"),
        OsStr::new("remove"),
        OsStr::new("--force"),
        dir.as_os_str(),
    ];
    let o = git::git(top, args).map_err(Refused::Failed)?;
    if !o.status.success() {
        if !status.status.success() {
            // git no longer knows it: the directory alone, never through a symlink
            std::fs::remove_dir_all(dir)
                .map_err(|e| Refused::Failed(format!("cannot remove {}: {e}", dir.display())))?;
            let _ = git::git(top, ["worktree", "prune"]);
            return Ok(Some(bytes));
        }
        return Err(Refused::Failed(format!(
            "git worktree remove {}: {}",
            dir.display(),
            git::complaint(&o)
        )));
    }
    Ok(Some(bytes))
}

/// `git branch -D` of the run's branch when it is merged into its base (the ref the run
/// started from: `base_ref`, else the base commit), or with `force`. `Ok(false)`: there
/// is no such branch.
fn remove_branch(top: &Path, w: &Worktree, opts: &PruneOptions) -> Result<bool, Refused> {
    let branch = &w.branch;
    if branch.is_empty() || !git::branch_exists(top, branch).map_err(Refused::Failed)? {
        return Ok(false);
    }
    let base = w.base_ref.as_deref().unwrap_or(&w.base);
    let merged = git::git(
        top,
        [
            "merge-base",
            "--is-ancestor",
            &format!("refs/heads/{branch}"),
            base,
        ],
    )
    .map_err(Refused::Failed)?
    .status
    .success();
    if !merged && !opts.force {
        return Err(Refused::Kept(format!(
            "branch {branch} is not merged into {base}: kept (--force deletes it)"
        )));
    }
    // checked out anywhere but the run's own worktree (gone now, or going in a dry run)
    if let Ok(Some(at)) = git::checked_out_at(top, branch) {
        if !same_dir(Path::new(&at), Path::new(&w.path)) {
            return Err(Refused::Kept(format!(
                "branch {branch} is checked out at {at}: kept"
            )));
        }
    }
    if opts.dry_run {
        return Ok(true);
    }
    let o = git::git(top, ["branch", "-D", branch.as_str()]).map_err(Refused::Failed)?;
    if !o.status.success() {
        return Err(Refused::Failed(format!(
            "git branch -D {branch}: {}",
            git::complaint(&o)
        )));
    }
    Ok(true)
}

/// Whether two paths name one directory (as git prints it, and as the record has it).
fn same_dir(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// The bytes of the regular files under `dir` (symlinks not followed).
fn tree_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_file() {
                total += e.metadata().map_or(0, |m| m.len());
            }
        }
    }
    total
}
