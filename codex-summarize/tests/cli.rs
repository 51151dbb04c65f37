//! End-to-end tests of the `codex-summarize` binary on the transcripts captured
//! from the real Codex CLI 0.169.0 (tests/fixtures/codex-0.169.0): every
//! interface, every format, every source, and the exit codes.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::{Value, json};
use tempfile::TempDir;

const SID_RESUMED: &str = "01a20a11-cee4-7090-bde8-0211b8147f80";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/codex-0.169.0")
}

fn codex_home() -> PathBuf {
    fixtures().join("codex-home")
}

/// A scrubbed command whose HOME is the temp dir (so no real ~/.codex is read).
fn cmd(tmp: &TempDir) -> Command {
    let mut c = Command::cargo_bin("codex-summarize").expect("binary");
    c.env_clear()
        .env("HOME", tmp.path())
        .current_dir(tmp.path());
    c
}

/// Writes `codex-run-<id>.meta.json` into `<tmp>/runs` with a copy of the fixture log.
fn write_run(tmp: &TempDir, id: &str, log_fixture: &str, extra: Value) -> PathBuf {
    let runs = tmp.path().join("runs");
    std::fs::create_dir_all(&runs).expect("mkdir");
    let log = runs.join(format!("codex-run-{id}.log"));
    std::fs::copy(fixtures().join(log_fixture), &log).expect("copy log");
    let meta_path = runs.join(format!("codex-run-{id}.meta.json"));
    let mut meta = json!({
        "run_id": id, "status": "succeeded", "mode": "new", "repo": "/tmp/capture/repo",
        "task": "say hello", "log_file": log, "meta_file": meta_path,
        "exit_code": 0, "elapsed_seconds": 1.5,
    });
    if let (Some(m), Some(e)) = (meta.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            m.insert(k.clone(), v.clone());
        }
    }
    std::fs::write(&meta_path, serde_json::to_vec_pretty(&meta).expect("json")).expect("write");
    meta_path
}

/// Run `cmd`, which must succeed, and parse its stdout as JSON.
fn ok_json(cmd: &mut Command) -> Value {
    json_out(&cmd.assert().success().get_output().stdout)
}

fn json_out(out: &[u8]) -> Value {
    serde_json::from_slice(out)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(out)))
}

fn resumed_run(tmp: &TempDir) -> PathBuf {
    // resume-json.log is the run of turn 18 of session cee4 (rollout 20:21:14.416–.528)
    write_run(
        tmp,
        "20261123-202114-bbbbbb",
        "resume-json.log",
        json!({"mode": "resume", "session_id": SID_RESUMED, "resume_session": SID_RESUMED,
               "started_at": "2026-11-23T20:21:14.300Z", "ended_at": "2026-11-23T20:21:14.900Z"}),
    )
}

#[test]
fn resumed_run_from_the_rollout_counts_only_this_run() {
    let tmp = TempDir::new().expect("tmp");
    let meta = resumed_run(&tmp);
    let v = ok_json(cmd(&tmp).arg(&meta).arg("--codex-home").arg(codex_home()));
    let t = &v["token_usage"];
    assert_eq!(t["source"], "rollout", "{v:#}");
    assert_eq!(t["input_tokens"], 18000, "{v:#}");
    assert_eq!(t["cached_input_tokens"], 3600);
    assert_eq!(t["output_tokens"], 900);
    assert_eq!(t["reasoning_output_tokens"], 180);
    assert_eq!(t["total_tokens"], 18900);
    // the session's running total: the cumulative turn.completed of the same run
    assert_eq!(t["session_total"]["input_tokens"], 71000);
    assert_eq!(t["session_total"]["output_tokens"], 3550);
    assert_eq!(v["cost"]["model"], "gpt-5");
    let usd = v["cost"]["usd"].as_f64().expect("usd");
    assert!((usd - (14400.0 * 1.25 + 3600.0 * 0.125 + 900.0 * 10.0) / 1e6).abs() < 1e-12);
    assert_eq!(v["run_id"], "20261123-202114-bbbbbb");
    assert_eq!(v["success"], true);
    assert_eq!(v["session_id"], SID_RESUMED);
}

#[test]
fn resumed_run_from_events_subtracts_the_previous_run() {
    let tmp = TempDir::new().expect("tmp");
    // the previous run of the same session: its turn.completed says 53000 cumulative
    write_run(
        &tmp,
        "20261123-202113-aaaaaa",
        "resume-json.stdout",
        json!({"mode": "resume", "session_id": SID_RESUMED, "resume_session": SID_RESUMED,
               "started_at": "2026-11-23T20:21:13.900Z", "ended_at": "2026-11-23T20:21:14.200Z"}),
    );
    resumed_run(&tmp);
    let empty_home = tmp.path().join("empty-codex-home");
    std::fs::create_dir_all(&empty_home).expect("mkdir");
    let v = ok_json(
        cmd(&tmp)
            .env("CODEX_RUNS_DIR", tmp.path().join("runs"))
            .env("CODEX_HOME", &empty_home)
            .arg("20261123-202114-bbbbbb"),
    );
    let t = &v["token_usage"];
    assert_eq!(t["source"], "events", "{v:#}");
    assert_eq!(t["input_tokens"], 18000, "{v:#}");
    assert_eq!(t["cached_input_tokens"], 3600);
    assert_eq!(t["output_tokens"], 900);
    assert_eq!(t["session_total"]["input_tokens"], 71000);
}

#[test]
fn resumed_run_with_events_and_no_history_reports_no_guess() {
    let tmp = TempDir::new().expect("tmp");
    let meta = resumed_run(&tmp);
    let v = ok_json(cmd(&tmp).arg(&meta).arg("--codex-home").arg(tmp.path()));
    assert_eq!(v["token_usage"]["source"], "events");
    assert!(v["token_usage"]["input_tokens"].is_null(), "{v:#}");
    assert_eq!(v["token_usage"]["session_total"]["input_tokens"], 71000);
    assert!(v["cost"]["usd"].is_null());
    assert!(v["cost"]["reason"].is_string());
}

#[test]
fn human_log_gives_only_a_blended_total() {
    let tmp = TempDir::new().expect("tmp");
    let v = ok_json(cmd(&tmp).arg("--log").arg(fixtures().join("new-human.log")));
    let t = &v["token_usage"];
    assert_eq!(t["source"], "log", "{v:#}");
    assert_eq!(t["total_tokens"], 1700);
    assert_eq!(t["total_is_blended"], true);
    assert!(t["input_tokens"].is_null());
    assert!(t["output_tokens"].is_null());
    assert!(v["cost"]["usd"].is_null());
    assert!(
        v["cost"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("blended"))
    );
    assert_eq!(v["session_id"], "01a20a11-c891-7691-9716-0a912243e201");
    assert_eq!(v["model"], "gpt-5");
}

#[test]
fn resumed_human_log_alone_gives_only_the_session_total() {
    let tmp = TempDir::new().expect("tmp");
    let meta = write_run(
        &tmp,
        "20261123-202113-cccccc",
        "resume-human.log",
        json!({"mode": "resume", "resume_session": SID_RESUMED}),
    );
    let v = ok_json(
        cmd(&tmp)
            .args(["--log"])
            .arg(fixtures().join("resume-human.log"))
            .arg("--meta")
            .arg(&meta),
    );
    assert_eq!(v["token_usage"]["source"], "log");
    assert!(v["token_usage"]["total_tokens"].is_null(), "{v:#}");
    assert_eq!(v["token_usage"]["session_total"]["total_tokens"], 30600);
}

#[test]
fn log_interface_with_json_events() {
    let tmp = TempDir::new().expect("tmp");
    let v = ok_json(cmd(&tmp).arg("--log").arg(fixtures().join("tool-json.log")));
    // a tool-call turn is two model calls: 13000 + 14000
    assert_eq!(v["token_usage"]["source"], "events", "{v:#}");
    assert_eq!(v["token_usage"]["input_tokens"], 27000);
    assert_eq!(v["token_usage"]["cached_input_tokens"], 5400);
    assert_eq!(v["session_id"], "01a20a11-dbe1-7ab1-b5f8-db0cbe48c5e9");
}

#[test]
fn compact_and_table_formats() {
    let tmp = TempDir::new().expect("tmp");
    let meta = resumed_run(&tmp);
    cmd(&tmp)
        .arg(&meta)
        .args(["--format", "compact", "--codex-home"])
        .arg(codex_home())
        .assert()
        .success()
        .stdout(predicate::str::is_match(
            r"^OK id=20261123-202114-bbbbbb exit=0 2s in=18000/cached=3600/out=900 \$0\.0\d+ sid=01a20a11-cee4-7090-bde8-0211b8147f80\n$",
        ).expect("regex"));
    cmd(&tmp)
        .arg(&meta)
        .args(["--format", "table", "--codex-home"])
        .arg(codex_home())
        .assert()
        .success()
        .stdout(predicate::str::contains("cached input").and(predicate::str::contains("18,000")));
}

#[test]
fn json_out_and_last_message() {
    let tmp = TempDir::new().expect("tmp");
    let msg = tmp
        .path()
        .join("runs/codex-run-20261123-202114-dddddd.last-message.txt");
    std::fs::create_dir_all(msg.parent().expect("parent")).expect("mkdir");
    std::fs::write(&msg, "Done 18.\n").expect("write");
    let meta = write_run(
        &tmp,
        "20261123-202114-dddddd",
        "resume-json.log",
        json!({"mode": "resume", "session_id": SID_RESUMED, "last_message_file": msg,
               "started_at": "2026-11-23T20:21:14.300Z", "ended_at": "2026-11-23T20:21:14.900Z",
               "attempts": [{"started_at": "2026-11-23T20:21:14.300Z", "ended_at": "2026-11-23T20:21:14.900Z", "exit_code": 0}]}),
    );
    let file = tmp.path().join("out/summary.json");
    std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
    cmd(&tmp)
        .arg(&meta)
        .arg("--codex-home")
        .arg(codex_home())
        .arg("--json-out")
        .arg(&file)
        .args(["--format", "compact"])
        .assert()
        .success();
    let v = json_out(&std::fs::read(&file).expect("summary written"));
    assert_eq!(v["last_message"], "Done 18.");
    assert_eq!(
        v["attempts"]["items"][0]["token_usage"]["input_tokens"],
        18000
    );
    assert_eq!(v["attempts"]["total"]["output_tokens"], 900);
}

/// A forged record sends no reader to another file: `last_message_file` and `log_file`
/// naming other files are not read, and a planted symlink at the run's own last-message
/// path is not followed.
#[test]
fn a_forged_record_or_a_planted_symlink_prints_no_other_file() {
    let tmp = TempDir::new().expect("tmp");
    let secret = tmp.path().join("secret.txt");
    std::fs::write(&secret, "TOP SECRET\n").expect("write");
    let meta = write_run(
        &tmp,
        "20261123-202114-dddddd",
        "new-json.log",
        json!({"last_message_file": secret, "log_file": secret}),
    );
    let v = ok_json(cmd(&tmp).arg(&meta).arg("--codex-home").arg(codex_home()));
    assert_eq!(v["last_message"], Value::Null);
    assert!(!v.to_string().contains("TOP SECRET"), "{v}");
    let own = tmp
        .path()
        .join("runs/codex-run-20261123-202114-dddddd.last-message.txt");
    std::os::unix::fs::symlink(&secret, &own).expect("symlink");
    let v = ok_json(cmd(&tmp).arg(&meta).arg("--codex-home").arg(codex_home()));
    assert_eq!(v["last_message"], Value::Null);
    assert!(!v.to_string().contains("TOP SECRET"), "{v}");
    // the run's own log is still what is read
    assert_eq!(v["token_usage"]["source"], "events", "{v}");
}

/// One corrupt meta hides nothing: it is named on stderr, the others are reported, and
/// the exit status (3) says some were skipped.
#[test]
fn a_corrupt_meta_is_skipped_and_named_the_rest_reported() {
    let tmp = TempDir::new().expect("tmp");
    resumed_run(&tmp);
    let bad = tmp
        .path()
        .join("runs/codex-run-20261123-202109-000bad.meta.json");
    std::fs::write(&bad, "{\"run_id\":").expect("write");
    let out = cmd(&tmp)
        .args(["--all", "--format", "json"])
        .arg("--codex-home")
        .arg(codex_home())
        .assert()
        .code(3)
        .stderr(predicate::str::contains("000bad").and(predicate::str::contains("corrupt")))
        .get_output()
        .clone();
    let v = json_out(&out.stdout);
    assert_eq!(v["rows"].as_array().map(Vec::len), Some(1), "{v}");
    assert!(v["totals"]["total_tokens"].as_u64().unwrap_or(0) > 0, "{v}");
    // the same for RUN arguments, an unknown one among them
    cmd(&tmp)
        .args([
            "20261123-202114-bbbbbb",
            "20261123-202109-000bad",
            "nosuchrun",
        ])
        .arg("--codex-home")
        .arg(codex_home())
        .assert()
        .code(3)
        .stderr(predicate::function(|s: &str| s.lines().count() == 2));
}

#[test]
fn pricing_from_an_endless_file_is_an_error_not_a_hang() {
    let tmp = TempDir::new().expect("tmp");
    let meta = resumed_run(&tmp);
    let start = std::time::Instant::now();
    cmd(&tmp)
        .arg(&meta)
        .args(["--pricing", "/dev/zero"])
        .timeout(std::time::Duration::from_secs(30))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("/dev/zero").and(predicate::str::contains("larger than")));
    assert!(start.elapsed() < std::time::Duration::from_secs(20));
}

#[test]
fn many_runs_report_with_all() {
    let tmp = TempDir::new().expect("tmp");
    resumed_run(&tmp);
    write_run(
        &tmp,
        "20261123-202109-eeeeee",
        "new-json.log",
        json!({"session_id": "01a20a11-d106-7b71-94cf-bcd84bc18137",
               "started_at": "2026-11-23T20:21:09.000Z", "ended_at": "2026-11-23T20:21:10.000Z"}),
    );
    let v = ok_json(
        cmd(&tmp)
            .arg("--all")
            .arg("--runs-dir")
            .arg(tmp.path().join("runs"))
            .arg("--codex-home")
            .arg(codex_home()),
    );
    assert_eq!(v["rows"].as_array().map(Vec::len), Some(2), "{v:#}");
    assert_eq!(v["totals"]["input_tokens"], 18000 + 6000);
    cmd(&tmp)
        .arg("--all")
        .arg("--runs-dir")
        .arg(tmp.path().join("runs"))
        .args(["--format", "compact"])
        .assert()
        .success()
        .stdout(predicate::str::contains("TOTAL runs=2"));
}

#[test]
fn codex_home_report_agrees_with_ccusage() {
    // ccusage 20.0.24 on the same fixtures: inputTokens 136800 (+34200 cached),
    // output 8550, reasoning 1710, total 179550, cost 0.260775, 10 sessions.
    let tmp = TempDir::new().expect("tmp");
    let v = ok_json(cmd(&tmp).arg("--codex-home").arg(codex_home()));
    assert_eq!(v["rows"].as_array().map(Vec::len), Some(10), "{v:#}");
    let t = &v["totals"];
    assert_eq!(t["input_tokens"], 171000);
    assert_eq!(t["cached_input_tokens"], 34200);
    assert_eq!(t["output_tokens"], 8550);
    assert_eq!(t["reasoning_output_tokens"], 1710);
    assert_eq!(t["total_tokens"], 179550);
    assert!((t["cost_usd"].as_f64().unwrap_or(0.0) - 0.260775).abs() < 1e-9);
    assert_eq!(v["skipped_lines"], 0);
}

#[test]
fn codex_home_report_by_day_and_model_and_filters() {
    let tmp = TempDir::new().expect("tmp");
    cmd(&tmp)
        .arg("--codex-home")
        .arg(codex_home())
        .args(["--by", "day", "--format", "compact"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with(
            "2026-11-23 in=171000/cached=34200/out=8550",
        ));
    cmd(&tmp)
        .arg("--codex-home")
        .arg(codex_home())
        .args(["--by", "model", "--format", "table"])
        .assert()
        .success()
        .stdout(predicate::str::contains("gpt-5").and(predicate::str::contains("TOTAL")));
    // nothing after the capture day: exit 1, empty rows
    let out = cmd(&tmp)
        .arg("--codex-home")
        .arg(codex_home())
        .args(["--since", "2026-11-24"])
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    assert_eq!(json_out(&out)["rows"], json!([]));
    cmd(&tmp)
        .arg("--codex-home")
        .arg(codex_home())
        .args(["--until", "2026-11-23T20:21:07Z", "--format", "compact"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "TOTAL rows=1 in=1000/cached=200/out=50",
        ));
}

/// A copy of the fixture home where the first `moved` rollouts (by name) worked in
/// another project.
fn home_with_two_projects(tmp: &TempDir, moved: usize) -> PathBuf {
    let home = tmp.path().join("codex-home");
    let day = home.join("sessions/2026/11/23");
    std::fs::create_dir_all(&day).expect("mkdir");
    let src = codex_home().join("sessions/2026/11/23");
    let mut names: Vec<_> = std::fs::read_dir(&src)
        .expect("fixture")
        .map(|e| e.expect("entry").file_name())
        .collect();
    names.sort();
    for (i, n) in names.iter().enumerate() {
        let text = std::fs::read_to_string(src.join(n)).expect("rollout");
        let text = if i < moved {
            text.replacen(
                r#""cwd":"/tmp/capture/repo""#,
                r#""cwd":"/src/other \"project\"""#,
                1,
            )
        } else {
            text
        };
        std::fs::write(day.join(n), text).expect("write");
    }
    home
}

#[test]
fn codex_home_report_by_repo_week_month_and_combinations_in_a_zone() {
    let tmp = TempDir::new().expect("tmp");
    let home = home_with_two_projects(&tmp, 3);
    let all = ok_json(cmd(&tmp).arg("--codex-home").arg(&home));
    let by_repo = ok_json(
        cmd(&tmp)
            .arg("--codex-home")
            .arg(&home)
            .args(["--by", "repo"]),
    );
    let rows = by_repo["rows"].as_array().expect("rows");
    let keys: Vec<&str> = rows
        .iter()
        .map(|r| r["key"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        keys,
        [r#"/src/other "project""#, "/tmp/capture/repo"],
        "{by_repo}"
    );
    // a project's whole cost: the two rows add up to the home's total
    let sum: u64 = rows
        .iter()
        .map(|r| r["total_tokens"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(sum, all["totals"]["total_tokens"].as_u64().expect("total"));
    assert!(rows.iter().all(|r| r["total_tokens"].as_u64() > Some(0)));
    assert_eq!(by_repo.get("timezone"), None, "no calendar, no zone");
    // 20:21 UTC on the 23rd is the 24th in Tokyo; the zone is said
    let tokyo = ok_json(cmd(&tmp).arg("--codex-home").arg(&home).args([
        "--by",
        "month,day,repo",
        "--timezone",
        "Asia/Tokyo",
    ]));
    assert_eq!(tokyo["timezone"], "Asia/Tokyo");
    let first = &tokyo["rows"][0];
    assert_eq!(
        first["keys"],
        json!(["2026-11", "2026-11-24", r#"/src/other "project""#])
    );
    assert_eq!(first["key"], r#"2026-11 2026-11-24 /src/other "project""#);
    let week = ok_json(cmd(&tmp).arg("--codex-home").arg(&home).args([
        "--by",
        "week",
        "--timezone",
        "UTC",
    ]));
    assert_eq!(week["rows"][0]["key"], "2026-W48");
    assert_eq!(week["timezone"], "UTC");
    // the table's heading names the keys and the zone
    cmd(&tmp)
        .arg("--codex-home")
        .arg(&home)
        .args([
            "--by",
            "month,model",
            "--timezone",
            "+05:30",
            "--format",
            "table",
        ])
        .assert()
        .success()
        .stdout(
            predicate::str::starts_with("month model (+05:30)")
                .and(predicate::str::contains("2026-11 gpt-5")),
        );
    // a YYYY-MM-DD bound is the zone's day: nothing of the 23rd in Tokyo
    cmd(&tmp)
        .arg("--codex-home")
        .arg(&home)
        .args(["--until", "2026-11-23", "--timezone", "Asia/Tokyo"])
        .assert()
        .code(1);
}

#[test]
fn bad_by_and_timezone_are_one_line_errors() {
    let tmp = TempDir::new().expect("tmp");
    for (args, says) in [
        (vec!["--by", "day,day"], "--by: 'day' given twice"),
        (
            vec!["--by", "year"],
            "invalid value 'year' for '--by <KEY>'",
        ),
        (
            vec!["--timezone", "Mars/Base"],
            "'Mars/Base': expected UTC, local",
        ),
        (vec!["--timezone", "+25:00"], "expected UTC, local"),
    ] {
        let out = cmd(&tmp)
            .arg("--codex-home")
            .arg(codex_home())
            .args(&args)
            .assert()
            .code(2)
            .get_output()
            .clone();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(out.stdout.is_empty());
    }
    // one run is not grouped; a window is the home report's
    let meta = write_run(&tmp, "r1", "fail-human.log", json!({}));
    cmd(&tmp)
        .arg(&meta)
        .args(["--timezone", "UTC"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("group many runs"));
    cmd(&tmp)
        .arg("--all")
        .arg("--runs-dir")
        .arg(tmp.path().join("runs"))
        .args(["--since", "2026-11-01"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("apply to the --codex-home report"));
}

#[test]
fn many_runs_grouped_by_repo_and_month_sum_as_the_ungrouped_totals() {
    let tmp = TempDir::new().expect("tmp");
    resumed_run(&tmp);
    write_run(
        &tmp,
        "20261123-202109-eeeeee",
        "new-json.log",
        json!({"session_id": "01a20a11-d106-7b71-94cf-bcd84bc18137", "repo": "/src/other",
               "started_at": "2026-11-23T20:21:09.000Z", "ended_at": "2026-11-23T20:21:10.000Z"}),
    );
    let all = |args: &[&str]| {
        let mut c = cmd(&tmp);
        c.arg("--all")
            .arg("--runs-dir")
            .arg(tmp.path().join("runs"))
            .arg("--codex-home")
            .arg(codex_home())
            .args(args);
        ok_json(&mut c)
    };
    let flat = all(&[]);
    let by_repo = all(&["--by", "repo"]);
    let keys: Vec<&str> = by_repo["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["key"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(keys, ["/src/other", "/tmp/capture/repo"], "{by_repo:#}");
    assert_eq!(by_repo["rows"][0]["runs"], 1);
    assert_eq!(by_repo["rows"][0]["input_tokens"], 6000);
    assert_eq!(by_repo["rows"][1]["input_tokens"], 18000);
    assert_eq!(by_repo["totals"], flat["totals"]);
    // in Tokyo both runs started on the 24th; the zone is said
    let v = all(&["--by", "month,day", "--timezone", "Asia/Tokyo"]);
    assert_eq!(v["timezone"], "Asia/Tokyo");
    assert_eq!(v["rows"].as_array().map(Vec::len), Some(1), "{v:#}");
    assert_eq!(v["rows"][0]["keys"], json!(["2026-11", "2026-11-24"]));
    assert_eq!(v["rows"][0]["runs"], 2);
    let mut c = cmd(&tmp);
    c.arg("--all")
        .arg("--runs-dir")
        .arg(tmp.path().join("runs"))
        .args(["--by", "repo", "--format", "table"]);
    c.assert().success().stdout(
        predicate::str::starts_with("repo ")
            .and(predicate::str::contains("/src/other (1 runs)"))
            .and(predicate::str::contains("TOTAL (2 runs)")),
    );
}

#[test]
fn zstd_and_garbage_in_a_codex_home() {
    let tmp = TempDir::new().expect("tmp");
    let day = tmp.path().join("home/archived_sessions/2026/11/23");
    std::fs::create_dir_all(&day).expect("mkdir");
    let src = codex_home().join("sessions/2026/11/23/rollout-2026-11-23T20-21-06-01a20a11-c643-7ab3-8c02-ecade433bd2a.jsonl");
    let raw = std::fs::read(&src).expect("read");
    let zst = zstd_compress(&raw);
    std::fs::write(
        day.join("rollout-2026-11-23T20-21-06-01a20a11-c643-7ab3-8c02-ecade433bd2a.jsonl.zst"),
        zst,
    )
    .expect("write");
    let mut junk = raw.clone();
    junk.extend_from_slice(b"garbage line\n{\"timestamp\":\"2026-11-23T20:21:07Z\",\"type\":\"event_msg\",\"payload\":{\"type\":\"token_cou");
    std::fs::write(
        day.join("rollout-2026-11-23T20-21-06-01a20a11-c643-7ab3-8c02-ecade433bd2b.jsonl"),
        junk,
    )
    .expect("write");
    let v = ok_json(cmd(&tmp).arg("--codex-home").arg(tmp.path().join("home")));
    assert_eq!(v["skipped_lines"], 2, "{v:#}");
    assert_eq!(
        v["totals"]["input_tokens"], 1000,
        "same session once: {v:#}"
    );
}

fn zstd_compress(b: &[u8]) -> Vec<u8> {
    zstd::stream::encode_all(b, 3).expect("zstd")
}

#[test]
fn exit_codes() {
    let tmp = TempDir::new().expect("tmp");
    // unknown run id: exit 2, one line naming it
    cmd(&tmp)
        .args(["--runs-dir", "runs", "no-such-run"])
        .assert()
        .code(2)
        .stderr(
            predicate::str::starts_with("codex-summarize: ")
                .and(predicate::str::contains("no-such-run")),
        );
    cmd(&tmp)
        .arg("--log")
        .arg(tmp.path().join("missing.log"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("missing.log"));
    cmd(&tmp)
        .arg("--codex-home")
        .arg(codex_home())
        .args(["--since", "yesterday-ish"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--since"));
    cmd(&tmp)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("nothing to summarize"));
    let bad = tmp.path().join("bad-pricing.json");
    std::fs::write(&bad, "[1,2]").expect("write");
    cmd(&tmp)
        .arg("--pricing")
        .arg(&bad)
        .arg("--codex-home")
        .arg(codex_home())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("bad-pricing.json"));
    // a failed run with no usage anywhere: summary printed, exit 1
    let meta = write_run(
        &tmp,
        "20261123-202215-ffffff",
        "fail-json.log",
        json!({"status": "failed", "exit_code": 1, "session_id": null}),
    );
    let out = cmd(&tmp)
        .arg(&meta)
        .arg("--codex-home")
        .arg(tmp.path())
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let v = json_out(&out);
    assert_eq!(v["success"], false);
    assert!(v["token_usage"]["source"].is_null());
}

#[test]
fn failed_run_with_rollout_costs_zero() {
    let tmp = TempDir::new().expect("tmp");
    let meta = write_run(
        &tmp,
        "20261123-202231-ffffff",
        "fail-json.log",
        json!({"status": "failed", "exit_code": 1, "session_id": "01a20a13-1021-7f33-b656-143cc2bbb371",
               "started_at": "2026-11-23T20:22:31.000Z", "ended_at": "2026-11-23T20:22:56.000Z"}),
    );
    let out = cmd(&tmp)
        .arg(&meta)
        .args(["--format", "compact", "--codex-home"])
        .arg(codex_home())
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert!(String::from_utf8_lossy(&out).starts_with("FAIL id=20261123-202231-ffffff exit=1 "));
}

#[test]
fn litellm_pricing_file() {
    let tmp = TempDir::new().expect("tmp");
    let p = tmp.path().join("prices.json");
    std::fs::write(&p, r#"{"gpt-5":{"input_cost_per_token":2e-06,"cache_read_input_token_cost":2e-07,"output_cost_per_token":2e-05}}"#).expect("write");
    let v = ok_json(
        cmd(&tmp)
            .arg("--pricing")
            .arg(&p)
            .arg("--codex-home")
            .arg(codex_home()),
    );
    assert!((v["totals"]["cost_usd"].as_f64().unwrap_or(0.0) - 0.45144).abs() < 1e-9);
    assert!(
        v["pricing_source"]
            .as_str()
            .is_some_and(|s| s.starts_with("litellm:"))
    );
}

#[test]
fn totals_of_human_only_runs_are_their_blended_sum_never_zero() {
    // ten runs whose only usage is the human log's `tokens used` (1,700 each)
    let tmp = TempDir::new().expect("tmp");
    for i in 0..10 {
        write_run(
            &tmp,
            &format!("20261123-20210{i}-aaaaa{i}"),
            "new-human.log",
            json!({"session_id": null}),
        );
    }
    let runs = tmp.path().join("runs");
    let empty_home = tmp.path().join("no-home");
    std::fs::create_dir_all(&empty_home).expect("mkdir");
    let v = ok_json(
        cmd(&tmp)
            .arg("--all")
            .arg("--runs-dir")
            .arg(&runs)
            .arg("--codex-home")
            .arg(&empty_home),
    );
    let t = &v["totals"];
    assert_eq!(t["total_tokens"], 17000, "{v:#}");
    assert_eq!(t["total_is_blended"], true);
    assert_eq!(
        (t["runs"].as_u64(), t["runs_counted"].as_u64()),
        (Some(10), Some(10))
    );
    for k in [
        "input_tokens",
        "cached_input_tokens",
        "output_tokens",
        "cost_usd",
    ] {
        assert!(t[k].is_null(), "{k}: {v:#}");
    }
    assert!(
        t["notes"].as_array().is_some_and(|n| !n.is_empty()),
        "{v:#}"
    );
    // the table: the blended sum flagged, the unknown cost said in words, the reason once
    let out = cmd(&tmp)
        .arg("--all")
        .arg("--runs-dir")
        .arg(&runs)
        .arg("--codex-home")
        .arg(&empty_home)
        .args(["--format", "table"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let table = String::from_utf8_lossy(&out);
    let total = table
        .lines()
        .find(|l| l.starts_with("TOTAL"))
        .expect("TOTAL line");
    assert!(
        total.contains("17,000*") && total.contains("unknown"),
        "{table}"
    );
    assert!(!table.contains("$?"), "{table}");
    let reason = "input/output split unknown (only the human log's blended total)";
    assert_eq!(table.matches(reason).count(), 1, "{table}");
}

#[test]
fn totals_leave_out_what_is_unknown_and_say_so() {
    let tmp = TempDir::new().expect("tmp");
    write_run(
        &tmp,
        "20261123-202109-eeeeee",
        "new-json.log",
        json!({"started_at": "2026-11-23T20:21:09.000Z", "ended_at": "2026-11-23T20:21:10.000Z"}),
    );
    // a run whose log holds no usage at all
    write_run(&tmp, "20261123-202110-ffffff", "fail-human.log", json!({}));
    let empty_home = tmp.path().join("no-home");
    std::fs::create_dir_all(&empty_home).expect("mkdir");
    let v = ok_json(
        cmd(&tmp)
            .arg("--all")
            .arg("--runs-dir")
            .arg(tmp.path().join("runs"))
            .arg("--codex-home")
            .arg(&empty_home),
    );
    let t = &v["totals"];
    assert_eq!(
        (t["runs"].as_u64(), t["runs_counted"].as_u64()),
        (Some(2), Some(1)),
        "{v:#}"
    );
    assert!(t["input_tokens"].as_u64().is_some_and(|n| n > 0), "{v:#}");
    assert!(t["total_is_blended"].is_null(), "{v:#}");
    assert!(t["cost_usd"].is_null(), "{v:#}");
}
