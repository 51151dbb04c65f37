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

/// `--repo` as given, and absolute and canonical.
fn repo_of(repo: Option<PathBuf>) -> Result<(PathBuf, PathBuf), SpawnError> {
    let repo = repo.ok_or_else(|| SpawnError::usage("--repo is required"))?;
    let abs = match std::fs::metadata(&repo) {
        Ok(m) if m.is_dir() => std::fs::canonicalize(&repo)
            .map_err(|e| SpawnError::usage(format!("--repo {}: {e}", repo.display())))?,
        Ok(_) => {
            return Err(SpawnError::usage(format!(
                "--repo {}: not a directory",
                repo.display()
            )));
        }
        Err(e) => {
            return Err(SpawnError::usage(format!(
                "--repo {}: {}",
                repo.display(),
                describe(&e)
            )));
        }
    };
    Ok((repo, abs))
}

/// `--resume`: `last` or a session id (or a run, resolved later).
fn resume_of(resume: Option<&str>) -> Result<Option<Resume>, SpawnError> {
    Ok(match resume {
        None => None,
        Some("last") => Some(Resume::Last),
        Some("") => return Err(SpawnError::usage("--resume is empty")),
        Some(id) if id.starts_with('-') => {
            return Err(SpawnError::usage(format!(
                "--resume '{id}': a session id cannot start with '-'"
            )));
        }
        Some(id) => Some(Resume::Id(id.to_owned())),
    })
}

/// The prompt: `--task`, `--task -`, `--task-file`, or a resume's default follow-up.
fn task_of(
    task: Option<String>,
    task_file: Option<PathBuf>,
    resume: &Option<Resume>,
    stdin: &mut dyn Read,
) -> Result<Task, SpawnError> {
    Ok(match (task, task_file) {
        (Some(_), Some(_)) => {
            return Err(SpawnError::usage(
                "--task and --task-file cannot be used together",
            ));
        }
        (Some(t), None) if t == "-" => Task::new(read_stdin(stdin)?, TaskSource::Stdin),
        (Some(t), None) => {
            if t.is_empty() {
                return Err(SpawnError::usage("--task is empty"));
            }
            Task::new(t.into_bytes(), TaskSource::Argument)
        }
        (None, Some(f)) if f.as_os_str() == "-" => Task::new(read_stdin(stdin)?, TaskSource::Stdin),
        (None, Some(f)) => Task::new(read_task_file(&f)?, TaskSource::File(absolute(&f))),
        (None, None) if resume.is_some() => Task::new(
            DEFAULT_FOLLOW_UP.as_bytes().to_vec(),
            TaskSource::DefaultFollowUp,
        ),
        (None, None) => {
            return Err(SpawnError::usage(
                "a task is required: --task TEXT, --task -, --task-file FILE, or --resume ID",
            ));
        }
    })
}

/// `--task-file FILE`: at most [`MAX_TASK_BYTES`], not empty.
fn read_task_file(f: &Path) -> Result<Vec<u8>, SpawnError> {
    let cannot = |e: std::io::Error| {
        SpawnError::usage(format!(
            "--task-file {}: cannot read: {}",
            f.display(),
            describe(&e)
        ))
    };
    let file = std::fs::File::open(f).map_err(cannot)?;
    let bytes = codex_meta::files::read_to_cap(file, MAX_TASK_BYTES)
        .map_err(cannot)?
        .ok_or_else(|| {
            SpawnError::usage(format!(
                "--task-file {}: larger than {} MiB (the limit for a task)",
                f.display(),
                MAX_TASK_BYTES >> 20
            ))
        })?;
    if bytes.is_empty() {
        return Err(SpawnError::usage(format!(
            "--task-file {}: empty file",
            f.display()
        )));
    }
    Ok(bytes)
}

/// `--verbosity`, `-v…`, else `$CODEX_LOG_VERBOSITY`, else normal.
fn verbosity_of(args: &Args) -> Result<Verbosity, SpawnError> {
    Ok(match (args.verbosity, args.verbose) {
        (Some(v), _) => v,
        (None, n) if n > 0 => Verbosity::from_count(n),
        (None, _) => match std::env::var_os("CODEX_LOG_VERBOSITY") {
            Some(v) if !v.is_empty() => {
                let text = v.to_string_lossy();
                Verbosity::parse(&text).ok_or_else(|| {
                    SpawnError::usage(format!(
                        "CODEX_LOG_VERBOSITY '{text}': expected low, normal, high or extreme"
                    ))
                })?
            }
            _ => Verbosity::Normal,
        },
    })
}

/// `--verify CMD [--max-attempts N] [--verify-timeout DUR]`.
struct VerifyOptions {
    command: Option<String>,
    max_attempts: u32,
    timeout: Duration,
}

fn verify_of(args: &Args) -> Result<VerifyOptions, SpawnError> {
    let command = match &args.verify {
        Some(v) if v.trim().is_empty() => {
            return Err(SpawnError::usage("--verify is empty"));
        }
        v => v.clone(),
    };
    if command.is_none() {
        for (given, option) in [
            (args.max_attempts.is_some(), "--max-attempts"),
            (args.verify_timeout.is_some(), "--verify-timeout"),
        ] {
            if given {
                return Err(SpawnError::usage(format!("{option} needs --verify CMD")));
            }
        }
    }
    let max_attempts = match args.max_attempts {
        None if command.is_some() => DEFAULT_MAX_ATTEMPTS,
        None => 1,
        Some(0) => return Err(SpawnError::usage("--max-attempts 0: must be at least 1")),
        Some(n) => n,
    };
    let timeout = optional_duration("--verify-timeout", &args.verify_timeout)?
        .unwrap_or(DEFAULT_VERIFY_TIMEOUT);
    Ok(VerifyOptions {
        command,
        max_attempts,
        timeout,
    })
}

/// `--detach=session [--detach-timeout DUR]`: how long to wait for the session id.
fn detach_session_of(args: &Args) -> Result<Option<Duration>, SpawnError> {
    match args.detach.as_deref() {
        Some("session") => Ok(Some(
            optional_duration("--detach-timeout", &args.detach_timeout)?
                .unwrap_or(DEFAULT_DETACH_TIMEOUT),
        )),
        _ if args.detach_timeout.is_some() => {
            Err(SpawnError::usage("--detach-timeout needs --detach=session"))
        }
        _ => Ok(None),
    }
}

/// --detach inside a Slurm job: the run ends when the job does (its script's end, or
/// the allocation's). Said, not refused: an MCP host on a compute node (salloc, srun
/// --pty) detaches every run and ends the job itself.
fn detach_warnings(args: &Args) -> Vec<String> {
    let mut early_warnings = Vec::new();
    if args.detach.is_some() {
        if let Some(s) = codex_meta::scheduler::Scheduler::from_env().filter(|s| s.kind == "slurm")
        {
            early_warnings.push(format!(
                "--detach inside {}: the run is stopped when the job ends (a batch job ends with its script: run codex-spawn in its foreground, `exec`ed)",
                s.describe()
            ));
        }
    }
    early_warnings
}

/// `--max-running N [--queue NAME]`.
fn queue_of(max_running: Option<u32>, queue: Option<String>) -> Result<Option<Queue>, SpawnError> {
    let n = match max_running {
        None => return Ok(None),
        Some(0) => return Err(SpawnError::usage("--max-running 0: must be at least 1")),
        Some(n) => n,
    };
    let name = queue.unwrap_or_else(|| DEFAULT_QUEUE.to_owned());
    let good = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if !good {
        return Err(SpawnError::usage(format!(
            "--queue '{name}': a queue name is 1-64 letters, digits, '.', '_' or '-' (not starting with '.')"
        )));
    }
    Ok(Some(Queue {
        name,
        max_running: n,
    }))
}

/// `--after` (each must name a run), `--max-tokens`, `--max-cost`.
fn budget_of(args: &Args) -> Result<Budget, SpawnError> {
    if let Some(a) = args.after.iter().find(|a| a.trim().is_empty()) {
        return Err(SpawnError::usage(format!("--after '{a}': names no run")));
    }
    if args.max_tokens == Some(0) {
        return Err(SpawnError::usage("--max-tokens 0: must be at least 1"));
    }
    if let Some(c) = args.max_cost.filter(|c| !(c.is_finite() && *c > 0.0)) {
        return Err(SpawnError::usage(format!(
            "--max-cost {c}: must be a positive number of US dollars"
        )));
    }
    Ok(Budget {
        max_tokens: args.max_tokens,
        max_cost_usd: args.max_cost,
    })
}

/// `--worktree [--base REF] [--branch NAME] [--keep-worktree]`.
fn worktree_of(
    args: &Args,
    resume: &Option<Resume>,
) -> Result<Option<crate::worktree::Request>, SpawnError> {
    let worktree = args.worktree.then(|| crate::worktree::Request {
        base: args.base.clone(),
        branch: args.branch.clone(),
        keep: args.keep_worktree,
    });
    if worktree.is_some() && *resume == Some(Resume::Last) {
        return Err(SpawnError::usage(
            "--worktree with --resume last: name the session or run to resume (its branch is found from it)",
        ));
    }
    for (value, option) in [(&args.base, "--base"), (&args.branch, "--branch")] {
        if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
            return Err(SpawnError::usage(format!("{option} is empty")));
        }
    }
    Ok(worktree)
}

/// An optional duration option (see [`duration`]).
fn optional_duration(option: &str, text: &Option<String>) -> Result<Option<Duration>, SpawnError> {
    text.as_deref().map(|s| duration(option, s)).transpose()
}

/// Parse a duration option (`90s`, `30m`, `1h30m`, `250ms`, a bare number of seconds).
fn duration(option: &str, text: &str) -> Result<Duration, SpawnError> {
    match codex_meta::parse_duration(text) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err(SpawnError::usage(format!(
            "{option} '{text}': must be more than zero"
        ))),
        Err(e) => Err(SpawnError::usage(format!("{option} '{text}': {e}"))),
    }
}

fn read_stdin(stdin: &mut dyn Read) -> Result<Vec<u8>, SpawnError> {
    let bytes = codex_meta::files::read_to_cap(stdin, MAX_TASK_BYTES)
        .map_err(|e| SpawnError::usage(format!("--task -: cannot read stdin: {e}")))?
        .ok_or_else(|| {
            SpawnError::usage(format!(
                "--task -: stdin holds more than {} MiB (the limit for a task)",
                MAX_TASK_BYTES >> 20
            ))
        })?;
    if bytes.is_empty() {
        return Err(SpawnError::usage("--task -: stdin is empty"));
    }
    Ok(bytes)
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
