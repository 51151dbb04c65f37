//! `codex-meta cancel`, `wait --any` and launch files, against stand-in supervisors: a
//! real process recorded in the meta with its witness (pid, start time, boot id), the
//! run's lock held by the test. (The real codex-spawn supervisor and CLI are in
//! tests/tests/e2e_fleet.rs.)
#![allow(clippy::unwrap_used)]

use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, Command as StdCommand};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use codex_meta::{RunLock, Witness};
use predicates::prelude::*;
use serde_json::{Value, json};
use tempfile::TempDir;

const BIN: &str = env!("CARGO_BIN_EXE_codex-meta");

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

    fn cmd(&self) -> Command {
        let mut c = Command::new(BIN);
        c.env_clear()
            .current_dir(self.tmp.path())
            .env("CODEX_RUNS_DIR", self.runs());
        c
    }

    /// A run whose supervisor is `child` (its witness in the meta), the lock held by
    /// the returned guard; `edit` may change the meta before it is written.
    fn live(&self, id: &str, child: &Child, edit: impl FnOnce(&mut Value)) -> RunLock {
        let log = self.runs().join(format!("codex-run-{id}.log"));
        fs::write(&log, "").unwrap();
        let w = Witness::of(child.id()).unwrap();
        let mut meta = json!({
            "run_id": id,
            "status": "running",
            "pid": w.pid,
            "pid_start": w.start,
            "boot_id": w.boot_id,
            "host": codex_meta::hostname(),
            "log_file": log.display().to_string(),
        });
        edit(&mut meta);
        let path = self.runs().join(format!("codex-run-{id}.meta.json"));
        fs::write(&path, serde_json::to_vec(&meta).unwrap()).unwrap();
        RunLock::acquire_path(&log).unwrap()
    }

    fn meta(&self, id: &str) -> Value {
        let p = self.runs().join(format!("codex-run-{id}.meta.json"));
        serde_json::from_slice(&fs::read(p).unwrap()).unwrap()
    }
}

fn sleeper() -> Child {
    StdCommand::new("sleep").arg("30").spawn().unwrap()
}

/// The child's end within 5 s: the signal that ended it (None if still running).
fn ended_by(child: &mut Child) -> Option<i32> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        if let Some(st) = child.try_wait().unwrap() {
            return st.signal();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[test]
fn cancel_signals_the_supervisor_the_witness_names_and_records_who_asked() {
    let env = Env::new();
    let mut sup = sleeper();
    let _lock = env.live("r1", &sup, |_| {});
    env.cmd()
        .args(["cancel", "r1"])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "r1 cancelling: SIGTERM sent to its supervisor (pid {})",
            sup.id()
        )));
    assert_eq!(ended_by(&mut sup), Some(15));
    let m = env.meta("r1");
    assert_eq!(m["cancel_request"]["signal"], "SIGTERM");
    assert_eq!(m["cancel_request"]["by"]["uid"], nix_uid());
    assert!(m["cancel_request"]["requested_at"].is_string());

    let mut sup = sleeper();
    let _lock = env.live("r2", &sup, |_| {});
    env.cmd()
        .args(["cancel", "--signal", "int", "r2"])
        .assert()
        .success();
    assert_eq!(ended_by(&mut sup), Some(2));
}

fn nix_uid() -> u32 {
    // the test runs as the user codex-meta records
    let out = StdCommand::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

#[test]
fn cancel_never_signals_a_process_that_only_took_the_pid() {
    let env = Env::new();
    let mut innocent = sleeper();
    // the meta names innocent's pid but another start time: a reused pid
    let lock = env.live("r1", &innocent, |m| {
        m["pid_start"] = json!("1");
    });
    drop(lock); // the supervisor is gone: nobody holds the run
    env.cmd()
        .args(["cancel", "r1"])
        .assert()
        .success()
        .stdout(predicate::str::contains("r1 lost: already ended"));
    // and with the lock held (a log reopened by another owner): still not signalled
    let _lock = env.live("r2", &innocent, |m| {
        m["pid_start"] = json!("1");
    });
    env.cmd().args(["cancel", "r2"]).assert().success();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        innocent.try_wait().unwrap(),
        None,
        "an innocent process was signalled"
    );
    innocent.kill().unwrap();
    let _ = innocent.wait();
}

#[test]
fn cancel_of_an_ended_run_another_hosts_run_or_a_bad_signal() {
    let env = Env::new();
    fs::write(
        env.runs().join("codex-run-done.meta.json"),
        json!({"run_id":"done","status":"succeeded","exit_code":0}).to_string(),
    )
    .unwrap();
    env.cmd()
        .args(["cancel", "done"])
        .assert()
        .success()
        .stdout("done succeeded: already ended, nothing to cancel\n");
    let mut sup = sleeper();
    let _lock = env.live("far", &sup, |m| m["host"] = json!("elsewhere"));
    env.cmd()
        .args(["cancel", "far"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "run far runs on host elsewhere, not on this one",
        ));
    assert_eq!(sup.try_wait().unwrap(), None);
    env.cmd()
        .args(["cancel", "--signal", "KILL", "far"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("INT, TERM or HUP"));
    env.cmd()
        .args(["cancel", "nope"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("nope"));
    sup.kill().unwrap();
    let _ = sup.wait();
}

#[test]
fn wait_any_returns_with_the_first_run_to_end_and_launch_files_name_runs() {
    let env = Env::new();
    let slow = sleeper();
    let _slow_lock = env.live("slow", &slow, |_| {});
    let quick = sleeper();
    let quick_lock = env.live("quick", &quick, |_| {});
    // a launch file as codex-spawn prints it
    let launch = env.tmp.path().join("quick.launch");
    fs::write(
        &launch,
        format!(
            "codex_run_id=quick\nlog_file={r}/codex-run-quick.log\nmeta_file={r}/codex-run-quick.meta.json\nsummary_file_pending={r}/x\n",
            r = env.runs().display()
        ),
    )
    .unwrap();
    let runs = env.runs();
    let ender = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        let p = runs.join("codex-run-quick.meta.json");
        codex_meta::update_meta(&p, |m| {
            m.status = Some(codex_meta::Status::Failed);
            m.exit_code = Some(7);
        })
        .unwrap();
        drop(quick_lock);
    });
    env.cmd()
        .args(["wait", "--any", "slow", "quick.launch", "--timeout", "20s"])
        .assert()
        .code(7)
        .stdout("quick failed exit=7 session=-\n");
    ender.join().unwrap();
    env.cmd()
        .args(["status", launch.to_str().unwrap()])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("quick failed"));
    // a file that is neither a meta nor a launch file
    let junk = env.tmp.path().join("junk.txt");
    fs::write(&junk, "hello\n").unwrap();
    env.cmd()
        .args(["status", junk.to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("junk.txt: corrupt meta"));
    // a launch file whose meta_file is another run's
    fs::write(
        &launch,
        format!(
            "codex_run_id=quick\nmeta_file={}/codex-run-slow.meta.json\n",
            env.runs().display()
        ),
    )
    .unwrap();
    env.cmd()
        .args(["status", launch.to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("is not run quick's meta"));
    for mut c in [slow, quick] {
        c.kill().unwrap();
        let _ = c.wait();
    }
}
