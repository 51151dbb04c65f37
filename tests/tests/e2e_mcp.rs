//! End to end: codex-mcp driven by a real MCP client — the official Python SDK
//! (`tests/mcp/client.py`) — with the REAL Codex CLI against the mock endpoint: spawn,
//! wait with progress, result (and its 1 KiB cap), resume, cancel (and a cancelled wait),
//! status, list, bad requests. The client asserts the protocol; this side checks that the
//! runs it made are ordinary runs, as the CLI tools see them, after the server is gone.
//!
//! Ignored by plain `cargo test`; `scripts/e2e` runs it with the real CLI and the SDK
//! installed by `scripts/install-mcp-client` (`$MCP_PYTHON`, else `.cache/mcp-venv`).
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use codex_tools_tests::e2e::{BYPASS, E2e, run_bounded, tag};
use codex_tools_tests::tools::tool_path;
use serde_json::Value;

/// The Python that has the `mcp` package.
fn python() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let path = std::env::var_os("MCP_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".cache/mcp-venv/bin/python"));
    assert!(
        path.is_file(),
        "{} not found: run scripts/install-mcp-client (scripts/e2e does)",
        path.display()
    );
    path
}

#[test]
#[ignore = "needs the real Codex CLI and the Python MCP SDK: run scripts/e2e"]
fn a_python_mcp_client_drives_the_whole_run_lifecycle() {
    let s = E2e::new();
    let t = tag();
    let client = Path::new(env!("CARGO_MANIFEST_DIR")).join("mcp/client.py");
    let mut cmd = Command::new(python());
    cmd.arg(&client)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", s.dir.path())
        .env("CODEX_HOME", &s.home)
        .env("CODEX_BIN", &s.codex)
        .env("CODEX_RUNS_DIR", &s.runs)
        // codex-spawn is found beside codex-mcp, as after `cargo install`
        .env("CODEX_MCP", tool_path("codex-mcp").unwrap())
        .env("REPO", &s.repo)
        .env("TAG", &t)
        .env("BYPASS", BYPASS)
        .current_dir(s.dir.path());
    let out = run_bounded(cmd, false, Duration::from_secs(300));
    assert_eq!(out.code(), Some(0), "client.py failed: {out}");
    let seen: Value = serde_json::from_str(out.stdout.trim())
        .unwrap_or_else(|e| panic!("client.py printed no JSON line ({e}): {out}"));

    // the server is gone; its runs are ordinary runs, as the CLI tools see them
    let id = |k: &str| seen[k]["run_id"].as_str().unwrap().to_owned();
    let ids: Vec<String> = ["first", "second", "long", "slow", "victim"]
        .iter()
        .map(|k| id(k))
        .collect();
    let mut args = vec!["status"];
    args.extend(ids.iter().map(String::as_str));
    let st = s.tool("codex-meta", &args);
    assert_eq!(st.code(), Some(0), "{st}");
    let statuses: Vec<&str> = st
        .stdout
        .lines()
        .map(|l| l.split_whitespace().nth(1).unwrap_or(""))
        .collect();
    assert_eq!(
        statuses,
        ["succeeded", "succeeded", "succeeded", "succeeded", "killed"],
        "{st}"
    );
    let victim = s.tool("codex-meta", &["get", &id("victim"), "outcome_reason"]);
    assert!(
        victim.stdout.starts_with("cancelled by codex-mcp cancel ("),
        "{victim}"
    );

    // `result` says what codex-summarize and codex-spawn's result object say
    for k in ["first", "second"] {
        let summary = s.summarize(&[&id(k)]);
        let r = &seen[k]["result"];
        assert_eq!(
            r["session_id"], summary["session_id"],
            "{k}: {r} vs {summary}"
        );
        for u in [
            "input_tokens",
            "cached_input_tokens",
            "output_tokens",
            "total_tokens",
        ] {
            assert_eq!(
                r["usage"][u], summary["token_usage"][u],
                "{k}: {u}: {r} vs {summary}"
            );
        }
        assert_eq!(r["total_cost_usd"], summary["cost"]["usd"], "{k}");
        assert_eq!(r["result"], summary["last_message"], "{k}");
    }
    assert_eq!(
        seen["first"]["result"]["session_id"], seen["second"]["result"]["session_id"],
        "the resume continued the session"
    );
    assert!(seen["slow"]["progress"].as_u64().unwrap() >= 2);
    // the session was resumed with its history: the mock saw the first prompt again
    let prompts = s.prompts_from(0);
    assert!(
        prompts
            .iter()
            .any(|p| p.iter().any(|x| x.contains(&format!("first-{t}")))
                && p.iter().any(|x| x.contains(&format!("second-{t}")))),
        "{prompts:#?}"
    );
}
