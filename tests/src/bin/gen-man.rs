//! Rewrite `man/codex-*.1` and `completions/` from the tools' clap definitions (run by
//! `scripts/gen-man`; `tests/tests/man.rs` fails when they drift).

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let sets = [
        ("man", codex_tools_tests::man::render_all()),
        ("completions", codex_tools_tests::man::render_completions()),
    ];
    for (dir, files) in sets {
        let dir = root.join(dir);
        if let Err(e) = std::fs::create_dir_all(&dir) {
            let _ = writeln!(
                std::io::stderr(),
                "gen-man: cannot create {}: {e}",
                dir.display()
            );
            return ExitCode::from(1);
        }
        for (name, bytes) in files {
            if let Err(e) = codex_meta::write_bytes_atomic(&dir.join(name), &bytes) {
                let _ = writeln!(std::io::stderr(), "gen-man: {e}");
                return ExitCode::from(1);
            }
        }
    }
    ExitCode::SUCCESS
}
