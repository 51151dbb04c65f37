//! The `codex-summarize` command line: argument parsing, mode selection, output
//! and exit codes. All logic lives in the library modules.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use crate::format::{self, Format};
use crate::pricing::Pricing;
use crate::report::{self, GroupBy, ReportOptions};
use crate::run::{self, Options, RunSource, RunSummary};
use crate::zone::Zone;

/// Exit statuses (code, meaning); the man page is generated from these.
pub const EXIT_STATUS: &[(u8, &str)] = &[
    (0, "a summary or report was printed and usage was found"),
    (
        1,
        "nothing to summarize: no usage found for the run(s), or no session in the Codex home (the summary is still printed)",
    ),
    (
        2,
        "usage error or bad input: unknown run, unreadable meta/log/pricing file, bad date (one line naming it)",
    ),
    (
        3,
        "some runs were skipped (RUN... or --all): a meta that could not be read or found is named on stderr, one line each, and the report covers the others",
    ),
];

/// The exit status when some runs of a many-run report were skipped.
pub const EXIT_SKIPPED: u8 = 3;

/// Exact token usage and cost of Codex runs, sessions and whole Codex homes.
///
/// One run: `codex-summarize RUN` (a meta path or a run id in the runs dir) or
/// `codex-summarize --log LOG [--meta META]`. Many: `codex-summarize RUN…` or
/// `--all`. Codex's own history: `codex-summarize --codex-home DIR [--by month,model]`.
#[derive(Debug, Parser)]
#[command(name = "codex-summarize", version, about, long_about = None)]
pub struct Cli {
    /// Runs to summarize: meta file paths or run ids in the runs dir.
    #[arg(value_name = "RUN")]
    pub runs: Vec<String>,

    /// Summarize this log (the original interface); with --meta for the run's record.
    #[arg(long, value_name = "LOG")]
    pub log: Option<PathBuf>,

    /// The run's meta file (with --log).
    #[arg(long, value_name = "META", requires = "log")]
    pub meta: Option<PathBuf>,

    /// Summarize every run in the runs dir.
    #[arg(long, conflicts_with_all = ["runs", "log"])]
    pub all: bool,

    /// The runs dir (default: $CODEX_RUNS_DIR, else ./runs).
    #[arg(long, value_name = "DIR", alias = "log-dir")]
    pub runs_dir: Option<PathBuf>,

    /// The Codex home (default: $CODEX_HOME, else ~/.codex). Alone, it reports
    /// every session under sessions/ and archived_sessions/.
    #[arg(long, value_name = "DIR")]
    pub codex_home: Option<PathBuf>,

    /// Report: only usage at or after this day (YYYY-MM-DD, in --timezone) or instant
    /// (RFC 3339).
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,

    /// Report: only usage at or before this day (YYYY-MM-DD, in --timezone) or instant
    /// (RFC 3339).
    #[arg(long, value_name = "WHEN")]
    pub until: Option<String>,

    /// One row per session, day, ISO week, month, model or repo (the session's working
    /// directory; a run's repo: a project's whole cost) — or per combination,
    /// comma-separated (`--by month,model`). The Codex-home report's default is session;
    /// runs (RUN…, --all) are grouped only when asked, each run a row otherwise.
    #[arg(long, value_enum, value_delimiter = ',', value_name = "KEY")]
    pub by: Vec<GroupBy>,

    /// The zone of days, weeks, months and YYYY-MM-DD bounds: UTC, local (the default),
    /// an offset (+02:00) or an IANA name (Europe/Berlin). The report says it.
    #[arg(long, value_name = "ZONE")]
    pub timezone: Option<Zone>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    pub format: Format,

    /// Also write the JSON to FILE (atomically).
    #[arg(long, value_name = "FILE")]
    pub json_out: Option<PathBuf>,

    /// Prices from LiteLLM's model_prices_and_context_window.json instead of the built-in table.
    #[arg(long, value_name = "FILE")]
    pub pricing: Option<PathBuf>,

    /// Testing aid: at exit, write the peak resident set size (Linux VmHWM) to stderr.
    #[arg(long, hide = true)]
    pub debug_rss: bool,
}

/// The clap definition (for man pages and completions).
pub fn command() -> clap::Command {
    Cli::command()
}

/// Parses the process arguments, runs, and maps the outcome to an exit status.
pub fn main() -> ExitCode {
    codex_meta::io::run_main(
        "codex-summarize",
        std::env::args_os(),
        |cli: Cli, out, err| {
            let debug_rss = cli.debug_rss;
            let code = run(cli, out, err);
            if debug_rss {
                let hwm = codex_meta::io::peak_rss_kib()
                    .map_or_else(|| "unknown".to_owned(), |k| format!("{k} kB"));
                let _ = writeln!(err, "codex-summarize: debug: VmHWM {hwm}");
            }
            code
        },
    )
}

/// A failure with its exit status and one-line message.
struct Fail(u8, String);

impl<E: std::fmt::Display> From<E> for Fail {
    fn from(e: E) -> Self {
        Fail(2, e.to_string())
    }
}

/// Runs a parsed command line, writing results to `out` and diagnostics to
/// `err`; returns the exit status (see [`EXIT_STATUS`]).
pub fn run(cli: Cli, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    match execute(&cli, out, err) {
        Ok(code) => code,
        Err(Fail(code, msg)) => {
            if code == 0 {
                return 0;
            }
            let _ = writeln!(err, "codex-summarize: {}", codex_meta::io::one_line(&msg));
            code
        }
    }
}

fn emit(out: &mut dyn Write, text: &str) -> Result<(), Fail> {
    match out.write_all(text.as_bytes()) {
        Err(e) if codex_meta::io::is_broken_pipe(&e) => Err(Fail(0, String::new())),
        Err(e) => Err(Fail(2, format!("cannot write to stdout: {e}"))),
        Ok(()) => Ok(()),
    }
}

fn write_json_out(path: Option<&Path>, value: &impl serde::Serialize) -> Result<(), Fail> {
    if let Some(p) = path {
        codex_meta::write_json_atomic(p, value)?;
    }
    Ok(())
}

fn execute(cli: &Cli, out: &mut dyn Write, err: &mut dyn Write) -> Result<u8, Fail> {
    let pricing = match &cli.pricing {
        Some(p) => Pricing::from_litellm_file(p)?,
        None => Pricing::builtin(),
    };
    let report_only = cli.runs.is_empty() && cli.log.is_none() && !cli.all;
    if let Some(k) = cli
        .by
        .iter()
        .enumerate()
        .find_map(|(i, k)| cli.by[..i].contains(k).then_some(k))
    {
        return Err(Fail(2, format!("--by: '{}' given twice", k.name())));
    }
    if cli.format == Format::Html && !report_only {
        return Err(Fail(
            2,
            "--format html is the --codex-home report's, not a run's".into(),
        ));
    }
    if (cli.since.is_some() || cli.until.is_some()) && !report_only {
        return Err(Fail(
            2,
            "--since/--until apply to the --codex-home report, not to runs".into(),
        ));
    }
    let one_run = cli.log.is_some() || (cli.runs.len() == 1 && !cli.all);
    if (!cli.by.is_empty() || cli.timezone.is_some()) && one_run {
        return Err(Fail(
            2,
            "--by/--timezone group many runs (RUN RUN…, --all) or a --codex-home report, not one run".into(),
        ));
    }
    if report_only {
        return home_report(cli, pricing, out);
    }
    let opts = Options {
        codex_home: cli.codex_home.clone(),
        runs_dir: cli.runs_dir.clone().or_else(|| {
            std::env::var_os(codex_meta::RUNS_DIR_ENV)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        }),
        pricing,
        log_override: cli.log.clone(),
        rollout_index: None,
        session_runs: None,
    };
    if let Some(log) = &cli.log {
        if !log.is_file() {
            return Err(Fail(2, format!("{}: no such log file", log.display())));
        }
        let s = match &cli.meta {
            Some(m) => run::summarize_run(RunSource::MetaPath(m), &opts)?,
            None => run::summarize_run(RunSource::LogOnly(log), &opts)?,
        };
        return single(cli, out, &s);
    }
    let dir = codex_meta::RunsDir::resolve(cli.runs_dir.as_deref())?;
    if cli.runs.len() == 1 && !cli.all {
        let meta = dir.resolve_run(&cli.runs[0])?;
        let s = run::summarize_run(RunSource::MetaPath(&meta), &opts)?;
        return single(cli, out, &s);
    }
    many_runs(cli, &dir, opts, out, err)
}

/// `--codex-home DIR` alone: the report of every session in the home.
fn home_report(cli: &Cli, pricing: Pricing, out: &mut dyn Write) -> Result<u8, Fail> {
    let Some(home) = &cli.codex_home else {
        return Err(Fail(
            2,
            "nothing to summarize: give RUN…, --all, --log LOG, or --codex-home DIR".into(),
        ));
    };
    if !home.is_dir() {
        return Err(Fail(2, format!("{}: not a directory", home.display())));
    }
    let html = cli.format == Format::Html;
    if html && !cli.by.is_empty() {
        return Err(Fail(
            2,
            "--format html groups by day, model and project itself: drop --by".into(),
        ));
    }
    let zone = cli.timezone.unwrap_or_default();
    let bound = |s: &Option<String>, end: bool, flag: &str| -> Result<Option<i64>, Fail> {
        s.as_deref()
            .map(|v| {
                crate::time::parse_bound(v, end, zone).ok_or_else(|| {
                    Fail(
                        2,
                        format!("{flag} '{v}': expected YYYY-MM-DD or an RFC 3339 time"),
                    )
                })
            })
            .transpose()
    };
    let opts = ReportOptions {
        since_ms: bound(&cli.since, false, "--since")?,
        until_ms: bound(&cli.until, true, "--until")?,
        by: if html {
            crate::html::GROUPS.to_vec()
        } else {
            cli.by.clone()
        },
        zone,
    };
    let r = report::codex_home_report(home, &opts, &pricing);
    write_json_out(cli.json_out.as_deref(), &r)?;
    if html {
        let made = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string();
        emit(out, &crate::html::page(&r, &zone.to_string(), &made))?;
    } else {
        let head = heading(opts.keys(), r.timezone.as_deref());
        emit(out, &format::render_report(&r, cli.format, &head)?)?;
    }
    Ok(if r.rows.is_empty() { 1 } else { 0 })
}

/// A grouped table's heading: the keys' names, and the zone of a calendar key.
fn heading(keys: &[GroupBy], zone: Option<&str>) -> String {
    let names: Vec<&str> = keys.iter().map(|k| k.name()).collect();
    match zone {
        Some(z) => format!("{} ({z})", names.join(" ")),
        None => names.join(" "),
    }
}

/// Many runs (`RUN RUN…` or `--all`): one bad meta hides nothing — it is named on
/// stderr, the rest reported, and the exit status says some were skipped.
fn many_runs(
    cli: &Cli,
    dir: &codex_meta::RunsDir,
    mut opts: Options,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<u8, Fail> {
    let mut skipped = 0usize;
    let mut skip = |err: &mut dyn Write, e: &dyn std::fmt::Display| {
        skipped += 1;
        let _ = writeln!(
            err,
            "codex-summarize: skipped: {}",
            codex_meta::io::one_line(&e.to_string())
        );
    };
    let metas: Vec<PathBuf> = match cli.all {
        true => listed_runs(dir, err)?,
        false => cli
            .runs
            .iter()
            .filter_map(|r| dir.resolve_run(r).map_err(|e| skip(err, &e)).ok())
            .collect(),
    };
    if metas.len() > 1 {
        opts.rollout_index = opts
            .resolved_codex_home()
            .map(|h| std::sync::Arc::new(crate::rollout::RolloutIndex::build(&h)));
        opts.session_runs = Some(Default::default());
    }
    let mut summaries: Vec<RunSummary> = Vec::with_capacity(metas.len());
    for result in summarize_all(&metas, &opts) {
        match result {
            Ok(s) => summaries.push(s),
            Err(e) => skip(err, &e),
        }
    }
    if cli.by.is_empty() && cli.timezone.is_none() {
        let r = format::runs_report(&summaries);
        write_json_out(cli.json_out.as_deref(), &r)?;
        emit(out, &format::render_runs(&r, &summaries, cli.format)?)?;
    } else {
        // --timezone alone: by the day each run started
        let by = if cli.by.is_empty() {
            &[GroupBy::Day][..]
        } else {
            &cli.by
        };
        let r = crate::grouped::group_runs(&summaries, by, cli.timezone.unwrap_or_default());
        write_json_out(cli.json_out.as_deref(), &r)?;
        let head = heading(by, r.timezone.as_deref());
        emit(out, &crate::grouped::render_grouped(&r, cli.format, &head)?)?;
    }
    let found = summaries.iter().any(|s| s.token_usage.source.is_some());
    Ok(if skipped > 0 {
        EXIT_SKIPPED
    } else if found {
        0
    } else {
        1
    })
}

/// `--all`: every run's meta in the runs dir. An empty or missing runs dir says so
/// (never a silent, empty report).
fn listed_runs(dir: &codex_meta::RunsDir, err: &mut dyn Write) -> Result<Vec<PathBuf>, Fail> {
    if !dir.path().is_dir() {
        return Err(Fail(
            2,
            format!("--all: runs dir {} does not exist", dir.path().display()),
        ));
    }
    let metas: Vec<PathBuf> = dir.list()?.into_iter().map(|r| r.meta_path).collect();
    if metas.is_empty() {
        let _ = writeln!(
            err,
            "codex-summarize: no runs in {}",
            codex_meta::io::one_line(&dir.path().display().to_string())
        );
    }
    Ok(metas)
}

/// Each run's summary, in the order of `metas`, made by all cores (runs are
/// independent: a meta, a log, a rollout each).
fn summarize_all(
    metas: &[PathBuf],
    opts: &Options,
) -> Vec<Result<RunSummary, run::SummarizeError>> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8)
        .min(metas.len().div_ceil(64).max(1));
    if workers <= 1 {
        return metas
            .iter()
            .map(|m| run::summarize_run(RunSource::MetaPath(m), opts))
            .collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut parts: Vec<Vec<(usize, Result<RunSummary, run::SummarizeError>)>> =
        std::thread::scope(|sc| {
            let handles: Vec<_> = (0..workers)
                .map(|_| {
                    sc.spawn(|| {
                        let mut got = Vec::new();
                        loop {
                            let start = next.fetch_add(64, std::sync::atomic::Ordering::Relaxed);
                            if start >= metas.len() {
                                return got;
                            }
                            for (i, m) in metas.iter().enumerate().skip(start).take(64) {
                                got.push((i, run::summarize_run(RunSource::MetaPath(m), opts)));
                            }
                        }
                    })
                })
                .collect();
            handles
                .into_iter()
                // a worker that panicked takes the report down with it: no run is lost
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        });
    let mut all: Vec<(usize, Result<RunSummary, run::SummarizeError>)> =
        parts.drain(..).flatten().collect();
    all.sort_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, r)| r).collect()
}

fn single(cli: &Cli, out: &mut dyn Write, s: &RunSummary) -> Result<u8, Fail> {
    write_json_out(cli.json_out.as_deref(), s)?;
    let text = match cli.format {
        // (html is the --codex-home report's, made by html::page: refused before here)
        Format::Json | Format::Html => serde_json::to_string_pretty(s)? + "\n",
        Format::Compact => format::compact_line(s) + "\n",
        Format::Table => format::run_table(s),
    };
    emit(out, &text)?;
    Ok(if s.token_usage.source.is_some() { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_cli() {
        command().debug_assert();
    }
}
