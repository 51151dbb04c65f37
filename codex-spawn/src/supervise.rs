//! The run: from creating its files to the closing lines.
//!
//! [`run`] is the whole life of one `codex-spawn` invocation after validation:
//!
//! 1. create the run through codex-meta (log with O_EXCL, the run lock held for the run's
//!    life), write the meta as `running`, print the four run lines (flushed) — so a caller
//!    that reads the meta right after the first line finds it;
//! 2. (`--detach`: fork; the parent returns here);
//! 3. write the preamble, emit `run_started`, start codex ([`crate::process`]);
//! 4. the event loop ([`watch`]): one thread, poll(2) on codex's output pipe and a
//!    signalfd. Each chunk goes to the log (the record: written whole, first), to the
//!    session-id scanner (the first id goes to the meta at once), to the outcome detector
//!    ([`crate::outcome`]) and to stdout (unless quiet; a failed write only stops the
//!    echo). Signals are forwarded to codex's process group; `--timeout` (the whole run)
//!    and `--stall-timeout` (no output) send SIGTERM then SIGKILL after `--kill-grace`;
//! 5. after codex exits: drain the pipe briefly (codex's background children may hold it
//!    open), kill what is left of codex's group; the exit status and the detector's
//!    verdict give the attempt's outcome;
//! 6. with `--verify`, when codex succeeded: the check (`sh -c CMD` in the repo, watched
//!    by the same loop, its output to the log and a bounded tail); while it fails and
//!    attempts are left, back to 3 with `resume <session id> -` and a follow-up prompt
//!    ([`crate::verify`]) on stdin;
//! 7. write the final meta, the summary, the closing lines, emit `run_completed`.
//!
//! One codex invocation is one *attempt*: an entry of the meta's `attempts`, appended
//! as it ends (with its check's result), and with `--verify` an `attempt_started` /
//! `attempt_completed` event pair.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use codex_meta::{Meta, NewRun, RunLock, RunsDir, Status};
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use nix::sys::signalfd::SignalFd;
use serde_json::json;

use crate::argv::{self, Unrunnable};
use crate::config::{Config, TaskSource};
use crate::error::SpawnError;
use crate::events::{self, EventFields, Notify};
use crate::outcome::{Detector, Verdict};
use crate::preamble::{self, PreambleInput};
use crate::process::{self, Codex, Guardian, Input};

/// After codex exits, stop reading its pipe after this long without data...
pub const DRAIN_SILENCE: Duration = Duration::from_millis(500);
/// ...or this long in all (a background child may keep writing).
pub const DRAIN_MAX: Duration = Duration::from_secs(2);
/// How much of a task from a file or stdin the meta keeps (the log never has it).
pub const META_TASK_MAX: usize = 4096;
/// Read buffer for codex's output.
const CHUNK: usize = 64 * 1024;

/// codex-spawn's stdout: the run lines, the echo of codex's output, the closing lines.
/// The first failed write (a reader that hung up) turns it off for good; the run goes on.
struct Stdout {
    on: bool,
    last: u8,
}

impl Stdout {
    fn new(on: bool) -> Stdout {
        Stdout { on, last: b'\n' }
    }

    fn write(&mut self, bytes: &[u8]) {
        let Some(&last) = bytes.last() else { return };
        if !self.on {
            return;
        }
        let mut out = io::stdout().lock();
        if out.write_all(bytes).and_then(|()| out.flush()).is_err() {
            self.on = false;
        }
        self.last = last;
    }
}

/// Everything fixed about the run once its files exist.
struct Run {
    config: Config,
    runs_dir: PathBuf,
    id: String,
    log_path: PathBuf,
    meta_path: PathBuf,
    summary_path: PathBuf,
    last_message: Option<PathBuf>,
    codex_bin: Result<PathBuf, Unrunnable>,
    codex_argv: Vec<OsString>,
    host: String,
    started_at: String,
    started: Instant,
}

/// Run codex as configured; returns codex-spawn's exit status.
pub fn run(config: Config) -> Result<u8, SpawnError> {
    let started = Instant::now();
    let runs = RunsDir::resolve(config.runs_dir.as_deref())?;
    // The last-message file is claimed with the log (O_EXCL|O_NOFOLLOW, 0600), so
    // codex's last message stays private and nothing planted is ever written through.
    let wants_last_message = !argv::names_last_message(&config.codex_args);
    let NewRun { id, paths, log, .. } = runs.create_run(wants_last_message)?;
    let lock = RunLock::acquire(&log, &paths.log)?;
    let last_message = wants_last_message.then(|| paths.last_message.clone());
    let codex_bin = argv::resolve_bin(&config.codex_bin, std::env::var_os("PATH").as_deref());
    let codex_argv = argv::codex_args(&config, last_message.as_deref());
    let run = Run {
        runs_dir: runs.path().to_path_buf(),
        id: id.as_str().to_owned(),
        log_path: paths.log.clone(),
        meta_path: paths.meta.clone(),
        summary_path: paths.summary.clone(),
        last_message,
        codex_bin,
        codex_argv,
        host: codex_meta::hostname(),
        started_at: codex_meta::now_rfc3339(),
        started,
        config,
    };
    let mut meta = run.initial_meta();

    if run.config.detach {
        match crate::detach::fork()? {
            crate::detach::Side::Parent { child, sync } => {
                meta.pid = Some(child.as_raw() as u32);
                let written = codex_meta::write_meta(&run.meta_path, &meta);
                drop(sync);
                // The lock's open file description is shared with the supervisor: never
                // unlock it from here (dropping would), just let the process end.
                std::mem::forget(lock);
                written?;
                Stdout::new(true).write(run.run_lines().as_bytes());
                return Ok(0);
            }
            crate::detach::Side::Child => {
                if !run.meta_path.exists() {
                    // The parent died before writing it.
                    meta.pid = Some(std::process::id());
                    codex_meta::write_meta(&run.meta_path, &meta)?;
                }
                let out = Stdout::new(false);
                return Ok(run.supervise(log, lock, out));
            }
        }
    }

    meta.pid = Some(std::process::id());
    codex_meta::write_meta(&run.meta_path, &meta)?;
    let mut out = Stdout::new(true);
    out.write(run.run_lines().as_bytes());
    Ok(run.supervise(log, lock, out))
}

/// How one codex invocation ended.
#[derive(Debug, Clone)]
struct AttemptEnd {
    started_at: String,
    ended_at: String,
    /// codex-spawn's exit status for it (codex's, 124, 126, 127, 128+N).
    exit_code: u8,
    status: Status,
    signal: Option<Signal>,
    reason: Option<String>,
    output_bytes: u64,
    /// codex's own exit code (null when it died by a signal; 126/127 when it could not
    /// be run) — `exit_code` above is codex-spawn's verdict for the attempt.
    codex_exit: Option<i32>,
    /// The session id in this attempt's output.
    session_id: Option<String>,
    /// codex's argv for a resumed attempt (the first one's is the meta's codex_command).
    command: Option<Vec<String>>,
}

impl Run {
    fn initial_meta(&self) -> Meta {
        let c = &self.config;
        let mut m = Meta {
            run_id: self.id.clone(),
            status: Some(Status::Running),
            mode: Some(c.mode()),
            resume_session: c.resume.as_ref().map(|r| r.as_str().to_owned()),
            repo: Some(c.repo.display().to_string()),
            repo_abs: Some(c.repo_abs.display().to_string()),
            task: Some(self.meta_task()),
            codex_bin: Some(c.codex_bin.to_string_lossy().into_owned()),
            codex_command: Some(self.meta_command()),
            model: model_of(&c.codex_args),
            log_file: Some(self.log_path.display().to_string()),
            meta_file: Some(self.meta_path.display().to_string()),
            summary_file: Some(self.summary_path.display().to_string()),
            last_message_file: self.last_message.as_ref().map(|p| p.display().to_string()),
            host: Some(self.host.clone()),
            started_at: Some(self.started_at.clone()),
            attempts: Some(Vec::new()),
            ..Meta::default()
        };
        let x = &mut m.extra;
        x.insert(
            "codex_bin_resolved".into(),
            json!(
                self.codex_bin
                    .as_ref()
                    .ok()
                    .map(|p| p.display().to_string())
            ),
        );
        x.insert("task_source".into(), json!(c.task.source.as_str()));
        x.insert("task_bytes".into(), json!(c.task.bytes.len()));
        if let TaskSource::File(f) = &c.task.source {
            x.insert("task_file".into(), json!(f.display().to_string()));
        }
        if c.task.source == TaskSource::DefaultFollowUp {
            x.insert("task_defaulted".into(), json!(true));
        }
        x.insert("detach".into(), json!(c.detach));
        if let Some(t) = c.timeout {
            x.insert("timeout_seconds".into(), json!(t.as_secs_f64()));
        }
        if let Some(t) = c.stall_timeout {
            x.insert("stall_timeout_seconds".into(), json!(t.as_secs_f64()));
        }
        if let Some(v) = &c.verify {
            x.insert("verify_command".into(), json!(v));
            x.insert("max_attempts".into(), json!(c.max_attempts));
            x.insert(
                "verify_timeout_seconds".into(),
                json!(c.verify_timeout.as_secs_f64()),
            );
        }
        m
    }

    /// The task as the meta keeps it: whole when given as an argument (or defaulted),
    /// else at most [`META_TASK_MAX`] bytes (a big or private prompt stays out).
    fn meta_task(&self) -> String {
        let t = &self.config.task;
        match t.source {
            TaskSource::Argument | TaskSource::DefaultFollowUp => t.text_lossy(),
            _ if t.bytes.len() <= META_TASK_MAX => t.text_lossy(),
            _ => {
                let mut s = String::from_utf8_lossy(&t.bytes[..META_TASK_MAX]).into_owned();
                s.push('…');
                s
            }
        }
    }

    /// codex's argv as the meta shows it (argv\[0\] as asked).
    fn meta_command(&self) -> Vec<String> {
        std::iter::once(&self.config.codex_bin)
            .chain(self.codex_argv.iter())
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    fn run_lines(&self) -> String {
        let (l, m, s) = (
            self.log_path.display().to_string(),
            self.meta_path.display().to_string(),
            self.summary_path.display().to_string(),
        );
        if self.config.json {
            let v = json!({
                "codex_run_id": self.id,
                "log_file": l,
                "meta_file": m,
                "summary_file_pending": s,
            });
            format!("{v}\n")
        } else {
            format!(
                "codex_run_id={}\nlog_file={l}\nmeta_file={m}\nsummary_file_pending={s}\n",
                self.id
            )
        }
    }

    fn event_fields(&self, status: Status, session_id: Option<String>) -> EventFields {
        EventFields {
            status: status.to_string(),
            run_id: self.id.clone(),
            session_id,
            repo: self.config.repo_abs.display().to_string(),
            mode: self.config.mode_name().to_owned(),
            exit_code: None,
            log_file: self.log_path.display().to_string(),
            meta_file: self.meta_path.display().to_string(),
            summary_file: self.summary_path.display().to_string(),
            started_at: self.started_at.clone(),
            ended_at: None,
            elapsed_seconds: None,
            attempt: None,
            verify_exit_code: None,
            attempts: None,
        }
    }

    fn emit(
        &self,
        event: &str,
        fields: &EventFields,
        notifies: &mut Vec<Notify>,
        warnings: &mut Vec<String>,
    ) {
        if self.config.event_stream.is_none() && self.config.notify_cmd.is_none() {
            return;
        }
        let line = events::event_json(event, fields);
        if let Some(path) = &self.config.event_stream {
            if let Err(e) = events::append_event(path, &line) {
                warnings.push(format!(
                    "event stream {}: cannot append: {e}",
                    path.display()
                ));
            }
        }
        if let Some(cmd) = &self.config.notify_cmd {
            match events::start_notify(cmd, event, &line, self.config.notify_timeout) {
                Ok(n) => notifies.push(n),
                Err(w) => warnings.push(w),
            }
        }
    }

    /// Steps 3–5 of the module docs; returns the exit status.
    fn supervise(self, log: File, lock: RunLock, mut out: Stdout) -> u8 {
        let echo = !(self.config.quiet || self.config.json || self.config.detach);
        let verifying = self.config.verify.is_some();
        let mut warnings = Vec::new();
        let mut notifies = Vec::new();
        let mut log = Log {
            file: log,
            ok: true,
            last: b'\n',
        };

        let started_local =
            chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, false);
        let pre = preamble::render(&PreambleInput {
            config: &self.config,
            run_id: &self.id,
            runs_dir: &self.runs_dir,
            log_file: &self.log_path,
            meta_file: &self.meta_path,
            summary_file: &self.summary_path,
            last_message_file: self.last_message.as_deref(),
            started_at: &self.started_at,
            started_at_local: &started_local,
            codex_bin_resolved: self.codex_bin.as_ref().ok().map(PathBuf::as_path),
            codex_argv: &self.codex_argv,
            host: &self.host,
            supervisor_pid: std::process::id(),
        });
        log.write(pre.as_bytes());
        self.emit(
            "run_started",
            &self.event_fields(Status::Running, None),
            &mut notifies,
            &mut warnings,
        );

        let mut session_id: Option<String> = None;
        let mut output_bytes = 0u64;
        let mut io = Io {
            log: &mut log,
            out: &mut out,
            echo,
        };
        let run_deadline = self.config.timeout.map(|t| self.started + t);
        let end = match process::signal_fd() {
            Err(e) => {
                let a = AttemptEnd::failed(codex_meta::now_rfc3339(), 125, e.to_string());
                self.record_attempt(1, &a, None, None, &mut warnings);
                a.into_final()
            }
            Ok(sfd) => {
                let mut ctx = Ctx {
                    io: &mut io,
                    sfd: &sfd,
                    run_deadline,
                    warnings: &mut warnings,
                    notifies: &mut notifies,
                };
                self.attempts(&mut ctx, &mut session_id, &mut output_bytes)
            }
        };

        // Final meta and summary. The summary is made from the final meta in memory, so
        // the meta can take the model the summary found (codex's rollout knows it even
        // when no `-m` was given) in the same, single write.
        let elapsed = round3(self.started.elapsed().as_secs_f64());
        let sid = session_id.clone();
        // The streaming phase's peak memory, before the summary reads anything.
        let peak_rss = max_rss_kib();
        let mut summary = None;
        let updated = codex_meta::update_meta(&self.meta_path, |m| {
            m.status = Some(end.status);
            m.exit_code = Some(i32::from(end.exit_code));
            m.signal = end.signal.map(|s| s.as_str().to_owned());
            m.ended_at = Some(end.ended_at.clone());
            m.elapsed_seconds = Some(elapsed);
            m.outcome_reason = end.reason.clone();
            if sid.is_some() {
                m.session_id = sid.clone();
            }
            let s = crate::summary::summarize(Some(m), &self.meta_path, &self.runs_dir);
            if m.model.is_none() {
                m.model = s.get("model").and_then(|v| v.as_str()).map(str::to_owned);
            }
            summary = Some(s);
        });
        if let Err(e) = &updated {
            warnings.push(format!("cannot write the final meta: {e}"));
        }
        let summary = match summary {
            Some(s) => s,
            None => crate::summary::summarize(None, &self.meta_path, &self.runs_dir),
        };
        if let Err(e) = codex_meta::write_json_atomic(&self.summary_path, &summary) {
            warnings.push(format!("cannot write the summary: {e}"));
        }
        if let Some(path) = &self.config.json_out {
            if let Err(e) = codex_meta::write_json_atomic(path, &summary) {
                warnings.push(format!("--json-out: {e}"));
            }
        }

        // run_completed.
        let mut fields = self.event_fields(end.status, session_id.clone());
        fields.exit_code = Some(i32::from(end.exit_code));
        fields.ended_at = Some(end.ended_at.clone());
        fields.elapsed_seconds = Some(elapsed);
        if verifying {
            fields.attempts = Some(end.attempts);
        }
        self.emit("run_completed", &fields, &mut notifies, &mut warnings);
        warnings.extend(events::finish_notifies(notifies));

        // Closing lines (log, then stdout).
        let mut tail = String::new();
        if self.config.verbosity >= crate::config::Verbosity::Normal {
            tail.push_str(&format!("codex_output_bytes={output_bytes}\n"));
            if verifying {
                tail.push_str(&format!("codex_attempts={}\n", end.attempts));
            }
        }
        if self.config.verbosity >= crate::config::Verbosity::High {
            tail.push_str(&format!("supervisor_max_rss_kib={peak_rss}\n"));
        }
        for w in &warnings {
            tail.push_str(&format!("codex_spawn_warning={}\n", w.replace('\n', " ")));
        }
        let summary_line = serde_json::to_string(&summary).unwrap_or_else(|_| "null".to_owned());
        let closing = format!(
            "codex_run_id={}\ncodex_exit_code={}\nelapsed_seconds={:.3}\ncodex_session_id={}\nlog_file={}\nmeta_file={}\nsummary_file={}\nsummary_json={}\n",
            self.id,
            end.exit_code,
            elapsed,
            session_id.as_deref().unwrap_or(""),
            self.log_path.display(),
            self.meta_path.display(),
            self.summary_path.display(),
            summary_line,
        );
        if log.last != b'\n' {
            log.write(b"\n");
        }
        log.write(tail.as_bytes());
        log.write(closing.as_bytes());
        if self.config.json {
            let v = json!({
                "codex_run_id": self.id,
                "codex_exit_code": end.exit_code,
                "elapsed_seconds": elapsed,
                "codex_session_id": session_id,
                "log_file": self.log_path.display().to_string(),
                "meta_file": self.meta_path.display().to_string(),
                "summary_file": self.summary_path.display().to_string(),
                "summary": summary,
            });
            out.write(format!("{v}\n").as_bytes());
        } else {
            if out.last != b'\n' {
                out.write(b"\n");
            }
            out.write(closing.as_bytes());
        }
        drop(lock);
        end.exit_code
    }

    /// The attempts: codex, then (with `--verify`) the check, then — while the check
    /// fails and attempts are left — codex again, resuming the session with the check's
    /// result. Returns how the run ended.
    fn attempts(
        &self,
        ctx: &mut Ctx<'_, '_>,
        session_id: &mut Option<String>,
        output_bytes: &mut u64,
    ) -> Final {
        let c = &self.config;
        let max = c.max_attempts.max(1);
        let mut follow_up: Option<Vec<u8>> = None;
        for n in 1..=max {
            // A signal that arrived between two children ends the run here.
            if n > 1 {
                if let Some(sig) = process::pending_signal(ctx.sfd) {
                    return Final::killed(sig, n - 1);
                }
            }
            let (argv, input): (Vec<OsString>, Option<&[u8]>) = match (&follow_up, &*session_id) {
                (Some(prompt), Some(sid)) => (
                    argv::resume_args(c, self.last_message.as_deref(), sid),
                    Some(prompt.as_slice()),
                ),
                _ => (
                    self.codex_argv.clone(),
                    c.task.via_stdin.then_some(c.task.bytes.as_slice()),
                ),
            };
            if c.verify.is_some() {
                let what = match (n, &*session_id, &c.resume) {
                    (1, _, None) => "new".to_owned(),
                    (1, _, Some(r)) => format!("resume {}", r.as_str()),
                    (_, sid, _) => format!("resume {}", sid.as_deref().unwrap_or("?")),
                };
                ctx.io
                    .marker(&format!("codex-spawn attempt {n}/{max}: {what}"));
                if n > 1 && c.verbosity >= crate::config::Verbosity::Normal {
                    let cmd = argv::shell_command(&c.codex_bin, &argv);
                    ctx.io.line(&format!(
                        "codex_command={cmd}  # prompt on stdin: <follow-up prompt: {} bytes>",
                        input.map_or(0, <[u8]>::len)
                    ));
                }
                let mut f = self.event_fields(Status::Running, session_id.clone());
                f.attempt = Some(n);
                self.emit("attempt_started", &f, ctx.notifies, ctx.warnings);
            }

            let mut a = self.attempt(&argv, input, ctx, session_id);
            *output_bytes += a.output_bytes;
            if n > 1 {
                a.command = Some(
                    std::iter::once(&c.codex_bin)
                        .chain(argv.iter())
                        .map(|x| x.to_string_lossy().into_owned())
                        .collect(),
                );
            }

            // The check, when codex succeeded.
            let mut check = None;
            let mut tail = crate::verify::Tail::new();
            if let (Some(cmd), Status::Succeeded) = (&c.verify, a.status) {
                let r = self.check(cmd, n, ctx, &mut tail);
                match r.stop {
                    CheckStop::Signal(sig) => {
                        a.set(
                            Status::Killed,
                            128 + sig as i32 as u8,
                            Some(sig),
                            format!("codex-spawn received {} during the check", sig.as_str()),
                        );
                    }
                    CheckStop::RunTimeout => {
                        a.set(
                            Status::TimedOut,
                            crate::cli::EXIT_TIMED_OUT,
                            Some(Signal::SIGTERM),
                            format!(
                                "timed out after {} s (during the check)",
                                c.timeout.map_or(0.0, |t| t.as_secs_f64())
                            ),
                        );
                    }
                    CheckStop::None => {
                        if !r.check.passed() {
                            a.set(
                                Status::VerifyFailed,
                                crate::cli::EXIT_VERIFY_FAILED,
                                None,
                                format!(
                                    "verify `{cmd}`: {} on attempt {n}/{max}",
                                    r.check.describe()
                                ),
                            );
                        }
                    }
                }
                check = Some(r.check);
            }
            self.record_attempt(n, &a, check.as_ref(), session_id.as_deref(), ctx.warnings);
            if c.verify.is_some() {
                let mut f =
                    self.event_fields(a.status, a.session_id.clone().or(session_id.clone()));
                f.attempt = Some(n);
                f.exit_code = Some(i32::from(a.exit_code));
                f.ended_at = Some(codex_meta::now_rfc3339());
                f.elapsed_seconds = Some(round3(self.started.elapsed().as_secs_f64()));
                f.verify_exit_code = Some(check.as_ref().map(|k| k.exit_code));
                self.emit("attempt_completed", &f, ctx.notifies, ctx.warnings);
            }

            let (Some(cmd), Some(k)) = (&c.verify, &check) else {
                return a.into_final_n(n);
            };
            if a.status != Status::VerifyFailed || n == max {
                let mut f = a.into_final_n(n);
                if f.status == Status::VerifyFailed {
                    f.reason = Some(format!(
                        "verify `{cmd}` still failed after {n} attempt{}: {}",
                        if n == 1 { "" } else { "s" },
                        k.describe()
                    ));
                }
                return f;
            }
            if session_id.is_none() {
                let mut f = a.into_final_n(n);
                f.reason = Some(format!(
                    "verify `{cmd}` failed ({}) and codex's session id was not found in its output, so it cannot be resumed",
                    k.describe()
                ));
                return f;
            }
            follow_up = Some(crate::verify::follow_up_prompt(cmd, k, &tail).into_bytes());
        }
        // Not reached: the loop returns on its last attempt.
        Final {
            status: Status::Failed,
            exit_code: 1,
            signal: None,
            reason: Some("no attempt was made".to_owned()),
            ended_at: codex_meta::now_rfc3339(),
            attempts: 0,
        }
    }

    /// Append attempt `n` to the meta's `attempts` (a live reader sees each one as it ends).
    fn record_attempt(
        &self,
        n: u32,
        a: &AttemptEnd,
        check: Option<&crate::verify::Check>,
        run_session: Option<&str>,
        warnings: &mut Vec<String>,
    ) {
        let mut entry = json!({
            "n": n,
            "started_at": a.started_at,
            "ended_at": a.ended_at,
            "exit_code": a.codex_exit,
            "signal": a.signal.map(|s| s.as_str()),
            "status": a.status.as_str(),
            "outcome_reason": a.reason,
            "session_id": a.session_id.as_deref().or(run_session),
            "output_bytes": a.output_bytes,
            "verify": check.map(|k| json!({
                "exit_code": k.exit_code,
                "elapsed_seconds": round3(k.elapsed.as_secs_f64()),
                "timed_out": k.timed_out,
                "signal": k.signal,
                "output_bytes": k.output_bytes,
            })),
        });
        if let (Some(cmd), Some(obj)) = (&a.command, entry.as_object_mut()) {
            obj.insert("codex_command".into(), json!(cmd));
        }
        if let Err(e) = codex_meta::update_meta(&self.meta_path, |m| {
            m.attempts.get_or_insert_with(Vec::new).push(entry);
        }) {
            warnings.push(format!("cannot record attempt {n} in the meta: {e}"));
        }
    }

    /// One codex invocation, start to reaped (plus the drain), with its true outcome.
    fn attempt(
        &self,
        argv: &[OsString],
        input: Option<&[u8]>,
        ctx: &mut Ctx<'_, '_>,
        session_id: &mut Option<String>,
    ) -> AttemptEnd {
        let started_at = codex_meta::now_rfc3339();
        let bin = match &self.codex_bin {
            Ok(b) => b.clone(),
            Err(u) => {
                let (code, what) = match u {
                    Unrunnable::NotFound => (127, "not found"),
                    Unrunnable::NotExecutable => (126, "not executable"),
                };
                let reason = format!(
                    "codex binary '{}': {what}",
                    self.config.codex_bin.to_string_lossy()
                );
                ctx.io
                    .log
                    .write(format!("codex-spawn: {reason}\n").as_bytes());
                return AttemptEnd::failed(started_at, code, reason);
            }
        };
        let input = match input {
            Some(bytes) => Input::Prompt(bytes),
            None => Input::Null,
        };
        let mut codex = match process::spawn_codex(&bin, &self.config.codex_bin, argv, input) {
            Ok(c) => c,
            Err(e) => {
                let code = match e.kind() {
                    io::ErrorKind::NotFound => 127,
                    _ => 126,
                };
                let reason = format!("codex binary '{}' cannot be run: {e}", bin.display());
                ctx.io
                    .log
                    .write(format!("codex-spawn: {reason}\n").as_bytes());
                return AttemptEnd::failed(started_at, code, reason);
            }
        };
        let guardian = self.guard(&codex, ctx.warnings);
        let mut scanner = codex_session_id::Scanner::new();
        let mut detector = Detector::new();
        let mut mine: Option<String> = None;
        let mut sink_warnings = Vec::new();
        let limits = Limits {
            run_deadline: ctx.run_deadline,
            own_deadline: None,
            stall: self.config.stall_timeout,
            grace: self.config.kill_grace,
        };
        let io = &mut *ctx.io;
        let mut found = |id: &str, mine: &mut Option<String>| {
            if mine.is_none() {
                *mine = Some(id.to_owned());
            }
            if session_id.is_none() {
                let sid = id.to_owned();
                if let Err(e) =
                    codex_meta::update_meta(&self.meta_path, |m| m.session_id = Some(sid))
                {
                    sink_warnings.push(format!("cannot record the session id in the meta: {e}"));
                }
                *session_id = Some(id.to_owned());
            }
        };
        let w = watch(&mut codex, ctx.sfd, &limits, &mut |bytes| {
            io.log.write(bytes);
            if mine.is_none() {
                if let Some(id) = scanner.feed(bytes).next() {
                    found(id.uuid.as_str(), &mut mine);
                }
            }
            detector.feed(bytes);
            if io.echo {
                io.out.write(bytes);
            }
        });
        if let Some(id) = scanner.finish() {
            if mine.is_none() {
                found(id.uuid.as_str(), &mut mine);
            }
        }
        if let Some(g) = guardian {
            g.disarm();
        }
        ctx.warnings.extend(sink_warnings);
        ctx.warnings.extend(w.warnings.iter().cloned());
        let ended_at = codex_meta::now_rfc3339();
        let died_by = w.status.signal().and_then(|n| Signal::try_from(n).ok());
        let verdict = detector.finish();
        let (exit_code, status, signal, reason) = match (w.stopped, w.forwarded, died_by) {
            (Some(Stop::Stall), _, _) => (
                crate::cli::EXIT_TIMED_OUT,
                Status::Stalled,
                w.last_sent,
                Some(format!(
                    "stalled: no output from codex for {} s (--stall-timeout)",
                    self.config.stall_timeout.map_or(0.0, |t| t.as_secs_f64())
                )),
            ),
            (Some(_), _, _) => (
                crate::cli::EXIT_TIMED_OUT,
                Status::TimedOut,
                w.last_sent,
                Some(format!(
                    "timed out after {} s",
                    self.config.timeout.map_or(0.0, |t| t.as_secs_f64())
                )),
            ),
            (None, Some(sig), _) => (
                128 + sig as i32 as u8,
                Status::Killed,
                Some(sig),
                Some(format!("codex-spawn received {}", sig.as_str())),
            ),
            (None, None, Some(sig)) => (
                128 + sig as i32 as u8,
                Status::Killed,
                Some(sig),
                Some(format!("codex died by {}", sig.as_str())),
            ),
            (None, None, None) => {
                let code = w.status.code().unwrap_or(1);
                let code = u8::try_from(code).unwrap_or(1);
                match (code, verdict) {
                    (0, Verdict::Completed) => (0, Status::Succeeded, None, None),
                    // codex said 0, its output says otherwise.
                    (0, Verdict::Failed(why)) => (1, Status::Failed, None, Some(why)),
                    (code, Verdict::Completed) => (
                        code,
                        Status::Failed,
                        None,
                        Some(format!("codex exited with {code}")),
                    ),
                    (code, Verdict::Failed(why)) => (
                        code,
                        Status::Failed,
                        None,
                        Some(format!("codex exited with {code}: {why}")),
                    ),
                }
            }
        };
        AttemptEnd {
            started_at,
            ended_at,
            exit_code,
            status,
            signal,
            reason,
            output_bytes: w.output_bytes,
            codex_exit: w.status.code(),
            session_id: mine,
            command: None,
        }
    }

    /// Run the `--verify` check once (attempt `n`), its output to the log and `tail`.
    fn check(
        &self,
        cmd: &str,
        n: u32,
        ctx: &mut Ctx<'_, '_>,
        tail: &mut crate::verify::Tail,
    ) -> CheckEnd {
        let timeout = self.config.verify_timeout;
        let started = Instant::now();
        let failed = |code: i32, stop: CheckStop| CheckEnd {
            check: crate::verify::Check {
                exit_code: code,
                signal: None,
                elapsed: started.elapsed(),
                timed_out: false,
                timeout,
                output_bytes: 0,
            },
            stop,
        };
        if let Some(sig) = process::pending_signal(ctx.sfd) {
            return failed(128 + sig as i32, CheckStop::Signal(sig));
        }
        ctx.io.marker(&format!(
            "verify attempt {n}: sh -c {}",
            argv::shell_quote(std::ffi::OsStr::new(cmd))
        ));
        let args: Vec<OsString> = vec!["-c".into(), cmd.into()];
        let mut child = match process::spawn_group(
            std::path::Path::new("/bin/sh"),
            std::ffi::OsStr::new("sh"),
            &args,
            Input::Null,
            Some(&self.config.repo_abs),
        ) {
            Ok(ch) => ch,
            Err(e) => {
                let msg = format!("verify: cannot run /bin/sh: {e}");
                ctx.io.line(&msg);
                tail.push(msg.as_bytes());
                let r = failed(127, CheckStop::None);
                ctx.io
                    .marker(&format!("verify attempt {n}: {}", r.check.describe()));
                return r;
            }
        };
        let guardian = self.guard(&child, ctx.warnings);
        let limits = Limits {
            run_deadline: ctx.run_deadline,
            own_deadline: Some(started + timeout),
            stall: None,
            grace: self.config.kill_grace,
        };
        let io = &mut *ctx.io;
        let w = watch(&mut child, ctx.sfd, &limits, &mut |bytes| {
            io.log.write(bytes);
            tail.push(bytes);
            if io.echo {
                io.out.write(bytes);
            }
        });
        if let Some(g) = guardian {
            g.disarm();
        }
        ctx.warnings.extend(w.warnings.iter().cloned());
        let signal = w.status.signal().and_then(|s| Signal::try_from(s).ok());
        let exit_code = match (w.status.code(), signal) {
            (Some(c), _) => c,
            (None, Some(sig)) => 128 + sig as i32,
            (None, None) => 1,
        };
        let stop = match (w.forwarded, w.stopped) {
            (Some(sig), _) => CheckStop::Signal(sig),
            (None, Some(Stop::RunTimeout)) => CheckStop::RunTimeout,
            _ => CheckStop::None,
        };
        let r = CheckEnd {
            check: crate::verify::Check {
                exit_code,
                signal: signal.map(|s| s.as_str()),
                elapsed: started.elapsed(),
                timed_out: w.stopped == Some(Stop::OwnTimeout),
                timeout,
                output_bytes: w.output_bytes,
            },
            stop,
        };
        ctx.io
            .marker(&format!("verify attempt {n}: {}", r.check.describe()));
        r
    }

    /// A guardian for `child`'s group (a warning when none can be started).
    fn guard(&self, child: &Codex, warnings: &mut Vec<String>) -> Option<Guardian> {
        match Guardian::start(child.pgid()) {
            Ok(g) => Some(g),
            Err(e) => {
                warnings.push(format!("no guardian: {e}"));
                None
            }
        }
    }
}

/// The log and stdout, and whether codex's output is echoed.
struct Io<'a> {
    log: &'a mut Log,
    out: &'a mut Stdout,
    echo: bool,
}

impl Io<'_> {
    /// A line of codex-spawn's own in the log (and in the echo), on a line of its own.
    fn line(&mut self, text: &str) {
        let mut s = String::with_capacity(text.len() + 2);
        if self.log.last != b'\n' {
            s.push('\n');
        }
        s.push_str(text);
        s.push('\n');
        self.log.write(s.as_bytes());
        if self.echo {
            if self.out.last != b'\n' {
                self.out.write(b"\n");
            }
            self.out.write(text.as_bytes());
            self.out.write(b"\n");
        }
    }

    /// `===== text =====`.
    fn marker(&mut self, text: &str) {
        self.line(&format!("===== {text} ====="));
    }
}

/// What every attempt needs from the run.
struct Ctx<'a, 'b> {
    io: &'a mut Io<'b>,
    sfd: &'a SignalFd,
    run_deadline: Option<Instant>,
    warnings: &'a mut Vec<String>,
    notifies: &'a mut Vec<Notify>,
}

/// How the run ended.
#[derive(Debug, Clone)]
struct Final {
    status: Status,
    exit_code: u8,
    signal: Option<Signal>,
    reason: Option<String>,
    ended_at: String,
    /// Codex invocations made.
    attempts: u32,
}

impl Final {
    fn killed(sig: Signal, attempts: u32) -> Final {
        Final {
            status: Status::Killed,
            exit_code: 128 + sig as i32 as u8,
            signal: Some(sig),
            reason: Some(format!("codex-spawn received {}", sig.as_str())),
            ended_at: codex_meta::now_rfc3339(),
            attempts,
        }
    }
}

impl AttemptEnd {
    fn failed(started_at: String, code: u8, reason: String) -> AttemptEnd {
        AttemptEnd {
            started_at,
            ended_at: codex_meta::now_rfc3339(),
            exit_code: code,
            status: Status::Failed,
            signal: None,
            reason: Some(reason),
            output_bytes: 0,
            codex_exit: Some(i32::from(code)),
            session_id: None,
            command: None,
        }
    }

    /// The check changed the attempt's outcome.
    fn set(&mut self, status: Status, code: u8, signal: Option<Signal>, reason: String) {
        self.status = status;
        self.exit_code = code;
        self.signal = signal;
        self.reason = Some(reason);
    }

    fn into_final(self) -> Final {
        self.into_final_n(1)
    }

    fn into_final_n(self, attempts: u32) -> Final {
        Final {
            status: self.status,
            exit_code: self.exit_code,
            signal: self.signal,
            reason: self.reason,
            ended_at: codex_meta::now_rfc3339(),
            attempts,
        }
    }
}

/// How the check's run ended, beyond its exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CheckStop {
    /// It ran to its end (or its own `--verify-timeout`).
    None,
    /// codex-spawn got a signal: the run ends as killed.
    Signal(Signal),
    /// `--timeout` (the whole run's) expired: the run ends as timed out.
    RunTimeout,
}

struct CheckEnd {
    check: crate::verify::Check,
    stop: CheckStop,
}

/// The log file: written whole, chunk by chunk. A failed write is remembered (and
/// reported at the end) but never stops the run.
struct Log {
    file: File,
    ok: bool,
    last: u8,
}

impl Log {
    fn write(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if self.ok && self.file.write_all(bytes).is_err() {
            self.ok = false;
        }
        self.last = bytes[bytes.len() - 1];
    }
}

/// Why [`watch`] stopped a child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// `--timeout`: the run's deadline.
    RunTimeout,
    /// The child's own deadline (`--verify-timeout`).
    OwnTimeout,
    /// `--stall-timeout`: no output for that long.
    Stall,
}

/// The timers of one child.
struct Limits {
    run_deadline: Option<Instant>,
    own_deadline: Option<Instant>,
    stall: Option<Duration>,
    grace: Duration,
}

impl Limits {
    /// The timer that has expired at `now`, if any.
    fn due(&self, now: Instant, last_data: Instant) -> Option<Stop> {
        if self.run_deadline.is_some_and(|d| now >= d) {
            return Some(Stop::RunTimeout);
        }
        if self.own_deadline.is_some_and(|d| now >= d) {
            return Some(Stop::OwnTimeout);
        }
        if self.stall.is_some_and(|s| now >= last_data + s) {
            return Some(Stop::Stall);
        }
        None
    }

    /// When the next timer expires.
    fn next(&self, last_data: Instant) -> Option<Instant> {
        [
            self.run_deadline,
            self.own_deadline,
            self.stall.map(|s| last_data + s),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

/// How a watched child ended.
struct Watched {
    status: std::process::ExitStatus,
    stopped: Option<Stop>,
    forwarded: Option<Signal>,
    last_sent: Option<Signal>,
    output_bytes: u64,
    warnings: Vec<String>,
}

/// The event loop for one child (codex or the check): one thread, poll(2) on its output
/// pipe and the signalfd. Each chunk goes to `sink`. Signals are forwarded to the child's
/// process group; an expired timer ([`Limits`]) sends SIGTERM, then SIGKILL after the
/// grace. After the child exits the pipe is drained briefly (background children may
/// hold it open), then whatever is left of the group is killed.
fn watch(
    child: &mut Codex,
    sfd: &SignalFd,
    limits: &Limits,
    sink: &mut dyn FnMut(&[u8]),
) -> Watched {
    let pgid = child.pgid();
    let mut buf = vec![0u8; CHUNK];
    let mut pipe_open = true;
    let mut exit: Option<std::process::ExitStatus> = None;
    let mut exited_at = Instant::now();
    let mut last_data = Instant::now();
    let mut stopped: Option<Stop> = None;
    let mut forwarded: Option<Signal> = None;
    let mut kill_at: Option<Instant> = None;
    let mut last_sent: Option<Signal> = None;
    let mut output_bytes = 0u64;
    let mut warnings = Vec::new();

    loop {
        let now = Instant::now();
        if exit.is_some() {
            let drain_end = (last_data + DRAIN_SILENCE).min(exited_at + DRAIN_MAX);
            if !pipe_open || now >= drain_end {
                break;
            }
        }
        // Timers.
        let timers_on = exit.is_none() && stopped.is_none() && forwarded.is_none();
        if timers_on {
            if let Some(why) = limits.due(now, last_data) {
                stopped = Some(why);
                process::kill_group(pgid, Signal::SIGTERM);
                last_sent = Some(Signal::SIGTERM);
                kill_at.get_or_insert(now + limits.grace);
            }
        }
        if exit.is_none() {
            if let Some(k) = kill_at {
                if now >= k {
                    process::kill_group(pgid, Signal::SIGKILL);
                    last_sent = Some(Signal::SIGKILL);
                    kill_at = None;
                }
            }
        }
        let deadline = if exit.is_none() {
            let timer = if exit.is_none() && stopped.is_none() && forwarded.is_none() {
                limits.next(last_data)
            } else {
                None
            };
            [timer, kill_at].into_iter().flatten().min()
        } else {
            Some((last_data + DRAIN_SILENCE).min(exited_at + DRAIN_MAX))
        };
        let timeout = match deadline {
            None => PollTimeout::NONE,
            Some(d) => {
                let ms = d.saturating_duration_since(now).as_millis().min(60_000) as u32 + 1;
                PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
            }
        };
        let (pipe_ready, sig_ready) = {
            let mut fds = Vec::with_capacity(2);
            fds.push(PollFd::new(sfd.as_fd(), PollFlags::POLLIN));
            if pipe_open {
                fds.push(PollFd::new(child.output.as_fd(), PollFlags::POLLIN));
            }
            match nix::poll::poll(&mut fds, timeout) {
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => {
                    warnings.push(format!("poll failed: {e}"));
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
            let ready = |f: &PollFd| f.revents().is_some_and(|r| !r.is_empty());
            (fds.get(1).is_some_and(ready), ready(&fds[0]))
        };

        if pipe_ready {
            // Read what is there, a bounded number of chunks per turn so signals and
            // timers stay responsive under a flood.
            for _ in 0..16 {
                match nix::unistd::read(&child.output, &mut buf) {
                    Ok(0) => {
                        pipe_open = false;
                        break;
                    }
                    Ok(n) => {
                        last_data = Instant::now();
                        output_bytes += n as u64;
                        sink(&buf[..n]);
                    }
                    Err(nix::errno::Errno::EINTR) => {}
                    Err(nix::errno::Errno::EAGAIN) => break,
                    Err(e) => {
                        warnings.push(format!("reading the child's output failed: {e}"));
                        pipe_open = false;
                        break;
                    }
                }
            }
        }
        if sig_ready {
            while let Ok(Some(info)) = sfd.read_signal() {
                let Ok(sig) = Signal::try_from(info.ssi_signo as i32) else {
                    continue;
                };
                if sig == Signal::SIGCHLD || exit.is_some() {
                    continue;
                }
                // Forward to the child's group; escalate to SIGKILL after the grace.
                process::kill_group(pgid, sig);
                forwarded = Some(sig);
                last_sent = Some(sig);
                kill_at.get_or_insert(Instant::now() + limits.grace);
            }
        }
        if exit.is_none() {
            if let Ok(Some(status)) = child.child.try_wait() {
                exit = Some(status);
                exited_at = Instant::now();
            }
        }
    }
    // Whatever the child left in its group (background children) does not outlive it.
    process::kill_group(pgid, Signal::SIGKILL);
    Watched {
        status: exit.unwrap_or_else(|| std::process::ExitStatus::from_raw(0)),
        stopped,
        forwarded,
        last_sent,
        output_bytes,
        warnings,
    }
}

/// `--model/-m` from the pass-through options, for the meta.
fn model_of(args: &[OsString]) -> Option<String> {
    let mut it = args.iter().map(|a| a.to_string_lossy());
    while let Some(a) = it.next() {
        if a == "-m" || a == "--model" {
            return it.next().map(|m| m.into_owned());
        }
        if let Some(m) = a.strip_prefix("--model=") {
            return Some(m.to_owned());
        }
    }
    None
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The supervisor's peak resident memory (KiB; 0 if it cannot be read).
fn max_rss_kib() -> i64 {
    use nix::sys::resource::{UsageWho, getrusage};
    getrusage(UsageWho::RUSAGE_SELF).map_or(0, |u| u.max_rss())
}
