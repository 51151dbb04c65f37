//! The `codex-mcp` binary: everything lives in the library (`codex_mcp::cli`).

fn main() -> std::process::ExitCode {
    codex_mcp::cli::main()
}
