//! Output helpers shared by the tools: a closed stdout (`| head -1`) is a quiet, successful
//! end, never a panic or an error message; and the `main` the printing tools share.

use std::ffi::OsString;
use std::io::{self, Write};
use std::process::ExitCode;

/// `message` as one line of a tool's stderr: control characters — a newline in a path or
/// a queue name, an escape sequence — shown escaped (`\n`, `\u{1b}`), so an error is
/// always one line and says what it was given.
pub fn one_line(message: &str) -> String {
    let mut s = String::with_capacity(message.len());
    for c in message.chars() {
        if c.is_control() {
            s.extend(c.escape_debug());
        } else {
            s.push(c);
        }
    }
    s
}

/// `text` as one line of words, for a JSON field an agent reads (codex-mcp's errors and
/// notes): control characters and whitespace runs become one space. (Unlike
/// [`one_line`], which keeps every character visible for a terminal.)
pub fn words_on_one_line(text: &str) -> String {
    text.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// True for the error a write to a closed pipe gives.
pub fn is_broken_pipe(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::BrokenPipe
}

/// Turn a broken-pipe error into success; keep every other result.
pub fn quiet_on_broken_pipe<T: Default>(result: io::Result<T>) -> io::Result<T> {
    match result {
        Err(e) if is_broken_pipe(&e) => Ok(T::default()),
        other => other,
    }
}

/// The `main` of a tool that prints to stdout: parse `args` with clap (see [`clap_exit`]
/// for help, version and usage errors), call `run` with a buffered,
/// locked stdout and a locked stderr, and flush. A closed stdout ends quietly with `run`'s
/// status; any other failure to write stdout turns a successful run into exit 2 with
/// `<tool>: cannot write to stdout: …` (a failed run keeps its own status and message).
pub fn run_main<C: clap::Parser>(
    tool: &str,
    args: impl IntoIterator<Item = OsString>,
    run: impl FnOnce(C, &mut dyn Write, &mut dyn Write) -> u8,
) -> ExitCode {
    let cli = match C::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => return clap_exit(tool, &e),
    };
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let mut err = io::stderr().lock();
    let code = run(cli, &mut out, &mut err);
    match out.flush() {
        // A run that already failed has said why (often this very write error).
        Err(e) if code == 0 && !is_broken_pipe(&e) => {
            let _ = writeln!(err, "{tool}: cannot write to stdout: {e}");
            ExitCode::from(2)
        }
        _ => ExitCode::from(code),
    }
}

/// End a tool whose arguments clap did not accept: help and version go to stdout (exit 0);
/// a missing subcommand shows the help on stderr (exit 2); any other usage error is one
/// line on stderr, `<tool>: <what was wrong> (see --help)` (exit 2).
pub fn clap_exit(tool: &str, e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            ExitCode::from(2)
        }
        _ => {
            // clap's message is the lines before its tip / usage / "for more information"
            // paragraphs; a list (e.g. of missing arguments) continues on indented lines.
            let text = e.to_string();
            let what: Vec<&str> = text
                .lines()
                .map(str::trim)
                .take_while(|l| !l.starts_with("tip:") && !l.starts_with("Usage:"))
                .filter(|l| !l.is_empty() && !l.starts_with("For more information"))
                .collect();
            let what = what.join(" ");
            let what = what.strip_prefix("error: ").unwrap_or(&what);
            let what = if what.is_empty() {
                "invalid arguments"
            } else {
                what
            };
            let _ = writeln!(io::stderr().lock(), "{tool}: {what} (see --help)");
            ExitCode::from(2)
        }
    }
}

/// This process's peak resident set size in KiB (getrusage's `ru_maxrss`, which Linux
/// gives in KiB and macOS in bytes); `None` when it cannot be read.
pub fn peak_rss_kib() -> Option<u64> {
    use nix::sys::resource::{UsageWho, getrusage};
    let raw = u64::try_from(getrusage(UsageWho::RUSAGE_SELF).ok()?.max_rss()).ok()?;
    let kib = if cfg!(target_os = "macos") {
        raw / 1024
    } else {
        raw
    };
    (kib > 0).then_some(kib)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_message_is_one_line_that_shows_what_it_was_given() {
        assert_eq!(super::one_line("plain é"), "plain é");
        assert_eq!(
            super::one_line("queue x\ny: bad\u{1b}[1m"),
            "queue x\\ny: bad\\u{1b}[1m"
        );
    }
}
