//! End to end: forks and sub-agents of the REAL Codex CLI against the mock endpoint, and
//! what the tools count of them. `codex exec fork` (0.148 on) writes a new rollout whose
//! totals start from its parent's; a `[spawn]` turn makes codex spawn a sub-agent that
//! forks the thread's history. Every model call is served the same usage (1,000 in, 200
//! cached, 50 out, 10 reasoning), so a fork's own call equals its parent's — the case
//! where a fork's calls were lost. The mock's request log counts the calls: the reports
//! (`codex-summarize --codex-home`, by session, day and model) and a run's summary must
//! count as many.
//!
//! Ignored by plain `cargo test`; `scripts/e2e` builds the tools, installs the pinned CLI,
//! sets `CODEX_REAL_BIN` and runs them with `--ignored`.

// Helpers outside #[test] fns unwrap too: a test failing loudly is the point.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::process::Command;

use codex_session_id::codex_version::Fact;
use codex_tools_tests::e2e::{BYPASS, E2e, token_fields};
use serde_json::Value;

/// What each of the mock's responses reports: 1,000 in, 200 cached, 50 out, 10 reasoning.
const CALL: (u64, u64, u64, u64) = (1000, 200, 50, 10);

/// `calls` responses of the mock.
fn served(calls: u64) -> Value {
    codex_tools_tests::e2e::served(calls, CALL)
}

/// gpt-5: (1000 - 200) x $1.25 + 200 x $0.125 + 50 x $10 per million tokens, a call.
const USD_PER_CALL: f64 = 0.001_525;

/// Does this CLI fork? Asked of codex-meta's table, and checked against the CLI's help.
fn forks(s: &E2e) -> bool {
    let has = s.real().has(Fact::ExecFork);
    let help = Command::new(&s.codex)
        .args(["exec", "--help"])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&help.stdout)
        .lines()
        .any(|l| l.starts_with("  fork "));
    assert_eq!(
        listed, has,
        "codex-meta's table on `exec fork` vs the CLI's help"
    );
    has
}

/// `codex exec --cd REPO --json ARGS…`, which must succeed: the session it ran.
fn exec(s: &E2e, args: &[&str]) -> String {
    let repo = s.repo.to_str().unwrap();
    let mut all = vec!["--cd", repo, "--json"];
    all.extend_from_slice(args);
    let out = s.real().exec(&all, &s.home, None).unwrap();
    assert_eq!(out.code(), Some(0), "codex exec {all:?}: {out}");
    out.session_id()
        .unwrap_or_else(|| panic!("no session id: {out}"))
}

fn report(s: &E2e, by: &str) -> Value {
    s.summarize(&["--codex-home", s.home.to_str().unwrap(), "--by", by])
}

/// The report's rows by key: their token fields.
fn rows(r: &Value) -> BTreeMap<String, Value> {
    r["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| (row["key"].as_str().unwrap().to_owned(), token_fields(row)))
        .collect()
}

/// Every report says what the mock served: `sessions` (id, calls) by session, all of
/// them on one day and one model, and the cost of that many calls.
fn assert_reports(s: &E2e, sessions: &[(&str, u64)]) {
    let calls: u64 = sessions.iter().map(|(_, n)| n).sum();
    let served_calls = s.server.requests().len() as u64;
    assert_eq!(served_calls, calls, "the mock served {served_calls} calls");
    let by_session = report(s, "session");
    let want: BTreeMap<String, Value> = sessions
        .iter()
        .map(|(id, n)| ((*id).to_owned(), served(*n)))
        .collect();
    assert_eq!(rows(&by_session), want, "{by_session:#}");
    for by in ["session", "day", "model"] {
        let r = report(s, by);
        assert_eq!(
            token_fields(&r["totals"]),
            served(calls),
            "--by {by}: {r:#}"
        );
        let usd = r["totals"]["cost_usd"].as_f64().unwrap();
        assert!(
            (usd - calls as f64 * USD_PER_CALL).abs() < 1e-12,
            "--by {by}: {r:#}"
        );
        if by != "session" {
            let rows = rows(&r);
            assert_eq!(rows.len(), 1, "--by {by}: {r:#}");
            assert_eq!(rows.values().next(), Some(&served(calls)), "--by {by}");
        }
    }
    assert_eq!(report(s, "model")["rows"][0]["key"], "gpt-5");
}

#[test]
#[ignore = "needs the real Codex CLI: run scripts/e2e"]
fn a_session_and_two_forks_are_three_calls_and_a_fork_of_a_fork_a_fourth() {
    let s = E2e::new();
    if !forks(&s) {
        return;
    }
    let root = exec(&s, &["say hello"]);
    let f1 = exec(&s, &["fork", &root, "fork one"]);
    let f2 = exec(&s, &["fork", &root, "fork two"]);
    assert_reports(&s, &[(&root, 1), (&f1, 1), (&f2, 1)]);
    // the forks had the root's history: their requests carry its prompt
    let prompts = s.prompts_from(1);
    assert_eq!(prompts[0], ["say hello", "fork one"]);
    assert_eq!(prompts[1], ["say hello", "fork two"]);

    let f3 = exec(&s, &["fork", &f2, "fork of fork"]);
    assert_eq!(
        s.prompts_from(3)[0],
        ["say hello", "fork two", "fork of fork"]
    );
    assert_reports(&s, &[(&root, 1), (&f1, 1), (&f2, 1), (&f3, 1)]);
}

#[test]
#[ignore = "needs the real Codex CLI: run scripts/e2e"]
fn a_sub_agent_forking_its_parents_history_counts_its_own_call() {
    let s = E2e::new();
    if !forks(&s) {
        return;
    }
    // the parent: spawn_agent, then wait_agent, then an answer; the sub-agent: an answer
    let parent = exec(&s, &[BYPASS, "[spawn] delegate it"]);
    let by_session = report(&s, "session");
    let child = rows(&by_session)
        .into_keys()
        .find(|k| *k != parent)
        .unwrap_or_else(|| panic!("no sub-agent row: {by_session:#}"));
    // the sub-agent's request: its task last, after the parent's history
    let prompts = s.prompts_from(0);
    assert!(
        prompts.contains(&vec![
            "[spawn] delegate it".to_owned(),
            "child task".to_owned()
        ]),
        "{prompts:?}"
    );
    assert_reports(&s, &[(&parent, 3), (&child, 1)]);
}

#[test]
#[ignore = "needs the real Codex CLI: run scripts/e2e"]
fn a_resumed_forks_run_counts_its_call_and_the_fork_its_own_history() {
    let s = E2e::new();
    if !forks(&s) {
        return;
    }
    let root = exec(&s, &["say hello"]);
    let fork = exec(&s, &["fork", &root, "fork one"]);
    let (_, run) = s.spawn_ok(&["--quiet", "--resume", &fork, "--task", "again"]);
    assert_eq!(s.server.requests().len(), 3, "{}", s.context(&run));
    // what codex-spawn wrote at the end, and what codex-summarize says of the run
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(&run.summary_file_pending).unwrap()).unwrap();
    for sum in [written, s.summarize(&[&run.run_id])] {
        let ctx = format!("{sum:#}{}", s.context(&run));
        assert_eq!(sum["session_id"], fork.as_str(), "{ctx}");
        assert_eq!(token_fields(&sum["token_usage"]), served(1), "{ctx}");
        assert_eq!(sum["token_usage"]["source"], "rollout", "{ctx}");
        // the fork's own two calls, not the root's one it started from
        assert_eq!(
            token_fields(&sum["token_usage"]["session_total"]),
            served(2),
            "{ctx}"
        );
        let usd = sum["cost"]["usd"].as_f64().unwrap();
        assert!((usd - USD_PER_CALL).abs() < 1e-12, "{ctx}");
    }
    assert_reports(&s, &[(&root, 1), (&fork, 2)]);
}
