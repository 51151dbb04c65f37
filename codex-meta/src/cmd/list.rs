//! `codex-meta list [--json] [--limit N] [--status S]`: the runs, newest first.
//!
//! For people, an aligned table (run id, status, exit, elapsed, session, the branch of a
//! `--worktree` run when one is shown, task preview);
//! for programs, `--json`: one compact object per line, the meta with the effective
//! status. Metas that cannot be read are reported on stderr (exit 2) and skipped. With
//! no run to show, the table is its header, and stderr says why (an empty or missing
//! runs dir, or no run of that status).

use std::io::Write;

use serde_json::Value;

use super::{CmdResult, View, display_id, report, view};
use crate::RunsDir;
use crate::cli::ListArgs;

const TASK_WIDTH: usize = 48;

pub(crate) fn run(
    runs: &RunsDir,
    args: ListArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> CmdResult {
    let mut code = 0;
    let mut rows: Vec<(String, View)> = Vec::new();
    let mut shown = 0usize;
    // newest first from the names alone; only the metas shown (and those filtered out
    // on the way) are read
    for (_, meta_path) in runs.list_paths()? {
        if args.limit.is_some_and(|n| shown >= n) {
            break;
        }
        match view(&meta_path) {
            Ok(v) => {
                if args.status.is_some_and(|s| s != v.status) {
                    continue;
                }
                shown += 1;
                if args.json {
                    // streamed: a list of 100,000 runs holds none of them
                    writeln!(out, "{}", Value::Object(v.object))?;
                } else {
                    rows.push((display_id(&v.meta, &meta_path), v.slim()));
                }
            }
            Err(e) => {
                report(err, &e.to_string());
                code = 2;
            }
        }
    }
    if shown == 0 && code == 0 {
        let why = match args.status {
            Some(st) => format!("no {st} runs in {}", runs.path().display()),
            None if !runs.path().is_dir() => {
                format!("no runs: {} does not exist", runs.path().display())
            }
            None => format!("no runs in {}", runs.path().display()),
        };
        report(err, &why);
    }
    if !args.json {
        write_table(out, &rows)?;
    }
    Ok(code)
}

fn write_table(out: &mut dyn Write, rows: &[(String, View)]) -> std::io::Result<()> {
    // the BRANCH column only when a run shown has a worktree (`codex-spawn --worktree`)
    let branches: Vec<Option<String>> = rows
        .iter()
        .map(|(_, v)| {
            v.meta
                .worktree()
                .filter(|w| w.has_branch())
                .map(|w| w.branch)
        })
        .collect();
    let with_branch = branches.iter().any(Option::is_some);
    // TOKENS and COST only when a run shown has a spend (so far, or at its end)
    let spends: Vec<Option<crate::Spend>> = rows.iter().map(|(_, v)| v.meta.spend()).collect();
    let with_spend = spends.iter().any(Option::is_some);
    let mut header = vec!["RUN_ID", "STATUS", "EXIT", "ELAPSED", "SESSION"];
    if with_branch {
        header.push("BRANCH");
    }
    if with_spend {
        header.extend(["TOKENS", "COST"]);
    }
    header.push("TASK");
    let cells: Vec<Vec<String>> = rows
        .iter()
        .zip(branches.iter().zip(&spends))
        .map(|((id, v), (branch, spend))| {
            let mut row = vec![
                id.clone(),
                v.status.to_string(),
                v.meta
                    .exit_code
                    .map_or_else(|| "-".to_owned(), |c| c.to_string()),
                elapsed(v).map_or_else(|| "-".to_owned(), human_secs),
                v.meta
                    .session_id
                    .clone()
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| "-".to_owned()),
            ];
            if with_branch {
                row.push(branch.clone().unwrap_or_else(|| "-".to_owned()));
            }
            if with_spend {
                let s = spend.as_ref();
                row.push(
                    s.and_then(|s| s.tokens)
                        .map_or_else(|| "-".to_owned(), |t| t.to_string()),
                );
                row.push(
                    s.and_then(|s| s.cost_usd)
                        .map_or_else(|| "-".to_owned(), |c| format!("${c:.4}")),
                );
            }
            row.push(preview(v.meta.task.as_deref().unwrap_or("-"), TASK_WIDTH));
            row
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |out: &mut dyn Write, row: &[&str]| -> std::io::Result<()> {
        let mut s = String::new();
        for (i, c) in row.iter().enumerate() {
            s.push_str(c);
            if i + 1 < row.len() {
                let pad = widths[i] - c.chars().count() + 2;
                s.extend(std::iter::repeat_n(' ', pad));
            }
        }
        writeln!(out, "{}", s.trim_end())
    };
    line(out, &header)?;
    for row in &cells {
        let row: Vec<&str> = row.iter().map(String::as_str).collect();
        line(out, &row)?;
    }
    Ok(())
}

/// Seconds the run took, or has been running for.
fn elapsed(v: &View) -> Option<f64> {
    if let Some(e) = v.meta.elapsed_seconds {
        return Some(e);
    }
    if !v.status.is_live() {
        return None;
    }
    let started = v.meta.started_at.as_deref()?;
    let started = chrono::DateTime::parse_from_rfc3339(started).ok()?;
    let secs = (chrono::Utc::now() - started.with_timezone(&chrono::Utc)).num_milliseconds();
    Some(secs.max(0) as f64 / 1000.0)
}

fn human_secs(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// The text on one line, control characters as spaces, at most `width` characters.
fn preview(text: &str, width: usize) -> String {
    let flat: String = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() <= width {
        return flat;
    }
    let mut cut: String = flat.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_are_one_short_line() {
        assert_eq!(preview("fix\nthe   tests", 48), "fix the tests");
        assert_eq!(preview("ééééé", 3), "éé…");
        assert_eq!(preview("abc", 3), "abc");
    }

    #[test]
    fn elapsed_is_human() {
        assert_eq!(human_secs(5.4), "5s");
        assert_eq!(human_secs(184.0), "3m04s");
        assert_eq!(human_secs(3720.0), "1h02m");
    }
}
