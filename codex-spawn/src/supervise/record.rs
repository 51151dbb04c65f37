//! The run's record as it starts: the first meta (written before the run lines are
//! printed), what it keeps of the task, and codex's command line as it shows it.

use std::ffi::OsString;

use codex_meta::{Meta, Status};
use serde_json::json;

use super::{META_TASK_MAX, Run};
use crate::config::TaskSource;

impl Run {
    pub(super) fn initial_meta(&self) -> Meta {
        let c = &self.config;
        let mut m = Meta {
            run_id: self.id.clone(),
            status: Some(if self.queued() {
                Status::Queued
            } else {
                Status::Running
            }),
            mode: Some(c.mode()),
            resume_session: c.resume.as_ref().map(|r| r.as_str().to_owned()),
            repo: Some(c.repo.display().to_string()),
            repo_abs: Some(c.repo_abs.display().to_string()),
            task: Some(self.meta_task()),
            codex_bin: Some(c.codex_bin.to_string_lossy().into_owned()),
            codex_command: Some(self.meta_command()),
            codex_version: self.codex_version.map(|v| v.to_string()),
            model: model_of(&c.codex_args),
            log_file: Some(self.log_path.display().to_string()),
            meta_file: Some(self.meta_path.display().to_string()),
            summary_file: Some(self.summary_path.display().to_string()),
            last_message_file: self.last_message.as_ref().map(|p| p.display().to_string()),
            host: Some(self.host.clone()),
            started_at: self.started_at.clone(),
            attempts: Some(Vec::new()),
            ..Meta::default()
        };
        if let Some(w) = &self.worktree {
            m.set_worktree(&w.record);
        } else if let Some(p) = &self.worktree_plan {
            m.set_worktree(&p.pending(&self.id));
        }
        // under Slurm (or in a Kubernetes pod): readers elsewhere ask the scheduler
        if let Some(s) = &self.scheduler {
            m.set_scheduler(s);
        }
        let x = &mut m.extra;
        x.insert(
            "codex_bin_resolved".into(),
            json!(
                self.codex_bin
                    .as_ref()
                    .ok()
                    .map(|p| p.display().to_string())
            ),
        );
        x.insert("task_source".into(), json!(c.task.source.as_str()));
        x.insert("task_bytes".into(), json!(c.task.bytes.len()));
        if let TaskSource::File(f) = &c.task.source {
            x.insert("task_file".into(), json!(f.display().to_string()));
        }
        if c.task.source == TaskSource::DefaultFollowUp {
            x.insert("task_defaulted".into(), json!(true));
        }
        x.insert("detach".into(), json!(c.detach));
        if let Some(r) = &self.resume_run {
            x.insert("resume_run".into(), json!(r));
        }
        if let Some(q) = &c.queue {
            x.insert(
                "queue".into(),
                json!({"name": q.name, "max_running": q.max_running}),
            );
        }
        if !self.after.is_empty() {
            let ids: Vec<&str> = self.after.iter().map(|d| d.run_id.as_str()).collect();
            x.insert("after".into(), json!(ids));
        }
        if let Some(at) = &self.queued_at {
            x.insert(codex_meta::kept::QUEUED_AT.into(), json!(at));
        }
        if c.budget.is_set() {
            x.insert(
                "budget".into(),
                json!({"max_tokens": c.budget.max_tokens, "max_cost_usd": c.budget.max_cost_usd}),
            );
        }
        if let Some(t) = c.timeout {
            x.insert("timeout_seconds".into(), json!(t.as_secs_f64()));
        }
        if let Some(t) = c.stall_timeout {
            x.insert("stall_timeout_seconds".into(), json!(t.as_secs_f64()));
        }
        if let Some(v) = &c.verify {
            x.insert("verify_command".into(), json!(v));
            x.insert("max_attempts".into(), json!(c.max_attempts));
            x.insert(
                "verify_timeout_seconds".into(),
                json!(c.verify_timeout.as_secs_f64()),
            );
        }
        m
    }

    /// The task as the meta keeps it: whole when given as an argument (or defaulted),
    /// else at most [`META_TASK_MAX`] bytes (a big or private prompt stays out).
    fn meta_task(&self) -> String {
        let t = &self.config.task;
        match t.source {
            TaskSource::Argument | TaskSource::DefaultFollowUp => t.text_lossy(),
            _ if t.bytes.len() <= META_TASK_MAX => t.text_lossy(),
            _ => {
                let mut s = String::from_utf8_lossy(&t.bytes[..META_TASK_MAX]).into_owned();
                s.push('…');
                s
            }
        }
    }

    /// codex's argv as the meta shows it (argv\[0\] as asked).
    fn meta_command(&self) -> Vec<String> {
        std::iter::once(&self.config.codex_bin)
            .chain(self.codex_argv.iter())
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }
}

/// `--model/-m` from the pass-through options, for the meta.
pub(super) fn model_of(args: &[OsString]) -> Option<String> {
    let mut it = args.iter().map(|a| a.to_string_lossy());
    while let Some(a) = it.next() {
        if a == "-m" || a == "--model" {
            return it.next().map(|m| m.into_owned());
        }
        if let Some(m) = a.strip_prefix("--model=") {
            return Some(m.to_owned());
        }
    }
    None
}
