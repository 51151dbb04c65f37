//! Fast tests of `fake-codex`: byte-exact replay of the captured transcripts, `-o`,
//! `resume ID`, the argv/stdin record, and the fault knobs.

// Helpers outside #[test] fns unwrap too: a test failing loudly is the point.
#![allow(clippy::unwrap_used)]

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::prelude::*;
use codex_tools_tests::FIXTURES_DIR;
use predicates::prelude::*;
use serde_json::Value;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(FIXTURES_DIR).join(name)).unwrap()
}

fn fixture_exit(name: &str) -> i32 {
    String::from_utf8(fixture(&format!("{name}.exit")))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// `fake-codex` with a scrubbed env, run in `dir`.
fn fake(dir: &Path) -> Command {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin!("fake-codex"));
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .current_dir(dir)
        .stdin(Stdio::null());
    c
}

const SID: &str = "11111111-2222-4333-8444-555555555555";

#[test]
fn default_replays_new_human_byte_exact() {
    let dir = tempfile::tempdir().unwrap();
    let out = fake(dir.path())
        .args(["exec", "say hello"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(out.stdout, fixture("new-human.stdout"));
    assert_eq!(out.stderr, fixture("new-human.stderr"));
}

#[test]
fn every_scenario_replays_byte_exact_with_its_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "new-human",
        "new-human-color",
        "new-json",
        "tool-human",
        "tool-json",
        "resume-json",
        "resume-notask-json",
        "fail-human",
        "fail-json",
    ] {
        let out = fake(dir.path())
            .env("FAKE_CODEX_SCENARIO", name)
            .args(["exec", "x"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(fixture_exit(name)), "{name}");
        assert_eq!(
            out.stdout,
            fixture(&format!("{name}.stdout")),
            "{name} stdout"
        );
        assert_eq!(
            out.stderr,
            fixture(&format!("{name}.stderr")),
            "{name} stderr"
        );
    }
}

#[test]
fn json_flag_picks_the_json_variant() {
    let dir = tempfile::tempdir().unwrap();
    fake(dir.path())
        .env("FAKE_CODEX_SCENARIO", "fail")
        .args(["exec", "--json", "x"])
        .assert()
        .code(1)
        .stdout(fixture("fail-json.stdout"));
    fake(dir.path())
        .args(["exec", "--json", "x"])
        .assert()
        .success()
        .stdout(fixture("new-json.stdout"));
}

#[test]
fn output_last_message_gets_the_final_message_without_newline() {
    let dir = tempfile::tempdir().unwrap();
    let human = dir.path().join("human.txt");
    let json = dir.path().join("json.txt");
    fake(dir.path())
        .args(["exec", "-o"])
        .arg(&human)
        .arg("x")
        .assert()
        .success();
    let stdout = String::from_utf8(fixture("new-human.stdout")).unwrap();
    assert_eq!(
        std::fs::read_to_string(&human).unwrap(),
        stdout.trim_end_matches('\n')
    );
    fake(dir.path())
        .env("FAKE_CODEX_SCENARIO", "tool")
        .arg("exec")
        .arg(format!("--output-last-message={}", json.display()))
        .args(["--json", "x"])
        .assert()
        .success();
    let text = std::fs::read_to_string(&json).unwrap();
    assert!(
        text.starts_with("Done ") && !text.ends_with('\n'),
        "{text:?}"
    );
    let failed = dir.path().join("failed.txt");
    fake(dir.path())
        .env("FAKE_CODEX_SCENARIO", "fail")
        .args(["exec", "-o"])
        .arg(&failed)
        .arg("x")
        .assert()
        .code(1);
    assert!(!failed.exists(), "a failed run writes no last message");
}

#[test]
fn resume_rewrites_the_session_id() {
    let dir = tempfile::tempdir().unwrap();
    let out = fake(dir.path())
        .args(["exec", "--cd", "/r", "resume", SID, "follow up"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains(&format!("session id: {SID}\n")), "{stderr}");
    let old = String::from_utf8(fixture("resume-human.stderr")).unwrap();
    let old_id = &old[old.find("\nsession id: ").unwrap() + 13..][..36];
    assert!(!stderr.contains(old_id), "{stderr}");
    let out = fake(dir.path())
        .args(["exec", "--json", "resume", SID, "again"])
        .output()
        .unwrap();
    let first: Value =
        serde_json::from_slice(out.stdout.split(|&b| b == b'\n').next().unwrap()).unwrap();
    assert_eq!(first["thread_id"], SID);
    // --last keeps the transcript's id
    fake(dir.path())
        .args(["exec", "--json", "resume", "--last", "again"])
        .assert()
        .success()
        .stdout(fixture("resume-json.stdout"));
}

#[test]
fn record_holds_argv_cwd_stdin_and_env_names_only() {
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("rec.jsonl");
    let mut cmd = fake(dir.path());
    cmd.env("FAKE_CODEX_RECORD", &rec)
        .env("FAKE_CODEX_READ_STDIN", "1")
        .env("SECRET_TOKEN", "hunter2")
        .args(["exec", "--cd", "/r", "do it"]);
    assert_cmd::Command::from_std(cmd)
        .write_stdin("more input")
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "Reading additional input from stdin...\n",
        ));
    let text = std::fs::read_to_string(&rec).unwrap();
    assert!(!text.contains("hunter2"), "{text}");
    let r: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(
        r["argv"],
        serde_json::json!(["exec", "--cd", "/r", "do it"])
    );
    assert_eq!(
        PathBuf::from(r["cwd"].as_str().unwrap())
            .canonicalize()
            .unwrap(),
        dir.path().canonicalize().unwrap()
    );
    assert_eq!(r["stdin_bytes"], 10);
    assert_eq!(r["stdin_text"], "more input");
    assert_eq!(r["stdin_sha256"].as_str().unwrap().len(), 64);
    let keys: Vec<&str> = r["env_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert!(keys.contains(&"SECRET_TOKEN"), "{keys:?}");
}

#[test]
fn dash_prompt_reads_stdin_and_large_stdin_is_hashed_only() {
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("rec.jsonl");
    let mut cmd = fake(dir.path());
    cmd.env("FAKE_CODEX_RECORD", &rec).args(["exec", "-"]);
    assert_cmd::Command::from_std(cmd)
        .write_stdin(vec![b'a'; 5000])
        .assert()
        .success();
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&rec).unwrap()).unwrap();
    assert_eq!(r["stdin_bytes"], 5000);
    assert!(r["stdin_text"].is_null());
    assert!(r["stdin_sha256"].is_string());
    // without READ_STDIN and a prompt argument, stdin is left alone
    fake(dir.path())
        .env("FAKE_CODEX_RECORD", &rec)
        .args(["exec", "x"])
        .assert()
        .success();
    let last = std::fs::read_to_string(&rec).unwrap();
    let r: Value = serde_json::from_str(last.lines().last().unwrap()).unwrap();
    assert!(r["stdin_bytes"].is_null());
}

#[test]
fn exit_override_and_bad_knobs() {
    let dir = tempfile::tempdir().unwrap();
    fake(dir.path())
        .env("FAKE_CODEX_EXIT", "7")
        .args(["exec", "x"])
        .assert()
        .code(7)
        .stdout(fixture("new-human.stdout"));
    fake(dir.path())
        .env("FAKE_CODEX_SLEEP_BEFORE", "soon")
        .args(["exec", "x"])
        .assert()
        .code(99)
        .stderr("fake-codex: invalid FAKE_CODEX_SLEEP_BEFORE=soon\n");
    fake(dir.path())
        .env("FAKE_CODEX_SCENARIO", "nope")
        .args(["exec", "x"])
        .assert()
        .code(99)
        .stderr(predicate::str::starts_with(
            "fake-codex: cannot read fixture ",
        ));
}

#[test]
fn signal_self_crashes_after_the_header() {
    let dir = tempfile::tempdir().unwrap();
    let out = fake(dir.path())
        .env("FAKE_CODEX_SIGNAL_SELF", "KILL")
        .args(["exec", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.signal(), Some(9));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("session id: "), "{stderr}");
    assert!(!stderr.contains("tokens used"), "{stderr}");
    assert!(out.stdout.is_empty());
}

/// Spawns the fake and reads stderr until the header's end (the `--------` after `session id:`).
fn spawn_until_header(cmd: &mut Command) -> (std::process::Child, String) {
    let mut child = cmd
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut err = child.stderr.take().unwrap();
    let mut seen = Vec::new();
    let mut buf = [0; 4096];
    let header_done = |s: &str| {
        s.split_once("session id: ")
            .is_some_and(|(_, r)| r.contains("--------\n"))
    };
    while !header_done(&String::from_utf8_lossy(&seen)) {
        let n = err.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "EOF before header: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    (child, String::from_utf8(seen).unwrap())
}

#[test]
fn hang_waits_for_sigterm_and_exits_143() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, header) = spawn_until_header(
        fake(dir.path())
            .env("FAKE_CODEX_HANG", "1")
            .args(["exec", "x"]),
    );
    assert!(header.contains("session id: "));
    std::thread::sleep(Duration::from_millis(200));
    assert!(child.try_wait().unwrap().is_none(), "exited while hanging");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(143));
}

#[test]
fn ignore_term_survives_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, _) = spawn_until_header(
        fake(dir.path())
            .env("FAKE_CODEX_HANG", "1")
            .env("FAKE_CODEX_IGNORE_TERM", "1")
            .args(["exec", "x"]),
    );
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().unwrap().is_none(),
        "SIGTERM was not ignored"
    );
    child.kill().unwrap();
    assert_eq!(child.wait().unwrap().signal(), Some(9));
}

#[test]
fn sleep_after_header_prints_header_first() {
    let dir = tempfile::tempdir().unwrap();
    let start = Instant::now();
    let (child, header) = spawn_until_header(
        fake(dir.path())
            .env("FAKE_CODEX_SLEEP_AFTER_HEADER", "1s")
            .args(["exec", "x"]),
    );
    let header_at = start.elapsed();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(!header.contains("tokens used"), "{header}");
    assert!(
        header_at < Duration::from_secs(1),
        "header after {header_at:?}"
    );
    assert!(start.elapsed() >= Duration::from_secs(1));
}

#[test]
fn big_output_streams_invalid_utf8() {
    let dir = tempfile::tempdir().unwrap();
    let out = fake(dir.path())
        .env("FAKE_CODEX_BIG_OUTPUT", "3000000")
        .args(["exec", "x"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let expected = fixture("new-human.stdout");
    assert_eq!(out.stdout.len(), expected.len() + 3_000_000);
    assert!(out.stdout.starts_with(&expected));
    assert!(std::str::from_utf8(&out.stdout).is_err());
}

#[test]
fn background_child_keeps_the_pipes_open_after_exit() {
    let dir = tempfile::tempdir().unwrap();
    let start = Instant::now();
    let mut child = fake(dir.path())
        .env("FAKE_CODEX_BACKGROUND_CHILD", "2")
        .args(["exec", "x"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    assert!(child.wait().unwrap().success());
    let exited = start.elapsed();
    let mut all = Vec::new();
    stdout.read_to_end(&mut all).unwrap();
    let eof = start.elapsed();
    assert_eq!(all, fixture("new-human.stdout"));
    assert!(
        exited < Duration::from_millis(1500),
        "exit after {exited:?}"
    );
    assert!(eof >= Duration::from_secs(2), "EOF after {eof:?}");
}
