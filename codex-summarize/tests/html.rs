//! `--format html` in a real browser (Debian's chromium, headless): the page of a Codex
//! home with rollouts on two days loads with no console message (its policy forbids any
//! script or outside resource, and a violation is one), and its chart has one bar per
//! day. The detector is tried on two bad pages first, so it cannot pass by seeing nothing.
//!
//! Ignored by plain `cargo test` (it needs the browser): `scripts/test` runs it, and
//! `.ci/run` installs chromium. CHROMIUM names another binary.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// The page's DOM as the browser built it, and the console messages it logged.
fn load(page: &Path) -> (String, Vec<String>) {
    let bin = chromium();
    assert!(
        bin.exists(),
        "{}: no browser (apt-get install chromium)",
        bin.display()
    );
    let o = Command::new(&bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!(
            "--user-data-dir={}",
            page.with_extension("profile").display()
        ))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let console = String::from_utf8_lossy(&o.stderr)
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_owned)
        .collect();
    (String::from_utf8_lossy(&o.stdout).into_owned(), console)
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

/// A Codex home of the captured rollouts of two days (0.169.0's, 2026-11-23, and
/// 0.171.0's forks, 2026-12-07).
fn two_day_home(tmp: &Path) -> PathBuf {
    let home = tmp.join("codex-home");
    for (from, day) in [
        ("codex-0.169.0/codex-home", "2026/11/23"),
        ("codex-0.171.0/forks/codex-home", "2026/12/07"),
    ] {
        let src = fixtures().join(from).join("sessions").join(day);
        let dst = home.join("sessions").join(day);
        std::fs::create_dir_all(&dst).unwrap();
        for e in std::fs::read_dir(&src).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
        }
    }
    home
}

#[test]
#[ignore = "needs a browser (chromium): scripts/test runs it"]
fn the_html_report_loads_cleanly_in_a_real_browser_with_one_bar_per_day() {
    let tmp = tempfile::tempdir().unwrap();
    // the detector sees a blocked outside image and a script's console.error
    let bad = [
        r#"<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" content="default-src 'none'"></head><body><img src="https://example.com/x.png"></body></html>"#,
        r#"<!DOCTYPE html><html><body><script>console.error("boom")</script></body></html>"#,
    ];
    for (i, text) in bad.iter().enumerate() {
        let p = tmp.path().join(format!("bad{i}.html"));
        std::fs::write(&p, text).unwrap();
        let (_, console) = load(&p);
        assert!(!console.is_empty(), "bad page {i} raised nothing");
    }

    let home = two_day_home(tmp.path());
    let o = Command::new(env!("CARGO_BIN_EXE_codex-summarize"))
        .env_clear()
        .env("TZ", "UTC")
        .arg("--codex-home")
        .arg(&home)
        .args(["--format", "html"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let page = tmp.path().join("report.html");
    std::fs::write(&page, &o.stdout).unwrap();
    let (dom, console) = load(&page);
    assert!(console.is_empty(), "console: {console:#?}");
    assert_eq!(dom.matches("<rect class=\"bar\"").count(), 2, "{dom}");
    for day in ["2026-11-23", "2026-12-07"] {
        assert!(dom.contains(&format!("<title>{day}: $")), "{day}: {dom}");
    }
    // the totals, the tables and the price source are on the page
    assert!(dom.contains("id=\"total-cost\">$"), "{dom}");
    assert!(
        dom.contains("<h2>Per model</h2>") && dom.contains("<td>gpt-5</td>"),
        "{dom}"
    );
    assert!(
        dom.contains("<h2>Per project</h2>") && dom.contains("/tmp/capture/repo"),
        "{dom}"
    );
    assert!(dom.contains("Prices: builtin:openai-list-prices@"), "{dom}");
}

/// Without a browser: the page is one document that names no outside resource.
#[test]
fn the_html_report_is_self_contained() {
    let tmp = tempfile::tempdir().unwrap();
    let home = two_day_home(tmp.path());
    let o = Command::new(env!("CARGO_BIN_EXE_codex-summarize"))
        .env_clear()
        .arg("--codex-home")
        .arg(&home)
        .args(["--format", "html", "--timezone", "UTC"])
        .output()
        .unwrap();
    assert!(o.status.success());
    let page = String::from_utf8(o.stdout).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>") && page.ends_with("</html>\n"));
    for outside in ["<script", "<link", "src=", "@import", "url("] {
        assert!(!page.contains(outside), "{outside}");
    }
    // only the SVG namespace is a URL on it
    assert_eq!(
        page.matches("http").count(),
        page.matches("http://www.w3.org/2000/svg").count() + 1
    );
    assert!(page.contains("Days in UTC."));
    // --by is the page's own; a run is not a report
    let o = Command::new(env!("CARGO_BIN_EXE_codex-summarize"))
        .env_clear()
        .arg("--codex-home")
        .arg(&home)
        .args(["--format", "html", "--by", "model"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("drop --by"));
}
