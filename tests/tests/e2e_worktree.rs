//! End to end: `codex-spawn --worktree` with the REAL Codex CLI against the mock
//! endpoint, codex writing files through its own tool calls — five parallel runs on one
//! repo, each on its own branch, the main checkout untouched; a resume that goes on on
//! the same branch in a fresh worktree, with `--verify` checking there; a cancelled
//! run's worktree left for inspection.
//!
//! Ignored by plain `cargo test`; `scripts/e2e` runs them with the real CLI.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use codex_tools_tests::e2e::{BYPASS, E2e, LIMIT, tag};
use codex_tools_tests::tools::RunLines;
use serde_json::Value;

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The E2e repo with a first commit, plus an uncommitted change and an untracked file
/// in the main checkout; returns the main checkout's `git status` and file contents.
fn committed(s: &E2e) -> String {
    git(&s.repo, &["add", "hello.txt"]);
    git(
        &s.repo,
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "commit",
            "-q",
            "-m",
            "init",
        ],
    );
    std::fs::write(s.repo.join("hello.txt"), "hello\nmain's own edit\n").unwrap();
    std::fs::write(s.repo.join("notes.txt"), "untracked in main\n").unwrap();
    main_state(s)
}

fn main_state(s: &E2e) -> String {
    format!(
        "{}\n{}\n{}",
        git(&s.repo, &["status", "--porcelain"]),
        std::fs::read_to_string(s.repo.join("hello.txt")).unwrap(),
        std::fs::read_to_string(s.repo.join("notes.txt")).unwrap()
    )
}

fn wait(s: &E2e, run: &RunLines) {
    let out = s.tool("codex-meta", &["wait", run.meta_file.to_str().unwrap()]);
    assert!(out.code().is_some(), "{out}");
}

#[test]
#[ignore = "needs the real Codex CLI: run scripts/e2e"]
fn five_parallel_worktree_runs_write_their_own_files_on_their_own_branches() {
    let s = E2e::new();
    let before = committed(&s);
    let t = tag();
    let runs: Vec<RunLines> = (0..5)
        .map(|i| {
            let task = format!("[tool:echo run-{i}-{t} > same.txt && echo edit-{i} >> hello.txt]");
            s.spawn_ok(&["--detach", "--worktree", "--task", &task, "--", BYPASS])
                .1
        })
        .collect();
    for run in &runs {
        wait(&s, run);
    }
    let mut branches = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        let m = s.meta(run);
        assert_eq!(m["status"], "succeeded", "{}", s.context(run));
        let w = &m["worktree"];
        let branch = w["branch"].as_str().unwrap().to_owned();
        assert_eq!(branch, format!("codex/{}", run.run_id));
        assert_eq!(w["state"], "removed", "{w}");
        assert_eq!(w["changed"], true, "{w}");
        assert_eq!(
            (w["files_changed"].as_u64(), w["insertions"].as_u64()),
            (Some(2), Some(2)),
            "{w}"
        );
        assert!(!Path::new(w["path"].as_str().unwrap()).exists());
        // what codex's tool wrote in its worktree is on its branch, and only there
        assert_eq!(
            git(&s.repo, &["show", &format!("{branch}:same.txt")]),
            format!("run-{i}-{t}")
        );
        assert_eq!(
            git(&s.repo, &["show", &format!("{branch}:hello.txt")]),
            format!("hello\nedit-{i}")
        );
        let summary: Value =
            serde_json::from_str(&std::fs::read_to_string(&run.summary_file_pending).unwrap())
                .unwrap();
        assert_eq!(summary["worktree"], *w);
        branches.push(branch);
    }
    branches.sort();
    branches.dedup();
    assert_eq!(branches.len(), 5);
    assert_eq!(main_state(&s), before, "the main checkout changed");
    assert!(!s.repo.join("same.txt").exists());
    assert_eq!(git(&s.repo, &["worktree", "list"]).lines().count(), 1);
}

#[test]
#[ignore = "needs the real Codex CLI: run scripts/e2e"]
fn a_resumed_worktree_run_goes_on_on_its_branch_and_verify_checks_there() {
    let s = E2e::new();
    let before = committed(&s);
    let t = tag();
    let (_, first) = s.spawn_ok(&[
        "--quiet",
        "--worktree",
        "--task",
        &format!("[tool:echo one-{t} > a.txt]"),
        "--",
        BYPASS,
    ]);
    let m1 = s.meta(&first);
    let branch = m1["worktree"]["branch"].as_str().unwrap().to_owned();
    let sid = s.session_id(&first);
    // the check passes only where the second task's tool wrote b.txt from a.txt
    let (_, second) = s.spawn_ok(&[
        "--quiet",
        "--worktree",
        "--resume",
        &first.run_id,
        "--task",
        "[tool:cat a.txt > b.txt]",
        "--verify",
        &format!("grep -q one-{t} b.txt"),
        "--",
        BYPASS,
    ]);
    let m2 = s.meta(&second);
    assert_eq!(m2["status"], "succeeded", "{}", s.context(&second));
    assert_eq!(m2["session_id"], sid.as_str(), "not the same session");
    let (w1, w2) = (&m1["worktree"], &m2["worktree"]);
    assert_eq!(w2["branch"], branch.as_str());
    assert_eq!(w2["resumed_from"], first.run_id.as_str());
    assert_eq!(w2["base"], w1["commit"]);
    assert_ne!(w2["path"], w1["path"]);
    assert_eq!(
        git(&s.repo, &["show", &format!("{branch}:b.txt")]),
        format!("one-{t}")
    );
    assert_eq!(w2["files_changed"], 1, "{w2}");
    let log = git(&s.repo, &["log", "--format=%s", &branch]);
    assert!(
        log.starts_with(&format!("codex-spawn run {}: [tool:cat", second.run_id)),
        "{log}"
    );
    assert_eq!(main_state(&s), before);
}

#[test]
#[ignore = "needs the real Codex CLI: run scripts/e2e"]
fn a_cancelled_worktree_run_is_left_for_inspection_and_listed() {
    let s = E2e::new();
    committed(&s);
    let t = tag();
    let task = format!("[tool:echo wip-{t} > wip.txt; sleep 30; echo never-{t}]");
    let (_, run) = s.spawn_ok(&["--detach", "--worktree", "--task", &task, "--", BYPASS]);
    let path = s.meta(&run)["worktree"]["path"]
        .as_str()
        .unwrap()
        .to_owned();
    let start = Instant::now();
    while !Path::new(&path).join("wip.txt").exists() {
        assert!(
            start.elapsed() < LIMIT,
            "the tool never ran{}",
            s.context(&run)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = s.tool(
        "codex-meta",
        &["cancel", &run.run_id, "--wait", "--timeout", "30s"],
    );
    assert_eq!(out.code(), Some(0), "{out}{}", s.context(&run));
    let m = s.meta(&run);
    assert_eq!(m["status"], "killed");
    let w = &m["worktree"];
    assert_eq!(w["state"], "left", "{w}");
    assert_eq!(
        std::fs::read_to_string(Path::new(&path).join("wip.txt")).unwrap(),
        format!("wip-{t}\n")
    );
    let list = s.tool("codex-meta", &["list"]);
    assert!(
        list.stdout.contains(w["branch"].as_str().unwrap()),
        "{list}"
    );
    // the documented prune
    git(&s.repo, &["worktree", "remove", "--force", &path]);
    git(&s.repo, &["branch", "-D", w["branch"].as_str().unwrap()]);
    assert_eq!(git(&s.repo, &["worktree", "list"]).lines().count(), 1);
}

/// `codex-meta prune` after real worktree runs: a kept worktree (clean: codex-spawn
/// committed what codex left) goes but its unmerged branch stays, with the run's record,
/// until it is merged; a merged run goes whole; the main checkout is untouched.
#[test]
#[ignore = "needs the real Codex CLI: run scripts/e2e"]
fn prune_removes_ended_worktree_runs_and_keeps_unmerged_work_until_merged() {
    let s = E2e::new();
    let before = committed(&s);
    let t = tag();
    let task = |name: &str| format!("[tool:echo {name}-{t} > {name}.txt]");
    let (_, kept) = s.spawn_ok(&[
        "--worktree",
        "--keep-worktree",
        "--task",
        &task("k"),
        "--",
        BYPASS,
    ]);
    let (_, merged) = s.spawn_ok(&["--worktree", "--task", &task("m"), "--", BYPASS]);
    let kept_w = s.meta(&kept)["worktree"].clone();
    assert_eq!(kept_w["state"], "kept", "{kept_w}");
    let kept_dir = kept_w["path"].as_str().unwrap().to_owned();
    assert!(Path::new(&kept_dir).join("k.txt").exists());
    let merge = |branch: &str| {
        git(
            &s.repo,
            &[
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@example.com",
                "merge",
                "-q",
                "--no-edit",
                branch,
            ],
        )
    };
    merge(&format!("codex/{}", merged.run_id));

    let out = s.tool("codex-meta", &["prune"]);
    assert_eq!(out.code(), Some(1), "{out}");
    assert!(
        out.stdout.contains(&format!("removed worktree {kept_dir}")),
        "{out}"
    );
    let unmerged = format!(
        "kept {}: branch codex/{} is not merged into",
        kept.run_id, kept.run_id
    );
    assert!(out.stdout.contains(&unmerged), "{out}");
    assert!(
        out.stdout
            .contains(&format!("removed branch codex/{}", merged.run_id)),
        "{out}"
    );
    assert!(!merged.meta_file.exists() && !merged.log_file.exists());
    assert!(kept.meta_file.exists() && !Path::new(&kept_dir).exists());
    assert_eq!(
        git(&s.repo, &["show", &format!("codex/{}:k.txt", kept.run_id)]),
        format!("k-{t}")
    );

    merge(&format!("codex/{}", kept.run_id));
    let out = s.tool("codex-meta", &["prune"]);
    assert_eq!(out.code(), Some(0), "{out}");
    assert!(
        out.stdout
            .contains(&format!("removed branch codex/{}", kept.run_id)),
        "{out}"
    );
    assert!(!kept.meta_file.exists());
    assert_eq!(git(&s.repo, &["worktree", "list"]).lines().count(), 1);
    // main has both runs' work (merged) and its own uncommitted edit, as before
    assert!(s.repo.join("k.txt").exists() && s.repo.join("m.txt").exists());
    assert_eq!(main_state(&s).lines().last(), before.lines().last());
}
