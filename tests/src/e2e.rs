//! The end-to-end harness: one test's world (a temp dir with a `CODEX_HOME` pointing the
//! REAL Codex CLI at its own [`MockServer`], a git repo, a runs dir) and bounded runs of
//! the built tools in a scrubbed environment. Used by `tests/e2e_tools.rs` (the four
//! tools' happy and failure paths) and `tests/e2e_faults.rs` (kills, orphans).
#![allow(clippy::unwrap_used, clippy::new_without_default)] // a test harness fails loudly; new() starts a server

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::mock::{MockServer, ProviderTuning, Scenario, user_prompts};
use crate::real_codex::RealCodex;
use crate::tools::{RunLines, tool_path};
use serde_json::Value;

/// Longest any single tool invocation may take before the test fails.
pub const LIMIT: Duration = Duration::from_secs(60);
/// codex's option for running the mock's `exec_command` calls without prompts.
pub const BYPASS: &str = "--dangerously-bypass-approvals-and-sandbox";

/// The token fields of a summary's `token_usage` or a report row, to compare with
/// [`served`].
pub fn token_fields(v: &Value) -> Value {
    serde_json::json!({
        "input_tokens": v["input_tokens"],
        "cached_input_tokens": v["cached_input_tokens"],
        "output_tokens": v["output_tokens"],
        "reasoning_output_tokens": v["reasoning_output_tokens"],
        "total_tokens": v["total_tokens"],
    })
}

/// `calls` responses of the mock, each reporting usage (input, cached, output,
/// reasoning), as [`token_fields`] shows them (the total: input + output).
pub fn served(calls: u64, (i, c, o, r): (u64, u64, u64, u64)) -> Value {
    serde_json::json!({
        "input_tokens": calls * i,
        "cached_input_tokens": calls * c,
        "output_tokens": calls * o,
        "reasoning_output_tokens": calls * r,
        "total_tokens": calls * (i + o),
    })
}

/// A token unique to this call, so a marker found in a file can only come from this test.
pub fn tag() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{:x}{:x}{}",
        std::process::id(),
        nanos,
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// What a finished tool printed.
pub struct Out {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Out {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
}

impl std::fmt::Display for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:?} after {:?}\n--- stdout\n{}--- stderr\n{}",
            self.status, self.elapsed, self.stdout, self.stderr
        )
    }
}

fn read_all(pipe: Option<impl Read + Send + 'static>) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut buf);
        }
        let _ = tx.send(String::from_utf8_lossy(&buf).into_owned());
    });
    rx
}

/// Runs `cmd` to its end, failing the test after `limit`. With `hold_stdin` its stdin is
/// a pipe whose write end this function keeps open, unwritten, until the command ends —
/// the way agent shells start commands (the "stdin trap"); otherwise /dev/null.
pub fn run_bounded(mut cmd: Command, hold_stdin: bool, limit: Duration) -> Out {
    cmd.stdin(if hold_stdin {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let held_stdin = child.stdin.take();
    let stdout = read_all(child.stdout.take());
    let stderr = read_all(child.stderr.take());
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > limit {
            timed_out = true;
            let _ = child.kill();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let elapsed = start.elapsed();
    drop(held_stdin);
    // The output pipes close when the command ends — unless something it started kept
    // them (a detached run must not): give that a few seconds, then report it.
    let collect = |rx: mpsc::Receiver<String>| {
        rx.recv_timeout(Duration::from_secs(5))
            .unwrap_or_else(|_| "<pipe still open after the command ended>".to_owned())
    };
    let out = Out {
        status,
        stdout: collect(stdout),
        stderr: collect(stderr),
        elapsed,
    };
    assert!(!timed_out, "{cmd:?} still running after {limit:?}: {out}");
    assert!(
        !out.stdout.ends_with("after the command ended>"),
        "{cmd:?} left its stdout open: {out}"
    );
    out
}

/// One test's world: temp dir, CODEX_HOME, git repo, runs dir, mock endpoint.
pub struct E2e {
    pub dir: tempfile::TempDir,
    pub home: PathBuf,
    pub repo: PathBuf,
    pub runs: PathBuf,
    pub codex: PathBuf,
    pub server: MockServer,
}

impl E2e {
    pub fn new() -> E2e {
        E2e::tuned(&ProviderTuning::default())
    }

    /// codex's retries cut to none: an HTTP 500 fails after one request, in ~1 s.
    pub fn no_retries() -> E2e {
        E2e::tuned(&ProviderTuning {
            request_max_retries: Some(0),
            stream_max_retries: Some(0),
            ..ProviderTuning::default()
        })
    }

    pub fn tuned(tuning: &ProviderTuning) -> E2e {
        let codex = RealCodex::get().bin;
        let dir = tempfile::tempdir().unwrap();
        let (home, repo, runs) = (
            dir.path().join("codex-home"),
            dir.path().join("repo"),
            dir.path().join("runs"),
        );
        std::fs::create_dir(&repo).unwrap();
        std::fs::write(repo.join("hello.txt"), "hello\n").unwrap();
        let git = Command::new("git")
            .args(["init", "-q"])
            .current_dir(&repo)
            .status()
            .unwrap();
        assert!(git.success(), "git init failed");
        let server = MockServer::start(Scenario::default());
        server.write_codex_home_tuned(&home, tuning).unwrap();
        E2e {
            dir,
            home,
            repo,
            runs,
            codex,
            server,
        }
    }

    /// The CLI under test, to ask its version's facts ([`RealCodex::has`]).
    pub fn real(&self) -> crate::real_codex::RealCodex {
        let mut c = RealCodex::get();
        c.bin = self.codex.clone();
        c
    }

    /// `tool` with a scrubbed environment, run from the temp dir.
    pub fn cmd(&self, tool: &str) -> Command {
        let bin = tool_path(tool).unwrap_or_else(|e| panic!("{e}"));
        let mut cmd = Command::new(bin);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("CODEX_HOME", &self.home)
            .env("CODEX_RUNS_DIR", &self.runs)
            .env("CODEX_BIN", &self.codex)
            .current_dir(self.dir.path());
        // which Slurm the tools' sbatch/squeue/scontrol/scancel talk to (scripts/e2e-slurm's
        // test Slurm), never the machine's own by default
        if let Some(conf) = std::env::var_os("SLURM_CONF") {
            cmd.env("SLURM_CONF", conf);
        }
        cmd
    }

    pub fn tool(&self, tool: &str, args: &[&str]) -> Out {
        let mut cmd = self.cmd(tool);
        cmd.args(args);
        run_bounded(cmd, false, LIMIT)
    }

    pub fn spawn_cmd(&self, args: &[&str]) -> Command {
        let mut cmd = self.cmd("codex-spawn");
        cmd.arg("--repo").arg(&self.repo).args(args);
        cmd
    }

    /// `codex-spawn --repo REPO ARGS…` (stdin /dev/null).
    pub fn spawn(&self, args: &[&str]) -> Out {
        run_bounded(self.spawn_cmd(args), false, LIMIT)
    }

    /// Like [`spawn`](Self::spawn), which must exit 0 and print the run lines first.
    pub fn spawn_ok(&self, args: &[&str]) -> (Out, RunLines) {
        let out = self.spawn(args);
        let run = RunLines::parse(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{out}"));
        assert_eq!(out.code(), Some(0), "{out}\n{}", self.context(&run));
        (out, run)
    }

    pub fn meta(&self, run: &RunLines) -> Value {
        let text = std::fs::read_to_string(&run.meta_file).unwrap();
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    }

    pub fn log(&self, run: &RunLines) -> String {
        std::fs::read_to_string(&run.log_file).unwrap_or_default()
    }

    pub fn session_id(&self, run: &RunLines) -> String {
        let sid = self.meta(run)["session_id"].as_str().map(str::to_owned);
        sid.filter(|s| s.len() == 36)
            .unwrap_or_else(|| panic!("no session id in the meta\n{}", self.context(run)))
    }

    /// The user prompts of every request the mock got, starting at request `from`.
    pub fn prompts_from(&self, from: usize) -> Vec<Vec<String>> {
        self.server.requests()[from..]
            .iter()
            .map(user_prompts)
            .collect()
    }

    /// `codex-summarize ARGS…` as JSON (must exit 0).
    pub fn summarize(&self, args: &[&str]) -> Value {
        let out = self.tool("codex-summarize", args);
        assert_eq!(out.code(), Some(0), "codex-summarize {args:?}: {out}");
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out}"))
    }

    /// Everything worth seeing when a test fails: the log, the meta, the mock's view.
    pub fn context(&self, run: &RunLines) -> String {
        let meta = std::fs::read_to_string(&run.meta_file).unwrap_or_default();
        format!(
            "\n===== log {}\n{}\n===== meta\n{meta}\n===== mock requests (user prompts)\n{:#?}",
            run.log_file.display(),
            self.log(run),
            self.prompts_from(0)
        )
    }
}

impl Drop for E2e {
    /// A detached run still going (or queued) when its test failed: stop its supervisor
    /// (it stops codex).
    fn drop(&mut self) {
        let Ok(entries) = std::fs::read_dir(&self.runs) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            let Ok(meta) = serde_json::from_str::<Value>(&text) else {
                continue;
            };
            if (meta["status"] == "running" || meta["status"] == "queued")
                && let Some(pid) = meta["pid"].as_i64().and_then(|p| i32::try_from(p).ok())
            {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGTERM,
                );
            }
        }
    }
}
