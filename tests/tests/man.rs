//! The man pages in `man/` and the shell completions in `completions/` must match the clap
//! definitions they are generated from.

use std::path::Path;

/// The files in `dir` that differ from `files`, or that no longer are generated.
fn stale_files(dir: &Path, files: &[(String, Vec<u8>)]) -> Vec<String> {
    let mut stale: Vec<String> = files
        .iter()
        .filter(|(name, want)| std::fs::read(dir.join(name)).ok().as_ref() != Some(want))
        .map(|(name, _)| dir.join(name).display().to_string())
        .collect();
    let present = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok);
    for entry in present {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !files.iter().any(|(f, _)| *f == name) {
            stale.push(format!(
                "{} (no longer generated)",
                dir.join(name).display()
            ));
        }
    }
    stale
}

#[test]
fn man_pages_and_completions_are_fresh() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut stale = stale_files(&root.join("man"), &codex_tools_tests::man::render_all());
    stale.extend(stale_files(
        &root.join("completions"),
        &codex_tools_tests::man::render_completions(),
    ));
    assert!(
        stale.is_empty(),
        "generated files are stale: {stale:?}\nregenerate them with: scripts/gen-man"
    );
}

#[test]
fn every_page_documents_exit_status() {
    for page in codex_tools_tests::man::pages() {
        let text = String::from_utf8(codex_tools_tests::man::render(&page)).unwrap();
        assert!(
            text.contains(".SH \"EXIT STATUS\""),
            "{}: no EXIT STATUS",
            page.name
        );
        for (code, _) in page.exit_status {
            assert!(
                text.contains(&format!("\\fB{code}\\fR")),
                "{}: code {code} missing",
                page.name
            );
        }
        assert!(text.contains(".SH SYNOPSIS"), "{}: no SYNOPSIS", page.name);
    }
}
