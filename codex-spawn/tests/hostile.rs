//! The run under hostile conditions, each made real: a tmpfs that fills up (mounted as
//! root), a runs dir others can write, files planted in a race, a log deleted or renamed
//! over while the run goes on, endless inputs, outputs that cannot be written. Each
//! failed on the tree before the faults work; nothing here may end in a silent success.
#![allow(clippy::unwrap_used, clippy::print_stderr)] // helpers panic on purpose; skips and figures are said on stderr

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;

/// A tmpfs of `size` mounted on a temp dir (root only: CI runs as root); unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: mounting a tmpfs needs root (CI runs as root)");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let ok = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .status()
            .unwrap()
            .success();
        assert!(ok, "mount -t tmpfs failed (as root)");
        Some(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fill it up, leaving about `left` bytes free.
    fn fill(&self, left: u64) {
        let st = nix::sys::statvfs::statvfs(self.path()).unwrap();
        let free = st.blocks_available() as u64 * st.fragment_size() as u64;
        let f = std::fs::File::create(self.path().join("filler")).unwrap();
        use std::io::Write;
        let mut w = std::io::BufWriter::new(f);
        let chunk = vec![b'x'; 4096];
        let mut n = 0u64;
        while n + 4096 <= free.saturating_sub(left) {
            if w.write_all(&chunk).is_err() {
                break;
            }
            n += 4096;
        }
        let _ = w.flush();
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The runs dir fills up while codex prints 8 MiB: codex is never blocked (it runs to its
/// end), the log keeps what fit, and the run ends with a final meta that says so, a
/// summary, exit 125 and one line on stderr.
#[test]
fn a_disk_that_fills_during_the_run_ends_with_a_final_meta_and_exit_125() {
    let Some(fs) = Tmpfs::mount("3m") else { return };
    let env = Env::new();
    env.fake(Fake {
        after: "head -c 8388608 /dev/zero | tr '\\000' 'y'; echo; echo codex-done > \"$PWD/../codex.done\"",
        ..Fake::default()
    });
    let runs = fs.path().join("runs");
    let start = Instant::now();
    let out = env
        .cmd()
        .env("CODEX_RUNS_DIR", &runs)
        .args(["--task", "t", "-q"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(125), "{stderr}");
    assert!(start.elapsed() < Duration::from_secs(30));
    assert!(
        stderr.contains("the log is incomplete") && stderr.contains("No space left"),
        "{stderr}"
    );
    let metas: Vec<PathBuf> = std::fs::read_dir(&runs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".meta.json"))
        .collect();
    assert_eq!(metas.len(), 1);
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(&metas[0]).unwrap()).unwrap();
    assert_eq!(m["status"], "failed", "{m:#}");
    assert_eq!(m["exit_code"], 125);
    assert_eq!(m["log_truncated"], true);
    assert!(
        m["outcome_reason"]
            .as_str()
            .unwrap()
            .contains("log is incomplete")
    );
    assert!(m["warnings"].as_array().is_some_and(|w| !w.is_empty()));
    // codex itself succeeded: its attempt says so
    assert_eq!(m["attempts"][0]["status"], "succeeded");
    let summary = PathBuf::from(m["summary_file"].as_str().unwrap());
    let s: serde_json::Value = serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    assert_eq!(s["status"], "failed");
    // the log is a prefix of codex's output, then the note and the closing lines
    let log = std::fs::read(m["log_file"].as_str().unwrap()).unwrap();
    let text = String::from_utf8_lossy(&log);
    assert!(
        text.contains("codex-spawn: the log is incomplete"),
        "{}",
        &text[text.len().saturating_sub(2000)..]
    );
    assert!(
        text.trim_end()
            .lines()
            .last()
            .unwrap()
            .starts_with("summary_json=")
    );
    // no temporary files left
    assert!(
        names(&runs).iter().all(|n| !n.ends_with(".partial")),
        "{:?}",
        names(&runs)
    );
}

/// A disk already full at start: exit 125 with a clear line, codex never started, and
/// no file left behind.
#[test]
fn a_disk_full_at_start_is_exit_125_with_nothing_left_behind() {
    let Some(fs) = Tmpfs::mount("1m") else { return };
    let runs = fs.path().join("runs");
    std::fs::create_dir(&runs).unwrap();
    fs.fill(8 * 1024);
    let env = Env::new();
    env.fake(Fake::default());
    let out = env
        .cmd()
        .env("CODEX_RUNS_DIR", &runs)
        .args(["--task", "t"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(125), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("disk is full") && stderr.contains(&runs.display().to_string()),
        "{stderr}"
    );
    assert!(
        out.stdout.is_empty(),
        "no run lines for a run that did not start"
    );
    assert!(names(&runs).is_empty(), "{:?}", names(&runs));
    assert!(!env.path().join("codex.pid").exists(), "codex was started");
}

#[test]
fn a_runs_dir_others_can_write_is_refused_before_codex_starts() {
    let env = Env::new();
    env.fake(Fake::default());
    std::fs::create_dir(env.runs()).unwrap();
    std::fs::set_permissions(env.runs(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = env.cmd().args(["--task", "t"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(125), "{stderr}");
    assert!(stderr.contains("unsafe runs dir"), "{stderr}");
    assert!(names(&env.runs()).is_empty());
    assert!(!env.path().join("codex.pid").exists());
}

/// A value with a newline (a queue name, a path) never makes the error two lines
/// (codex-mcp, a script, a log reader take its one line).
#[test]
fn an_error_naming_a_value_with_a_newline_is_one_line() {
    let env = Env::new();
    env.fake(Fake::default());
    for args in [
        &["--queue", "x\ny", "--max-running", "1", "--task", "t"][..],
        &["--task-file", "/nonexistent\nline2"][..],
    ] {
        let out = env.cmd().args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains("\\n"), "{stderr}");
    }
}

/// An attacker who can write the (sticky, world-writable) runs dir plants a symlink to a
/// secret under the run's last-message name the instant its log appears. The run never
/// writes or reads through it: it takes another id, and its summary prints no secret.
#[test]
#[cfg(target_os = "linux")] // the attacker uses inotify
fn symlinks_planted_in_a_race_are_never_followed() {
    let env = Env::new();
    env.fake(Fake::default());
    std::fs::create_dir(env.runs()).unwrap();
    std::fs::set_permissions(env.runs(), std::fs::Permissions::from_mode(0o1777)).unwrap();
    let secret = env.path().join("secret");
    std::fs::write(&secret, "TOP SECRET\n").unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // the attacker reacts to the log's creation through inotify, within microseconds
    let attacker = {
        let (runs, secret, stop) = (env.runs(), secret.clone(), stop.clone());
        use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
        let ino = Inotify::init(InitFlags::IN_NONBLOCK).unwrap();
        ino.add_watch(&runs, AddWatchFlags::IN_CREATE).unwrap();
        std::thread::spawn(move || {
            let mut planted = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let Ok(events) = ino.read_events() else {
                    std::thread::yield_now();
                    continue;
                };
                for ev in events {
                    let name = ev
                        .name
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    if let Some(stem) = name.strip_suffix(".log") {
                        let lm = runs.join(format!("{stem}.last-message.txt"));
                        if std::os::unix::fs::symlink(&secret, &lm).is_ok() {
                            planted += 1;
                        }
                    }
                }
            }
            planted
        })
    };
    for _ in 0..10 {
        let out = env.cmd().args(["--task", "t"]).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(!stdout.contains("TOP SECRET"), "{stdout}");
        // codex's -o names a regular file of the run, never a symlink
        let argv = env.argv();
        let o = argv
            .iter()
            .position(|a| a == "--output-last-message")
            .unwrap();
        let lm = PathBuf::from(&argv[o + 1]);
        let meta = std::fs::symlink_metadata(&lm).unwrap();
        assert!(meta.is_file(), "{} is not a regular file", lm.display());
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let planted = attacker.join().unwrap();
    eprintln!("the attacker planted {planted} symlinks in 10 runs");
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "TOP SECRET\n");
}

/// Deleting or renaming over a live run's log does not make it `lost`: the supervisor's
/// pid and start time (the second witness) keep it `running`, and a waiter waits for the
/// real end (exit 0), not 125 at once.
#[test]
fn a_deleted_or_replaced_log_leaves_the_run_running_and_wait_waits() {
    for replace in [false, true] {
        let env = Env::new();
        env.fake(Fake {
            after: "sleep 2",
            ..Fake::default()
        });
        let mut child = env
            .cmd()
            .args(["--task", "t", "-q"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        env.codex_pid();
        let meta_path = env.meta_path();
        let log = PathBuf::from(env.meta()["log_file"].as_str().unwrap());
        if replace {
            let other = env.runs().join("rotated");
            std::fs::write(&other, "someone else's file\n").unwrap();
            std::fs::rename(&other, &log).unwrap();
        } else {
            std::fs::remove_file(&log).unwrap();
        }
        let meta = codex_meta::read_meta(&meta_path).unwrap();
        assert_eq!(
            codex_meta::effective_status_at(&meta, Some(&meta_path)),
            codex_meta::Status::Running,
            "replace={replace}"
        );
        let start = Instant::now();
        let out = codex_meta::wait_for(&meta_path, Some(Duration::from_secs(30))).unwrap();
        assert!(!out.timed_out);
        assert_eq!(
            out.status,
            codex_meta::Status::Succeeded,
            "replace={replace}"
        );
        assert_eq!(out.exit_code(), 0);
        assert!(
            start.elapsed() >= Duration::from_millis(500),
            "{:?}",
            start.elapsed()
        );
        assert_eq!(child.wait().unwrap().code(), Some(0));
    }
}

#[test]
fn a_task_that_never_ends_is_refused_quickly() {
    let env = Env::new();
    env.fake(Fake::default());
    let start = Instant::now();
    let out = env
        .cmd()
        .args(["--task-file", "/dev/zero"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("/dev/zero") && stderr.contains("larger than 16 MiB"),
        "{stderr}"
    );
    let out = env
        .cmd()
        .args(["--task", "-"])
        .stdin(std::fs::File::open("/dev/zero").unwrap())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("more than 16 MiB"));
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
    assert!(!env.runs().exists() || names(&env.runs()).is_empty());
}

/// What codex-spawn was asked to write and could not is said on stderr (also with
/// --quiet) and in the meta's warnings, and a run that succeeded exits 125.
#[test]
fn json_out_and_event_stream_that_cannot_be_written_are_never_silent() {
    let env = Env::new();
    env.fake(Fake::default());
    let out = env
        .cmd()
        .args(["--task", "t", "-q"])
        .args(["--json-out", "/nonexistent/o.json"])
        .args(["--event-stream", "/nonexistent/e.jsonl"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(125), "{stderr}");
    assert!(stderr.contains("/nonexistent/o.json"), "{stderr}");
    assert!(stderr.contains("/nonexistent/e.jsonl"), "{stderr}");
    let m = env.meta();
    assert_eq!(m["status"], "succeeded", "the run itself succeeded");
    let w = m["warnings"].to_string();
    assert!(
        w.contains("/nonexistent/o.json") && w.contains("/nonexistent/e.jsonl"),
        "{w}"
    );
}

#[test]
fn codex_missing_or_not_executable_is_said_on_stderr_even_quiet() {
    let env = Env::new();
    let out = env
        .cmd()
        .env("CODEX_BIN", env.path().join("no-such-codex"))
        .args(["--task", "t", "-q"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(127));
    assert!(
        stderr.contains("no-such-codex") && stderr.contains("not found"),
        "{stderr}"
    );
    let plain = env.path().join("plain-file");
    std::fs::write(&plain, "not a program").unwrap();
    let out = env
        .cmd()
        .env("CODEX_BIN", &plain)
        .args(["--task", "t", "-q"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(126));
    assert!(stderr.contains("plain-file"), "{stderr}");
}

#[test]
fn stdout_on_a_full_device_is_an_error_not_a_silent_success() {
    let env = Env::new();
    env.fake(Fake::default());
    for detach in [false, true] {
        let mut cmd = env.cmd();
        cmd.args(["--task", "t"]).stdout(
            std::fs::OpenOptions::new()
                .write(true)
                .open("/dev/full")
                .unwrap(),
        );
        if detach {
            cmd.arg("--detach");
        }
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(125), "detach={detach}: {stderr}");
        assert!(stderr.contains("No space left on device"), "{stderr}");
        assert!(
            stderr.contains(".meta.json") || stderr.contains("run "),
            "{stderr}"
        );
    }
}

#[cfg(target_os = "linux")]
fn proc_state(pid: i32) -> Option<String> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    s.rsplit(')')
        .next()?
        .split_whitespace()
        .next()
        .map(str::to_owned)
}

#[cfg(target_os = "linux")]
fn children_of(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(p) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(s) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        let ppid: Option<i32> = s
            .rsplit(')')
            .next()
            .and_then(|r| r.split_whitespace().nth(1))
            .and_then(|x| x.parse().ok());
        if ppid == Some(pid) {
            out.push(p);
        }
    }
    out
}

/// A keeper holds nothing of the supervisor's but its own pipes: not the log, not the
/// run lock, not another child's pipes (which would keep them open, or the run alive).
#[test]
#[cfg(target_os = "linux")]
fn a_keeper_holds_no_descriptor_of_the_supervisor() {
    let env = Env::new();
    env.fake(Fake {
        after: "sleep 30 & wait",
        ..Fake::default()
    });
    let mut child = env
        .cmd()
        .args([
            "--task",
            "t",
            "-q",
            "--notify-cmd",
            "sleep 20",
            "--notify-timeout",
            "1s",
        ])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    env.codex_pid();
    std::thread::sleep(Duration::from_millis(200));
    let keepers = children_of(child.id() as i32);
    assert!(
        keepers.len() >= 2,
        "a notify keeper and codex's: {keepers:?}"
    );
    for k in keepers {
        let fds: Vec<String> = std::fs::read_dir(format!("/proc/{k}/fd"))
            .unwrap()
            .flatten()
            .filter_map(|e| std::fs::read_link(e.path()).ok())
            .map(|p| p.display().to_string())
            .collect();
        assert!(
            fds.iter().all(|f| !f.contains("codex-run-")),
            "keeper {k} holds a run file: {fds:?}"
        );
        // 0-2, stdin/stdout(/stderr), status, control, its SIGCHLD descriptor
        assert!(
            fds.len() <= 9,
            "keeper {k} holds {} descriptors: {fds:?}",
            fds.len()
        );
    }
    kill_term(child.id());
    child.wait().unwrap();
}

fn kill_term(pid: u32) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
}

/// Once codex exits, its zombie is kept until the keeper's very end: its pid (the id of
/// the process group the keeper kills last) is never given to another process meanwhile.
#[test]
#[cfg(target_os = "linux")]
fn codex_exited_keeps_its_pid_until_the_run_is_cleaned_up() {
    let env = Env::new();
    env.fake(Fake {
        after: "(sleep 0.4; echo bg; sleep 0.4; echo bg2) &",
        ..Fake::default()
    });
    let mut child = env
        .cmd()
        .args(["--task", "t", "-q"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let codex = env.codex_pid();
    let mut saw_zombie = false;
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(10) {
        match proc_state(codex).as_deref() {
            Some("Z") => {
                saw_zombie = true;
                break;
            }
            None => break,
            _ => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    assert!(
        saw_zombie,
        "codex's pid was released while its run was still being drained"
    );
    assert_eq!(child.wait().unwrap().code(), Some(0));
    assert!(proc_state(codex).is_none(), "reaped at the end");
}

/// A SIGTERM that comes while codex's pipe is drained (codex has exited, a background
/// child still writes) stops the run before the check: no check, no resumed attempt.
#[test]
fn a_signal_during_the_drain_stops_the_run_before_the_check() {
    let env = Env::new();
    env.fake(Fake {
        after: &format!(
            "touch '{}/codex.exited'; (sleep 1; echo late) &",
            env.path().display()
        ),
        ..Fake::default()
    });
    let marker = env.path().join("check.ran");
    let mut child = env
        .cmd()
        .args(["--task", "t", "-q", "--max-attempts", "3"])
        .args(["--verify", &format!("touch '{}'; false", marker.display())])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    assert!(wait_until(Duration::from_secs(10), || env
        .path()
        .join("codex.exited")
        .exists()));
    std::thread::sleep(Duration::from_millis(100));
    kill_term(child.id());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(143));
    assert!(!marker.exists(), "the check ran after the signal");
    let m = env.meta();
    assert_eq!(m["status"], "killed", "{m:#}");
    assert_eq!(m["attempts"].as_array().map(Vec::len), Some(1));
}

/// Node.js parents leave stdout non-blocking: a full pipe is no failure, codex-spawn
/// waits for room like a blocking write would.
#[test]
fn a_non_blocking_stdout_is_waited_for_not_a_failure() {
    let env = Env::new();
    env.fake(Fake {
        after: "i=0; while [ $i -lt 20000 ]; do echo \"line $i of a lot of output\"; i=$((i+1)); done",
        ..Fake::default()
    });
    let (r, w) = nix::unistd::pipe().unwrap();
    let flags = nix::fcntl::OFlag::from_bits_truncate(
        nix::fcntl::fcntl(&w, nix::fcntl::FcntlArg::F_GETFL).unwrap(),
    );
    nix::fcntl::fcntl(
        &w,
        nix::fcntl::FcntlArg::F_SETFL(flags | nix::fcntl::OFlag::O_NONBLOCK),
    )
    .unwrap();
    let mut child = env
        .cmd()
        .args(["--task", "t"])
        .stdout(Stdio::from(w))
        .spawn()
        .unwrap();
    // a slow reader: the pipe fills again and again
    let reader = std::thread::spawn(move || {
        use std::io::Read;
        let mut f = std::fs::File::from(r);
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            std::thread::sleep(Duration::from_micros(200));
            match f.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => all.extend_from_slice(&buf[..n]),
            }
        }
        all
    });
    let status = child.wait().unwrap();
    let out = String::from_utf8_lossy(&reader.join().unwrap()).into_owned();
    assert_eq!(
        status.code(),
        Some(0),
        "{}",
        &out[out.len().saturating_sub(500)..]
    );
    assert!(out.contains("line 19999 of a lot of output"));
    assert!(out.contains("summary_json="));
}

/// The closing lines are the last thing written; when they cannot be (the disk under
/// stdout filled up), that is a failure said on stderr, never exit 0.
#[test]
fn closing_lines_that_cannot_be_written_are_never_a_silent_success() {
    let Some(fs) = Tmpfs::mount("64k") else {
        return;
    };
    let env = Env::new();
    env.fake(Fake::default());
    let out_path = fs.path().join("stdout.txt");
    // room for the four run lines only (tmpfs counts pages: one is left), while the
    // closing lines repeat a 20 KB task in their summary
    fs.fill(1024);
    let task = "t".repeat(20_000);
    let out = env
        .cmd()
        .args(["--task", &task, "-q"])
        .stdout(std::fs::File::create(&out_path).unwrap())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let written = std::fs::read_to_string(&out_path).unwrap_or_default();
    if !written.contains("codex_run_id=") {
        eprintln!("skipped: not even the run lines fit: {stderr}");
        return;
    }
    assert!(!written.ends_with("}\n"), "the closing lines fit after all");
    assert_eq!(out.status.code(), Some(125), "{stderr}");
    assert!(
        stderr.contains("closing lines") || stderr.contains("stdout"),
        "{stderr}"
    );
}
