//! Reports over a whole Codex home: every rollout under `sessions/` and
//! `archived_sessions/` (`.jsonl` and `.jsonl.zst`), grouped by session, day or
//! model, with totals. Files are scanned in parallel (rayon), each streamed
//! through one bounded buffer per thread (see [`crate::rollout::scan_reader`]),
//! so a file's size does not matter; what is kept is its per-call usage events
//! (64 bytes a call) until forks are resolved, so memory grows with the number
//! of model calls in the home (~40 MiB for 500,000 calls), not with its bytes.
//!
//! Per session the tokens are the sum of per-call deltas (see
//! [`crate::rollout`]), the rule ccusage uses, so the two agree. A forked
//! session does not count its parent's replayed history: its leading events that
//! match the parent's usage up to the fork instant are dropped (or, when the
//! parent is not on disk, the dense burst of replayed events at its start).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;

use crate::pricing::Pricing;
use crate::rollout::{self, RolloutScan, UsageEvent};
use crate::usage::Usage;

/// How rows are keyed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum GroupBy {
    /// One row per session (the session id).
    #[default]
    Session,
    /// One row per UTC day (`YYYY-MM-DD`).
    Day,
    /// One row per model.
    Model,
}

/// Filters and grouping of a report.
#[derive(Debug, Clone, Default)]
pub struct ReportOptions {
    /// Only calls at or after this instant (epoch ms).
    pub since_ms: Option<i64>,
    /// Only calls at or before this instant (epoch ms).
    pub until_ms: Option<i64>,
    /// Row key.
    pub by: GroupBy,
}

/// One row of a report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Row {
    /// Session id, day or model.
    pub key: String,
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
    fn new(key: String) -> Row {
        Row {
            key,
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
}

/// A file reduced to what a report needs.
struct FileAgg {
    path: PathBuf,
    key: String,
    forked_from: Option<String>,
    fork_ts: Option<i64>,
    scan: RolloutScan,
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

/// Builds the report of every rollout in a Codex home.
pub fn codex_home_report(home: &Path, opts: &ReportOptions, pricing: &Pricing) -> Report {
    let files = rollout::list_rollouts(home);
    report_files(&files, opts, pricing)
}

/// Builds the report of the given rollout files.
pub fn report_files(files: &[PathBuf], opts: &ReportOptions, pricing: &Pricing) -> Report {
    let scanned: Vec<Result<FileAgg, String>> = files
        .par_iter()
        .map(|path| {
            let scan = rollout::scan_file(path).map_err(|e| format!("{}: {e}", path.display()))?;
            Ok(FileAgg {
                key: session_key(path, &scan),
                forked_from: scan.forked_from_id.clone(),
                fork_ts: scan.session_ts_ms,
                path: path.clone(),
                scan: compact(scan),
            })
        })
        .collect();

    let mut unreadable = Vec::new();
    let mut by_session: HashMap<String, FileAgg> = HashMap::new();
    let mut skipped = 0u64;
    let mut nfiles = 0usize;
    for r in scanned {
        match r {
            Err(e) => unreadable.push(e),
            Ok(f) => {
                nfiles += 1;
                skipped += f.scan.skipped_lines;
                // The same session in two files (a copy in archived_sessions/):
                // keep the one that recorded more calls.
                match by_session.get(&f.key) {
                    Some(old) if old.scan.events.len() >= f.scan.events.len() => {}
                    _ => {
                        by_session.insert(f.key.clone(), f);
                    }
                }
            }
        }
    }

    // Forks: drop the replayed prefix.
    let fork_children: Vec<String> = by_session
        .values()
        .filter(|f| f.forked_from.is_some())
        .map(|f| f.key.clone())
        .collect();
    for child in fork_children {
        let Some(c) = by_session.get(&child) else {
            continue;
        };
        let parent_prefix = c
            .forked_from
            .as_ref()
            .and_then(|pid| by_session.get(pid))
            .filter(|p| p.path != c.path)
            .map(|p| rollout::parent_prefix(&p.scan, c.fork_ts));
        let n = rollout::replayed_prefix_len(&c.scan.events, parent_prefix.as_deref());
        if let Some(c) = by_session.get_mut(&child) {
            c.scan.events.drain(..n);
        }
    }

    let mut rows: BTreeMap<String, Row> = BTreeMap::new();
    let mut last_ts: HashMap<String, i64> = HashMap::new();
    let mut totals = Row::new("total".to_owned());
    let mut price_cache: HashMap<String, Option<crate::Price>> = HashMap::new();
    let mut files: Vec<&FileAgg> = by_session.values().collect();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    for f in files {
        for ev in &f.scan.events {
            if !in_range(ev, opts) {
                continue;
            }
            let model = f.scan.model_of(ev).unwrap_or("unknown");
            let price = *price_cache
                .entry(model.to_owned())
                .or_insert_with(|| pricing.resolve(model).map(|r| r.price));
            let cost = price.map(|p| p.cost(&ev.usage));
            let key = match opts.by {
                GroupBy::Session => f.key.clone(),
                GroupBy::Day => ev
                    .ts_ms
                    .map_or_else(|| "unknown".to_owned(), crate::time::day_string),
                GroupBy::Model => model.to_owned(),
            };
            let row = rows
                .entry(key.clone())
                .or_insert_with(|| Row::new(key.clone()));
            row.add(&ev.usage, model, cost);
            if opts.by != GroupBy::Model && !row.models.iter().any(|m| m == model) {
                row.models.push(model.to_owned());
            }
            if opts.by == GroupBy::Session {
                if let Some(t) = ev.ts_ms {
                    let e = last_ts.entry(key).or_insert(t);
                    *e = (*e).max(t);
                }
            }
            totals.add(&ev.usage, model, cost);
        }
    }
    let mut rows: Vec<Row> = rows.into_values().collect();
    if opts.by == GroupBy::Session {
        for r in &mut rows {
            r.last_activity = last_ts.get(&r.key).map(|&t| rfc3339_ms(t));
        }
        rows.sort_by(|a, b| {
            a.last_activity
                .cmp(&b.last_activity)
                .then(a.key.cmp(&b.key))
        });
    }
    unreadable.sort();
    Report {
        rows,
        totals,
        skipped_lines: skipped,
        files: nfiles,
        unreadable_files: unreadable,
        pricing_source: pricing.source().to_owned(),
    }
}

fn in_range(ev: &UsageEvent, opts: &ReportOptions) -> bool {
    match ev.ts_ms {
        Some(t) => opts.since_ms.is_none_or(|s| t >= s) && opts.until_ms.is_none_or(|u| t <= u),
        None => opts.since_ms.is_none() && opts.until_ms.is_none(),
    }
}

/// Frees what a report does not need from a scan.
fn compact(mut scan: RolloutScan) -> RolloutScan {
    scan.events.shrink_to_fit();
    scan
}

/// Epoch ms → `2026-11-23T20:21:09.006Z`.
pub fn rfc3339_ms(ms: i64) -> String {
    let day = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (y, m, d) = crate::time::civil_from_days(day);
    let (h, mi, s, milli) = (
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000,
    );
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z")
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
