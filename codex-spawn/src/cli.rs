//! The command line: clap definition, documented exit statuses, and the thin `main`.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgAction, CommandFactory, Parser};
use const_format::concatcp;

use crate::config::{Config, Verbosity};
use crate::error::SpawnError;

/// Exit statuses (code, meaning), for the man page.
pub const EXIT_STATUS: &[(u8, &str)] = &[
    (
        0,
        "succeeded: codex completed its turn (and --verify's check passed); with --detach: the run was launched (--detach=session: and its session id is known)",
    ),
    (
        1,
        concatcp!(
            "failed: codex exited 1, or exited 0 without a completed turn (",
            codex_session_id::log::NO_TURN_CAUSES,
            ": the meta's outcome_reason says which); any other exit status of codex is passed through as is"
        ),
    ),
    (
        2,
        "usage error (one line on stderr says what is wrong; no run is created)",
    ),
    (
        codex_meta::exit::VERIFY_FAILED,
        "verify_failed: --verify's check still failed when --max-attempts were spent (or codex's session id was unknown, so it could not be resumed)",
    ),
    (
        codex_meta::exit::OVER_BUDGET,
        "over_budget: the run passed --max-tokens or --max-cost; codex's process group was stopped (SIGTERM, then SIGKILL after --kill-grace), or codex had finished before the usage showed it (its work and summary kept)",
    ),
    (
        codex_meta::exit::DEPENDENCY_FAILED,
        "dependency_failed: a run named by --after did not succeed; codex was not started",
    ),
    (
        codex_meta::exit::TIMED_OUT,
        "timed_out (--timeout) or stalled (--stall-timeout): codex's process group (or the check's) got SIGTERM, then SIGKILL; the meta's status says which. With --detach=session: no session id within --detach-timeout (the run goes on)",
    ),
    (
        codex_meta::exit::OWN_FAILURE,
        "codex-spawn could not write its files: the runs dir is unusable (unsafe, or full at the start: nothing is started), the log was cut short by a full disk (the meta says log_truncated), or the summary, --json-out, --event-stream or stdout could not be written; or a --worktree run's work could not be committed to its branch, and its worktree was left as it is; one line on stderr says which (the meta's warnings list them)",
    ),
    (
        codex_meta::exit::NOT_EXECUTABLE,
        "the codex binary is not executable (the run's meta says so)",
    ),
    (
        codex_meta::exit::NOT_FOUND,
        "the codex binary was not found (the run's meta says so)",
    ),
    (
        128,
        "128+N: killed: codex-spawn got signal N (forwarded to codex or the check), or codex died by signal N",
    ),
];

/// The exit status of a `verify_failed` run.
pub const EXIT_VERIFY_FAILED: u8 = codex_meta::exit::VERIFY_FAILED;
/// The exit status of an `over_budget` run.
pub const EXIT_OVER_BUDGET: u8 = codex_meta::exit::OVER_BUDGET;
/// The exit status of a `dependency_failed` run.
pub const EXIT_DEPENDENCY_FAILED: u8 = codex_meta::exit::DEPENDENCY_FAILED;
/// The exit status of a `timed_out` or `stalled` run.
pub const EXIT_TIMED_OUT: u8 = codex_meta::exit::TIMED_OUT;

macro_rules! after_help {
    () => {
        "\
Before codex starts, stdout gets four lines (absolute paths, flushed):
  codex_run_id=<id>  log_file=<path>  meta_file=<path>  summary_file_pending=<path>
(--detach=session adds codex_session_id=<uuid> once codex names its session; with --json
the run lines' one object waits for it and carries session_id.)
At the end (foreground): codex_run_id= status= exit_code= (codex-spawn's) codex_exit_code=
(codex's own, last attempt; empty when it died by a signal or never ran) elapsed_seconds=
(the run's own time: a queue wait is queued_seconds in the meta) codex_session_id= log_file= meta_file= summary_file= summary_json=<one-line JSON>.
With --json: one object line like `claude -p --output-format json`'s: type \"result\",
subtype, is_error, result (the last agent message, capped at 4 KiB), session_id, run_id,
duration_ms, (queued_ms,) num_attempts, total_cost_usd, usage, status, exit_code,
codex_exit_code, files.

codex runs as: codex exec --cd REPO [--output-last-message LASTMSG] [CODEX_ARGS...] [resume ID|--last] PROMPT
With --task - or --task-file (or a task starting with '-') the prompt goes to codex's stdin
and the prompt argument is '-'; otherwise codex's stdin is /dev/null. --resume without a
task sends the follow-up prompt \"Continue.\".

Statuses (meta `status`, exit status): queued (waiting), running, succeeded (0), failed
(1 or codex's code), verify_failed (3), over_budget (4), dependency_failed (5), timed_out
(124), stalled (124), killed (128+N). --help tells what triggers each.

Environment: CODEX_BIN, CODEX_RUNS_DIR, CODEX_LOG_VERBOSITY (low|normal|high|extreme)."
    };
}

const AFTER_HELP: &str = after_help!();

const AFTER_LONG_HELP: &str = concatcp!(
    after_help!(),
    "

What each status means:
  succeeded      codex exited 0 and its output shows a completed turn (below); with
                 --verify, the check also passed.
  failed         codex exited non-zero (its code is passed through; 126/127: it could
                 not be run), or exited 0 but its output shows no successful turn: the
                 meta's outcome_reason says why (exit 1).
  verify_failed  codex succeeded but the --verify check still failed after
                 --max-attempts codex invocations (exit 3).
  timed_out      --timeout expired (exit 124).
  stalled        codex printed nothing for --stall-timeout (exit 124); never resumed.
  killed         codex-spawn got SIGINT/SIGTERM/SIGHUP (forwarded; `codex-meta cancel`
                 sends SIGTERM), or codex died by a signal (exit 128+N). A queued run
                 that is cancelled never starts codex.
  over_budget    --max-tokens / --max-cost was passed (codex's usage is followed in its
                 rollout under CODEX_HOME after each model call): codex was stopped, or
                 it had finished before its usage showed the budget passed (4).
  dependency_failed  a run named by --after ended other than succeeded (5).

Worktrees (--worktree): the run works in `git worktree add` of --base (default HEAD) on a
new branch (--branch, default codex/<run id>) in <git dir>/codex-worktrees/<run id>; codex
(--cd) and --verify run there, the main checkout is never touched. At the end what codex
left uncommitted is committed to the branch (no hooks, no empty commit), the directory is
removed (the branch kept) unless --keep-worktree; the meta's and summary's `worktree` says
what changed. A killed run's worktree is left as it is (so is one where codex left HEAD off
the branch). A queued run gets its worktree when it leaves the queue. --resume of a session
that ran in a worktree goes on on its branch in a fresh worktree. Not a git work tree, no
commit, a bad --base, an existing --branch: exit 2 before anything exists.

Queue and dependencies: with --after RUN the run waits as `queued` until every RUN ended;
with --max-running N it then waits, in FIFO order, until fewer than N runs of its queue
(--queue NAME, default one per runs dir) are running. Slots are file locks in the runs
dir's .queue/ (a dead supervisor frees its slot); --timeout counts from codex's start.

",
    codex_session_id::log::WHAT_COUNTS,
    "The verify loop (--verify CMD): after codex succeeds, `sh -c CMD` runs in the repo
(stdin /dev/null, its own process group, output to the log between `===== verify ...`
lines, at most --verify-timeout: SIGTERM, then SIGKILL after --kill-grace). If it fails,
codex-spawn resumes the same session:
  codex exec --cd REPO [--output-last-message LASTMSG] [CODEX_ARGS...] resume <SESSION_ID> -
with a follow-up prompt on stdin that gives the command, its exit code and the last 200
lines (16 KiB) of its output, and asks Codex to fix the cause and run the check again.
This repeats until the check passes or --max-attempts codex invocations were made. One
run id, one log (each attempt starts with `===== codex-spawn attempt N/M: ... =====`), one
meta whose `attempts` lists every codex invocation (started_at, ended_at, exit_code,
status, session_id, verify {exit_code, elapsed_seconds, timed_out}). With --event-stream
or --notify-cmd, each attempt also emits attempt_started and attempt_completed events.
--timeout bounds the whole run (every attempt and check); --stall-timeout each codex
invocation (it must exceed codex's longest silent tool call)."
);

/// Run `codex exec` as a fire-and-forget job: run id and files at once, a complete log,
/// a live meta, a summary at the end. A value of this type is a launch request (also
/// what codex-mcp's `spawn` builds and renders with [`Args::to_argv`]).
#[derive(Parser, Debug, Default, Clone, PartialEq)]
#[command(
    name = "codex-spawn",
    version,
    about = "Run `codex exec` as a fire-and-forget job: run id and files at once, a log, a meta, a summary",
    after_help = AFTER_HELP,
    after_long_help = AFTER_LONG_HELP
)]
pub struct Args {
    /// The repository codex works in (required; passed as `--cd`, made absolute)
    #[arg(long, value_name = "DIR")]
    pub repo: Option<PathBuf>,

    /// The prompt; `-` reads it from stdin (then it reaches codex on its stdin, not argv)
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub task: Option<String>,

    /// Read the prompt from FILE and give it to codex on its stdin (never in argv)
    #[arg(long, value_name = "FILE")]
    pub task_file: Option<PathBuf>,

    /// Resume a Codex session: its id, `last` (the most recent one), or a run (run id or launch file) whose session it continues; the task is optional
    #[arg(long, value_name = "ID|last|RUN")]
    pub resume: Option<String>,

    /// The codex program (a name looked up in PATH, or a path)
    #[arg(long, value_name = "BIN", env = "CODEX_BIN")]
    pub codex_bin: Option<OsString>,

    /// Where the run's files go [default: $CODEX_RUNS_DIR, else ./runs]
    #[arg(long, visible_alias = "log-dir", value_name = "DIR")]
    pub runs_dir: Option<PathBuf>,

    /// Also write the summary JSON to FILE (atomically)
    #[arg(long, value_name = "FILE")]
    pub json_out: Option<PathBuf>,

    /// Run `sh -c CMD` with each event's JSON on stdin (bounded wait; never changes the outcome)
    #[arg(long, value_name = "CMD")]
    pub notify_cmd: Option<String>,

    /// How long a notify command may run before it is killed [default: 10s]
    #[arg(long, value_name = "DUR")]
    pub notify_timeout: Option<String>,

    /// Append one JSON line per event (run_started, run_completed; attempt_* with --verify) to FILE
    #[arg(long, value_name = "FILE")]
    pub event_stream: Option<PathBuf>,

    /// Print the four lines and return at once (`--detach=session`: once codex's session
    /// id is known, printed as a fifth line); the run goes on in its own session
    #[arg(
        long,
        value_name = "WHEN",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "now",
        value_parser = ["now", "session"]
    )]
    pub detach: Option<String>,

    /// With --detach=session: how long to wait for the session id [default: 60s]
    #[arg(long, value_name = "DUR")]
    pub detach_timeout: Option<String>,

    /// Wait as `queued` while N runs of the queue are running (a slot frees when a run ends or its supervisor dies)
    #[arg(long, value_name = "N")]
    pub max_running: Option<u32>,

    /// The queue --max-running counts in [default: one per runs dir]
    #[arg(long, value_name = "NAME", requires = "max_running")]
    pub queue: Option<String>,

    /// Start only after RUN ended, and only if it succeeded (else: dependency_failed, exit 5); repeatable
    #[arg(long, value_name = "RUN")]
    pub after: Vec<String>,

    /// Stop codex once the run (all attempts) used more than N tokens: over_budget, exit 4
    #[arg(long, value_name = "N")]
    pub max_tokens: Option<u64>,

    /// Stop codex once the run (all attempts) cost more than USD: over_budget, exit 4
    #[arg(long, value_name = "USD", allow_negative_numbers = true)]
    pub max_cost: Option<f64>,

    /// Run in a git worktree of the repo of its own, on a new branch (codex/<run id>); at the end what codex left uncommitted is committed there and the worktree removed (the branch kept)
    #[arg(long)]
    pub worktree: bool,

    /// With --worktree: the commit the branch starts from [default: HEAD]
    #[arg(
        long,
        value_name = "REF",
        requires = "worktree",
        allow_hyphen_values = true
    )]
    pub base: Option<String>,

    /// With --worktree: the new branch's name [default: codex/<run id>]
    #[arg(
        long,
        value_name = "NAME",
        requires = "worktree",
        allow_hyphen_values = true
    )]
    pub branch: Option<String>,

    /// With --worktree: leave the worktree's directory at the end (the branch is kept anyway)
    #[arg(long, requires = "worktree")]
    pub keep_worktree: bool,

    /// Print the run lines and the closing lines as one JSON object line each (no echo)
    #[arg(long)]
    pub json: bool,

    /// Don't echo codex's output to stdout (the log still has it)
    #[arg(short, long)]
    pub quiet: bool,

    /// Stop the run after DUR (90s, 30m, 1h; all attempts and checks): SIGTERM to the group, SIGKILL after --kill-grace; exit 124
    #[arg(long, value_name = "DUR")]
    pub timeout: Option<String>,

    /// Stop codex when it prints nothing for DUR (like --timeout); status stalled, exit 124, no further attempt
    #[arg(long, value_name = "DUR")]
    pub stall_timeout: Option<String>,

    /// After codex succeeds, run `sh -c CMD` in the repo; while it fails, resume the session with its output
    #[arg(long, value_name = "CMD", allow_hyphen_values = true)]
    pub verify: Option<String>,

    /// With --verify: codex invocations at most (1: check once, never resume) [default: 3]
    #[arg(long, value_name = "N")]
    pub max_attempts: Option<u32>,

    /// With --verify: how long one run of the check may take [default: 10m]
    #[arg(long, value_name = "DUR")]
    pub verify_timeout: Option<String>,

    /// Delay between SIGTERM and SIGKILL when stopping codex [default: 5s]
    #[arg(long, value_name = "DUR")]
    pub kill_grace: Option<String>,

    /// More log preamble: -v normal, -vv high, -vvv extreme
    #[arg(short, long, action = ArgAction::Count, conflicts_with = "verbosity")]
    pub verbose: u8,

    /// Log preamble size [default: $CODEX_LOG_VERBOSITY, else normal]
    #[arg(long, value_enum, value_name = "LEVEL")]
    pub verbosity: Option<Verbosity>,

    /// Options passed to `codex exec`, before `resume`
    #[arg(last = true, value_name = "CODEX_ARGS")]
    pub codex_args: Vec<OsString>,
}

/// The clap command (for man pages and completions).
pub fn command() -> clap::Command {
    Args::command()
}

/// Parse, validate, run; map errors to a one-line message and an exit status.
pub fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => return codex_meta::io::clap_exit("codex-spawn", &e),
    };
    match run(args) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let _ = writeln!(
                std::io::stderr().lock(),
                "codex-spawn: {}",
                codex_meta::io::one_line(&e.to_string())
            );
            ExitCode::from(e.exit_code())
        }
    }
}

/// Validate `args` and run codex; returns the exit status.
pub fn run(args: Args) -> Result<u8, SpawnError> {
    let config = Config::from_args(args, &mut std::io::stdin().lock())?;
    crate::supervise::run(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_cli() {
        command().debug_assert();
    }

    /// The defaults the help states are the ones the code applies (each stated once, in
    /// [`crate::config`] and [`crate::events`], and checked here).
    #[test]
    fn help_states_the_defaults_the_code_applies() {
        use crate::config::{
            DEFAULT_DETACH_TIMEOUT, DEFAULT_KILL_GRACE, DEFAULT_MAX_ATTEMPTS,
            DEFAULT_VERIFY_TIMEOUT,
        };
        let cmd = command();
        let stated = |id: &str| {
            let arg = cmd.get_arguments().find(|a| a.get_id() == id).unwrap();
            let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
            let (_, tail) = help.rsplit_once("[default: ").unwrap_or(("", ""));
            tail.strip_suffix(']').unwrap_or_default().to_owned()
        };
        for (id, default) in [
            ("notify_timeout", crate::events::NOTIFY_WAIT),
            ("detach_timeout", DEFAULT_DETACH_TIMEOUT),
            ("verify_timeout", DEFAULT_VERIFY_TIMEOUT),
            ("kill_grace", DEFAULT_KILL_GRACE),
        ] {
            let text = stated(id);
            assert_eq!(
                codex_meta::parse_duration(&text),
                Ok(default),
                "{id}: {text:?}"
            );
        }
        assert_eq!(stated("max_attempts"), DEFAULT_MAX_ATTEMPTS.to_string());
    }

    #[test]
    fn exit_codes_documented_once() {
        let mut codes: Vec<u8> = EXIT_STATUS.iter().map(|(c, _)| *c).collect();
        codes.dedup();
        assert_eq!(codes.len(), EXIT_STATUS.len());
    }
}
