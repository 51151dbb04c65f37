//! The `codex-spawn` binary: everything lives in the library (`codex_spawn::cli`).

fn main() -> std::process::ExitCode {
    codex_spawn::cli::main()
}
