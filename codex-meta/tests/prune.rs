//! `codex-meta prune`: ended runs' files, worktrees and merged branches go; a running or
//! queued run, a run a queued run waits for, a worktree with uncommitted work and a
//! branch not merged stay (the last two until `--force`), each refusal said; `--dry-run`
//! says the same and removes nothing. Worktrees are real (git), made where codex-spawn
//! makes them.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command as Std;
use std::time::Duration;

use assert_cmd::Command;
use codex_meta::RunLock;
use predicates::prelude::*;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_codex-meta");

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
    fn file(&self, id: &str, ext: &str) -> PathBuf {
        self.runs().join(format!("codex-run-{id}.{ext}"))
    }
    /// A run: its meta (`fields` on top of an ended run's) and its log of `log_bytes`.
    fn run(&self, id: &str, fields: Value, log_bytes: usize) {
        let mut meta = json!({
            "run_id": id, "status": "succeeded", "exit_code": 0,
            "started_at": "2026-12-01T10:00:00Z", "ended_at": "2026-12-01T10:01:00Z",
        });
        for (k, v) in fields.as_object().unwrap() {
            meta[k] = v.clone();
        }
        fs::write(self.file(id, "meta.json"), meta.to_string()).unwrap();
        fs::write(self.file(id, "log"), vec![b'x'; log_bytes]).unwrap();
    }
    fn has(&self, id: &str) -> bool {
        self.file(id, "meta.json").exists()
    }
    fn cmd(&self) -> Command {
        let mut c = Command::new(BIN);
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.tmp.path())
            .current_dir(self.tmp.path())
            .env("CODEX_RUNS_DIR", self.runs())
            .timeout(Duration::from_secs(60));
        c
    }
    /// `codex-meta prune`, started and not waited for (its output piped).
    fn spawn_prune(&self) -> std::process::Child {
        Std::new(BIN)
            .arg("prune")
            .env("CODEX_RUNS_DIR", self.runs())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }

    fn prune(&self, args: &[&str]) -> (i32, String, String) {
        let o = self.cmd().arg("prune").args(args).output().unwrap();
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }
}

const OLD: &str = "20261201-100000-aaaaaa";
const NEW: &str = "20261205-100000-bbbbbb";
const LIVE: &str = "20261206-100000-cccccc";
const QUEUED: &str = "20261206-110000-dddddd";

#[test]
fn ended_runs_go_live_and_awaited_ones_stay_and_a_dry_run_removes_nothing() {
    let env = Env::new();
    env.run(OLD, json!({"status": "failed", "exit_code": 1}), 1000);
    fs::write(env.file(OLD, "summary.json"), "{}\n").unwrap();
    env.run(NEW, json!({"ended_at": "2026-12-05T10:01:00Z"}), 10);
    // running: its supervisor holds its log; and a run whose final meta is written but
    // whose supervisor still writes its end (its log still held)
    env.run(
        LIVE,
        json!({"status": "running", "ended_at": null, "exit_code": null}),
        5,
    );
    let _live = RunLock::acquire_path(&env.file(LIVE, "log")).unwrap();
    let finishing = "20261206-120000-eeeeee";
    env.run(finishing, json!({}), 5);
    let _finishing = RunLock::acquire_path(&env.file(finishing, "log")).unwrap();
    // queued, waiting for NEW
    env.run(
        QUEUED,
        json!({"status": "queued", "after": [NEW], "ended_at": null}),
        5,
    );
    let _queued = RunLock::acquire_path(&env.file(QUEUED, "log")).unwrap();

    let (code, dry, err) = env.prune(&["--dry-run"]);
    assert_eq!(code, 1, "{dry}{err}");
    assert!(
        dry.contains(&format!(
            "would remove file {}",
            env.file(OLD, "log").display()
        )),
        "{dry}"
    );
    assert!(dry.contains("(1000 bytes"), "{dry}");
    assert!(
        dry.contains(&format!("kept {NEW}: a queued run waits for it (--after)")),
        "{dry}"
    );
    assert!(dry.contains("in 1 run(s); kept 1 (see above)"), "{dry}");
    assert!(
        !dry.contains(LIVE) && !dry.contains(finishing) && !dry.contains(QUEUED),
        "{dry}"
    );
    for id in [OLD, NEW, LIVE, finishing, QUEUED] {
        assert!(env.has(id), "dry run removed {id}");
    }
    assert!(env.file(OLD, "summary.json").exists());

    let (code, out, err) = env.prune(&[]);
    assert_eq!(code, 1, "{out}{err}");
    // the same lines, done
    assert_eq!(
        out.replace("removed", "would remove")
            .replace("freed", "would free"),
        dry
    );
    assert!(!env.has(OLD) && !env.file(OLD, "log").exists());
    assert!(!env.file(OLD, "summary.json").exists());
    for id in [NEW, LIVE, finishing, QUEUED] {
        assert!(env.has(id), "{id} was removed");
    }
    // a second prune finds nothing more to remove
    let (_, again, _) = env.prune(&[]);
    assert!(again.contains("freed 0 bytes in 0 run(s)"), "{again}");
    // a meta that cannot be read is never removed on a guess: named, kept
    let corrupt = "20261207-000000-ffffff";
    fs::write(env.file(corrupt, "meta.json"), "{\"run_id\": ").unwrap();
    fs::write(env.file(corrupt, "log"), "x").unwrap();
    let (code, out, _) = env.prune(&[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("kept {corrupt}: ")), "{out}");
    assert!(env.file(corrupt, "meta.json").exists() && env.file(corrupt, "log").exists());
}

#[test]
fn filters_pick_by_age_status_and_keep() {
    let env = Env::new();
    let ids = [
        "20261201-000000-aaaaa1",
        "20261202-000000-aaaaa2",
        "20261203-000000-aaaaa3",
        "20261204-000000-aaaaa4",
    ];
    for (i, id) in ids.iter().enumerate() {
        let status = if i % 2 == 0 { "failed" } else { "succeeded" };
        env.run(
            id,
            json!({"status": status, "exit_code": (i % 2 == 0) as i32}),
            10,
        );
    }
    // a run that ended a moment ago
    let fresh = "20991231-000000-ffffff";
    env.run(
        fresh,
        json!({"ended_at": chrono::Utc::now().to_rfc3339()}),
        10,
    );
    let (code, out, _) = env.prune(&["--status", "failed", "--dry-run"]);
    assert_eq!(code, 0);
    assert!(out.contains(ids[0]) && out.contains(ids[2]), "{out}");
    assert!(
        !out.contains(ids[1]) && !out.contains(ids[3]) && !out.contains(fresh),
        "{out}"
    );
    // the newest two of the matching runs are kept
    let (_, out, _) = env.prune(&["--keep", "2", "--dry-run"]);
    assert!(
        out.contains(ids[0]) && out.contains(ids[1]) && out.contains(ids[2]),
        "{out}"
    );
    assert!(!out.contains(ids[3]) && !out.contains(fresh), "{out}");
    let (_, out, _) = env.prune(&["--older-than", "1h"]);
    assert!(out.contains("in 4 run(s)"), "{out}");
    assert!(env.has(fresh) && ids.iter().all(|id| !env.has(id)));
    // a live status is refused at once
    env.cmd()
        .args(["prune", "--status", "running"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "prune never removes a running run",
        ));
}

/// A repo with one commit, and a run's worktree where codex-spawn makes them.
struct Repo {
    top: PathBuf,
}

fn git(dir: &Path, args: &[&str]) -> String {
    let o = Std::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@t"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

impl Repo {
    fn new(env: &Env) -> Repo {
        let top = env.tmp.path().join("repo");
        fs::create_dir(&top).unwrap();
        git(&top, &["init", "-q", "-b", "main"]);
        fs::write(top.join("a.txt"), "a\n").unwrap();
        git(&top, &["add", "a.txt"]);
        git(&top, &["commit", "-q", "-m", "one"]);
        Repo { top }
    }
    /// The run's worktree and branch `codex/<id>` from main, and its meta.
    fn run(&self, env: &Env, id: &str) -> PathBuf {
        let dir = self.top.join(".git/codex-worktrees").join(id);
        let branch = format!("codex/{id}");
        git(
            &self.top,
            &[
                "worktree",
                "add",
                "-q",
                "-b",
                &branch,
                dir.to_str().unwrap(),
                "main",
            ],
        );
        let base = git(&self.top, &["rev-parse", "main"]);
        env.run(
            id,
            json!({"repo": self.top, "worktree": {
                "path": dir, "branch": branch, "base": base, "base_ref": "main", "state": "kept"
            }}),
            10,
        );
        dir
    }
    fn branch_exists(&self, id: &str) -> bool {
        Std::new("git")
            .arg("-C")
            .arg(&self.top)
            .args([
                "rev-parse",
                "--verify",
                "--quiet",
                &format!("refs/heads/codex/{id}"),
            ])
            .output()
            .unwrap()
            .status
            .success()
    }
}

#[test]
fn worktrees_go_when_clean_and_branches_when_merged_else_force() {
    let env = Env::new();
    let repo = Repo::new(&env);
    let clean = "20261201-000000-c1ea00";
    let dirty = "20261201-000000-d1a700";
    let ahead = "20261201-000000-a4ead0";
    let clean_dir = repo.run(&env, clean);
    fs::write(clean_dir.join("big.bin"), vec![0u8; 50_000]).unwrap();
    git(&clean_dir, &["add", "big.bin"]);
    git(&clean_dir, &["commit", "-q", "-m", "work"]);
    git(
        &repo.top,
        &["merge", "-q", "--ff-only", &format!("codex/{clean}")],
    );
    let dirty_dir = repo.run(&env, dirty);
    fs::write(dirty_dir.join("wip.txt"), "not committed\n").unwrap();
    let ahead_dir = repo.run(&env, ahead);
    fs::write(ahead_dir.join("b.txt"), "b\n").unwrap();
    git(&ahead_dir, &["add", "b.txt"]);
    git(&ahead_dir, &["commit", "-q", "-m", "unmerged work"]);

    let (code, out, err) = env.prune(&[]);
    assert_eq!(code, 1, "{out}{err}");
    // merged and clean: its worktree (with its bytes), its branch and its files
    assert!(
        out.contains(&format!("removed worktree {}", clean_dir.display())),
        "{out}"
    );
    assert!(
        out.contains(&format!("removed branch codex/{clean}")),
        "{out}"
    );
    assert!(!clean_dir.exists() && !repo.branch_exists(clean) && !env.has(clean));
    // uncommitted work: nothing of the run goes
    assert!(
        out.contains(&format!("kept {dirty}: worktree {}", dirty_dir.display())),
        "{out}"
    );
    assert!(
        out.contains("1 uncommitted path(s): kept (--force removes it)"),
        "{out}"
    );
    assert!(dirty_dir.join("wip.txt").exists() && env.has(dirty) && repo.branch_exists(dirty));
    // work not merged: the clean worktree goes, the branch and the record stay
    assert!(
        out.contains(&format!(
            "kept {ahead}: branch codex/{ahead} is not merged into main"
        )),
        "{out}"
    );
    assert!(!ahead_dir.exists() && repo.branch_exists(ahead) && env.has(ahead));
    assert!(out.contains("kept 2 (see above)"), "{out}");

    let (code, out, err) = env.prune(&["--force"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!dirty_dir.exists() && !repo.branch_exists(dirty) && !env.has(dirty));
    assert!(!repo.branch_exists(ahead) && !env.has(ahead));
    // main kept the merged work; git knows no stale worktree
    assert!(repo.top.join("big.bin").exists());
    let list = git(&repo.top, &["worktree", "list", "--porcelain"]);
    assert_eq!(list.matches("worktree ").count(), 1, "{list}");
}

#[test]
fn a_worktree_outside_codex_worktrees_is_left_alone() {
    let env = Env::new();
    let repo = Repo::new(&env);
    let id = "20261201-000000-0a1e00";
    let elsewhere = env.tmp.path().join("mine");
    git(
        &repo.top,
        &[
            "worktree",
            "add",
            "-q",
            "-b",
            "mine",
            elsewhere.to_str().unwrap(),
        ],
    );
    env.run(
        id,
        json!({"repo": repo.top, "worktree": {"path": elsewhere, "branch": "mine", "base": "main"}}),
        10,
    );
    let (code, out, _) = env.prune(&["--force"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("is not in a codex-worktrees directory"),
        "{out}"
    );
    assert!(elsewhere.exists() && env.has(id));
}

#[test]
fn two_prunes_at_once_remove_each_run_once_and_say_no_error() {
    let env = Env::new();
    let n = 300;
    for i in 0..n {
        env.run(&format!("20261201-000000-{i:06x}"), json!({}), 100);
    }
    let (a, b) = (env.spawn_prune(), env.spawn_prune());
    let mut pruned = 0;
    for child in [a, b] {
        let o = child.wait_with_output().unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{out}{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            o.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let last = out.lines().last().unwrap_or_default().to_owned();
        let runs: usize = last
            .split(" in ")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .and_then(|r| r.parse().ok())
            .unwrap_or_else(|| panic!("{last}"));
        pruned += runs;
    }
    assert_eq!(pruned, n);
    let left: Vec<_> = fs::read_dir(env.runs())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("codex-run-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn two_prunes_at_once_share_a_repos_worktrees_without_a_git_error() {
    let env = Env::new();
    let repo = Repo::new(&env);
    let ids: Vec<String> = (0..8).map(|i| format!("20261201-000000-{i:06x}")).collect();
    let dirs: Vec<PathBuf> = ids.iter().map(|id| repo.run(&env, id)).collect();
    let (a, b) = (env.spawn_prune(), env.spawn_prune());
    let mut worktrees = 0;
    for child in [a, b] {
        let o = child.wait_with_output().unwrap();
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "{out}{err}");
        assert!(err.is_empty(), "{err}");
        worktrees += out.matches("removed worktree ").count();
    }
    // each worktree removed once, by one of them
    assert_eq!(worktrees, ids.len());
    for (id, dir) in ids.iter().zip(&dirs) {
        assert!(
            !dir.exists() && !repo.branch_exists(id) && !env.has(id),
            "{id}"
        );
    }
}
