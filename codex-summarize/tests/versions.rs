//! A resumed run's tokens by CLI version, from its log alone (no rollout): codex-cli 0.47
//! counts a resumed process's own calls in `turn.completed` and `tokens used`, later
//! versions the whole session's (codex-meta's version table). The logs are real
//! (tests/fixtures/codex-0.47.0); the version comes from the meta, or the log's banner.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::{Value, json};
use tempfile::TempDir;

const SID: &str = "01a230d4-9aa4-74a0-9863-3c79a16cc859";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/codex-0.47.0")
        .join(name)
}

/// A run of session SID in `<tmp>/runs` whose log is `log`.
fn run(tmp: &TempDir, id: &str, log: &str, mode: &str, started: &str, extra: Value) {
    let runs = tmp.path().join("runs");
    std::fs::create_dir_all(&runs).expect("mkdir");
    std::fs::copy(fixture(log), runs.join(format!("codex-run-{id}.log"))).expect("copy");
    let mut meta = json!({
        "run_id": id, "status": "succeeded", "mode": mode, "exit_code": 0,
        "session_id": SID, "model": "gpt-5", "started_at": started,
        "log_file": runs.join(format!("codex-run-{id}.log")),
    });
    if mode == "resume" {
        meta["resume_session"] = json!(SID);
    }
    if let (Some(m), Some(e)) = (meta.as_object_mut(), extra.as_object()) {
        m.extend(e.clone());
    }
    std::fs::write(
        runs.join(format!("codex-run-{id}.meta.json")),
        serde_json::to_vec(&meta).expect("json"),
    )
    .expect("write");
}

fn summary(tmp: &TempDir, id: &str) -> Value {
    let home = tmp.path().join("no-codex-home");
    std::fs::create_dir_all(&home).expect("mkdir");
    let out = Command::cargo_bin("codex-summarize")
        .expect("binary")
        .env_clear()
        .env("HOME", tmp.path())
        .args(["--runs-dir"])
        .arg(tmp.path().join("runs"))
        .arg("--codex-home")
        .arg(&home)
        .arg(id)
        .assert()
        .get_output()
        .stdout
        .clone();
    serde_json::from_slice(&out).expect("json")
}

/// The session's first run (6,000 input tokens), then the resumed one (18,000 of its own).
fn two_json_runs(tmp: &TempDir, version: Option<&str>) {
    let v = version.map_or(json!({}), |v| json!({"codex_version": v}));
    run(
        tmp,
        "20261201-090000-aaaaaa",
        "new-json.log",
        "new",
        "2026-12-01T09:00:00Z",
        v.clone(),
    );
    run(
        tmp,
        "20261201-090100-bbbbbb",
        "resume-json.log",
        "resume",
        "2026-12-01T09:01:00Z",
        v,
    );
}

#[test]
fn a_resumed_run_of_0_47_counts_its_own_calls() {
    let tmp = TempDir::new().expect("tmp");
    two_json_runs(&tmp, Some("0.47.0"));
    let t = &summary(&tmp, "20261201-090100-bbbbbb")["token_usage"];
    assert_eq!(t["source"], "events", "{t:#}");
    assert_eq!(t["input_tokens"], 18000, "{t:#}");
    assert_eq!(t["cached_input_tokens"], 3600);
    // 0.47's turn.completed has no reasoning_output_tokens: unknown, not 0
    assert!(t["reasoning_output_tokens"].is_null(), "{t:#}");
    // the session: the first run's and this one's
    assert_eq!(t["session_total"]["input_tokens"], 24000, "{t:#}");
}

#[test]
fn a_version_counting_the_session_subtracts_where_it_stood() {
    let tmp = TempDir::new().expect("tmp");
    two_json_runs(&tmp, Some("0.169.0"));
    let t = &summary(&tmp, "20261201-090100-bbbbbb")["token_usage"];
    assert_eq!(t["input_tokens"], 12000, "{t:#}");
    assert_eq!(t["session_total"]["input_tokens"], 18000);
}

#[test]
fn without_the_version_an_ambiguous_resumed_run_is_unknown_never_guessed() {
    let tmp = TempDir::new().expect("tmp");
    two_json_runs(&tmp, None);
    let v = summary(&tmp, "20261201-090100-bbbbbb");
    let t = &v["token_usage"];
    assert!(t["input_tokens"].is_null(), "{v:#}");
    assert!(
        t["reason"].as_str().is_some_and(|r| r.contains("version")),
        "{v:#}"
    );
    assert!(v["cost"]["usd"].is_null());
}

#[test]
fn a_human_log_names_its_version_in_its_banner() {
    // the human log of a resumed 0.47 run: `tokens used` 13,600 is this run's own,
    // and the banner says 0.47 (no version in the meta)
    let tmp = TempDir::new().expect("tmp");
    run(
        &tmp,
        "20261201-090000-aaaaaa",
        "new-human.log",
        "new",
        "2026-12-01T09:00:00Z",
        json!({}),
    );
    run(
        &tmp,
        "20261201-090100-bbbbbb",
        "resume-human.log",
        "resume",
        "2026-12-01T09:01:00Z",
        json!({}),
    );
    let t = &summary(&tmp, "20261201-090100-bbbbbb")["token_usage"];
    assert_eq!(t["source"], "log", "{t:#}");
    assert_eq!(t["total_tokens"], 13600, "{t:#}");
    assert_eq!(t["total_is_blended"], true);
    assert_eq!(t["session_total"]["total_tokens"], 1700 + 13600, "{t:#}");
}

#[test]
fn totals_of_runs_without_reasoning_counts_keep_what_is_known() {
    let tmp = TempDir::new().expect("tmp");
    two_json_runs(&tmp, Some("0.47.0"));
    // and one run with only a human log: the totals turn blended, computed for all
    run(
        &tmp,
        "20261201-090200-cccccc",
        "new-human.log",
        "new",
        "2026-12-01T09:02:00Z",
        json!({"session_id": null}),
    );
    let home = tmp.path().join("no-codex-home");
    std::fs::create_dir_all(&home).expect("mkdir");
    let out = Command::cargo_bin("codex-summarize")
        .expect("binary")
        .env_clear()
        .env("HOME", tmp.path())
        .arg("--all")
        .arg("--runs-dir")
        .arg(tmp.path().join("runs"))
        .arg("--codex-home")
        .arg(&home)
        .assert()
        .get_output()
        .stdout
        .clone();
    let v: Value = serde_json::from_slice(&out).expect("json");
    let t = &v["totals"];
    assert_eq!(t["runs_counted"], 3, "{v:#}");
    assert!(t["reasoning_output_tokens"].is_null(), "{v:#}");
    assert!(t["input_tokens"].is_null(), "{v:#}");
    // (6000 - 1200 + 300) + (18000 - 3600 + 900) + 1,700
    assert_eq!(t["total_tokens"], 5100 + 15300 + 1700, "{v:#}");
    assert_eq!(t["total_is_blended"], true);
}

/// codex-cli 0.42 writes a `turn_context` before each model request of a turn and then
/// repeats the running total: (7350, last 7350), (7350, last 7350), (15750, last 8400) in
/// a real tool-call run (tests/fixtures/codex-0.42.0, `tool-human`). The repeat is not a
/// call: two calls, 15,750 tokens (it was counted as three, 23,100).
#[test]
fn a_total_repeated_after_a_mid_turn_turn_context_is_not_a_call() {
    let rollout = Path::new(env!("CARGO_MANIFEST_DIR")).join(
        "../tests/fixtures/codex-0.42.0/codex-home/sessions/2026/12/01/rollout-2026-12-01T08-54-22-01a230cf-ea84-7153-b995-ba76ac7af324.jsonl",
    );
    let scan = codex_summarize::rollout::scan_file(&rollout).expect("scan");
    let calls: Vec<u64> = scan.events.iter().map(|e| e.usage.total_tokens).collect();
    assert_eq!(calls, [7350, 8400]);
    assert_eq!(scan.last_total.map(|t| t.total_tokens), Some(15750));
}
