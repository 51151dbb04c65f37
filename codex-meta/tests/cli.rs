//! Integration tests of the `codex-meta` binary: every subcommand and its error paths.
//! Each test runs in its own temp dir with a scrubbed environment.

// Test helpers outside #[test] fns may unwrap too: a panic is a test failure here.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::{Value, json};
use tempfile::TempDir;

const BIN: &str = env!("CARGO_BIN_EXE_codex-meta");
const ID: &str = "20260101-120000-abcdef";

/// A temp dir with a `runs/` inside, and a command runner bound to it.
struct Env {
    tmp: TempDir,
}

impl Env {
    fn new() -> Env {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir(tmp.path().join("runs")).unwrap();
        Env { tmp }
    }

    fn runs(&self) -> PathBuf {
        self.tmp.path().join("runs")
    }

    fn meta_path(&self, id: &str) -> PathBuf {
        self.runs().join(format!("codex-run-{id}.meta.json"))
    }

    /// `codex-meta` with only CODEX_RUNS_DIR set, run from the temp dir.
    fn cmd(&self) -> Command {
        let mut c = Command::new(BIN);
        c.env_clear()
            .current_dir(self.tmp.path())
            .env("CODEX_RUNS_DIR", self.runs());
        c
    }

    /// Write a meta file directly (bypassing the tool).
    fn put(&self, id: &str, value: Value) -> PathBuf {
        let p = self.meta_path(id);
        fs::write(&p, serde_json::to_vec_pretty(&value).unwrap()).unwrap();
        p
    }

    fn read(&self, id: &str) -> Value {
        serde_json::from_slice(&fs::read(self.meta_path(id)).unwrap()).unwrap()
    }
}

fn one_line_error(needle: &str) -> impl Predicate<str> + use<> {
    let needle = needle.to_owned();
    predicate::str::starts_with("codex-meta: ")
        .and(predicate::str::contains(needle))
        .and(predicate::function(|s: &str| s.lines().count() == 1))
}

// ---------- write ----------

#[test]
fn write_creates_a_private_meta_with_coerced_values() {
    let env = Env::new();
    let path = env.meta_path(ID);
    env.cmd()
        .args(["write", path.to_str().unwrap()])
        .args([
            "status=running",
            "exit_code=0",
            "task=fix the tests",
            "custom={\"a\":[1]}",
        ])
        .assert()
        .success()
        .stdout("")
        .stderr("");
    let v = env.read(ID);
    assert_eq!(v["run_id"], json!(ID), "run_id comes from the file name");
    assert_eq!(v["status"], json!("running"));
    assert_eq!(v["exit_code"], json!(0));
    assert_eq!(v["task"], json!("fix the tests"));
    assert_eq!(v["custom"], json!({"a": [1]}));
    assert_eq!(
        v["session_id"],
        Value::Null,
        "known fields are written as null"
    );
    let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn write_by_run_id_creates_the_runs_dir_private() {
    let env = Env::new();
    let runs = env.tmp.path().join("fresh");
    env.cmd()
        .env("CODEX_RUNS_DIR", &runs)
        .args(["write", ID, "status=succeeded"])
        .assert()
        .success();
    let mode = fs::metadata(&runs).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    assert!(runs.join(format!("codex-run-{ID}.meta.json")).is_file());
}

#[test]
fn write_from_stdin_with_overrides_keeps_unknown_fields() {
    let env = Env::new();
    let path = env.meta_path(ID);
    env.cmd()
        .args(["write", "--stdin", path.to_str().unwrap(), "exit_code=2"])
        .write_stdin(r#"{"zzz":{"keep":true},"exit_code":0,"status":"failed"}"#)
        .assert()
        .success();
    let v = env.read(ID);
    assert_eq!(v["run_id"], json!(ID), "from the file name");
    assert_eq!(v["zzz"], json!({"keep": true}));
    assert_eq!(v["exit_code"], json!(2));
    assert_eq!(v["status"], json!("failed"));
}

#[test]
fn write_rejects_bad_stdin_and_bad_pairs_without_writing() {
    let env = Env::new();
    let path = env.meta_path(ID);
    let p = path.to_str().unwrap();
    env.cmd()
        .args(["write", "--stdin", p])
        .write_stdin("[1,2]")
        .assert()
        .code(2)
        .stderr(one_line_error("<stdin>: not a JSON object"));
    env.cmd()
        .args(["write", "--stdin", p])
        .write_stdin("{\"run_id\":")
        .assert()
        .code(2)
        .stderr(one_line_error("<stdin>: invalid JSON"));
    env.cmd()
        .args(["write", "--stdin", p])
        .write_stdin("{\"status\":\"nope\"}")
        .assert()
        .code(2)
        .stderr(one_line_error("<stdin>"));
    env.cmd()
        .args(["write", p, "status=running", "oops"])
        .assert()
        .code(2)
        .stderr(one_line_error("'oops'"));
    env.cmd()
        .args(["write", p, "exit_code=x"])
        .assert()
        .code(2)
        .stderr(one_line_error("'exit_code=x'"));
    assert!(!path.exists());
    assert_eq!(
        fs::read_dir(env.runs()).unwrap().count(),
        0,
        "no temp files"
    );
}

#[test]
fn write_into_a_missing_dir_names_it() {
    let env = Env::new();
    env.cmd()
        .args(["write", "nodir/x.meta.json", "status=running"])
        .assert()
        .code(2)
        .stderr(one_line_error("nodir: no such file"));
}

#[test]
fn write_rejects_a_traversing_run_id() {
    let env = Env::new();
    env.cmd()
        .args(["write", "..", "status=running"])
        .assert()
        .code(2)
        .stderr(one_line_error("invalid run id '..'"));
}

// ---------- set ----------

#[test]
fn set_coerces_values_and_keeps_other_fields_in_order() {
    let env = Env::new();
    env.put(
        ID,
        json!({"run_id": ID, "b_unknown": 1, "status": "running", "a_unknown": [1]}),
    );
    env.cmd()
        .args([
            "set",
            ID,
            "exit_code=0",
            "status=succeeded",
            "task=\"42\"",
            "note=hello world",
        ])
        .assert()
        .success()
        .stdout("")
        .stderr("");
    let v = env.read(ID);
    assert_eq!(v["exit_code"], json!(0));
    assert_eq!(v["status"], json!("succeeded"));
    assert_eq!(v["task"], json!("42"));
    assert_eq!(v["note"], json!("hello world"));
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "run_id",
            "b_unknown",
            "status",
            "a_unknown",
            "exit_code",
            "task",
            "note"
        ]
    );
}

#[test]
fn set_by_path_and_by_prefix() {
    let env = Env::new();
    let path = env.put(ID, json!({"run_id": ID}));
    env.cmd()
        .args(["set", path.to_str().unwrap(), "a=1"])
        .assert()
        .success();
    env.cmd()
        .args(["set", "20260101-12", "b=2"])
        .assert()
        .success();
    let v = env.read(ID);
    assert_eq!((v["a"].clone(), v["b"].clone()), (json!(1), json!(2)));
}

#[test]
fn set_refuses_bad_pairs_and_leaves_the_file_byte_identical() {
    let env = Env::new();
    let path = env.put(ID, json!({"run_id": ID, "status": "running"}));
    let before = fs::read(&path).unwrap();
    for (arg, needle) in [
        ("novalue", "'novalue': expected key=value"),
        ("=1", "'=1': empty key"),
        ("status=runing", "'status=runing': invalid status 'runing'"),
        (
            "exit_code=abc",
            "'exit_code=abc': exit_code must be an integer",
        ),
        (
            "elapsed_seconds=x",
            "'elapsed_seconds=x': elapsed_seconds must be",
        ),
        ("codex_command=codex", "'codex_command=codex'"),
    ] {
        env.cmd()
            .args(["set", ID, "task=ok", arg])
            .assert()
            .code(2)
            .stdout("")
            .stderr(one_line_error(needle));
        assert_eq!(fs::read(&path).unwrap(), before, "{arg} changed the file");
    }
}

/// The record cannot be forged: identity, path and liveness fields are refused by set
/// and by write (arguments and stdin), and the file stays byte for byte.
#[test]
fn set_and_write_refuse_identity_path_and_witness_fields() {
    let env = Env::new();
    let path = env.put(ID, json!({"run_id": ID, "status": "running"}));
    let before = fs::read(&path).unwrap();
    for key in codex_meta::PROTECTED_FIELDS {
        for value in ["/etc/passwd", "20260101-000000-bbbbbb", "1"] {
            env.cmd()
                .args(["set", ID, &format!("{key}={value}")])
                .assert()
                .code(2)
                .stdout("")
                .stderr(one_line_error(&format!("'{key}' cannot be set")));
            env.cmd()
                .args(["write", path.to_str().unwrap(), &format!("{key}={value}")])
                .assert()
                .code(2)
                .stderr(one_line_error(&format!("'{key}' cannot be set")));
        }
        env.cmd()
            .args(["write", "--stdin", path.to_str().unwrap()])
            .write_stdin(format!("{{\"{key}\": \"x\"}}"))
            .assert()
            .code(2)
            .stderr(one_line_error(&format!("'{key}' cannot be set")));
        assert_eq!(fs::read(&path).unwrap(), before, "{key} changed the file");
    }
    env.cmd()
        .args(["status", ID])
        .assert()
        .success()
        .stdout(format!("{ID} lost exit=- session=-\n"));
}

#[test]
fn set_refuses_a_corrupt_meta() {
    let env = Env::new();
    let path = env.meta_path(ID);
    for bad in [
        "{\"run_id\": \"x\", \"task\": \"tru",
        "",
        "[]",
        "{\"exit_code\":\"1\"}",
    ] {
        fs::write(&path, bad).unwrap();
        env.cmd()
            .args(["set", ID, "status=failed"])
            .assert()
            .code(2)
            .stderr(one_line_error("corrupt meta"))
            .stderr(predicate::str::contains(path.to_str().unwrap()));
        assert_eq!(fs::read_to_string(&path).unwrap(), bad);
    }
}

#[test]
fn set_names_unknown_and_invalid_runs() {
    let env = Env::new();
    env.cmd()
        .args(["set", "20991231-000000-ffffff", "a=1"])
        .assert()
        .code(2)
        .stderr(one_line_error("unknown run id '20991231-000000-ffffff'"));
    env.cmd()
        .args(["set", "a b", "a=1"])
        .assert()
        .code(2)
        .stderr(one_line_error("invalid run id 'a b'"));
    env.cmd()
        .args(["set", "../../etc/passwd.meta.json", "a=1"])
        .assert()
        .code(2)
        .stderr(one_line_error("no such file"));
    env.cmd()
        .args(["set", ID])
        .assert()
        .code(2)
        .stderr(one_line_error(
            "required arguments were not provided: <KEY=VALUE>",
        ));
}

#[test]
fn usage_errors_are_one_line_and_help_is_not_an_error() {
    let env = Env::new();
    env.cmd()
        .args(["status", "--bogus"])
        .assert()
        .code(2)
        .stdout("")
        .stderr(one_line_error(
            "unexpected argument '--bogus' found (see --help)",
        ));
    env.cmd()
        .args(["list", "--status", "nope"])
        .assert()
        .code(2)
        .stderr(one_line_error("'nope'"));
    env.cmd()
        .arg("--help")
        .assert()
        .code(0)
        .stderr("")
        .stdout(predicate::str::contains("Usage: codex-meta"));
}

// ---------- get ----------

#[test]
fn get_prints_strings_raw_and_the_rest_as_json() {
    let env = Env::new();
    env.put(
        ID,
        json!({"run_id": ID, "status": "failed", "task": "two\nlines", "exit_code": 3,
               "attempts": [{"exit_code": 7}], "obj": {"a": [1, 2]}, "session_id": null,
               "dotted.key": "yes"}),
    );
    let get = |key: &str| env.cmd().args(["get", ID, key]).assert();
    get("task").success().stdout("two\nlines\n");
    get("exit_code").success().stdout("3\n");
    get("obj").success().stdout("{\"a\":[1,2]}\n");
    get("attempts.0.exit_code").success().stdout("7\n");
    get("obj.a.1").success().stdout("2\n");
    get("dotted.key").success().stdout("yes\n");
    get("status").success().stdout("failed\n");
    get("session_id").code(1).stdout("").stderr("");
    get("nope").code(1).stdout("").stderr("");
    get("attempts.5").code(1).stdout("");
}

#[test]
fn get_status_is_the_effective_one() {
    let env = Env::new();
    env.put(ID, json!({"run_id": ID, "status": "running"}));
    env.cmd()
        .args(["get", ID, "status"])
        .assert()
        .success()
        .stdout("lost\n");
    env.cmd()
        .args(["get", ID, "stored_status"])
        .assert()
        .success()
        .stdout("running\n");
}

#[test]
fn get_on_missing_or_corrupt_meta_is_exit_2() {
    let env = Env::new();
    env.cmd()
        .args(["get", "runs/missing.meta.json", "x"])
        .assert()
        .code(2)
        .stderr(one_line_error("runs/missing.meta.json: no such file"));
    fs::write(env.meta_path(ID), "{\"a\":").unwrap();
    env.cmd()
        .args(["get", ID, "a"])
        .assert()
        .code(2)
        .stderr(one_line_error("corrupt meta"));
}

// ---------- show ----------

#[test]
fn show_prints_pretty_json_with_derived_status() {
    let env = Env::new();
    env.put(
        ID,
        json!({"run_id": ID, "status": "running", "x_unknown": {"k": 1}}),
    );
    let out = env
        .cmd()
        .args(["show", ID])
        .assert()
        .success()
        .get_output()
        .clone();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("\n  \"status\": \"lost\",\n"), "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["stored_status"], json!("running"));
    assert_eq!(v["x_unknown"], json!({"k": 1}));
    // The file is not touched by a reader.
    assert_eq!(env.read(ID)["status"], json!("running"));
}

#[test]
fn show_of_a_terminal_run_has_no_stored_status() {
    let env = Env::new();
    env.put(
        ID,
        json!({"run_id": ID, "status": "succeeded", "exit_code": 0}),
    );
    env.cmd()
        .args(["show", ID])
        .assert()
        .success()
        .stdout(predicate::str::contains("\"status\": \"succeeded\""))
        .stdout(predicate::str::contains("stored_status").not());
}

#[test]
fn show_names_a_truncated_meta() {
    let env = Env::new();
    let path = env.meta_path(ID);
    fs::write(&path, "{\"run_id\": \"20260101-120000-abcdef\", \"sta").unwrap();
    env.cmd()
        .args(["show", ID])
        .assert()
        .code(2)
        .stdout("")
        .stderr(one_line_error("corrupt meta"))
        .stderr(predicate::str::contains(format!(
            "codex-run-{ID}.meta.json"
        )));
}

// ---------- status ----------

#[test]
fn status_prints_one_line_per_run() {
    let env = Env::new();
    env.put(
        ID,
        json!({"run_id": ID, "status": "failed", "exit_code": 1,
               "session_id": "0199a213-81c0-7800-8aa1-bbab2a035a53"}),
    );
    env.put("20260101-120001-000001", json!({"status": "running"}));
    env.cmd()
        .args(["status", ID, "20260101-120001-000001"])
        .assert()
        .success()
        .stdout(format!(
            "{ID} failed exit=1 session=0199a213-81c0-7800-8aa1-bbab2a035a53\n\
             20260101-120001-000001 lost exit=- session=-\n"
        ));
}

#[test]
fn status_reports_unreadable_runs_and_exits_2() {
    let env = Env::new();
    env.put(
        ID,
        json!({"run_id": ID, "status": "succeeded", "exit_code": 0}),
    );
    env.cmd()
        .args(["status", "nope", ID])
        .assert()
        .code(2)
        .stdout(format!("{ID} succeeded exit=0 session=-\n"))
        .stderr(one_line_error("unknown run id 'nope'"));
}

// ---------- wait (ended runs; live runs are in concurrency.rs) ----------

#[test]
fn wait_on_ended_runs_returns_their_exit_code() {
    let env = Env::new();
    env.put(
        ID,
        json!({"run_id": ID, "status": "succeeded", "exit_code": 0}),
    );
    env.put(
        "20260101-120001-000001",
        json!({"status": "failed", "exit_code": 4}),
    );
    env.put(
        "20260101-120002-000002",
        json!({"status": "killed", "signal": "SIGKILL"}),
    );
    env.put("20260101-120003-000003", json!({"status": "running"}));
    env.cmd()
        .args(["wait", ID])
        .assert()
        .code(0)
        .stdout(format!("{ID} succeeded exit=0 session=-\n"));
    env.cmd()
        .args([
            "wait",
            "-q",
            ID,
            "20260101-120001-000001",
            "20260101-120002-000002",
        ])
        .assert()
        .code(4)
        .stdout("");
    env.cmd()
        .args(["wait", "20260101-120002-000002", "20260101-120001-000001"])
        .assert()
        .code(137);
    env.cmd()
        .args(["wait", "20260101-120003-000003"])
        .assert()
        .code(125)
        .stdout("20260101-120003-000003 lost exit=- session=-\n");
}

#[test]
fn wait_rejects_bad_arguments_before_waiting() {
    let env = Env::new();
    env.put(ID, json!({"run_id": ID, "status": "succeeded"}));
    env.cmd()
        .args(["wait", ID, "nope"])
        .assert()
        .code(2)
        .stdout("")
        .stderr(one_line_error("unknown run id 'nope'"));
    env.cmd()
        .args(["wait", ID, "--timeout", "soon"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("invalid duration 'soon'"));
}

// ---------- list ----------

fn put_three(env: &Env) {
    env.put(
        "20260101-000000-000001",
        json!({"run_id": "20260101-000000-000001", "status": "succeeded", "exit_code": 0,
               "started_at": "2026-01-01T00:00:00.000Z", "elapsed_seconds": 184.2,
               "session_id": "0199a213-81c0-7800-8aa1-bbab2a035a53",
               "task": "fix the failing tests in\nthe parser module and then write docs for everything"}),
    );
    env.put(
        "20260101-000000-000003",
        json!({"run_id": "20260101-000000-000003", "status": "running",
               "started_at": "2026-01-03T00:00:00.000Z", "task": "third"}),
    );
    env.put(
        "20260101-000000-000002",
        json!({"run_id": "20260101-000000-000002", "status": "failed", "exit_code": 1,
               "started_at": "2026-01-02T00:00:00.000Z", "task": "second"}),
    );
}

#[test]
fn list_prints_a_table_newest_first() {
    let env = Env::new();
    put_three(&env);
    let out = env
        .cmd()
        .arg("list")
        .assert()
        .success()
        .stderr("")
        .get_output()
        .clone();
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[0].starts_with("RUN_ID"), "{text}");
    assert!(
        lines[1].starts_with("20260101-000000-000003  lost"),
        "{text}"
    );
    assert!(
        lines[2].starts_with("20260101-000000-000002  failed"),
        "{text}"
    );
    assert!(
        lines[3].starts_with("20260101-000000-000001  succeeded"),
        "{text}"
    );
    assert!(lines[3].contains("3m04s"), "{text}");
    assert!(
        lines[3].contains("0199a213-81c0-7800-8aa1-bbab2a035a53"),
        "{text}"
    );
    assert!(
        lines[3].contains("fix the failing tests in the parser"),
        "{text}"
    );
    assert!(lines[3].ends_with('…'), "{text}");
}

#[test]
fn list_shows_tokens_and_cost_when_a_run_has_a_spend() {
    let env = Env::new();
    env.put(
        "20260101-000001-aaaaaa",
        json!({"run_id": "20260101-000001-aaaaaa", "status": "succeeded", "exit_code": 0,
               "task": "old", "elapsed_seconds": 3.0}),
    );
    let out = env
        .cmd()
        .arg("list")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    assert!(!text.contains("TOKENS"), "{text}");
    env.put(
        "20260101-000002-bbbbbb",
        json!({"run_id": "20260101-000002-bbbbbb", "status": "failed", "exit_code": 1,
               "task": "spent", "elapsed_seconds": 9.0,
               "spend": {"tokens": 123456, "cost_usd": 0.0421, "at": "2026-01-01T00:00:09Z"}}),
    );
    let out = env
        .cmd()
        .arg("list")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let cols = |l: &str| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
    assert_eq!(
        cols(lines[0]),
        [
            "RUN_ID", "STATUS", "EXIT", "ELAPSED", "SESSION", "TOKENS", "COST", "TASK"
        ]
    );
    assert_eq!(cols(lines[1])[5..], ["123456", "$0.0421", "spent"]);
    assert_eq!(cols(lines[2])[5..], ["-", "-", "old"]);
}

#[test]
fn list_json_limit_and_status_filter() {
    let env = Env::new();
    put_three(&env);
    let out = env
        .cmd()
        .args(["list", "--json"])
        .assert()
        .success()
        .get_output()
        .clone();
    let rows: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["status"], json!("lost"));
    assert_eq!(rows[0]["stored_status"], json!("running"));
    assert_eq!(rows[2]["run_id"], json!("20260101-000000-000001"));

    env.cmd()
        .args(["list", "--json", "--limit", "1"])
        .assert()
        .success()
        .stdout(predicate::str::contains("000003").and(predicate::str::contains("000002").not()));
    env.cmd()
        .args(["list", "--status", "failed"])
        .assert()
        .success()
        .stdout(predicate::str::contains("000002").and(predicate::str::contains("000001").not()));
    env.cmd()
        .args(["list", "--status", "bogus"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("invalid status 'bogus'"));
}

#[test]
fn list_of_an_empty_or_missing_dir_prints_its_header_and_says_why() {
    let env = Env::new();
    env.cmd()
        .arg("list")
        .assert()
        .success()
        .stdout("RUN_ID  STATUS  EXIT  ELAPSED  SESSION  TASK\n")
        .stderr(one_line_error("no runs in "));
    env.cmd()
        .args(["--runs-dir", "does/not/exist", "list", "--json"])
        .assert()
        .success()
        .stdout("")
        .stderr(one_line_error("does/not/exist does not exist"));
    put_three(&env);
    env.cmd()
        .args(["list", "--status", "queued"])
        .assert()
        .success()
        .stderr(one_line_error("no queued runs in "));
}

#[test]
fn list_reports_a_corrupt_meta_and_shows_the_rest() {
    let env = Env::new();
    put_three(&env);
    fs::write(env.meta_path("20260101-000000-000009"), "{").unwrap();
    env.cmd()
        .args(["list", "--json"])
        .assert()
        .code(2)
        .stderr(one_line_error(
            "codex-run-20260101-000000-000009.meta.json: corrupt meta",
        ))
        .stdout(predicate::function(|s: &str| s.lines().count() == 3));
}

// ---------- global behaviour ----------

#[test]
fn runs_dir_flag_beats_the_environment_and_default_is_dot_runs() {
    let env = Env::new();
    let other = env.tmp.path().join("other");
    fs::create_dir(&other).unwrap();
    fs::write(
        other.join(format!("codex-run-{ID}.meta.json")),
        r#"{"status":"succeeded"}"#,
    )
    .unwrap();
    env.cmd()
        .args(["--runs-dir", "other", "get", ID, "status"])
        .assert()
        .success()
        .stdout("succeeded\n");
    env.put(ID, json!({"status": "failed"}));
    let mut c = Command::new(BIN);
    c.env_clear()
        .current_dir(env.tmp.path())
        .args(["get", ID, "status"])
        .assert()
        .success()
        .stdout("failed\n");
}

#[test]
fn usage_errors_exit_2_and_help_exits_0() {
    let env = Env::new();
    env.cmd().assert().code(2).stdout("");
    env.cmd().arg("frobnicate").assert().code(2);
    env.cmd()
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("wait"));
    env.cmd()
        .arg("--version")
        .assert()
        .success()
        .stdout(predicate::str::starts_with("codex-meta "));
}

#[test]
fn a_closed_stdout_is_a_quiet_success() {
    let env = Env::new();
    env.put(
        ID,
        json!({"run_id": ID, "status": "succeeded", "task": "x".repeat(200_000)}),
    );
    let mut child = std::process::Command::new(BIN)
        .env_clear()
        .current_dir(env.tmp.path())
        .env("CODEX_RUNS_DIR", env.runs())
        .args(["show", ID])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

#[test]
fn meta_path_argument_may_be_relative_to_the_cwd() {
    let env = Env::new();
    env.put(ID, json!({"status": "succeeded"}));
    let rel: &Path = Path::new("runs");
    let arg = rel.join(format!("codex-run-{ID}.meta.json"));
    env.cmd()
        .env_remove("CODEX_RUNS_DIR")
        .args([
            "--runs-dir",
            "/nonexistent",
            "get",
            arg.to_str().unwrap(),
            "run_id",
        ])
        .assert()
        .code(1);
}
