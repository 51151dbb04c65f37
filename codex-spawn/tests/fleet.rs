//! Fleet control with a fake codex (fast; the real CLI's runs are in
//! tests/tests/e2e_fleet.rs): the `--max-running` queue (never more than N at once,
//! FIFO, a dead supervisor frees its slot, a signalled queued run never starts),
//! `--after`, `--detach=session`, `--resume RUN`.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{BIN, Env, fixtures, kv, wait_until};
use serde_json::Value;

const SID: &str = "01a20a11-c643-7ab3-8c02-ecade433bd2a";

/// A fake codex for many runs at once: appends its prompt (the last argument) to
/// `started`, counts the fakes running beside it into `counts`, sleeps as long as
/// `sleep` says (`hang` in the prompt: 60 s; `slow`: 1.5 s; `fail`: exits 1 with no output), then
/// replays the captured 0.169.0 transcript `new-human` (session `SID`).
fn fleet_fake(env: &Env) {
    let d = env.path().display();
    let fx = fixtures();
    let script = format!(
        "#!/bin/sh\n\
         if [ \"$1\" = --version ]; then echo 'codex-cli 0.169.0'; exit 0; fi\n\
         eval \"last=\\${{$#}}\"\n\
         echo \"$last\" >> '{d}/started'\n\
         case \"$last\" in *fail*) exit 1;; esac\n\
         touch '{d}/running.'$$\n\
         ls '{d}'/running.* | wc -l >> '{d}/counts'\n\
         case \"$last\" in *hang*) sleep 60;; *slow*) sleep 1.5;; *) sleep \"$(cat '{d}/sleep' 2>/dev/null || echo 0)\";; esac\n\
         rm -f '{d}/running.'$$\n\
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

fn set_sleep(env: &Env, secs: &str) {
    std::fs::write(env.path().join("sleep"), secs).unwrap();
}

fn started(env: &Env) -> Vec<String> {
    std::fs::read_to_string(env.path().join("started"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Launch a detached run; its meta path.
fn detach(env: &Env, args: &[&str]) -> PathBuf {
    let out = env.cmd().arg("--detach").args(args).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    PathBuf::from(kv(&stdout, "meta_file").unwrap())
}

fn meta(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn status(path: &Path) -> String {
    let m = codex_meta::read_meta(path).unwrap();
    codex_meta::effective_status_at(&m, Some(path)).to_string()
}

fn wait_end(path: &Path) -> codex_meta::WaitOutcome {
    let out = codex_meta::wait_for(path, Some(Duration::from_secs(60))).unwrap();
    assert!(!out.timed_out, "{} still running", path.display());
    out
}

fn kill(pid: i64, sig: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

#[test]
fn twelve_runs_with_max_running_3_never_run_more_than_3_at_once() {
    let env = Env::new();
    fleet_fake(&env);
    set_sleep(&env, "0.6");
    let metas: Vec<PathBuf> = (0..12)
        .map(|i| detach(&env, &["--max-running", "3", "--task", &format!("run-{i}")]))
        .collect();
    let start = Instant::now();
    while metas
        .iter()
        .any(|m| status(m) == "running" || status(m) == "queued")
    {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the queue stalled"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    for m in &metas {
        assert_eq!(wait_end(m).status, codex_meta::Status::Succeeded);
        let v = meta(m);
        assert_eq!(v["queue"]["max_running"], 3);
        assert_eq!(v["queue"]["name"], "default");
        assert!(v["queued_seconds"].is_number(), "{v}");
    }
    // the fakes themselves: never more than 3 codex at once, and they did run in parallel
    let counts: Vec<u32> = std::fs::read_to_string(env.path().join("counts"))
        .unwrap()
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect();
    assert_eq!(counts.len(), 12);
    assert!(counts.iter().all(|&n| n <= 3), "{counts:?}");
    assert!(
        counts.iter().any(|&n| n >= 2),
        "never in parallel: {counts:?}"
    );
    // the records agree: codex's time in each run, never more than 3 overlapping
    let ms = |v: &Value| {
        chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap())
            .unwrap()
            .timestamp_millis()
    };
    let spans: Vec<(i64, i64)> = metas
        .iter()
        .map(|m| {
            let a = meta(m)["attempts"][0].clone();
            (ms(&a["started_at"]), ms(&a["ended_at"]))
        })
        .collect();
    for &(start, _) in &spans {
        let at_once = spans
            .iter()
            .filter(|&&(s, e)| s <= start && start < e)
            .count();
        assert!(at_once <= 3, "{at_once} at once by the records: {spans:?}");
    }
    assert_eq!(started(&env).len(), 12);
}

#[test]
fn the_queue_is_first_in_first_out() {
    let env = Env::new();
    fleet_fake(&env);
    set_sleep(&env, "0.3");
    let names: Vec<String> = (0..5).map(|i| format!("fifo-{i}")).collect();
    let metas: Vec<PathBuf> = names
        .iter()
        .map(|n| {
            let m = detach(&env, &["--max-running", "1", "--queue", "q1", "--task", n]);
            std::thread::sleep(Duration::from_millis(30));
            m
        })
        .collect();
    for m in &metas {
        wait_end(m);
    }
    assert_eq!(started(&env), names);
}

#[test]
fn a_dead_supervisor_frees_its_slot_and_a_signalled_queued_run_never_starts() {
    let env = Env::new();
    fleet_fake(&env);
    let a = detach(&env, &["--max-running", "1", "--task", "a-hang"]);
    assert!(wait_until(Duration::from_secs(10), || status(&a) == "running"));
    let b = detach(&env, &["--max-running", "1", "--task", "b"]);
    let c = detach(&env, &["--max-running", "1", "--task", "c"]);
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(status(&b), "queued");
    assert_eq!(status(&c), "queued");

    // c is signalled while queued: it ends killed and its codex never starts
    kill(meta(&c)["pid"].as_i64().unwrap(), "TERM");
    let out = wait_end(&c);
    assert_eq!(out.status, codex_meta::Status::Killed);
    let reason = out.meta.outcome_reason.unwrap();
    assert!(reason.contains("while queued"), "{reason}");
    assert_eq!(out.meta.exit_code, Some(143));
    assert!(!started(&env).contains(&"c".to_owned()));

    // a's supervisor dies (SIGKILL, no final record): its slot frees, b starts
    kill(meta(&a)["pid"].as_i64().unwrap(), "KILL");
    let out = wait_end(&b);
    assert_eq!(out.status, codex_meta::Status::Succeeded);
    assert_eq!(status(&a), "lost");
    assert_eq!(started(&env), ["a-hang", "b"]);
}

#[test]
fn after_starts_a_run_once_its_dependencies_succeeded_and_fails_with_them() {
    let env = Env::new();
    fleet_fake(&env);
    let ok = env.cmd().args(["--task", "dep-ok", "-q"]).output().unwrap();
    assert!(ok.status.success());
    let ok_id = kv(&String::from_utf8_lossy(&ok.stdout), "codex_run_id").unwrap();
    let bad = env
        .cmd()
        .args(["--task", "dep-fail", "-q"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    let bad_id = kv(&String::from_utf8_lossy(&bad.stdout), "codex_run_id").unwrap();

    let out = env
        .cmd()
        .args(["--after", &ok_id, "--task", "after-ok", "-q"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");

    let out = env
        .cmd()
        .args(["--after", &ok_id, "--after", &bad_id, "--task", "after-bad"])
        .args(["-q"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(kv(&stdout, "status").as_deref(), Some("dependency_failed"));
    let m = meta(Path::new(&kv(&stdout, "meta_file").unwrap()));
    assert_eq!(m["status"], "dependency_failed");
    assert_eq!(m["after"], serde_json::json!([ok_id, bad_id]));
    let reason = m["outcome_reason"].as_str().unwrap();
    assert!(
        reason.contains(&bad_id) && reason.contains("failed"),
        "{reason}"
    );
    assert_eq!(m["attempts"], serde_json::json!([]));
    assert!(!started(&env).contains(&"after-bad".to_owned()));

    // a dependency still running: the run waits as queued, and fails when it is killed
    let hang = detach(&env, &["--task", "dep-hang"]);
    assert!(wait_until(Duration::from_secs(10), || status(&hang) == "running"));
    let hang_id = meta(&hang)["run_id"].as_str().unwrap().to_owned();
    let waiting = detach(&env, &["--after", &hang_id, "--task", "after-hang"]);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(status(&waiting), "queued");
    kill(meta(&hang)["pid"].as_i64().unwrap(), "TERM");
    assert_eq!(
        wait_end(&waiting).status,
        codex_meta::Status::DependencyFailed
    );

    // an unknown run: a usage error before anything is created
    let before = std::fs::read_dir(env.runs()).unwrap().count();
    let out = env
        .cmd()
        .args(["--after", "no-such-run", "--task", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--after no-such-run"), "{err}");
    assert_eq!(std::fs::read_dir(env.runs()).unwrap().count(), before);
}

/// A run held by `--after` records the wait apart from its own time: `queued_at` when it
/// was made, `started_at` when it left the queue, `queued_seconds` the wait,
/// `elapsed_seconds` and the result's `duration_ms` codex's part only.
#[test]
fn queue_time_is_recorded_apart_from_run_time() {
    let env = Env::new();
    fleet_fake(&env);
    let dep = detach(&env, &["--task", "dep-slow"]);
    assert!(wait_until(Duration::from_secs(10), || status(&dep) == "running"));
    let dep_id = meta(&dep)["run_id"].as_str().unwrap().to_owned();
    let waiting = detach(&env, &["--after", &dep_id, "--task", "after-quick"]);
    assert!(wait_until(Duration::from_secs(5), || status(&waiting) == "queued"));
    let q = meta(&waiting);
    assert!(q["queued_at"].is_string(), "{q:#}");
    assert!(
        q["started_at"].is_null(),
        "a queued run has not started: {q:#}"
    );
    assert_eq!(wait_end(&waiting).status, codex_meta::Status::Succeeded);
    let m = meta(&waiting);
    let ms = |v: &Value| {
        chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap())
            .unwrap()
            .timestamp_millis()
    };
    let (queued_at, started_at, ended_at) = (
        ms(&m["queued_at"]),
        ms(&m["started_at"]),
        ms(&m["ended_at"]),
    );
    let queued = m["queued_seconds"].as_f64().unwrap();
    let elapsed = m["elapsed_seconds"].as_f64().unwrap();
    assert!(queued >= 0.5, "the wait: {m:#}");
    assert!(
        started_at - queued_at >= 500,
        "started when it left the queue: {m:#}"
    );
    assert!(
        ((started_at - queued_at) as f64 / 1000.0 - queued).abs() < 0.25,
        "{m:#}"
    );
    assert!(
        elapsed < queued,
        "the run's own time is not the wait's: {m:#}"
    );
    assert!(
        ((ended_at - started_at) as f64 / 1000.0 - elapsed).abs() < 0.25,
        "{m:#}"
    );
    // the first attempt starts after the queue, not before
    assert!(ms(&m["attempts"][0]["started_at"]) >= started_at, "{m:#}");

    // the result object says the same
    let dep = detach(&env, &["--task", "dep-slow-2"]);
    assert!(wait_until(Duration::from_secs(10), || status(&dep) == "running"));
    let dep_id = meta(&dep)["run_id"].as_str().unwrap().to_owned();
    let out = env
        .cmd()
        .args(["--after", &dep_id, "--task", "after-json-slow", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let result: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    let duration = result["duration_ms"].as_u64().unwrap();
    let queued = result["queued_ms"].as_u64().unwrap();
    assert!(queued >= 300, "{result:#}");
    assert!(duration >= 1400, "the fake sleeps 1.5 s: {result:#}");

    // a run that never leaves the queue: no start, its time is the wait's
    let hang = detach(&env, &["--task", "dep-hang"]);
    assert!(wait_until(Duration::from_secs(10), || status(&hang) == "running"));
    let hang_id = meta(&hang)["run_id"].as_str().unwrap().to_owned();
    let never = detach(&env, &["--after", &hang_id, "--task", "after-hang"]);
    assert!(wait_until(Duration::from_secs(5), || status(&never) == "queued"));
    std::thread::sleep(Duration::from_millis(300));
    kill(meta(&hang)["pid"].as_i64().unwrap(), "TERM");
    assert_eq!(
        wait_end(&never).status,
        codex_meta::Status::DependencyFailed
    );
    let m = meta(&never);
    assert!(m["started_at"].is_null(), "{m:#}");
    assert_eq!(m["elapsed_seconds"], 0.0, "{m:#}");
    assert!(m["queued_seconds"].as_f64().unwrap() >= 0.3, "{m:#}");
}

#[test]
fn detach_session_returns_once_the_session_is_known() {
    let env = Env::new();
    fleet_fake(&env);
    set_sleep(&env, "0");
    // the fake prints its transcript (with the session) and then sleeps 3 s
    let d = env.path().display();
    let script = std::fs::read_to_string(env.fake_path()).unwrap().replace(
        "exit 0\n",
        &format!("sleep 3; echo done >> '{d}/finished'; exit 0\n"),
    );
    std::fs::write(env.fake_path(), script).unwrap();
    let start = Instant::now();
    let out = env
        .cmd()
        .args(["--detach=session", "--task", "t"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "waited for the whole run"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{stdout}");
    assert_eq!(lines[4], format!("codex_session_id={SID}"));
    let m = PathBuf::from(kv(&stdout, "meta_file").unwrap());
    assert!(!env.path().join("finished").exists());
    assert_eq!(wait_end(&m).status, codex_meta::Status::Succeeded);

    // --json: one object with session_id
    let out = env
        .cmd()
        .args(["--detach=session", "--json", "--task", "t"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["session_id"], SID);
    assert!(v["meta_file"].is_string());
    wait_end(Path::new(v["meta_file"].as_str().unwrap()));

    // the caller interrupted while it waits (Ctrl-C): 130 at once, the run goes on
    let child = env
        .cmd()
        .args(["--detach=session", "--task", "hang"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    kill(i64::from(child.id()), "INT");
    let start = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(out.status.code(), Some(130), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("got SIGINT while waiting"), "{err}");
    let m = PathBuf::from(kv(&String::from_utf8_lossy(&out.stdout), "meta_file").unwrap());
    assert_eq!(status(&m), "running");
    kill(meta(&m)["pid"].as_i64().unwrap(), "TERM");
    assert_eq!(wait_end(&m).status, codex_meta::Status::Killed);

    // a run that ends before naming a session says how it ended
    let out = env
        .cmd()
        .args(["--detach=session", "--task", "fail"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ended failed (exit 1) before codex named its session"),
        "{err}"
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 4);
}

#[test]
fn resume_takes_a_run_id_or_a_launch_file() {
    let env = Env::new();
    fleet_fake(&env);
    let first = env
        .cmd()
        .args(["--task", "first", "-q"])
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    assert!(first.status.success());
    let text = String::from_utf8_lossy(&first.stdout).into_owned();
    let id = kv(&text, "codex_run_id").unwrap();
    let launch = env.path().join("first.launch");
    std::fs::write(&launch, &text).unwrap();
    for by in [id.clone(), launch.display().to_string()] {
        let out = env
            .cmd()
            .args(["--resume", &by, "--task", "again", "-q"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let argv = std::fs::read(env.path().join("codex.argv")).ok();
        let m = meta(Path::new(
            &kv(&String::from_utf8_lossy(&out.stdout), "meta_file").unwrap(),
        ));
        assert_eq!(m["resume_session"], SID, "{by}");
        assert_eq!(m["resume_run"], id.as_str(), "{by}");
        let cmd: Vec<&str> = m["codex_command"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert!(
            cmd.windows(2).any(|w| w == ["resume", SID]),
            "{cmd:?} {argv:?}"
        );
    }
    // a run that never named a session cannot be resumed
    let failed = env.cmd().args(["--task", "fail", "-q"]).output().unwrap();
    let fid = kv(&String::from_utf8_lossy(&failed.stdout), "codex_run_id").unwrap();
    let out = env
        .cmd()
        .args(["--resume", &fid, "--task", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("has no codex session id"), "{err}");
}

#[test]
fn queue_and_budget_options_are_checked_before_anything_is_created() {
    let env = Env::new();
    fleet_fake(&env);
    for (args, needle) in [
        (vec!["--max-running", "0"], "--max-running 0"),
        (vec!["--queue", "q"], "--max-running"),
        (
            vec!["--max-running", "2", "--queue", "../x"],
            "--queue '../x'",
        ),
        (vec!["--max-tokens", "0"], "--max-tokens 0"),
        (vec!["--max-cost", "-1"], "--max-cost"),
        (vec!["--max-cost", "nan"], "--max-cost"),
        (vec!["--detach-timeout", "5s"], "--detach=session"),
        (vec!["--detach=later"], "later"),
    ] {
        let out = Command::new(BIN)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("CODEX_RUNS_DIR", env.runs())
            .env("CODEX_BIN", env.fake_path())
            .arg("--repo")
            .arg(env.repo())
            .args(["--task", "t"])
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!env.runs().exists(), "{args:?} created the runs dir");
    }
}
