//! `--follow` under faults: inputs that never end or never close (FIFOs, devices), and
//! a followed log that is truncated, renamed over, deleted and created again, or not
//! there yet — the timeout always holds, and the id is found like `tail -F` would.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ID: &str = "01a20a11-c891-7691-9716-0a912243e201";

fn follow(dir: &Path, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_codex-session-id"))
        .arg("--follow")
        .args(args)
        .env_clear()
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Wait for the child at most `limit`; kill it if it is still running. Returns its exit
/// code, stdout, and how long it took.
fn finish(mut child: Child, limit: Duration) -> (Option<i32>, String, Duration) {
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() || start.elapsed() > limit {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        start.elapsed(),
    )
}

fn header() -> String {
    format!("OpenAI Codex v0.169.0\n--------\nsession id: {ID}\n--------\n")
}

#[test]
fn the_timeout_holds_on_a_fifo_nobody_writes_and_on_an_endless_device() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    // a writer that holds the FIFO open for 8 s without writing
    let mut writer = Command::new("sh")
        .arg("-c")
        .arg(format!("exec 3>'{}'; sleep 8", fifo.display()))
        .spawn()
        .unwrap();
    let t = Instant::now();
    let (code, out, _) = finish(
        follow(dir.path(), &["--timeout", "1s", "fifo"]),
        Duration::from_secs(6),
    );
    assert_eq!(code, Some(1), "{out}");
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
    let _ = writer.kill();
    let _ = writer.wait();

    let t = Instant::now();
    let (code, _, _) = finish(
        follow(dir.path(), &["--timeout", "500ms", "/dev/zero"]),
        Duration::from_secs(6),
    );
    assert_eq!(code, Some(1));
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
}

/// Opening a FIFO blocks until a writer comes: the timeout holds even then.
#[test]
fn the_timeout_holds_on_a_fifo_no_one_ever_opens() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("lonely");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let t = Instant::now();
    let (code, _, _) = finish(
        follow(dir.path(), &["--timeout", "700ms", "lonely"]),
        Duration::from_secs(6),
    );
    assert_eq!(code, Some(1));
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
}

#[test]
fn a_fifo_written_later_gives_its_id() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let child = follow(dir.path(), &["--timeout", "20s", "fifo"]);
    let mut w = fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    w.write_all(header().as_bytes()).unwrap();
    let (code, out, _) = finish(child, Duration::from_secs(10));
    assert_eq!((code, out.as_str()), (Some(0), format!("{ID}\n").as_str()));
}

fn growing(dir: &Path) -> PathBuf {
    let p = dir.join("run.log");
    fs::write(&p, "Reading additional input from stdin...\nsome output\n").unwrap();
    p
}

#[test]
fn a_truncated_log_is_read_again_from_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let p = growing(dir.path());
    let child = follow(dir.path(), &["--timeout", "20s", "run.log"]);
    std::thread::sleep(Duration::from_millis(300));
    // truncate (copytruncate rotation), then the header arrives
    fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&p)
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    fs::OpenOptions::new()
        .append(true)
        .open(&p)
        .unwrap()
        .write_all(header().as_bytes())
        .unwrap();
    let (code, out, _) = finish(child, Duration::from_secs(10));
    assert_eq!((code, out.as_str()), (Some(0), format!("{ID}\n").as_str()));
}

#[test]
fn a_log_renamed_over_is_followed_to_the_new_file() {
    let dir = tempfile::tempdir().unwrap();
    growing(dir.path());
    let child = follow(dir.path(), &["--timeout", "20s", "run.log"]);
    std::thread::sleep(Duration::from_millis(300));
    let next = dir.path().join("run.log.new");
    fs::write(&next, header()).unwrap();
    fs::rename(&next, dir.path().join("run.log")).unwrap();
    let (code, out, _) = finish(child, Duration::from_secs(10));
    assert_eq!((code, out.as_str()), (Some(0), format!("{ID}\n").as_str()));
}

#[test]
fn a_log_deleted_and_created_again_is_followed() {
    let dir = tempfile::tempdir().unwrap();
    let p = growing(dir.path());
    let child = follow(dir.path(), &["--timeout", "20s", "run.log"]);
    std::thread::sleep(Duration::from_millis(300));
    fs::remove_file(&p).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    fs::write(&p, header()).unwrap();
    let (code, out, _) = finish(child, Duration::from_secs(10));
    assert_eq!((code, out.as_str()), (Some(0), format!("{ID}\n").as_str()));
}

#[test]
fn a_log_not_there_yet_is_waited_for_within_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let child = follow(dir.path(), &["--timeout", "20s", "later.log"]);
    std::thread::sleep(Duration::from_millis(300));
    fs::write(dir.path().join("later.log"), header()).unwrap();
    let (code, out, _) = finish(child, Duration::from_secs(10));
    assert_eq!((code, out.as_str()), (Some(0), format!("{ID}\n").as_str()));
    // never there: the timeout ends it, exit 1
    let t = Instant::now();
    let (code, _, _) = finish(
        follow(dir.path(), &["--timeout", "400ms", "never.log"]),
        Duration::from_secs(6),
    );
    assert_eq!(code, Some(1));
    assert!(t.elapsed() >= Duration::from_millis(400));
}

/// A run log whose name was deleted while its owner goes on writing through its own
/// descriptor: the follower keeps reading the file it has open (the owner's lock on it
/// says the run is alive) and finds the id written after the deletion.
#[test]
fn a_run_log_deleted_under_a_live_owner_is_still_read() {
    let dir = tempfile::tempdir().unwrap();
    let name = "codex-run-20261123-195751-9f3ac2.log";
    let p = dir.path().join(name);
    fs::write(&p, "").unwrap();
    let lock = codex_meta::RunLock::acquire_path(&p).unwrap();
    let mut w = fs::OpenOptions::new().append(true).open(&p).unwrap();
    w.write_all(b"Reading additional input from stdin...\n")
        .unwrap();
    let child = follow(dir.path(), &["--timeout", "20s", name]);
    std::thread::sleep(Duration::from_millis(300));
    fs::remove_file(&p).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    w.write_all(header().as_bytes()).unwrap();
    let (code, out, _) = finish(child, Duration::from_secs(10));
    drop(lock);
    assert_eq!((code, out.as_str()), (Some(0), format!("{ID}\n").as_str()));
}

/// A detached run as codex-spawn leaves it: its log (held, as its supervisor does, while
/// `lock` lives) and the run lines it printed — in `a.launch`, and returned.
fn detached_run(dir: &Path) -> (String, PathBuf, codex_meta::RunLock) {
    let runs = dir.join("runs");
    fs::create_dir(&runs).unwrap();
    let id = "20261201-120000-abcdef";
    let log = runs.join(format!("codex-run-{id}.log"));
    fs::write(&log, "codex-spawn 0.1.0 preamble\n").unwrap();
    let lock = codex_meta::RunLock::acquire_path(&log).unwrap();
    let lines = format!(
        "codex_run_id={id}\nlog_file={}\nmeta_file={}\nsummary_file_pending={}\n",
        log.display(),
        runs.join(format!("codex-run-{id}.meta.json")).display(),
        runs.join(format!("codex-run-{id}.summary.json")).display(),
    );
    fs::write(dir.join("a.launch"), &lines).unwrap();
    (lines, log, lock)
}

#[test]
fn a_launch_file_leads_to_its_runs_log_until_the_id_or_the_runs_end() {
    // `codex-spawn --detach > a.launch; codex-session-id --follow a.launch`: the launch
    // file never grows (it was followed until the timeout, without one forever)
    let dir = tempfile::tempdir().unwrap();
    let (_, log, lock) = detached_run(dir.path());
    let child = follow(dir.path(), &["a.launch"]);
    std::thread::sleep(Duration::from_millis(300));
    append(&log, &header());
    let (code, out, took) = finish(child, Duration::from_secs(10));
    assert_eq!((code, out.as_str()), (Some(0), format!("{ID}\n").as_str()));
    assert!(took < Duration::from_secs(5), "{took:?}");
    // the run ends without naming a session: the follow ends with it, not found
    fs::write(&log, "codex-spawn 0.1.0 preamble\n").unwrap();
    let child = follow(dir.path(), &["a.launch"]);
    std::thread::sleep(Duration::from_millis(300));
    drop(lock);
    let (code, out, took) = finish(child, Duration::from_secs(10));
    assert_eq!((code, out.as_str()), (Some(1), ""));
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[test]
fn a_closing_line_in_codex_s_output_does_not_end_a_live_runs_follow() {
    // a tool that prints a codex-spawn log (`cat` of another run's) before codex names
    // its session — a fake or old CLI, or a resumed run's output
    let dir = tempfile::tempdir().unwrap();
    let (_, log, lock) = detached_run(dir.path());
    append(&log, "codex_exit_code=0\ncodex_session_id=-\n");
    let child = follow(dir.path(), &["--timeout", "20s", "a.launch"]);
    std::thread::sleep(Duration::from_millis(800));
    append(&log, &header());
    let (code, out, _) = finish(child, Duration::from_secs(10));
    assert_eq!((code, out.as_str()), (Some(0), format!("{ID}\n").as_str()));
    drop(lock);
}

#[test]
fn a_launch_file_still_on_its_way_or_behind_a_symlink_is_one() {
    // `codex-spawn --detach > a.launch & codex-session-id --follow a.launch`: the shell
    // made the file, codex-spawn writes the run lines a moment later
    let dir = tempfile::tempdir().unwrap();
    let (lines, log, _lock) = detached_run(dir.path());
    let launch = dir.path().join("late.launch");
    fs::write(&launch, "").unwrap();
    let child = follow(dir.path(), &["--timeout", "20s", "late.launch"]);
    std::thread::sleep(Duration::from_millis(300));
    fs::write(&launch, &lines).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    append(&log, &header());
    let (code, out, _) = finish(child, Duration::from_secs(10));
    assert_eq!((code, out.as_str()), (Some(0), format!("{ID}\n").as_str()));
    // a symlink to a launch file is the caller's to name
    std::os::unix::fs::symlink("a.launch", dir.path().join("link.launch")).unwrap();
    let (code, out, _) = finish(
        follow(dir.path(), &["--timeout", "5s", "link.launch"]),
        Duration::from_secs(10),
    );
    assert_eq!((code, out.as_str()), (Some(0), format!("{ID}\n").as_str()));
    // and a symlink to a plain growing file is followed as before (tail -F)
    fs::write(dir.path().join("plain.log"), "no id yet\n").unwrap();
    std::os::unix::fs::symlink("plain.log", dir.path().join("latest.log")).unwrap();
    let (code, out, _) = finish(
        follow(dir.path(), &["--timeout", "500ms", "latest.log"]),
        Duration::from_secs(10),
    );
    assert_eq!((code, out.as_str()), (Some(1), ""));
}

#[test]
fn run_lines_on_a_pipe_lead_to_their_runs_log() {
    // `codex-spawn --detach … | codex-session-id --follow`: the pipe ends at once
    let dir = tempfile::tempdir().unwrap();
    let (lines, log, _lock) = detached_run(dir.path());
    let mut child = Command::new(env!("CARGO_BIN_EXE_codex-session-id"))
        .args(["--follow", "--timeout", "20s"])
        .env_clear()
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(lines.as_bytes())
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().unwrap().is_none(),
        "gave up at the pipe's end"
    );
    append(&log, &header());
    let (code, out, _) = finish(child, Duration::from_secs(10));
    assert_eq!((code, out.as_str()), (Some(0), format!("{ID}\n").as_str()));
}

#[test]
fn a_launch_is_followed_to_its_own_log_only() {
    let dir = tempfile::tempdir().unwrap();
    let (lines, log, _lock) = detached_run(dir.path());
    // the run lines' log_file is never taken: the log beside the meta, named after the id
    let decoy = dir.path().join("decoy.log");
    fs::write(&decoy, header()).unwrap();
    let lines = lines.replace(
        &format!("log_file={}", log.display()),
        &format!("log_file={}", decoy.display()),
    );
    fs::write(dir.path().join("b.launch"), &lines).unwrap();
    let (code, out, _) = finish(
        follow(dir.path(), &["--timeout", "1s", "b.launch"]),
        Duration::from_secs(10),
    );
    assert_eq!((code, out.as_str()), (Some(1), ""));
    // a symlink planted in the log's place is refused, not followed
    fs::remove_file(&log).unwrap();
    std::os::unix::fs::symlink(&decoy, &log).unwrap();
    let child = follow(dir.path(), &["--timeout", "5s", "a.launch"]);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("symlink is never followed") && err.lines().count() == 1,
        "{err}"
    );
    // nor when the log is named on the command line
    let out = follow(dir.path(), &["--timeout", "5s", log.to_str().unwrap()])
        .wait_with_output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("symbolic link (refused)"),
        "{out:?}"
    );
    // a runs dir others may write: its log is no witness of anything
    fs::remove_file(&log).unwrap();
    fs::write(&log, header()).unwrap();
    use std::os::unix::fs::PermissionsExt;
    let runs = log.parent().unwrap();
    fs::set_permissions(runs, fs::Permissions::from_mode(0o777)).unwrap();
    let out = follow(dir.path(), &["--timeout", "5s", "a.launch"])
        .wait_with_output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unsafe runs dir"),
        "{out:?}"
    );
    fs::set_permissions(runs, fs::Permissions::from_mode(0o700)).unwrap();
    // run lines that name another run's meta are an error, not a guess
    fs::write(
        dir.path().join("c.launch"),
        lines.replace(
            "codex_run_id=20261201-120000-abcdef",
            "codex_run_id=20261201-120000-000000",
        ),
    )
    .unwrap();
    let out = follow(dir.path(), &["--timeout", "5s", "c.launch"])
        .wait_with_output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is not run"),
        "{out:?}"
    );
}

fn append(path: &Path, text: &str) {
    let mut f = fs::OpenOptions::new().append(true).open(path).unwrap();
    f.write_all(text.as_bytes()).unwrap();
}
