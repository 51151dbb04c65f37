//! Forks and sub-agents count their own model calls, from real rollouts: the captures of
//! `tests/fixtures/codex-<version>/forks/` (scripts/capture-fixtures: a session, two
//! `exec fork`s of it, a fork of a fork, a resumed fork, a session whose turn spawns a
//! sub-agent forking its history — every call 1,000 in / 200 cached / 50 out / 10
//! reasoning, so a fork's own call equals its parent's), and a public sub-agent rollout
//! (`tests/fixtures/outside/`). In the report by session, day and model, and in the
//! summary of a run of a fork.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::{Value, json};
use tempfile::TempDir;

const VERSIONS: [&str; 2] = ["0.169.0", "0.171.0"];
/// The calls of the capture: new 1, fork-1 2, fork-2 1, fork-of-fork 1, subagent 3, its
/// sub-agent 1 (the fixture README).
const CALLS: u64 = 9;

fn forks(version: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../tests/fixtures/codex-{version}/forks"))
}

/// `calls` calls of the capture's usage, as a report row's token fields.
fn tokens(calls: u64) -> Value {
    json!({
        "input_tokens": 1000 * calls, "cached_input_tokens": 200 * calls,
        "output_tokens": 50 * calls, "reasoning_output_tokens": 10 * calls,
        "total_tokens": 1050 * calls,
    })
}

fn token_fields(row: &Value) -> Value {
    json!({
        "input_tokens": row["input_tokens"], "cached_input_tokens": row["cached_input_tokens"],
        "output_tokens": row["output_tokens"], "reasoning_output_tokens": row["reasoning_output_tokens"],
        "total_tokens": row["total_tokens"],
    })
}

/// The session id a scenario's `--json` events name (`thread.started`).
fn thread_id(version: &str, scenario: &str) -> String {
    let text = std::fs::read_to_string(forks(version).join(format!("{scenario}.stdout")))
        .expect("scenario stdout");
    let first: Value = serde_json::from_str(text.lines().next().expect("a line")).expect("json");
    first["thread_id"].as_str().expect("thread id").to_owned()
}

/// The rollout of session `sid` in the capture.
fn rollout_of(version: &str, sid: &str) -> PathBuf {
    codex_summarize::rollout::list_rollouts(&forks(version).join("codex-home"))
        .into_iter()
        .find(|p| p.to_string_lossy().contains(sid))
        .expect("rollout")
}

/// The sub-agent's session id: the rollout whose `session_meta` says `thread_source: subagent`.
fn subagent_id(version: &str) -> String {
    for p in codex_summarize::rollout::list_rollouts(&forks(version).join("codex-home")) {
        let text = std::fs::read_to_string(&p).expect("rollout");
        let meta: Value = serde_json::from_str(text.lines().next().expect("line")).expect("json");
        if meta["payload"]["thread_source"] == "subagent" {
            return meta["payload"]["id"].as_str().expect("id").to_owned();
        }
    }
    panic!("no sub-agent rollout in {version}");
}

fn report(home: &Path, by: &str) -> Value {
    let out = Command::cargo_bin("codex-summarize")
        .expect("binary")
        .env_clear()
        .arg("--codex-home")
        .arg(home)
        .args(["--by", by])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    serde_json::from_slice(&out).expect("report json")
}

#[test]
fn every_fork_and_sub_agent_counts_its_own_calls_by_session() {
    for v in VERSIONS {
        let want: BTreeMap<String, u64> = [
            (thread_id(v, "new"), 1),
            (thread_id(v, "fork-1"), 2),
            (thread_id(v, "fork-2"), 1),
            (thread_id(v, "fork-of-fork"), 1),
            (thread_id(v, "subagent"), 3),
            (subagent_id(v), 1),
        ]
        .into_iter()
        .collect();
        assert_eq!(want.values().sum::<u64>(), CALLS);
        let r = report(&forks(v).join("codex-home"), "session");
        let got: BTreeMap<String, Value> = r["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .map(|row| {
                (
                    row["key"].as_str().expect("key").to_owned(),
                    token_fields(row),
                )
            })
            .collect();
        let want: BTreeMap<String, Value> = want.into_iter().map(|(k, n)| (k, tokens(n))).collect();
        assert_eq!(got, want, "{v}");
        assert_eq!(token_fields(&r["totals"]), tokens(CALLS), "{v}");
        assert_eq!(r["files"], 6, "{v}");
        assert_eq!(r["skipped_lines"], 0, "{v}");
    }
}

#[test]
fn by_day_and_by_model_count_every_call_once() {
    for v in VERSIONS {
        for by in ["day", "model"] {
            let r = report(&forks(v).join("codex-home"), by);
            let rows = r["rows"].as_array().expect("rows");
            assert_eq!(rows.len(), 1, "{v} {by}: {r}");
            assert_eq!(token_fields(&rows[0]), tokens(CALLS), "{v} {by}");
            assert_eq!(token_fields(&r["totals"]), tokens(CALLS), "{v} {by}");
        }
        let r = report(&forks(v).join("codex-home"), "model");
        assert_eq!(r["rows"][0]["key"], "gpt-5", "{v}");
        // gpt-5: (1000 - 200) x $1.25 + 200 x $0.125 + 50 x $10 per million, a call
        let usd = r["totals"]["cost_usd"].as_f64().expect("cost");
        assert!((usd - CALLS as f64 * 0.001525).abs() < 1e-12, "{v}: {usd}");
    }
}

/// One file at a time, with no parent on disk: a fork's own calls are in its file alone.
#[test]
fn a_fork_alone_counts_its_own_calls() {
    for v in VERSIONS {
        for (sid, calls) in [
            (thread_id(v, "fork-2"), 1),
            (thread_id(v, "fork-of-fork"), 1),
            (thread_id(v, "fork-1"), 2),
            (subagent_id(v), 1),
        ] {
            let tmp = TempDir::new().expect("tmp");
            let src = rollout_of(v, &sid);
            let day = tmp.path().join("sessions/2026/12/07");
            std::fs::create_dir_all(&day).expect("mkdir");
            std::fs::copy(&src, day.join(src.file_name().expect("name"))).expect("copy");
            let r = report(tmp.path(), "session");
            assert_eq!(token_fields(&r["totals"]), tokens(calls), "{v} {sid}");
        }
    }
}

/// A run's summary: `started_at`/`ended_at` window the rollout; the fork's own history
/// is the session total.
fn run_summary(version: &str, sid: &str, started: &str, ended: &str, mode: &str) -> Value {
    let tmp = TempDir::new().expect("tmp");
    let runs = tmp.path().join("runs");
    std::fs::create_dir_all(&runs).expect("mkdir");
    let id = "20261207-113300-abcdef";
    let mut meta = json!({
        "run_id": id, "status": "succeeded", "mode": mode, "exit_code": 0,
        "session_id": sid, "model": "gpt-5", "started_at": started, "ended_at": ended,
    });
    if mode == "resume" {
        meta["resume_session"] = json!(sid);
    }
    std::fs::write(
        runs.join(format!("codex-run-{id}.meta.json")),
        serde_json::to_vec(&meta).expect("json"),
    )
    .expect("write");
    let out = Command::cargo_bin("codex-summarize")
        .expect("binary")
        .env_clear()
        .env("HOME", tmp.path())
        .arg("--runs-dir")
        .arg(&runs)
        .arg("--codex-home")
        .arg(forks(version).join("codex-home"))
        .arg(id)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    serde_json::from_slice(&out).expect("summary json")
}

/// The timestamps of a rollout's `token_count` lines that carry usage.
fn count_times(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .expect("rollout")
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("json"))
        .filter(|l| l["payload"]["type"] == "token_count" && l["payload"]["info"].is_object())
        .map(|l| l["timestamp"].as_str().expect("ts").to_owned())
        .collect()
}

#[test]
fn a_run_of_a_fork_and_a_resumed_fork_count_the_forks_own_calls() {
    for v in VERSIONS {
        // the run that made fork-2: from its session_meta to its end
        let f2 = thread_id(v, "fork-2");
        let times = count_times(&rollout_of(v, &f2));
        let s = run_summary(v, &f2, "2026-12-07T00:00:00Z", &times[0], "new");
        assert_eq!(token_fields(&s["token_usage"]), tokens(1), "{v}: {s}");
        assert_eq!(s["token_usage"]["source"], "rollout", "{v}");
        assert_eq!(
            token_fields(&s["token_usage"]["session_total"]),
            tokens(1),
            "{v}"
        );
        // the resume of fork-1: its second call only; the session is the fork's two calls
        let f1 = thread_id(v, "fork-1");
        let times = count_times(&rollout_of(v, &f1));
        assert_eq!(times.len(), 2, "{v}");
        let s = run_summary(v, &f1, &times[1], &times[1], "resume");
        assert_eq!(token_fields(&s["token_usage"]), tokens(1), "{v}: {s}");
        assert_eq!(
            token_fields(&s["token_usage"]["session_total"]),
            tokens(2),
            "{v}: {s}"
        );
        assert!((s["cost"]["usd"].as_f64().expect("usd") - 0.001525).abs() < 1e-12);
    }
}

/// A public sub-agent rollout (codex-cli 0.156.1): keyed by its own id, not the root's
/// `session_id` that comes first in its `session_meta`; its one call counted.
#[test]
fn a_public_sub_agent_rollout_is_its_own_session() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/outside/3-rollout-v0.156.1-subagent-seat-excerpt.jsonl");
    let tmp = TempDir::new().expect("tmp");
    let day = tmp.path().join("sessions/2026/09/28");
    std::fs::create_dir_all(&day).expect("mkdir");
    std::fs::copy(
        &src,
        day.join("rollout-2026-09-28T13-01-37-01a0e81b-4af7-7330-a113-bad47ba77c3e.jsonl"),
    )
    .expect("copy");
    let r = report(tmp.path(), "session");
    assert_eq!(r["rows"].as_array().map(Vec::len), Some(1), "{r}");
    assert_eq!(r["rows"][0]["key"], "01a0e81b-4af7-7330-a113-bad47ba77c3e");
    assert_eq!(
        token_fields(&r["totals"]),
        json!({"input_tokens": 16781, "cached_input_tokens": 7808, "output_tokens": 23,
               "reasoning_output_tokens": 0, "total_tokens": 16804})
    );
}
