//! Many runs grouped (`codex-summarize --all --by repo`, `--by month,model`): one row per
//! key, each the [`RunsTotals`] of its runs — the same sums, and the same nulls where a
//! run's tokens or cost are unknown, as the totals of an ungrouped report.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::format::{Format, RunsTotals, TableTotal, rows_table, usd};
use crate::report::{GroupBy, calendar_key};
use crate::run::RunSummary;
use crate::time::parse_ts_ms;
use crate::zone::{DayOf, Zone};

/// Runs grouped by a key, with the totals of all.
#[derive(Debug, Clone, Serialize)]
pub struct GroupedRuns {
    /// One per key, in key order.
    pub rows: Vec<GroupRow>,
    /// All runs.
    pub totals: RunsTotals,
    /// The zone of the keys' days, weeks or months (a calendar key only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
}

/// The runs of one key.
#[derive(Debug, Clone, Serialize)]
pub struct GroupRow {
    /// The key: its parts joined by a space.
    pub key: String,
    /// The key's parts, for a key of several: one per `--by` name.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<String>,
    /// What its runs add up to.
    #[serde(flatten)]
    pub totals: RunsTotals,
}

/// The key of one run: its session, the day/week/month it started (in `zone`), its
/// model or its repo; `unknown` where the run does not say.
fn key_of(s: &RunSummary, by: &[GroupBy], days: &mut DayOf) -> Vec<String> {
    let or_unknown = |v: Option<&String>| v.cloned().unwrap_or_else(|| "unknown".to_owned());
    by.iter()
        .map(|&k| match k {
            GroupBy::Session => or_unknown(s.session_id.as_ref()),
            GroupBy::Model => or_unknown(s.model.as_ref()),
            GroupBy::Repo => or_unknown(s.repo.as_ref()),
            _ => match s.started_at.as_deref().and_then(parse_ts_ms) {
                Some(ms) => calendar_key(k, days.day(ms)),
                None => "unknown".to_owned(),
            },
        })
        .collect()
}

/// `summaries` grouped by `by` (days in `zone`).
pub fn group_runs(summaries: &[RunSummary], by: &[GroupBy], zone: Zone) -> GroupedRuns {
    let mut days = DayOf::new(zone);
    let mut groups: BTreeMap<Vec<String>, Vec<&RunSummary>> = BTreeMap::new();
    for s in summaries {
        groups.entry(key_of(s, by, &mut days)).or_default().push(s);
    }
    let rows = groups
        .into_iter()
        .map(|(parts, runs)| GroupRow {
            key: parts.join(" "),
            keys: if parts.len() > 1 { parts } else { Vec::new() },
            totals: RunsTotals::of_runs(runs.into_iter()),
        })
        .collect();
    GroupedRuns {
        rows,
        totals: RunsTotals::of(summaries),
        timezone: by.iter().any(|k| k.is_calendar()).then(|| zone.to_string()),
    }
}

/// A grouped report in `format` (`head`: the key's heading).
pub fn render_grouped(
    r: &GroupedRuns,
    format: Format,
    head: &str,
) -> Result<String, serde_json::Error> {
    Ok(match format {
        // (html is the --codex-home report's, made by html::page: refused before here)
        Format::Json | Format::Html => serde_json::to_string_pretty(r)? + "\n",
        Format::Compact => {
            let mut out = String::new();
            for row in &r.rows {
                let t = &row.totals;
                let _ = writeln!(
                    out,
                    "{} runs={} counted={} tokens={} {}",
                    row.key,
                    t.runs,
                    t.runs_counted,
                    t.tokens
                        .total_tokens
                        .map_or_else(|| "?".to_owned(), |n| n.to_string()),
                    usd(t.cost_usd)
                );
            }
            let t = &r.totals;
            let _ = writeln!(
                out,
                "TOTAL runs={} counted={} tokens={} {}",
                t.runs,
                t.runs_counted,
                t.tokens
                    .total_tokens
                    .map_or_else(|| "?".to_owned(), |n| n.to_string()),
                usd(t.cost_usd)
            );
            out
        }
        Format::Table => {
            let rows: Vec<_> = r
                .rows
                .iter()
                .map(|x| {
                    let label = format!("{} ({} runs)", x.key, x.totals.runs);
                    (label, x.totals.tokens.clone(), x.totals.cost_usd)
                })
                .collect();
            let t = &r.totals;
            rows_table(
                head,
                &rows,
                &TableTotal {
                    label: format!("TOTAL ({} runs)", t.runs),
                    tokens: t.tokens.clone(),
                    cost_usd: t.cost_usd,
                    notes: &t.notes,
                },
            )
        }
    })
}
