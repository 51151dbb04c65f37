//! The command line: clap definition, documented exit statuses, and the thin `main` that
//! starts the MCP server on stdin/stdout in a small tokio runtime.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, Parser};
use rmcp::ServiceExt;

use crate::server::{CodexMcp, Settings};

/// Exit statuses (code, meaning), for the man page.
pub const EXIT_STATUS: &[(u8, &str)] = &[
    (
        0,
        "the client ended the session (closed the server's stdin); runs started over MCP go on",
    ),
    (
        1,
        "the MCP session failed: the client's first messages were not an MCP handshake, or stdin/stdout could not be used (one line on stderr says why)",
    ),
    (
        2,
        "usage error: bad arguments or an unusable --runs-dir (one line on stderr)",
    ),
];

const AFTER_HELP: &str = "\
Tools (each takes max_bytes; every result is one JSON object of at most 1024 bytes unless \
max_bytes asks for more, given as structured content and as text):
  spawn   {repo, task?, resume?, codex_args?, verify?, max_attempts?, timeout?, worktree?,
           base?, branch?, max_cost_usd?, max_tokens?, after?, wait_for_session?, ...}
          -> {run_id, log_file, meta_file, session_id?}: returns at once
  status  {run | runs}        -> {run_id, status, exit_code, session_id, reason?}
  list    {limit?, status?}   -> {runs: [{run_id, status, exit_code, task}]}
  wait    {run, timeout_seconds?} -> {status, exit_code, timed_out}; progress notifications
  result  {run}               -> {status, session_id, usage, total_cost_usd, result, ...}
  cancel  {run, signal?, wait_seconds?} -> {run_id, status: cancelling | how it ended}

A run is a run id (or a unique prefix), a meta file or a launch file. A bad request is a
tool error (isError) of one line; the server goes on.

Runs started over MCP are ordinary runs of the runs dir (started by codex-spawn --detach),
visible to codex-meta and codex-summarize, and they survive the server's exit.

Claude Code:  claude mcp add codex-tools -- codex-mcp
Other hosts:  {\"mcpServers\": {\"codex-tools\": {\"command\": \"codex-mcp\", \"args\": []}}}

Environment: CODEX_RUNS_DIR, CODEX_SPAWN_BIN; codex-spawn's own (CODEX_BIN, CODEX_HOME, ...)
reach it unchanged.

Exit status: 0 the client ended the session (runs go on), 1 the MCP session failed, 2 usage
error.";

/// An MCP server on stdio: the codex-tools run lifecycle (spawn, status, list, wait,
/// result, cancel) for agents.
#[derive(Parser, Debug)]
#[command(
    name = "codex-mcp",
    version,
    about = "MCP server on stdio: spawn, status, list, wait, result and cancel Codex runs from an agent",
    after_help = AFTER_HELP
)]
pub struct Args {
    /// Where runs live [default: $CODEX_RUNS_DIR, else ./runs]
    #[arg(
        long,
        value_name = "DIR",
        env = "CODEX_RUNS_DIR",
        hide_env_values = true
    )]
    pub runs_dir: Option<PathBuf>,

    /// The codex-spawn that starts runs [default: the one beside codex-mcp, else PATH's]
    #[arg(
        long,
        value_name = "PATH",
        env = "CODEX_SPAWN_BIN",
        hide_env_values = true
    )]
    pub codex_spawn: Option<PathBuf>,

    /// How often a blocking call (wait) sends a progress notification
    #[arg(long, value_name = "DUR", default_value = "5s", value_parser = codex_meta::parse_duration)]
    pub progress_interval: Duration,
}

/// The clap command (for man pages and completions).
pub fn command() -> clap::Command {
    Args::command()
}

/// Parse, validate, serve; map errors to a one-line message and an exit status.
pub fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => return codex_meta::io::clap_exit("codex-mcp", &e),
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err((code, message)) => {
            let line = crate::error::one_line(&message);
            let _ = writeln!(std::io::stderr().lock(), "codex-mcp: {line}");
            ExitCode::from(code)
        }
    }
}

/// Serve MCP on stdin/stdout until the client ends the session.
pub fn run(args: Args) -> Result<(), (u8, String)> {
    let runs_dir =
        codex_meta::RunsDir::resolve(args.runs_dir.as_deref()).map_err(|e| (2, e.to_string()))?;
    let settings = Settings {
        runs_dir,
        codex_spawn: crate::spawn::locate(args.codex_spawn),
        progress_interval: args.progress_interval,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| (1, format!("cannot start the runtime: {e}")))?;
    let served = runtime.block_on(async {
        let service = CodexMcp::new(settings)
            .serve(rmcp::transport::stdio())
            .await
            .map_err(|e| format!("MCP handshake failed: {e}"))?;
        service
            .waiting()
            .await
            .map(|_| ())
            .map_err(|e| format!("MCP session failed: {e}"))
    });
    // a `wait` still blocked in a worker thread must not hold the exit up
    runtime.shutdown_background();
    served.map_err(|m| (1, m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_cli() {
        command().debug_assert();
    }
}
