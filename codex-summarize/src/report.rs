//! Reports over a whole Codex home: every rollout under `sessions/` and
//! `archived_sessions/` (`.jsonl` and `.jsonl.zst`), grouped by session, day, ISO week,
//! month, model or project (the session's `cwd`) — or several of them (`--by month,model`)
//! — with totals. Days, weeks and months are those of one zone ([`Zone`]).
//!
//! Memory is flat in the number of model calls: files are scanned in parallel
//! (rayon), each streamed through one bounded buffer per thread (see
//! [`rollout::EventReader`]), and each call is folded as it is read into its
//! file's buckets — one per model (and per day of the zone when a calendar key is asked
//! for), after the
//! `--since/--until` filter. What is kept is a few hundred bytes per session.
//!
//! Per session the tokens are the sum of its own calls (see [`crate::rollout`]: the
//! rule ccusage uses for ordinary sessions, so the two agree there; forks and
//! sub-agents count their own calls, not what they inherit). A fork whose file
//! replays its parent's history (no paginated history: older CLIs) does not count
//! that replay: its leading calls that match the parent's calls up to the fork
//! instant are dropped (or, when none match or the parent is not on disk, the dense
//! burst of replayed calls at its start) — [`rollout::ReplayFilter`]. Such forks are
//! rare, so they are read a second time, in lockstep with their parent's file, and
//! folded again without the replay; nothing per call is held for them either.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;

use crate::pricing::{Price, Pricing};
use crate::rollout::{self, ForkBurst, ReplayFilter, RolloutScan, UsageEvent};
use crate::usage::Usage;
use crate::zone::{DayOf, Zone};

/// What rows are keyed by (`--by`; several make one key: `--by month,model`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum GroupBy {
    /// The session (its id).
    #[default]
    Session,
    /// The day (`YYYY-MM-DD`) in the report's zone.
    Day,
    /// The ISO week (`2026-W48`, weeks from Monday) in the report's zone.
    Week,
    /// The month (`YYYY-MM`) in the report's zone.
    Month,
    /// The model.
    Model,
    /// The project: the session's working directory (`cwd`), a run's repo.
    Repo,
}

impl GroupBy {
    /// The name `--by` takes, and the table's heading.
    pub fn name(self) -> &'static str {
        match self {
            GroupBy::Session => "session",
            GroupBy::Day => "day",
            GroupBy::Week => "week",
            GroupBy::Month => "month",
            GroupBy::Model => "model",
            GroupBy::Repo => "repo",
        }
    }

    /// A key of the calendar (its value depends on the zone).
    pub fn is_calendar(self) -> bool {
        matches!(self, GroupBy::Day | GroupBy::Week | GroupBy::Month)
    }
}

/// The key of day `day` (days since 1970-01-01 in the zone) for a calendar `by`.
pub fn calendar_key(by: GroupBy, day: i64) -> String {
    use chrono::Datelike;
    let Some(d) = crate::time::date_of_day(day) else {
        return "unknown".to_owned();
    };
    match by {
        GroupBy::Week => {
            let w = d.iso_week();
            format!("{:04}-W{:02}", w.year(), w.week())
        }
        GroupBy::Month => format!("{:04}-{:02}", d.year(), d.month()),
        _ => format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day()),
    }
}

/// Filters and grouping of a report.
#[derive(Debug, Clone, Default)]
pub struct ReportOptions {
    /// Only calls at or after this instant (epoch ms).
    pub since_ms: Option<i64>,
    /// Only calls at or before this instant (epoch ms).
    pub until_ms: Option<i64>,
    /// The row key's parts, in order (none: by session).
    pub by: Vec<GroupBy>,
    /// The zone of days, weeks and months.
    pub zone: Zone,
}

impl ReportOptions {
    /// The row key's parts (`[Session]` when none was asked for).
    pub fn keys(&self) -> &[GroupBy] {
        if self.by.is_empty() {
            &[GroupBy::Session]
        } else {
            &self.by
        }
    }

    /// Whether the key has `by` in it.
    pub fn has(&self, by: GroupBy) -> bool {
        self.keys().contains(&by)
    }

    /// Whether the key has a day, week or month in it.
    pub fn calendar(&self) -> bool {
        self.keys().iter().any(|k| k.is_calendar())
    }
}

/// One row of a report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Row {
    /// Session id, day, week, month, model or project — or, for a key of several
    /// parts, the parts joined by a space.
    pub key: String,
    /// The key's parts, for a key of several (`--by month,model`): one per `--by` name.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<String>,
    /// Input tokens, cached included.
    pub input_tokens: u64,
    /// Cached input tokens.
    pub cached_input_tokens: u64,
    /// Output tokens, reasoning included.
    pub output_tokens: u64,
    /// Reasoning output tokens.
    pub reasoning_output_tokens: u64,
    /// input + output.
    pub total_tokens: u64,
    /// Cost of the priced part; null when nothing could be priced.
    pub cost_usd: Option<f64>,
    /// Models that have no price (their tokens are not in `cost_usd`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unpriced_models: Vec<String>,
    /// Models used (session and day rows).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<String>,
    /// Last call's timestamp (session rows).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_activity: Option<String>,
}

impl Row {
    /// An empty row named `key`.
    pub fn new(key: String) -> Row {
        Row {
            key,
            keys: Vec::new(),
            input_tokens: 0,
            cached_input_tokens: 0,
            output_tokens: 0,
            reasoning_output_tokens: 0,
            total_tokens: 0,
            cost_usd: None,
            unpriced_models: Vec::new(),
            models: Vec::new(),
            last_activity: None,
        }
    }

    /// The row's tokens.
    pub fn usage(&self) -> Usage {
        Usage {
            input_tokens: self.input_tokens,
            cached_input_tokens: self.cached_input_tokens,
            output_tokens: self.output_tokens,
            reasoning_output_tokens: self.reasoning_output_tokens,
            total_tokens: self.total_tokens,
        }
    }

    fn add(&mut self, u: &Usage, model: &str, cost: Option<f64>) {
        let mut cur = self.usage();
        cur.add(u);
        self.input_tokens = cur.input_tokens;
        self.cached_input_tokens = cur.cached_input_tokens;
        self.output_tokens = cur.output_tokens;
        self.reasoning_output_tokens = cur.reasoning_output_tokens;
        self.total_tokens = cur.total_tokens;
        match cost {
            Some(c) => self.cost_usd = Some(self.cost_usd.unwrap_or(0.0) + c),
            None => {
                if !self.unpriced_models.iter().any(|m| m == model) {
                    self.unpriced_models.push(model.to_owned());
                }
            }
        }
    }
}

/// A report: rows, totals and what could not be read.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The rows, sorted by key (days and models) or by last activity (sessions).
    pub rows: Vec<Row>,
    /// Sum of all rows.
    pub totals: Row,
    /// Lines that were not valid JSON (garbage, truncated) across all files.
    pub skipped_lines: u64,
    /// Rollout files read.
    pub files: usize,
    /// Files that could not be read at all (path: reason).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unreadable_files: Vec<String>,
    /// Where the prices came from.
    pub pricing_source: String,
    /// The zone of the rows' days, weeks or months (a calendar key only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
}

/// One group of a file's calls: those of one model (and, for a calendar key, one day
/// of the zone), already filtered by `--since/--until`.
#[derive(Debug, Clone)]
struct Bucket {
    /// The day in the report's zone (days since 1970-01-01), for a calendar key only.
    day: Option<i64>,
    /// Index into [`FileAgg::models`]; `None`: no model known yet.
    model: Option<u32>,
    usage: Usage,
    /// Sum of the calls' costs, in file order; `None`: the model has no price.
    cost: Option<f64>,
    /// Timestamp of its latest call.
    last_ts: Option<i64>,
}

/// A rollout file reduced to what a report needs: a few buckets, whatever the
/// number of calls.
#[derive(Debug)]
struct FileAgg {
    path: PathBuf,
    key: String,
    forked_from: Option<String>,
    fork_ts: Option<i64>,
    /// A fork whose file may replay its parent's calls ([`RolloutScan::replays_parent`]).
    replays_parent: bool,
    /// Usage events in the file (all of them: the copy with more wins).
    calls: usize,
    /// The dense burst at the file's start (a fork's replay when its parent is
    /// not on disk).
    burst: usize,
    skipped_lines: u64,
    models: Vec<String>,
    /// The session's working directory (its project).
    cwd: Option<String>,
    /// In order of first call, so rows list models in the order of use.
    buckets: Vec<Bucket>,
}

/// Folds a file's counted calls into buckets.
struct Folder<'a> {
    opts: &'a ReportOptions,
    pricing: &'a Pricing,
    /// Price per model index + 1 (0: no model), resolved on first use.
    prices: Vec<Option<Option<Price>>>,
    /// The day of a call, for a calendar key.
    days: Option<DayOf>,
    buckets: Vec<Bucket>,
}

impl<'a> Folder<'a> {
    fn new(opts: &'a ReportOptions, pricing: &'a Pricing) -> Self {
        Folder {
            opts,
            pricing,
            prices: Vec::new(),
            days: opts.calendar().then(|| DayOf::new(opts.zone)),
            buckets: Vec::new(),
        }
    }

    fn add(&mut self, ev: &UsageEvent, models: &[String]) {
        if !in_range(ev, self.opts) {
            return;
        }
        let slot = ev.model.map_or(0, |i| i as usize + 1);
        if self.prices.len() <= slot {
            self.prices.resize(slot + 1, None);
        }
        let price = *self.prices[slot].get_or_insert_with(|| {
            let name = ev
                .model
                .and_then(|i| models.get(i as usize))
                .map_or("unknown", String::as_str);
            self.pricing.resolve(name).map(|r| r.price)
        });
        let day = match &mut self.days {
            Some(days) => ev.ts_ms.map(|t| days.day(t)),
            None => None,
        };
        let i = match self
            .buckets
            .iter()
            .position(|b| b.day == day && b.model == ev.model)
        {
            Some(i) => i,
            None => {
                self.buckets.push(Bucket {
                    day,
                    model: ev.model,
                    usage: Usage::default(),
                    cost: None,
                    last_ts: None,
                });
                self.buckets.len() - 1
            }
        };
        let b = &mut self.buckets[i];
        b.usage.add(&ev.usage);
        if let Some(p) = price {
            b.cost = Some(b.cost.unwrap_or(0.0) + p.cost(&ev.usage));
        }
        if let Some(t) = ev.ts_ms {
            b.last_ts = Some(b.last_ts.map_or(t, |l| l.max(t)));
        }
    }
}

fn session_key(path: &Path, scan: &RolloutScan) -> String {
    scan.session_id
        .clone()
        .or_else(|| {
            path.file_name()
                .and_then(|n| n.to_str())
                .and_then(rollout::session_id_from_name)
                .map(str::to_owned)
        })
        .unwrap_or_else(|| path.display().to_string())
}

/// Pass 1: one streaming read of a file, every call folded as it comes.
fn fold_file(path: &Path, opts: &ReportOptions, pricing: &Pricing) -> io::Result<FileAgg> {
    let input = rollout::open_rollout(path)?;
    rollout::with_scan_buffer(0, |buf| {
        let mut rd = rollout::EventReader::new(input, buf);
        let mut folder = Folder::new(opts, pricing);
        let mut burst = ForkBurst::default();
        let mut calls = 0usize;
        while let Some(ev) = rd.next_event()? {
            calls += 1;
            burst.push(ev.ts_ms);
            folder.add(&ev, &rd.scan().models);
        }
        let scan = rd.into_scan();
        Ok(FileAgg {
            key: session_key(path, &scan),
            path: path.to_owned(),
            replays_parent: scan.replays_parent(),
            forked_from: scan.forked_from_id,
            fork_ts: scan.session_ts_ms,
            calls,
            burst: burst.len(),
            skipped_lines: scan.skipped_lines,
            models: scan.models,
            cwd: scan.cwd,
            buckets: folder.buckets,
        })
    })
}

/// Pass 2, for a fork that replays its parent only: its calls folded again without
/// the replayed prefix. The fork and its parent are read in lockstep
/// ([`ReplayFilter`]), holding neither file's calls.
fn refold_fork(
    child: &FileAgg,
    parent: Option<&Path>,
    opts: &ReportOptions,
    pricing: &Pricing,
) -> io::Result<(Vec<String>, Vec<Bucket>)> {
    let input = rollout::open_rollout(&child.path)?;
    // An unreadable parent is one not on disk: the burst rule applies.
    let parent_input = parent.and_then(|p| rollout::open_rollout(p).ok());
    rollout::with_scan_buffer(0, |buf| {
        rollout::with_scan_buffer(1, |pbuf| {
            let mut rd = rollout::EventReader::new(input, buf);
            let mut parent = parent_input.map(|r| rollout::EventReader::new(r, pbuf));
            let mut folder = Folder::new(opts, pricing);
            let mut filter = ReplayFilter::new(child.fork_ts, child.burst, parent.is_some());
            while let Some(ev) = rd.next_event()? {
                let next = || parent.as_mut().and_then(|p| p.next_event().ok().flatten());
                if !filter.replayed(&ev, next) {
                    folder.add(&ev, &rd.scan().models);
                }
            }
            let scan = rd.into_scan();
            Ok((scan.models, folder.buckets))
        })
    })
}

/// Builds the report of every rollout in a Codex home.
pub fn codex_home_report(home: &Path, opts: &ReportOptions, pricing: &Pricing) -> Report {
    let files = rollout::list_rollouts(home);
    report_files(&files, opts, pricing)
}

/// Builds the report of the given rollout files.
pub fn report_files(files: &[PathBuf], opts: &ReportOptions, pricing: &Pricing) -> Report {
    let mut folded = fold_all(files, opts, pricing);
    refold_forks(&mut folded, opts, pricing);
    let (rows, totals) = group(&folded.by_session, opts);
    let mut unreadable = folded.unreadable;
    unreadable.sort();
    Report {
        rows,
        totals,
        skipped_lines: folded.skipped,
        files: folded.files,
        unreadable_files: unreadable,
        pricing_source: pricing.source().to_owned(),
        timezone: opts.calendar().then(|| opts.zone.to_string()),
    }
}

/// Every file folded, by session.
struct Folded {
    by_session: HashMap<String, FileAgg>,
    unreadable: Vec<String>,
    skipped: u64,
    files: usize,
}

/// Pass 1: each file folded on its own (all cores). The same session in two files (a
/// copy in archived_sessions/) is the one that recorded more calls.
fn fold_all(files: &[PathBuf], opts: &ReportOptions, pricing: &Pricing) -> Folded {
    let scanned: Vec<Result<FileAgg, String>> = files
        .par_iter()
        .map(|path| fold_file(path, opts, pricing).map_err(|e| format!("{}: {e}", path.display())))
        .collect();
    let mut out = Folded {
        by_session: HashMap::new(),
        unreadable: Vec::new(),
        skipped: 0,
        files: 0,
    };
    for r in scanned {
        match r {
            Err(e) => out.unreadable.push(e),
            Ok(f) => {
                out.files += 1;
                out.skipped += f.skipped_lines;
                match out.by_session.get(&f.key) {
                    Some(old) if old.calls >= f.calls => {}
                    _ => {
                        out.by_session.insert(f.key.clone(), f);
                    }
                }
            }
        }
    }
    out
}

/// Pass 2: forks that replay their parent folded again without the replayed prefix
/// (each against its parent's whole file: a parent that is itself a fork replays on).
fn refold_forks(folded: &mut Folded, opts: &ReportOptions, pricing: &Pricing) {
    let by_session = &folded.by_session;
    let refolded: Vec<(String, Result<_, String>)> = by_session
        .values()
        .filter(|f| f.replays_parent)
        .collect::<Vec<_>>()
        .par_iter()
        .map(|c| {
            let parent = c
                .forked_from
                .as_ref()
                .and_then(|pid| by_session.get(pid))
                .filter(|p| p.path != c.path)
                .map(|p| p.path.as_path());
            let r = refold_fork(c, parent, opts, pricing)
                .map_err(|e| format!("{}: {e}", c.path.display()));
            (c.key.clone(), r)
        })
        .collect();
    for (key, r) in refolded {
        match r {
            Ok((models, buckets)) => {
                if let Some(c) = folded.by_session.get_mut(&key) {
                    c.models = models;
                    c.buckets = buckets;
                }
            }
            // gone or changed since pass 1: it cannot be counted reliably
            Err(e) => {
                folded.by_session.remove(&key);
                folded.unreadable.push(e);
            }
        }
    }
}

/// Pass 3: the buckets grouped into rows by `opts.by` (sessions ordered by their last
/// activity), and the totals.
fn group(by_session: &HashMap<String, FileAgg>, opts: &ReportOptions) -> (Vec<Row>, Row) {
    let mut rows: BTreeMap<Vec<String>, Row> = BTreeMap::new();
    let mut last_ts: HashMap<Vec<String>, i64> = HashMap::new();
    let mut totals = Row::new("total".to_owned());
    let keys = opts.keys();
    let by_session_key = opts.has(GroupBy::Session);
    let mut files: Vec<&FileAgg> = by_session.values().collect();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    for f in files {
        for b in &f.buckets {
            let model = b
                .model
                .and_then(|i| f.models.get(i as usize))
                .map_or("unknown", String::as_str);
            let parts: Vec<String> = keys
                .iter()
                .map(|&k| match k {
                    GroupBy::Session => f.key.clone(),
                    GroupBy::Model => model.to_owned(),
                    GroupBy::Repo => f.cwd.clone().unwrap_or_else(|| "unknown".to_owned()),
                    _ => b
                        .day
                        .map_or_else(|| "unknown".to_owned(), |d| calendar_key(k, d)),
                })
                .collect();
            if let (true, Some(t)) = (by_session_key, b.last_ts) {
                let e = last_ts.entry(parts.clone()).or_insert(t);
                *e = (*e).max(t);
            }
            let row = rows.entry(parts).or_insert_with_key(|p| {
                let mut r = Row::new(p.join(" "));
                if p.len() > 1 {
                    r.keys = p.clone();
                }
                r
            });
            row.add(&b.usage, model, b.cost);
            if !opts.has(GroupBy::Model) && !row.models.iter().any(|m| m == model) {
                row.models.push(model.to_owned());
            }
            totals.add(&b.usage, model, b.cost);
        }
    }
    let mut rows: Vec<Row> = rows
        .into_iter()
        .map(|(parts, mut r)| {
            r.last_activity = last_ts.get(&parts).map(|&t| rfc3339_ms(t));
            r
        })
        .collect();
    if by_session_key {
        rows.sort_by(|a, b| {
            a.last_activity
                .cmp(&b.last_activity)
                .then(a.key.cmp(&b.key))
        });
    }
    (rows, totals)
}

fn in_range(ev: &UsageEvent, opts: &ReportOptions) -> bool {
    match ev.ts_ms {
        Some(t) => opts.since_ms.is_none_or(|s| t >= s) && opts.until_ms.is_none_or(|u| t <= u),
        None => opts.since_ms.is_none() && opts.until_ms.is_none(),
    }
}

/// Epoch ms → `2026-11-23T20:21:09.006Z`.
pub fn rfc3339_ms(ms: i64) -> String {
    let rem = ms.rem_euclid(86_400_000);
    let (h, mi, s, milli) = (
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000,
    );
    let day = crate::time::day_string(ms);
    format!("{day}T{h:02}:{mi:02}:{s:02}.{milli:03}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trip() {
        let t = crate::time::parse_ts_ms("2026-11-23T20:21:09.006Z").unwrap_or_default();
        assert_eq!(rfc3339_ms(t), "2026-11-23T20:21:09.006Z");
    }
}
