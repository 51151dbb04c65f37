//! Cross-process tests: atomic rewrites seen by a concurrent reader, concurrent updates,
//! run allocation from several processes, and liveness (`running` / `lost` / `wait`)
//! driven by a real lock-holding child process.
//!
//! Child processes are this test binary itself, re-run on the ignored `child_helper`
//! test with `CODEX_META_CHILD` saying what to do.

// Test helpers outside #[test] fns may unwrap too: a panic is a test failure here.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use codex_meta::{Meta, RunLock, RunsDir, Status, read_meta, update_meta, write_meta};
use predicates::prelude::*;
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_codex-meta");

/// Start this test binary as a helper process in `mode` with the given variables.
fn child(mode: &str, vars: &[(&str, &str)]) -> Child {
    let exe = std::env::current_exe().unwrap();
    let mut c = std::process::Command::new(exe);
    c.env_clear()
        .args([
            "child_helper",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("CODEX_META_CHILD", mode)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    for (k, v) in vars {
        c.env(k, v);
    }
    c.spawn().unwrap()
}

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} not set"))
}

/// The helper process: does what `CODEX_META_CHILD` says, then exits.
#[test]
#[ignore = "helper process started by the other tests"]
fn child_helper() {
    let Ok(mode) = std::env::var("CODEX_META_CHILD") else {
        return;
    };
    let count = || var("CHILD_COUNT").parse::<usize>().unwrap();
    match mode.as_str() {
        // Rewrite the meta CHILD_COUNT times, with a varying size.
        "rewrite" => {
            let meta = PathBuf::from(var("CHILD_META"));
            for i in 0..count() {
                update_meta(&meta, |m| {
                    m.extra.insert("n".into(), json!(i));
                    m.extra
                        .insert("pad".into(), json!("x".repeat(1000 + (i * 37) % 20_000)));
                })
                .unwrap();
            }
        }
        // Add CHILD_COUNT keys named <CHILD_PREFIX><i>.
        "setkeys" => {
            let meta = PathBuf::from(var("CHILD_META"));
            let prefix = var("CHILD_PREFIX");
            for i in 0..count() {
                update_meta(&meta, |m| {
                    m.extra.insert(format!("{prefix}{i}"), json!(i));
                })
                .unwrap();
            }
        }
        // Allocate CHILD_COUNT runs; write their ids, one a line, to CHILD_OUT.
        "create" => {
            let runs = RunsDir::new(Path::new(&var("CHILD_RUNS"))).unwrap();
            let ids: Vec<String> = (0..count())
                .map(|_| runs.create_run(false).unwrap().id.as_str().to_owned())
                .collect();
            fs::write(var("CHILD_OUT"), ids.join("\n")).unwrap();
        }
        // Own a run: lock its log, say so in CHILD_READY, hold CHILD_HOLD_MS, then (if
        // CHILD_EXIT is set) write the final meta with that exit code.
        "hold" => {
            let log = OpenOptions::new()
                .append(true)
                .open(var("CHILD_LOG"))
                .unwrap();
            let lock = RunLock::acquire(&log, Path::new(&var("CHILD_LOG"))).unwrap();
            let meta = PathBuf::from(var("CHILD_META"));
            update_meta(&meta, |m| {
                m.status = Some(Status::Running);
                m.pid = Some(std::process::id());
            })
            .unwrap();
            fs::write(var("CHILD_READY"), "").unwrap();
            std::thread::sleep(Duration::from_millis(var("CHILD_HOLD_MS").parse().unwrap()));
            if let Ok(code) = std::env::var("CHILD_EXIT") {
                let code: i32 = code.parse().unwrap();
                update_meta(&meta, |m| {
                    m.status = Some(if code == 0 {
                        Status::Succeeded
                    } else {
                        Status::Failed
                    });
                    m.exit_code = Some(code);
                    m.ended_at = Some(codex_meta::now_rfc3339());
                })
                .unwrap();
            }
            drop(lock);
        }
        other => panic!("unknown child mode {other}"),
    }
}

/// A runs dir in a temp dir with one allocated run whose meta says running.
struct Run {
    _tmp: tempfile::TempDir,
    runs: PathBuf,
    id: String,
    meta: PathBuf,
    log: PathBuf,
}

fn new_run() -> Run {
    let tmp = tempfile::tempdir().unwrap();
    let runs = tmp.path().join("runs");
    let dir = RunsDir::new(&runs).unwrap();
    let new = dir.create_run(false).unwrap();
    let mut meta = Meta::new(new.id.as_str());
    meta.status = Some(Status::Running);
    meta.log_file = Some(new.paths.log.display().to_string());
    meta.started_at = Some(codex_meta::now_rfc3339());
    write_meta(&new.paths.meta, &meta).unwrap();
    Run {
        runs,
        id: new.id.as_str().to_owned(),
        meta: new.paths.meta.clone(),
        log: new.paths.log.clone(),
        _tmp: tmp,
    }
}

impl Run {
    fn cmd(&self) -> Command {
        let mut c = Command::new(BIN);
        c.env_clear().env("CODEX_RUNS_DIR", &self.runs);
        c
    }

    /// Start a holder child and wait until it has the lock.
    fn hold(&self, hold_ms: u64, exit: Option<i32>) -> Child {
        let ready = self.runs.join("ready");
        let _ = fs::remove_file(&ready);
        let hold = hold_ms.to_string();
        let exit = exit.map(|c| c.to_string());
        let mut vars = vec![
            ("CHILD_LOG", self.log.to_str().unwrap()),
            ("CHILD_META", self.meta.to_str().unwrap()),
            ("CHILD_READY", ready.to_str().unwrap()),
            ("CHILD_HOLD_MS", hold.as_str()),
        ];
        if let Some(code) = &exit {
            vars.push(("CHILD_EXIT", code.as_str()));
        }
        let mut c = child("hold", &vars);
        let start = Instant::now();
        while !ready.exists() {
            assert!(c.try_wait().unwrap().is_none(), "holder died early");
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "holder never got ready"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        c
    }
}

#[test]
fn a_reader_never_sees_a_broken_file_while_another_process_rewrites() {
    const WRITES: usize = 5_000;
    const MIN_READS: usize = 5_000;
    let run = new_run();
    let count = WRITES.to_string();
    let mut writer = child(
        "rewrite",
        &[
            ("CHILD_META", run.meta.to_str().unwrap()),
            ("CHILD_COUNT", &count),
        ],
    );
    let (mut reads, mut during, mut broken) = (0usize, 0usize, Vec::new());
    let start = Instant::now();
    loop {
        let alive = writer.try_wait().unwrap().is_none();
        match read_meta(&run.meta) {
            Ok(m) => assert_eq!(m.run_id, run.id),
            Err(e) => broken.push(e.to_string()),
        }
        reads += 1;
        if alive {
            during += 1;
        }
        if !alive && reads >= MIN_READS {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(300), "too slow");
    }
    let status = writer.wait().unwrap();
    assert!(status.success());
    eprintln!(
        "{reads} reads ({during} while the writer ran) over {WRITES} rewrites in {:?}",
        start.elapsed()
    );
    assert!(
        broken.is_empty(),
        "{} broken reads: {:?}",
        broken.len(),
        &broken[..1]
    );
    assert!(
        during > 100,
        "the reader barely overlapped the writer: {during}"
    );
    let last = read_meta(&run.meta).unwrap();
    assert_eq!(last.extra["n"], json!(WRITES - 1));
    let leftovers: Vec<_> = fs::read_dir(&run.runs)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().ends_with(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn concurrent_updates_from_two_processes_lose_nothing() {
    let run = new_run();
    let meta = run.meta.to_str().unwrap();
    let mut a = child(
        "setkeys",
        &[
            ("CHILD_META", meta),
            ("CHILD_PREFIX", "a"),
            ("CHILD_COUNT", "500"),
        ],
    );
    let mut b = child(
        "setkeys",
        &[
            ("CHILD_META", meta),
            ("CHILD_PREFIX", "b"),
            ("CHILD_COUNT", "500"),
        ],
    );
    assert!(a.wait().unwrap().success());
    assert!(b.wait().unwrap().success());
    let m = read_meta(&run.meta).unwrap();
    for p in ["a", "b"] {
        for i in 0..500 {
            assert_eq!(
                m.extra.get(&format!("{p}{i}")),
                Some(&json!(i)),
                "{p}{i} lost"
            );
        }
    }
    assert_eq!(m.status, Some(Status::Running));
}

#[test]
fn concurrent_set_commands_lose_nothing() {
    let run = new_run();
    std::thread::scope(|s| {
        for prefix in ["x", "y"] {
            let run = &run;
            s.spawn(move || {
                for i in 0..40 {
                    run.cmd()
                        .args(["set", &run.id, &format!("{prefix}{i}={i}")])
                        .assert()
                        .success();
                }
            });
        }
    });
    let m = read_meta(&run.meta).unwrap();
    for prefix in ["x", "y"] {
        for i in 0..40 {
            assert_eq!(m.extra.get(&format!("{prefix}{i}")), Some(&json!(i)));
        }
    }
}

#[test]
fn a_hundred_runs_from_four_processes_get_distinct_ids_and_files() {
    let tmp = tempfile::tempdir().unwrap();
    let runs = tmp.path().join("runs");
    let outs: Vec<PathBuf> = (0..4).map(|i| tmp.path().join(format!("ids{i}"))).collect();
    let children: Vec<Child> = outs
        .iter()
        .map(|out| {
            child(
                "create",
                &[
                    ("CHILD_RUNS", runs.to_str().unwrap()),
                    ("CHILD_COUNT", "25"),
                    ("CHILD_OUT", out.to_str().unwrap()),
                ],
            )
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let ids: Vec<String> = outs
        .iter()
        .flat_map(|o| {
            fs::read_to_string(o)
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(ids.len(), 100);
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 100);
    assert_eq!(fs::read_dir(&runs).unwrap().count(), 100);
}

#[test]
fn running_while_held_lost_after_kill_9() {
    let run = new_run();
    run.cmd()
        .args(["status", &run.id])
        .assert()
        .success()
        .stdout(format!("{} lost exit=- session=-\n", run.id));
    let mut holder = run.hold(60_000, None);
    run.cmd()
        .args(["status", &run.id])
        .assert()
        .success()
        .stdout(format!("{} running exit=- session=-\n", run.id));
    run.cmd()
        .args(["get", &run.id, "status"])
        .assert()
        .stdout("running\n");
    run.cmd()
        .args(["list", "--status", "running"])
        .assert()
        .stdout(predicate::str::contains(&run.id));

    // A waiter started now returns 125 (lost) once the holder is killed.
    let waiter = std::process::Command::new(BIN)
        .env_clear()
        .env("CODEX_RUNS_DIR", &run.runs)
        .args(["wait", &run.id])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    holder.kill().unwrap(); // SIGKILL
    holder.wait().unwrap();
    let out = waiter.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(125), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{} lost exit=- session=-\n", run.id)
    );
    run.cmd()
        .args(["show", &run.id])
        .assert()
        .success()
        .stdout(predicate::str::contains("\"status\": \"lost\""))
        .stdout(predicate::str::contains("\"stored_status\": \"running\""));
}

#[test]
fn wait_returns_when_the_holder_exits_with_its_exit_code() {
    let run = new_run();
    let mut holder = run.hold(1_000, Some(7));
    let start = Instant::now();
    run.cmd()
        .args(["wait", &run.id, "--timeout", "60s"])
        .assert()
        .code(7)
        .stdout(format!("{} failed exit=7 session=-\n", run.id));
    let waited = start.elapsed();
    assert!(holder.wait().unwrap().success());
    assert!(
        waited >= Duration::from_millis(700),
        "returned too early: {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(30),
        "returned too late: {waited:?}"
    );
    eprintln!("wait returned after {waited:?} for a 1 s holder");

    // A successful holder: exit 0.
    let mut holder = run.hold(300, Some(0));
    run.cmd()
        .args(["wait", "-q", &run.id])
        .assert()
        .code(0)
        .stdout("");
    assert!(holder.wait().unwrap().success());
}

#[test]
fn wait_times_out_with_124_naming_the_running_run() {
    let run = new_run();
    let mut holder = run.hold(60_000, None);
    let start = Instant::now();
    run.cmd()
        .args(["wait", &run.id, "--timeout", "200ms"])
        .assert()
        .code(124)
        .stdout(format!("{} running exit=- session=-\n", run.id))
        .stderr(format!(
            "codex-meta: timed out after 200ms; still running: {}\n",
            run.id
        ));
    let waited = start.elapsed();
    assert!(waited >= Duration::from_millis(200), "{waited:?}");
    assert!(waited < Duration::from_secs(10), "{waited:?}");
    holder.kill().unwrap();
    holder.wait().unwrap();
}

#[test]
fn the_library_wait_for_sees_a_process_holder() {
    let run = new_run();
    let mut holder = run.hold(500, Some(3));
    let out = codex_meta::wait_for(&run.meta, None).unwrap();
    assert_eq!(out.status, Status::Failed);
    assert_eq!(out.exit_code(), 3);
    assert!(!codex_meta::is_held(&run.log) || holder.try_wait().unwrap().is_none());
    holder.wait().unwrap();
    assert!(!codex_meta::is_held(&run.log));
}
