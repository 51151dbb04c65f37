//! The `codex-meta` command line: the clap definition, the exit statuses, and `main`.
//!
//! Parsing lives here; each subcommand's logic lives in its own file under `cmd/`. The
//! lead's man-page generator reads [`command`] and [`EXIT_STATUS`].

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, CommandFactory, Parser, Subcommand};

use crate::Status;

/// Exit statuses of `codex-meta` (code, meaning).
pub const EXIT_STATUS: &[(u8, &str)] = &[
    (
        0,
        "success; for wait: every run succeeded (with --any: the first run to end succeeded); for cancel: every run was signalled or had already ended",
    ),
    (
        1,
        "get: the key is absent or null; prune: something was kept (a worktree with uncommitted work, a branch not merged into its base, a run a queued run waits for, a meta that cannot be read): each is named",
    ),
    (
        2,
        "usage error or bad input: a bad key=value, a field only the run's owner writes, a \
         corrupt, oversized or unreadable meta, a missing file, an unknown run id, an unsafe \
         runs dir (one line on stderr names it); for status and list: some meta could not be \
         read (each is named, the others are shown)",
    ),
    (
        crate::exit::TIMED_OUT,
        "wait, cancel --wait: the timeout passed while a run was still running (or queued)",
    ),
    (
        crate::exit::LOST,
        "wait: a run is lost (its meta says running but no process holds the run)",
    ),
];

const AFTER_HELP: &str = "\
A RUN is a meta file path (containing '/' or ending in .meta.json), a launch file (what \
`codex-spawn --detach > a.launch` wrote: its meta_file= line names the run), or a run id \
(or a unique prefix of one) looked up in the runs dir.

Statuses: queued, running (live: a supervisor holds the run), succeeded, failed, killed, \
timed_out, stalled, verify_failed, dependency_failed, over_budget, lost.

cancel sends SIGTERM (or --signal INT|HUP) to each live run's supervisor — the very process \
its meta's pid, pid_start and boot_id name, on this host — which forwards it to codex's \
process group and records the run as killed, naming who asked; a queued run never starts. \
A run of another host under Slurm (its meta's scheduler) is cancelled through scancel of its \
job (refused when other live runs share the job); any other run of another host is refused. \
Runs that already ended are reported and left alone.

prune removes ended runs' files (log, meta, summary, last message), the worktrees of ended \
runs and their branches once merged into their base (the ref the run started from), one line \
each and the bytes freed; never a queued or running run, nor one a queued run waits for \
(--after). A worktree with uncommitted work or a branch not merged is kept and named (exit \
1) unless --force; --dry-run says the same and removes nothing. --older-than goes by the \
run's ended_at; --keep N spares the newest N of the runs that match.

list shows RUN_ID, STATUS, EXIT, ELAPSED, SESSION, TASK — and BRANCH when a run shown has a \
worktree (codex-spawn --worktree) whose branch is there, and TOKENS and COST when a run shown \
has a spend (the meta's spend: what a running run has spent so far, read by its supervisor \
from codex's rollout every few seconds; at its end, its summary's).

wait exits 0 when every run succeeded, 124 on timeout, 125 for a lost run, and otherwise \
with the first failed run's own exit code: its exit_code when that is 1 to 255, else 128+N \
when it names signal N, else 1 (a succeeded run is 0 whatever its exit_code says).

show, get and list report the effective status: a meta that says running is shown as lost \
when nobody holds the lock on its log and its supervisor (pid, start time, boot id) is gone, \
and the stored value is then given as stored_status. A run written on another host (a shared \
runs dir) is judged by its scheduler when its meta names one (Slurm: squeue, else scontrol): \
lost when its job ended without a final meta; without a scheduler (or its tools here) it is \
not guessed: it stays running, and status says host=HOST.

set and write refuse the fields only the run's owner writes: run_id, meta_file, log_file, \
summary_file, last_message_file, pid, pid_start, boot_id, host, started_at, worktree, scheduler. A runs dir must \
be yours (or root's) and not writable by others unless it has the sticky bit.";

/// Read and update codex-spawn's run records.
#[derive(Debug, Parser)]
#[command(
    name = "codex-meta",
    version,
    about = "Read, update and wait for codex-spawn run records (meta files)",
    after_help = AFTER_HELP,
    propagate_version = true
)]
pub struct Cli {
    /// Directory holding the runs (default: ./runs)
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        env = "CODEX_RUNS_DIR",
        hide_env_values = true
    )]
    pub runs_dir: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create or replace a meta atomically from key=value pairs (and/or JSON on stdin)
    Write(WriteArgs),
    /// Change fields of a meta atomically; unknown keys are stored, other fields kept
    Set(SetArgs),
    /// Print one field: strings raw, anything else as one-line JSON
    Get(GetArgs),
    /// Print the whole meta as pretty JSON, with the effective status
    Show(ShowArgs),
    /// Print one status line per run
    #[command(about = "Print one line per run: <run_id> <status> exit=<code|-> session=<uuid|->")]
    Status(StatusArgs),
    /// Block until every run has ended; exit with the run's exit code
    Wait(WaitArgs),
    /// List the runs in the runs dir, newest first
    List(ListArgs),
    /// Stop runs through their supervisors (queued ones never start)
    Cancel(CancelArgs),
    /// Remove ended runs' files, their worktrees and their merged branches
    Prune(PruneArgs),
}

/// `codex-meta write`.
#[derive(Debug, Args)]
pub struct WriteArgs {
    /// The meta file to write
    #[arg(
        value_name = "META_PATH",
        help = "The meta file to write (a bare run id means <runs-dir>/codex-run-<id>.meta.json)"
    )]
    pub meta: String,
    /// Fields: a value is JSON when it parses as JSON, else a string
    #[arg(value_name = "KEY=VALUE")]
    pub assignments: Vec<String>,
    /// Start from the JSON object read on stdin (key=value pairs are applied on top)
    #[arg(long)]
    pub stdin: bool,
}

/// `codex-meta set`.
#[derive(Debug, Args)]
pub struct SetArgs {
    /// The run (meta path, launch file or run id)
    #[arg(value_name = "RUN")]
    pub run: String,
    /// Fields: a value is JSON when it parses as JSON, else a string (status=running,
    /// exit_code=0, task='"42"')
    #[arg(value_name = "KEY=VALUE", required = true)]
    pub assignments: Vec<String>,
}

/// `codex-meta get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// The run (meta path, launch file or run id)
    #[arg(value_name = "RUN")]
    pub run: String,
    /// The field; a dotted path reaches inside (attempts.0.exit_code)
    #[arg(value_name = "KEY")]
    pub key: String,
}

/// `codex-meta show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The run (meta path, launch file or run id)
    #[arg(value_name = "RUN")]
    pub run: String,
}

/// `codex-meta status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The runs (meta paths, launch files or run ids)
    #[arg(value_name = "RUN", required = true)]
    pub runs: Vec<String>,
}

/// `codex-meta wait`.
#[derive(Debug, Args)]
pub struct WaitArgs {
    /// The runs (meta paths, launch files or run ids)
    #[arg(value_name = "RUN", required = true)]
    pub runs: Vec<String>,
    /// Give up after this long (200ms, 30s, 5m, 1h) and exit 124
    #[arg(long, value_name = "DUR", value_parser = crate::parse_duration)]
    pub timeout: Option<Duration>,
    /// Print nothing; only the exit status tells
    #[arg(short, long)]
    pub quiet: bool,
    /// Return when the first of the runs ends, printing its line (its exit status is the
    /// exit status)
    #[arg(long)]
    pub any: bool,
}

/// `codex-meta cancel`.
#[derive(Debug, Args)]
pub struct CancelArgs {
    /// The runs (meta paths, launch files or run ids)
    #[arg(value_name = "RUN", required = true)]
    pub runs: Vec<String>,
    /// The signal for the supervisor to forward: TERM (default), INT or HUP
    #[arg(long, value_name = "SIG", value_parser = crate::cmd::parse_signal)]
    pub signal: Option<nix::sys::signal::Signal>,
    /// Then wait until the runs have ended, printing their status lines
    #[arg(long)]
    pub wait: bool,
    /// With --wait: give up after this long and exit 124
    #[arg(long, value_name = "DUR", value_parser = crate::parse_duration, requires = "wait")]
    pub timeout: Option<Duration>,
}

/// `codex-meta list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// One JSON object (the meta, effective status) per line instead of a table
    #[arg(long)]
    pub json: bool,
    /// Show at most N runs
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Only runs with this effective status
    #[arg(long, value_name = "STATUS", value_parser = parse_status)]
    pub status: Option<Status>,
}

/// `codex-meta prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Only runs that ended longer ago than this (30m, 12h, 7d)
    #[arg(long, value_name = "DUR", value_parser = crate::parse_duration)]
    pub older_than: Option<Duration>,
    /// Only runs with this effective status (repeat it, or comma-separate: failed,killed)
    #[arg(long, value_name = "STATUS", value_parser = parse_ended_status, value_delimiter = ',')]
    pub status: Vec<Status>,
    /// Keep the newest N of the runs that match
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub keep: usize,
    /// Print what would be removed, and remove nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Also remove worktrees with uncommitted work and branches not merged into their base
    #[arg(long)]
    pub force: bool,
}

/// A status a prune can pick: an ended one.
fn parse_ended_status(s: &str) -> Result<Status, String> {
    let st = parse_status(s)?;
    if st.is_live() {
        return Err(format!("prune never removes a {st} run"));
    }
    Ok(st)
}

fn parse_status(s: &str) -> Result<Status, String> {
    s.parse::<Status>().map_err(|e| e.to_string())
}

/// The clap definition (for man pages and completions).
pub fn command() -> clap::Command {
    Cli::command()
}

/// Parse the process arguments, run, and turn the outcome into an exit status.
pub fn main() -> ExitCode {
    crate::io::run_main("codex-meta", std::env::args_os(), run)
}

/// Run a parsed command line, writing results to `out` and diagnostics to `err`;
/// returns the exit status (see [`EXIT_STATUS`]).
pub fn run(cli: Cli, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    crate::cmd::dispatch(cli, out, err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_cli() {
        command().debug_assert();
    }

    #[test]
    fn exit_statuses_are_unique_and_sorted() {
        let codes: Vec<u8> = EXIT_STATUS.iter().map(|(c, _)| *c).collect();
        let mut sorted = codes.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(codes, sorted);
    }
}
