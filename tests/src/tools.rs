//! The workspace's four tool binaries, as the end-to-end tests run them.
//!
//! Why it exists: `tests/tests/e2e_*.rs` drive the *built* tools (`codex-spawn`,
//! `codex-session-id`, `codex-meta`, `codex-summarize`) as a user would, against the real
//! Codex CLI. Cargo only hands a test the paths of its own package's binaries
//! (`CARGO_BIN_EXE_*`), so the tools are found next to the test executable
//! (`target/<profile>/deps/e2e_…` → `target/<profile>/codex-spawn`); `scripts/e2e`
//! builds them first (`cargo build --workspace --bins`). This module also parses the
//! `key=value` lines codex-spawn prints before and after a run.

use std::path::{Path, PathBuf};

/// The tools of the workspace, in pipeline order.
pub const TOOLS: [&str; 4] = [
    "codex-spawn",
    "codex-session-id",
    "codex-meta",
    "codex-summarize",
];

/// The four lines codex-spawn prints before codex starts, in this order.
pub const RUN_LINE_KEYS: [&str; 4] = [
    "codex_run_id",
    "log_file",
    "meta_file",
    "summary_file_pending",
];

/// Errors locating a tool or reading codex-spawn's output.
#[derive(Debug, thiserror::Error)]
pub enum ToolsError {
    /// The test executable's own path is unknown.
    #[error("cannot locate the test executable: {0}")]
    CurrentExe(std::io::Error),
    /// The tool was not built into the target dir.
    #[error("{} not found: run `cargo build --workspace --bins` first (scripts/e2e does)", path.display())]
    Missing { path: PathBuf },
    /// codex-spawn's stdout does not start with the four run lines.
    #[error("stdout does not start with the four run lines ({expected}=…): {got:?}")]
    RunLines { expected: &'static str, got: String },
}

/// The target dir of the running test executable (`target/<profile>`).
///
/// Test executables live in `target/<profile>/deps/`; binaries one level up.
pub fn profile_dir() -> Result<PathBuf, ToolsError> {
    let exe = std::env::current_exe().map_err(ToolsError::CurrentExe)?;
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.pop();
    }
    Ok(dir)
}

/// The path of tool `name` built next to the test executable.
pub fn tool_path(name: &str) -> Result<PathBuf, ToolsError> {
    let path = profile_dir()?.join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(ToolsError::Missing { path })
    }
}

/// Every `key=value` line of `text`, in order (a value may contain `=`).
pub fn key_values(text: &str) -> Vec<(&str, &str)> {
    text.lines()
        .filter_map(|line| line.split_once('='))
        .filter(|(k, _)| !k.is_empty() && k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
        .collect()
}

/// The value of the last `key=value` line of `text` with this key.
pub fn last_value<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    key_values(text)
        .into_iter()
        .rev()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

/// The four run lines codex-spawn prints first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunLines {
    pub run_id: String,
    pub log_file: PathBuf,
    pub meta_file: PathBuf,
    pub summary_file_pending: PathBuf,
}

impl RunLines {
    /// Parses the first four lines of `stdout`, which must be exactly the run lines in
    /// their order (nothing before them).
    pub fn parse(stdout: &str) -> Result<RunLines, ToolsError> {
        let mut lines = stdout.lines();
        let mut values = Vec::with_capacity(4);
        for key in RUN_LINE_KEYS {
            let line = lines.next().unwrap_or("");
            match line.split_once('=') {
                Some((k, v)) if k == key && !v.is_empty() => values.push(v.to_owned()),
                _ => {
                    return Err(ToolsError::RunLines {
                        expected: key,
                        got: line.to_owned(),
                    });
                }
            }
        }
        let mut v = values.into_iter();
        let mut next = || v.next().unwrap_or_default();
        Ok(RunLines {
            run_id: next(),
            log_file: PathBuf::from(next()),
            meta_file: PathBuf::from(next()),
            summary_file_pending: PathBuf::from(next()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUT: &str = "codex_run_id=20261123-211753-9ec828\n\
        log_file=/r/codex-run-20261123-211753-9ec828.log\n\
        meta_file=/r/codex-run-20261123-211753-9ec828.meta.json\n\
        summary_file_pending=/r/codex-run-20261123-211753-9ec828.summary.json\n\
        tokens used\n1,700\ncodex_exit_code=0\n\
        summary_json={\"a\":\"b=c\"}\n";

    #[test]
    fn run_lines_parse_in_order() {
        let r = RunLines::parse(OUT).unwrap();
        assert_eq!(r.run_id, "20261123-211753-9ec828");
        assert_eq!(
            r.meta_file,
            Path::new("/r/codex-run-20261123-211753-9ec828.meta.json")
        );
        let err = RunLines::parse(&OUT.replacen("log_file", "logfile", 1)).unwrap_err();
        assert!(err.to_string().contains("log_file=…"), "{err}");
        assert!(RunLines::parse(&format!("noise\n{OUT}")).is_err());
        assert!(RunLines::parse("").is_err());
    }

    #[test]
    fn closing_values() {
        assert_eq!(last_value(OUT, "codex_exit_code"), Some("0"));
        assert_eq!(last_value(OUT, "summary_json"), Some("{\"a\":\"b=c\"}"));
        assert_eq!(last_value(OUT, "codex_session_id"), None);
        assert_eq!(key_values("A=b\n=x\nk=v").len(), 1);
    }

    #[test]
    fn missing_tool_names_the_fix() {
        let err = tool_path("no-such-tool-e2e").unwrap_err().to_string();
        assert!(err.contains("cargo build --workspace --bins"), "{err}");
    }
}
