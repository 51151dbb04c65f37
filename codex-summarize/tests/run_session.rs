//! Which rollout is a run's, for a CLI that names no session in its output (0.42.0): only
//! one whose session began inside the attempt, for the run's directory and task — never a
//! neighbour's that began a fraction of a second before, and no guess between two.
//! The lines are in the shape codex-cli 0.42.0 writes (captured against the mock:
//! `session_meta` with `payload.timestamp`, then the user's `response_item` message).
#![allow(clippy::unwrap_used)]

use std::path::Path;

use codex_summarize::rollout::{RunSession, find_run_session};

fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// A 0.42.0-shaped rollout of session `id` begun at `began_ms`, in `cwd`, for `task`.
fn rollout(home: &Path, id: &str, began_ms: i64, cwd: &Path, task: &str) {
    let t = chrono::DateTime::from_timestamp_millis(began_ms).unwrap();
    let dir = home.join(t.format("sessions/%Y/%m/%d").to_string());
    std::fs::create_dir_all(&dir).unwrap();
    let name = format!("rollout-{}-{id}.jsonl", t.format("%Y-%m-%dT%H-%M-%S"));
    let meta = serde_json::json!({"timestamp": iso(began_ms + 8), "type": "session_meta",
        "payload": {"id": id, "timestamp": iso(began_ms), "cwd": cwd, "originator": "codex_cli_rs",
        "cli_version": "0.42.0", "instructions": null, "git": {}}});
    let user = serde_json::json!({"timestamp": iso(began_ms + 28), "type": "response_item",
        "payload": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": task}]}});
    std::fs::write(dir.join(name), format!("{meta}\n{user}\n")).unwrap();
}

const A: &str = "01a2502b-7591-7c81-bc61-ea7210e6e4ce";
const B: &str = "01a2502b-7591-7c81-bc61-ea7210e6e4cf";
const C: &str = "01a2502b-7591-7c81-bc61-ea7210e6e4d0";

#[test]
fn an_earlier_run_of_the_same_task_in_the_same_second_is_not_ours() {
    let home = tempfile::tempdir().unwrap();
    let cwd = Path::new("/work/repo");
    let now = chrono::Utc::now().timestamp_millis();
    // the first run's session began 268 ms before the second run's attempt (the issue's
    // 05:49:30.083 and .351): same file-name second, same task, same directory
    rollout(home.path(), A, now - 268, cwd, "fix it");
    let found = find_run_session(home.path(), cwd, now, None, "fix it");
    assert_eq!(found, RunSession::NotFound);
    // the second run's own rollout, once written, is found
    rollout(home.path(), B, now + 40, cwd, "fix it");
    let found = find_run_session(home.path(), cwd, now, Some(now + 900), "fix it");
    assert_eq!(found, RunSession::Found(B.to_owned()));
    // a session begun after the attempt ended is not its either
    rollout(home.path(), C, now + 1000, cwd, "fix it");
    let found = find_run_session(home.path(), cwd, now, Some(now + 900), "fix it");
    assert_eq!(found, RunSession::Found(B.to_owned()));
}

#[test]
fn two_runs_of_one_task_begun_together_get_no_guess() {
    let home = tempfile::tempdir().unwrap();
    let cwd = Path::new("/work/repo");
    let now = chrono::Utc::now().timestamp_millis();
    rollout(home.path(), A, now + 30, cwd, "same task");
    rollout(home.path(), B, now + 35, cwd, "same task");
    rollout(home.path(), C, now + 40, cwd, "another task");
    let found = find_run_session(home.path(), cwd, now, None, "same task");
    assert_eq!(
        found,
        RunSession::Ambiguous(vec![A.to_owned(), B.to_owned()])
    );
    // distinct tasks in parallel: each its own
    let found = find_run_session(home.path(), cwd, now, None, "another task");
    assert_eq!(found, RunSession::Found(C.to_owned()));
    // another directory's run of the same task is not ours
    let found = find_run_session(home.path(), Path::new("/elsewhere"), now, None, "same task");
    assert_eq!(found, RunSession::NotFound);
}
