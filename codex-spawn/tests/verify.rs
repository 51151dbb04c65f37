//! The verify-and-resume loop, the stall watchdog and the true outcome of a run, against
//! a fake codex that replays transcripts captured from the real Codex CLI 0.169.0 — one
//! scenario per invocation — and records each invocation's argv and stdin.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns panic on purpose

mod common;

use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// new-json's session: resume-json continues it (same thread id).
const SID: &str = "01a20a11-cee4-7090-bde8-0211b8147f80";

/// A fake codex whose invocation N replays `scenarios[N-1]` (the last one repeats),
/// records `codex.argv.N` and `codex.stdin.N`, then runs `after` and exits `exit`.
fn multi_fake(env: &Env, scenarios: &[&str], after: &str, exit: i32) {
    let fx = fixtures();
    let d = env.path().display();
    let mut cases = String::new();
    for (i, sc) in scenarios.iter().enumerate() {
        let pat = if i + 1 == scenarios.len() {
            "*".to_owned()
        } else {
            (i + 1).to_string()
        };
        cases.push_str(&format!(
            "  {pat}) cat '{fx}/{sc}.stderr' >&2; cat '{fx}/{sc}.stdout' ;;\n",
            fx = fx.display()
        ));
    }
    let script = format!(
        "#!/bin/sh\n\
         if [ \"$1\" = --version ]; then echo 'codex-cli 0.169.0'; exit 0; fi\n\
         n=$(cat '{d}/calls' 2>/dev/null || echo 0); n=$((n+1)); echo $n > '{d}/calls'\n\
         echo $$ > '{d}/codex.pid'\n\
         for a in \"$@\"; do printf '%s\\0' \"$a\"; done > '{d}/codex.argv.'$n\n\
         cat > '{d}/codex.stdin.'$n\n\
         case $n in\n{cases}esac\n\
         {after}\n\
         exit {exit}\n"
    );
    let p = env.fake_path();
    std::fs::write(&p, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn calls(env: &Env) -> u32 {
    std::fs::read_to_string(env.path().join("calls"))
        .map(|s| s.trim().parse().unwrap())
        .unwrap_or(0)
}

fn argv_n(env: &Env, n: u32) -> Vec<String> {
    std::fs::read(env.path().join(format!("codex.argv.{n}")))
        .unwrap()
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8(s.to_vec()).unwrap())
        .collect()
}

fn stdin_n(env: &Env, n: u32) -> String {
    String::from_utf8(std::fs::read(env.path().join(format!("codex.stdin.{n}"))).unwrap()).unwrap()
}

/// A check that fails its first `fails` runs (printing a failure), then passes. It counts
/// its runs in the temp dir and records its working directory.
fn flaky_check(env: &Env, fails: u32) -> String {
    let d = env.path().display();
    format!(
        "n=$(cat '{d}/checks' 2>/dev/null || echo 0); n=$((n+1)); echo $n > '{d}/checks'; \
         pwd > '{d}/check.cwd'; echo \"check run $n\"; \
         if [ $n -le {fails} ]; then echo 'FAIL: test_widget: expected 3, got 2' >&2; exit 1; fi; \
         echo 'all tests passed'"
    )
}

fn checks(env: &Env) -> u32 {
    std::fs::read_to_string(env.path().join("checks"))
        .map(|s| s.trim().parse().unwrap())
        .unwrap_or(0)
}

fn show(out: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn events(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
#[allow(
    clippy::too_many_lines,
    reason = "one run followed through its attempts; each check stands on the one before"
)]
fn failing_check_resumes_the_session_with_its_output_then_succeeds() {
    let env = Env::new();
    multi_fake(&env, &["new-json", "resume-json"], "", 0);
    let stream = env.path().join("events.jsonl");
    let cmd = flaky_check(&env, 1);
    let out = env
        .cmd()
        .args([
            "--task",
            "fix the widget",
            "-q",
            "--verify",
            &cmd,
            "--event-stream",
        ])
        .arg(&stream)
        .args(["--", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(kv(&stdout, "codex_session_id").as_deref(), Some(SID));
    assert_eq!(calls(&env), 2);
    assert_eq!(checks(&env), 2);

    // Attempt 2 resumes attempt 1's session, options before `resume`, prompt on stdin.
    let repo = std::fs::canonicalize(env.repo()).unwrap();
    let repo = repo.to_str().unwrap();
    let a1 = argv_n(&env, 1);
    let a2 = argv_n(&env, 2);
    assert_eq!(a1.last().unwrap(), "fix the widget");
    assert_eq!(&a2[..3], ["exec", "--cd", repo]);
    assert_eq!(a2[3], "--output-last-message");
    assert_eq!(&a2[5..], ["--json", "resume", SID, "-"], "{a2:?}");
    assert!(stdin_n(&env, 1).is_empty());
    let prompt = stdin_n(&env, 2);
    assert!(prompt.contains(&format!("`{cmd}`")), "{prompt}");
    assert!(prompt.contains("exit code 1"), "{prompt}");
    assert!(prompt.contains("check run 1"), "{prompt}");
    assert!(
        prompt.contains("FAIL: test_widget: expected 3, got 2"),
        "{prompt}"
    );
    assert!(prompt.contains("fix the cause"), "{prompt}");
    // The check ran in the repo.
    assert_eq!(
        std::fs::read_to_string(env.path().join("check.cwd"))
            .unwrap()
            .trim(),
        repo
    );

    // One meta, two attempts.
    let m = env.meta();
    assert_eq!(m["status"], "succeeded");
    assert_eq!(m["exit_code"], 0);
    assert_eq!(m["session_id"], SID);
    assert_eq!(m["verify_command"], cmd.as_str());
    assert_eq!(m["max_attempts"], 3);
    let at = m["attempts"].as_array().unwrap();
    assert_eq!(at.len(), 2, "{m:#}");
    for (i, a) in at.iter().enumerate() {
        assert_eq!(a["n"], i + 1);
        assert_eq!(a["exit_code"], 0, "codex's own exit code");
        assert_eq!(a["session_id"], SID);
        assert!(a["started_at"].as_str().unwrap() <= a["ended_at"].as_str().unwrap());
        assert!(a["verify"]["elapsed_seconds"].as_f64().unwrap() >= 0.0);
        assert_eq!(a["verify"]["timed_out"], false);
    }
    assert_eq!(at[0]["status"], "verify_failed");
    assert_eq!(at[0]["verify"]["exit_code"], 1);
    assert_eq!(at[1]["status"], "succeeded");
    assert_eq!(at[1]["verify"]["exit_code"], 0);
    assert_eq!(at[1]["codex_command"][7], "resume");
    assert!(at[0]["ended_at"].as_str().unwrap() <= at[1]["started_at"].as_str().unwrap());

    // One log, each attempt and check marked, the check's output in it.
    let log = String::from_utf8_lossy(&env.log()).into_owned();
    let marks: Vec<&str> = log.lines().filter(|l| l.starts_with("=====")).collect();
    assert_eq!(marks.len(), 6, "{marks:#?}");
    assert_eq!(marks[0], "===== codex-spawn attempt 1/3: new =====");
    assert!(marks[1].starts_with("===== verify attempt 1: sh -c "));
    assert!(
        marks[2].starts_with("===== verify attempt 1: exit 1 in "),
        "{}",
        marks[2]
    );
    assert_eq!(
        marks[3],
        format!("===== codex-spawn attempt 2/3: resume {SID} =====")
    );
    assert!(marks[5].starts_with("===== verify attempt 2: exit 0 in "));
    assert!(log.contains("FAIL: test_widget"));
    assert!(log.contains("\ncodex_attempts=2\n"));

    // Events: run_started, (attempt_started, attempt_completed) × 2, run_completed.
    let evs = events(&stream);
    let names: Vec<&str> = evs.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "run_started",
            "attempt_started",
            "attempt_completed",
            "attempt_started",
            "attempt_completed",
            "run_completed"
        ]
    );
    assert_eq!(evs[1]["attempt"], 1);
    assert_eq!(evs[2]["attempt"], 1);
    assert_eq!(evs[2]["verify_exit_code"], 1);
    assert_eq!(evs[2]["status"], "verify_failed");
    assert_eq!(evs[3]["attempt"], 2);
    assert_eq!(evs[4]["verify_exit_code"], 0);
    assert_eq!(evs[4]["status"], "succeeded");
    assert_eq!(evs[5]["status"], "succeeded");
    assert_eq!(evs[5]["attempts"], 2);
    assert!(evs[0].get("attempt").is_none());
}

#[test]
fn check_that_never_passes_spends_the_attempts_and_exits_3() {
    let env = Env::new();
    multi_fake(&env, &["new-json", "resume-json"], "", 0);
    let out = env
        .cmd()
        .args(["--task", "t", "-q", "--verify", &flaky_check(&env, 99)])
        .args(["--", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    assert_eq!(calls(&env), 3);
    assert_eq!(checks(&env), 3);
    let m = env.meta();
    assert_eq!(m["status"], "verify_failed");
    assert_eq!(m["exit_code"], 3);
    let reason = m["outcome_reason"].as_str().unwrap();
    assert!(reason.contains("still failed after 3 attempts"), "{reason}");
    let at = m["attempts"].as_array().unwrap();
    assert_eq!(at.len(), 3);
    assert!(at.iter().all(|a| a["verify"]["exit_code"] == 1));
    // Attempts 2 and 3 both resume the first attempt's session.
    assert_eq!(&argv_n(&env, 3)[6..], ["resume", SID, "-"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    // codex itself succeeded each time; the run's verdict is its own key
    assert_eq!(kv(&stdout, "codex_exit_code").as_deref(), Some("0"));
    assert_eq!(kv(&stdout, "exit_code").as_deref(), Some("3"));
    assert_eq!(kv(&stdout, "status").as_deref(), Some("verify_failed"));
}

#[test]
fn max_attempts_1_checks_once_and_never_resumes() {
    let env = Env::new();
    multi_fake(&env, &["new-human"], "", 0);
    let out = env
        .cmd()
        .args(["--task", "t", "-q", "--max-attempts", "1"])
        .args(["--verify", &flaky_check(&env, 1)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    assert_eq!(calls(&env), 1);
    let m = env.meta();
    assert_eq!(m["status"], "verify_failed");
    assert!(
        m["outcome_reason"]
            .as_str()
            .unwrap()
            .contains("after 1 attempt:")
    );
    assert_eq!(m["attempts"].as_array().unwrap().len(), 1);

    // A check that passes at once: one attempt, succeeded.
    let env = Env::new();
    multi_fake(&env, &["new-human"], "", 0);
    env.cmd()
        .args([
            "--task",
            "t",
            "-q",
            "--max-attempts",
            "1",
            "--verify",
            "true",
        ])
        .output()
        .unwrap();
    let m = env.meta();
    assert_eq!(m["status"], "succeeded", "{m:#}");
    assert_eq!(m["attempts"][0]["verify"]["exit_code"], 0);
}

#[test]
fn stalled_codex_is_stopped_within_the_timeout_and_never_resumed() {
    let env = Env::new();
    // The real header (with its session id), then silence.
    let fx = fixtures();
    multi_fake(&env, &["new-human"], "", 0);
    let script = format!(
        "#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'codex-cli 0.169.0'; exit 0; fi\n\
         n=$(cat '{d}/calls' 2>/dev/null || echo 0); echo $((n+1)) > '{d}/calls'\n\
         echo $$ > '{d}/codex.pid'\nhead -n 15 '{fx}/new-human.log' >&2\nsleep 30 & wait\nexit 0\n",
        d = env.path().display(),
        fx = fx.display()
    );
    std::fs::write(env.fake_path(), script).unwrap();
    let start = Instant::now();
    let out = env
        .cmd()
        .args([
            "--task",
            "t",
            "-q",
            "--stall-timeout",
            "700ms",
            "--kill-grace",
            "300ms",
        ])
        .args(["--verify", "true"])
        .output()
        .unwrap();
    let took = start.elapsed();
    assert_eq!(out.status.code(), Some(124), "{}", show(&out));
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert!(took >= Duration::from_millis(700), "{took:?}");
    assert_eq!(calls(&env), 1, "a stalled run is never resumed");
    let pid: i32 = std::fs::read_to_string(env.path().join("codex.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(!alive(pid));
    let m = env.meta();
    assert_eq!(m["status"], "stalled");
    assert_eq!(m["exit_code"], 124);
    assert_eq!(m["session_id"], "01a20a11-c891-7691-9716-0a912243e201");
    assert!(m["outcome_reason"].as_str().unwrap().contains("stall"));
    assert_eq!(m["stall_timeout_seconds"], 0.7);
    let at = m["attempts"].as_array().unwrap();
    assert_eq!(at.len(), 1);
    assert_eq!(at[0]["status"], "stalled");
    assert!(at[0]["verify"].is_null());
}

#[test]
fn steady_output_keeps_the_stall_watchdog_quiet() {
    let env = Env::new();
    multi_fake(
        &env,
        &["new-human"],
        "i=0; while [ $i -lt 8 ]; do sleep 0.2; echo tick $i >&2; i=$((i+1)); done",
        0,
    );
    let out = env
        .cmd()
        .args(["--task", "t", "-q", "--stall-timeout", "1s"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(env.meta()["status"], "succeeded");
}

#[test]
fn exit_0_with_a_failed_turn_is_failed_with_the_reason() {
    let env = Env::new();
    multi_fake(&env, &["fail-json"], "", 0);
    let out = env
        .cmd()
        .args(["--task", "t", "-q", "--verify", &flaky_check(&env, 0)])
        .args(["--", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert_eq!(checks(&env), 0, "no check after a failed turn");
    assert_eq!(calls(&env), 1);
    let m = env.meta();
    assert_eq!(m["status"], "failed");
    assert_eq!(m["exit_code"], 1);
    assert_eq!(m["attempts"][0]["exit_code"], 0, "codex's own exit code");
    assert_eq!(m["attempts"][0]["status"], "failed");
    assert_eq!(
        m["outcome_reason"],
        "turn.failed: We’re currently experiencing high demand, which may cause temporary errors."
    );

    // Human mode: ERROR lines and no `tokens used`.
    let env = Env::new();
    multi_fake(&env, &["fail-human"], "", 0);
    let out = env.cmd().args(["--task", "t", "-q"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let m = env.meta();
    assert_eq!(m["status"], "failed");
    let reason = m["outcome_reason"].as_str().unwrap();
    assert!(
        reason.starts_with("ERROR not followed by a completed turn"),
        "{reason}"
    );

    // No prompt, no turn at all (the real CLI exits 1 here; a 0 must not pass).
    let env = Env::new();
    multi_fake(&env, &["resume-notask-json"], "", 0);
    let out = env.cmd().args(["--task", "t", "-q"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert_eq!(
        env.meta()["outcome_reason"],
        "no completed turn in codex's output"
    );

    // A non-zero exit keeps codex's code and adds what the output says.
    let env = Env::new();
    multi_fake(&env, &["fail-json"], "", 1);
    let out = env.cmd().args(["--task", "t", "-q"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let reason = env.meta()["outcome_reason"].as_str().unwrap().to_owned();
    assert!(
        reason.starts_with("codex exited with 1: turn.failed: "),
        "{reason}"
    );
}

#[test]
fn without_a_session_id_the_loop_cannot_resume() {
    let env = Env::new();
    // new-json without its thread.started line: a completed turn, no session id.
    let fx = fixtures();
    let script = format!(
        "#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'codex-cli 0.169.0'; exit 0; fi\n\
         n=$(cat '{d}/calls' 2>/dev/null || echo 0); echo $((n+1)) > '{d}/calls'\n\
         cat > /dev/null\ngrep -v thread.started '{fx}/new-json.stdout'\nexit 0\n",
        d = env.path().display(),
        fx = fx.display()
    );
    std::fs::write(env.fake_path(), script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(env.fake_path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = env
        .cmd()
        .args(["--task", "t", "-q", "--verify", "exit 4"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    assert_eq!(calls(&env), 1);
    let m = env.meta();
    assert_eq!(m["status"], "verify_failed");
    let reason = m["outcome_reason"].as_str().unwrap();
    assert!(reason.contains("session id was not found"), "{reason}");
    assert!(reason.contains("exit 4"), "{reason}");
}

#[test]
fn check_timeout_kills_its_group_and_counts_as_a_failed_check() {
    let env = Env::new();
    multi_fake(&env, &["new-human"], "", 0);
    let d = env.path().display().to_string();
    let cmd = format!("sleep 30 & echo $! > '{d}/sleep.pid'; wait");
    let start = Instant::now();
    let out = env
        .cmd()
        .args(["--task", "t", "-q", "--max-attempts", "1"])
        .args([
            "--verify",
            &cmd,
            "--verify-timeout",
            "500ms",
            "--kill-grace",
            "300ms",
        ])
        .output()
        .unwrap();
    assert!(start.elapsed() < Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let sleep: i32 = std::fs::read_to_string(env.path().join("sleep.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(wait_until(Duration::from_secs(2), || !alive(sleep)));
    let m = env.meta();
    assert_eq!(m["status"], "verify_failed");
    let v = &m["attempts"][0]["verify"];
    assert_eq!(v["timed_out"], true, "{m:#}");
    assert_eq!(
        v["exit_code"], 143,
        "SIGTERM, not the SIGKILL after the grace"
    );
    let log = String::from_utf8_lossy(&env.log()).into_owned();
    assert!(
        log.contains("===== verify attempt 1: timed out after 0.5s (exit 143) ====="),
        "{log}"
    );
}

#[test]
fn follow_up_prompt_carries_a_bounded_tail() {
    let env = Env::new();
    multi_fake(&env, &["new-json", "resume-json"], "", 0);
    let d = env.path().display().to_string();
    let cmd = format!(
        "[ -e '{d}/ok' ] && exit 0; touch '{d}/ok'; i=0; while [ $i -lt 5000 ]; do echo \"output line $i\"; i=$((i+1)); done; exit 2"
    );
    let out = env
        .cmd()
        .args(["--task", "t", "-q", "--verify", &cmd, "--", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let prompt = stdin_n(&env, 2);
    assert!(prompt.len() < 16 * 1024 + 2048, "{}", prompt.len());
    assert!(prompt.contains("output line 4999\n"));
    assert!(prompt.contains("\noutput line 4800\n"));
    assert!(!prompt.contains("output line 4799\n"));
    assert!(prompt.contains("exit code 2"));
    assert!(prompt.contains("earlier output omitted"));
    // The log has it all.
    let log = String::from_utf8_lossy(&env.log()).into_owned();
    assert!(log.contains("\noutput line 0\n"));
}

#[test]
fn a_signal_during_the_check_kills_it_and_ends_the_run() {
    let env = Env::new();
    multi_fake(&env, &["new-human"], "", 0);
    let d = env.path().display().to_string();
    let cmd = format!("echo $$ > '{d}/check.pid'; sleep 30 & wait");
    let mut child = env
        .cmd()
        .args(["--task", "t", "-q", "--verify", &cmd])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pidfile = env.path().join("check.pid");
    assert!(wait_until(Duration::from_secs(10), || pidfile.exists()));
    std::thread::sleep(Duration::from_millis(100));
    let check: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(143));
    assert!(wait_until(Duration::from_secs(2), || !alive(check)));
    assert_eq!(calls(&env), 1);
    let m = env.meta();
    assert_eq!(m["status"], "killed");
    assert_eq!(m["signal"], "SIGTERM");
}

#[test]
fn verify_options_are_validated() {
    let env = Env::new();
    multi_fake(&env, &["new-human"], "", 0);
    let cases: &[(&[&str], &str)] = &[
        (&["--max-attempts", "2"], "--verify"),
        (&["--verify-timeout", "1s"], "--verify"),
        (
            &["--verify", "true", "--max-attempts", "0"],
            "--max-attempts",
        ),
        (
            &["--verify", "true", "--max-attempts", "x"],
            "--max-attempts",
        ),
        (&["--verify", " "], "--verify"),
        (
            &["--verify", "true", "--verify-timeout", "soon"],
            "--verify-timeout",
        ),
        (&["--stall-timeout", "0s"], "--stall-timeout"),
    ];
    for (args, needle) in cases {
        let out = env
            .cmd()
            .args(["--task", "t"])
            .args(*args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!env.runs().exists());
    }
}

#[test]
fn long_help_documents_statuses_and_what_counts() {
    let out = std::process::Command::new(BIN)
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "verify_failed",
        "stalled",
        "turn.failed",
        "tokens used",
        "no completed turn",
        "resume <SESSION_ID> -",
        "--max-attempts",
        "--stall-timeout",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}");
    }
}

/// The supervisor blocks SIGTERM for its signalfd; its children must not inherit that, or
/// a forwarded SIGTERM would wait for the SIGKILL.
#[test]
fn children_get_sigterm_at_once_not_after_the_grace() {
    let env = Env::new();
    multi_fake(&env, &["new-human"], "sleep 30 & wait", 0);
    let start = Instant::now();
    let out = env
        .cmd()
        .args([
            "--task",
            "t",
            "-q",
            "--timeout",
            "300ms",
            "--kill-grace",
            "20s",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(124), "{}", show(&out));
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(env.meta()["signal"], "SIGTERM");
    let log = String::from_utf8_lossy(&env.log()).into_owned();
    assert!(!log.contains("\nverify_command="));

    // The check too.
    let env = Env::new();
    multi_fake(&env, &["new-human"], "", 0);
    let start = Instant::now();
    let out = env
        .cmd()
        .args([
            "--task",
            "t",
            "-q",
            "--max-attempts",
            "1",
            "--kill-grace",
            "20s",
        ])
        .args(["--verify", "sleep 30 & wait", "--verify-timeout", "300ms"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    let m = env.meta();
    assert_eq!(m["attempts"][0]["verify"]["signal"], "SIGTERM");
    let log = String::from_utf8_lossy(&env.log()).into_owned();
    assert!(
        log.contains("\nverify_command=sleep 30 & wait\nmax_attempts=1\n"),
        "{log}"
    );
}

/// Before 0.63 `codex exec resume --last PROMPT` takes PROMPT for a session id and exits
/// 2 (measured on 0.36–0.61): there the prompt goes on stdin, with no prompt argument.
#[test]
fn resume_last_on_an_old_cli_sends_the_prompt_on_stdin() {
    for (version, bare) in [("0.61.0", true), ("0.63.0", false)] {
        let env = Env::new();
        multi_fake(&env, &["new-human"], "", 0);
        let script = std::fs::read_to_string(env.fake_path())
            .unwrap()
            .replace("codex-cli 0.169.0", &format!("codex-cli {version}"));
        std::fs::write(env.fake_path(), script).unwrap();
        let out = env
            .cmd()
            .args(["--resume", "last", "--task", "follow up", "-q"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{version}: {}", show(&out));
        let argv = argv_n(&env, 1);
        let tail: Vec<&str> = argv
            .iter()
            .rev()
            .take(2)
            .rev()
            .map(String::as_str)
            .collect();
        if bare {
            assert_eq!(tail, ["resume", "--last"], "{version}: {argv:?}");
            assert_eq!(stdin_n(&env, 1), "follow up", "{version}");
        } else {
            assert_eq!(tail, ["--last", "follow up"], "{version}: {argv:?}");
        }
    }
}
