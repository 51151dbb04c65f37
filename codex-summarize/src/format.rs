//! Rendering: JSON (the default, and what `--json-out` writes), `compact` (one
//! short line per run for agents, whose every read line costs tokens) and
//! `table` (for people).

use std::fmt::Write as _;

use serde::Serialize;

use crate::report::{Report, Row};
use crate::run::{RunSummary, Tokens};

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// Pretty JSON.
    #[default]
    Json,
    /// One short line per run (for agents).
    Compact,
    /// An aligned table (for people).
    Table,
    /// One self-contained HTML page (the --codex-home report: totals, cost per day, per
    /// model and per project).
    Html,
}

/// Rows of many runs, with totals (`codex-summarize RUN… | --all`).
#[derive(Debug, Clone, Serialize)]
pub struct RunsReport {
    /// One per run, newest first.
    pub rows: Vec<RunRow>,
    /// What the rows add up to, as far as it is known.
    pub totals: RunsTotals,
    /// Always 0 here (kept for the report schema).
    pub skipped_lines: u64,
}

/// One run in a [`RunsReport`].
#[derive(Debug, Clone, Serialize)]
pub struct RunRow {
    /// Run id.
    pub key: String,
    /// This run's tokens.
    #[serde(flatten)]
    pub tokens: Tokens,
    /// Cost.
    pub cost_usd: Option<f64>,
    /// Source of the tokens.
    pub source: Option<crate::run::Source>,
    /// Status.
    pub status: Option<String>,
    /// Session.
    pub session_id: Option<String>,
    /// Exit code.
    pub exit_code: Option<i32>,
}

/// What the runs of a [`RunsReport`] add up to. A field is null when a counted run lacks
/// it, never a sum that took unknown for 0.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RunsTotals {
    /// Runs in the report.
    pub runs: usize,
    /// Runs whose tokens are known (exactly, or as a blended total): the sums are theirs.
    pub runs_counted: usize,
    /// The counted runs' tokens: a split field is null when a counted run lacks it;
    /// `total_tokens` is input + output — or, when some of them have only the human
    /// log's blended total, the blended totals (input − cached) + output of all of them
    /// (then `total_is_blended`).
    #[serde(flatten)]
    pub tokens: Tokens,
    /// USD of all runs; null when any run's cost is unknown.
    pub cost_usd: Option<f64>,
    /// USD of the runs whose cost is known.
    pub priced_cost_usd: f64,
    /// What is unknown, and why: one line per reason.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl RunsTotals {
    /// The totals of `summaries`.
    pub fn of(summaries: &[RunSummary]) -> RunsTotals {
        Self::of_runs(summaries.iter())
    }

    /// The totals of some runs (a group's, without copying them).
    pub fn of_runs<'a>(summaries: impl ExactSizeIterator<Item = &'a RunSummary>) -> RunsTotals {
        let mut t = RunsTotals {
            runs: summaries.len(),
            tokens: Tokens {
                input_tokens: Some(0),
                cached_input_tokens: Some(0),
                output_tokens: Some(0),
                reasoning_output_tokens: Some(0),
                ..Tokens::default()
            },
            cost_usd: Some(0.0),
            ..RunsTotals::default()
        };
        let (mut exact_total, mut blended_total) = (Some(0u64), Some(0u64));
        let mut blended_runs = 0;
        let mut no_reasoning = 0;
        let mut reasons: Vec<(String, usize)> = Vec::new();
        let mut note = |r: &str| match reasons.iter_mut().find(|(x, _)| x == r) {
            Some((_, n)) => *n += 1,
            None => reasons.push((r.to_owned(), 1)),
        };
        let add = |sum: &mut Option<u64>, v: Option<u64>| {
            *sum = sum.zip(v).map(|(a, b)| a.saturating_add(b));
        };
        for s in summaries {
            let r = &s.token_usage.run;
            match s.cost.usd {
                Some(c) => t.priced_cost_usd += c,
                None => {
                    t.cost_usd = None;
                    note(&format!(
                        "cost unknown for {{n}} of {{runs}} runs: {}",
                        s.cost.reason.as_deref().unwrap_or("no usage found")
                    ));
                }
            }
            let Some(total) = r.total_tokens else {
                note(&format!(
                    "tokens unknown for {{n}} of {{runs}} runs (not in the totals): {}",
                    s.token_usage.reason.as_deref().unwrap_or("no usage found")
                ));
                continue;
            };
            t.runs_counted += 1;
            add(&mut t.tokens.input_tokens, r.input_tokens);
            add(&mut t.tokens.cached_input_tokens, r.cached_input_tokens);
            add(&mut t.tokens.output_tokens, r.output_tokens);
            if r.input_tokens.is_some() && r.reasoning_output_tokens.is_none() {
                no_reasoning += 1;
            }
            add(
                &mut t.tokens.reasoning_output_tokens,
                r.reasoning_output_tokens,
            );
            if r.total_is_blended {
                blended_runs += 1;
                exact_total = None;
                add(&mut blended_total, Some(total));
            } else {
                add(&mut exact_total, Some(total));
                // (input − cached) + output: the split is enough (reasoning may be unknown)
                let blended = match (r.input_tokens, r.cached_input_tokens, r.output_tokens) {
                    (Some(i), Some(c), Some(o)) => Some(i.saturating_sub(c).saturating_add(o)),
                    _ => None,
                };
                add(&mut blended_total, blended);
            }
        }
        if t.runs_counted == 0 {
            t.tokens = Tokens::default();
        } else if blended_runs > 0 {
            t.tokens.total_tokens = blended_total;
            t.tokens.total_is_blended = true;
            t.notes.push(format!(
                "{blended_runs} of {} runs have only the human log's blended total: total_tokens is the blended sum, (input - cached) + output, of all of them",
                t.runs_counted
            ));
        } else {
            t.tokens.total_tokens = exact_total;
        }
        if no_reasoning > 0 {
            t.notes.push(format!(
                "reasoning tokens unknown for {no_reasoning} runs (CLI versions before 0.100 do not report them)"
            ));
        }
        for (r, n) in reasons {
            let runs = t.runs.to_string();
            t.notes
                .push(r.replace("{n}", &n.to_string()).replace("{runs}", &runs));
        }
        if t.cost_usd.is_some() {
            t.cost_usd = Some(t.priced_cost_usd);
        }
        t
    }
}

/// `$0.0123` with enough digits for small amounts; `$?` when unknown.
pub fn usd(v: Option<f64>) -> String {
    match v {
        None => "$?".into(),
        Some(v) if v != 0.0 && v.abs() < 1.0 => format!("${v:.4}"),
        Some(v) => format!("${v:.2}"),
    }
}

fn tokens_compact(t: &Tokens) -> String {
    match (t.input_tokens, t.cached_input_tokens, t.output_tokens) {
        (Some(i), Some(c), Some(o)) => format!("in={i}/cached={c}/out={o}"),
        _ => match t.total_tokens {
            Some(n) if t.total_is_blended => format!("tokens={n}(blended)"),
            Some(n) => format!("tokens={n}"),
            None => "tokens=?".into(),
        },
    }
}

/// The one-line form: `OK id=… exit=0 12s in=1200/cached=200/out=50 $0.0123 sid=…`.
pub fn compact_line(s: &RunSummary) -> String {
    let prefix = match s.status.as_deref() {
        Some("running") => "RUNNING",
        Some("queued") => "QUEUED",
        Some("lost") => "LOST",
        _ if s.success == Some(true) => "OK",
        _ if s.success.is_none() && s.exit_code.is_none() && s.status.is_none() => "DONE",
        _ => "FAIL",
    };
    let mut out = String::from(prefix);
    let _ = write!(out, " id={}", s.run_id.as_deref().unwrap_or("-"));
    let _ = write!(
        out,
        " exit={}",
        s.exit_code
            .map_or_else(|| "-".to_owned(), |c| c.to_string())
    );
    if let Some(e) = s.elapsed_seconds {
        let _ = write!(out, " {}s", e.round() as i64);
    }
    let _ = write!(out, " {}", tokens_compact(&s.token_usage.run));
    let _ = write!(out, " {}", usd(s.cost.usd));
    let _ = write!(out, " sid={}", s.session_id.as_deref().unwrap_or("-"));
    out
}

fn opt(v: Option<u64>) -> String {
    v.map_or_else(|| "?".to_owned(), group)
}

/// `1234567` → `1,234,567`.
pub fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A key/value listing of one run.
pub fn run_table(s: &RunSummary) -> String {
    let t = &s.token_usage.run;
    let mut lines: Vec<(&str, String)> = vec![
        ("run", s.run_id.clone().unwrap_or_else(|| "-".into())),
        ("status", s.status.clone().unwrap_or_else(|| "-".into())),
        (
            "exit",
            s.exit_code.map_or_else(|| "-".into(), |c| c.to_string()),
        ),
        (
            "elapsed",
            s.elapsed_seconds
                .map_or_else(|| "-".into(), |e| format!("{e:.1}s")),
        ),
        (
            "session",
            s.session_id.clone().unwrap_or_else(|| "-".into()),
        ),
        ("model", s.model.clone().unwrap_or_else(|| "-".into())),
        ("input", opt(t.input_tokens)),
        ("cached input", opt(t.cached_input_tokens)),
        ("output", opt(t.output_tokens)),
        ("reasoning", opt(t.reasoning_output_tokens)),
        (
            if t.total_is_blended {
                "total (blended)"
            } else {
                "total"
            },
            opt(t.total_tokens),
        ),
        ("cost", usd(s.cost.usd)),
        (
            "source",
            s.token_usage
                .source
                .map_or_else(|| "-".into(), |x| format!("{x:?}").to_lowercase()),
        ),
    ];
    if let Some(st) = &s.token_usage.session_total {
        lines.push(("session total", opt(st.total_tokens)));
    }
    if let Some(r) = s.token_usage.reason.as_ref().or(s.cost.reason.as_ref()) {
        lines.push(("note", r.clone()));
    }
    let w = lines.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    lines
        .into_iter()
        .map(|(k, v)| format!("{k:<w$}  {v}\n"))
        .collect()
}

/// The total line of a table, and what to say below it.
pub struct TableTotal<'a> {
    /// The line's label (`TOTAL`, `TOTAL (9 of 10 runs)`).
    pub label: String,
    /// Its tokens.
    pub tokens: Tokens,
    /// Its cost.
    pub cost_usd: Option<f64>,
    /// Said once below the table.
    pub notes: &'a [String],
}

/// A token cell: `1,234`, `850*` (a blended total), `?` (unknown).
fn total_cell(t: &Tokens) -> String {
    match t.total_tokens {
        Some(n) if t.total_is_blended => format!("{}*", group(n)),
        v => opt(v),
    }
}

/// A cost cell: `$0.0123`, or `unknown` (the reason is said below the table).
fn cost_cell(v: Option<f64>) -> String {
    match v {
        None => "unknown".into(),
        v => usd(v),
    }
}

/// An aligned table with a header, a total line and the notes below it.
pub fn rows_table(
    head: &str,
    rows: &[(String, Tokens, Option<f64>)],
    total: &TableTotal<'_>,
) -> String {
    rows_table_with(head, rows, None, total)
}

/// [`rows_table`], with a `status` column after the key when `statuses` (one per row)
/// is given.
pub fn rows_table_with(
    head: &str,
    rows: &[(String, Tokens, Option<f64>)],
    statuses: Option<&[String]>,
    total: &TableTotal<'_>,
) -> String {
    let left = if statuses.is_some() { 2 } else { 1 };
    let mut header = vec![head.to_owned()];
    if statuses.is_some() {
        header.push("status".into());
    }
    header.extend(["input", "cached", "output", "reasoning", "total", "cost"].map(String::from));
    let mut data: Vec<Vec<String>> = vec![header];
    let cells = |k: &str, st: Option<&str>, t: &Tokens, c: Option<f64>| {
        let mut r = vec![k.to_owned()];
        if let Some(st) = st {
            r.push(st.to_owned());
        }
        r.extend([
            opt(t.input_tokens),
            opt(t.cached_input_tokens),
            opt(t.output_tokens),
            opt(t.reasoning_output_tokens),
            total_cell(t),
            cost_cell(c),
        ]);
        r
    };
    for (i, (k, t, c)) in rows.iter().enumerate() {
        let st = statuses.map(|s| s.get(i).map_or("-", String::as_str));
        data.push(cells(k, st, t, *c));
    }
    data.push(cells(
        &total.label,
        statuses.map(|_| ""),
        &total.tokens,
        total.cost_usd,
    ));
    let mut widths = vec![0usize; data[0].len()];
    for r in &data {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in &data {
        for (i, c) in r.iter().enumerate() {
            if i == 0 {
                let _ = write!(out, "{c:<w$}", w = widths[0]);
            } else if i < left {
                let _ = write!(out, "  {c:<w$}", w = widths[i]);
            } else {
                let _ = write!(out, "  {c:>w$}", w = widths[i]);
            }
        }
        out.truncate(out.trim_end().len());
        out.push('\n');
    }
    let blended = rows.iter().any(|(_, t, _)| t.total_is_blended) || total.tokens.total_is_blended;
    let unknown = data
        .iter()
        .any(|r| r[left..left + 5].iter().any(|c| c == "?"));
    if blended || unknown || !total.notes.is_empty() {
        out.push('\n');
    }
    if blended {
        out.push_str("*  a blended total, (input - cached) + output: the human log's number; its split is unknown\n");
    }
    if unknown {
        out.push_str("?  not known\n");
    }
    for n in total.notes {
        let _ = writeln!(out, "note: {n}");
    }
    out
}

/// Tokens of a report row.
pub fn row_tokens(r: &Row) -> Tokens {
    Tokens {
        input_tokens: Some(r.input_tokens),
        cached_input_tokens: Some(r.cached_input_tokens),
        output_tokens: Some(r.output_tokens),
        reasoning_output_tokens: Some(r.reasoning_output_tokens),
        total_tokens: Some(r.total_tokens),
        total_is_blended: false,
    }
}

/// A Codex-home report in `format`.
pub fn render_report(r: &Report, format: Format, head: &str) -> Result<String, serde_json::Error> {
    Ok(match format {
        // (html is the --codex-home report's, made by html::page: refused before here)
        Format::Json | Format::Html => serde_json::to_string_pretty(r)? + "\n",
        Format::Compact => {
            let mut out = String::new();
            for row in &r.rows {
                let _ = writeln!(
                    out,
                    "{} {} {}",
                    row.key,
                    tokens_compact(&row_tokens(row)),
                    usd(row.cost_usd)
                );
            }
            let _ = writeln!(
                out,
                "TOTAL rows={} {} {} skipped_lines={}",
                r.rows.len(),
                tokens_compact(&row_tokens(&r.totals)),
                usd(r.totals.cost_usd),
                r.skipped_lines
            );
            out
        }
        Format::Table => {
            let rows: Vec<_> = r
                .rows
                .iter()
                .map(|x| (x.key.clone(), row_tokens(x), x.cost_usd))
                .collect();
            let notes: Vec<String> = if r.totals.unpriced_models.is_empty() {
                Vec::new()
            } else {
                vec![format!(
                    "cost unknown where a model has no price: {} (see --pricing)",
                    r.totals.unpriced_models.join(", ")
                )]
            };
            rows_table(
                head,
                &rows,
                &TableTotal {
                    label: "TOTAL".into(),
                    tokens: row_tokens(&r.totals),
                    cost_usd: r.totals.cost_usd,
                    notes: &notes,
                },
            )
        }
    })
}

/// A runs report in `format`.
pub fn render_runs(
    r: &RunsReport,
    summaries: &[RunSummary],
    format: Format,
) -> Result<String, serde_json::Error> {
    Ok(match format {
        // (html is the --codex-home report's, made by html::page: refused before here)
        Format::Json | Format::Html => serde_json::to_string_pretty(r)? + "\n",
        Format::Compact => {
            let mut out = String::new();
            for s in summaries {
                out.push_str(&compact_line(s));
                out.push('\n');
            }
            let t = &r.totals;
            let _ = writeln!(
                out,
                "TOTAL runs={} counted={} {} {}",
                t.runs,
                t.runs_counted,
                tokens_compact(&t.tokens),
                usd(t.cost_usd)
            );
            out
        }
        Format::Table => {
            let rows: Vec<_> = r
                .rows
                .iter()
                .map(|x| (x.key.clone(), x.tokens.clone(), x.cost_usd))
                .collect();
            let t = &r.totals;
            let label = if t.runs_counted == t.runs {
                "TOTAL".to_owned()
            } else {
                format!("TOTAL ({} of {} runs)", t.runs_counted, t.runs)
            };
            let statuses: Vec<String> = r
                .rows
                .iter()
                .map(|x| x.status.clone().unwrap_or_else(|| "-".into()))
                .collect();
            rows_table_with(
                "run",
                &rows,
                Some(&statuses),
                &TableTotal {
                    label,
                    tokens: t.tokens.clone(),
                    cost_usd: t.cost_usd,
                    notes: &t.notes,
                },
            )
        }
    })
}

/// Builds the runs report from summaries.
pub fn runs_report(summaries: &[RunSummary]) -> RunsReport {
    let rows = summaries
        .iter()
        .map(|s| RunRow {
            key: s.run_id.clone().unwrap_or_else(|| "-".into()),
            tokens: s.token_usage.run.clone(),
            cost_usd: s.cost.usd,
            source: s.token_usage.source,
            status: s.status.clone(),
            session_id: s.session_id.clone(),
            exit_code: s.exit_code,
        })
        .collect();
    RunsReport {
        rows,
        totals: RunsTotals::of(summaries),
        skipped_lines: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_and_groups() {
        assert_eq!(usd(Some(0.0123)), "$0.0123");
        assert_eq!(usd(Some(12.345)), "$12.35");
        assert_eq!(usd(None), "$?");
        assert_eq!(group(1_234_567), "1,234,567");
        assert_eq!(group(12), "12");
    }
}
