//! The real Codex CLI against the mock endpoint: proves the mock speaks the protocol
//! the CLI expects, and pins the CLI behaviours the tools rely on — for the version
//! under test: what differs by version is asked of codex-meta's table
//! (`codex_session_id::codex_version`), so these tests also check the table against each
//! real CLI. Behaviours outside the table (retry counts) are checked on the pinned line.
//! Ignored by plain `cargo test`; `scripts/e2e` runs them with the pinned, the oldest
//! supported and the newest CLI.

// Helpers outside #[test] fns unwrap too: a test failing loudly is the point.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use codex_session_id::codex_version::Fact;
use codex_summarize::rollout::RunQuery;
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
        .find(|e| e["type"] == kind || (e["type"].is_null() && e["msg"]["type"] == kind))
        .unwrap_or_else(|| panic!("no {kind} in {events:?}"))
}

/// The exit code of a failed turn on this CLI.
fn failed_exit(s: &Setup) -> i32 {
    i32::from(s.codex.has(Fact::FailedTurnExitsNonZero))
}

/// The human transcript (stdout before 0.45, stderr after).
fn transcript(s: &Setup, out: &ExecOutput) -> String {
    if s.codex.has(Fact::TranscriptOnStderr) {
        out.stderr.clone()
    } else {
        out.stdout.clone()
    }
}

/// Whether the transcript's usage line says `n` (`1,700`): `tokens used` and the number
/// on the next line, or before 0.44 one line `[ts] tokens used: 1,700`.
fn says_tokens_used(s: &Setup, out: &ExecOutput, n: &str) -> bool {
    let text = transcript(s, out);
    if s.codex.has(Fact::TwoLineTokensUsed) {
        text.contains(&format!("\ntokens used\n{n}\n"))
    } else {
        text.lines()
            .any(|l| l.ends_with(&format!("] tokens used: {n}")))
    }
}

/// The final message on stdout (the last line before 0.45, when stdout holds it all).
fn final_message(s: &Setup, out: &ExecOutput) -> String {
    if s.codex.has(Fact::TranscriptOnStderr) {
        out.stdout.clone()
    } else {
        let text = out.stdout.trim_end();
        // the agent's section: what follows the last `[ts] codex` line, up to the usage
        let at = text.rfind("] codex\n").map_or(0, |i| i + "] codex\n".len());
        let body = &text[at..];
        let end = body.find("\n[").unwrap_or(body.len());
        format!("{}\n", &body[..end])
    }
}

/// The event that ends a failed turn in `--json`: `turn.failed`, before 0.44 the old
/// stream's `error`; and its message.
fn failure_message(s: &Setup, events: &[Value]) -> String {
    if s.codex.has(Fact::ThreadEvents) {
        event(events, "turn.failed")["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    } else {
        event(events, "error")["msg"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

#[test]
#[ignore = "needs the real Codex CLI: run scripts/e2e"]
fn plain_answer_reaches_stdout_and_last_message_file() {
    let s = Setup::new(Scenario::answer("hello from mock"));
    let last = s.home.join("last.txt");
    let out = s.exec(&["--output-last-message", last.to_str().unwrap(), "say hello"]);
    assert_eq!(out.code(), Some(0), "{out}");
    assert_eq!(final_message(&s, &out), "hello from mock\n", "{out}");
    // (1000 - 200 cached) + 50 output
    assert!(says_tokens_used(&s, &out, "850"), "{out}");
    let sid = out.session_id().map(|s| s.len());
    let named = s.codex.has(Fact::SessionIdInOutput);
    assert_eq!(sid, named.then_some(36), "{out}");
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
    let answer = final_message(&s, &out);
    assert!(answer.starts_with("tool output: "), "{out}");
    assert!(answer.contains("tool-ran-42"), "{out}");
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
    let began = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let first = s.exec(&["first turn alpha"]);
    assert_eq!(first.code(), Some(0), "{first}");
    // before 0.44 the output names no session: the rollout's file name does
    let sid = first.session_id().unwrap_or_else(|| {
        let found = codex_summarize::rollout::find_run_session(&RunQuery {
            codex_home: &s.home,
            cwd: &s.repo,
            since_ms: began,
            prompt: "first turn alpha",
            resumed: false,
            transcript: Some(format!("{}{}", first.stdout, first.stderr).as_bytes()),
            open_elsewhere: None,
        });
        found
            .id()
            .map(str::to_owned)
            .expect("a session in the output or the rollouts")
    });
    let second = s.exec(&["resume", &sid, "[history] second"]);
    assert_eq!(second.code(), Some(0), "{second}");
    if s.codex.has(Fact::SessionIdInOutput) {
        assert_eq!(
            second.session_id().as_deref(),
            Some(sid.as_str()),
            "{second}"
        );
    }
    assert_eq!(
        final_message(&s, &second),
        "history has: [\"first turn alpha\",\"[history] second\"]\n",
        "{second}"
    );
    // tokens used: the session's (850 + 850) from 0.79, this run's own (850) before
    let want = if s.codex.has(Fact::ResumeUsageIsCumulative) {
        "1,700"
    } else {
        "850"
    };
    assert!(says_tokens_used(&s, &second, want), "{second}");
}

#[test]
#[ignore = "needs the real Codex CLI: run scripts/e2e"]
fn http_500_is_retried_five_times_then_exit_1() {
    let s = Setup::new(Scenario::default());
    let out = s.exec(&["[fail500] say hello"]);
    assert_eq!(out.code(), Some(failed_exit(&s)), "{out}");
    if s.codex.is_pinned_line() {
        assert!(out.stderr.contains("ERROR: Reconnecting... 5/5"), "{out}");
        // 6 stream attempts ("Reconnecting... N/5"), each an HTTP request retried 4 times
        assert_eq!(s.server.requests().len(), 30, "{out}");
    }
    assert!(transcript(&s, &out).contains("ERROR: "), "{out}");
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
    assert_eq!(out.code(), Some(failed_exit(&s)), "{out}");
    assert!(!failure_message(&s, &json_lines(&out)).is_empty(), "{out}");
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
    assert_eq!(out.code(), Some(failed_exit(&s)), "{out}");
    let events = json_lines(&out);
    assert!(
        failure_message(&s, &events).contains("idle timeout waiting for SSE"),
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
    assert_eq!(out.code(), Some(failed_exit(&s)), "{out}");
    let events = json_lines(&out);
    assert!(!failure_message(&s, &events).is_empty(), "{out}");
    assert!(events.iter().all(|e| e["type"] != "turn.completed"));
    if s.codex.is_pinned_line() {
        assert_eq!(
            failure_message(&s, &events),
            "Quota exceeded. Check your plan and billing details.",
            "{out}"
        );
        assert_eq!(
            s.server.requests().len(),
            1,
            "insufficient_quota is not retried"
        );
    }
}

#[test]
#[ignore = "needs the real Codex CLI: run scripts/e2e"]
fn json_usage_equals_the_mock_usage() {
    let s = Setup::new(Scenario::default());
    let out = s.exec(&["--json", "count [usage:12345,2345,678,90]"]);
    assert_eq!(out.code(), Some(0), "{out}");
    let events = json_lines(&out);
    // what the tools read, on every version: the same numbers through their readers
    let scan = codex_summarize::events::scan_log(out.stdout.as_bytes());
    let usage = scan
        .last_turn_usage
        .or(scan.stream_usage)
        .unwrap_or_else(|| panic!("no usage read from {out}"));
    assert_eq!(
        (
            usage.input_tokens,
            usage.cached_input_tokens,
            usage.output_tokens
        ),
        (12345, 2345, 678),
        "{out}"
    );
    if s.codex.has(Fact::ThreadEvents) {
        assert_eq!(
            event(&events, "thread.started")["thread_id"]
                .as_str()
                .map(str::len),
            Some(36)
        );
        let usage = &event(&events, "turn.completed")["usage"];
        assert_eq!(usage["input_tokens"], 12345, "{out}");
        // reasoning_output_tokens only from 0.100
        let reasoning = s.codex.has(Fact::ReasoningTokensInTurnUsage);
        assert_eq!(
            usage["reasoning_output_tokens"].is_null(),
            !reasoning,
            "{out}"
        );
    }
    // human mode: blended total (12345 - 2345) + 678
    let s = Setup::new(Scenario::default());
    let out = s.exec(&["count [usage:12345,2345,678,90]"]);
    assert!(says_tokens_used(&s, &out, "10,678"), "{out}");
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
