//! A validated run configuration.
//!
//! Everything that can make the command line unusable — a missing or bad `--repo`, no
//! task, an unreadable task file, a bad `--timeout` or verbosity — is found here, before
//! codex-spawn creates a single file, and reported as a one-line [`SpawnError::Usage`].

use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cli::Args;
use crate::error::SpawnError;

mod check;
use check::{
    budget_of, detach_session_of, detach_warnings, optional_duration, queue_of, repo_of, resume_of,
    task_of, verbosity_of, verify_of, worktree_of,
};

/// The largest task codex-spawn accepts (`--task -`, `--task-file`): a prompt of tens of
/// MiB is already absurd for any model, and an endless input (`/dev/zero`) must end in an
/// error, not in memory without bound.
pub const MAX_TASK_BYTES: u64 = 16 << 20;

/// The prompt sent when `--resume` is given without a task. Codex 0.169.0 reads the
/// prompt from stdin when `resume ID` has none, and with stdin at /dev/null it exits 1
/// ("No prompt provided via stdin."), so codex-spawn always sends one.
pub const DEFAULT_FOLLOW_UP: &str = "Continue.";

/// How much of the log preamble to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Verbosity {
    /// Mode, run id, timestamps.
    Low,
    /// Adds repo, files, codex binary and command (the default).
    Normal,
    /// Adds user, host, pid, cwd, versions, the supervisor's peak memory.
    High,
    /// Adds the names (never the values) of environment variables codex reads.
    Extreme,
}

impl Verbosity {
    /// The name used on the command line and in `CODEX_LOG_VERBOSITY`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verbosity::Low => "low",
            Verbosity::Normal => "normal",
            Verbosity::High => "high",
            Verbosity::Extreme => "extreme",
        }
    }

    /// Parse `low|normal|high|extreme` (any case).
    pub fn parse(s: &str) -> Option<Verbosity> {
        match s.trim().to_ascii_lowercase().as_str() {
            "low" => Some(Verbosity::Low),
            "normal" => Some(Verbosity::Normal),
            "high" => Some(Verbosity::High),
            "extreme" => Some(Verbosity::Extreme),
            _ => None,
        }
    }

    /// `-v` → normal, `-vv` → high, `-vvv` (or more) → extreme.
    pub fn from_count(count: u8) -> Verbosity {
        match count {
            0 => Verbosity::Low,
            1 => Verbosity::Normal,
            2 => Verbosity::High,
            _ => Verbosity::Extreme,
        }
    }
}

/// Which session `--resume` continues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resume {
    /// `resume <ID>`.
    Id(String),
    /// `resume --last` (from `--resume last`).
    Last,
}

impl Resume {
    /// What the meta's `resume_session` and the preamble show: the id, or `last`.
    pub fn as_str(&self) -> &str {
        match self {
            Resume::Id(id) => id,
            Resume::Last => "last",
        }
    }
}

/// Where the prompt came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskSource {
    /// `--task TEXT`.
    Argument,
    /// `--task -`: read from codex-spawn's stdin.
    Stdin,
    /// `--task-file FILE` (absolute path).
    File(PathBuf),
    /// `--resume` without a task: [`DEFAULT_FOLLOW_UP`].
    DefaultFollowUp,
}

impl TaskSource {
    /// A short name for the log and the meta (`argument`, `stdin`, `file`, `default`).
    pub fn as_str(&self) -> &'static str {
        match self {
            TaskSource::Argument => "argument",
            TaskSource::Stdin => "stdin",
            TaskSource::File(_) => "file",
            TaskSource::DefaultFollowUp => "default",
        }
    }
}

/// The prompt and how it reaches codex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    /// The prompt, byte for byte.
    pub bytes: Vec<u8>,
    /// Where it came from.
    pub source: TaskSource,
    /// True when codex gets it on stdin (prompt argument `-`): `--task -`, `--task-file`,
    /// and any task starting with `-` (which codex's parser would take for an option).
    pub via_stdin: bool,
}

impl Task {
    fn new(bytes: Vec<u8>, source: TaskSource) -> Task {
        let via_stdin = matches!(source, TaskSource::Stdin | TaskSource::File(_))
            || bytes.first() == Some(&b'-');
        Task {
            bytes,
            source,
            via_stdin,
        }
    }

    /// The prompt as text (invalid UTF-8 replaced), for the meta.
    pub fn text_lossy(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

/// Everything a run needs, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// `--repo` as given.
    pub repo: PathBuf,
    /// `--repo`, absolute and canonical (what codex gets as `--cd`).
    pub repo_abs: PathBuf,
    /// The prompt.
    pub task: Task,
    /// `--resume`.
    pub resume: Option<Resume>,
    /// `--codex-bin` / `$CODEX_BIN` / `codex`, as asked.
    pub codex_bin: OsString,
    /// `--runs-dir` / `$CODEX_RUNS_DIR` (else `./runs`, decided by codex-meta).
    pub runs_dir: Option<PathBuf>,
    /// `--json-out` (absolute).
    pub json_out: Option<PathBuf>,
    /// `--notify-cmd`.
    pub notify_cmd: Option<String>,
    /// `--notify-timeout`: how long a notify command may run.
    pub notify_timeout: Duration,
    /// `--event-stream` (absolute).
    pub event_stream: Option<PathBuf>,
    /// Log preamble size.
    pub verbosity: Verbosity,
    /// `--detach`.
    pub detach: bool,
    /// `--json`: JSON lines instead of `key=value` lines on stdout.
    pub json: bool,
    /// `--quiet`: don't echo codex's output to stdout.
    pub quiet: bool,
    /// `--timeout`.
    pub timeout: Option<Duration>,
    /// `--kill-grace`: SIGTERM → SIGKILL delay.
    pub kill_grace: Duration,
    /// Everything after `--`, passed to codex before `resume`.
    pub codex_args: Vec<OsString>,
    /// `--verify CMD`: the check run with `sh -c` in the repo after codex succeeds.
    pub verify: Option<String>,
    /// `--max-attempts`: codex invocations at most (1 without `--verify`).
    pub max_attempts: u32,
    /// `--verify-timeout`: how long one run of the check may take.
    pub verify_timeout: Duration,
    /// `--stall-timeout`: stop codex after this long without output.
    pub stall_timeout: Option<Duration>,
    /// `--detach=session`: return once the session id is known, waiting at most this.
    pub detach_session: Option<Duration>,
    /// `--max-running N` and the queue it counts in.
    pub queue: Option<Queue>,
    /// `--after RUN`, as given (resolved in the runs dir before any file is created).
    pub after: Vec<String>,
    /// `--max-tokens`, `--max-cost`.
    pub budget: Budget,
    /// `--worktree [--base] [--branch] [--keep-worktree]`.
    pub worktree: Option<crate::worktree::Request>,
    /// Where codex (`--cd`) and the check run: `repo_abs`, or the run's worktree.
    pub workdir: PathBuf,
    /// What is worth a warning before the run starts (said on stderr at once, and kept in
    /// the meta's `warnings`).
    pub early_warnings: Vec<String>,
}

/// `--max-running N [--queue NAME]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queue {
    pub name: String,
    pub max_running: u32,
}

/// The queue `--max-running` counts in when no `--queue` is given.
pub const DEFAULT_QUEUE: &str = "default";

/// `--detach=session`'s wait when no `--detach-timeout` is given.
pub const DEFAULT_DETACH_TIMEOUT: Duration = Duration::from_secs(60);

/// The run's budget (all attempts together).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Budget {
    pub max_tokens: Option<u64>,
    pub max_cost_usd: Option<f64>,
}

impl Budget {
    /// Whether any limit is set.
    pub fn is_set(&self) -> bool {
        self.max_tokens.is_some() || self.max_cost_usd.is_some()
    }
}

/// `--max-attempts` when not given.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;
/// `--verify-timeout` when not given.
pub const DEFAULT_VERIFY_TIMEOUT: Duration = Duration::from_secs(600);
/// `--kill-grace` when not given: SIGTERM, then SIGKILL this much later.
pub const DEFAULT_KILL_GRACE: Duration = Duration::from_secs(5);

impl Config {
    /// Validate parsed arguments. `stdin` is read only for `--task -`.
    pub fn from_args(args: Args, stdin: &mut dyn Read) -> Result<Config, SpawnError> {
        let (repo, repo_abs) = repo_of(args.repo.clone())?;
        let resume = resume_of(args.resume.as_deref())?;
        let task = task_of(args.task.clone(), args.task_file.clone(), &resume, stdin)?;
        let verbosity = verbosity_of(&args)?;
        let timeout = optional_duration("--timeout", &args.timeout)?;
        let kill_grace =
            optional_duration("--kill-grace", &args.kill_grace)?.unwrap_or(DEFAULT_KILL_GRACE);
        let notify_timeout = optional_duration("--notify-timeout", &args.notify_timeout)?
            .unwrap_or(crate::events::NOTIFY_WAIT);
        let verify = verify_of(&args)?;
        let stall_timeout = optional_duration("--stall-timeout", &args.stall_timeout)?;
        let detach_session = detach_session_of(&args)?;
        let queue = queue_of(args.max_running, args.queue.clone())?;
        let budget = budget_of(&args)?;
        let worktree = worktree_of(&args, &resume)?;
        let codex_bin = args
            .codex_bin
            .clone()
            .unwrap_or_else(|| OsString::from("codex"));
        if codex_bin.is_empty() {
            return Err(SpawnError::usage("--codex-bin is empty"));
        }
        let early_warnings = detach_warnings(&args);
        Ok(Config {
            repo,
            workdir: repo_abs.clone(),
            repo_abs,
            task,
            resume,
            codex_bin,
            runs_dir: args.runs_dir.filter(|p| !p.as_os_str().is_empty()),
            json_out: args.json_out.map(|p| absolute(&p)),
            notify_cmd: args.notify_cmd.filter(|c| !c.trim().is_empty()),
            notify_timeout,
            event_stream: args.event_stream.map(|p| absolute(&p)),
            verbosity,
            detach: args.detach.is_some(),
            json: args.json,
            quiet: args.quiet,
            timeout,
            kill_grace,
            codex_args: args.codex_args,
            verify: verify.command,
            max_attempts: verify.max_attempts,
            verify_timeout: verify.timeout,
            stall_timeout,
            detach_session,
            queue,
            after: args.after,
            budget,
            worktree,
            early_warnings,
        })
    }

    /// `new` or `resume`.
    pub fn mode(&self) -> codex_meta::Mode {
        if self.resume.is_some() {
            codex_meta::Mode::Resume
        } else {
            codex_meta::Mode::New
        }
    }
}

/// An absolute form of `p` (not resolving symlinks; `p` unchanged if cwd is unknown).
pub(crate) fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// An I/O error as a short phrase (`no such file or directory`, `permission denied`).
fn describe(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => e.to_string(),
    }
}
