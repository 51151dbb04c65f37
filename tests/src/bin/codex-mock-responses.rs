//! `codex-mock-responses`: the mock Responses endpoint as a process (see `mock_cli`).
fn main() -> std::process::ExitCode {
    codex_tools_tests::mock_cli::main()
}
