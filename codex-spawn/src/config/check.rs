//! One check per option group of [`Args`]: each turns what was given into the config's
//! value, or a one-line usage error naming the option.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

/// `--repo` as given, and absolute and canonical.
pub(super) fn repo_of(repo: Option<PathBuf>) -> Result<(PathBuf, PathBuf), SpawnError> {
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
pub(super) fn resume_of(resume: Option<&str>) -> Result<Option<Resume>, SpawnError> {
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
pub(super) fn task_of(
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
pub(super) fn verbosity_of(args: &Args) -> Result<Verbosity, SpawnError> {
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
pub(super) struct VerifyOptions {
    pub command: Option<String>,
    pub max_attempts: u32,
    pub timeout: Duration,
}

pub(super) fn verify_of(args: &Args) -> Result<VerifyOptions, SpawnError> {
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
pub(super) fn detach_session_of(args: &Args) -> Result<Option<Duration>, SpawnError> {
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
pub(super) fn detach_warnings(args: &Args) -> Vec<String> {
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
pub(super) fn queue_of(
    max_running: Option<u32>,
    queue: Option<String>,
) -> Result<Option<Queue>, SpawnError> {
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
pub(super) fn budget_of(args: &Args) -> Result<Budget, SpawnError> {
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
pub(super) fn worktree_of(
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
pub(super) fn optional_duration(
    option: &str,
    text: &Option<String>,
) -> Result<Option<Duration>, SpawnError> {
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
