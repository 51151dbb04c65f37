//! The summary of one run: [`summarize_run`].
//!
//! It answers "what did THIS run cost": for a resumed session, the difference
//! from where the session stood when the run began, never the session's whole
//! history. Sources, best first:
//! 1. the rollout (exact per-call usage): the calls timestamped between the
//!    run's `started_at` and `ended_at`;
//! 2. `--json` events in the log: the last `turn.completed` (cumulative for the
//!    thread) minus the session's total at the end of the previous run of the same
//!    session in the runs dir (a new session starts from zero);
//! 3. the human log's `tokens used` number: blended and cumulative, so only a
//!    blended `total_tokens` is reported, input/output stay null and cost is null
//!    with a reason.
//!
//! It is called by codex-spawn at the end of every run, so it stays cheap in
//! time and memory: the log is streamed (a few MiB whatever its size, see
//! [`crate::events`]), the `-o` last message is read up to
//! [`LAST_MESSAGE_MAX_BYTES`], and the rollout is streamed too and looked up in `sessions/YYYY/MM/DD` of the session's own date (its
//! id is a UUIDv7) and the run's dates before any walk of the Codex home.

use std::path::{Path, PathBuf};

use codex_meta::{Meta, MetaError, Mode, Status};

use crate::events::{self, LogScan};
use crate::pricing::Pricing;
use crate::rollout;
use crate::time::parse_ts_ms;
use crate::usage::Usage;

mod from_log;
mod from_rollout;
mod summary;

pub use summary::{
    AttemptSummary, Attempts, Cost, RunSummary, Source, Summary, TokenUsage, Tokens,
};

/// What [`summarize_run`] needs besides the run.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The Codex home; `None`: `$CODEX_HOME`, else `~/.codex`.
    pub codex_home: Option<PathBuf>,
    /// Where earlier runs of the same session are looked for; `None`: the meta's dir.
    pub runs_dir: Option<PathBuf>,
    /// Prices.
    pub pricing: Pricing,
    /// A log to read instead of the meta's `log_file` (`--log`).
    pub log_override: Option<PathBuf>,
    /// The Codex home's rollouts, indexed once (a summary of many runs); `None`: each
    /// run looks its rollout up in the home's day directories.
    pub rollout_index: Option<std::sync::Arc<rollout::RolloutIndex>>,
    /// The runs dir's runs by session, made on first need and shared by the summaries of
    /// many runs (a resumed run counted from its log looks for the session's earlier
    /// runs: without it, each such run reads every meta of the dir).
    pub session_runs: Option<std::sync::Arc<std::sync::OnceLock<SessionRuns>>>,
}

/// Runs by session id: (started_at in epoch ms, meta path), for the session's own runs
/// and the runs that resumed it.
pub type SessionRuns = std::collections::HashMap<String, Vec<(i64, PathBuf)>>;

impl Options {
    /// The Codex home these options point at.
    pub fn resolved_codex_home(&self) -> Option<PathBuf> {
        if let Some(h) = &self.codex_home {
            return Some(h.clone());
        }
        if let Some(h) = std::env::var_os("CODEX_HOME").filter(|h| !h.is_empty()) {
            return Some(PathBuf::from(h));
        }
        std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(|h| PathBuf::from(h).join(".codex"))
    }
}

/// Why a run could not be summarised.
#[derive(Debug, thiserror::Error)]
pub enum SummarizeError {
    /// The meta could not be read or found.
    #[error(transparent)]
    Meta(#[from] MetaError),
    /// A named log could not be read.
    #[error("{path}: cannot read log: {source}")]
    Log {
        /// The log.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// A run to summarise.
#[derive(Debug, Clone, Copy)]
pub enum RunSource<'a> {
    /// A meta file.
    MetaPath(&'a Path),
    /// A meta already read (its path, when known, locates the log and runs dir).
    Meta(&'a Meta, Option<&'a Path>),
    /// Only a log (`--log LOG` without `--meta`).
    LogOnly(&'a Path),
}

impl<'a> From<&'a Path> for RunSource<'a> {
    fn from(p: &'a Path) -> Self {
        RunSource::MetaPath(p)
    }
}

impl<'a> From<&'a Meta> for RunSource<'a> {
    fn from(m: &'a Meta) -> Self {
        RunSource::Meta(m, None)
    }
}

/// Summarises one run. Fast: one meta, one log, at most a few directory listings
/// and one rollout.
pub fn summarize_run<'a>(
    run: impl Into<RunSource<'a>>,
    opts: &Options,
) -> Result<RunSummary, SummarizeError> {
    let (meta, meta_path) = read_run(run.into())?;
    let meta_path = meta_path.as_deref();
    let log_path: Option<PathBuf> = opts
        .log_override
        .clone()
        .or_else(|| codex_meta::log_path_for(&meta, meta_path));
    let log = scan_log(log_path.as_deref(), opts)?;
    let mut s = RunSummary::of_meta(&meta, meta_path, log.as_ref(), log_path.as_deref(), opts);
    let start_ms = meta.started_at.as_deref().and_then(parse_ts_ms);
    let end_ms = meta.ended_at.as_deref().and_then(parse_ts_ms);

    // 1. rollout
    if let Some(start) = start_ms {
        if let Some((path, scan)) = from_rollout::find(&s, opts, start, end_ms) {
            from_rollout::summarize(&mut s, &path, &scan, (start, end_ms), &meta, opts);
            return Ok(s);
        }
    }
    // 2. and 3. the log
    let log = log.unwrap_or_default();
    let version = meta
        .codex_version
        .as_deref()
        .and_then(|v| v.parse().ok())
        .or(log.cli_version);
    let is_resume = meta.mode == Some(Mode::Resume) || meta.resume_session.is_some();
    if from_log::summarize(&mut s, &log, version, is_resume, &meta, meta_path, opts) {
        return Ok(s);
    }
    s.token_usage.reason = Some(
        match (&s.session_id, start_ms) {
            (None, _) => {
                NO_USAGE_NO_SESSION
            }
            (Some(_), None) => {
                "no usage found in the log, and without started_at the rollout cannot be windowed"
            }
            (Some(_), Some(_)) => {
                "no usage found: no rollout for the session under the Codex home, and none in the log"
            }
        }
        .into(),
    );
    s.cost.reason = Some("no usage found".into());
    s.cost.model = s.model.clone();
    Ok(s)
}

const NO_USAGE_NO_SESSION: &str = const_format::concatcp!(
    "no usage found: no session id, no usage events and no `",
    codex_session_id::log::human::TOKENS_USED,
    "` line in the log"
);

/// The run's meta, and where it was read from.
fn read_run(run: RunSource<'_>) -> Result<(Meta, Option<PathBuf>), SummarizeError> {
    Ok(match run {
        RunSource::MetaPath(p) => (codex_meta::read_meta(p)?, Some(p.to_path_buf())),
        RunSource::Meta(m, p) => (m.clone(), p.map(Path::to_path_buf)),
        RunSource::LogOnly(_) => (Meta::default(), None),
    })
}

/// The run's log scanned: `None` when there is none or it cannot be read — an error only
/// for a log the caller named (`--log`).
fn scan_log(path: Option<&Path>, opts: &Options) -> Result<Option<LogScan>, SummarizeError> {
    let Some(p) = path else { return Ok(None) };
    let named = opts.log_override.is_some();
    let scan = match named {
        true => events::scan_log_file(p),
        false => events::scan_run_log(p),
    };
    match scan {
        Ok(scan) => Ok(Some(scan)),
        Err(source) if named => Err(SummarizeError::Log {
            path: p.display().to_string(),
            source,
        }),
        Err(_) => Ok(None),
    }
}

/// A run's success from its status and exit code: `None` while it runs, or with neither.
fn success_of(status: Option<Status>, exit_code: Option<i32>) -> Option<bool> {
    match (status, exit_code) {
        (Some(Status::Running), _) => None,
        (st, Some(code)) => Some(
            code == 0
                && !matches!(
                    st,
                    Some(
                        Status::Failed
                            | Status::Killed
                            | Status::TimedOut
                            | Status::Stalled
                            | Status::VerifyFailed
                            | Status::Lost
                    )
                ),
        ),
        (Some(st), None) => Some(st == Status::Succeeded),
        (None, None) => None,
    }
}

impl RunSummary {
    /// What the meta (and the log) say of the run, before any usage is counted.
    fn of_meta(
        meta: &Meta,
        meta_path: Option<&Path>,
        log: Option<&LogScan>,
        log_path: Option<&Path>,
        opts: &Options,
    ) -> RunSummary {
        let has_meta = meta_path.is_some() || !meta.run_id.is_empty();
        let status = has_meta.then(|| codex_meta::effective_status_at(meta, meta_path));
        // The run's own files only (beside its meta, named after its id), never a path
        // the meta's content names: a forged `last_message_file` sends no reader to
        // another file.
        let last = codex_meta::RunsDir::run_paths(meta, meta_path)
            .filter(|_| meta.last_message_file.is_some())
            .and_then(|p| read_last_message(&p.last_message));
        RunSummary {
            run_id: Some(meta.run_id.clone()).filter(|r| !r.is_empty()),
            session_id: meta
                .session_id
                .clone()
                .or_else(|| log.and_then(|l| l.session_id.clone()))
                .or_else(|| meta.resume_session.clone()),
            resume_session: meta.resume_session.clone(),
            repo: meta.repo.clone(),
            task: meta.task.clone(),
            started_at: meta.started_at.clone(),
            ended_at: meta.ended_at.clone(),
            elapsed_seconds: meta.elapsed_seconds.or_else(|| {
                let (a, b) = (
                    parse_ts_ms(meta.started_at.as_deref()?)?,
                    parse_ts_ms(meta.ended_at.as_deref()?)?,
                );
                Some((b - a) as f64 / 1000.0)
            }),
            exit_code: meta.exit_code,
            success: success_of(status, meta.exit_code),
            log_file: log_path.map(|p| p.display().to_string()),
            meta_file: meta
                .meta_file
                .clone()
                .or_else(|| meta_path.map(|p| p.display().to_string())),
            token_usage: TokenUsage::default(),
            cost: Cost {
                pricing_source: opts.pricing.source().to_owned(),
                ..Cost::default()
            },
            model: meta
                .model
                .clone()
                .or_else(|| log.and_then(|l| l.model.clone())),
            status: status.map(|st| st.to_string()),
            outcome_reason: meta.outcome_reason.clone(),
            worktree: meta.worktree(),
            last_message_truncated: last.as_ref().is_some_and(|(_, t)| *t),
            last_message: last.map(|(text, _)| text),
            attempts: None,
        }
    }
}

/// How much of the `-o` file `last_message` keeps.
pub const LAST_MESSAGE_MAX_BYTES: usize = 64 << 10;

/// The head of the last-message file (never through a symlink: a regular file only),
/// trimmed, cut to a character boundary at
/// [`LAST_MESSAGE_MAX_BYTES`], and whether it was cut; `None` when the file is
/// unreadable or blank. Reads at most one byte past the bound.
fn read_last_message(path: &Path) -> Option<(String, bool)> {
    use std::io::Read;
    let mut buf = Vec::with_capacity(4096);
    codex_meta::files::open_regular(path)
        .ok()?
        .take(LAST_MESSAGE_MAX_BYTES as u64 + 1)
        .read_to_end(&mut buf)
        .ok()?;
    let truncated = buf.len() > LAST_MESSAGE_MAX_BYTES;
    if truncated {
        buf.truncate(LAST_MESSAGE_MAX_BYTES);
        // a character cut by the bound is dropped (invalid bytes elsewhere are
        // replaced by U+FFFD below)
        if let Err(e) = std::str::from_utf8(&buf) {
            if e.error_len().is_none() {
                buf.truncate(e.valid_up_to());
            }
        }
    }
    let text = String::from_utf8_lossy(&buf);
    let text = if truncated {
        text.trim_start()
    } else {
        text.trim()
    };
    (!text.is_empty()).then(|| (text.to_owned(), truncated))
}

fn price_whole(s: &mut RunSummary, run: &Usage, opts: &Options) {
    s.cost.model = s.model.clone();
    match s.model.as_deref().map(|m| (m, opts.pricing.resolve(m))) {
        Some((_, Some(r))) => s.cost.usd = Some(r.price.cost(run)),
        Some((m, None)) => s.cost.reason = Some(format!("no price for model {m}")),
        None => {
            s.cost.reason = Some("model unknown (not in the meta, the log or a rollout)".into())
        }
    }
}
