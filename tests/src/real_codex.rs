//! Finds and runs the pinned real Codex CLI for the end-to-end tests.
//!
//! Why it exists: the e2e tests must exercise the very CLI the tools wrap, offline (see
//! [`crate::mock`]), in a scrubbed environment with a fresh `CODEX_HOME`. The binary is
//! `$CODEX_REAL_BIN`, else whatever `scripts/install-codex` installs and prints
//! (it needs npm). Tests that need it are `#[ignore]`d; `scripts/e2e` installs the CLI,
//! exports `CODEX_REAL_BIN` and runs them with `--ignored`.

use codex_session_id::codex_version::{self, Fact, Version};

/// The first version of the pinned line (see [`RealCodex::is_pinned_line`]).
pub const PINNED_LINE: Version = Version(0, 169, 0);

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Errors finding or running the real CLI.
#[derive(Debug, thiserror::Error)]
pub enum RealCodexError {
    #[error("scripts/install-codex failed: {0}")]
    Install(String),
    #[error("cannot run {}: {source}", bin.display())]
    Spawn {
        bin: PathBuf,
        source: std::io::Error,
    },
}

/// The outcome of one `codex exec` run.
#[derive(Debug)]
pub struct ExecOutput {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
    /// True when the run hit the harness timeout and was killed.
    pub timed_out: bool,
}

impl ExecOutput {
    /// The exit code (None when killed by a signal).
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// The session id from the `session id:` header or the `thread.started` event.
    pub fn session_id(&self) -> Option<String> {
        for (text, key) in [
            (&self.stderr, "session id: "),
            (&self.stdout, "session id: "),
            (&self.stdout, "\"thread_id\":\""),
        ] {
            if let Some(at) = text.find(key) {
                return text
                    .get(at + key.len()..at + key.len() + 36)
                    .map(str::to_owned);
            }
        }
        None
    }
}

impl std::fmt::Display for ExecOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "status {:?} after {:?}{}\n--- stdout\n{}\n--- stderr\n{}",
            self.status,
            self.elapsed,
            if self.timed_out { " (TIMED OUT)" } else { "" },
            self.stdout,
            self.stderr
        )
    }
}

/// The pinned real Codex CLI.
#[derive(Debug, Clone)]
pub struct RealCodex {
    pub bin: PathBuf,
    /// Runs longer than this are killed (default 120 s).
    pub timeout: Duration,
}

impl RealCodex {
    /// `$CODEX_REAL_BIN`, else the path `scripts/install-codex` prints.
    pub fn find() -> Result<RealCodex, RealCodexError> {
        let bin = match std::env::var_os("CODEX_REAL_BIN").filter(|v| !v.is_empty()) {
            Some(bin) => PathBuf::from(bin),
            None => {
                let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/install-codex");
                let out = Command::new(&script)
                    .stdin(Stdio::null())
                    .output()
                    .map_err(|e| RealCodexError::Install(format!("{}: {e}", script.display())))?;
                if !out.status.success() {
                    return Err(RealCodexError::Install(
                        String::from_utf8_lossy(&out.stderr).trim().to_owned(),
                    ));
                }
                PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
            }
        };
        Ok(RealCodex {
            bin,
            timeout: Duration::from_secs(120),
        })
    }

    /// This CLI's version (`codex --version`), for the tests whose expectations
    /// differ by version: they ask codex-meta's table ([`RealCodex::has`]).
    pub fn version(&self) -> Version {
        let out = Command::new(&self.bin)
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("{} --version: {e}", self.bin.display()));
        let text = String::from_utf8_lossy(&out.stdout);
        codex_session_id::log::version_in(&text)
            .unwrap_or_else(|| panic!("{} --version said {text:?}", self.bin.display()))
    }

    /// Does this CLI have `fact` (codex-meta's version table)?
    pub fn has(&self, fact: Fact) -> bool {
        codex_version::has(self.version(), fact)
    }

    /// Whether this CLI is of the pinned line (0.169 on), on which the behaviours not in
    /// the version table (retry counts, stdout's layout) were measured.
    pub fn is_pinned_line(&self) -> bool {
        self.version() >= PINNED_LINE
    }

    /// Like [`find`](Self::find), panicking with the reason (test helper).
    pub fn get() -> RealCodex {
        RealCodex::find().unwrap_or_else(|e| panic!("real Codex CLI unavailable: {e}"))
    }

    /// Runs `codex exec ARGS…` with a scrubbed env (PATH, HOME, CODEX_HOME) and stdin
    /// `stdin` (None: /dev/null). Never hangs longer than `self.timeout`.
    pub fn exec(
        &self,
        args: &[&str],
        codex_home: &Path,
        stdin: Option<&[u8]>,
    ) -> Result<ExecOutput, RealCodexError> {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("exec")
            .args(args)
            .env_clear()
            .env("CODEX_HOME", codex_home)
            .env("HOME", codex_home)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(path) = std::env::var_os("PATH") {
            cmd.env("PATH", path);
        }
        let start = Instant::now();
        let mut child = cmd.spawn().map_err(|source| RealCodexError::Spawn {
            bin: self.bin.clone(),
            source,
        })?;
        if let (Some(data), Some(mut pipe)) = (stdin, child.stdin.take()) {
            let data = data.to_vec();
            std::thread::spawn(move || {
                let _ = pipe.write_all(&data);
            });
        }
        let reader = |pipe: Option<Box<dyn Read + Send>>| {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                if let Some(mut p) = pipe {
                    let _ = p.read_to_end(&mut buf);
                }
                String::from_utf8_lossy(&buf).into_owned()
            })
        };
        let out = reader(
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let err = reader(
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let mut timed_out = false;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if start.elapsed() > self.timeout => {
                    timed_out = true;
                    let _ = child.kill();
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(source) => {
                    return Err(RealCodexError::Spawn {
                        bin: self.bin.clone(),
                        source,
                    });
                }
            }
        };
        let elapsed = start.elapsed();
        Ok(ExecOutput {
            status,
            stdout: out.join().unwrap_or_default(),
            stderr: err.join().unwrap_or_default(),
            elapsed,
            timed_out,
        })
    }
}
