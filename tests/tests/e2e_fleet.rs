//! End to end: fleet control with the REAL Codex CLI against the mock endpoint — the
//! `--max-running` queue, `codex-meta cancel` (running and queued runs), `--after`,
//! budgets (`--max-tokens`, `--max-cost`) stopping codex mid-run, `--detach=session`,
//! `--resume RUN`, `wait --any` and launch files.
//!
//! Ignored by plain `cargo test`; `scripts/e2e` runs them with the real CLI.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use codex_session_id::codex_version::Fact;
use codex_tools_tests::e2e::{BYPASS, E2e, LIMIT, tag};
use codex_tools_tests::tools::{RunLines, last_value};
use serde_json::Value;

fn meta_of(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The effective status, as `codex-meta status` prints it.
fn status(s: &E2e, meta: &Path) -> String {
    let out = s.tool("codex-meta", &["status", meta.to_str().unwrap()]);
    out.stdout
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned()
}

/// The most runs whose codex ran at the same time, from their metas: each run's
/// [first attempt's start, last attempt's end] (a slot is taken before the first and
/// freed after the last).
fn most_at_once(metas: &[PathBuf]) -> usize {
    let ms = |v: &Value| {
        chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap())
            .unwrap()
            .timestamp_millis()
    };
    let spans: Vec<(i64, i64)> = metas
        .iter()
        .map(|m| {
            let a = meta_of(m)["attempts"].as_array().unwrap().clone();
            (ms(&a[0]["started_at"]), ms(&a[a.len() - 1]["ended_at"]))
        })
        .collect();
    spans
        .iter()
        .map(|&(start, _)| {
            spans
                .iter()
                .filter(|&&(s, e)| s <= start && start < e)
                .count()
        })
        .max()
        .unwrap_or(0)
}

fn until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Processes whose command line holds `needle` (the test's own tag in a tool command).
fn processes_with(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.contains(needle) && !cmd.contains("/proc") {
            found.push(format!("{}: {cmd}", e.file_name().to_string_lossy()));
        }
    }
    found
}

/// Every rollout under the test's CODEX_HOME, for failure messages.
fn rollouts(s: &E2e) -> String {
    let mut out = String::new();
    let mut stack = vec![s.home.join("sessions")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push_str(&format!(
                    "===== {}\n{}\n",
                    p.display(),
                    std::fs::read_to_string(&p).unwrap_or_default()
                ));
            }
        }
    }
    out
}

fn prompts_hold(s: &E2e, needle: &str) -> bool {
    s.prompts_from(0)
        .iter()
        .flatten()
        .any(|p| p.contains(needle))
}

#[test]
#[ignore = "needs the real Codex CLI: run scripts/e2e"]
fn twelve_detached_runs_with_max_running_3_never_have_more_than_3_codex_at_once() {
    let s = E2e::new();
    let t = tag();
    let busy = s.dir.path().join("busy");
    std::fs::create_dir(&busy).unwrap();
    let counts = s.dir.path().join("counts");
    let metas: Vec<PathBuf> = (0..12)
        .map(|i| {
            // inside codex: how many codex runs are in their tool call at this moment
            let task = format!(
                "[tool:touch {b}/{i}; ls {b} | wc -l >> {c}; sleep 1; rm {b}/{i}; echo q-{t}-{i}]",
                b = busy.display(),
                c = counts.display()
            );
            let (_, run) = s.spawn_ok(&[
                "--detach",
                "--max-running",
                "3",
                "--task",
                &task,
                "--",
                BYPASS,
            ]);
            run.meta_file
        })
        .collect();
    // while they go: a look at all the runs at once never finds more than 3 running
    let paths: Vec<&str> = metas.iter().map(|m| m.to_str().unwrap()).collect();
    let start = Instant::now();
    loop {
        let mut args = vec!["status"];
        args.extend(&paths);
        let st = s.tool("codex-meta", &args);
        let live = st
            .stdout
            .lines()
            .filter(|l| l.contains(" running ") || l.contains(" queued "))
            .count();
        if live == 0 {
            break;
        }
        assert!(start.elapsed() < LIMIT * 2, "the queue stalled: {st}");
        std::thread::sleep(Duration::from_millis(200));
    }
    for m in &metas {
        assert_eq!(
            meta_of(m)["status"],
            "succeeded",
            "{}",
            std::fs::read_to_string(m).unwrap()
        );
    }
    // the records: codex's time in each run (its attempt), never more than 3 overlapping
    let most = most_at_once(&metas);
    assert!(most <= 3, "{most} codex at once by the records");
    assert!(
        most >= 2,
        "the runs never overlapped: the queue ran them one by one"
    );
    let counts: Vec<u32> = std::fs::read_to_string(&counts)
        .unwrap()
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect();
    assert_eq!(counts.len(), 12, "{counts:?}");
    assert!(
        counts.iter().all(|&n| n <= 3),
        "more than 3 codex at once: {counts:?}"
    );
    for i in 0..12 {
        assert!(
            prompts_hold(&s, &format!("q-{t}-{i}")),
            "run {i} never reached the model"
        );
    }
}

#[test]
#[ignore = "needs the real Codex CLI: run scripts/e2e"]
fn cancel_stops_a_running_run_through_its_supervisor_and_a_queued_one_never_starts() {
    let s = E2e::new();
    let t = tag();
    let task = format!("[tool:sleep 30; echo never-{t}]");
    let (_, run) = s.spawn_ok(&["--detach", "--task", &task, "--", BYPASS]);
    assert!(
        until(LIMIT, || !processes_with(&format!("never-{t}")).is_empty()),
        "the tool never started{}",
        s.context(&run)
    );
    let start = Instant::now();
    let out = s.tool(
        "codex-meta",
        &["cancel", &run.run_id, "--wait", "--timeout", "30s"],
    );
    assert_eq!(out.code(), Some(0), "{out}{}", s.context(&run));
    assert!(out.stdout.contains("cancelling: SIGTERM sent"), "{out}");
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "cancel waited for the tool"
    );
    let m = s.meta(&run);
    assert_eq!(m["status"], "killed", "{}", s.context(&run));
    assert_eq!(m["signal"], "SIGTERM");
    let reason = m["outcome_reason"].as_str().unwrap();
    assert!(
        reason.starts_with("cancelled by codex-meta cancel ("),
        "{reason}"
    );
    assert!(
        until(Duration::from_secs(5), || processes_with(&format!(
            "never-{t}"
        ))
        .is_empty()),
        "left behind: {:?}",
        processes_with(&format!("never-{t}"))
    );

    // a queued run: cancelled, it never reaches codex
    let q = format!("c{t}");
    let (_, a) = s.spawn_ok(&[
        "--detach",
        "--max-running",
        "1",
        "--queue",
        &q,
        "--task",
        &format!("[tool:sleep 30; echo first-{t}]"),
        "--",
        BYPASS,
    ]);
    assert!(until(LIMIT, || status(&s, &a.meta_file) == "running"));
    let (_, b) = s.spawn_ok(&[
        "--detach",
        "--max-running",
        "1",
        "--queue",
        &q,
        "--task",
        &format!("second-{t}"),
        "--",
        BYPASS,
    ]);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(status(&s, &b.meta_file), "queued");
    let out = s.tool("codex-meta", &["cancel", "--wait", &b.run_id, &a.run_id]);
    assert_eq!(out.code(), Some(0), "{out}");
    for r in [&a, &b] {
        assert_eq!(s.meta(r)["status"], "killed", "{}", s.context(r));
    }
    assert_eq!(s.meta(&b)["attempts"], serde_json::json!([]));
    assert!(
        !prompts_hold(&s, &format!("second-{t}")),
        "the queued run reached the model"
    );
    let list = s.tool("codex-meta", &["list"]);
    assert!(list.stdout.contains("killed"), "{list}");
}

#[test]
#[ignore = "needs the real Codex CLI: run scripts/e2e"]
fn after_waits_for_its_runs_and_a_failed_one_fails_it_without_starting_codex() {
    let s = E2e::no_retries();
    let t = tag();
    let (_, first) = s.spawn_ok(&[
        "--detach",
        "--task",
        &format!("[tool:sleep 2; echo a-{t}]"),
        "--",
        BYPASS,
    ]);
    let out = s.spawn(&["--after", &first.run_id, "--task", &format!("b-{t}"), "-q"]);
    assert_eq!(out.code(), Some(0), "{out}");
    assert_eq!(
        s.meta(&first)["status"],
        "succeeded",
        "B started before A ended"
    );
    let b_started = s.meta(&RunLines::parse(&out.stdout).unwrap())["queued_seconds"]
        .as_f64()
        .unwrap();
    assert!(b_started > 0.5, "B did not wait for A: {b_started}");

    let bad = s.spawn(&["--task", &format!("[fail500] f-{t}"), "-q"]);
    assert_eq!(bad.code(), Some(1), "{bad}");
    let bad = RunLines::parse(&bad.stdout).unwrap();
    let out = s.spawn(&[
        "--after",
        &bad.run_id,
        "--task",
        &format!("c-{t}"),
        "-q",
        "--json",
    ]);
    assert_eq!(out.code(), Some(5), "{out}");
    let result: Value = serde_json::from_str(out.stdout.lines().last().unwrap()).unwrap();
    assert_eq!(result["subtype"], "error_dependency_failed", "{out}");
    assert_eq!(result["status"], "dependency_failed");
    assert!(!prompts_hold(&s, &format!("c-{t}")), "codex started");
    let wait = s.tool(
        "codex-meta",
        &["wait", result["meta_file"].as_str().unwrap()],
    );
    assert_eq!(wait.code(), Some(5), "{wait}");
}

#[test]
#[ignore = "needs the real Codex CLI: run scripts/e2e"]
fn a_budget_stops_codex_once_its_usage_shows_the_budget_passed() {
    let s = E2e::new();
    let t = tag();
    let usage = "[usage:1000,200,50,10]";
    // Each model call reports 1,050 tokens ($0.001525 at gpt-5 prices); the first call's
    // tool sleeps 12 s. A CLI that writes a call's usage to its rollout as the call ends
    // is stopped during that sleep, after 1 call. The others write it only after the tool
    // ran (the sleep, or 0.150+'s 10 s exec yield) or at the end of the turn: the run is
    // stopped as soon as the usage shows — after 1 call or 2, never during the tool.
    let live = s.real().has(Fact::UsageInRolloutPerCall);
    let verify = ["--verify", "false", "--max-attempts", "3"];
    let task = format!("[tool:sleep 12; echo budget-{t}] {usage}");
    let mut args = vec!["--detach", "--max-tokens", "1000", "--task", &task];
    args.extend(verify);
    args.extend(["--", BYPASS]);
    let (_, tokens_run) = s.spawn_ok(&args);
    // the calls a stop counted, by the tokens (1,050 each), and whether that fits the CLI
    let calls_fit = |tokens: u64, took: Duration| {
        let calls = tokens / 1050;
        if live {
            tokens == 1050 && took < Duration::from_secs(9)
        } else {
            tokens == 1050 * calls && (1..=2).contains(&calls) && took >= Duration::from_secs(9)
        }
    };

    let task = format!("[tool:sleep 12; echo cost-{t}] {usage}");
    let mut args = vec!["--json", "--max-cost", "0.001", "--task", &task];
    args.extend(verify);
    args.extend(["--", BYPASS]);
    let start = Instant::now();
    let out = s.spawn(&args);
    let took = start.elapsed();
    assert_eq!(out.code(), Some(4), "{out}\n{}", rollouts(&s));
    let result: Value = serde_json::from_str(out.stdout.lines().last().unwrap()).unwrap();
    assert_eq!(result["subtype"], "error_max_budget", "{out}");
    assert_eq!(result["is_error"], true);
    assert_eq!(result["status"], "over_budget");
    assert_eq!(result["num_attempts"], 1, "{out}");
    let tokens = result["usage"]["total_tokens"].as_u64().unwrap();
    assert!(
        calls_fit(tokens, took),
        "live={live}: {tokens} tokens after {took:?}: {out}"
    );
    assert!(result["total_cost_usd"].as_f64().unwrap() > 0.001, "{out}");

    let wait = s.tool(
        "codex-meta",
        &["wait", tokens_run.meta_file.to_str().unwrap()],
    );
    assert_eq!(wait.code(), Some(4), "{wait}{}", s.context(&tokens_run));
    let m = s.meta(&tokens_run);
    assert_eq!(m["status"], "over_budget");
    let used = m["budget_used"]["tokens"].as_u64().unwrap();
    let attempt = &m["attempts"][0];
    let ms = |v: &Value| {
        chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap())
            .unwrap()
            .timestamp_millis()
    };
    let took =
        Duration::from_millis((ms(&attempt["ended_at"]) - ms(&attempt["started_at"])) as u64);
    assert!(
        calls_fit(used, took),
        "live={live}: {used} tokens after {took:?}{}",
        s.context(&tokens_run)
    );
    let reason = m["outcome_reason"].as_str().unwrap();
    let calls = used / 1050;
    let want = format!("{used} tokens used in {calls} model call");
    assert!(
        reason.contains(&want) && reason.contains("--max-tokens 1000"),
        "{reason}{}\n{}",
        s.context(&tokens_run),
        rollouts(&s)
    );
    if live {
        assert!(!reason.contains("before attempt 2"), "{reason}");
    }
    assert_eq!(m["attempts"].as_array().unwrap().len(), 1);
    let summary = s.summarize(&[&tokens_run.run_id]);
    let summed = summary["token_usage"]["total_tokens"].as_u64().unwrap();
    assert!(summed >= used && summed <= 2100, "{summary:#}");
    for tool in [format!("budget-{t}"), format!("cost-{t}")] {
        assert!(
            until(Duration::from_secs(5), || processes_with(&tool).is_empty()),
            "the tool outlived the stop: {:?}",
            processes_with(&tool)
        );
    }
}

/// A turn that passes its budget and ends before its usage shows (a CLI that writes a
/// call's usage only after its tools ran, and a mock that answers the next call at once)
/// is not a success: over_budget, exit 4, its summary kept.
#[test]
#[ignore = "needs the real Codex CLI: run scripts/e2e"]
fn a_run_past_its_budget_is_over_budget_even_when_codex_finished_first() {
    let s = E2e::new();
    let t = tag();
    // 11 s: past 0.150+'s 10 s exec yield, so the usage shows only at the turn's end
    let task = format!("[tool:sleep 11; echo over-{t}] [usage:1000,200,50,10]");
    let args = [
        "--json",
        "--max-tokens",
        "500",
        "--task",
        &task,
        "--",
        BYPASS,
    ];
    let out = s.spawn(&args);
    assert_eq!(out.code(), Some(4), "{out}\n{}", rollouts(&s));
    let result: Value = serde_json::from_str(out.stdout.lines().last().unwrap()).unwrap();
    assert_eq!(result["status"], "over_budget", "{out}");
    assert_eq!(result["subtype"], "error_max_budget", "{out}");
    assert_eq!(result["is_error"], true);
    assert!(
        result["usage"]["total_tokens"].as_u64().unwrap() >= 1050,
        "{out}"
    );
    let meta_file = result["meta_file"].as_str().unwrap();
    let m: Value = serde_json::from_slice(&std::fs::read(meta_file).unwrap()).unwrap();
    assert_eq!(m["status"], "over_budget");
    assert_eq!(m["exit_code"], 4);
    let reason = m["outcome_reason"].as_str().unwrap();
    assert!(reason.contains("--max-tokens 500"), "{reason}");
    // stopped by the watch, or finished first: either way said, never success
    if reason.contains("finished before it could be stopped") {
        assert_eq!(
            m["attempts"][0]["exit_code"], 0,
            "codex itself succeeded: {m:#}"
        );
    }
    let summary_file = result["summary_file"].as_str().unwrap();
    let summary: Value = serde_json::from_slice(&std::fs::read(summary_file).unwrap()).unwrap();
    assert!(summary["token_usage"]["total_tokens"].as_u64().unwrap() >= 1050);
    let wait = s.tool("codex-meta", &["wait", meta_file]);
    assert_eq!(wait.code(), Some(4), "{wait}");
}

#[test]
#[ignore = "needs the real Codex CLI: run scripts/e2e"]
fn detach_session_resume_by_run_wait_any_and_launch_files() {
    let s = E2e::new();
    let t = tag();
    let launch_a = s.dir.path().join("a.launch");
    let start = Instant::now();
    let out = s.spawn(&[
        "--detach=session",
        "--task",
        &format!("[tool:sleep 4; echo slow-{t}] first-{t}"),
        "--",
        BYPASS,
    ]);
    assert_eq!(out.code(), Some(0), "{out}");
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "--detach=session waited for the run"
    );
    std::fs::write(&launch_a, &out.stdout).unwrap();
    let sid = last_value(&out.stdout, "codex_session_id")
        .unwrap()
        .to_owned();
    assert_eq!(sid.len(), 36, "{out}");
    let a = RunLines::parse(&out.stdout).unwrap();

    // a quick run, piped: its session id comes out of codex-session-id at once
    let out = s.spawn(&["--detach", "--task", &format!("quick-{t}"), "--", BYPASS]);
    let launch_b = s.dir.path().join("b.launch");
    std::fs::write(&launch_b, &out.stdout).unwrap();
    let b = RunLines::parse(&out.stdout).unwrap();

    let any = s.tool(
        "codex-meta",
        &[
            "wait",
            "--any",
            launch_a.to_str().unwrap(),
            launch_b.to_str().unwrap(),
        ],
    );
    assert_eq!(any.code(), Some(0), "{any}");
    assert!(
        any.stdout.starts_with(&format!("{} succeeded", b.run_id)),
        "{any}"
    );
    let wait = s.tool("codex-meta", &["wait", launch_a.to_str().unwrap()]);
    assert_eq!(wait.code(), Some(0), "{wait}");
    assert_eq!(s.meta(&a)["session_id"], sid.as_str());

    // the summary of a launch file; the table of all runs shows each run's status
    let summary = s.summarize(&[launch_b.to_str().unwrap()]);
    assert_eq!(summary["run_id"], b.run_id.as_str());
    let table = s.tool("codex-summarize", &["--all", "--format", "table"]);
    assert!(table.stdout.contains("status"), "{table}");
    assert_eq!(table.stdout.matches("succeeded").count(), 2, "{table}");

    // resume by run id and by launch file: the same session, its history
    for by in [a.run_id.clone(), launch_a.display().to_string()] {
        let (out, r) = s.spawn_ok(&["--resume", &by, "--task", "[history]", "-q", "--", BYPASS]);
        assert_eq!(s.meta(&r)["session_id"], sid.as_str(), "{out}");
        assert_eq!(s.meta(&r)["resume_run"], a.run_id.as_str());
    }
    assert!(prompts_hold(&s, &format!("first-{t}")));
}

/// What a run spent, in its meta while it runs (its supervisor reads codex's rollout) and
/// at its end (its summary's): `codex-meta list` shows it without reading a rollout. A
/// CLI that writes a call's usage to the rollout before the turn ends (as the call ends,
/// or 0.150+ once its tool ran) shows it while the next call still streams.
#[test]
#[ignore = "needs the real Codex CLI: run scripts/e2e"]
fn a_running_runs_spend_so_far_is_in_its_meta_and_in_list() {
    let s = E2e::new();
    let t = tag();
    let real = s.real();
    let midway = real.has(Fact::UsageInRolloutPerCall)
        || real.version() >= codex_session_id::codex_version::Version(0, 150, 0);
    // each event of each response 1.5 s apart: call 2 streams for seconds after call 1's
    // tool ran
    let task = format!("[tool:echo spend-{t}] [usage:1000,200,50,10] [slow:1500ms]");
    let (_, run) = s.spawn_ok(&["--detach", "--task", &task, "--", BYPASS]);
    let start = Instant::now();
    let mut seen_running: Option<u64> = None;
    loop {
        let m = s.meta(&run);
        if m["status"] != "running" && m["status"] != "queued" {
            break;
        }
        // (0 until codex's first call shows in its rollout)
        if let Some(tokens) = m["spend"]["tokens"].as_u64().filter(|&t| t > 0) {
            seen_running.get_or_insert(tokens);
            let list = s.tool("codex-meta", &["list"]);
            assert!(
                list.stdout
                    .lines()
                    .next()
                    .unwrap_or("")
                    .contains("TOKENS  COST"),
                "{list}"
            );
            assert!(list.stdout.contains(&tokens.to_string()), "{list}");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{}",
            s.context(&run)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    if midway {
        let tokens =
            seen_running.unwrap_or_else(|| panic!("no spend while running\n{}", s.context(&run)));
        assert!(tokens >= 1050 && tokens % 1050 == 0, "{tokens}");
    }
    let wait = s.tool("codex-meta", &["wait", run.meta_file.to_str().unwrap()]);
    assert_eq!(wait.code(), Some(0), "{wait}{}", s.context(&run));
    let m = s.meta(&run);
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(&run.summary_file_pending).unwrap()).unwrap();
    assert_eq!(
        m["spend"]["tokens"], summary["token_usage"]["total_tokens"],
        "{m}"
    );
    assert_eq!(m["spend"]["cost_usd"], summary["cost"]["usd"], "{m}");
    let json = s.tool("codex-meta", &["list", "--json"]);
    let line: Value = serde_json::from_str(json.stdout.lines().next().unwrap()).unwrap();
    assert_eq!(line["spend"], m["spend"]);
}
