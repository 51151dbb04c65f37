fn main() -> std::process::ExitCode {
    codex_session_id::cli::main()
}
