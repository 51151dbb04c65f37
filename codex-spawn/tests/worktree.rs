//! `--worktree` with a fake codex that edits files where codex works (fast; the real
//! CLI's runs, writing through its own tool calls, are in tests/tests/e2e_worktree.rs):
//! the run's own branch and worktree, the leftovers committed, the main checkout left
//! as it was, parallel runs apart, resume on the same branch, a killed run's worktree
//! left, and the faults refused before anything exists.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Env, fixtures, kv, wait_until};
use serde_json::Value;

/// A fake codex that works in its `--cd` directory: writes `out.txt` (the prompt) and
/// appends to the tracked `tracked.txt`, unless the prompt says `nothing`, then records
/// the directory in `cwds`; `commit` in the prompt: commits `tracked.txt` itself;
/// `detach`: leaves HEAD detached; `hang`: then waits for a signal; `slow`: takes 2 s;
/// `nest`: makes a git repository `lib` with a commit of its own; `insub`: writes into
/// the submodule path `sub`; `emptysub`: makes empty directories there; `subinit`: checks
/// the submodule out; `rmgit`: deletes the worktree's `.git` file. Replays the
/// captured 0.169.0 `new-human` transcript.
fn editing_fake(env: &Env) {
    let d = env.path().display();
    let fx = fixtures();
    let script = format!(
        "#!/bin/sh\n\
         if [ \"$1\" = --version ]; then echo 'codex-cli 0.169.0'; exit 0; fi\n\
         eval \"last=\\${{$#}}\"\n\
         cd \"$3\" || exit 9\n\
         case \"$last\" in *nothing*) ;; *)\n\
           printf '%s\\n' \"$last\" > out.txt\n\
           echo \"edit by $last\" >> tracked.txt ;;\n\
         esac\n\
         case \"$last\" in *commit*) git add tracked.txt && git -c user.name=codex -c user.email=codex@example.com commit -q -m 'codex commit' ;; esac\n\
         pwd >> '{d}/cwds'\n\
         case \"$last\" in *detach*) git checkout -q --detach ;; esac\n\
         case \"$last\" in *nest*) (mkdir lib && cd lib && git init -q && echo code > c.txt && git add c.txt && git -c user.name=c -c user.email=c@example.com commit -q -m lib) ;; esac\n\
         case \"$last\" in *insub*) echo mine > sub/x.txt ;; esac\n\
         case \"$last\" in *emptysub*) mkdir -p sub/empty/dirs ;; esac\n\
         case \"$last\" in *subinit*) git -c protocol.file.allow=always submodule -q update --init && test -f sub/s.txt || exit 9 ;; esac\n\
         case \"$last\" in *rmgit*) rm .git ;; esac\n\
         case \"$last\" in *hang*) sleep 60 ;; *slow*) sleep 2 ;; esac\n\
         cat '{fx}/new-human.stderr' >&2\n\
         cat '{fx}/new-human.stdout'\n\
         exit 0\n",
        fx = fx.display(),
    );
    let p = env.fake_path();
    std::fs::write(&p, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("HOME", dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A commit of what is staged in `r`, by a test identity.
fn commit(r: &Path, message: &str) {
    git(
        r,
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "commit",
            "-q",
            "-m",
            message,
        ],
    );
}

/// A repo with one commit (`tracked.txt`), a change to it and an untracked file in
/// the main checkout.
fn repo(env: &Env) -> PathBuf {
    let r = env.repo();
    git(&r, &["init", "-q", "-b", "main"]);
    std::fs::write(r.join("tracked.txt"), "one\n").unwrap();
    git(&r, &["add", "tracked.txt"]);
    commit(&r, "init");
    std::fs::write(r.join("tracked.txt"), "one\nuncommitted in main\n").unwrap();
    std::fs::write(r.join("scratch.txt"), "untracked in main\n").unwrap();
    r
}

/// What the main checkout looks like: status and the two files.
fn main_state(r: &Path) -> (String, String, String) {
    (
        git(r, &["status", "--porcelain"]),
        std::fs::read_to_string(r.join("tracked.txt")).unwrap(),
        std::fs::read_to_string(r.join("scratch.txt")).unwrap(),
    )
}

fn meta(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn run(env: &Env, args: &[&str]) -> (std::process::Output, PathBuf) {
    let out = env
        .cmd()
        .args(["--quiet", "--worktree"])
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let meta = kv(&stdout, "meta_file")
        .map(PathBuf::from)
        .unwrap_or_default();
    (out, meta)
}

#[test]
fn a_run_works_on_its_own_branch_and_its_leftovers_are_committed() {
    let env = Env::new();
    editing_fake(&env);
    let r = repo(&env);
    let before = main_state(&r);
    let base = git(&r, &["rev-parse", "HEAD"]);
    let (out, m) = run(&env, &["--task", "add out\nsecond line"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let m = meta(&m);
    let id = m["run_id"].as_str().unwrap();
    let w = &m["worktree"];
    let branch = format!("codex/{id}");
    assert_eq!(w["branch"], branch.as_str());
    assert_eq!(w["base"], base.as_str());
    assert_eq!(w["changed"], true);
    assert_eq!(w["state"], "removed");
    assert_eq!(
        (w["files_changed"].as_u64(), w["insertions"].as_u64()),
        (Some(2), Some(4))
    );
    // codex worked in the worktree, which is gone; the branch holds its work
    let path = w["path"].as_str().unwrap();
    let cwds = std::fs::read_to_string(env.path().join("cwds")).unwrap();
    assert_eq!(cwds.trim(), path);
    assert!(!Path::new(path).exists(), "{path} still there");
    assert_eq!(w["commit"], git(&r, &["rev-parse", &branch]).as_str());
    assert_eq!(w["leftovers_commit"], w["commit"]);
    let subject = git(&r, &["log", "-1", "--format=%s", &branch]);
    assert_eq!(subject, format!("codex-spawn run {id}: add out"));
    assert_eq!(
        git(&r, &["show", &format!("{branch}:out.txt")]),
        "add out\nsecond line"
    );
    // the main checkout's uncommitted change was not carried over, and is untouched
    assert_eq!(
        git(&r, &["show", &format!("{branch}:tracked.txt")]),
        "one\nedit by add out\nsecond line"
    );
    assert_eq!(main_state(&r), before);
    assert_eq!(git(&r, &["rev-parse", "HEAD"]), base);
    // the log's preamble warns of the main checkout's changes; the summary has it all
    let log = String::from_utf8_lossy(&env.log()).into_owned();
    assert!(
        log.contains("worktree_warning=the main checkout has 2 uncommitted"),
        "{log}"
    );
    let summary: Value =
        serde_json::from_str(&kv(&String::from_utf8_lossy(&out.stdout), "summary_json").unwrap())
            .unwrap();
    assert_eq!(summary["worktree"], *w);
}

#[test]
fn codex_commits_are_kept_and_a_run_that_changed_nothing_says_so() {
    let env = Env::new();
    editing_fake(&env);
    let r = repo(&env);
    let base = git(&r, &["rev-parse", "HEAD"]);
    let (out, m) = run(&env, &["--task", "commit it"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let w = meta(&m)["worktree"].clone();
    let branch = w["branch"].as_str().unwrap();
    // codex's own commit, then ours for out.txt
    let log = git(&r, &["log", "--format=%s", &format!("{base}..{branch}")]);
    assert_eq!(log.lines().count(), 2, "{log}");
    assert!(log.ends_with("codex commit"), "{log}");

    let (out, m) = run(&env, &["--task", "nothing to do"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let w = meta(&m)["worktree"].clone();
    assert_eq!(w["changed"], false);
    assert_eq!(w["commit"], base.as_str());
    assert_eq!(w["files_changed"], 0);
    assert!(w.get("leftovers_commit").is_none(), "{w}");
    let log = std::fs::read_to_string(meta(&m)["log_file"].as_str().unwrap()).unwrap();
    assert!(log.contains("worktree: no changes"), "{log}");

    // --json: the result object says where the work is
    let out = env
        .cmd()
        .args(["--json", "--worktree", "--task", "json run"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let result: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    let w = &result["worktree"];
    assert!(
        w["branch"].as_str().unwrap().starts_with("codex/"),
        "{result}"
    );
    assert_eq!(
        (w["changed"].as_bool(), w["files_changed"].as_u64()),
        (Some(true), Some(2))
    );
    assert_eq!(w["state"], "removed");
}

#[test]
fn faults_are_refused_before_anything_exists() {
    let env = Env::new();
    editing_fake(&env);
    // not a git repo
    let (out, _) = run(&env, &["--task", "x"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is not in a git work tree"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    // a repo with no commit yet
    git(&env.repo(), &["init", "-q"]);
    let (out, _) = run(&env, &["--task", "x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no commit to start from"));
    std::fs::remove_dir_all(env.repo().join(".git")).unwrap();
    let r = repo(&env);
    git(&r, &["branch", "taken"]);
    git(&r, &["branch", "team/x"]);
    let branches = git(&r, &["branch", "--list"]);
    let long = "b".repeat(300);
    for (args, needle) in [
        (&["--branch", "taken/mine"][..], "branch taken exists in"),
        (&["--branch", "team"][..], "branch team/x exists in"),
        (
            &["--branch", "refs/heads/x"][..],
            "not a valid branch name (give it without refs/heads/)",
        ),
        (
            &["--branch", &long][..],
            "not a valid branch name (too long)",
        ),
        (
            &["--branch", "taken"][..],
            "--branch taken: a branch of that name exists",
        ),
        (&["--branch", "bad..name"][..], "not a valid branch name"),
        (
            &["--base", "no-such-ref"][..],
            "--base no-such-ref: not a commit",
        ),
        (&["--base", "--all"][..], "not a commit"),
        // a name with a newline is still one line of error
        (
            &["--branch", "a\nb"][..],
            "--branch 'a\\nb': not a valid branch name",
        ),
    ] {
        let (out, _) = run(&env, &[&["--task", "x"][..], args].concat());
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    // a planted symlink where the worktrees go is never followed
    let elsewhere = env.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, r.join(".git/codex-worktrees")).unwrap();
    let (out, _) = run(&env, &["--task", "x"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("refused"),
        "{out:?}"
    );
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
    std::fs::remove_file(r.join(".git/codex-worktrees")).unwrap();
    // a branch named `codex` leaves no room for codex/<run id>: said before anything
    git(&r, &["branch", "codex"]);
    let (out, _) = run(&env, &["--task", "x"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("a branch named codex exists"),
        "{out:?}"
    );
    git(&r, &["branch", "-D", "codex"]);
    // nothing was left: no run files, no branch, no worktree, codex never ran
    let runs: Vec<_> = std::fs::read_dir(env.runs())
        .map(|d| d.flatten().collect())
        .unwrap_or_default();
    assert!(runs.is_empty(), "{runs:?}");
    assert_eq!(git(&r, &["branch", "--list"]), branches);
    assert_eq!(git(&r, &["worktree", "list"]).lines().count(), 1);
    assert!(!env.path().join("cwds").exists());
}

#[test]
fn parallel_runs_never_touch_each_other_or_the_main_checkout() {
    let env = Env::new();
    editing_fake(&env);
    let r = repo(&env);
    let before = main_state(&r);
    let children: Vec<_> = (0..5)
        .map(|i| {
            env.cmd()
                .args(["--quiet", "--worktree", "--task", &format!("task {i}")])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut branches = Vec::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        let m = meta(Path::new(
            &kv(&String::from_utf8_lossy(&out.stdout), "meta_file").unwrap(),
        ));
        let task = m["task"].as_str().unwrap().to_owned();
        let branch = m["worktree"]["branch"].as_str().unwrap().to_owned();
        assert_eq!(git(&r, &["show", &format!("{branch}:out.txt")]), task);
        assert_eq!(
            git(&r, &["show", &format!("{branch}:tracked.txt")]),
            format!("one\nedit by {task}")
        );
        branches.push(branch);
    }
    branches.sort();
    branches.dedup();
    assert_eq!(branches.len(), 5);
    assert_eq!(main_state(&r), before);
    assert_eq!(git(&r, &["worktree", "list"]).lines().count(), 1);
}

#[test]
fn resume_goes_on_on_the_branch_in_a_fresh_worktree() {
    let env = Env::new();
    editing_fake(&env);
    let r = repo(&env);
    let (out, first) = run(&env, &["--task", "first"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let first = meta(&first);
    let (out, second) = run(
        &env,
        &[
            "--resume",
            first["run_id"].as_str().unwrap(),
            "--task",
            "second",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let second = meta(&second);
    let (w1, w2) = (&first["worktree"], &second["worktree"]);
    assert_eq!(w2["branch"], w1["branch"]);
    assert_eq!(w2["base"], w1["commit"]);
    assert_eq!(w2["resumed_from"], first["run_id"]);
    assert_ne!(w2["path"], w1["path"]);
    let branch = w1["branch"].as_str().unwrap();
    // the second worked on top of the first
    assert_eq!(
        git(&r, &["show", &format!("{branch}:tracked.txt")]),
        "one\nedit by first\nedit by second"
    );
    assert_eq!(w2["files_changed"], 2);
    // --branch makes no sense there
    let (out, _) = run(
        &env,
        &[
            "--resume",
            first["run_id"].as_str().unwrap(),
            "--branch",
            "other",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("continues on its branch"));
    // --resume last cannot tell which branch
    let (out, _) = run(&env, &["--resume", "last"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    // a plain --resume of a worktree run works in --repo itself, and says so
    let out = env
        .cmd()
        .args([
            "--quiet",
            "--resume",
            first["run_id"].as_str().unwrap(),
            "--task",
            "plain",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("the session resumed worked on branch codex/"),
        "{err}"
    );
}

#[test]
fn a_killed_run_leaves_its_worktree_for_inspection_and_keep_keeps_it() {
    let env = Env::new();
    editing_fake(&env);
    let r = repo(&env);
    let mut child = env
        .cmd()
        .args(["--quiet", "--worktree", "--task", "hang here"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(wait_until(Duration::from_secs(10), || env
        .path()
        .join("cwds")
        .exists()));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(128 + 15));
    let m = meta(&env.meta_path());
    assert_eq!(m["status"], "killed");
    let w = &m["worktree"];
    assert_eq!(w["state"], "left");
    let path = PathBuf::from(w["path"].as_str().unwrap());
    assert_eq!(
        std::fs::read_to_string(path.join("out.txt")).unwrap(),
        "hang here\n"
    );
    // uncommitted, as codex left it: the meta says how much
    assert_eq!(w["changed"], false);
    assert_eq!(w["uncommitted"], 2, "{w}");
    assert!(!git(&path, &["status", "--porcelain"]).is_empty());
    // listed with its branch
    let cli = <codex_meta::cli::Cli as clap::Parser>::parse_from([
        "codex-meta",
        "--runs-dir",
        env.runs().to_str().unwrap(),
        "list",
    ]);
    let (mut list, mut err) = (Vec::new(), Vec::new());
    assert_eq!(codex_meta::cli::run(cli, &mut list, &mut err), 0);
    let list = String::from_utf8_lossy(&list);
    assert!(
        list.contains("BRANCH") && list.contains(w["branch"].as_str().unwrap()),
        "{list}"
    );
    // a run that never starts codex (its dependency was killed) leaves nothing
    let (out, nm) = run(
        &env,
        &["--after", m["run_id"].as_str().unwrap(), "--task", "never"],
    );
    assert_eq!(out.status.code(), Some(5), "{out:?}");
    let never = meta(&nm);
    assert_eq!(never["status"], "dependency_failed");
    assert!(
        matches!(
            never["worktree"]["state"].as_str(),
            Some("not_made" | "discarded")
        ),
        "{never}"
    );
    let never_branch = never["worktree"]["branch"].as_str().unwrap();
    assert!(!git(&r, &["branch", "--list"]).contains(never_branch));
    assert!(!Path::new(never["worktree"]["path"].as_str().unwrap()).exists());
    // and it shows no branch to prune
    let cli = <codex_meta::cli::Cli as clap::Parser>::parse_from([
        "codex-meta",
        "--runs-dir",
        env.runs().to_str().unwrap(),
        "list",
    ]);
    let (mut list, mut err) = (Vec::new(), Vec::new());
    codex_meta::cli::run(cli, &mut list, &mut err);
    assert!(!String::from_utf8_lossy(&list).contains(never_branch));
    // the documented prune
    git(
        &r,
        &["worktree", "remove", "--force", path.to_str().unwrap()],
    );
    git(&r, &["branch", "-D", w["branch"].as_str().unwrap()]);

    let (out, m) = run(&env, &["--keep-worktree", "--task", "keep"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let w = meta(&m)["worktree"].clone();
    assert_eq!(w["state"], "kept");
    let path = PathBuf::from(w["path"].as_str().unwrap());
    assert!(path.join("out.txt").exists());
    // and it is clean: its changes are on the branch
    assert_eq!(git(&path, &["status", "--porcelain"]), "");
}

#[test]
fn a_queued_run_gets_its_worktree_when_it_leaves_the_queue() {
    let env = Env::new();
    editing_fake(&env);
    let r = repo(&env);
    let out = env
        .cmd()
        .args(["--detach", "--worktree", "--task", "slow first"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let a = PathBuf::from(kv(&String::from_utf8_lossy(&out.stdout), "meta_file").unwrap());
    let a_meta = meta(&a);
    let a_branch = a_meta["worktree"]["branch"].as_str().unwrap().to_owned();
    // launched while A still works: B starts from A's branch as A leaves it
    let b_out = env
        .cmd()
        .args([
            "--detach",
            "--worktree",
            "--after",
            a_meta["run_id"].as_str().unwrap(),
        ])
        .args(["--base", &a_branch, "--task", "second"])
        .output()
        .unwrap();
    assert_eq!(b_out.status.code(), Some(0), "{b_out:?}");
    let b = PathBuf::from(kv(&String::from_utf8_lossy(&b_out.stdout), "meta_file").unwrap());
    let pending = meta(&b)["worktree"].clone();
    assert_eq!(pending["state"], "pending", "{pending}");
    assert!(!Path::new(pending["path"].as_str().unwrap()).exists());
    let done = codex_meta::wait_for(&b, Some(Duration::from_secs(30))).unwrap();
    assert_eq!(
        done.status,
        codex_meta::Status::Succeeded,
        "{:?}",
        done.meta
    );
    let a_meta = meta(&a);
    let w = meta(&b)["worktree"].clone();
    assert_eq!(w["base"], a_meta["worktree"]["commit"], "{w}");
    assert_eq!(w["state"], "removed");
    let branch = w["branch"].as_str().unwrap();
    assert_eq!(
        git(&r, &["show", &format!("{branch}:tracked.txt")]),
        "one\nedit by slow first\nedit by second"
    );
}

#[test]
fn head_left_off_the_branch_is_not_committed_and_no_hook_runs() {
    let env = Env::new();
    editing_fake(&env);
    let r = repo(&env);
    // hooks that would say they ran (a post-checkout `npm install`, a post-commit push)
    let marker = env.path().join("hook-ran");
    for hook in [
        "post-checkout",
        "pre-commit",
        "prepare-commit-msg",
        "post-commit",
    ] {
        let h = r.join(".git/hooks").join(hook);
        std::fs::write(
            &h,
            format!("#!/bin/sh\necho {hook} >> '{}'\n", marker.display()),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&h, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    // the fsmonitor command is a hook by another name
    git(
        &r,
        &[
            "config",
            "core.fsmonitor",
            &format!("echo fsmonitor >> '{}'; false #", marker.display()),
        ],
    );
    let (out, m) = run(&env, &["--task", "edit it"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        !marker.exists(),
        "a hook ran: {}",
        std::fs::read_to_string(&marker).unwrap()
    );
    assert!(meta(&m)["worktree"]["leftovers_commit"].is_string());
    // codex leaves HEAD detached: nothing is committed, the worktree stays, exit 125
    let (out, m) = run(&env, &["--task", "detach here"]);
    assert_eq!(out.status.code(), Some(125), "{out:?}");
    let m = meta(&m);
    let w = &m["worktree"];
    assert_eq!(w["state"], "left", "{w}");
    assert!(w.get("leftovers_commit").is_none());
    let path = PathBuf::from(w["path"].as_str().unwrap());
    assert_eq!(
        std::fs::read_to_string(path.join("out.txt")).unwrap(),
        "detach here\n"
    );
    let warned = m["warnings"].as_array().unwrap();
    assert!(
        warned
            .iter()
            .any(|x| x.as_str().unwrap().contains("codex left HEAD detached")),
        "{warned:?}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("codex left HEAD detached"));
}

#[test]
fn files_the_branch_cannot_hold_leave_the_worktree() {
    let env = Env::new();
    editing_fake(&env);
    let r = repo(&env);
    let left = |task: &str, says: &str| {
        let (out, m) = run(&env, &["--task", task]);
        assert_eq!(out.status.code(), Some(125), "{task}: {out:?}");
        let m = meta(&m);
        let w = &m["worktree"];
        assert_eq!(w["state"], "left", "{task}: {w}");
        let warned = m["warnings"].to_string();
        assert!(warned.contains(says), "{task}: {warned}");
        PathBuf::from(w["path"].as_str().unwrap())
    };
    // a git repository codex made: `git add -A` commits it as a bare gitlink, its
    // files and commits only in its own .git — a `worktree remove` deleted them
    let wt = left("nest a library", "codex left files in lib");
    assert_eq!(
        std::fs::read_to_string(wt.join("lib/c.txt")).unwrap(),
        "code
"
    );
    // a submodule's path (not checked out in the worktree): no change to git at all
    let sub = env.path().join("sub-origin");
    std::fs::create_dir(&sub).unwrap();
    git(&sub, &["init", "-q", "-b", "main"]);
    std::fs::write(sub.join("s.txt"), "s\n").unwrap();
    git(&sub, &["add", "s.txt"]);
    commit(&sub, "sub");
    git(
        &r,
        &[
            "-c",
            "protocol.file.allow=always",
            "submodule",
            "add",
            "-q",
            sub.to_str().unwrap(),
            "sub",
        ],
    );
    commit(&r, "add sub");
    let wt = left("write insub", "codex left files in sub");
    assert_eq!(
        std::fs::read_to_string(wt.join("sub/x.txt")).unwrap(),
        "mine\n"
    );
    // what holds nothing is no reason to leave: empty directories, a submodule checked
    // out clean at the recorded commit (its remote has it)
    for task in ["make emptysub", "do subinit"] {
        let (out, m) = run(&env, &["--task", task]);
        assert_eq!(out.status.code(), Some(0), "{task}: {out:?}");
        assert_eq!(meta(&m)["worktree"]["state"], "removed", "{task}");
    }
    // kept anyway (--keep-worktree): nothing to warn of
    let (out, m) = run(&env, &["--keep-worktree", "--task", "nest again"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(meta(&m)["worktree"]["state"], "kept");
    // the worktree's .git file deleted: git would answer for the main checkout
    let wt = left("rmgit please", "codex removed the worktree's .git file");
    assert!(wt.join("out.txt").exists());
    // and the main checkout's branch got nothing of it
    assert_eq!(git(&r, &["rev-parse", "--abbrev-ref", "HEAD"]), "main");
}

#[test]
fn a_subdirectory_repo_works_in_the_same_place_and_one_missing_at_the_base_is_refused() {
    let env = Env::new();
    editing_fake(&env);
    let r = repo(&env);
    std::fs::create_dir(r.join("pkg")).unwrap();
    std::fs::write(r.join("pkg/lib.txt"), "lib\n").unwrap();
    git(&r, &["add", "pkg"]);
    commit(&r, "pkg");
    let out = env
        .cmd_norepo()
        .args([
            "--repo",
            r.join("pkg").to_str().unwrap(),
            "--quiet",
            "--worktree",
            "--task",
            "in pkg",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let m = meta(Path::new(
        &kv(&String::from_utf8_lossy(&out.stdout), "meta_file").unwrap(),
    ));
    let branch = m["worktree"]["branch"].as_str().unwrap();
    assert_eq!(
        git(&r, &["show", &format!("{branch}:pkg/out.txt")]),
        "in pkg"
    );
    // an untracked directory is not at the base: refused, nothing left
    std::fs::create_dir(r.join("scratch-dir")).unwrap();
    let branches = git(&r, &["branch", "--list"]);
    let out = env
        .cmd_norepo()
        .args([
            "--repo",
            r.join("scratch-dir").to_str().unwrap(),
            "--worktree",
            "--task",
            "x",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("scratch-dir does not exist at HEAD"),
        "{out:?}"
    );
    assert_eq!(git(&r, &["branch", "--list"]), branches);
    assert_eq!(git(&r, &["worktree", "list"]).lines().count(), 1);
    // a base with submodules: the preamble says they are not checked out
    std::fs::write(
        r.join(".gitmodules"),
        "[submodule \"lib\"]\n\tpath = lib\n\turl = ../lib\n",
    )
    .unwrap();
    git(&r, &["add", ".gitmodules"]);
    commit(&r, "mods");
    let (out, m) = run(&env, &["--task", "with modules"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let log = std::fs::read_to_string(meta(&m)["log_file"].as_str().unwrap()).unwrap();
    assert!(
        log.contains("worktree_warning=the base has submodules"),
        "{log}"
    );
}
