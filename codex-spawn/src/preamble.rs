//! The log's preamble: `key=value` lines before codex's output, more of them at higher
//! verbosity. It never holds an environment variable's value (only, at `extreme`, the
//! names of the ones codex reads) and never the prompt when it went through stdin.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::Path;

use crate::config::{Config, Verbosity};

/// Environment variables Codex (or its launcher) reads: at `extreme` the preamble lists
/// which of them are set — names only.
pub const CODEX_ENV_NAMES: &[&str] = &[
    "CODEX_HOME",
    "CODEX_SANDBOX",
    "CODEX_SANDBOX_NETWORK_DISABLED",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_ORG_ID",
    "OPENAI_PROJECT_ID",
    "RUST_LOG",
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "NO_PROXY",
    "SSL_CERT_FILE",
    "NODE_OPTIONS",
    "PATH",
    "HOME",
    "SHELL",
    "TERM",
];

/// What the preamble describes.
pub struct PreambleInput<'a> {
    pub config: &'a Config,
    pub run_id: &'a str,
    pub runs_dir: &'a Path,
    pub log_file: &'a Path,
    pub meta_file: &'a Path,
    pub summary_file: &'a Path,
    pub last_message_file: Option<&'a Path>,
    /// When the run started, or (a queued run) when its wait began.
    pub started_at: &'a str,
    pub started_at_local: &'a str,
    /// The run waits in a queue first: `started_at` is said as `queued_at`.
    pub queued: bool,
    pub codex_bin_resolved: Option<&'a Path>,
    /// The Codex CLI's version, when it could be told.
    pub codex_version: Option<codex_session_id::codex_version::Version>,
    pub codex_argv: &'a [OsString],
    pub host: &'a str,
    pub supervisor_pid: u32,
    /// `--worktree`: the run's worktree.
    pub worktree: Option<&'a crate::worktree::Active>,
    /// The batch scheduler the run is under.
    pub scheduler: Option<&'a codex_meta::scheduler::Scheduler>,
}

/// The preamble text (each line `key=value\n`, a last line `--- codex output ---`).
pub fn render(p: &PreambleInput<'_>) -> String {
    let v = p.config.verbosity;
    let mut s = Lines(String::with_capacity(1024));
    identity(&mut s, p);
    if v >= Verbosity::Normal {
        files_and_command(&mut s, p);
    }
    if v >= Verbosity::High {
        let c = p.config;
        s.kv("user", &user_name());
        s.kv("host", &p.host);
        s.kv("supervisor_pid", &p.supervisor_pid);
        s.kv(
            "cwd",
            &std::env::current_dir()
                .map(|d| d.display().to_string())
                .unwrap_or_default(),
        );
        s.kv("detach", &c.detach);
        s.kv("verbosity", &v.as_str());
    }
    if v >= Verbosity::Extreme {
        let c = p.config;
        let set: Vec<&str> = CODEX_ENV_NAMES
            .iter()
            .copied()
            .filter(|n| std::env::var_os(n).is_some())
            .collect();
        s.kv("env_set", &set.join(","));
        s.kv("codex_args_count", &c.codex_args.len());
        s.kv("kill_grace_seconds", &c.kill_grace.as_secs_f64());
    }
    s.0.push_str("--- codex output ---\n");
    s.0
}

/// `key=value` lines.
struct Lines(String);

impl Lines {
    fn kv(&mut self, k: &str, val: &dyn std::fmt::Display) {
        let _ = writeln!(self.0, "{k}={val}");
    }
}

/// What every verbosity has: the run, its time, its worktree and scheduler.
fn identity(s: &mut Lines, p: &PreambleInput<'_>) {
    let c = p.config;
    s.kv("codex_spawn", &env!("CARGO_PKG_VERSION"));
    s.kv("mode", &c.mode_name());
    s.kv(
        "resume_session_id",
        &c.resume.as_ref().map(|r| r.as_str()).unwrap_or(""),
    );
    s.kv("run_id", &p.run_id);
    if p.queued {
        s.kv("queued_at", &p.started_at);
        s.kv("queued_at_local", &p.started_at_local);
    } else {
        s.kv("started_at", &p.started_at);
        s.kv("started_at_local", &p.started_at_local);
    }
    if let Some(w) = p.worktree {
        s.kv("worktree", &w.record.path);
        s.kv("worktree_branch", &w.record.branch);
        s.kv("worktree_base", &w.record.base);
        for note in &w.notes {
            s.kv("worktree_warning", note);
        }
    }
    if let Some(sch) = p.scheduler {
        s.kv("scheduler", &sch.describe());
    }
}

/// `normal`: the repo, the files, the task's source, codex and its command, the limits.
fn files_and_command(s: &mut Lines, p: &PreambleInput<'_>) {
    let c = p.config;
    s.kv("repo", &c.repo.display());
    s.kv("repo_abs", &c.repo_abs.display());
    s.kv("runs_dir", &p.runs_dir.display());
    s.kv("log_file", &p.log_file.display());
    s.kv("meta_file", &p.meta_file.display());
    s.kv("summary_file", &p.summary_file.display());
    s.kv(
        "last_message_file",
        &p.last_message_file
            .map(|f| f.display().to_string())
            .unwrap_or_default(),
    );
    s.kv("task_source", &c.task.source.as_str());
    s.kv("task_bytes", &c.task.bytes.len());
    if c.task.source == crate::config::TaskSource::DefaultFollowUp {
        s.kv("task_default", &crate::config::DEFAULT_FOLLOW_UP);
    }
    s.kv("codex_bin", &c.codex_bin.to_string_lossy());
    s.kv(
        "codex_bin_resolved",
        &p.codex_bin_resolved
            .map(|b| b.display().to_string())
            .unwrap_or_else(|| "(not found)".to_owned()),
    );
    let mut cmd = crate::argv::shell_command(&c.codex_bin, p.codex_argv);
    if c.task.via_stdin {
        let _ = write!(
            cmd,
            "  # prompt on stdin: <prompt: {} bytes>",
            c.task.bytes.len()
        );
    }
    s.kv(
        "codex_version",
        &p.codex_version.map(|v| v.to_string()).unwrap_or_default(),
    );
    s.kv("codex_command", &cmd);
    if let Some(t) = c.timeout {
        s.kv("timeout_seconds", &t.as_secs_f64());
    }
    if let Some(t) = c.stall_timeout {
        s.kv("stall_timeout_seconds", &t.as_secs_f64());
    }
    if let Some(v) = &c.verify {
        s.kv("verify_command", &v.replace('\n', " "));
        s.kv("max_attempts", &c.max_attempts);
        s.kv("verify_timeout_seconds", &c.verify_timeout.as_secs_f64());
    }
}

/// The current user's name (from the password database; `$USER`-free), or the uid.
fn user_name() -> String {
    let uid = nix::unistd::getuid();
    match nix::unistd::User::from_uid(uid) {
        Ok(Some(u)) => u.name,
        _ => uid.to_string(),
    }
}

impl Config {
    /// `new` or `resume`.
    pub fn mode_name(&self) -> &'static str {
        if self.resume.is_some() {
            "resume"
        } else {
            "new"
        }
    }
}
