//! Step 3 of the worktree's life (see the module docs of [`super`]): what becomes of it
//! at the run's end — committed, counted and removed, or left as it is, or discarded.

use std::ffi::OsStr;
use std::path::Path;

use codex_meta::Status;

use super::Active;
use codex_meta::git::{self, complaint, git, git_retrying, git_text, numstat, repo_lock};

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
    pub(super) fn path(&self) -> &Path {
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
            let w = format!(
                "worktree: {off}: nothing was committed and {} is left as it is",
                self.record.path
            );
            return self.leave(lines, w, true);
        }
        if let Err(e) = self.commit_leftovers(run_id, task, &mut lines) {
            let w = format!(
                "worktree: cannot commit codex's changes: {e}; {} is left as it is",
                self.record.path
            );
            return self.leave(lines, w, true);
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
        if let Some(why) = self.unheld() {
            let w = format!(
                "worktree: {why}: not on branch {}, so {} is left as it is",
                self.record.branch, self.record.path
            );
            // (counted above, as committed)
            return self.leave(lines, w, false);
        }
        let warning = self.remove(&mut lines);
        (lines, warning)
    }

    /// The worktree is left as it is, with warning `w` (for the log and the run's
    /// warnings); `count`: count the branch and what codex left uncommitted now.
    fn leave(
        &mut self,
        mut lines: Vec<String>,
        w: String,
        count: bool,
    ) -> (Vec<String>, Option<String>) {
        self.record.state = Some("left".to_owned());
        if count {
            self.count();
        }
        lines.push(w.clone());
        (lines, Some(w))
    }

    /// Why the worktree is no place to commit to its branch: codex left HEAD on
    /// another branch or detached, or a rebase or merge under way (a commit there would
    /// not be on the branch, and removing the worktree would lose it).
    fn off_branch(&self) -> Option<String> {
        let wt = self.path().to_path_buf();
        // a linked worktree's `.git` is a file naming its git dir: without it git would
        // answer for the main checkout (or for no repo at all)
        if !wt.is_dir() {
            return Some("codex removed the worktree".to_owned());
        }
        if !wt.join(".git").is_file() {
            return Some("codex removed the worktree's .git file".to_owned());
        }
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

    /// Files of the worktree that its branch cannot hold, which a `worktree remove` would
    /// delete: those under a gitlink — a git repository codex made (committed as a bare
    /// gitlink, its commits only in its own `.git`), or a submodule's path (not checked
    /// out: what codex wrote there is no change to git). Empty directories hold nothing,
    /// and a submodule checked out clean at the commit the branch records can be had
    /// again from its remote. `None` when there are none.
    fn unheld(&self) -> Option<String> {
        let wt = self.path().to_path_buf();
        let o = git(&wt, ["ls-files", "--stage", "-z"]).ok()?;
        let submodules = git::submodule_paths(&wt);
        let mut found = Vec::new();
        for entry in o.stdout.split(|&b| b == 0) {
            // `<mode> <object> <stage>\t<path>`
            let Some(rest) = entry.strip_prefix(b"160000 ") else {
                continue;
            };
            let Some(tab) = rest.iter().position(|&b| b == b'\t') else {
                continue;
            };
            let object = String::from_utf8_lossy(rest.split(|&b| b == b' ').next().unwrap_or(b""))
                .into_owned();
            let path = String::from_utf8_lossy(&rest[tab + 1..]).into_owned();
            let dir = wt.join(&path);
            if !has_files(&dir, 0) {
                continue;
            }
            if submodules.contains(&path) && git::clean_at(&dir, &object) {
                continue;
            }
            found.push(path);
        }
        if found.is_empty() {
            return None;
        }
        let shown: Vec<String> = found
            .iter()
            .take(3)
            .map(|p| p.escape_debug().to_string())
            .collect();
        let more = match found.len() {
            n if n > 3 => format!(" and {} more", n - 3),
            _ => String::new(),
        };
        Some(format!(
            "codex left files in {}{more} (a git repository or submodule of its own)",
            shown.join(", ")
        ))
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

/// Whether anything but directories is under `dir` (a file, a symlink), at any depth.
fn has_files(dir: &Path, depth: usize) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|e| match e.file_type() {
        Ok(t) if t.is_dir() => depth > 64 || has_files(&e.path(), depth + 1),
        _ => true,
    })
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
