//! End to end: the four tools, built, driving the REAL Codex CLI (0.169.0) against the
//! mock Responses endpoint, offline.
//!
//! Each test gets a fresh temp dir holding a `CODEX_HOME` (its `config.toml` points codex
//! at the test's own [`MockServer`]), a git repo and a runs dir, and runs the tools with a
//! scrubbed environment (PATH, HOME, CODEX_HOME, CODEX_RUNS_DIR, CODEX_BIN). It asserts on
//! both sides: what the mock received (its request log: prompts, history, tool output,
//! number of calls) and what the tools wrote (run lines, log, meta, summary). A failing
//! assertion prints the run's log, its meta and the prompts the mock saw.
//!
//! Ignored by plain `cargo test`; `scripts/e2e` builds the tools, installs the pinned CLI,
//! sets `CODEX_REAL_BIN` and runs them with `--ignored`.

// Helpers outside #[test] fns unwrap too: a test failing loudly is the point.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use codex_session_id::codex_version::Fact;
use codex_tools_tests::e2e::{BYPASS, E2e, LIMIT, Out, run_bounded, served, tag, token_fields};
use codex_tools_tests::mock::user_prompts;
use codex_tools_tests::tools::{RUN_LINE_KEYS, RunLines, last_value};
use serde_json::{Value, json};

/// gpt-5 list prices, USD per million tokens: input, cached input, output.
const GPT5: (f64, f64, f64) = (1.25, 0.125, 10.0);

/// Cost of `calls` responses with usage (input, cached, output, reasoning) at gpt-5 prices.
fn gpt5_usd(calls: u64, (i, c, o, _r): (u64, u64, u64, u64)) -> f64 {
    let (pi, pc, po) = GPT5;
    calls as f64 * ((i - c) as f64 * pi + c as f64 * pc + o as f64 * po) / 1e6
}

fn assert_usd(got: &Value, want: f64, ctx: &str) {
    let usd = got
        .as_f64()
        .unwrap_or_else(|| panic!("no cost: {got}{ctx}"));
    assert!(
        (usd - want).abs() < 1e-9,
        "cost {usd} != {want} (hand-computed){ctx}"
    );
}

/// Run lines: absolute paths in the runs dir, named after the run id.
fn assert_run_lines(s: &E2e, run: &RunLines) {
    let id = &run.run_id;
    for (path, suffix) in [
        (&run.log_file, "log"),
        (&run.meta_file, "meta.json"),
        (&run.summary_file_pending, "summary.json"),
    ] {
        assert!(path.is_absolute(), "{}", path.display());
        assert_eq!(
            path.parent().map(Path::canonicalize).transpose().unwrap(),
            Some(s.runs.canonicalize().unwrap())
        );
        assert_eq!(
            path.file_name().unwrap().to_string_lossy(),
            format!("codex-run-{id}.{suffix}")
        );
    }
}

fn codex_session_id(s: &E2e, files: &[&Path], extra: &[&str]) -> Out {
    let mut cmd = s.cmd("codex-session-id");
    cmd.args(extra).args(files);
    run_bounded(cmd, false, LIMIT)
}

#[test]
#[ignore = "needs the real Codex CLI: run scripts/e2e"]
fn new_run_with_a_tool_call_in_the_foreground() {
    let s = E2e::new();
    let t = tag();
    // The shell expands $((6*7)): finding "e2e-42-…" proves codex really ran the command.
    let task = format!("run it [tool:echo e2e-$((6*7))-{t}] [usage:1000,200,50,10]");
    let (out, run) = s.spawn_ok(&["--task", &task, "--", BYPASS]);
    let ctx = || s.context(&run);
    let marker = format!("e2e-42-{t}");

    // The four run lines come first (RunLines::parse checked the order), then codex's echo.
    assert_run_lines(&s, &run);
    assert!(
        out.stdout.contains(&marker),
        "echo of codex's output\n{out}"
    );
    // What the mock saw: the task, then a second call carrying the tool's output.
    let reqs = s.server.requests();
    assert_eq!(reqs.len(), 2, "a tool-call turn is two calls{}", ctx());
    assert_eq!(user_prompts(&reqs[0]), [task.as_str()], "{}", ctx());
    let tool_output = reqs[1]["input"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["type"] == "function_call_output")
        .map(|i| i["output"].to_string())
        .unwrap_or_default();
    assert!(tool_output.contains(&marker), "{tool_output}{}", ctx());
    // What the tools wrote.
    let log = s.log(&run);
    assert!(log.contains(&marker), "tool output in the log{}", ctx());
    assert!(log.contains("tool output: "), "{}", ctx());
    let meta = s.meta(&run);
    assert_eq!(meta["status"], "succeeded", "{}", ctx());
    assert_eq!(meta["exit_code"], 0, "{}", ctx());
    assert_eq!(meta["mode"], "new", "{}", ctx());
    assert_eq!(meta["run_id"], run.run_id.as_str(), "{}", ctx());
    let sid = s.session_id(&run);
    // codex-session-id on the log agrees with the meta, and so do the closing lines.
    let found = codex_session_id(&s, &[&run.log_file], &[]);
    assert_eq!(found.code(), Some(0), "{found}");
    assert_eq!(found.stdout, format!("{sid}\n"), "{found}{}", ctx());
    assert_eq!(
        last_value(&out.stdout, "codex_session_id"),
        Some(sid.as_str())
    );
    assert_eq!(last_value(&out.stdout, "codex_exit_code"), Some("0"));
    assert_eq!(
        last_value(&out.stdout, "codex_run_id"),
        Some(run.run_id.as_str())
    );
    let summary_file = last_value(&out.stdout, "summary_file").unwrap();
    assert_eq!(Path::new(summary_file), run.summary_file_pending);
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(summary_file).unwrap()).unwrap();
    let closing: Value =
        serde_json::from_str(last_value(&out.stdout, "summary_json").unwrap()).unwrap();
    assert_eq!(summary, closing, "summary file == closing summary_json");
    assert_eq!(summary["session_id"], sid.as_str());
    assert_eq!(summary["success"], true);
    // The original interface reads the same run.
    let meta_path = run.meta_file.to_str().unwrap();
    let again = s.summarize(&["--log", run.log_file.to_str().unwrap(), "--meta", meta_path]);
    assert_eq!(
        token_fields(&again["token_usage"]),
        served(2, (1000, 200, 50, 10)),
        "{again:#}"
    );
    assert_eq!(again["token_usage"]["source"], "rollout");
    // Human mode without the rollout: only the log's blended total, (input-cached)+output.
    let mut cmd = s.cmd("codex-summarize");
    cmd.env("CODEX_HOME", s.dir.path().join("empty-home"))
        .arg(&run.meta_file);
    let fallback = run_bounded(cmd, false, LIMIT);
    assert_eq!(fallback.code(), Some(0), "{fallback}");
    let fallback: Value = serde_json::from_str(&fallback.stdout).unwrap();
    assert_eq!(fallback["token_usage"]["source"], "log", "{fallback:#}");
    assert_eq!(
        fallback["token_usage"]["total_tokens"],
        2 * (1000 - 200 + 50),
        "{fallback:#}"
    );
    assert_eq!(fallback["token_usage"]["total_is_blended"], true);
    assert_eq!(fallback["cost"]["usd"], Value::Null, "{fallback:#}");
}

#[test]
#[ignore = "needs the real Codex CLI: run scripts/e2e"]
#[allow(
    clippy::too_many_lines,
    reason = "one run followed from launch to its summary; each check stands on the one before"
)]
fn detached_run_shows_its_session_while_running_then_wait_and_summarize() {
    let s = E2e::new();
    let t = tag();
    // The tool sleeps, so the run is still going while the test looks at its meta.
    let task = format!("[tool:sleep 3; echo detached-{t}] [usage:1000,200,50,10]");
    let out = s.spawn(&["--detach", "--task", &task, "--", BYPASS]);
    assert_eq!(out.code(), Some(0), "{out}");
    let run = RunLines::parse(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{out}"));
    let ctx = || s.context(&run);
    assert_eq!(
        out.stdout.lines().count(),
        4,
        "--detach prints only the run lines\n{out}"
    );
    assert!(
        out.elapsed < Duration::from_secs(10),
        "--detach returns at once\n{out}"
    );
    assert_run_lines(&s, &run);

    // `--follow` on the run lines — kept as a launch file, or piped from codex-spawn
    // (the pipe ends at once) — follows the run's log to the id (at codex's header, or,
    // for a CLI whose header has none, at the run's closing lines), in the background
    let launch = s.dir.path().join("a.launch");
    std::fs::write(&launch, &out.stdout).unwrap();
    let follower = |from_stdin: bool| {
        let mut c = s.cmd("codex-session-id");
        c.args(["--follow", "--timeout", "60s"])
            .stdin(if from_stdin {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped());
        if !from_stdin {
            c.arg(&launch);
        }
        let mut child = c.spawn().unwrap();
        if let Some(mut stdin) = child.stdin.take() {
            std::io::Write::write_all(&mut stdin, out.stdout.as_bytes()).unwrap();
        }
        child
    };
    let (from_file, from_pipe) = (follower(false), follower(true));

    // Poll `codex-meta status` until the session id shows up: the run must still be going.
    let meta_path = run.meta_file.to_str().unwrap();
    let start = Instant::now();
    let (live_status, live_sid) = loop {
        let st = s.tool("codex-meta", &["status", meta_path]);
        assert_eq!(st.code(), Some(0), "{st}");
        let fields: Vec<&str> = st.stdout.split_whitespace().collect();
        assert_eq!(fields.len(), 4, "{st}");
        assert_eq!(fields[0], run.run_id, "{st}");
        let sid = fields[3].strip_prefix("session=").unwrap();
        if sid != "-" {
            break (fields[1].to_owned(), sid.to_owned());
        }
        assert_eq!(fields[1], "running", "ended without a session id{}", ctx());
        assert!(
            start.elapsed() < LIMIT,
            "no session id after {LIMIT:?}{}",
            ctx()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        live_status,
        "running",
        "the session id reached the meta only after the run ended{}",
        ctx()
    );
    assert_eq!(live_sid.len(), 36);
    for follower in [from_file, from_pipe] {
        let got = follower.wait_with_output().unwrap();
        assert_eq!(
            (
                got.status.code(),
                String::from_utf8_lossy(&got.stdout).trim()
            ),
            (Some(0), live_sid.as_str()),
            "{got:?}{}",
            ctx()
        );
    }

    let wait = s.tool("codex-meta", &["wait", meta_path]);
    assert_eq!(wait.code(), Some(0), "{wait}{}", ctx());
    assert!(
        start.elapsed() >= Duration::from_secs(2),
        "the tool's sleep ran"
    );
    let meta = s.meta(&run);
    assert_eq!(meta["status"], "succeeded", "{}", ctx());
    assert_eq!(meta["session_id"], live_sid.as_str(), "{}", ctx());
    let log = s.log(&run);
    assert!(log.contains(&format!("detached-{t}")), "{}", ctx());
    assert_eq!(
        last_value(&log, "codex_session_id"),
        Some(live_sid.as_str()),
        "closing lines in the log{}",
        ctx()
    );
    let found = codex_session_id(&s, &[&run.log_file], &[]);
    assert_eq!(found.stdout.trim(), live_sid, "{found}");
    assert_eq!(s.server.requests().len(), 2, "{}", ctx());

    // codex-summarize RUN, by run id (looked up in $CODEX_RUNS_DIR).
    let summary = s.summarize(&[&run.run_id]);
    let ctx = || format!("{summary:#}{}", s.context(&run));
    assert_eq!(
        token_fields(&summary["token_usage"]),
        served(2, (1000, 200, 50, 10)),
        "{}",
        ctx()
    );
    assert_eq!(summary["token_usage"]["source"], "rollout", "{}", ctx());
    assert_usd(
        &summary["cost"]["usd"],
        gpt5_usd(2, (1000, 200, 50, 10)),
        &ctx(),
    );
    assert_eq!(summary["session_id"], live_sid.as_str());
    assert_eq!(summary["status"], "succeeded");
    let compact = s.tool("codex-summarize", &[&run.run_id, "--format", "compact"]);
    assert!(
        compact
            .stdout
            .starts_with(&format!("OK id={} exit=0 ", run.run_id)),
        "{compact}"
    );
    assert!(
        compact.stdout.contains(&format!("sid={live_sid}")),
        "{compact}"
    );
}

#[test]
#[ignore = "needs the real Codex CLI: run scripts/e2e"]
fn resume_with_and_without_a_task_keeps_the_session_and_its_history() {
    let s = E2e::new();
    let t = tag();
    let first = format!("first turn alpha-{t}");
    let (_, run1) = s.spawn_ok(&["--quiet", "--task", &first]);
    let sid = s.session_id(&run1);

    // Resume with a new task: the mock answers with the user prompts it finds in `input`.
    let second = format!("[history] second-{t}");
    let before = s.server.requests().len();
    let (out2, run2) = s.spawn_ok(&["--quiet", "--resume", &sid, "--task", &second]);
    let ctx = || s.context(&run2);
    assert!(
        !out2
            .stdout
            .lines()
            .any(|l| l.starts_with("history has") || l.starts_with("session id:")),
        "--quiet echoes nothing\n{out2}"
    );
    assert_eq!(
        s.prompts_from(before),
        [vec![first.clone(), second.clone()]],
        "the resumed request carries the first turn{}",
        ctx()
    );
    let want = format!("history has: {}", json!([first.as_str(), second.as_str()]));
    assert!(s.log(&run2).contains(&want), "{want}{}", ctx());
    let meta2 = s.meta(&run2);
    assert_eq!(meta2["session_id"], sid.as_str(), "{}", ctx());
    assert_eq!(meta2["mode"], "resume", "{}", ctx());
    assert_eq!(meta2["resume_session"], sid.as_str(), "{}", ctx());
    assert_eq!(meta2["status"], "succeeded", "{}", ctx());
    assert_eq!(
        last_value(&out2.stdout, "codex_session_id"),
        Some(sid.as_str())
    );

    // Resume alone: codex-spawn sends "Continue.".
    let before = s.server.requests().len();
    let (out3, run3) = s.spawn_ok(&["--quiet", "--resume", &sid]);
    let ctx = || s.context(&run3);
    assert_eq!(
        s.prompts_from(before),
        [vec![first.clone(), second.clone(), "Continue.".to_owned()]],
        "{}",
        ctx()
    );
    let meta3 = s.meta(&run3);
    assert_eq!(meta3["session_id"], sid.as_str(), "{}", ctx());
    assert_eq!(meta3["resume_session"], sid.as_str(), "{}", ctx());
    assert_eq!(meta3["task"], "Continue.", "{}", ctx());
    assert_eq!(
        last_value(&out3.stdout, "codex_session_id"),
        Some(sid.as_str())
    );

    // One session across the three logs.
    let all = codex_session_id(
        &s,
        &[&run1.log_file, &run2.log_file, &run3.log_file],
        &["--all"],
    );
    assert_eq!(all.stdout, format!("{sid}\n"), "{all}");
}

#[test]
#[ignore = "needs the real Codex CLI: run scripts/e2e"]
#[allow(
    clippy::too_many_lines,
    reason = "one run followed from launch to its summary; each check stands on the one before"
)]
fn json_pass_through_mode_captures_the_session_and_summarizes() {
    let s = E2e::new();
    let t = tag();
    let task = format!("[tool:echo json-{t}] [usage:1000,200,50,10]");
    // codex-spawn --json (its own lines as JSON) and codex's --json (JSONL events).
    let out = s.spawn(&["--json", "--task", &task, "--", "--json", BYPASS]);
    assert_eq!(out.code(), Some(0), "{out}");
    let lines: Vec<Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}\n{out}")))
        .collect();
    assert_eq!(lines.len(), 2, "run lines + closing lines, no echo\n{out}");
    for key in RUN_LINE_KEYS {
        assert!(lines[0][key].is_string(), "{key}\n{out}");
    }
    let run = RunLines {
        run_id: lines[0]["codex_run_id"].as_str().unwrap().to_owned(),
        log_file: lines[0]["log_file"].as_str().unwrap().into(),
        meta_file: lines[0]["meta_file"].as_str().unwrap().into(),
        summary_file_pending: lines[0]["summary_file_pending"].as_str().unwrap().into(),
    };
    let ctx = || s.context(&run);
    assert_run_lines(&s, &run);
    let sid = s.session_id(&run);
    assert_eq!(lines[1]["type"], "result", "{out}");
    assert_eq!(lines[1]["subtype"], "success", "{out}");
    assert_eq!(lines[1]["session_id"], sid.as_str(), "{out}");
    assert_eq!(lines[1]["codex_exit_code"], 0, "{out}");
    assert_eq!(lines[1]["exit_code"], 0, "{out}");
    assert_eq!(lines[1]["num_attempts"], 1, "{out}");
    // the last agent message, and the usage this run's calls reported
    assert!(lines[1]["result"].is_string(), "{out}");
    assert!(
        lines[1]["usage"]["output_tokens"]
            .as_u64()
            .is_some_and(|n| n > 0),
        "{out}"
    );

    // The log holds codex's JSONL: thread.started names the session; the tool ran
    // (before 0.44: the old event stream, which names no session).
    let log = s.log(&run);
    let events: Vec<Value> = log
        .lines()
        .filter(|l| l.starts_with('{'))
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    if s.real().has(Fact::ThreadEvents) {
        let started = events.iter().find(|e| e["type"] == "thread.started");
        assert_eq!(
            started.map(|e| &e["thread_id"]),
            Some(&json!(sid)),
            "{}",
            ctx()
        );
        assert!(
            events.iter().any(|e| e["type"] == "item.completed"
                && e["item"]["type"] == "command_execution"
                && e["item"]["aggregated_output"] == format!("json-{t}\n")),
            "{}",
            ctx()
        );
    } else {
        assert!(
            events.iter().any(|e| e["msg"]["type"] == "exec_command_end"
                && e["msg"]["aggregated_output"] == format!("json-{t}\n")),
            "{}",
            ctx()
        );
    }
    // the turn's end: turn.completed (before 0.44: the old stream's token_count)
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "turn.completed" || e["msg"]["type"] == "token_count"),
        "{}",
        ctx()
    );
    let found = codex_session_id(&s, &[&run.log_file], &[]);
    assert_eq!(found.stdout, format!("{sid}\n"), "{found}");
    assert_eq!(s.meta(&run)["status"], "succeeded", "{}", ctx());
    // No `-m` was given: the meta learns the model from codex's rollout at the end.
    assert_eq!(s.meta(&run)["model"], "gpt-5", "{}", ctx());

    // Summaries: from the rollout, and from the log's events without it.
    let want = served(2, (1000, 200, 50, 10));
    let summary = s.summarize(&[run.meta_file.to_str().unwrap()]);
    assert_eq!(token_fields(&summary["token_usage"]), want, "{summary:#}");
    assert_eq!(summary["token_usage"]["source"], "rollout", "{summary:#}");
    // the result object's usage is the summary's
    for k in [
        "input_tokens",
        "cached_input_tokens",
        "output_tokens",
        "reasoning_output_tokens",
        "total_tokens",
    ] {
        assert_eq!(
            lines[1]["usage"][k], summary["token_usage"][k],
            "{k}: {out}"
        );
    }
    assert_eq!(lines[1]["total_cost_usd"], summary["cost"]["usd"], "{out}");
    let mut cmd = s.cmd("codex-summarize");
    cmd.env("CODEX_HOME", s.dir.path().join("empty-home"))
        .arg(&run.meta_file);
    let events_only = run_bounded(cmd, false, LIMIT);
    let events_only: Value =
        serde_json::from_str(&events_only.stdout).unwrap_or_else(|e| panic!("{e}: {events_only}"));
    assert_eq!(
        events_only["token_usage"]["source"], "events",
        "{events_only:#}"
    );
    assert_eq!(
        token_fields(&events_only["token_usage"]),
        want,
        "{events_only:#}"
    );
    // Without the rollout the model comes from the meta, so the cost is still known.
    assert_usd(
        &events_only["cost"]["usd"],
        gpt5_usd(2, (1000, 200, 50, 10)),
        &format!("{events_only:#}"),
    );
}

#[test]
#[ignore = "needs the real Codex CLI: run scripts/e2e"]
fn failing_endpoint_exits_1_and_the_summary_says_failed() {
    let s = E2e::no_retries();
    let t = tag();
    let out = s.spawn(&["--task", &format!("[fail500] fail-{t}")]);
    let run = RunLines::parse(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{out}"));
    let ctx = || format!("{out}{}", s.context(&run));
    assert_eq!(out.code(), Some(1), "{}", ctx());
    assert!(out.elapsed < Duration::from_secs(20), "{}", ctx());
    assert_eq!(s.server.requests().len(), 1, "no retries{}", ctx());
    // codex's own exit code (before 0.44 a failed turn exits 0), and codex-spawn's verdict
    let codex_code = if s.real().has(Fact::FailedTurnExitsNonZero) {
        "1"
    } else {
        "0"
    };
    assert_eq!(last_value(&out.stdout, "codex_exit_code"), Some(codex_code));
    assert_eq!(last_value(&out.stdout, "exit_code"), Some("1"));
    assert_eq!(last_value(&out.stdout, "status"), Some("failed"));

    let meta = s.meta(&run);
    assert_eq!(meta["status"], "failed", "{}", ctx());
    assert_eq!(meta["exit_code"], 1, "{}", ctx());
    let reason = meta["outcome_reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("ERROR"),
        "outcome_reason: {reason}{}",
        ctx()
    );
    assert!(s.log(&run).contains("ERROR: "), "{}", ctx());

    // The summary (file, closing line, codex-summarize) says it failed and how.
    let summary = s.summarize(&[&run.run_id]);
    let closing: Value =
        serde_json::from_str(last_value(&out.stdout, "summary_json").unwrap()).unwrap();
    for sum in [&summary, &closing] {
        assert_eq!(sum["status"], "failed", "{sum:#}");
        assert_eq!(sum["success"], false, "{sum:#}");
        assert_eq!(sum["exit_code"], 1, "{sum:#}");
        assert_eq!(sum["session_id"], meta["session_id"], "{sum:#}");
        assert_eq!(sum["outcome_reason"], meta["outcome_reason"], "{sum:#}");
    }
    // Nothing was served, so nothing is counted.
    assert_eq!(
        token_fields(&summary["token_usage"]),
        served(0, (0, 0, 0, 0))
    );
    let compact = s.tool("codex-summarize", &[&run.run_id, "--format", "compact"]);
    assert!(
        compact
            .stdout
            .starts_with(&format!("FAIL id={} exit=1 ", run.run_id)),
        "{compact}"
    );
    let status = s.tool("codex-meta", &["status", &run.run_id]);
    assert!(
        status
            .stdout
            .starts_with(&format!("{} failed exit=1 session=", run.run_id)),
        "{status}"
    );
    let wait = s.tool("codex-meta", &["wait", &run.run_id]);
    assert_eq!(
        wait.code(),
        Some(1),
        "wait exits with the run's code\n{wait}"
    );
}

#[test]
#[ignore = "needs the real Codex CLI: run scripts/e2e"]
fn failed_turn_in_json_mode_names_the_error() {
    let s = E2e::new();
    let out = s.spawn(&["--quiet", "--task", "[turnfail]", "--", "--json"]);
    let run = RunLines::parse(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{out}"));
    let ctx = || format!("{out}{}", s.context(&run));
    assert_eq!(out.code(), Some(1), "{}", ctx());
    if s.real().is_pinned_line() {
        assert_eq!(
            s.server.requests().len(),
            1,
            "insufficient_quota is not retried"
        );
    }
    let meta = s.meta(&run);
    assert_eq!(meta["status"], "failed", "{}", ctx());
    let reason = meta["outcome_reason"].as_str().unwrap_or_default();
    // before 0.44 the `--json` stream says it with an error event, not turn.failed
    let (event, message) = if s.real().has(Fact::ThreadEvents) {
        ("turn.failed", "Quota exceeded")
    } else {
        ("error event not followed", "insufficient_quota")
    };
    assert!(
        reason.contains(event) && reason.contains(message),
        "outcome_reason: {reason}{}",
        ctx()
    );
    let summary = s.summarize(&[&run.run_id]);
    assert_eq!(summary["status"], "failed", "{summary:#}");
    assert_eq!(summary["exit_code"], 1, "{summary:#}");
    assert_eq!(
        summary["outcome_reason"], meta["outcome_reason"],
        "{summary:#}"
    );
}

#[test]
#[ignore = "needs the real Codex CLI: run scripts/e2e"]
fn http_500_with_codex_default_retries_fails_detached_and_wait_reports_it() {
    // codex 0.169.0's defaults: 6 stream attempts × 5 HTTP tries, ~24 s.
    let s = E2e::new();
    let out = s.spawn(&["--detach", "--task", "[fail500] with retries"]);
    assert_eq!(out.code(), Some(0), "{out}");
    let run = RunLines::parse(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{out}"));
    let ctx = || s.context(&run);
    let start = Instant::now();
    let wait = s.tool("codex-meta", &["wait", &run.run_id]);
    assert_eq!(wait.code(), Some(1), "{wait}{}", ctx());
    assert!(start.elapsed() < Duration::from_secs(45), "{}", ctx());
    if s.real().is_pinned_line() {
        assert_eq!(
            s.server.requests().len(),
            30,
            "codex's default retries{}",
            ctx()
        );
        assert!(s.log(&run).contains("Reconnecting... 5/5"), "{}", ctx());
    }
    assert_eq!(s.meta(&run)["status"], "failed", "{}", ctx());
    let summary = s.summarize(&[&run.run_id]);
    assert_eq!(summary["status"], "failed", "{summary:#}");
    assert_eq!(summary["exit_code"], 1, "{summary:#}");
    eprintln!(
        "http 500 with default retries: failed after {:?}",
        start.elapsed()
    );
}

#[test]
#[ignore = "needs the real Codex CLI: run scripts/e2e"]
fn tokens_of_a_new_and_a_resumed_run_are_what_the_mock_served_to_each() {
    let s = E2e::new();
    let t = tag();
    let (u1, u2) = ((1000, 200, 50, 10), (3000, 500, 70, 20));
    let (_, run1) = s.spawn_ok(&[
        "--quiet",
        "--task",
        &format!("[tool:echo one-{t}] [usage:1000,200,50,10]"),
        "--",
        BYPASS,
    ]);
    let sid = s.session_id(&run1);
    let calls1 = s.server.requests().len();
    let (_, run2) = s.spawn_ok(&[
        "--quiet",
        "--resume",
        &sid,
        "--task",
        &format!("[tool:echo two-{t}] [usage:3000,500,70,20]"),
        "--",
        BYPASS,
    ]);
    let calls2 = s.server.requests().len() - calls1;
    // A tool-call turn is two calls; each call served the usage of its prompt's marker.
    assert_eq!((calls1, calls2), (2, 2), "{}", s.context(&run2));

    let sum1 = s.summarize(&[&run1.run_id]);
    let ctx1 = format!("{sum1:#}{}", s.context(&run1));
    assert_eq!(token_fields(&sum1["token_usage"]), served(2, u1), "{ctx1}");
    assert_eq!(sum1["token_usage"]["source"], "rollout", "{ctx1}");
    assert_eq!(sum1["cost"]["model"], "gpt-5", "{ctx1}");
    // 2 × ((1000-200)×1.25 + 200×0.125 + 50×10) / 1e6 = $0.00305
    assert_usd(&sum1["cost"]["usd"], 0.003_05, &ctx1);
    assert_usd(&sum1["cost"]["usd"], gpt5_usd(2, u1), &ctx1);

    // The resumed run: only its own two calls, though the session holds four.
    let sum2 = s.summarize(&[&run2.run_id]);
    let ctx2 = format!("{sum2:#}{}", s.context(&run2));
    assert_eq!(token_fields(&sum2["token_usage"]), served(2, u2), "{ctx2}");
    assert_eq!(sum2["token_usage"]["source"], "rollout", "{ctx2}");
    assert_eq!(sum2["session_id"], sid.as_str(), "{ctx2}");
    // 2 × ((3000-500)×1.25 + 500×0.125 + 70×10) / 1e6 = $0.007775
    assert_usd(&sum2["cost"]["usd"], 0.007_775, &ctx2);
    assert_usd(&sum2["cost"]["usd"], gpt5_usd(2, u2), &ctx2);
    let session_total = &sum2["token_usage"]["session_total"];
    assert_eq!(session_total["input_tokens"], 2 * (1000 + 3000), "{ctx2}");
    assert_eq!(session_total["output_tokens"], 2 * (50 + 70), "{ctx2}");

    // A report over the runs dir adds the two runs up.
    let report = s.summarize(&["--all"]);
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{report:#}");
    let totals = &report["totals"];
    assert_eq!(totals["input_tokens"], 2 * (1000 + 3000), "{report:#}");
    assert_eq!(totals["cached_input_tokens"], 2 * (200 + 500), "{report:#}");
    assert_eq!(totals["output_tokens"], 2 * (50 + 70), "{report:#}");
    assert_eq!(
        totals["reasoning_output_tokens"],
        2 * (10 + 20),
        "{report:#}"
    );
    assert_usd(
        &totals["cost_usd"],
        0.003_05 + 0.007_775,
        &format!("{report:#}"),
    );
    let table = s.tool("codex-summarize", &["--all", "--format", "table"]);
    assert!(table.stdout.contains("TOTAL"), "{table}");
    assert!(table.stdout.contains("8,000"), "{table}");
}

#[test]
#[ignore = "needs the real Codex CLI: run scripts/e2e"]
fn an_open_never_closed_stdin_does_not_hang_the_run() {
    // Agent shells start commands with a stdin pipe nobody ever closes; codex exec with a
    // prompt argument reads stdin to EOF, so codex-spawn must not pass that pipe on.
    let s = E2e::new();
    let t = tag();
    let task = format!("[tool:echo stdin-{t}]");
    let out = run_bounded(s.spawn_cmd(&["--task", &task, "--", BYPASS]), true, LIMIT);
    let run = RunLines::parse(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{out}"));
    assert_eq!(out.code(), Some(0), "{out}{}", s.context(&run));
    assert!(
        s.log(&run).contains(&format!("stdin-{t}")),
        "{}",
        s.context(&run)
    );
    assert_eq!(s.meta(&run)["status"], "succeeded", "{}", s.context(&run));

    // The same for a detached run: the launcher returns, the run ends on its own.
    let task = format!("[tool:echo detached-stdin-{t}]");
    let out = run_bounded(
        s.spawn_cmd(&["--detach", "--task", &task, "--", BYPASS]),
        true,
        LIMIT,
    );
    let run = RunLines::parse(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{out}"));
    let wait = s.tool("codex-meta", &["wait", run.meta_file.to_str().unwrap()]);
    assert_eq!(wait.code(), Some(0), "{wait}{}", s.context(&run));
    assert!(
        s.log(&run).contains(&format!("detached-stdin-{t}")),
        "{}",
        s.context(&run)
    );
}

#[test]
#[ignore = "needs the real Codex CLI: run scripts/e2e"]
fn spawn_piped_into_session_id_prints_the_id_and_the_run_goes_on() {
    // The README's first line: codex-spawn … | codex-session-id. The reader exits at the
    // first id, closing the pipe; the run must finish unharmed.
    let s = E2e::new();
    let t = tag();
    let task = format!("[tool:sleep 1; echo piped-{t}]");
    let mut spawn = s.spawn_cmd(&["--task", &task, "--", BYPASS]);
    spawn
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut spawner = spawn.spawn().unwrap();
    let mut reader = s.cmd("codex-session-id");
    reader
        .stdin(Stdio::from(spawner.stdout.take().unwrap()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let found = reader.output().unwrap();
    let sid = String::from_utf8_lossy(&found.stdout).trim().to_owned();
    assert_eq!(found.status.code(), Some(0), "{found:?}");
    let status = loop {
        if let Some(status) = spawner.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > LIMIT {
            let _ = spawner.kill();
            panic!("codex-spawn still running after {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let meta_file = std::fs::read_dir(&s.runs)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(".meta.json"))
        .unwrap();
    let meta: Value = serde_json::from_str(&std::fs::read_to_string(&meta_file).unwrap()).unwrap();
    let log = std::fs::read_to_string(meta["log_file"].as_str().unwrap()).unwrap();
    let ctx = || format!("\n{meta:#}\n{log}");
    assert_eq!(
        status.code(),
        Some(0),
        "a closed stdout is no failure{}",
        ctx()
    );
    assert_eq!(meta["session_id"], sid.as_str(), "{}", ctx());
    assert_eq!(meta["status"], "succeeded", "{}", ctx());
    assert!(log.contains(&format!("piped-{t}")), "{}", ctx());
    assert_eq!(
        last_value(&log, "codex_session_id"),
        Some(sid.as_str()),
        "{}",
        ctx()
    );
}
