//! `--worktree` in the run's life: a queued run's worktree made when it leaves the
//! queue, and the worktree's end before the final meta ([`crate::worktree`] does the git).

use super::files::Log;
use super::{Run, Warnings, attempts};

impl Run {
    /// A queued `--worktree` run leaves its queue: its worktree is made now, from the
    /// base as it is now (the meta says so). A failure ends the run before codex (exit 2).
    pub(super) fn make_queued_worktree(&mut self, log: &mut Log) -> Result<(), attempts::Final> {
        let Some(plan) = self.worktree_plan.take() else {
            return Ok(());
        };
        let mut not_made = plan.pending(&self.id);
        not_made.state = Some("not_made".to_owned());
        match plan.create(&self.id) {
            Ok(w) => {
                log.write(
                    format!(
                        "codex-spawn: worktree {} on branch {} from {}\n",
                        w.record.path, w.record.branch, w.record.base
                    )
                    .as_bytes(),
                );
                for note in &w.notes {
                    log.write(format!("codex-spawn: worktree: {note}\n").as_bytes());
                }
                let record = w.record.clone();
                let _ = codex_meta::update_meta(&self.meta_path, |m| m.set_worktree(&record));
                self.worktree = Some(w);
                Ok(())
            }
            Err(e) => {
                log.write(format!("codex-spawn: {e}\n").as_bytes());
                self.worktree_not_made = Some(not_made);
                Err(attempts::Final::new(
                    codex_meta::Outcome::failed(2, e.to_string()),
                    0,
                ))
            }
        }
    }

    /// `--worktree`: commit what codex left, count, remove ([`crate::worktree`]); the
    /// record for the final meta.
    pub(super) fn end_worktree(
        &mut self,
        end: &attempts::Final,
        attempts: &[codex_meta::Attempt],
        log: &mut Log,
        warnings: &mut Warnings,
    ) -> Option<codex_meta::Worktree> {
        let Some(w) = self.worktree.as_mut() else {
            // queued and ended before its worktree was made, or it could not be made
            return self.worktree_not_made.take().or_else(|| {
                self.worktree_plan.as_ref().map(|p| {
                    let mut r = p.pending(&self.id);
                    r.state = Some("not_made".to_owned());
                    r
                })
            });
        };
        let task = self.config.task.text_lossy();
        let (lines, warning) = w.finish(&self.id, &task, end.outcome.status, !attempts.is_empty());
        let mut text = String::new();
        if log.last != b'\n' {
            text.push('\n');
        }
        for l in lines {
            text.push_str(&format!("codex-spawn: {l}\n"));
        }
        log.write(text.as_bytes());
        if let Some(warning) = warning {
            warnings.undelivered(warning);
        }
        Some(w.record.clone())
    }
}
