//! Faults a supervisor must survive: signals (TERM, INT, HUP, KILL), timeouts, a reader
//! that hangs up, a codex child that keeps the pipe open, huge and binary output,
//! detached runs (one surviving its caller's exit and hang-up, 100 at once).
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns panic on purpose

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;

fn kill(pid: u32, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

/// Start codex-spawn (quiet) with a codex that hangs after the header; wait until codex runs.
fn start_hanging(env: &Env, extra: &[&str]) -> (std::process::Child, i32) {
    env.fake(Fake {
        after: "sleep 30 & wait",
        ..Fake::default()
    });
    let child = env
        .cmd()
        .args(["--task", "t", "-q"])
        .args(extra)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid = env.codex_pid();
    // The session id reaches the meta while the run goes on.
    assert!(wait_until(Duration::from_secs(10), || {
        env.meta()["session_id"].is_string()
    }));
    assert_eq!(env.meta()["status"], "running");
    (child, pid)
}

#[test]
fn term_int_hup_go_to_codex_group_and_exit_128_plus_n() {
    for (sig, n) in [("TERM", 15), ("INT", 2), ("HUP", 1)] {
        let env = Env::new();
        let (mut child, codex) = start_hanging(&env, &[]);
        kill(child.id(), sig);
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(128 + n), "{sig}");
        assert!(!alive(codex), "codex outlived the supervisor ({sig})");
        let m = env.meta();
        assert_eq!(m["status"], "killed", "{sig}");
        assert_eq!(m["signal"], format!("SIG{sig}"));
        assert_eq!(m["exit_code"], 128 + n);
        let log = String::from_utf8_lossy(&env.log()).into_owned();
        assert!(log.contains(&format!("\nexit_code={}\n", 128 + n)), "{log}");
        // codex died by the signal: it has no exit code of its own
        assert!(log.contains("\ncodex_exit_code=\n"), "{log}");
    }
}

#[test]
fn kill_9_takes_codex_and_its_children_down_and_readers_see_lost() {
    let env = Env::new();
    env.fake(Fake {
        after: &format!(
            "sleep 30 & echo $! > '{}/grandchild.pid'; wait",
            env.path().display()
        ),
        ..Fake::default()
    });
    let mut child = env
        .cmd()
        .args(["--task", "t", "-q"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let codex = env.codex_pid();
    let gc_file = env.path().join("grandchild.pid");
    assert!(wait_until(Duration::from_secs(10), || gc_file.exists()));
    std::thread::sleep(Duration::from_millis(50));
    let grandchild: i32 = std::fs::read_to_string(&gc_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(alive(grandchild));
    kill(child.id(), "KILL");
    child.wait().unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || !alive(codex)),
        "codex survived"
    );
    assert!(
        wait_until(Duration::from_secs(5), || !alive(grandchild)),
        "codex's child survived"
    );
    let meta = codex_meta::read_meta(&env.meta_path()).unwrap();
    assert_eq!(meta.status, Some(codex_meta::Status::Running));
    assert_eq!(
        codex_meta::effective_status(&meta),
        codex_meta::Status::Lost
    );
}

#[test]
fn timeout_terms_then_kills_and_exits_124() {
    let env = Env::new();
    let (mut child, codex) = start_hanging(&env, &["--timeout", "300ms"]);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(124));
    assert!(!alive(codex));
    let m = env.meta();
    assert_eq!(m["status"], "timed_out");
    assert_eq!(m["exit_code"], 124);
    assert_eq!(m["signal"], "SIGTERM");

    // A codex that ignores SIGTERM gets SIGKILL after the grace.
    let env = Env::new();
    env.fake(Fake {
        before: "trap '' TERM",
        after: "while :; do sleep 1; done",
        ..Fake::default()
    });
    let start = Instant::now();
    let out = env
        .cmd()
        .args([
            "--task",
            "t",
            "-q",
            "--timeout",
            "200ms",
            "--kill-grace",
            "300ms",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(124));
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(env.meta()["signal"], "SIGKILL");
    assert!(!alive(env.codex_pid()));
}

#[test]
fn a_reader_that_hangs_up_never_stops_the_run() {
    let env = Env::new();
    // Plenty of output after the reader is gone.
    env.fake(Fake {
        after: "sleep 0.2; i=0; while [ $i -lt 2000 ]; do echo \"line $i of output after the reader left\"; i=$((i+1)); done",
        ..Fake::default()
    });
    let mut child = env
        .cmd()
        .args(["--task", "t"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut r = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        r.read_line(&mut first).unwrap();
        assert!(first.starts_with("codex_run_id="));
    } // `| head -1`: the reader hangs up
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let log = String::from_utf8_lossy(&env.log()).into_owned();
    assert!(log.contains("line 1999 of output after the reader left\n"));
    assert!(log.contains("\ncodex_exit_code=0\n"));
    assert!(
        log.trim_end()
            .lines()
            .last()
            .unwrap()
            .starts_with("summary_json=")
    );
    assert_eq!(env.meta()["status"], "succeeded");
}

#[test]
fn a_child_keeping_the_pipe_open_does_not_hold_the_supervisor() {
    let env = Env::new();
    env.fake(Fake {
        after: &format!("sleep 30 & echo $! > '{}/bg.pid'", env.path().display()),
        ..Fake::default()
    });
    let start = Instant::now();
    let out = env.cmd().args(["--task", "t", "-q"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    let bg: i32 = std::fs::read_to_string(env.path().join("bg.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(2), || !alive(bg)),
        "the background child outlived the run"
    );
    assert_eq!(env.meta()["status"], "succeeded");
}

/// Processes that left codex's group, or its group and session, are found and killed
/// when codex ends by itself: an orphan in a group of its own (still in the keeper's
/// session), one whose parent lives on in the session it made (found down the parent's
/// children), and one whose parent exited (an orphan: the keeper adopted it on Linux).
#[test]
fn escapees_from_codexs_group_and_session_are_killed_at_the_end() {
    let env = Env::new();
    let d = env.path().display();
    env.fake(Fake {
        after: &format!(
            "setsid sh -c 'sleep 300 & echo $! > {d}/kept.pid; wait' > /dev/null 2>&1 &\n\
             setsid sh -c 'sleep 301 & echo $! > {d}/orphan.pid' > /dev/null 2>&1 &\n\
             sh -c 'python3 -c \"import os, time; os.setpgid(0, 0); time.sleep(302)\" & echo $! > {d}/group.pid' > /dev/null 2>&1 &\n\
             while [ ! -s {d}/kept.pid ] || [ ! -s {d}/orphan.pid ] || [ ! -s {d}/group.pid ]; do sleep 0.01; done\n\
             sleep 0.2; ps -o pgid= -p $(cat {d}/group.pid) > {d}/group.pgid"
        ),
        ..Fake::default()
    });
    let out = env.cmd().args(["--task", "t", "-q"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let pid = |name: &str| -> i32 {
        std::fs::read_to_string(env.path().join(name))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let group = pid("group.pid");
    assert_eq!(pid("group.pgid"), group, "it left codex's group");
    assert!(
        wait_until(Duration::from_secs(2), || !alive(group)),
        "an orphan in a group of its own outlived the run"
    );
    // Without a subreaper (macOS, the portable build) what is in another session goes to
    // init once codex (its ancestor) exits, out of every tree we can see: the documented
    // gap (process/mod.rs).
    if !cfg!(feature = "portable") {
        for (name, what) in [
            ("kept.pid", "a grandchild in a session of its own"),
            ("orphan.pid", "an orphan in a session of its own"),
        ] {
            let p = pid(name);
            assert!(
                wait_until(Duration::from_secs(2), || !alive(p)),
                "{what} outlived the run"
            );
        }
    }
    assert_eq!(env.meta()["status"], "succeeded");
}

/// 256 MiB here (1 GiB in scripts/bench-spawn): memory stays flat.
#[test]
fn huge_binary_output_streams_with_flat_memory() {
    const SIZE: u64 = 256 << 20;
    let env = Env::new();
    env.fake(Fake {
        after: &format!(
            "head -c {SIZE} /dev/zero | tr '\\000' '\\377'; printf 'bin\\000\\001\\376\\377end\\n'"
        ),
        ..Fake::default()
    });
    let out = env
        .cmd()
        .args(["--task", "t", "-q", "-vv"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let log_path = env.meta()["log_file"].as_str().unwrap().to_owned();
    let len = std::fs::metadata(&log_path).unwrap().len();
    assert!(len > SIZE, "{len}");
    // The tail of the log: the invalid UTF-8 bytes exactly, then the closing lines.
    let mut f = std::fs::File::open(&log_path).unwrap();
    use std::io::{Seek, SeekFrom};
    f.seek(SeekFrom::End(-8192)).unwrap();
    let mut tail = Vec::new();
    f.read_to_end(&mut tail).unwrap();
    assert!(contains(&tail, b"\xff\xffbin\x00\x01\xfe\xffend\n"));
    let text = String::from_utf8_lossy(&tail);
    let rss: u64 = kv(&text, "supervisor_max_rss_kib")
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        rss > 0 && rss < 16 * 1024,
        "supervisor peak RSS {rss} KiB (0 = not measured)"
    );
    assert_eq!(
        kv(&text, "codex_output_bytes")
            .unwrap()
            .parse::<u64>()
            .unwrap(),
        std::fs::metadata(fixtures().join("new-human.stderr"))
            .unwrap()
            .len()
            + std::fs::metadata(fixtures().join("new-human.stdout"))
                .unwrap()
                .len()
            + SIZE
            + 11
    );
}

#[test]
fn detached_run_returns_at_once_and_survives_caller_exit_and_hangup() {
    let env = Env::new();
    env.fake(Fake {
        before: "sleep 1",
        ..Fake::default()
    });
    // The caller: a shell in its own process group that launches, then hangs up its group.
    let start = Instant::now();
    let out = env
        .cmd()
        .args(["--task", "t", "--detach"])
        .output()
        .unwrap();
    let launched = start.elapsed();
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 4, "{stdout}");
    assert!(launched < Duration::from_millis(900), "{launched:?}");
    let meta_path = kv(&stdout, "meta_file").unwrap();
    let m = env.meta();
    assert_eq!(m["status"], "running");
    let sup = m["pid"].as_u64().unwrap() as i32;
    assert!(alive(sup));

    // Hang-up of the caller's session does not reach it (own session).
    let mut caller = std::process::Command::new("sh");
    std::os::unix::process::CommandExt::process_group(&mut caller, 0);
    caller.args(["-c", "kill -HUP 0"]).status().unwrap();
    let sid = std::fs::read_to_string(format!("/proc/{sup}/stat")).unwrap();
    let fields: Vec<&str> = sid.rsplit(')').next().unwrap().split_whitespace().collect();
    assert_eq!(
        fields[3],
        sup.to_string(),
        "the supervisor leads its own session"
    );
    assert_eq!(fields[4], "0", "no controlling terminal");

    let outcome = codex_meta::wait_for(
        std::path::Path::new(&meta_path),
        Some(Duration::from_secs(20)),
    )
    .unwrap();
    let _ = outcome;
    let m = env.meta();
    assert_eq!(m["status"], "succeeded");
    assert_eq!(m["session_id"], "01a20a11-c643-7ab3-8c02-ecade433bd2a");
    assert!(std::path::Path::new(m["summary_file"].as_str().unwrap()).exists());
}

#[test]
fn hundred_detached_runs_in_one_dir_get_distinct_files() {
    let env = Env::new();
    env.fake(Fake::default());
    let children: Vec<_> = (0..100)
        .map(|i| {
            env.cmd()
                .args(["--task", &format!("task {i}"), "--detach"])
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut metas = std::collections::BTreeSet::new();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success());
        metas.insert(kv(&String::from_utf8(out.stdout).unwrap(), "meta_file").unwrap());
    }
    assert_eq!(metas.len(), 100);
    let mut tasks = std::collections::BTreeSet::new();
    for m in &metas {
        codex_meta::wait_for(std::path::Path::new(m), Some(Duration::from_secs(60))).unwrap();
        let meta = codex_meta::read_meta(std::path::Path::new(m)).unwrap();
        assert_eq!(meta.status, Some(codex_meta::Status::Succeeded), "{m}");
        tasks.insert(meta.task.unwrap());
    }
    assert_eq!(tasks.len(), 100);
    let logs = std::fs::read_dir(env.runs())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "log")
        })
        .count();
    assert_eq!(logs, 100);
}

/// A script's `&` leaves SIGINT ignored in what it starts. codex must not inherit that:
/// a SIGINT forwarded by the supervisor ends codex at once (exit 130), not by SIGKILL
/// after the grace period.
#[test]
fn a_sigint_the_caller_ignored_still_ends_codex_at_once() {
    let env = Env::new();
    env.fake(Fake {
        after: "sleep 30 & wait",
        ..Fake::default()
    });
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg(format!(
            "trap '' INT; exec '{}' --repo '{}' --task t -q --kill-grace 20s",
            BIN,
            env.repo().display()
        ))
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", env.path())
        .env("CODEX_RUNS_DIR", env.runs())
        .env("CODEX_BIN", env.fake_path())
        .current_dir(env.path())
        .stdout(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let codex = env.codex_pid();
    assert!(wait_until(Duration::from_secs(10), || {
        env.meta()["session_id"].is_string()
    }));
    let start = Instant::now();
    kill(child.id(), "INT");
    let status = child.wait().unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "codex only died by SIGKILL after the grace: {:?}",
        start.elapsed()
    );
    assert_eq!(status.code(), Some(130));
    assert!(!alive(codex));
    let m = env.meta();
    assert_eq!(m["status"], "killed");
    assert_eq!(m["signal"], "SIGINT");
}
