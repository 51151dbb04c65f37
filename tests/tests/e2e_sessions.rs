//! End to end: each run gets its own session — also with a Codex CLI that names none in
//! its output (0.36–0.42: codex-spawn then finds the run's rollout), for runs of one task
//! back to back and side by side (issue 21: a run took its neighbour's session).
//!
//! The truth comes from the mock, not from the rollouts codex-spawn reads: every request
//! of codex 0.36 and later carries its session id as `prompt_cache_key`, so the session
//! of a run is that of the request with the run's task (or, for runs of one task at once,
//! the run's own model, `-m gpt-5-run<k>`: the rules codex-spawn applies cannot tell
//! those runs apart, only the rollout codex's own process holds open can).
//!
//! Ignored by plain `cargo test`; `scripts/e2e` runs them with the pinned CLI,
//! `CODEX_VERSION=0.42.0` / `0.36.0` with those.

#![allow(clippy::unwrap_used)]

use std::process::Command;

use codex_session_id::codex_version::Fact;

use codex_tools_tests::e2e::{E2e, LIMIT, Out, run_bounded, served, token_fields};
use codex_tools_tests::mock::user_prompts;
use codex_tools_tests::tools::RunLines;
use serde_json::Value;

/// The session id of every request the mock got that `pick`s, each once.
fn sessions_of(s: &E2e, pick: impl Fn(&Value) -> bool) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for body in s.server.requests().iter().filter(|b| pick(b)) {
        let key = body["prompt_cache_key"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert_eq!(key.len(), 36, "a request without its session: {body:#}");
        if !out.contains(&key) {
            out.push(key);
        }
    }
    out
}

fn asked(body: &Value, task: &str) -> bool {
    user_prompts(body).iter().any(|p| p == task)
}

/// Runs the commands side by side; their outputs, in order.
fn all_at_once(cmds: Vec<Command>) -> Vec<Out> {
    std::thread::scope(|sc| {
        let handles: Vec<_> = cmds
            .into_iter()
            .map(|c| sc.spawn(move || run_bounded(c, false, LIMIT)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn run_lines(s: &E2e, out: &Out) -> RunLines {
    let run = RunLines::parse(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{out}"));
    assert_eq!(out.code(), Some(0), "{out}\n{}", s.context(&run));
    run
}

/// The run's session is `want`, and its summary counts its own call from its own rollout.
fn assert_own_session(s: &E2e, run: &RunLines, want: &str, usage: (u64, u64, u64, u64)) {
    let meta = s.meta(run);
    let ctx = s.context(run);
    assert_eq!(meta["session_id"], want, "{ctx}");
    assert_eq!(meta.get("session_id_reason"), None, "{ctx}");
    let sum = s.summarize(&[&run.run_id]);
    assert_eq!(sum["session_id"], want, "{sum:#}{ctx}");
    assert_eq!(sum["token_usage"]["source"], "rollout", "{sum:#}{ctx}");
    let file = sum["token_usage"]["rollout_file"]
        .as_str()
        .unwrap_or_default();
    assert!(file.ends_with(&format!("-{want}.jsonl")), "{sum:#}{ctx}");
    assert_eq!(
        token_fields(&sum["token_usage"]),
        served(1, usage),
        "{sum:#}{ctx}"
    );
}

#[test]
#[ignore = "needs the real Codex CLI: run scripts/e2e"]
fn three_back_to_back_runs_of_one_task_each_get_their_own_session() {
    let s = E2e::new();
    // one answer for all three: nothing in the transcripts tells the runs apart
    let task = "[say:Done.] [usage:1000,200,50,10] fix the tests";
    let mut runs = Vec::new();
    for _ in 0..3 {
        let (_, run) = s.spawn_ok(&["--quiet", "--task", task]);
        runs.push(run);
    }
    let truth = sessions_of(&s, |b| asked(b, task));
    assert_eq!(truth.len(), 3, "three sessions: {truth:?}");
    assert_eq!(s.server.requests().len(), 3);
    for (run, want) in runs.iter().zip(&truth) {
        assert_own_session(&s, run, want, (1000, 200, 50, 10));
    }
}

#[test]
#[ignore = "needs the real Codex CLI: run scripts/e2e"]
fn four_parallel_runs_of_distinct_tasks_each_get_their_own_session() {
    let s = E2e::new();
    let tasks: Vec<String> = (1..=4)
        .map(|k| format!("[slow:200ms] [usage:{k}000,{k}00,{k}0,{k}] task {k}"))
        .collect();
    let cmds = tasks
        .iter()
        .map(|t| s.spawn_cmd(&["--quiet", "--task", t]))
        .collect();
    let outs = all_at_once(cmds);
    for (k, (out, task)) in (1..=4).zip(outs.iter().zip(&tasks)) {
        let run = run_lines(&s, out);
        let truth = sessions_of(&s, |b| asked(b, task));
        assert_eq!(truth.len(), 1, "{task}: {truth:?}");
        assert_own_session(&s, &run, &truth[0], (k * 1000, k * 100, k * 10, k));
    }
}

#[test]
#[ignore = "needs the real Codex CLI: run scripts/e2e"]
fn four_parallel_runs_of_one_task_never_share_or_swap_a_session() {
    let s = E2e::new();
    let task = "[say:Done.] [slow:200ms] [usage:1000,200,50,10] one task";
    let models: Vec<String> = (1..=4).map(|k| format!("gpt-5-run{k}")).collect();
    let cmds = models
        .iter()
        .map(|m| s.spawn_cmd(&["--quiet", "--task", task, "--", "-m", m]))
        .collect();
    let outs = all_at_once(cmds);
    let mut ids = Vec::new();
    for (out, model) in outs.iter().zip(&models) {
        let run = run_lines(&s, out);
        let truth = sessions_of(&s, |b| b["model"] == model.as_str());
        assert_eq!(truth.len(), 1, "{model}: {truth:?}");
        let meta = s.meta(&run);
        if meta["session_id"].is_null() && !s.real().has(Fact::SessionIdInOutput) {
            // allowed only where nothing tells the runs apart: not where the platform
            // shows the file codex holds open
            let platform_tells = cfg!(target_os = "linux");
            assert!(!platform_tells, "no session: {}", s.context(&run));
            let why = meta["session_id_reason"].as_str().unwrap_or_default();
            assert!(why.contains("none taken"), "{}", s.context(&run));
            let sum = s.summarize(&[&run.run_id]);
            assert_ne!(sum["token_usage"]["source"], "rollout", "{sum:#}");
            continue;
        }
        assert_own_session(&s, &run, &truth[0], (1000, 200, 50, 10));
        ids.push(truth[0].clone());
    }
    // (each its own, so never one given to two runs)
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "{ids:?}");
}

#[test]
#[ignore = "needs the real Codex CLI: run scripts/e2e"]
fn a_run_whose_codex_wrote_no_rollout_never_takes_its_neighbours() {
    use std::os::unix::fs::PermissionsExt;
    let s = E2e::new();
    let task = "[say:Done.] [usage:1000,200,50,10] [slow:1500ms] one task";
    // both attempts begin at once (codex's `--version`, asked first, is not delayed); run
    // B's codex starts 0.5 s later, makes its session — inside A's attempt — and answers
    // slowly (1.5 s between the mock's events); run A's codex starts 2 s late and fails
    // before it makes a session (an unknown provider). When A's attempt ends, B's rollout
    // holds its task but no answer yet: A's transcript cannot tell it is not A's; that
    // B's codex writes the file can.
    let delayed = |name: &str, secs: &str| {
        let path = s.dir.path().join(name);
        let script = format!(
            "#!/bin/sh\n[ \"$1\" = --version ] || sleep {secs}\nexec '{}' \"$@\"\n",
            s.codex.display()
        );
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let (late, early) = (delayed("late-codex", "2"), delayed("early-codex", "0.5"));
    let a = s.spawn_cmd(&[
        "--quiet",
        "--codex-bin",
        &late,
        "--task",
        task,
        "--",
        "-c",
        "model_provider=nope",
    ]);
    let b = s.spawn_cmd(&["--quiet", "--codex-bin", &early, "--task", task]);
    let outs = all_at_once(vec![a, b]);
    let run_a = RunLines::parse(&outs[0].stdout).unwrap_or_else(|e| panic!("{e}\n{}", outs[0]));
    assert_eq!(
        outs[0].code(),
        Some(1),
        "{}\n{}",
        outs[0],
        s.context(&run_a)
    );
    let run_b = run_lines(&s, &outs[1]);
    let truth = sessions_of(&s, |b| asked(b, task));
    assert_eq!(truth.len(), 1, "{truth:?}");
    assert_own_session(&s, &run_b, &truth[0], (1000, 200, 50, 10));
    let meta = s.meta(&run_a);
    let ctx = s.context(&run_a);
    assert!(meta["session_id"].is_null(), "{ctx}");
    let why = meta["session_id_reason"].as_str().unwrap_or_default();
    assert!(why.starts_with("no rollout in CODEX_HOME matches"), "{ctx}");
    // no usage found: exit 1, the summary still printed — and no neighbour's tokens in it
    let out = s.tool("codex-summarize", &[&run_a.run_id]);
    assert_eq!(out.code(), Some(1), "{out}");
    let sum: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert!(sum["session_id"].is_null(), "{sum:#}");
    assert!(sum["token_usage"]["source"].is_null(), "{sum:#}");
}
