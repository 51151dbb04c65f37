//! Faults the run record must survive, each tried as an attacker or an unlucky user would:
//! a runs dir others can write, a flock on the runs dir, a planted symlink or FIFO named
//! like a meta, endless stdin, out-of-range exit codes.
#![allow(clippy::unwrap_used, clippy::print_stderr)] // a skipped case is said on stderr

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_codex-meta");
const ID: &str = "20260101-120000-abcdef";

struct Env {
    tmp: tempfile::TempDir,
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
    fn meta(&self, id: &str) -> PathBuf {
        self.runs().join(format!("codex-run-{id}.meta.json"))
    }
    fn put(&self, id: &str, v: serde_json::Value) {
        fs::write(self.meta(id), v.to_string()).unwrap();
    }
    fn cmd(&self) -> Command {
        let mut c = Command::new(BIN);
        c.env_clear()
            .current_dir(self.tmp.path())
            .env("CODEX_RUNS_DIR", self.runs())
            .timeout(Duration::from_secs(20));
        c
    }
}

#[test]
fn a_runs_dir_others_can_write_is_refused_unless_sticky() {
    let env = Env::new();
    env.put(
        ID,
        json!({"run_id": ID, "status": "succeeded", "exit_code": 0}),
    );
    fs::set_permissions(env.runs(), fs::Permissions::from_mode(0o777)).unwrap();
    for args in [
        vec!["status", ID],
        vec!["list"],
        vec!["set", ID, "task=x"],
        vec!["write", ID, "task=x"],
        vec!["wait", ID],
    ] {
        env.cmd().args(&args).assert().code(2).stderr(
            predicate::str::contains("unsafe runs dir")
                .and(predicate::str::contains("sticky"))
                .and(predicate::function(|s: &str| s.lines().count() == 1)),
        );
    }
    fs::set_permissions(env.runs(), fs::Permissions::from_mode(0o1777)).unwrap();
    env.cmd().args(["status", ID]).assert().success();
}

#[test]
fn a_runs_dir_of_another_user_is_refused() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root to give a directory to another user (CI runs as root)");
        return;
    }
    let env = Env::new();
    env.put(ID, json!({"run_id": ID, "status": "succeeded"}));
    nix::unistd::chown(
        &env.runs(),
        Some(nix::unistd::Uid::from_raw(65534)),
        Some(nix::unistd::Gid::from_raw(65534)),
    )
    .unwrap();
    env.cmd()
        .args(["status", ID])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("owned by uid 65534"));
}

/// Anyone who can open the runs dir could flock it; the update lock is a 0600 file of
/// ours, so such a lock stalls nothing.
#[test]
fn a_flock_held_on_the_runs_dir_stalls_no_update() {
    let env = Env::new();
    env.put(ID, json!({"run_id": ID, "status": "running"}));
    let dir = fs::File::open(env.runs()).unwrap();
    let _held = nix::fcntl::Flock::lock(dir, nix::fcntl::FlockArg::LockExclusive).unwrap();
    let start = Instant::now();
    env.cmd()
        .args(["set", ID, "task=x"])
        .timeout(Duration::from_secs(4))
        .assert()
        .success();
    env.cmd()
        .args(["write", "20260101-120000-000002", "task=y"])
        .timeout(Duration::from_secs(4))
        .assert()
        .success();
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    let lock = env.runs().join(codex_meta::LOCK_FILE);
    assert_eq!(
        fs::metadata(&lock).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

/// A lock file planted by someone else is refused with a clear error, not used.
#[test]
fn a_planted_lock_file_is_refused() {
    let env = Env::new();
    env.put(ID, json!({"run_id": ID, "status": "running"}));
    let target = env.tmp.path().join("elsewhere");
    fs::write(&target, "").unwrap();
    std::os::unix::fs::symlink(&target, env.runs().join(codex_meta::LOCK_FILE)).unwrap();
    env.cmd()
        .args(["set", ID, "task=x"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(codex_meta::LOCK_FILE));
}

#[test]
fn a_meta_that_is_a_symlink_or_a_fifo_is_refused_not_read() {
    let env = Env::new();
    let decoy = env.tmp.path().join("decoy.json");
    fs::write(
        &decoy,
        json!({"run_id": ID, "status": "succeeded"}).to_string(),
    )
    .unwrap();
    std::os::unix::fs::symlink(&decoy, env.meta(ID)).unwrap();
    env.cmd()
        .args(["status", ID])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("symbolic link"));
    let fifo_id = "20260101-120000-000003";
    nix::unistd::mkfifo(&env.meta(fifo_id), nix::sys::stat::Mode::S_IRWXU).unwrap();
    env.cmd()
        .args(["show", &env.meta(fifo_id).display().to_string()])
        .assert()
        .code(2);
}

#[test]
fn write_stdin_is_capped_never_endless() {
    let env = Env::new();
    let start = Instant::now();
    let out = std::process::Command::new(BIN)
        .env_clear()
        .env("CODEX_RUNS_DIR", env.runs())
        .args(["write", "--stdin", ID])
        .stdin(fs::File::open("/dev/zero").unwrap())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("<stdin>: larger than"), "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    assert!(!env.meta(ID).exists());
}

#[test]
fn a_huge_meta_is_refused_not_read_whole() {
    let env = Env::new();
    let f = fs::File::create(env.meta(ID)).unwrap();
    f.set_len(codex_meta::files::META_MAX_BYTES + 1).unwrap();
    env.cmd()
        .args(["status", ID])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("larger than"));
}

/// wait's exit status is the run's, mapped to documented codes: never wrapped.
#[test]
fn wait_maps_exit_codes_out_of_range_and_of_succeeded_runs() {
    let env = Env::new();
    for (id, meta, code) in [
        (
            "20260101-120000-000001",
            json!({"status": "failed", "exit_code": 300}),
            1,
        ),
        (
            "20260101-120000-000002",
            json!({"status": "failed", "exit_code": -1}),
            1,
        ),
        (
            "20260101-120000-000003",
            json!({"status": "succeeded", "exit_code": 5}),
            0,
        ),
        (
            "20260101-120000-000004",
            json!({"status": "killed", "exit_code": 300, "signal": "SIGTERM"}),
            143,
        ),
        (
            "20260101-120000-000005",
            json!({"status": "failed", "exit_code": 255}),
            255,
        ),
    ] {
        env.put(id, meta);
        env.cmd().args(["wait", "-q", id]).assert().code(code);
    }
}
