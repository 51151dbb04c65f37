//! The run: from creating its files to the closing lines.
//!
//! [`run`] is the whole life of one `codex-spawn` invocation after validation:
//!
//! 1. claim the run's files ([`files`]: log and last-message file O_EXCL|O_NOFOLLOW, the
//!    run lock, room reserved for the final record), write the meta as `running` with the
//!    liveness witness (pid, start time, boot id), print the four run lines (flushed) — so
//!    a caller that reads the meta right after the first line finds it;
//! 2. (`--detach`: fork; the parent returns here);
//! 3. write the preamble, emit `run_started`, start codex through its keeper
//!    ([`crate::process`]: nothing codex starts outlives the run, however we die);
//! 4. the event loop ([`watch`]): poll(2) on codex's output, its keeper and the signals.
//!    Each chunk goes to the log (the record: written whole, first), to the session-id
//!    scanner (the first id goes to the meta at once), to the outcome detector
//!    ([`crate::outcome`]) and to stdout (unless quiet). Signals are forwarded to codex's
//!    process group; `--timeout` and `--stall-timeout` send SIGTERM then SIGKILL;
//! 5. after codex exits: drain the pipe briefly, then the keeper kills what is left of
//!    the run; the exit status and the detector's verdict give the attempt's outcome;
//! 6. with `--verify` ([`attempts`]), when codex succeeded: the check; while it fails
//!    and attempts are left, back to 3 resuming the session with a follow-up prompt;
//! 7. the end ([`finish`]): release the reserve, write the final meta, the summary, the
//!    closing lines, emit `run_completed`, report every warning on stderr.
//!
//! Where a fault is handled: a planted file or a full disk at the start — [`files`];
//! the supervisor or its keeper killed — [`crate::process`]; a full disk or a closed
//! stdout during the run — [`files`] (counted) and [`finish`] (reported, exit 125); a
//! signal or a timer — [`watch`]. The supervisor is single-threaded: it forks keepers.

mod attempts;
mod check;
mod files;
mod finish;
mod queue;
mod rollouts;
mod watch;

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Instant;

use codex_meta::codex_version::{Fact, MIN_SUPPORTED, Version, has};
use codex_meta::{Meta, RunsDir, Status, Witness};
use nix::sys::signal::Signal;
use serde_json::{Value, json};

use crate::argv::{self, Unrunnable};
use crate::config::{Config, TaskSource};
use crate::error::SpawnError;
use crate::events::{self, EventFields, Notify};
use crate::preamble::{self, PreambleInput};
use crate::sys::signals::Signals;
use files::{Log, RunFiles, Stdout};

pub use watch::{DRAIN_MAX, DRAIN_SILENCE};

/// How much of a task from a file or stdin the meta keeps (the log never has it).
pub const META_TASK_MAX: usize = 4096;

/// The signals the supervisor handles.
const HANDLED: [Signal; 4] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGCHLD,
];

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
    /// The Codex CLI's version, when it could be told ([`crate::codex_version`]).
    codex_version: Option<Version>,
    codex_argv: Vec<OsString>,
    host: String,
    started_at: String,
    started: Instant,
    /// `--after`, resolved.
    after: Vec<queue::Dependency>,
    /// `--resume RUN`: the run whose session is resumed.
    resume_run: Option<String>,
}

/// Run codex as configured; returns codex-spawn's exit status.
pub fn run(config: Config) -> Result<u8, SpawnError> {
    let started = Instant::now();
    let codex_bin = argv::resolve_bin(&config.codex_bin, std::env::var_os("PATH").as_deref());
    let codex_version = codex_bin
        .as_ref()
        .ok()
        .and_then(|b| crate::codex_version::detect(b));
    if let Some(v) = codex_version.filter(|&v| v < MIN_SUPPORTED) {
        return Err(SpawnError::usage(format!(
            "codex '{}' is codex-cli {v}; codex-spawn needs {MIN_SUPPORTED} or newer (the first whose `exec` can resume a session)",
            config.codex_bin.to_string_lossy()
        )));
    }
    let mut config = config;
    if argv::bare_resume_last(&config, codex_version) {
        config.task.via_stdin = true;
    }
    let runs = RunsDir::resolve(config.runs_dir.as_deref())?;
    let after = resolve_after(&runs, &config.after)?;
    let resume_run = resume_of_run(&runs, &mut config)?;
    let files = RunFiles::create(&runs, &config)?;
    // Signals are ours before the meta says running: a SIGTERM from then on ends the run
    // as `killed` with a final record, never by the default action.
    let sigs = match Signals::install(&HANDLED) {
        Ok(s) => s,
        Err(e) => {
            files.discard();
            return Err(SpawnError::Sys {
                action: "receive signals",
                source: e,
            });
        }
    };
    let codex_argv = argv::codex_args(&config, files.last_message.as_deref(), codex_version);
    let run = Run {
        runs_dir: runs.path().to_path_buf(),
        id: files.id.clone(),
        log_path: files.paths.log.clone(),
        meta_path: files.paths.meta.clone(),
        summary_path: files.paths.summary.clone(),
        last_message: files.last_message.clone(),
        codex_bin,
        codex_version,
        codex_argv,
        host: codex_meta::hostname(),
        started_at: codex_meta::now_rfc3339(),
        started,
        after,
        resume_run,
        config,
    };
    let mut meta = run.initial_meta();

    if run.config.detach {
        // --detach=session: the supervisor reports the session id on this pipe
        let report = match run.config.detach_session {
            None => None,
            Some(_) => match crate::sys::cloexec_pipe() {
                Ok(p) => Some(p),
                Err(e) => {
                    files.discard();
                    return Err(SpawnError::Sys {
                        action: "create the session report pipe",
                        source: e,
                    });
                }
            },
        };
        let side = match crate::detach::fork() {
            Ok(side) => side,
            Err(e) => {
                files.discard();
                return Err(e);
            }
        };
        match side {
            crate::detach::Side::Parent { child, sync } => {
                let pid = child.as_raw() as u32;
                match Witness::of(pid) {
                    Some(w) => w.record(&mut meta),
                    None => meta.pid = Some(pid),
                }
                if let Err(e) = codex_meta::write_meta(&run.meta_path, &meta) {
                    // no run without its record: the supervisor never starts codex
                    let _ = nix::sys::signal::kill(child, Signal::SIGKILL);
                    let _ = nix::sys::wait::waitpid(child, None);
                    files.discard();
                    return Err(e.into());
                }
                drop(sync);
                let mut out = Stdout::new(true);
                let code = match (report, run.config.detach_session) {
                    (Some((r, w)), Some(timeout)) => {
                        drop(w);
                        run.await_session(&mut out, &r, timeout)
                    }
                    _ => {
                        out.write(run.run_lines().as_bytes());
                        0
                    }
                };
                if let Some(e) = out.error() {
                    return Err(SpawnError::Output(format!(
                        "cannot write the run lines to stdout: {e} (the run goes on: {})",
                        run.meta_path.display()
                    )));
                }
                return Ok(code);
            }
            crate::detach::Side::Child => {
                let report = crate::detach::SessionReport::new(report.map(|(r, w)| {
                    drop(r);
                    w
                }));
                let mut files = files;
                if !run.meta_path.exists() {
                    // The parent died before writing it.
                    if let Some(w) = Witness::current() {
                        w.record(&mut meta);
                    }
                    codex_meta::write_meta(&run.meta_path, &meta)?;
                }
                if let Err(e) = files.lock_here() {
                    let reason = format!("codex-spawn cannot take the run lock: {e}");
                    let _ = codex_meta::update_meta(&run.meta_path, |m| {
                        m.status = Some(Status::Failed);
                        m.exit_code = Some(125);
                        m.ended_at = Some(codex_meta::now_rfc3339());
                        m.outcome_reason = Some(reason);
                    });
                    return Ok(125);
                }
                return Ok(run.supervise(files, Stdout::new(false), &sigs, report));
            }
        }
    }

    match Witness::current() {
        Some(w) => w.record(&mut meta),
        None => meta.pid = Some(std::process::id()),
    }
    if let Err(e) = codex_meta::write_meta(&run.meta_path, &meta) {
        files.discard();
        return Err(e.into());
    }
    let mut out = Stdout::new(true);
    out.write(run.run_lines().as_bytes());
    Ok(run.supervise(files, out, &sigs, crate::detach::SessionReport::new(None)))
}

/// Warnings of the run: each goes to the meta's `warnings`, the log and stderr. Some are
/// failures to deliver what was asked for (stdout, `--json-out`, `--event-stream`, the
/// summary): they make a successful run's exit status 125.
#[derive(Default)]
struct Warnings {
    list: Vec<String>,
    undelivered: bool,
}

impl Warnings {
    fn push(&mut self, w: impl Into<String>) {
        let w = w.into().replace('\n', " ");
        if !self.list.contains(&w) {
            self.list.push(w);
        }
    }

    /// Something codex-spawn was asked to write could not be written.
    fn undelivered(&mut self, w: impl Into<String>) {
        self.undelivered = true;
        self.push(w);
    }
}

/// What every attempt shares with the run: the log, stdout, signals, the deadline, the
/// warnings, notify commands in flight, and the record kept in memory (the meta's
/// `attempts` and the session id are written from here, so nothing is lost when one
/// meta update fails on a full disk).
struct Ctx<'a> {
    log: &'a mut Log,
    out: &'a mut Stdout,
    echo: bool,
    sigs: &'a Signals,
    run_deadline: Option<Instant>,
    warnings: &'a mut Warnings,
    notifies: &'a mut Vec<Notify>,
    attempts: &'a mut Vec<Value>,
    session_id: &'a mut Option<String>,
    /// A signal that came while a child's pipe was drained: the run stops before its
    /// next child.
    late_signal: Option<Signal>,
    /// `--detach=session`: told the session id once it is known.
    report: &'a mut crate::detach::SessionReport,
    /// `--max-tokens` / `--max-cost`: the run's usage, followed across its attempts.
    budget: Option<rollouts::BudgetWatch>,
}

impl Ctx<'_> {
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

    /// The keepers of notify commands in flight (a sweep after a dead keeper spares them).
    fn spare(&self) -> Vec<nix::unistd::Pid> {
        self.notifies.iter().map(Notify::keeper).collect()
    }
}

impl Run {
    /// Whether the run waits (`--after`, `--max-running`) before codex starts.
    fn queued(&self) -> bool {
        !self.after.is_empty() || self.config.queue.is_some()
    }

    fn initial_meta(&self) -> Meta {
        let c = &self.config;
        let mut m = Meta {
            run_id: self.id.clone(),
            status: Some(if self.queued() {
                Status::Queued
            } else {
                Status::Running
            }),
            mode: Some(c.mode()),
            resume_session: c.resume.as_ref().map(|r| r.as_str().to_owned()),
            repo: Some(c.repo.display().to_string()),
            repo_abs: Some(c.repo_abs.display().to_string()),
            task: Some(self.meta_task()),
            codex_bin: Some(c.codex_bin.to_string_lossy().into_owned()),
            codex_command: Some(self.meta_command()),
            codex_version: self.codex_version.map(|v| v.to_string()),
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
        if let Some(r) = &self.resume_run {
            x.insert("resume_run".into(), json!(r));
        }
        if let Some(q) = &c.queue {
            x.insert(
                "queue".into(),
                json!({"name": q.name, "max_running": q.max_running}),
            );
        }
        if !self.after.is_empty() {
            let ids: Vec<&str> = self.after.iter().map(|d| d.run_id.as_str()).collect();
            x.insert("after".into(), json!(ids));
        }
        if self.queued() {
            x.insert("queued_at".into(), json!(self.started_at));
        }
        if c.budget.is_set() {
            x.insert(
                "budget".into(),
                json!({"max_tokens": c.budget.max_tokens, "max_cost_usd": c.budget.max_cost_usd}),
            );
        }
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

    /// `--detach=session`, the caller's side: the run lines, then (once the supervisor
    /// reports it) `codex_session_id=`; in `--json` mode one object with `session_id`.
    /// Returns the caller's exit status.
    fn await_session(
        &self,
        out: &mut Stdout,
        report: &std::os::fd::OwnedFd,
        timeout: std::time::Duration,
    ) -> u8 {
        use crate::detach::Reported;
        if !self.config.json {
            out.write(self.run_lines().as_bytes());
        }
        let got = crate::detach::await_session(report, timeout);
        let session = match &got {
            Reported::Session(id) => Some(id.clone()),
            _ => None,
        };
        if self.config.json {
            let mut v = self.run_lines_json();
            if let Some(obj) = v.as_object_mut() {
                obj.insert("session_id".into(), json!(session));
            }
            out.write(format!("{v}\n").as_bytes());
        } else if let Some(id) = &session {
            out.write(format!("codex_session_id={id}\n").as_bytes());
        }
        let mut err = std::io::stderr().lock();
        let said = |err: &mut std::io::StderrLock<'_>, text: String| {
            let _ = std::io::Write::write_all(err, format!("codex-spawn: {text}\n").as_bytes());
        };
        match got {
            Reported::Session(_) => 0,
            Reported::Ended(status, code) => {
                said(
                    &mut err,
                    format!(
                        "run {} ended {status} (exit {code}) before codex named its session",
                        self.id
                    ),
                );
                if code == 0 { 1 } else { code }
            }
            Reported::Gone => {
                said(
                    &mut err,
                    format!(
                        "run {}: its supervisor went away before codex named its session (see {})",
                        self.id,
                        self.meta_path.display()
                    ),
                );
                1
            }
            Reported::TimedOut => {
                said(
                    &mut err,
                    format!(
                        "run {}: no session id within {} s; the run goes on ({})",
                        self.id,
                        timeout.as_secs_f64(),
                        self.meta_path.display()
                    ),
                );
                crate::cli::EXIT_TIMED_OUT
            }
        }
    }

    fn run_lines_json(&self) -> Value {
        json!({
            "codex_run_id": self.id,
            "log_file": self.log_path.display().to_string(),
            "meta_file": self.meta_path.display().to_string(),
            "summary_file_pending": self.summary_path.display().to_string(),
        })
    }

    fn run_lines(&self) -> String {
        let (l, m, s) = (
            self.log_path.display().to_string(),
            self.meta_path.display().to_string(),
            self.summary_path.display().to_string(),
        );
        if self.config.json {
            format!("{}\n", self.run_lines_json())
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
        warnings: &mut Warnings,
    ) {
        if self.config.event_stream.is_none() && self.config.notify_cmd.is_none() {
            return;
        }
        let line = events::event_json(event, fields);
        if let Some(path) = &self.config.event_stream {
            if let Err(e) = events::append_event(path, &line) {
                warnings.undelivered(format!(
                    "--event-stream {}: cannot append: {e}",
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

    /// Steps 3–7 of the module docs; returns the exit status.
    fn supervise(
        self,
        files: RunFiles,
        mut out: Stdout,
        sigs: &Signals,
        mut report: crate::detach::SessionReport,
    ) -> u8 {
        crate::sys::reaper::become_subreaper();
        let RunFiles {
            mut log,
            lock,
            mut reserve,
            ..
        } = files;
        // held to the end: dropped after the final meta is written
        let echo = !(self.config.quiet || self.config.json || self.config.detach);
        let mut warnings = Warnings::default();
        let mut notifies = Vec::new();
        let mut attempts = Vec::new();
        let mut session_id: Option<String> = None;

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
            codex_version: self.codex_version,
            codex_argv: &self.codex_argv,
            host: &self.host,
            supervisor_pid: std::process::id(),
        });
        log.write(pre.as_bytes());
        // Queued: wait for --after and a slot (the slot is held to the end of the run).
        let mut slot = None;
        let mut waited = None;
        if self.queued() {
            match self.wait_queued(&mut log, sigs, &mut warnings) {
                Ok(s) => slot = s,
                Err(end) => waited = Some(end),
            }
        }
        if let Some(end) = waited {
            reserve.release();
            let code = self.finish(finish::Ending {
                end,
                log: &mut log,
                out: &mut out,
                warnings: &mut warnings,
                notifies,
                attempts,
                session_id,
                output_bytes: 0,
                report: &mut report,
            });
            drop(lock);
            return code;
        }
        self.emit(
            "run_started",
            &self.event_fields(Status::Running, None),
            &mut notifies,
            &mut warnings,
        );

        let mut output_bytes = 0u64;
        // --timeout counts from codex's start, not from the time spent queued
        let run_deadline = self.config.timeout.map(|t| Instant::now() + t);
        let mut ctx = Ctx {
            log: &mut log,
            out: &mut out,
            echo,
            sigs,
            run_deadline,
            warnings: &mut warnings,
            notifies: &mut notifies,
            attempts: &mut attempts,
            session_id: &mut session_id,
            late_signal: None,
            report: &mut report,
            budget: rollouts::BudgetWatch::new(
                self.config.budget,
                chrono::Utc::now().timestamp_millis(),
                model_of(&self.config.codex_args),
            ),
        };
        let end = self.attempts(&mut ctx, &mut output_bytes);
        if let Some(b) = ctx.budget.as_mut() {
            b.refresh(ctx.session_id.as_deref());
            if let Some(w) = b.unpriced.clone() {
                ctx.warnings.push(w);
            }
            if let (Some(why), false) = (b.over(), end.status == Status::OverBudget) {
                // the budget was passed, but only the end of codex's turn showed it
                let late = self
                    .codex_version
                    .filter(|&v| !has(v, Fact::UsageInRolloutPerCall))
                    .map(|v| {
                        format!(" (codex-cli {v} writes a call's usage only after its tools ran)")
                    })
                    .unwrap_or_default();
                ctx.warnings
                    .push(format!("the run passed its budget: {why}{late}"));
            }
            let u = b.used;
            let used = json!({"tokens": u.tokens, "cost_usd": u.cost_usd, "model_calls": u.calls});
            if let Err(e) = codex_meta::update_meta(&self.meta_path, |m| {
                m.extra.insert("budget_used".into(), used);
            }) {
                ctx.warnings
                    .push(format!("cannot record the budget used: {e}"));
            }
        }
        reserve.release();
        let code = self.finish(finish::Ending {
            end,
            log: &mut log,
            out: &mut out,
            warnings: &mut warnings,
            notifies,
            attempts,
            session_id,
            output_bytes,
            report: &mut report,
        });
        drop(slot);
        drop(lock);
        code
    }

    /// Wait as `queued` ([`queue::wait`]); `Err` is how the run ends without codex.
    fn wait_queued(
        &self,
        log: &mut Log,
        sigs: &Signals,
        warnings: &mut Warnings,
    ) -> Result<Option<queue::Slot>, attempts::Final> {
        let since = Instant::now();
        let mut note = |text: &str| {
            log.write(format!("codex-spawn: queued: {text}\n").as_bytes());
        };
        let waited = queue::wait(
            &self.runs_dir,
            &self.id,
            &self.after,
            self.config.queue.as_ref(),
            sigs,
            &mut note,
        );
        let ended = |status, exit_code, signal, reason: String| attempts::Final {
            status,
            exit_code,
            signal,
            reason: Some(reason),
            ended_at: codex_meta::now_rfc3339(),
            attempts: 0,
        };
        match waited {
            queue::Waited::Go(slot) => {
                let queued_seconds = round3(since.elapsed().as_secs_f64());
                let text = match &slot {
                    Some(s) => format!(
                        "codex starts after {queued_seconds} s queued (slot {} of queue {})",
                        s.index,
                        self.config.queue.as_ref().map_or("", |q| q.name.as_str())
                    ),
                    None => format!("codex starts after {queued_seconds} s queued"),
                };
                log.write(format!("codex-spawn: {text}\n").as_bytes());
                let index = slot.as_ref().map(|s| s.index);
                if let Err(e) = codex_meta::update_meta(&self.meta_path, |m| {
                    m.status = Some(Status::Running);
                    m.extra
                        .insert("queued_seconds".into(), json!(queued_seconds));
                    if let Some(k) = index {
                        m.extra.insert("queue_slot".into(), json!(k));
                    }
                }) {
                    warnings.push(format!("cannot record the end of the queue wait: {e}"));
                }
                Ok(slot)
            }
            queue::Waited::Signal(sig) => Err(ended(
                Status::Killed,
                128 + sig as i32 as u8,
                Some(sig),
                format!(
                    "codex-spawn received {} while queued: codex never started",
                    sig.as_str()
                ),
            )),
            queue::Waited::DependencyFailed(why) => Err(ended(
                Status::DependencyFailed,
                crate::cli::EXIT_DEPENDENCY_FAILED,
                None,
                format!("{why}: codex was not started"),
            )),
            queue::Waited::Broken(why) => Err(ended(
                Status::Failed,
                finish::EXIT_OWN_FAILURE,
                None,
                format!("{why}: codex was not started"),
            )),
        }
    }
}

/// `--after RUN…`, each a run of the runs dir (or a meta path, or a launch file).
fn resolve_after(runs: &RunsDir, after: &[String]) -> Result<Vec<queue::Dependency>, SpawnError> {
    after
        .iter()
        .map(|a| {
            let meta = runs
                .resolve_run(a)
                .map_err(|e| SpawnError::usage(format!("--after {a}: {e}")))?;
            let m = codex_meta::read_meta(&meta)
                .map_err(|e| SpawnError::usage(format!("--after {a}: {e}")))?;
            let run_id = if m.run_id.is_empty() {
                a.clone()
            } else {
                m.run_id
            };
            Ok(queue::Dependency { run_id, meta })
        })
        .collect()
}

/// `--resume RUN`: a run id (or a launch file, or a meta path) whose session is resumed
/// becomes that session's id. A session id, `last`, or a name that is no run stays as
/// given. Returns the run's id.
fn resume_of_run(runs: &RunsDir, config: &mut Config) -> Result<Option<String>, SpawnError> {
    let Some(crate::config::Resume::Id(arg)) = &config.resume else {
        return Ok(None);
    };
    if codex_session_id::Uuid::parse(arg.as_bytes()).is_some() {
        return Ok(None);
    }
    let meta_path = match runs.resolve_run(arg) {
        Ok(p) => p,
        Err(
            codex_meta::MetaError::UnknownRun { .. } | codex_meta::MetaError::InvalidRunId { .. },
        ) if !std::path::Path::new(arg).exists() => {
            return Ok(None); // not a run: codex is given it as is
        }
        Err(e) => return Err(SpawnError::usage(format!("--resume {arg}: {e}"))),
    };
    let meta = codex_meta::read_meta(&meta_path)
        .map_err(|e| SpawnError::usage(format!("--resume {arg}: {e}")))?;
    let Some(sid) = meta.session_id.clone().filter(|s| !s.is_empty()) else {
        return Err(SpawnError::usage(format!(
            "--resume {arg}: run {} has no codex session id (yet): nothing to resume",
            meta.run_id
        )));
    };
    config.resume = Some(crate::config::Resume::Id(sid));
    Ok(Some(meta.run_id))
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
