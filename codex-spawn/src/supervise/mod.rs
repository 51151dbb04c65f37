//! The run: from creating its files to the closing lines.
//!
//! [`run`] is the whole life of one `codex-spawn` invocation after validation:
//!
//! 1. resolve `--after` and `--resume RUN` ([`resolve`]); claim the run's files
//!    ([`files`]: log and last-message file O_EXCL|O_NOFOLLOW, the run lock, room reserved
//!    for the final record), write the meta ([`record`]) as `running` (or `queued`) with
//!    the liveness witness (pid, start time, boot id), print the four run lines
//!    ([`launch`], flushed) — so a caller that reads the meta right after the first line
//!    finds it;
//! 2. (`--detach`: fork; the parent returns here — with `--detach=session` once the
//!    supervisor reported the session id);
//! 3. write the preamble; `queued`: wait for `--after` and a `--max-running` slot
//!    ([`queue`]); emit `run_started`, start codex through its keeper
//!    ([`crate::process`]: nothing codex starts outlives the run, however we die);
//! 4. the event loop ([`watch`]): poll(2) on codex's output, its keeper and the signals.
//!    Each chunk goes to the log (the record: written whole, first), to the session-id
//!    scanner (the first id goes to the meta at once), to the outcome detector
//!    ([`crate::outcome`]) and to stdout (unless quiet). Signals are forwarded to codex's
//!    process group; `--timeout`, `--stall-timeout` and a passed budget ([`rollouts`]:
//!    the run's usage in codex's rollout) send SIGTERM then SIGKILL;
//! 5. after codex exits: drain the pipe briefly, then the keeper kills what is left of
//!    the run; the exit status and the detector's verdict give the attempt's outcome;
//! 6. with `--verify` ([`attempts`]), when codex succeeded: the check; while it fails
//!    and attempts are left, back to 3 resuming the session with a follow-up prompt;
//! 7. the end ([`finish`]): the worktree's end ([`worktree`]: commit, count, remove),
//!    release the reserve, write the final meta, the summary, the closing lines, emit
//!    `run_completed`, report every warning on stderr.
//!
//! Where a fault is handled: a planted file or a full disk at the start — [`files`];
//! the supervisor or its keeper killed — [`crate::process`]; a full disk or a closed
//! stdout during the run — [`files`] (counted) and [`finish`] (reported, exit 125); a
//! signal or a timer — [`watch`]. The supervisor is single-threaded: it forks keepers.

mod attempts;
mod check;
mod codex;
mod detached;
mod files;
mod finish;
mod launch;
mod queue;
mod record;
mod resolve;
mod rollouts;
mod watch;
mod worktree;

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use codex_meta::{Attempt, RunsDir, Status, Witness};
use codex_session_id::codex_version::{MIN_SUPPORTED, Version};
use nix::sys::signal::Signal;

use crate::argv::{self, Unrunnable};
use crate::config::Config;
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
    /// When the run was made, as a queued run's wait began (queued runs only).
    queued_at: Option<String>,
    /// When the run was made (the queue wait's start for a queued run).
    made: Instant,
    /// When codex's part began: at once, or when the run left the queue; `None` while
    /// queued and for a run that never left it (its time is `queued_seconds`).
    started_at: Option<String>,
    started: Option<Instant>,
    /// `--after`, resolved.
    after: Vec<queue::Dependency>,
    /// `--resume RUN`: the run whose session is resumed.
    resume_run: Option<String>,
    /// `--worktree`: the run's worktree, made.
    worktree: Option<crate::worktree::Active>,
    /// `--worktree` of a queued run: made when it leaves the queue.
    worktree_plan: Option<crate::worktree::Plan>,
    /// The record of a queued run's worktree that could not be made.
    worktree_not_made: Option<codex_meta::Worktree>,
    /// The batch scheduler the run is under (its environment says so).
    scheduler: Option<codex_meta::scheduler::Scheduler>,
}

/// What a run is before its files exist: the config completed, codex found, the runs
/// dir, what it comes after and resumes.
struct Prepared {
    config: Config,
    runs: RunsDir,
    codex_bin: Result<PathBuf, Unrunnable>,
    codex_version: Option<Version>,
    after: Vec<queue::Dependency>,
    resume_run: Option<String>,
}

/// Run codex as configured; returns codex-spawn's exit status.
pub fn run(config: Config) -> Result<u8, SpawnError> {
    let started = Instant::now();
    let p = prepare(config)?;
    let queued = !p.after.is_empty() || p.config.queue.is_some();
    let plan = match &p.config.worktree {
        Some(req) => {
            // codex (and the check) work in the worktree: a GIT_DIR of the caller's (a
            // git hook that runs codex-spawn) would send their git to the main repo
            crate::sys::child::remove_env(&crate::worktree::REPO_ENV).map_err(|e| {
                SpawnError::Sys {
                    action: "clear git's repository variables",
                    source: e,
                }
            })?;
            let prior = resolve::prior_worktree(&p.runs, &p.config)?;
            Some(crate::worktree::plan(
                &p.config.repo_abs,
                req,
                prior,
                queued,
            )?)
        }
        None => None,
    };
    let files = RunFiles::create(&p.runs, &p.config)?;
    // Signals are ours before the worktree is made and the meta says running: a SIGTERM
    // from then on ends the run as `killed` with a final record (one that came before
    // codex started: codex never starts), never by the default action.
    let mut sigs = match Signals::install(&HANDLED) {
        Ok(s) => s,
        Err(e) => {
            files.discard();
            return Err(SpawnError::Sys {
                action: "receive signals",
                source: e,
            });
        }
    };
    let mut run = match Run::new(p, &files, plan, queued) {
        Ok(r) => r,
        Err(e) => {
            files.discard();
            return Err(e);
        }
    };
    run.clock_in(started);
    let mut meta = run.initial_meta();
    if !run.config.early_warnings.is_empty() {
        let mut err = std::io::stderr().lock();
        for w in &run.config.early_warnings {
            let _ = writeln!(err, "codex-spawn: warning: run {}: {w}", run.id);
        }
        meta.warnings = Some(run.config.early_warnings.clone());
    }
    if run.config.detach {
        return run.detach(files, meta, &mut sigs);
    }
    match Witness::current() {
        Some(w) => w.record(&mut meta),
        None => meta.pid = Some(std::process::id()),
    }
    if let Err(e) = codex_meta::write_meta(&run.meta_path, &meta) {
        run.abandon(files);
        return Err(e.into());
    }
    let mut out = Stdout::new(true);
    out.write(run.run_lines().as_bytes());
    Ok(run.supervise(files, out, &sigs, crate::detach::SessionReport::new(None)))
}

/// Find codex and its version, and resolve what the run names (`--after`, `--resume
/// RUN`) in the runs dir: every usage error comes before a file is made.
fn prepare(config: Config) -> Result<Prepared, SpawnError> {
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
    let after = resolve::resolve_after(&runs, &config.after)?;
    let resume_run = resolve::resume_of_run(&runs, &mut config)?;
    if config.worktree.is_none() {
        if let Some(w) = resume_run
            .as_deref()
            .and_then(|r| resolve::worktree_of_run(&runs, r))
        {
            config.early_warnings.push(format!(
                "the session resumed worked on branch {} (--worktree): this run works in --repo itself; add --worktree to go on on that branch",
                w.branch
            ));
        }
    }
    Ok(Prepared {
        config,
        runs,
        codex_bin,
        codex_version,
        after,
        resume_run,
    })
}

impl Run {
    /// The run, once its files exist. A queued run's worktree is made when it leaves the
    /// queue (its base taken then: a run --after another may start from that one's
    /// result); the others' now, before the meta, so that a failure leaves nothing
    /// (exit 2).
    fn new(
        p: Prepared,
        files: &RunFiles,
        plan: Option<crate::worktree::Plan>,
        queued: bool,
    ) -> Result<Run, SpawnError> {
        let mut config = p.config;
        let (worktree, worktree_plan) = match plan {
            None => (None, None),
            Some(plan) if queued => {
                config.workdir = plan.workdir(&files.id);
                (None, Some(plan))
            }
            Some(plan) => {
                let w = plan.create(&files.id)?;
                config.workdir = w.workdir.clone();
                (Some(w), None)
            }
        };
        let codex_argv = argv::codex_args(&config, files.last_message.as_deref(), p.codex_version);
        Ok(Run {
            runs_dir: p.runs.path().to_path_buf(),
            id: files.id.clone(),
            log_path: files.paths.log.clone(),
            meta_path: files.paths.meta.clone(),
            summary_path: files.paths.summary.clone(),
            last_message: files.last_message.clone(),
            codex_bin: p.codex_bin,
            codex_version: p.codex_version,
            codex_argv,
            host: codex_meta::hostname(),
            queued_at: None,
            made: Instant::now(),
            started_at: None,
            started: None,
            after: p.after,
            resume_run: p.resume_run,
            worktree,
            worktree_plan,
            worktree_not_made: None,
            scheduler: codex_meta::scheduler::Scheduler::from_env(),
            config,
        })
    }

    /// What exists of the run when it cannot start after all: its files and worktree go.
    fn abandon(&self, files: RunFiles) {
        files.discard();
        if let Some(w) = &self.worktree {
            w.discard();
        }
    }
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
    attempts: &'a mut Vec<Attempt>,
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

    /// The run was made at `made`: a queued run's wait begins, any other run starts.
    fn clock_in(&mut self, made: Instant) {
        self.made = made;
        let now = codex_meta::now_rfc3339();
        if self.queued() {
            self.queued_at = Some(now);
        } else {
            self.started_at = Some(now);
            self.started = Some(made);
        }
    }

    /// The run left the queue: its own time starts now. Returns the seconds it waited.
    fn clock_start(&mut self) -> f64 {
        self.started_at = Some(codex_meta::now_rfc3339());
        self.started = Some(Instant::now());
        self.queued_seconds().unwrap_or(0.0)
    }

    /// How long a queued run waited (until now, for one that never left the queue).
    fn queued_seconds(&self) -> Option<f64> {
        self.queued_at.as_ref()?;
        let waited = match self.started {
            Some(t) => t.saturating_duration_since(self.made),
            None => self.made.elapsed(),
        };
        Some(round3(waited.as_secs_f64()))
    }

    /// The run's own time so far: from its start (0 for a run that never left the queue).
    fn elapsed(&self) -> f64 {
        self.started
            .map_or(0.0, |t| round3(t.elapsed().as_secs_f64()))
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
        mut self,
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
        for w in &self.config.early_warnings {
            warnings.push(w.clone());
        }
        let mut notifies = Vec::new();
        let mut attempts = Vec::new();
        let mut session_id: Option<String> = None;

        let pre = self.preamble();
        log.write(pre.as_bytes());
        // Queued: wait for --after and a slot (the slot is held to the end of the run).
        let (slot, waited) = self.leave_queue(&mut log, sigs, &mut warnings);
        let mut output_bytes = 0u64;
        let end = match waited {
            Some(end) => end,
            None => {
                self.emit(
                    "run_started",
                    &self.event_fields(Status::Running, None),
                    &mut notifies,
                    &mut warnings,
                );
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
                    budget: Some(rollouts::BudgetWatch::new(
                        self.config.budget,
                        chrono::Utc::now().timestamp_millis(),
                        record::model_of(&self.config.codex_args),
                    )),
                };
                let mut end = self.attempts(&mut ctx, &mut output_bytes);
                self.settle_budget(&mut ctx, &mut end);
                end
            }
        };
        // the worktree's end before the reserve goes: a full disk fails git, not the record
        let worktree = self.end_worktree(&end, &attempts, &mut log, &mut warnings);
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
            worktree,
        });
        drop(slot);
        drop(lock);
        code
    }
}

impl Run {
    /// The log's preamble: what the run is, before anything codex prints.
    fn preamble(&self) -> String {
        let started_local =
            chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, false);
        preamble::render(&PreambleInput {
            config: &self.config,
            run_id: &self.id,
            runs_dir: &self.runs_dir,
            log_file: &self.log_path,
            meta_file: &self.meta_path,
            summary_file: &self.summary_path,
            last_message_file: self.last_message.as_deref(),
            started_at: self
                .queued_at
                .as_deref()
                .or(self.started_at.as_deref())
                .unwrap_or_default(),
            started_at_local: &started_local,
            queued: self.queued(),
            codex_bin_resolved: self.codex_bin.as_ref().ok().map(PathBuf::as_path),
            codex_version: self.codex_version,
            codex_argv: &self.codex_argv,
            host: &self.host,
            supervisor_pid: std::process::id(),
            worktree: self.worktree.as_ref(),
            scheduler: self.scheduler.as_ref(),
        })
    }

    /// A queued run waits for `--after` and a slot (held to the end of the run, even
    /// when the run ends here), then its worktree is made; with how the run ended when it
    /// never leaves the queue.
    fn leave_queue(
        &mut self,
        log: &mut Log,
        sigs: &Signals,
        warnings: &mut Warnings,
    ) -> (Option<queue::Slot>, Option<attempts::Final>) {
        let mut slot = None;
        if self.queued() {
            match self.wait_queued(log, sigs, warnings) {
                Ok(s) => slot = s,
                Err(end) => return (None, Some(end)),
            }
        }
        (slot, self.make_queued_worktree(log).err())
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
