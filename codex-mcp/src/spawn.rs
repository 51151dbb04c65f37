//! `spawn`: a run is started by the `codex-spawn` binary, never by a fork inside the
//! async server (a fork of a multi-threaded process may only exec; codex-spawn's
//! supervisor must be an ordinary process of its own).
//!
//! The tool's arguments become codex-spawn's argv — a vector, never a shell line — with
//! `--detach --json` (or `--detach=session`, whose run lines come before the session
//! line, when the caller waits for the session id) and the server's `--runs-dir`;
//! codex-spawn prints its run line(s) before codex starts and exits, the run goes on in
//! its own session. A call that ends early (cancelled, out of time) never kills
//! codex-spawn: what it said of the run so far is returned. A task too large
//! for argv (or `-`) goes on codex-spawn's stdin (`--task -`). When codex-spawn refuses
//! the request (exit 2: no run is created), the tool error is its stderr line. When a
//! run was created, its id is always returned, even when codex-spawn then said
//! something went wrong (`note`): a bad request never loses a run.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

use codex_spawn::cli::Args;
use codex_spawn::config::DEFAULT_DETACH_TIMEOUT;

use crate::error::{ToolError, one_line};
use crate::params::SpawnParams;

/// The largest task passed in argv; a longer one goes on codex-spawn's stdin (Linux
/// caps one argument at 128 KiB).
const ARGV_TASK_MAX: usize = 32 * 1024;

/// How long codex-spawn may take to print its run line and exit, beyond the time it
/// waits for a session id (it probes codex's version once per binary).
const LAUNCH_GRACE: Duration = Duration::from_secs(60);

/// What to run: codex-spawn's arguments, and what goes on its stdin.
#[derive(Debug, PartialEq)]
pub struct Launch {
    pub args: Vec<OsString>,
    pub stdin: Option<Vec<u8>>,
    /// The longest codex-spawn may take (`--detach=session` waits for codex).
    pub limit: Duration,
    pub wait_for_session: bool,
}

/// Map the tool's arguments onto a launch request, and that onto codex-spawn's argv
/// (see the module docs).
pub fn launch(p: &SpawnParams, runs_dir: &Path) -> Result<Launch, ToolError> {
    let dur = |name: &str, d: &Option<crate::params::Duration>| {
        d.as_ref()
            .map(|d| {
                d.to_arg()
                    .map_err(|e| ToolError::bad_args(format!("{name}: {e}")))
            })
            .transpose()
    };
    let mut stdin = None;
    let task = p.task.as_ref().map(|task| {
        if task == "-" || task.len() > ARGV_TASK_MAX {
            stdin = Some(task.as_bytes().to_vec());
            "-".to_owned()
        } else {
            task.clone()
        }
    });
    let wait_for_session = p.wait_for_session.unwrap_or(false);
    let detach_timeout = dur("session_timeout", &p.session_timeout)?;
    let session_wait = match &detach_timeout {
        Some(text) => codex_meta::parse_duration(text)
            .map_err(|e| ToolError::bad_args(format!("session_timeout: {e}")))?,
        None if wait_for_session => DEFAULT_DETACH_TIMEOUT,
        None => Duration::ZERO,
    };
    let request = Args {
        repo: Some(PathBuf::from(&p.repo)),
        task,
        task_file: p.task_file.as_ref().map(PathBuf::from),
        resume: p.resume.clone(),
        verify: p.verify.clone(),
        max_attempts: p.max_attempts,
        verify_timeout: dur("verify_timeout", &p.verify_timeout)?,
        timeout: dur("timeout", &p.timeout)?,
        stall_timeout: dur("stall_timeout", &p.stall_timeout)?,
        max_cost: p.max_cost_usd,
        max_tokens: p.max_tokens,
        max_running: p.max_running,
        queue: p.queue.clone(),
        after: p.after.clone().unwrap_or_default(),
        base: p.base.clone(),
        branch: p.branch.clone(),
        detach_timeout,
        runs_dir: Some(runs_dir.to_path_buf()),
        worktree: p.worktree.unwrap_or(false),
        keep_worktree: p.keep_worktree.unwrap_or(false),
        // --detach=session without --json: the run lines come at once and the session
        // line when codex names it (with --json the one object would wait for it, and a
        // call cut short would know no run)
        detach: Some(if wait_for_session { "session" } else { "now" }.to_owned()),
        json: !wait_for_session,
        codex_args: p.codex_args.iter().flatten().map(OsString::from).collect(),
        ..Args::default()
    };
    Ok(Launch {
        args: request.to_argv(),
        stdin,
        limit: if wait_for_session {
            session_wait + LAUNCH_GRACE
        } else {
            LAUNCH_GRACE
        },
        wait_for_session,
    })
}

/// Run codex-spawn (`bin`) as `launch` says, with `CODEX_RUNS_DIR` set to `runs_dir`,
/// and turn what it printed into the tool's result.
pub async fn run(
    bin: &Path,
    launch: Launch,
    runs_dir: &Path,
) -> Result<Map<String, Value>, ToolError> {
    let cannot = |e: std::io::Error| {
        ToolError::Spawn(format!("cannot run codex-spawn ({}): {e}", bin.display()))
    };
    // Never killed when the call ends early (the client cancels it, the time is up):
    // codex-spawn may be past the point where the run exists, and a run is never lost.
    let mut child = tokio::process::Command::new(bin)
        .args(&launch.args)
        .env("CODEX_RUNS_DIR", runs_dir)
        // the server's own stdin and stdout are the MCP channel: never inherited
        .stdin(if launch.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(cannot)?;
    if let (Some(bytes), Some(mut pipe)) = (launch.stdin.as_deref(), child.stdin.take()) {
        // codex-spawn reads the whole task before it makes a file: a call that ends while
        // the task is written (the client cancels it) kills codex-spawn, which would
        // otherwise take the cut task for the whole one and start a run of it
        let mut guard = KillUnlessDone(child.id());
        let _ = pipe.write_all(bytes).await;
        drop(pipe);
        guard.0 = None; // written: codex-spawn goes on
    }
    let errors = child.stderr.take().map(|e| {
        tokio::spawn(async move {
            let mut buf = Vec::new();
            let _ = e.take(64 << 10).read_to_end(&mut buf).await;
            String::from_utf8_lossy(&buf).into_owned()
        })
    });
    let (line, ended) = read_run_lines(&mut child, launch.limit).await;
    let status = if ended {
        tokio::time::timeout(Duration::from_secs(5), child.wait())
            .await
            .ok()
            .and_then(Result::ok)
    } else {
        None
    };
    let stderr = match errors {
        Some(task) if ended => tokio::time::timeout(Duration::from_secs(1), task)
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default(),
        _ => String::new(),
    };
    let pid = child.id();
    tool_result(&launch, &line, ended, status, &stderr, pid)
}

/// The run lines as they come, until codex-spawn exits (true) or `limit` passes: the
/// run is known from the first ones, the session id (`--detach=session`) when codex
/// names it.
async fn read_run_lines(
    child: &mut tokio::process::Child,
    limit: Duration,
) -> (Map<String, Value>, bool) {
    let mut line = Map::new();
    let Some(out) = child.stdout.take() else {
        return (line, false);
    };
    let mut lines = tokio::io::BufReader::new(out.take(1 << 20)).lines();
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, lines.next_line()).await {
            Ok(Ok(Some(l))) => absorb(&l, &mut line),
            Ok(_) => return (line, true),
            Err(_) => return (line, false), // the time is up: what is known is said
        }
    }
}

/// The tool's result from what codex-spawn printed: the run, or why there is none.
fn tool_result(
    launch: &Launch,
    line: &Map<String, Value>,
    ended: bool,
    status: Option<std::process::ExitStatus>,
    stderr: &str,
    pid: Option<u32>,
) -> Result<Map<String, Value>, ToolError> {
    let said = last_line(stderr);
    if line.get("codex_run_id").is_none_or(|v| !v.is_string()) {
        return Err(ToolError::Spawn(match (said, ended, status) {
            (Some(s), _, _) => s,
            (None, true, Some(st)) => {
                format!(
                    "codex-spawn exited with {} and printed no run line",
                    describe(st)
                )
            }
            _ => format!(
                "codex-spawn printed no run line within {} s (it goes on, pid {}: its run, if any, shows in `list`)",
                launch.limit.as_secs(),
                pid.map_or_else(|| "?".to_owned(), |p| p.to_string())
            ),
        }));
    }
    let mut v = Map::new();
    for (from, to) in [
        ("codex_run_id", "run_id"),
        ("log_file", "log_file"),
        ("meta_file", "meta_file"),
    ] {
        v.insert(to.into(), line.get(from).cloned().unwrap_or(Value::Null));
    }
    if launch.wait_for_session {
        let sid = line
            .get("session_id")
            .or_else(|| line.get("codex_session_id"))
            .cloned()
            .unwrap_or(Value::Null);
        if sid.is_null() && !ended {
            v.insert(
                "note".into(),
                Value::String(format!(
                    "codex named no session within {} s; the run goes on",
                    launch.limit.as_secs()
                )),
            );
        }
        v.insert("session_id".into(), sid);
    }
    if let Some(st) = status.filter(|st| !st.success()) {
        // the run exists: say what went wrong beside its id, never instead of it
        let note = said.unwrap_or_else(|| format!("codex-spawn exited with {}", describe(st)));
        v.insert("note".into(), Value::String(note));
    }
    Ok(v)
}

/// Kills the process it names when dropped, unless its pid was taken out first.
struct KillUnlessDone(Option<u32>);

impl Drop for KillUnlessDone {
    fn drop(&mut self) {
        if let Some(pid) = self.0.and_then(|p| i32::try_from(p).ok()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// One line of codex-spawn's stdout into what is known of the run: its `--json` run
/// object, or a `key=value` run line (`codex_session_id=` comes as one of these).
fn absorb(l: &str, line: &mut Map<String, Value>) {
    if l.starts_with('{') {
        if let Ok(Value::Object(o)) = serde_json::from_str::<Value>(l)
            && o.get("codex_run_id").is_some_and(Value::is_string)
            && line.get("codex_run_id").is_none()
        {
            line.extend(o);
        }
        return;
    }
    if let Some((k, val)) = l.split_once('=')
        && matches!(
            k,
            "codex_run_id" | "log_file" | "meta_file" | "codex_session_id"
        )
        && !val.is_empty()
    {
        line.entry(k.to_owned())
            .or_insert_with(|| Value::String(val.to_owned()));
    }
}

/// The last non-empty line of codex-spawn's stderr (its one-line error), on one line.
fn last_line(stderr: &str) -> Option<String> {
    stderr
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .map(one_line)
}

fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("status {c}"),
        (None, Some(s)) => format!("signal {s}"),
        _ => "an unknown status".to_owned(),
    }
}

/// The codex-spawn to run: `explicit` (`--codex-spawn`), else the one beside this
/// executable, else `codex-spawn` looked up in PATH.
pub fn locate(explicit: Option<PathBuf>) -> PathBuf {
    if let Some(p) = explicit {
        return p;
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join("codex-spawn")))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("codex-spawn"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::Duration as Dur;

    fn strings(l: &Launch) -> Vec<String> {
        l.args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn arguments_map_onto_flags() {
        let p = SpawnParams {
            repo: "/src/app".into(),
            task: Some("fix it".into()),
            codex_args: Some(vec!["-m".into(), "gpt-5".into()]),
            verify: Some("make test".into()),
            max_attempts: Some(2),
            timeout: Some(Dur::Seconds(90.0)),
            stall_timeout: Some(Dur::Text("5m".into())),
            max_cost_usd: Some(1.5),
            worktree: Some(true),
            base: Some("main".into()),
            branch: Some("codex/x".into()),
            after: Some(vec!["a".into(), "b".into()]),
            ..SpawnParams::default()
        };
        let l = launch(&p, Path::new("/runs")).unwrap();
        assert_eq!(
            strings(&l),
            [
                "--repo",
                "/src/app",
                "--task",
                "fix it",
                "--verify",
                "make test",
                "--max-attempts",
                "2",
                "--timeout",
                "90000ms",
                "--stall-timeout",
                "5m",
                "--max-cost",
                "1.5",
                "--after",
                "a",
                "--after",
                "b",
                "--base",
                "main",
                "--branch",
                "codex/x",
                "--runs-dir",
                "/runs",
                "--worktree",
                "--detach",
                "--json",
                "--",
                "-m",
                "gpt-5",
            ]
        );
        assert_eq!(l.stdin, None);
        assert!(!l.wait_for_session);
    }

    #[test]
    fn big_tasks_go_on_stdin_and_session_waits_are_bounded() {
        let p = SpawnParams {
            repo: ".".into(),
            task: Some("x".repeat(ARGV_TASK_MAX + 1)),
            wait_for_session: Some(true),
            session_timeout: Some(Dur::Seconds(5.0)),
            ..SpawnParams::default()
        };
        let l = launch(&p, Path::new("/runs")).unwrap();
        let a = strings(&l);
        assert_eq!(&a[..4], ["--repo", ".", "--task", "-"]);
        assert!(a.contains(&"--detach=session".to_owned()), "{a:?}");
        assert!(a.contains(&"5000ms".to_owned()), "{a:?}");
        assert_eq!(l.stdin.as_ref().map(Vec::len), Some(ARGV_TASK_MAX + 1));
        assert_eq!(l.limit, Duration::from_secs(5) + LAUNCH_GRACE);
        let bad = SpawnParams {
            timeout: Some(Dur::Seconds(-1.0)),
            ..SpawnParams::default()
        };
        assert!(launch(&bad, Path::new("/r")).is_err());
    }

    #[test]
    fn the_run_lines_are_found_among_other_output() {
        let mut line = Map::new();
        for l in [
            "noise",
            "{\"other\":1}",
            "{\"codex_run_id\":\"r\",\"meta_file\":\"/m\"}",
        ] {
            absorb(l, &mut line);
        }
        assert_eq!(line["meta_file"], "/m");
        // --detach=session's key=value lines, the session line last
        let mut line = Map::new();
        for l in [
            "codex_run_id=r2",
            "log_file=/l",
            "meta_file=/m2",
            "summary_file_pending=/s",
            "codex_session_id=0199",
        ] {
            absorb(l, &mut line);
        }
        assert_eq!(
            (
                line["codex_run_id"].as_str(),
                line["codex_session_id"].as_str()
            ),
            (Some("r2"), Some("0199"))
        );
        assert!(line.get("summary_file_pending").is_none());
        assert_eq!(
            last_line("a\ncodex-spawn: --repo x: not a directory\n\n").as_deref(),
            Some("codex-spawn: --repo x: not a directory")
        );
    }
}
