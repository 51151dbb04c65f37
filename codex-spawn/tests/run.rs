//! A run from start to end against a fake codex replaying real transcripts: the run
//! lines, the log, the meta, the closing lines, the codex argv, stdin, exit codes.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns panic on purpose

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;

use common::*;
use predicates::prelude::*;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixtures().join(name)).unwrap()
}

#[test]
fn new_run_prints_lines_logs_and_records_everything() {
    let env = Env::new();
    env.fake(Fake::default());
    let out = env.cmd().args(["--task", "say hello"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The four run lines come first, absolute paths.
    let first4: Vec<&str> = stdout.lines().take(4).collect();
    let id = kv(&stdout, "codex_run_id").unwrap();
    let runs = env.runs().display().to_string();
    assert_eq!(
        first4,
        [
            format!("codex_run_id={id}"),
            format!("log_file={runs}/codex-run-{id}.log"),
            format!("meta_file={runs}/codex-run-{id}.meta.json"),
            format!("summary_file_pending={runs}/codex-run-{id}.summary.json"),
        ]
    );
    // codex's output is echoed, then the closing lines.
    assert!(stdout.contains("Done 1. decoy session id"), "{stdout}");
    assert_eq!(kv(&stdout, "codex_exit_code").as_deref(), Some("0"));
    assert_eq!(
        kv(&stdout, "codex_session_id").as_deref(),
        Some("01a20a11-c643-7ab3-8c02-ecade433bd2a"),
        "the header's id, never the decoy"
    );
    let summary: serde_json::Value =
        serde_json::from_str(&kv(&stdout, "summary_json").unwrap()).unwrap();
    assert_eq!(summary["run_id"], id.as_str());
    assert!(stdout.ends_with('\n'));
    assert!(stdout.lines().last().unwrap().starts_with("summary_json="));

    // argv: exec --cd REPO -o LASTMSG PROMPT; stdin /dev/null (empty).
    let repo = std::fs::canonicalize(env.repo())
        .unwrap()
        .display()
        .to_string();
    let lm = format!("{runs}/codex-run-{id}.last-message.txt");
    assert_eq!(
        env.argv(),
        [
            "exec",
            "--cd",
            &repo,
            "--output-last-message",
            &lm,
            "say hello"
        ]
    );
    assert!(env.codex_stdin().is_empty());

    // The log: preamble, codex's output byte for byte, closing lines.
    let log = env.log();
    assert!(contains(&log, &fixture("new-human.stderr")));
    assert!(contains(&log, &fixture("new-human.stdout")));
    let log_text = String::from_utf8_lossy(&log);
    assert!(log_text.starts_with("codex_spawn="), "{log_text}");
    assert!(log_text.contains("\nmode=new\n"));
    assert!(log_text.contains(&format!("\nrepo_abs={repo}\n")));
    assert!(log_text.contains("\ncodex_command="));
    assert!(log_text.contains("'say hello'"));
    assert!(
        log_text
            .trim_end()
            .lines()
            .last()
            .unwrap()
            .starts_with("summary_json=")
    );

    // The meta: final, and everything we know.
    let m = env.meta();
    assert_eq!(m["status"], "succeeded");
    assert_eq!(m["exit_code"], 0);
    assert_eq!(m["mode"], "new");
    assert_eq!(m["session_id"], "01a20a11-c643-7ab3-8c02-ecade433bd2a");
    assert_eq!(m["task"], "say hello");
    assert_eq!(m["repo_abs"], repo.as_str());
    assert!(m["pid"].as_u64().unwrap() > 0);
    assert!(m["ended_at"].is_string() && m["started_at"].is_string());
    assert!(m["elapsed_seconds"].as_f64().unwrap() >= 0.0);
    assert_eq!(m["attempts"].as_array().unwrap().len(), 1);
    assert_eq!(m["codex_command"][1], "exec");

    // Files 0600, runs dir 0700.
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&env.runs()), 0o700);
    for e in std::fs::read_dir(env.runs()).unwrap() {
        let p = e.unwrap().path();
        assert_eq!(mode(&p), 0o600, "{}", p.display());
    }
    let summary_file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(kv(&stdout, "summary_file").unwrap()).unwrap())
            .unwrap();
    assert_eq!(summary_file, summary);
}

#[test]
fn run_lines_and_meta_exist_before_codex_starts() {
    let env = Env::new();
    // The fake checks, the moment it starts, that the meta is there and says running.
    env.fake(Fake {
        before: &format!(
            "for m in '{}'/*.meta.json; do grep -q '\"status\": \"running\"' \"$m\" && echo ok > '{}/saw-meta'; done; sleep 0.3",
            env.runs().display(),
            env.path().display()
        ),
        ..Fake::default()
    });
    let mut child = env
        .cmd()
        .args(["--task", "t"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut r = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    r.read_line(&mut first).unwrap();
    assert!(first.starts_with("codex_run_id="), "{first}");
    // A caller that reads the meta right after the first line finds it.
    let m = env.meta();
    assert_eq!(m["status"], "running");
    let mut lines = vec![first];
    for _ in 0..3 {
        let mut l = String::new();
        r.read_line(&mut l).unwrap();
        lines.push(l);
    }
    assert!(lines[3].starts_with("summary_file_pending="));
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut r, &mut rest).unwrap();
    assert!(child.wait().unwrap().success());
    assert!(
        env.path().join("saw-meta").exists(),
        "codex started before the meta existed"
    );
}

#[test]
fn nonzero_exit_passes_through_with_failed_meta() {
    let env = Env::new();
    env.fake(Fake {
        scenario: "fail-human",
        ..Fake::default()
    });
    env.cmd()
        .args(["--task", "[fail] say hello", "--quiet"])
        .assert_code(1);
    let m = env.meta();
    assert_eq!(m["status"], "failed");
    assert_eq!(m["exit_code"], 1);

    let env = Env::new();
    env.fake(Fake {
        exit: Some(42),
        ..Fake::default()
    });
    env.cmd().args(["--task", "t", "-q"]).assert_code(42);
    assert_eq!(env.meta()["exit_code"], 42);
}

#[test]
fn codex_crash_is_128_plus_signal() {
    let env = Env::new();
    env.fake(Fake {
        after: "kill -SEGV $$",
        ..Fake::default()
    });
    let out = env.cmd().args(["--task", "t", "-q"]).output().unwrap();
    assert_eq!(out.status.code(), Some(139));
    let m = env.meta();
    assert_eq!(m["status"], "killed");
    assert_eq!(m["signal"], "SIGSEGV");
    assert_eq!(m["exit_code"], 139);
}

#[test]
fn json_output_is_two_json_lines() {
    let env = Env::new();
    env.fake(Fake::default());
    let out = env.cmd().args(["--task", "t", "--json"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    let start: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    let end: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
    assert!(start["meta_file"].as_str().unwrap().ends_with(".meta.json"));
    assert!(start["summary_file_pending"].is_string());
    // the closing line: one result object in the shape of `claude -p --output-format json`
    assert_eq!(end["type"], "result");
    assert_eq!(end["subtype"], "success");
    assert_eq!(end["is_error"], false);
    assert_eq!(end["run_id"], start["codex_run_id"]);
    assert_eq!(end["status"], "succeeded");
    assert_eq!(end["exit_code"], 0);
    assert_eq!(end["codex_exit_code"], 0);
    assert_eq!(end["num_attempts"], 1);
    assert!(end["duration_ms"].is_u64(), "{end}");
    assert_eq!(end["session_id"], "01a20a11-c643-7ab3-8c02-ecade433bd2a");
    assert_eq!(end["meta_file"], start["meta_file"]);
    for k in [
        "input_tokens",
        "cached_input_tokens",
        "output_tokens",
        "reasoning_output_tokens",
    ] {
        assert!(end["usage"].get(k).is_some(), "usage.{k}: {end}");
    }
    assert!(end.get("total_cost_usd").is_some(), "{end}");
}

#[test]
fn codex_exit_code_is_codex_s_own_and_the_verdict_has_its_own_key() {
    // codex exits 0 but its output shows no completed turn: codex-spawn says 1
    let env = Env::new();
    let out = env
        .cmd()
        .args(["--task", "t", "--codex-bin", "/bin/true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(kv(&stdout, "codex_exit_code").as_deref(), Some("0"));
    assert_eq!(kv(&stdout, "exit_code").as_deref(), Some("1"));
    assert_eq!(kv(&stdout, "status").as_deref(), Some("failed"));
    let out = env
        .cmd()
        .args(["--task", "t", "--codex-bin", "/bin/true", "--json"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let end: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(end["subtype"], "error_during_execution");
    assert_eq!(end["is_error"], true);
    assert_eq!(end["codex_exit_code"], 0);
    assert_eq!(end["exit_code"], 1);
}

#[test]
fn argv_new_resume_and_resume_last_keep_options_before_resume() {
    let env = Env::new();
    env.fake(Fake {
        scenario: "resume-human",
        ..Fake::default()
    });
    let sid = "01a20a11-cee4-7090-bde8-0211b8147f80";
    env.cmd()
        .args([
            "--resume",
            sid,
            "--task",
            "follow up",
            "-q",
            "--",
            "-s",
            "read-only",
            "-m",
            "gpt-5",
        ])
        .assert_code(0);
    let a = env.argv();
    let n = a.len();
    assert_eq!(&a[..2], ["exec", "--cd"]);
    assert_eq!(a[3], "--output-last-message");
    assert_eq!(
        &a[5..],
        ["-s", "read-only", "-m", "gpt-5", "resume", sid, "follow up"],
        "{a:?}"
    );
    assert_eq!(n, 12);
    let m = env.meta();
    assert_eq!(m["mode"], "resume");
    assert_eq!(m["resume_session"], sid);
    assert_eq!(m["model"], "gpt-5");

    // resume last, no task: the default follow-up prompt, visible in log and meta.
    let env = Env::new();
    env.fake(Fake {
        scenario: "resume-human",
        ..Fake::default()
    });
    env.cmd()
        .args(["--resume", "last", "-q", "--", "--json"])
        .assert_code(0);
    let a = env.argv();
    assert_eq!(
        &a[5..],
        ["--json", "resume", "--last", "Continue."],
        "{a:?}"
    );
    let m = env.meta();
    assert_eq!(m["task"], "Continue.");
    assert_eq!(m["task_defaulted"], true);
    assert!(String::from_utf8_lossy(&env.log()).contains("\ntask_default=Continue.\n"));

    // A -o among the pass-through options replaces ours.
    let env = Env::new();
    env.fake(Fake::default());
    env.cmd()
        .args(["--task", "t", "-q", "--", "-o", "/tmp/x"])
        .assert_code(0);
    assert_eq!(&env.argv()[3..], ["-o", "/tmp/x", "t"]);
    assert!(env.meta()["last_message_file"].is_null());
}

#[test]
fn task_reaches_argv_byte_exact_never_through_a_shell() {
    let env = Env::new();
    env.fake(Fake::default());
    let task =
        "it's \"quoted\" $(touch pwned) `id` \\ back\nnew line\ttab ünïcødé 🚀 ; rm -rf / &&";
    env.cmd().args(["--task", task, "-q"]).assert_code(0);
    assert_eq!(env.argv().last().unwrap(), task);
    assert!(!env.path().join("pwned").exists());
    assert!(!env.repo().join("pwned").exists());
    assert!(env.codex_stdin().is_empty());
    assert_eq!(env.meta()["task"], task);

    // A task that looks like an option goes through stdin.
    let env = Env::new();
    env.fake(Fake::default());
    env.cmd().args(["--task", "--help me", "-q"]).assert_code(0);
    assert_eq!(env.argv().last().unwrap(), "-");
    assert_eq!(env.codex_stdin(), b"--help me");
}

#[test]
fn big_task_file_goes_to_stdin_not_argv() {
    let env = Env::new();
    env.fake(Fake::default());
    let mut task = Vec::new();
    while task.len() < 1 << 20 {
        task.extend_from_slice(b"line of a long private prompt \xc3\xa9 $(x)\n");
    }
    let file = env.path().join("task.txt");
    std::fs::write(&file, &task).unwrap();
    env.cmd()
        .args(["-q", "--task-file"])
        .arg(&file)
        .assert_code(0);
    assert_eq!(env.argv().last().unwrap(), "-");
    assert!(
        env.argv_raw().len() < 4096,
        "the prompt must not be in argv"
    );
    assert_eq!(env.codex_stdin(), task);
    let log = String::from_utf8_lossy(&env.log()).into_owned();
    let preamble = log.split("--- codex output ---").next().unwrap();
    assert!(
        preamble.contains(&format!("<prompt: {} bytes>", task.len())),
        "{preamble}"
    );
    assert!(!preamble.contains("line of a long private prompt"));
    assert!(log.len() < 64 * 1024, "the log must not hold the prompt");
    let m = env.meta();
    assert_eq!(m["task_source"], "file");
    assert_eq!(m["task_bytes"], task.len());

    // --task - reads our stdin.
    let env = Env::new();
    env.fake(Fake::default());
    let mut child = env
        .cmd()
        .args(["-q", "--task", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"from stdin\n")
        .unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(env.codex_stdin(), b"from stdin\n");
    assert_eq!(env.argv().last().unwrap(), "-");
}

#[test]
fn usage_errors_are_one_line_exit_2_and_create_nothing() {
    let env = Env::new();
    env.fake(Fake::default());
    std::fs::write(env.path().join("file"), "x").unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--task", "t", "--repo", "nope"], "nope"),
        (vec!["--task", "t", "--repo", "file"], "not a directory"),
        (vec![], "task is required"),
        (vec!["--task", "t", "--task-file", "file"], "cannot be used"),
        (vec!["--task-file", "missing.txt"], "missing.txt"),
        (vec!["--task", "t", "--timeout", "soon"], "--timeout"),
        (vec!["--task", "t", "--timeout", "0s"], "--timeout"),
        (vec!["--task", "t", "--verbosity", "loud"], "loud"),
        (vec!["--task", ""], "empty"),
        (vec!["--resume", "-x"], "-x"),
        (vec!["--task", "t", "--bogus"], "--bogus"),
    ];
    for (args, needle) in cases {
        let mut cmd = if args.contains(&"--repo") {
            env.cmd_norepo()
        } else {
            env.cmd()
        };
        let out = cmd.args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("codex-spawn: "), "{err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(out.stdout.is_empty());
        assert!(!env.runs().exists(), "{args:?} created the runs dir");
    }
    // No --repo at all.
    let out = std::process::Command::new(BIN)
        .env_clear()
        .args(["--task", "t"])
        .current_dir(env.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--repo is required"));
    // A bad CODEX_LOG_VERBOSITY.
    env.cmd()
        .env("CODEX_LOG_VERBOSITY", "chatty")
        .args(["--task", "t"])
        .assert_code(2);
}

#[test]
fn codex_not_found_127_and_not_executable_126_with_meta() {
    let env = Env::new();
    let out = env
        .cmd()
        .args(["--task", "t", "--codex-bin", "no-such-codex-anywhere"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(127));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("codex_run_id="), "{stdout}");
    assert_eq!(kv(&stdout, "codex_exit_code").as_deref(), Some("127"));
    let m = env.meta();
    assert_eq!(m["status"], "failed");
    assert_eq!(m["exit_code"], 127);
    assert!(m["outcome_reason"].as_str().unwrap().contains("not found"));

    let env = Env::new();
    let plain = env.path().join("plain");
    std::fs::write(&plain, "#!/bin/sh\n").unwrap();
    let out = env
        .cmd()
        .args(["--task", "t", "--codex-bin"])
        .arg(&plain)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(126));
    let m = env.meta();
    assert_eq!(m["status"], "failed");
    assert_eq!(m["exit_code"], 126);
    assert!(
        m["outcome_reason"]
            .as_str()
            .unwrap()
            .contains("not executable")
    );
}

#[test]
fn events_stream_and_notify_never_change_the_outcome() {
    let env = Env::new();
    env.fake(Fake::default());
    let stream = env.path().join("events.jsonl");
    let notified = env.path().join("notified.jsonl");
    env.cmd()
        .args(["--task", "t", "-q", "--event-stream"])
        .arg(&stream)
        .arg("--notify-cmd")
        .arg(format!("cat >> '{}'", notified.display()))
        .assert_code(0);
    for file in [&stream, &notified] {
        let text = std::fs::read_to_string(file).unwrap();
        let evs: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(evs.len(), 2, "{text}");
        assert_eq!(evs[0]["event"], "run_started");
        assert_eq!(evs[0]["status"], "running");
        assert_eq!(evs[1]["event"], "run_completed");
        assert_eq!(evs[1]["status"], "succeeded");
        assert_eq!(evs[1]["exit_code"], 0);
        assert_eq!(evs[1]["session_id"], "01a20a11-c643-7ab3-8c02-ecade433bd2a");
        for k in [
            "run_id",
            "repo",
            "mode",
            "log_file",
            "meta_file",
            "summary_file",
            "started_at",
            "ended_at",
            "elapsed_seconds",
            "ts",
        ] {
            assert!(evs[1].get(k).is_some(), "{k} missing");
        }
    }

    // A failing and a hanging notify command: warnings, same outcome, bounded wait.
    let env = Env::new();
    env.fake(Fake {
        exit: Some(3),
        ..Fake::default()
    });
    let start = std::time::Instant::now();
    env.cmd()
        .args([
            "--task",
            "t",
            "-q",
            "--notify-timeout",
            "300ms",
            "--notify-cmd",
            "read x; sleep 30",
        ])
        .assert_code(3);
    assert!(start.elapsed() < std::time::Duration::from_secs(10));
    let log = String::from_utf8_lossy(&env.log()).into_owned();
    assert!(
        log.contains("codex_spawn_warning=notify command for run_started did not finish"),
        "{log}"
    );
    assert_eq!(env.meta()["status"], "failed");

    let env = Env::new();
    env.fake(Fake::default());
    env.cmd()
        .args(["--task", "t", "-q", "--notify-cmd", "exit 7"])
        .assert_code(0);
    assert!(
        String::from_utf8_lossy(&env.log())
            .contains("codex_spawn_warning=notify command for run_completed failed")
    );
}

#[test]
fn json_out_and_verbosity_levels_and_no_env_values() {
    let env = Env::new();
    env.fake(Fake::default());
    let out_file = env.path().join("summary-copy.json");
    env.cmd()
        .env("OPENAI_API_KEY", "sk-very-secret-value")
        .env("CODEX_HOME", "/secret/home/path")
        .args(["--task", "t", "-q", "-vvv", "--json-out"])
        .arg(&out_file)
        .assert_code(0);
    let copy: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&out_file).unwrap()).unwrap();
    assert_eq!(copy["run_id"], env.meta()["run_id"]);
    let log = String::from_utf8_lossy(&env.log()).into_owned();
    assert!(log.contains("\nenv_set="), "{log}");
    assert!(log.contains("OPENAI_API_KEY"));
    assert!(log.contains("\nuser="));
    assert!(log.contains("\nsupervisor_max_rss_kib="));
    assert!(!log.contains("sk-very-secret-value"));
    assert!(!log.contains("/secret/home/path"));

    let env = Env::new();
    env.fake(Fake::default());
    env.cmd()
        .args(["--task", "t", "-q", "--verbosity", "low"])
        .assert_code(0);
    let log = String::from_utf8_lossy(&env.log()).into_owned();
    assert!(log.contains("\nmode=new\n") && log.contains("\nstarted_at="));
    assert!(!log.contains("\nrepo_abs="));
    assert!(!log.contains("\nuser="));
}

/// `assert_cmd`-style helper on std's Command.
trait AssertCode {
    fn assert_code(&mut self, code: i32);
}

impl AssertCode for std::process::Command {
    fn assert_code(&mut self, code: i32) {
        let out = self.output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(code),
            "stdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn help_and_version() {
    assert_cmd::Command::new(BIN)
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("--detach").and(predicate::str::contains("resume")));
    assert_cmd::Command::new(BIN)
        .arg("--version")
        .assert()
        .success()
        .stdout(predicate::str::starts_with("codex-spawn "));
}
