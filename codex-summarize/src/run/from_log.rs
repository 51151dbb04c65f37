//! A run's tokens from its log, when no rollout has them: sources 2 and 3 of
//! [`super`], and what a resumed run's numbers mean.
//!
//! A log's usage is a running total — of what, depends on the version: the event stream
//! before 0.44 and the one-line `tokens used: N` count the process's own calls, so do
//! `turn.completed` and `tokens used` of 0.44–0.77 on resume; from 0.79 a resumed
//! process starts from the session's total ([`Fact::ResumeUsageIsCumulative`]). So a
//! resumed run's own tokens are the log's number itself, or that number minus where the
//! session stood before the run. The version comes from the meta (codex-spawn records
//! it) or the log's banner; without it, the data decides only when it can (a number
//! below the session's earlier total is not the session's total), else the run's
//! tokens are unknown, with the reason — never a guess.

use std::path::{Path, PathBuf};

use codex_meta::Meta;
use codex_session_id::codex_version::{self, Fact, Version};
use codex_session_id::log::json::TURN_COMPLETED;
use const_format::concatcp;

use super::{Options, RunSummary, Source, Tokens, price_whole};
use crate::events::{self, LogScan};
use crate::time::parse_ts_ms;
use crate::usage::Usage;

/// How a resumed run's log counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Counting {
    /// This run's calls (a new session, an old version, or 0.44–0.77 on resume).
    ThisRun,
    /// The session's calls, the earlier runs' included.
    Session,
    /// Not known (a resumed run of an unknown version).
    Unknown,
}

fn counting(is_resume: bool, per_process: bool, version: Option<Version>) -> Counting {
    if !is_resume || per_process {
        return Counting::ThisRun;
    }
    match version {
        Some(v) if codex_version::has(v, Fact::ResumeUsageIsCumulative) => Counting::Session,
        Some(_) => Counting::ThisRun,
        None => Counting::Unknown,
    }
}

const RESUMED_TOTAL_UNKNOWN: &str = concatcp!(
    "resumed session: its total before this run is unknown (no rollout, no earlier run of it with exact usage in the runs dir); ",
    TURN_COMPLETED,
    " usage is cumulative for the session"
);

const NO_REASONING: &str = concatcp!(
    "this CLI version's ",
    TURN_COMPLETED,
    " usage has no reasoning_output_tokens"
);

const UNKNOWN_VERSION: &str = "resumed run of an unknown Codex CLI version: its log counts this run (before 0.79) or the whole session (from 0.79), and the numbers cannot tell";

/// What the reading of a log's usage needs to know of its run.
struct Run<'a> {
    version: Option<Version>,
    is_resume: bool,
    meta: &'a Meta,
    meta_path: Option<&'a Path>,
    opts: &'a Options,
}

impl Run<'_> {
    /// The session's total at the end of the run before this one.
    fn before(&self, s: &RunSummary) -> Option<PrevTotal> {
        previous_session_total(self.meta, self.meta_path, self.opts, s)
    }
}

/// Fills `s` from the log's usage; false when the log has none.
pub(super) fn summarize(
    s: &mut RunSummary,
    log: &LogScan,
    version: Option<Version>,
    is_resume: bool,
    meta: &Meta,
    meta_path: Option<&Path>,
    opts: &Options,
) -> bool {
    let run = Run {
        version,
        is_resume,
        meta,
        meta_path,
        opts,
    };
    let exact = match (log.last_turn_usage, log.stream_usage) {
        (Some(u), _) => Some((u, false, log.turn_reasoning_known)),
        (None, Some(u)) => Some((u, true, true)),
        (None, None) => None,
    };
    if let Some((end, per_process, reasoning_known)) = exact {
        // the data's own word: `reasoning_output_tokens` in turn.completed since 0.100
        let version = version.or_else(|| {
            (log.last_turn_usage.is_some() && reasoning_known)
                .then(|| codex_version::since(Fact::ReasoningTokensInTurnUsage))
        });
        let run = Run { version, ..run };
        from_events(s, &run, end, per_process, reasoning_known);
        return true;
    }
    match log.blended.total(version) {
        Ok(Some(end)) => from_blended(s, &run, end, log.blended.one_line),
        Ok(None) => return false,
        Err(reason) => {
            s.token_usage.source = Some(Source::Log);
            s.token_usage.run = Tokens::blended(None);
            s.token_usage.reason = Some(reason);
            s.cost.model = s.model.clone();
            s.cost.reason = Some("this run's tokens are unknown".into());
        }
    }
    true
}

/// Source 2: the `--json` events' usage at the end of the log (`end`), counting the
/// process's own calls when `per_process` (the stream before 0.44).
fn from_events(
    s: &mut RunSummary,
    r: &Run<'_>,
    end: Usage,
    per_process: bool,
    reasoning_known: bool,
) {
    s.token_usage.source = Some(Source::Events);
    let mut mode = counting(r.is_resume, per_process, r.version);
    let before = match mode {
        Counting::ThisRun if !r.is_resume => Some(PrevTotal::Exact(Usage::default())),
        _ => r.before(s),
    };
    if mode == Counting::Unknown {
        if let Some(PrevTotal::Exact(p)) = before {
            if !end.covers(&p) {
                mode = Counting::ThisRun;
            }
        }
    }
    let (run, session) = match (mode, before) {
        (Counting::ThisRun, Some(PrevTotal::Exact(p))) => {
            let mut total = p;
            total.add(&end);
            (Some(end), Some(total))
        }
        (Counting::ThisRun, _) => (Some(end), None),
        (Counting::Session, Some(PrevTotal::Exact(p))) => {
            (Some(end.saturating_sub(&p).normalized()), Some(end))
        }
        (Counting::Session, _) => {
            s.token_usage.reason = Some(RESUMED_TOTAL_UNKNOWN.into());
            (None, Some(end))
        }
        (Counting::Unknown, _) => {
            s.token_usage.reason = Some(UNKNOWN_VERSION.into());
            (None, None)
        }
    };
    let with_reasoning = |u: &Usage| {
        let mut t = Tokens::exact(u);
        if !reasoning_known {
            t.reasoning_output_tokens = None;
        }
        t
    };
    s.token_usage.session_total = session.as_ref().map(with_reasoning);
    match run {
        Some(run) => {
            s.token_usage.run = with_reasoning(&run);
            if !reasoning_known {
                s.token_usage.reason = Some(NO_REASONING.into());
            }
            price_whole(s, &run, r.opts);
        }
        None => {
            s.cost.reason = Some("this run's tokens are unknown".into());
            s.cost.model = s.model.clone();
        }
    }
}

/// Source 3: the human log's blended `tokens used` total at its end (`end`), counting
/// the process's own calls when `one_line` (the one-line form before 0.44).
fn from_blended(s: &mut RunSummary, r: &Run<'_>, end: u64, one_line: bool) {
    s.token_usage.source = Some(Source::Log);
    let mut mode = counting(r.is_resume, one_line, r.version);
    let before = if r.is_resume {
        r.before(s).map(PrevTotal::blended)
    } else {
        Some(0)
    };
    if mode == Counting::Unknown && before.is_some_and(|p| end < p) {
        mode = Counting::ThisRun;
    }
    let (run, session, reason) = match (mode, before) {
        (Counting::ThisRun, b) => (Some(end), b.map(|b| b.saturating_add(end)), None),
        (Counting::Session, Some(b)) => (Some(end.saturating_sub(b)), Some(end), None),
        (Counting::Session, None) => (
            None,
            Some(end),
            Some(
                "resumed session with only the human log: its blended total is cumulative and the total before this run is unknown",
            ),
        ),
        (Counting::Unknown, _) => (None, None, Some(UNKNOWN_VERSION)),
    };
    s.token_usage.run = Tokens::blended(run);
    s.token_usage.session_total = session.map(|b| Tokens::blended(Some(b)));
    s.token_usage.reason = Some(reason.map_or_else(
        || "only the human log's blended total (input - cached + output) is known; the input/output split is not".to_owned(),
        str::to_owned,
    ));
    s.cost.model = s.model.clone();
    s.cost.reason = Some("input/output split unknown (only the human log's blended total)".into());
}

/// The session's total at the end of an earlier run.
#[derive(Debug, Clone, Copy, PartialEq)]
enum PrevTotal {
    Exact(Usage),
    Blended(u64),
}

impl PrevTotal {
    fn blended(self) -> u64 {
        match self {
            PrevTotal::Exact(u) => u.blended(),
            PrevTotal::Blended(b) => b,
        }
    }
}

/// The runs of `dir` by session (see [`super::SessionRuns`]).
fn index_sessions(dir: &Path) -> super::SessionRuns {
    let mut out = super::SessionRuns::new();
    let Ok(runs) = codex_meta::RunsDir::new(dir).and_then(|d| d.list()) else {
        return out;
    };
    for r in runs {
        let Ok(m) = r.meta else { continue };
        let t = m.started_at.as_deref().and_then(parse_ts_ms).unwrap_or(0);
        let mut ids: Vec<&str> = m.session_id.iter().map(String::as_str).collect();
        if let Some(rs) = m
            .resume_session
            .as_deref()
            .filter(|rs| Some(*rs) != m.session_id.as_deref())
        {
            ids.push(rs);
        }
        for id in ids {
            out.entry(id.to_owned())
                .or_default()
                .push((t, r.meta_path.clone()));
        }
    }
    out
}

/// Where the session stood when this run began: the session total at the end of
/// the latest earlier run of the same session in the runs dir.
fn previous_session_total(
    meta: &Meta,
    meta_path: Option<&Path>,
    opts: &Options,
    s: &RunSummary,
) -> Option<PrevTotal> {
    let sid = s.session_id.as_deref()?;
    let dir = opts
        .runs_dir
        .clone()
        .or_else(|| meta_path.and_then(Path::parent).map(Path::to_path_buf))?;
    let candidates: Vec<PathBuf> = match &opts.session_runs {
        // newest first: the latest earlier run with a total ends the search
        Some(cell) => cell
            .get_or_init(|| index_sessions(&dir))
            .get(sid)
            .map(|v| {
                let mut v = v.clone();
                v.sort_by_key(|e| std::cmp::Reverse(e.0));
                v.into_iter().map(|(_, p)| p).collect()
            })
            .unwrap_or_default(),
        None => codex_meta::RunsDir::new(&dir)
            .ok()?
            .list()
            .ok()?
            .into_iter()
            .map(|r| r.meta_path)
            .collect(),
    };
    let my_start = meta.started_at.as_deref().and_then(parse_ts_ms);
    let mut best: Option<(i64, PrevTotal)> = None;
    for meta_path in candidates {
        let Ok(m) = codex_meta::read_meta(&meta_path) else {
            continue;
        };
        if m.run_id == meta.run_id {
            continue;
        }
        let same = m.session_id.as_deref() == Some(sid) || m.resume_session.as_deref() == Some(sid);
        let Some(t) = m.started_at.as_deref().and_then(parse_ts_ms) else {
            continue;
        };
        if !same || my_start.is_some_and(|st| t >= st) {
            continue;
        }
        if best.as_ref().is_some_and(|(bt, _)| *bt >= t) {
            continue;
        }
        let log = codex_meta::log_path_for(&m, Some(&meta_path))
            .and_then(|p| events::scan_run_log(&p).ok());
        let total = log.and_then(|l: LogScan| {
            l.last_turn_usage
                .or(l.stream_usage)
                .map(PrevTotal::Exact)
                .or_else(|| {
                    let version = m.codex_version.as_deref().and_then(|v| v.parse().ok());
                    let b = l.blended.total(version.or(l.cli_version)).ok().flatten()?;
                    Some(PrevTotal::Blended(b))
                })
        });
        if let Some(total) = total {
            best = Some((t, total));
            if opts.session_runs.is_some() {
                break; // newest first (above): no older run can be later
            }
        }
    }
    best.map(|(_, t)| t)
}
