//! `fake-codex`: replays real Codex CLI transcripts (see `fake_codex`).
fn main() -> std::process::ExitCode {
    codex_tools_tests::fake_codex::main()
}
