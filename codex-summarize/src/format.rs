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
}

/// Rows of many runs, with totals (`codex-summarize RUN… | --all`).
#[derive(Debug, Clone, Serialize)]
pub struct RunsReport {
    /// One per run, newest first.
    pub rows: Vec<RunRow>,
    /// Sums of the rows whose tokens are known.
    pub totals: Row,
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

/// `$0.0123` with enough digits for small amounts; `$?` when unknown.
pub fn usd(v: Option<f64>) -> String {
    match v {
        None => "$?".into(),
        Some(v) if v != 0.0 && v.abs() < 1.0 => format!("${v:.4}"),
        Some(v) => format!("${v:.2}"),
    }
}

fn tokens_compact(t: &Tokens) -> String {
    match t.usage() {
        Some(u) => format!(
            "in={}/cached={}/out={}",
            u.input_tokens, u.cached_input_tokens, u.output_tokens
        ),
        None => match t.total_tokens {
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

/// An aligned table with a header and a total line.
pub fn rows_table(head: &str, rows: &[(String, Tokens, Option<f64>)], total: &Row) -> String {
    let mut data: Vec<[String; 7]> = vec![[
        head.to_owned(),
        "input".into(),
        "cached".into(),
        "output".into(),
        "reasoning".into(),
        "total".into(),
        "cost".into(),
    ]];
    for (k, t, c) in rows {
        data.push([
            k.clone(),
            opt(t.input_tokens),
            opt(t.cached_input_tokens),
            opt(t.output_tokens),
            opt(t.reasoning_output_tokens),
            opt(t.total_tokens),
            usd(*c),
        ]);
    }
    data.push([
        "TOTAL".into(),
        group(total.input_tokens),
        group(total.cached_input_tokens),
        group(total.output_tokens),
        group(total.reasoning_output_tokens),
        group(total.total_tokens),
        usd(total.cost_usd),
    ]);
    let mut widths = [0usize; 7];
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
            } else {
                let _ = write!(out, "  {c:>w$}", w = widths[i]);
            }
        }
        out.push('\n');
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
        Format::Json => serde_json::to_string_pretty(r)? + "\n",
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
            rows_table(head, &rows, &r.totals)
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
        Format::Json => serde_json::to_string_pretty(r)? + "\n",
        Format::Compact => {
            let mut out = String::new();
            for s in summaries {
                out.push_str(&compact_line(s));
                out.push('\n');
            }
            let _ = writeln!(
                out,
                "TOTAL runs={} {} {}",
                r.rows.len(),
                tokens_compact(&row_tokens(&r.totals)),
                usd(r.totals.cost_usd)
            );
            out
        }
        Format::Table => {
            let rows: Vec<_> = r
                .rows
                .iter()
                .map(|x| (x.key.clone(), x.tokens.clone(), x.cost_usd))
                .collect();
            rows_table("run", &rows, &r.totals)
        }
    })
}

/// Builds the runs report from summaries.
pub fn runs_report(summaries: &[RunSummary]) -> RunsReport {
    let mut totals = Row::new("total".into());
    let mut rows = Vec::new();
    for s in summaries {
        if let Some(u) = s.token_usage.run.usage() {
            totals.input_tokens += u.input_tokens;
            totals.cached_input_tokens += u.cached_input_tokens;
            totals.output_tokens += u.output_tokens;
            totals.reasoning_output_tokens += u.reasoning_output_tokens;
            totals.total_tokens += u.total_tokens;
        }
        if let Some(c) = s.cost.usd {
            totals.cost_usd = Some(totals.cost_usd.unwrap_or(0.0) + c);
        }
        rows.push(RunRow {
            key: s.run_id.clone().unwrap_or_else(|| "-".into()),
            tokens: s.token_usage.run.clone(),
            cost_usd: s.cost.usd,
            source: s.token_usage.source,
            status: s.status.clone(),
            session_id: s.session_id.clone(),
            exit_code: s.exit_code,
        });
    }
    RunsReport {
        rows,
        totals,
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
