//! The command line: clap definition, documented exit statuses, and the thin `main`.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgAction, CommandFactory, Parser};

use crate::config::{Config, Verbosity};
use crate::error::SpawnError;

/// Exit statuses (code, meaning), for the man page.
pub const EXIT_STATUS: &[(u8, &str)] = &[
    (0, "codex succeeded; with --detach: the run was launched"),
    (
        1,
        "codex failed (any other status of codex is passed through as is)",
    ),
    (
        2,
        "usage error (one line on stderr says what is wrong; no run is created)",
    ),
    (
        124,
        "--timeout expired: codex's process group got SIGTERM, then SIGKILL",
    ),
    (
        125,
        "codex-spawn itself failed: the runs dir, log or meta could not be written",
    ),
    (
        126,
        "the codex binary is not executable (the run's meta says so)",
    ),
    (
        127,
        "the codex binary was not found (the run's meta says so)",
    ),
    (
        128,
        "128+N: codex-spawn got signal N (forwarded to codex), or codex died by signal N",
    ),
];

const AFTER_HELP: &str = "\
Before codex starts, stdout gets four lines (absolute paths, flushed):
  codex_run_id=<id>  log_file=<path>  meta_file=<path>  summary_file_pending=<path>
At the end (foreground): codex_run_id= codex_exit_code= elapsed_seconds= codex_session_id=
log_file= meta_file= summary_file= summary_json=<one-line JSON>.

codex runs as: codex exec --cd REPO [-o LASTMSG] [CODEX_ARGS...] [resume ID|--last] PROMPT
With --task - or --task-file (or a task starting with '-') the prompt goes to codex's stdin
and the prompt argument is '-'; otherwise codex's stdin is /dev/null. --resume without a
task sends the follow-up prompt \"Continue.\".

Environment: CODEX_BIN, CODEX_RUNS_DIR, CODEX_LOG_VERBOSITY (low|normal|high|extreme).";

/// Run `codex exec` as a fire-and-forget job: run id and files at once, a complete log,
/// a live meta, a summary at the end.
#[derive(Parser, Debug, Default)]
#[command(
    name = "codex-spawn",
    version,
    about = "Run `codex exec` as a fire-and-forget job: run id and files at once, a log, a meta, a summary",
    after_help = AFTER_HELP
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

    /// Resume a Codex session (`last`: the most recent one); the task is optional
    #[arg(long, value_name = "ID|last")]
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

    /// Append one JSON line per event (run_started, run_completed) to FILE
    #[arg(long, value_name = "FILE")]
    pub event_stream: Option<PathBuf>,

    /// Print the four lines and return at once; the run goes on in its own session
    #[arg(long)]
    pub detach: bool,

    /// Print the run lines and the closing lines as one JSON object line each (no echo)
    #[arg(long)]
    pub json: bool,

    /// Don't echo codex's output to stdout (the log still has it)
    #[arg(short, long)]
    pub quiet: bool,

    /// Stop codex after DUR (90s, 30m, 1h): SIGTERM to its group, SIGKILL after --kill-grace; exit 124
    #[arg(long, value_name = "DUR")]
    pub timeout: Option<String>,

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
        Err(e) => return clap_error(e),
    };
    match run(args) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let _ = writeln!(std::io::stderr().lock(), "codex-spawn: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// Validate `args` and run codex; returns the exit status.
pub fn run(args: Args) -> Result<u8, SpawnError> {
    let config = Config::from_args(args, &mut std::io::stdin().lock())?;
    crate::supervise::run(config)
}

/// Help and version go to stdout (exit 0); a usage error is one line on stderr (exit 2).
fn clap_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            ExitCode::SUCCESS
        }
        _ => {
            let text = e.to_string();
            let first = text
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("invalid arguments");
            let msg = first.strip_prefix("error: ").unwrap_or(first);
            let _ = writeln!(std::io::stderr().lock(), "codex-spawn: {msg} (see --help)");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_cli() {
        command().debug_assert();
    }

    #[test]
    fn exit_codes_documented_once() {
        let mut codes: Vec<u8> = EXIT_STATUS.iter().map(|(c, _)| *c).collect();
        codes.dedup();
        assert_eq!(codes.len(), EXIT_STATUS.len());
    }
}
