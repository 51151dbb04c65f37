//! Rewrite `man/codex-*.1` from the tools' clap definitions (run by `scripts/gen-man`).

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../man");
    if let Err(e) = std::fs::create_dir_all(&dir) {
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            format!("gen-man: cannot create {}: {e}\n", dir.display()).as_bytes(),
        );
        return ExitCode::from(1);
    }
    for (name, bytes) in codex_tools_tests::man::render_all() {
        if let Err(e) = codex_meta::write_bytes_atomic(&dir.join(name), &bytes) {
            let _ = std::io::Write::write_all(
                &mut std::io::stderr(),
                format!("gen-man: {e}\n").as_bytes(),
            );
            return ExitCode::from(1);
        }
    }
    ExitCode::SUCCESS
}
