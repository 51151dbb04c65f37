//! The `codex-summarize` binary: all the work is in the library's `cli` module.
fn main() -> std::process::ExitCode {
    codex_summarize::cli::main()
}
