//! The man pages in `man/` must match the clap definitions they are generated from.

use std::path::Path;

#[test]
fn man_pages_are_fresh() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../man");
    let mut stale = Vec::new();
    let files = codex_tools_tests::man::render_all();
    for (name, want) in &files {
        let path = dir.join(name);
        let have = std::fs::read(&path).unwrap_or_default();
        if have != *want {
            stale.push(path.display().to_string());
        }
    }
    let extra: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_else(|_| Vec::new())
        .into_iter()
        .filter(|n: &String| n.ends_with(".1") && !files.iter().any(|(f, _)| f == n))
        .collect();
    stale.extend(
        extra
            .into_iter()
            .map(|n| format!("{n} (no longer generated)")),
    );
    assert!(
        stale.is_empty(),
        "man pages are stale: {stale:?}\nregenerate them with: scripts/gen-man"
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
