//! The run: from creating its files to the closing lines.
//!
//! [`run`] is the whole life of one `codex-spawn` invocation after validation:
//!
//! 1. create the run through codex-meta (log with O_EXCL, the run lock held for the run's
//!    life), write the meta as `running`, print the four run lines (flushed) — so a caller
//!    that reads the meta right after the first line finds it;
//! 2. (`--detach`: fork; the parent returns here);
//! 3. write the preamble, emit `run_started`, start codex ([`crate::process`]);
//! 4. the event loop ([`Attempt::supervise`]): one thread, poll(2) on codex's output pipe
//!    and a signalfd. Each chunk goes to the log (the record: written whole, first), to the
//!    session-id scanner (the first id goes to the meta at once) and to stdout (unless
//!    quiet; a failed write only stops the echo). Signals are forwarded to codex's process
//!    group; `--timeout` sends SIGTERM then SIGKILL after `--kill-grace`;
//! 5. after codex exits: drain the pipe briefly (codex's background children may hold it
//!    open), kill what is left of codex's group, write the final meta, the summary, the
//!    closing lines, emit `run_completed`.
//!
//! One codex invocation is one *attempt* (an entry of the meta's `attempts`), so a verify
//! loop can run several.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
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
    let NewRun { id, paths, log } = runs.create_run()?;
    let lock = RunLock::acquire(&log)?;
    let last_message = if argv::names_last_message(&config.codex_args) {
        None
    } else {
        // Pre-created 0600, so codex's last message stays private.
        let _ = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&paths.last_message);
        Some(paths.last_message.clone())
    };
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
        let end = self.attempt(&mut log, &mut out, echo, &mut session_id, &mut warnings);

        // Final meta.
        let ended_at = end.ended_at.clone();
        let elapsed = round3(self.started.elapsed().as_secs_f64());
        let attempt_entry = json!({
            "attempt": 1,
            "started_at": end.started_at,
            "ended_at": end.ended_at,
            "exit_code": end.exit_code,
            "signal": end.signal.map(|s| s.as_str()),
            "status": end.status.as_str(),
            "output_bytes": end.output_bytes,
        });
        let sid = session_id.clone();
        let updated = codex_meta::update_meta(&self.meta_path, |m| {
            m.status = Some(end.status);
            m.exit_code = Some(i32::from(end.exit_code));
            m.signal = end.signal.map(|s| s.as_str().to_owned());
            m.ended_at = Some(ended_at.clone());
            m.elapsed_seconds = Some(elapsed);
            m.outcome_reason = end.reason.clone();
            if sid.is_some() {
                m.session_id = sid.clone();
            }
            m.attempts.get_or_insert_with(Vec::new).push(attempt_entry);
        });
        if let Err(e) = &updated {
            warnings.push(format!("cannot write the final meta: {e}"));
        }

        // Summary.
        // The streaming phase's peak memory (the summary below may read the log whole).
        let peak_rss = max_rss_kib();
        let summary =
            crate::summary::summarize(updated.as_ref().ok(), &self.meta_path, &self.runs_dir);
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
        self.emit("run_completed", &fields, &mut notifies, &mut warnings);
        warnings.extend(events::finish_notifies(notifies));

        // Closing lines (log, then stdout).
        let mut tail = String::new();
        if self.config.verbosity >= crate::config::Verbosity::Normal {
            tail.push_str(&format!("codex_output_bytes={}\n", end.output_bytes));
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

    /// One codex invocation, start to reaped (plus the drain).
    fn attempt(
        &self,
        log: &mut Log,
        out: &mut Stdout,
        echo: bool,
        session_id: &mut Option<String>,
        warnings: &mut Vec<String>,
    ) -> AttemptEnd {
        let started_at = codex_meta::now_rfc3339();
        let fail = |code: u8, reason: String| AttemptEnd {
            started_at: started_at.clone(),
            ended_at: codex_meta::now_rfc3339(),
            exit_code: code,
            status: Status::Failed,
            signal: None,
            reason: Some(reason),
            output_bytes: 0,
        };
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
                log.write(format!("codex-spawn: {reason}\n").as_bytes());
                return fail(code, reason);
            }
        };
        let sfd = match process::signal_fd() {
            Ok(s) => s,
            Err(e) => return fail(125, e.to_string()),
        };
        let input = if self.config.task.via_stdin {
            Input::Prompt(&self.config.task.bytes)
        } else {
            Input::Null
        };
        let codex =
            match process::spawn_codex(&bin, &self.config.codex_bin, &self.codex_argv, input) {
                Ok(c) => c,
                Err(e) => {
                    let code = match e.kind() {
                        io::ErrorKind::NotFound => 127,
                        _ => 126,
                    };
                    let reason = format!("codex binary '{}' cannot be run: {e}", bin.display());
                    log.write(format!("codex-spawn: {reason}\n").as_bytes());
                    return fail(code, reason);
                }
            };
        let guardian = match Guardian::start(codex.pgid()) {
            Ok(g) => Some(g),
            Err(e) => {
                warnings.push(format!("no guardian: {e}"));
                None
            }
        };
        let mut sup = Loop {
            run: self,
            log,
            out,
            echo,
            session_id,
            warnings,
            scanner: codex_session_id::Scanner::new(),
            output_bytes: 0,
        };
        let end = sup.supervise(codex, &sfd, started_at);
        if let Some(g) = guardian {
            g.disarm();
        }
        end
    }
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

struct Loop<'a> {
    run: &'a Run,
    log: &'a mut Log,
    out: &'a mut Stdout,
    echo: bool,
    session_id: &'a mut Option<String>,
    warnings: &'a mut Vec<String>,
    scanner: codex_session_id::Scanner,
    output_bytes: u64,
}

impl Loop<'_> {
    fn chunk(&mut self, bytes: &[u8]) {
        self.output_bytes += bytes.len() as u64;
        self.log.write(bytes);
        if self.session_id.is_none() {
            let first = self.scanner.feed(bytes).next();
            if let Some(id) = first {
                self.found(id.uuid.as_str().to_owned());
            }
        }
        if self.echo {
            self.out.write(bytes);
        }
    }

    fn found(&mut self, id: String) {
        let sid = id.clone();
        if let Err(e) = codex_meta::update_meta(&self.run.meta_path, |m| m.session_id = Some(sid)) {
            self.warnings
                .push(format!("cannot record the session id in the meta: {e}"));
        }
        *self.session_id = Some(id);
    }

    fn supervise(&mut self, mut codex: Codex, sfd: &SignalFd, started_at: String) -> AttemptEnd {
        let pgid = codex.pgid();
        let mut buf = vec![0u8; CHUNK];
        let mut pipe_open = true;
        let mut exit: Option<std::process::ExitStatus> = None;
        let mut exited_at = Instant::now();
        let mut last_data = Instant::now();
        let timeout_at = self.run.config.timeout.map(|t| Instant::now() + t);
        let mut timed_out = false;
        let mut forwarded: Option<Signal> = None;
        let mut kill_at: Option<Instant> = None;
        let mut last_sent: Option<Signal> = None;
        let grace = self.run.config.kill_grace;

        loop {
            let now = Instant::now();
            if exit.is_some() {
                let drain_end = (last_data + DRAIN_SILENCE).min(exited_at + DRAIN_MAX);
                if !pipe_open || now >= drain_end {
                    break;
                }
            }
            // Timers.
            if exit.is_none() {
                if let Some(t) = timeout_at {
                    if !timed_out && now >= t {
                        timed_out = true;
                        process::kill_group(pgid, Signal::SIGTERM);
                        last_sent = Some(Signal::SIGTERM);
                        kill_at.get_or_insert(now + grace);
                    }
                }
                if let Some(k) = kill_at {
                    if now >= k {
                        process::kill_group(pgid, Signal::SIGKILL);
                        last_sent = Some(Signal::SIGKILL);
                        kill_at = None;
                    }
                }
            }
            let mut deadline: Option<Instant> = None;
            let mut consider = |d: Instant| {
                deadline = Some(deadline.map_or(d, |x: Instant| x.min(d)));
            };
            if exit.is_none() {
                if let (Some(t), false) = (timeout_at, timed_out) {
                    consider(t);
                }
                if let Some(k) = kill_at {
                    consider(k);
                }
            } else {
                consider((last_data + DRAIN_SILENCE).min(exited_at + DRAIN_MAX));
            }
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
                    fds.push(PollFd::new(codex.output.as_fd(), PollFlags::POLLIN));
                }
                match nix::poll::poll(&mut fds, timeout) {
                    Ok(_) => {}
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(e) => {
                        self.warnings.push(format!("poll failed: {e}"));
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
                    match nix::unistd::read(&codex.output, &mut buf) {
                        Ok(0) => {
                            pipe_open = false;
                            break;
                        }
                        Ok(n) => {
                            last_data = Instant::now();
                            self.chunk(&buf[..n]);
                        }
                        Err(nix::errno::Errno::EINTR) => {}
                        Err(nix::errno::Errno::EAGAIN) => break,
                        Err(e) => {
                            self.warnings
                                .push(format!("reading codex's output failed: {e}"));
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
                    // Forward to codex's group; escalate to SIGKILL after the grace.
                    process::kill_group(pgid, sig);
                    forwarded = Some(sig);
                    last_sent = Some(sig);
                    kill_at.get_or_insert(Instant::now() + grace);
                }
            }
            if exit.is_none() {
                if let Ok(Some(status)) = codex.child.try_wait() {
                    exit = Some(status);
                    exited_at = Instant::now();
                }
            }
        }
        // Whatever codex left in its group (background children) does not outlive the run.
        process::kill_group(pgid, Signal::SIGKILL);
        if let Some(id) = self.scanner.finish() {
            if self.session_id.is_none() {
                self.found(id.uuid.as_str().to_owned());
            }
        }
        let ended_at = codex_meta::now_rfc3339();
        let status = exit.unwrap_or_else(|| std::process::ExitStatus::from_raw(0));
        let died_by = status.signal().and_then(|n| Signal::try_from(n).ok());
        let (exit_code, st, signal, reason) = if timed_out {
            (
                124,
                Status::TimedOut,
                last_sent,
                Some(format!(
                    "timed out after {} s",
                    self.run.config.timeout.map_or(0.0, |t| t.as_secs_f64())
                )),
            )
        } else if let Some(sig) = forwarded {
            (
                128 + sig as i32 as u8,
                Status::Killed,
                Some(sig),
                Some(format!("codex-spawn received {}", sig.as_str())),
            )
        } else if let Some(sig) = died_by {
            (
                128 + sig as i32 as u8,
                Status::Killed,
                Some(sig),
                Some(format!("codex died by {}", sig.as_str())),
            )
        } else {
            let code = status.code().unwrap_or(1);
            let code = u8::try_from(code).unwrap_or(1);
            if code == 0 {
                (0, Status::Succeeded, None, None)
            } else {
                (
                    code,
                    Status::Failed,
                    None,
                    Some(format!("codex exited with {code}")),
                )
            }
        };
        AttemptEnd {
            started_at,
            ended_at,
            exit_code,
            status: st,
            signal,
            reason,
            output_bytes: self.output_bytes,
        }
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

/// The supervisor's peak resident memory (KiB).
fn max_rss_kib() -> i64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct we pass; on failure we report 0.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) } != 0 {
        return 0;
    }
    // SAFETY: initialised by the successful call above (and zeroed before).
    unsafe { usage.assume_init() }.ru_maxrss
}
