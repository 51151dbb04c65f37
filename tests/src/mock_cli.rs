//! Command line of `codex-mock-responses`: runs [`crate::mock::MockServer`] in the
//! foreground so shell scripts (`scripts/capture-fixtures`) can point the real CLI at it.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use crate::mock::{MockOptions, MockServer, ProviderTuning, Scenario, write_codex_config};

/// Exit statuses of `codex-mock-responses`.
pub const EXIT_STATUS: &[(u8, &str)] = &[
    (
        0,
        "never in practice: the server runs until it is killed (SIGTERM/SIGINT end it)",
    ),
    (
        1,
        "the server could not start (bad scenario, port in use, unwritable log or CODEX_HOME)",
    ),
    (2, "invalid command line"),
];

const AFTER_HELP: &str = "\
Prompt markers (in the last user message; they combine):
  [say:TEXT]          answer TEXT
  [tool] [tool:CMD]   an exec_command call, then an answer quoting its output
  [history]           answer `history has: [\"prompt 1\",…]`
  [fail500] [fail]    HTTP 500 (codex retries 5 times, ~24 s, exits 1)
  [turnfail[:CODE]]   a response.failed event (default code insufficient_quota)
  [stall[:30s]]       response.created, then silence (default: stall_max_secs)
  [slow:200ms]        that delay before each event after the first
  [usage:I,C,O,R]     usage input, cached, output, reasoning

A scenario file (JSON, every field optional) sets defaults and per-request steps:
  {\"text\":\"Done {n}.\", \"tool_cmd\":\"echo hi\", \"quote_tool_output\":true,
   \"usage\":{\"input\":1000,\"cached\":200,\"output\":50,\"reasoning\":10},
   \"usage_scales_with_call\":false, \"delay_ms\":0, \"stall_max_secs\":600,
   \"steps\":[{\"action\":\"tool\",\"cmd\":\"ls\"}, {\"action\":\"answer\",\"text\":\"ok\"}]}
  actions: answer, tool, history, fail500, stall, turn_fail

The server runs until SIGTERM or SIGINT (stdin is not watched: background jobs of a
script get /dev/null as stdin).";

/// A scripted Responses-API endpoint on 127.0.0.1 for running the real Codex CLI offline.
#[derive(Debug, Parser)]
#[command(name = "codex-mock-responses", version, after_help = AFTER_HELP)]
pub struct Cli {
    /// Port to listen on (0: a free one).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Scenario file (JSON).
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    /// Append every request as a JSON line {"path","body"} to FILE.
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Print "PORT BASE_URL" as the first line of stdout once listening.
    #[arg(long)]
    pub print_port: bool,
    /// Write DIR/config.toml pointing codex at this server.
    #[arg(long, value_name = "DIR")]
    pub codex_home: Option<PathBuf>,
}

/// The clap definition (for man pages).
pub fn command() -> clap::Command {
    Cli::command()
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            let _ = writeln!(std::io::stderr(), "codex-mock-responses: {msg}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: &Cli) -> Result<(), String> {
    let scenario = match &cli.scenario {
        Some(path) => Scenario::from_file(path).map_err(|e| e.to_string())?,
        None => Scenario::default(),
    };
    let server = MockServer::start_with(
        scenario,
        MockOptions {
            port: cli.port,
            log: cli.log.clone(),
        },
    )
    .map_err(|e| e.to_string())?;
    if let Some(dir) = &cli.codex_home {
        write_codex_config(dir, &server.base_url(), &ProviderTuning::default())
            .map_err(|e| e.to_string())?;
    }
    if cli.print_port {
        let mut out = std::io::stdout().lock();
        // A closed stdout is no reason to stop serving.
        let _ = writeln!(out, "{} {}", server.port(), server.base_url()).and_then(|()| out.flush());
    }
    server.wait();
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn verify_cli() {
        super::command().debug_assert();
    }
}
