//! `codex-meta prune [--older-than DUR] [--status S…] [--keep N] [--dry-run] [--force]`:
//! one line per thing removed (or, with `--dry-run`, that would be), one per thing kept
//! by a refusal, and the total freed. The work is [`crate::prune`]'s.

use std::io::Write;

use super::{CmdResult, report};
use crate::RunsDir;
use crate::cli::PruneArgs;
use crate::prune::{Event, PruneOptions, Removed, prune};

pub(crate) fn run(
    runs: &RunsDir,
    args: PruneArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> CmdResult {
    let opts = PruneOptions {
        older_than: args.older_than,
        statuses: args.status,
        keep: args.keep,
        dry_run: args.dry_run,
        force: args.force,
    };
    let verb = if opts.dry_run {
        "would remove"
    } else {
        "removed"
    };
    let mut write_failed = None;
    let totals = prune(runs, &opts, &mut |e| {
        let line = match e {
            Event::Removed { run, what } => match what {
                Removed::File { path, bytes } => {
                    format!("{verb} file {} ({}) [{run}]", path.display(), size(*bytes))
                }
                Removed::Worktree { path, bytes } => {
                    format!(
                        "{verb} worktree {} ({}) [{run}]",
                        path.display(),
                        size(*bytes)
                    )
                }
                Removed::Branch { name } => format!("{verb} branch {name} [{run}]"),
            },
            Event::Kept { run, why } => format!("kept {run}: {}", crate::io::one_line(why)),
            Event::Failed { run, why } => {
                report(err, &format!("{run}: {why}"));
                return;
            }
        };
        if let Err(e) = writeln!(out, "{line}") {
            write_failed.get_or_insert(e);
        }
    })?;
    if let Some(e) = write_failed {
        return Err(e.into());
    }
    let freed = if opts.dry_run { "would free" } else { "freed" };
    writeln!(
        out,
        "{freed} {} in {} run(s){}",
        size(totals.bytes),
        totals.runs,
        if totals.kept > 0 {
            format!("; kept {} (see above)", totals.kept)
        } else {
            String::new()
        }
    )?;
    Ok(if totals.failed > 0 {
        2
    } else if totals.kept > 0 {
        1
    } else {
        0
    })
}

/// `1234567 bytes, 1.2 MiB`.
fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    let mut v = bytes as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{bytes} bytes, {v:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::size;

    #[test]
    fn sizes_say_bytes_and_a_unit() {
        assert_eq!(size(0), "0 bytes");
        assert_eq!(size(1023), "1023 bytes");
        assert_eq!(size(1536), "1536 bytes, 1.5 KiB");
        assert_eq!(size(5 << 30), "5368709120 bytes, 5.0 GiB");
    }
}
