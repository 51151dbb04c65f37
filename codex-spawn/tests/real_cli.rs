//! codex-spawn with the REAL Codex CLI.
//!
//! - The argv codex-spawn builds, checked against the real CLI's parser: a parse error
//!   exits 2 at once with `Usage:`; anything else means the argv parsed. codex talks to
//!   an unreachable endpoint (fresh CODEX_HOME), so runs end by failing or by --timeout.
//! - The verify loop, the outcome detector and the stall watchdog against the mock
//!   Responses endpoint (`codex-mock-responses` from the tests/ crate, `$CODEX_MOCK_BIN`).
//!
//! Needs the real CLI: `CODEX_REAL_BIN=… CODEX_MOCK_BIN=… cargo test -p codex-spawn
//! --test real_cli -- --ignored` (scripts/e2e sets them).
#![allow(clippy::unwrap_used)]

mod common;

use common::*;

fn real_bin() -> String {
    std::env::var("CODEX_REAL_BIN").expect("set CODEX_REAL_BIN to the real codex binary")
}

/// Whether the CLI under test prints thread events in `--json` (codex-meta's table).
fn thread_events() -> bool {
    let out = std::process::Command::new(real_bin())
        .arg("--version")
        .output()
        .unwrap();
    let v = codex_session_id::log::version_in(&String::from_utf8_lossy(&out.stdout))
        .expect("codex --version");
    codex_session_id::codex_version::has(v, codex_session_id::codex_version::Fact::ThreadEvents)
}

fn check(env: &Env, args: &[&str]) {
    let home = env.path().join("codex-home");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(
        home.join("config.toml"),
        "model = \"gpt-5\"\nmodel_provider = \"mock\"\n[model_providers.mock]\nname = \"mock\"\nbase_url = \"http://127.0.0.1:9/v1\"\nwire_api = \"responses\"\n",
    )
    .unwrap();
    let out = env
        .cmd()
        .env("CODEX_BIN", real_bin())
        .env("CODEX_HOME", &home)
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .args(["-q", "--timeout", "6s", "--kill-grace", "1s"])
        .args(args)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&env.log()).into_owned();
    let body = log.split("--- codex output ---").nth(1).unwrap_or("");
    assert_ne!(
        out.status.code(),
        Some(2),
        "{args:?}: the real CLI rejected the argv:\n{body}"
    );
    assert!(!body.contains("Usage: codex"), "{args:?}:\n{body}");
    assert!(!body.contains("unexpected argument"), "{args:?}:\n{body}");
}

#[test]
#[ignore = "needs the real Codex CLI: run scripts/e2e"]
fn real_cli_accepts_new_resume_and_resume_last_argv() {
    let pass = [
        "--",
        "-s",
        "read-only",
        "-m",
        "gpt-5",
        "--skip-git-repo-check",
        // an option with a value that every supported version has (`--add-dir` came later)
        "-c",
        "model=\"gpt-5\"",
    ];
    let sid = "01a20a11-cee4-7090-bde8-0211b8147f80";
    let task_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(task_file.path(), "a prompt from a file").unwrap();
    let tf = task_file.path().to_str().unwrap().to_owned();
    let cases: Vec<Vec<&str>> = vec![
        vec!["--task", "say hello"],
        vec!["--task-file", &tf],
        vec!["--task", "--looks-like-an-option"],
        vec!["--resume", sid, "--task", "follow up"],
        vec!["--resume", sid],
        vec!["--resume", "last", "--task", "follow up"],
        vec!["--resume", "last"],
        vec!["--resume", sid, "--task-file", &tf],
    ];
    for case in cases {
        for with_pass in [false, true] {
            let env = Env::new();
            let mut args = case.clone();
            if with_pass {
                args.extend(pass);
            }
            check(&env, &args);
        }
    }
}

fn mock_bin() -> String {
    std::env::var("CODEX_MOCK_BIN")
        .expect("set CODEX_MOCK_BIN to the codex-mock-responses binary (tests/ crate)")
}

/// The mock endpoint, run as a child for one test (killed when dropped), with a fresh
/// CODEX_HOME pointing codex at it and every request logged.
struct Mock {
    child: std::process::Child,
    home: std::path::PathBuf,
    log: std::path::PathBuf,
}

impl Mock {
    fn start(env: &Env, scenario: Option<&str>) -> Mock {
        use std::io::BufRead;
        let home = env.path().join("codex-home");
        let log = env.path().join("mock-requests.jsonl");
        let mut cmd = std::process::Command::new(mock_bin());
        cmd.args(["--port", "0", "--print-port", "--codex-home"])
            .arg(&home)
            .arg("--log")
            .arg(&log)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped());
        if let Some(json) = scenario {
            let file = env.path().join("scenario.json");
            std::fs::write(&file, json).unwrap();
            cmd.arg("--scenario").arg(file);
        }
        let mut child = cmd.spawn().unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.contains("http://127.0.0.1:"), "mock said: {line}");
        Mock { child, home, log }
    }

    fn requests(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_real(env: &Env, mock: &Mock, codex_bin: &str) -> std::process::Command {
    let mut c = env.cmd();
    c.env("CODEX_BIN", codex_bin)
        .env("CODEX_HOME", &mock.home)
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .args(["-q", "--timeout", "120s", "--kill-grace", "2s"]);
    c
}

fn show(out: &std::process::Output, env: &Env) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}\nlog:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&env.log())
    )
}

#[test]
#[ignore = "needs the real Codex CLI: run scripts/e2e"]
fn real_cli_failing_check_is_fixed_by_the_resumed_session() {
    let env = Env::new();
    // Request 1: codex answers without doing anything; the check fails. Requests 2-3
    // (the resumed session): codex runs `touch fixed`, then answers; the check passes.
    let mock = Mock::start(
        &env,
        Some(
            r#"{"steps":[{"action":"answer","text":"I did nothing."},
                {"action":"tool","cmd":"touch fixed"},{"action":"tool","cmd":"touch fixed"}]}"#,
        ),
    );
    let out = spawn_real(&env, &mock, &real_bin())
        .args(["--task", "fix the widget", "--verify"])
        .arg("test -f fixed || { echo 'MISSING: fixed'; exit 1; }")
        .args([
            "--",
            "--skip-git-repo-check",
            "--dangerously-bypass-approvals-and-sandbox",
            "--json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out, &env));
    let m = env.meta();
    assert_eq!(m["status"], "succeeded");
    let at = m["attempts"].as_array().unwrap();
    assert_eq!(at.len(), 2, "{m:#}");
    let sid = m["session_id"].as_str().unwrap();
    assert_eq!(at[0]["session_id"], sid);
    assert_eq!(
        at[1]["session_id"], sid,
        "the resumed attempt continues the session"
    );
    assert_eq!(at[0]["verify"]["exit_code"], 1);
    assert_eq!(at[1]["verify"]["exit_code"], 0);
    assert!(env.repo().join("fixed").exists());
    // The resumed request carried the check's output and the earlier conversation.
    let reqs = mock.requests();
    assert!(reqs.len() >= 2, "{reqs:?}");
    let second = reqs[1]["body"].to_string();
    assert!(second.contains("MISSING: fixed"), "{second}");
    assert!(second.contains("fix the widget"), "{second}");
}

#[test]
#[ignore = "needs the real Codex CLI: run scripts/e2e"]
fn real_cli_failed_turn_is_not_succeeded_even_when_codex_exits_0() {
    for json in [true, false] {
        let env = Env::new();
        let mock = Mock::start(&env, None);
        // The real CLI exits 1 on a failed turn; this wrapper makes it exit 0, the case
        // the outcome detector exists for.
        let wrapper = env.path().join("codex-exit-0");
        std::fs::write(
            &wrapper,
            format!("#!/bin/sh\n'{}' \"$@\"\nexit 0\n", real_bin()),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut cmd = spawn_real(&env, &mock, wrapper.to_str().unwrap());
        cmd.args(["--task", "[turnfail] hello", "--verify", "true", "--"])
            .arg("--skip-git-repo-check");
        if json {
            cmd.arg("--json");
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", show(&out, &env));
        let m = env.meta();
        assert_eq!(m["status"], "failed");
        assert_eq!(m["attempts"][0]["exit_code"], 0);
        assert!(
            m["attempts"][0]["verify"].is_null(),
            "no check after a failed turn"
        );
        let reason = m["outcome_reason"].as_str().unwrap();
        // before 0.44 the `--json` stream has no turn.failed: its error event says it
        let want = match (json, thread_events()) {
            (true, true) => "turn.failed: ",
            (true, false) => "error event not followed",
            (false, _) => "ERROR not followed",
        };
        assert!(reason.starts_with(want), "json={json}: {reason}");
    }
}

#[test]
#[ignore = "needs the real Codex CLI: run scripts/e2e"]
fn real_cli_stalled_stream_is_stopped_as_stalled() {
    let env = Env::new();
    let mock = Mock::start(&env, None);
    let start = std::time::Instant::now();
    let out = spawn_real(&env, &mock, &real_bin())
        .args(["--task", "[stall:120s] hello", "--stall-timeout", "4s"])
        .args(["--verify", "true", "--", "--skip-git-repo-check", "--json"])
        .output()
        .unwrap();
    let took = start.elapsed();
    assert_eq!(out.status.code(), Some(124), "{}", show(&out, &env));
    assert!(took < std::time::Duration::from_secs(30), "{took:?}");
    let m = env.meta();
    assert_eq!(m["status"], "stalled");
    assert_eq!(m["attempts"].as_array().unwrap().len(), 1);
    assert!(m["session_id"].is_string());
}
