//! The real Codex CLI against the mock endpoint: proves the mock speaks the protocol
//! codex-cli 0.169.0 expects, and pins the CLI behaviours the tools rely on.
//! Ignored by plain `cargo test`; `scripts/e2e` runs them with the pinned CLI.

// Helpers outside #[test] fns unwrap too: a test failing loudly is the point.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use codex_tools_tests::mock::{MockServer, ProviderTuning, Scenario, user_prompts};
use codex_tools_tests::real_codex::{ExecOutput, RealCodex};
use serde_json::Value;

/// A fresh CODEX_HOME, a fresh git repo and a mock server for one test.
struct Setup {
    _dir: tempfile::TempDir,
    home: PathBuf,
    repo: PathBuf,
    server: MockServer,
    codex: RealCodex,
}

impl Setup {
    fn new(scenario: Scenario) -> Setup {
        Setup::tuned(scenario, &ProviderTuning::default())
    }

    fn tuned(scenario: Scenario, tuning: &ProviderTuning) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("codex-home");
        let repo = dir.path().join("repo");
        std::fs::create_dir(&repo).unwrap();
        let git = Command::new("git")
            .args(["init", "-q"])
            .current_dir(&repo)
            .status()
            .unwrap();
        assert!(git.success());
        let server = MockServer::start(scenario);
        server.write_codex_home_tuned(&home, tuning).unwrap();
        Setup {
            _dir: dir,
            home,
            repo,
            server,
            codex: RealCodex::get(),
        }
    }

    /// `codex exec --cd REPO ARGS…` with stdin /dev/null.
    fn exec(&self, args: &[&str]) -> ExecOutput {
        let repo = self.repo.to_str().unwrap();
        let mut all = vec!["--cd", repo];
        all.extend_from_slice(args);
        self.codex.exec(&all, &self.home, None).unwrap()
    }
}

fn json_lines(out: &ExecOutput) -> Vec<Value> {
    out.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}\n{out}")))
        .collect()
}

fn event<'a>(events: &'a [Value], kind: &str) -> &'a Value {
    events
        .iter()
        .find(|e| e["type"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in {events:?}"))
}

#[test]
#[ignore = "needs the real Codex CLI: run scripts/e2e"]
fn plain_answer_reaches_stdout_and_last_message_file() {
    let s = Setup::new(Scenario::answer("hello from mock"));
    let last = s.home.join("last.txt");
    let out = s.exec(&["-o", last.to_str().unwrap(), "say hello"]);
    assert_eq!(out.code(), Some(0), "{out}");
    assert_eq!(out.stdout, "hello from mock\n", "{out}");
    // (1000 - 200 cached) + 50 output
    assert!(out.stderr.contains("\ntokens used\n850\n"), "{out}");
    assert_eq!(out.session_id().map(|s| s.len()), Some(36), "{out}");
    assert_eq!(std::fs::read_to_string(&last).unwrap(), "hello from mock");
    let reqs = s.server.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(user_prompts(&reqs[0]), ["say hello"]);
    assert_eq!(reqs[0]["model"], "gpt-5");
}

#[test]
#[ignore = "needs the real Codex CLI: run scripts/e2e"]
fn tool_call_runs_the_command_and_the_answer_quotes_it() {
    let s = Setup::new(Scenario::default());
    let out = s.exec(&[
        "--dangerously-bypass-approvals-and-sandbox",
        "[tool:echo tool-ran-$((6*7))]",
    ]);
    assert_eq!(out.code(), Some(0), "{out}");
    // the shell expanded $((6*7)): codex really ran the command
    assert!(out.stdout.starts_with("tool output: "), "{out}");
    assert!(out.stdout.contains("tool-ran-42"), "{out}");
    let reqs = s.server.requests();
    assert_eq!(reqs.len(), 2, "{out}");
    let fco = reqs[1]["input"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["type"] == "function_call_output")
        .expect("second request carries the tool output");
    assert!(fco["output"].as_str().unwrap().contains("tool-ran-42"));
}

#[test]
#[ignore = "needs the real Codex CLI: run scripts/e2e"]
fn resume_keeps_the_first_turn_in_history() {
    let s = Setup::new(Scenario::default());
    let first = s.exec(&["first turn alpha"]);
    assert_eq!(first.code(), Some(0), "{first}");
    let sid = first.session_id().expect("session id");
    let second = s.exec(&["resume", &sid, "[history] second"]);
    assert_eq!(second.code(), Some(0), "{second}");
    assert_eq!(
        second.session_id().as_deref(),
        Some(sid.as_str()),
        "{second}"
    );
    assert_eq!(
        second.stdout, "history has: [\"first turn alpha\",\"[history] second\"]\n",
        "{second}"
    );
    // tokens used is cumulative for the session: 850 + 850
    assert!(second.stderr.contains("\ntokens used\n1,700\n"), "{second}");
}

#[test]
#[ignore = "needs the real Codex CLI: run scripts/e2e"]
fn http_500_is_retried_five_times_then_exit_1() {
    let s = Setup::new(Scenario::default());
    let out = s.exec(&["[fail500] say hello"]);
    assert_eq!(out.code(), Some(1), "{out}");
    assert!(out.stderr.contains("ERROR: Reconnecting... 5/5"), "{out}");
    // 6 stream attempts ("Reconnecting... N/5"), each an HTTP request retried 4 times
    assert_eq!(s.server.requests().len(), 30, "{out}");
    eprintln!("http 500: exit 1 after {:?}", out.elapsed);
}

#[test]
#[ignore = "needs the real Codex CLI: run scripts/e2e"]
fn http_500_without_retries_fails_at_once() {
    let tuning = ProviderTuning {
        request_max_retries: Some(0),
        stream_max_retries: Some(0),
        ..ProviderTuning::default()
    };
    let s = Setup::tuned(Scenario::default(), &tuning);
    let out = s.exec(&["--json", "[fail500] say hello"]);
    assert_eq!(out.code(), Some(1), "{out}");
    assert!(event(&json_lines(&out), "turn.failed").is_object());
    assert_eq!(s.server.requests().len(), 1, "{out}");
}

#[test]
#[ignore = "needs the real Codex CLI: run scripts/e2e"]
fn stalled_stream_hits_codex_idle_timeout_then_exit_1() {
    // Default stream_idle_timeout_ms is 300 s (measured: first reconnect at 301 s) and
    // stream_max_retries 5, so a stall with defaults ends codex only after ~30 min.
    let tuning = ProviderTuning {
        stream_idle_timeout_ms: Some(1000),
        stream_max_retries: Some(1),
        ..ProviderTuning::default()
    };
    let s = Setup::tuned(Scenario::default(), &tuning);
    let out = s.exec(&["--json", "[stall:60s]"]);
    assert_eq!(out.code(), Some(1), "{out}");
    let events = json_lines(&out);
    let failed = event(&events, "turn.failed");
    assert!(
        failed["error"]["message"]
            .as_str()
            .unwrap()
            .contains("idle timeout waiting for SSE"),
        "{out}"
    );
    assert_eq!(s.server.requests().len(), 2, "1 try + 1 retry: {out}");
    assert!(out.elapsed < Duration::from_secs(30), "{out}");
    eprintln!(
        "stall (1 s idle timeout, 1 retry): exit 1 after {:?}",
        out.elapsed
    );
}

#[test]
#[ignore = "needs the real Codex CLI: run scripts/e2e"]
fn failed_turn_reports_turn_failed_and_exit_1() {
    let s = Setup::new(Scenario::default());
    let out = s.exec(&["--json", "[turnfail]"]);
    assert_eq!(out.code(), Some(1), "{out}");
    let events = json_lines(&out);
    assert_eq!(
        event(&events, "turn.failed")["error"]["message"],
        "Quota exceeded. Check your plan and billing details.",
        "{out}"
    );
    assert!(events.iter().all(|e| e["type"] != "turn.completed"));
    assert_eq!(
        s.server.requests().len(),
        1,
        "insufficient_quota is not retried"
    );
}

#[test]
#[ignore = "needs the real Codex CLI: run scripts/e2e"]
fn json_usage_equals_the_mock_usage() {
    let s = Setup::new(Scenario::default());
    let out = s.exec(&["--json", "count [usage:12345,2345,678,90]"]);
    assert_eq!(out.code(), Some(0), "{out}");
    let events = json_lines(&out);
    assert_eq!(
        event(&events, "thread.started")["thread_id"]
            .as_str()
            .map(str::len),
        Some(36)
    );
    let usage = &event(&events, "turn.completed")["usage"];
    assert_eq!(usage["input_tokens"], 12345, "{out}");
    assert_eq!(usage["cached_input_tokens"], 2345, "{out}");
    assert_eq!(usage["output_tokens"], 678, "{out}");
    assert_eq!(usage["reasoning_output_tokens"], 90, "{out}");
    // human mode: blended total (12345 - 2345) + 678
    let s = Setup::new(Scenario::default());
    let out = s.exec(&["count [usage:12345,2345,678,90]"]);
    assert!(out.stderr.contains("\ntokens used\n10,678\n"), "{out}");
}

#[test]
#[ignore = "needs the real Codex CLI: run scripts/e2e"]
fn the_real_cli_is_the_pinned_version() {
    // scripts/e2e runs this suite with the pinned CLI, or with the one $CODEX_VERSION names
    let want = std::env::var("CODEX_VERSION").unwrap_or_else(|_| "0.169.0".to_owned());
    let codex = RealCodex::get();
    let out = Command::new(&codex.bin).arg("--version").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("codex-cli {want}")
    );
}
