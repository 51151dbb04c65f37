//! End-to-end tests of the `codex-session-id` binary, mostly on the transcripts captured
//! from the real Codex CLI 0.169.0 (`tests/fixtures/codex-0.169.0`). The expected ids are
//! worked out here by a deliberately simple, different method (plain line matching, or a
//! rollout's file name) so that the tool is checked against something independent.

// helpers outside #[test] fns unwrap too: a failed fixture read is a failed test
#![allow(clippy::unwrap_used)]

use assert_cmd::Command;
use predicates::prelude::*;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// The UUIDs the fixtures plant as decoys: never a session id.
const DECOYS: [&str; 2] = [
    "123e4567-e89b-12d3-a456-426614174000",
    "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
];

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/codex-0.169.0")
}

fn bin_path() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_codex-session-id"))
}

/// The tool with a scrubbed environment, run in `dir`.
fn tool(dir: &Path) -> Command {
    let mut cmd = Command::new(bin_path());
    cmd.env_clear()
        .current_dir(dir)
        .timeout(Duration::from_secs(30));
    cmd
}

/// Ids by the obvious method: a line that, without `ESC[1m`/`ESC[0m` and the CR, starts
/// with `session id: `, or a line starting with the thread.started event.
fn simple_ids(text: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for line in text.lines() {
        let line = line
            .replace("\x1b[1m", "")
            .replace("\x1b[0m", "")
            .trim_end_matches('\r')
            .to_owned();
        let id = if let Some(id) = line.strip_prefix("session id: ") {
            id.to_owned()
        } else if let Some(rest) = line.strip_prefix(r#"{"type":"thread.started","thread_id":""#) {
            rest.trim_end_matches("\"}").to_owned()
        } else {
            continue;
        };
        assert_eq!(id.len(), 36, "{line:?}");
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    ids
}

fn transcripts() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("log" | "stderr" | "stdout")
            )
        })
        .collect();
    files.sort();
    assert!(files.len() >= 30, "fixtures missing: {files:?}");
    files
}

fn rollouts() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![fixtures().join("codex-home/sessions")];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "jsonl") {
                out.push(path);
            }
        }
    }
    out.sort();
    assert!(out.len() >= 10);
    out
}

fn stdout_of(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn no_decoys(out: &str) {
    for decoy in DECOYS {
        assert!(!out.contains(decoy), "decoy printed: {out}");
    }
}

#[test]
fn every_fixture_transcript_agrees_with_the_simple_method() {
    let dir = TempDir::new().unwrap();
    let mut with_id = 0;
    for file in transcripts() {
        let text = fs::read_to_string(&file).unwrap();
        let want = simple_ids(&text);
        for (flag, expect) in [
            (None, want.first().map(|id| format!("{id}\n"))),
            (Some("--last"), want.last().map(|id| format!("{id}\n"))),
            (
                Some("--all"),
                (!want.is_empty()).then(|| want.iter().map(|id| format!("{id}\n")).collect()),
            ),
        ] {
            let mut cmd = tool(dir.path());
            cmd.arg(&file);
            cmd.args(flag);
            let (code, out, err) = stdout_of(&mut cmd);
            no_decoys(&out);
            match expect {
                Some(expect) => {
                    assert_eq!(
                        (code, out.as_str()),
                        (0, expect.as_str()),
                        "{file:?} {flag:?}: {err}"
                    )
                }
                None => assert_eq!((code, out.as_str()), (1, ""), "{file:?} {flag:?}: {err}"),
            }
        }
        with_id += usize::from(!want.is_empty());
    }
    assert!(with_id >= 15, "too few fixtures with an id: {with_id}");
}

#[test]
fn rollouts_give_the_id_in_their_file_name() {
    let dir = TempDir::new().unwrap();
    for file in rollouts() {
        let name = file.file_name().unwrap().to_str().unwrap();
        let id = &name[name.len() - ".jsonl".len() - 36..name.len() - ".jsonl".len()];
        tool(dir.path())
            .arg(&file)
            .assert()
            .success()
            .stdout(format!("{id}\n"));
        tool(dir.path())
            .arg("--all")
            .arg(&file)
            .assert()
            .success()
            .stdout(format!("{id}\n"));
    }
}

#[test]
fn crlf_uppercase_and_tabs() {
    let dir = TempDir::new().unwrap();
    let text = fs::read_to_string(fixtures().join("new-human-color.log")).unwrap();
    let id = simple_ids(&text).remove(0);
    let variants = [
        ("crlf.log", text.replace('\n', "\r\n")),
        ("cr.log", text.replace('\n', "\r")),
        ("upper.log", text.to_uppercase()),
        (
            "tabs.log",
            text.replace("session id:\x1b[0m ", "\t session\t id:\x1b[0m\t \t"),
        ),
        (
            "plain-tabs.log",
            fs::read_to_string(fixtures().join("new-human.log"))
                .unwrap()
                .replace("session id: ", "session \tid:\t")
                .replace(
                    simple_ids(&fs::read_to_string(fixtures().join("new-human.log")).unwrap())[0]
                        .as_str(),
                    &id,
                ),
        ),
    ];
    for (name, body) in variants {
        fs::write(dir.path().join(name), &body).unwrap();
        let (code, out, err) = stdout_of(tool(dir.path()).arg(name));
        assert_eq!(
            (code, out.as_str()),
            (0, format!("{id}\n").as_str()),
            "{name}: {err}"
        );
        let (_, all, _) = stdout_of(tool(dir.path()).args(["--all", name]));
        assert_eq!(all, format!("{id}\n"), "{name}");
        no_decoys(&all.to_lowercase());
    }
}

#[test]
fn resumed_log_first_last_all() {
    let dir = TempDir::new().unwrap();
    // a run, then a resumed run of another session appended to the same log
    let first = fs::read_to_string(fixtures().join("new-human.log")).unwrap();
    let second = fs::read_to_string(fixtures().join("tool-json.log")).unwrap();
    let third = fs::read_to_string(fixtures().join("new-human.log")).unwrap();
    let a = simple_ids(&first).remove(0);
    let b = simple_ids(&second).remove(0);
    assert_ne!(a, b);
    fs::write(
        dir.path().join("run.log"),
        format!("{first}{second}{third}"),
    )
    .unwrap();
    tool(dir.path())
        .arg("run.log")
        .assert()
        .success()
        .stdout(format!("{a}\n"));
    tool(dir.path())
        .args(["--last", "run.log"])
        .assert()
        .success()
        .stdout(format!("{a}\n"));
    tool(dir.path())
        .args(["--all", "run.log"])
        .assert()
        .success()
        .stdout(format!("{a}\n{b}\n"));
    // across files: one stream per file, in order
    fs::write(dir.path().join("b.log"), &second).unwrap();
    fs::write(dir.path().join("a.log"), &first).unwrap();
    tool(dir.path())
        .args(["b.log", "a.log"])
        .assert()
        .success()
        .stdout(format!("{b}\n"));
    tool(dir.path())
        .args(["--last", "b.log", "a.log"])
        .assert()
        .success()
        .stdout(format!("{a}\n"));
}

#[test]
fn spawn_closing_lines() {
    let dir = TempDir::new().unwrap();
    let id = "01a20a11-c891-7691-9716-0a912243e201";
    fs::write(
        dir.path().join("spawn.out"),
        format!(
            "codex_run_id=20261123-195751-9f3ac2\nlog_file=/r/codex-run-x.log\ncodex_run_id=20261123-195751-9f3ac2\ncodex_exit_code=0\nelapsed_seconds=3\ncodex_session_id={id}\nsummary_json={{\"session_id\":\"{}\"}}\n",
            DECOYS[0]
        ),
    )
    .unwrap();
    tool(dir.path())
        .args(["--all", "spawn.out"])
        .assert()
        .success()
        .stdout(format!("{id}\n"));
    fs::write(
        dir.path().join("empty.out"),
        "codex_exit_code=1\ncodex_session_id=\ncodex_session_id=-\nx codex_session_id=01a20a11-c891-7691-9716-0a912243e201\n",
    )
    .unwrap();
    tool(dir.path())
        .arg("empty.out")
        .assert()
        .code(1)
        .stdout("");
}

#[test]
fn missing_file_is_exit_2_with_one_line() {
    let dir = TempDir::new().unwrap();
    tool(dir.path())
        .arg("x.log")
        .assert()
        .code(2)
        .stdout("")
        .stderr("codex-session-id: cannot read 'x.log': No such file or directory\n");
    // other files are still read, the error still decides the status
    fs::copy(fixtures().join("new-human.log"), dir.path().join("ok.log")).unwrap();
    let id = simple_ids(&fs::read_to_string(dir.path().join("ok.log")).unwrap()).remove(0);
    tool(dir.path())
        .args(["x.log", "ok.log"])
        .assert()
        .code(2)
        .stdout(format!("{id}\n"))
        .stderr(predicate::str::contains("'x.log'"));
    // a directory can't be read either
    tool(dir.path())
        .arg(".")
        .assert()
        .code(2)
        .stderr(predicate::str::starts_with(
            "codex-session-id: cannot read '.': ",
        ));
}

#[test]
fn no_id_is_exit_1() {
    let dir = TempDir::new().unwrap();
    tool(dir.path())
        .arg(fixtures().join("resume-notask-json.log"))
        .assert()
        .code(1)
        .stdout("")
        .stderr("");
    fs::write(dir.path().join("empty"), "").unwrap();
    tool(dir.path()).arg("empty").assert().code(1).stdout("");
}

#[test]
fn usage_errors_are_exit_2() {
    let dir = TempDir::new().unwrap();
    tool(dir.path()).args(["--last", "--all"]).assert().code(2);
    tool(dir.path()).args(["--timeout", "1s"]).assert().code(2);
    tool(dir.path())
        .args(["--follow", "--timeout", "soon"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("invalid duration 'soon'"));
    tool(dir.path())
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("--follow"));
}

#[test]
fn stdin_and_dash() {
    let dir = TempDir::new().unwrap();
    let text = fs::read(fixtures().join("tool-human.log")).unwrap();
    let id = simple_ids(&String::from_utf8_lossy(&text)).remove(0);
    tool(dir.path())
        .write_stdin(text.clone())
        .assert()
        .success()
        .stdout(format!("{id}\n"));
    tool(dir.path())
        .args(["--last", "-"])
        .write_stdin(text)
        .assert()
        .success()
        .stdout(format!("{id}\n"));
}

#[test]
fn closed_pipe_is_quiet_and_full_disk_is_an_error() {
    let dir = TempDir::new().unwrap();
    // 20k distinct ids: far more output than a pipe holds
    let ids: String = (0..20_000u32)
        .map(|i| format!("session id: {i:08x}-c891-7691-9716-0a912243e201\n"))
        .collect();
    fs::write(dir.path().join("ids.log"), ids).unwrap();
    let out = std::process::Command::new("/bin/bash")
        .args([
            "-c",
            r#""$0" --all ids.log | head -1 >/dev/null; exit "${PIPESTATUS[0]}""#,
        ])
        .arg(bin_path())
        .env_clear()
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    if Path::new("/dev/full").exists() {
        let full = fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let out = std::process::Command::new(bin_path())
            .arg("ids.log")
            .env_clear()
            .current_dir(dir.path())
            .stdout(full)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            "codex-session-id: cannot write standard output: No space left on device\n"
        );
    }
}

#[test]
fn binary_garbage_around_a_header() {
    let dir = TempDir::new().unwrap();
    let id = "01a20a11-c891-7691-9716-0a912243e201";
    let mut bytes: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    bytes.extend_from_slice(b"\n\0\xff\xfe\n");
    bytes.extend_from_slice(format!("session id: {id}\n").as_bytes());
    bytes.extend(std::iter::repeat_n(b'x', 3 << 20)); // a 3 MiB line without line end
    fs::write(dir.path().join("bin.log"), &bytes).unwrap();
    for flag in ["--last", "--all"] {
        tool(dir.path())
            .args([flag, "bin.log"])
            .assert()
            .success()
            .stdout(format!("{id}\n"));
    }
    tool(dir.path())
        .write_stdin(bytes)
        .assert()
        .success()
        .stdout(format!("{id}\n"));
}

/// Waits up to `limit` for `child` to exit.
fn wait_for(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[test]
fn first_id_is_printed_while_the_writer_still_runs() {
    let dir = TempDir::new().unwrap();
    let header = fs::read_to_string(fixtures().join("new-human.stderr")).unwrap();
    let id = simple_ids(&header).remove(0);
    let head: String = header.lines().take(13).map(|l| format!("{l}\n")).collect();
    fs::write(dir.path().join("head.txt"), &head).unwrap();
    let mut writer = std::process::Command::new("/bin/sh")
        .args(["-c", "cat head.txt; exec sleep 5"])
        .env_clear()
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pipe = writer.stdout.take().unwrap();
    let mut reader = std::process::Command::new(bin_path())
        .env_clear()
        .current_dir(dir.path())
        .stdin(pipe)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_for(&mut reader, Duration::from_secs(4));
    let writer_running = writer.try_wait().unwrap().is_none();
    let _ = writer.kill();
    let _ = writer.wait();
    let output = reader.wait_with_output().unwrap();
    assert!(
        status.is_some_and(|s| s.success()),
        "the tool did not finish before the writer: {status:?}"
    );
    assert!(writer_running, "the writer had already exited");
    assert_eq!(String::from_utf8_lossy(&output.stdout), format!("{id}\n"));
}

#[test]
fn follow_sees_a_header_appended_later() {
    let dir = TempDir::new().unwrap();
    let log = dir.path().join("run.log");
    let text = fs::read_to_string(fixtures().join("new-human.log")).unwrap();
    let id = simple_ids(&text).remove(0);
    let (before, after) = text.split_at(text.find("session id:").unwrap());
    fs::write(&log, before).unwrap();
    let mut child = std::process::Command::new(bin_path())
        .args(["--follow", "--timeout", "20s", "run.log"])
        .env_clear()
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(400));
    assert!(
        child.try_wait().unwrap().is_none(),
        "exited before the id was written"
    );
    let mut f = fs::OpenOptions::new().append(true).open(&log).unwrap();
    f.write_all(after.as_bytes()).unwrap();
    drop(f);
    let status = wait_for(&mut child, Duration::from_secs(10));
    let output = child.wait_with_output().unwrap();
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), format!("{id}\n"));
}

#[test]
fn follow_timeout_and_run_end() {
    let dir = TempDir::new().unwrap();
    fs::write(
        dir.path().join("quiet.log"),
        "Reading additional input from stdin...\n",
    )
    .unwrap();
    tool(dir.path())
        .args(["--follow", "--timeout", "300ms", "quiet.log"])
        .assert()
        .code(1)
        .stdout("");
    // the closing line of a codex-spawn run ends the wait even without a timeout
    fs::write(
        dir.path().join("ended.log"),
        "No prompt provided via stdin.\ncodex_exit_code=1\nelapsed_seconds=0\ncodex_session_id=\n",
    )
    .unwrap();
    tool(dir.path())
        .args(["--follow", "ended.log"])
        .timeout(Duration::from_secs(10))
        .assert()
        .code(1)
        .stdout("");
    // --follow --last reads to the run's end and prints the last id
    let a = simple_ids(&fs::read_to_string(fixtures().join("new-human.log")).unwrap()).remove(0);
    let mut body = fs::read_to_string(fixtures().join("tool-json.log")).unwrap();
    body.push_str(&format!("codex_exit_code=0\ncodex_session_id={a}\n"));
    fs::write(dir.path().join("spawn.log"), body).unwrap();
    tool(dir.path())
        .args(["--follow", "--last", "spawn.log"])
        .timeout(Duration::from_secs(10))
        .assert()
        .success()
        .stdout(format!("{a}\n"));
    // --follow on stdin with a timeout: a pipe that stays open longer than the timeout
    let mut writer = std::process::Command::new("/bin/sh")
        .args(["-c", "echo hello; exec sleep 5"])
        .env_clear()
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pipe = writer.stdout.take().unwrap();
    let mut child = std::process::Command::new(bin_path())
        .args(["--follow", "--timeout", "300ms"])
        .env_clear()
        .current_dir(dir.path())
        .stdin(pipe)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_for(&mut child, Duration::from_secs(4));
    let writer_running = writer.try_wait().unwrap().is_none();
    let _ = writer.kill();
    let _ = writer.wait();
    let _ = child.kill();
    assert_eq!(status.and_then(|s| s.code()), Some(1));
    assert!(writer_running);
}

/// Starts `codex-session-id ARGS` in `dir`, stdout piped.
fn spawn_tool(dir: &Path, args: &[&str]) -> Child {
    std::process::Command::new(bin_path())
        .args(args)
        .env_clear()
        .current_dir(dir)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

fn append(path: &Path, text: &str) {
    let mut f = fs::OpenOptions::new().append(true).open(path).unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

#[test]
fn follow_stops_when_the_run_lock_is_released() {
    // codex-spawn holds an exclusive flock on its log for the run's life; this test
    // process plays codex-spawn (the probe sees a lock held through another descriptor)
    let dir = TempDir::new().unwrap();
    let log = dir.path().join("codex-run-20261123-195751-9f3ac2.log");
    fs::write(&log, "").unwrap();
    let lock = codex_meta::RunLock::acquire_path(&log).unwrap();
    append(&log, "Reading additional input from stdin...\n");
    let name = log.file_name().unwrap().to_str().unwrap();
    let mut child = spawn_tool(dir.path(), &["--follow", name]);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "stopped while the run's lock was held"
    );
    // the run dies without a closing line: the released lock ends the follow
    append(&log, "codex\nworking...\n");
    let released = Instant::now();
    drop(lock);
    let status = wait_for(&mut child, Duration::from_secs(5));
    let output = child.wait_with_output().unwrap();
    assert_eq!(status.and_then(|s| s.code()), Some(1), "{status:?}");
    assert!(released.elapsed() < Duration::from_secs(3));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "");
}

#[test]
fn follow_last_reads_what_was_written_before_the_release() {
    let text = fs::read_to_string(fixtures().join("new-human.log")).unwrap();
    let a = simple_ids(&text).remove(0);
    let b = "01a20a11-cee4-7090-bde8-0211b8147f80";
    let dir = TempDir::new().unwrap();
    let log = dir.path().join("codex-run-x.log");
    fs::write(&log, "").unwrap();
    let lock = codex_meta::RunLock::acquire_path(&log).unwrap();
    append(&log, &text);
    let mut child = spawn_tool(dir.path(), &["--follow", "--last", "codex-run-x.log"]);
    std::thread::sleep(Duration::from_millis(300));
    assert!(child.try_wait().unwrap().is_none());
    // written in the instant before the owner lets go (a second run's header, after
    // the first one's end): still read
    append(
        &log,
        &format!("OpenAI Codex v0.169.0 (research preview)\n--------\nsession id: {b}\n--------\n"),
    );
    drop(lock);
    let status = wait_for(&mut child, Duration::from_secs(5));
    let output = child.wait_with_output().unwrap();
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), format!("{b}\n"));
    assert_ne!(a, b);
}

#[test]
fn follow_lock_rule_needs_a_run_log_or_a_lock_seen_held() {
    let dir = TempDir::new().unwrap();
    // an ended (or lost) run's log, unlocked, fully read: nothing more will come
    fs::write(dir.path().join("codex-run-lost.log"), "codex\nworking...\n").unwrap();
    let start = Instant::now();
    tool(dir.path())
        .args(["--follow", "codex-run-lost.log"])
        .timeout(Duration::from_secs(10))
        .assert()
        .code(1)
        .stdout("");
    assert!(start.elapsed() < Duration::from_secs(3));
    // a plain file is never locked: only the timeout ends the follow
    fs::write(dir.path().join("plain.log"), "codex\n").unwrap();
    let start = Instant::now();
    tool(dir.path())
        .args(["--follow", "--timeout", "700ms", "plain.log"])
        .assert()
        .code(1);
    assert!(start.elapsed() >= Duration::from_millis(700));
    // any file whose lock was seen held: its release ends the follow
    let other = dir.path().join("other.txt");
    fs::write(&other, "codex\n").unwrap();
    let lock = codex_meta::RunLock::acquire_path(&other).unwrap();
    let mut child = spawn_tool(dir.path(), &["--follow", "--timeout", "30s", "other.txt"]);
    std::thread::sleep(Duration::from_millis(400));
    assert!(child.try_wait().unwrap().is_none());
    drop(lock);
    let status = wait_for(&mut child, Duration::from_secs(5));
    let _ = child.kill();
    assert_eq!(status.and_then(|s| s.code()), Some(1), "{status:?}");
}
