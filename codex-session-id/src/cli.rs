//! The `codex-session-id` command line: argument definitions (the man page is generated
//! from [`command`] and [`EXIT_STATUS`]), and [`run`], which reads the inputs in order and
//! prints the ids. This file exists so `main.rs` stays one line and the whole command is
//! testable in-process.

use crate::launch::{Tap, follow_launch, launch_of_file, launch_of_stream};
use crate::read::Distinct;
use crate::{Error, Mode, SessionId, follow_path, follow_reader, scan_file};
use clap::{CommandFactory, Parser};
use codex_meta::io::is_broken_pipe;
use codex_meta::parse_duration;
use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Exit statuses (code, meaning).
pub const EXIT_STATUS: &[(u8, &str)] = &[
    (0, "a session id was found and printed"),
    (1, "no session id was found"),
    (
        2,
        "a file could not be read, the output could not be written, or the arguments were wrong",
    ),
];

const AFTER_HELP: &str = "\
Recognised: the header line `session id: <uuid>` (any case, ANSI colours, CR line ends)
where a run's header stands (the start, after a run's end, a codex-spawn attempt), the
JSON events thread.started, session_configured and session_meta (top-level type only),
a rollout's legacy first line {\"id\":…,\"timestamp\":…}, and codex-spawn's closing
line `codex_session_id=<uuid>`. Any other UUID in the transcript (agent messages,
`request id:`, paths, tool output, a header a tool printed) is ignored. Logs are read as
found: UTF-16 or UTF-8 with a byte-order mark, CI timestamps before each line, ANSI
escapes as a Windows console renders them (`←[1m`).

Exit status: 0 found, 1 not found, 2 error.";

/// Print the Codex session id found in a log, JSONL events, a rollout or codex-spawn's output.
#[derive(Debug, Parser)]
#[command(name = "codex-session-id", version, after_help = AFTER_HELP)]
pub struct Args {
    /// Files to read in order (none or `-` = standard input).
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Read everything and print the last session id.
    #[arg(long, conflicts_with = "all")]
    pub last: bool,

    /// Print each distinct session id, in order of first appearance.
    #[arg(long)]
    pub all: bool,

    /// Keep reading a growing file until an id appears, the codex-spawn run writing it
    /// ends (a `codex_exit_code=` line; the run's lock on its log `codex-run-<id>.log`
    /// released and the log read to its end; or the run's meta beside it saying it is
    /// over), or the timeout passes. A file is followed by name like `tail -F` (it may
    /// appear later, be truncated, renamed over, or deleted and created again); a pipe,
    /// FIFO or device is read within the timeout too. codex-spawn's run lines with no id
    /// yet (a launch file, or `codex-spawn --detach | codex-session-id --follow`) lead to
    /// their run's log, which is followed.
    #[arg(long)]
    pub follow: bool,

    /// With --follow: give up after DUR (e.g. 500ms, 30s, 5m, 1h; a bare number is seconds).
    #[arg(long, value_name = "DUR", requires = "follow", value_parser = parse_duration)]
    pub timeout: Option<Duration>,
}

/// The clap definition (for man pages and completions).
pub fn command() -> clap::Command {
    Args::command()
}

/// Parses the process's arguments, runs, and maps the outcome to an exit status.
pub fn main() -> ExitCode {
    main_with(std::env::args_os())
}

/// [`main`] with explicit arguments (the first is the program name).
pub fn main_with(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    codex_meta::io::run_main("codex-session-id", args, |args: Args, out, err| {
        run(&args, out, err)
    })
}

impl Args {
    fn mode(&self) -> Mode {
        if self.last {
            Mode::Last
        } else if self.all {
            Mode::All
        } else {
            Mode::First
        }
    }
}

/// Where the printed ids go; a closed pipe ends the output quietly, any other write
/// error ends it too and is reported.
struct Printer<'a> {
    out: &'a mut dyn Write,
    mode: Mode,
    seen: Distinct,
    last: Option<SessionId>,
    found: bool,
    closed: bool,
    write_error: Option<io::Error>,
}

impl Printer<'_> {
    fn write(&mut self, id: &SessionId) {
        let result = writeln!(self.out, "{}", id.uuid).and_then(|()| self.out.flush());
        if let Err(e) = result {
            // nobody can read more: stop; a closed pipe (`| head -1`) is a quiet end
            self.closed = true;
            if !is_broken_pipe(&e) {
                self.write_error.get_or_insert(e);
            }
        }
    }

    /// Offers one id; `Break` when no more input is needed.
    fn offer(&mut self, id: SessionId) -> ControlFlow<()> {
        self.found = true;
        match self.mode {
            Mode::First => {
                self.write(&id);
                return ControlFlow::Break(());
            }
            Mode::Last => self.last = Some(id),
            Mode::All => {
                if self.seen.insert(id.uuid) {
                    self.write(&id);
                }
            }
        }
        if self.closed {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }

    fn done(&self) -> bool {
        self.closed || (self.mode == Mode::First && self.found)
    }
}

/// Runs the command: prints the ids to `out`, one line per unreadable input to `err`;
/// returns the exit status (see [`EXIT_STATUS`]).
pub fn run(args: &Args, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let deadline = args.timeout.map(|t| Instant::now() + t);
    let mut printer = Printer {
        out,
        mode: args.mode(),
        seen: Distinct::default(),
        last: None,
        found: false,
        closed: false,
        write_error: None,
    };
    let stdin_only = [PathBuf::from("-")];
    let files = if args.files.is_empty() {
        &stdin_only[..]
    } else {
        &args.files[..]
    };
    let mut failed = false;
    for path in files {
        if printer.done() || deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        if let Err(e) = scan_one(path, args, deadline, &mut printer) {
            failed = true;
            let _ = writeln!(
                err,
                "codex-session-id: {}",
                codex_meta::io::one_line(&e.to_string())
            );
        }
    }
    if let Some(id) = printer.last.take() {
        printer.write(&id);
    }
    if let Some(e) = printer.write_error.take() {
        failed = true;
        let _ = writeln!(err, "codex-session-id: {}", Error::Stdout(e));
    }
    if failed {
        2
    } else if printer.found {
        0
    } else {
        1
    }
}

fn scan_one(
    path: &Path,
    args: &Args,
    deadline: Option<Instant>,
    printer: &mut Printer<'_>,
) -> Result<(), Error> {
    if path.as_os_str() == "-" {
        let stdin = io::stdin();
        if !args.follow {
            return crate::scan_reader(stdin.lock(), |id| printer.offer(id)).map_err(Error::Stdin);
        }
        let tap = Tap::new(stdin);
        let head = tap.head();
        let timed_out =
            follow_reader(tap, deadline, |id| printer.offer(id)).map_err(Error::Stdin)?;
        // codex-spawn's run lines, ended before codex named its session: its log tells
        if !timed_out && !printer.found {
            if let Some(launch) = launch_of_stream(&head, Path::new("standard input"))? {
                follow_launch(&launch, deadline, |id| printer.offer(id))?;
            }
        }
        return Ok(());
    }
    let read_err = |source| Error::Read {
        path: path.to_owned(),
        source,
    };
    if args.follow {
        if let Some(launch) = launch_of_file(path, deadline)? {
            // a launch file: what it holds (`--detach=session`'s id, closing lines), else
            // its run's log as it grows
            let file = File::open(path).map_err(read_err)?;
            for id in scan_file(&file, printer.mode).map_err(read_err)? {
                let _ = printer.offer(id);
            }
            if !printer.found {
                follow_launch(&launch, deadline, |id| printer.offer(id))?;
            }
            return Ok(());
        }
        // like `tail -F`: the file may not exist yet, be truncated or replaced; a FIFO or
        // a device is read as a stream, within the timeout
        follow_path(path, deadline, |id| printer.offer(id)).map_err(read_err)?;
        return Ok(());
    }
    let mut file = File::open(path).map_err(read_err)?;
    let regular = file.metadata().map_err(read_err)?.is_file();
    if regular && printer.mode != Mode::All {
        // whole-file parallel scan; `First`/`Last` give at most one id
        for id in scan_file(&file, printer.mode).map_err(read_err)? {
            let _ = printer.offer(id);
        }
    } else if regular {
        for id in scan_file(&file, Mode::All).map_err(read_err)? {
            if printer.offer(id).is_break() {
                break;
            }
        }
    } else {
        crate::scan_reader(&mut file, |id| printer.offer(id)).map_err(read_err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_cli() {
        command().debug_assert();
    }

    #[test]
    fn timeout_needs_follow() {
        assert!(Args::try_parse_from(["x", "--timeout", "1s"]).is_err());
        assert!(Args::try_parse_from(["x", "--follow", "--timeout", "soon"]).is_err());
        assert!(Args::try_parse_from(["x", "--last", "--all"]).is_err());
        let a = Args::try_parse_from(["x", "--follow", "--timeout", "500ms", "f"]).unwrap();
        assert_eq!(a.timeout, Some(Duration::from_millis(500)));
    }

    #[test]
    fn run_in_process() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("a.log");
        std::fs::write(
            &log,
            "decoy session id: 123e4567-e89b-12d3-a456-426614174000\nsession id: 01A20A11-C891-7691-9716-0A912243E201\n",
        )
        .unwrap();
        let args = Args::try_parse_from([OsString::from("x"), log.into_os_string()]).unwrap();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert_eq!(run(&args, &mut out, &mut err), 0);
        assert_eq!(out, b"01a20a11-c891-7691-9716-0a912243e201\n");
        assert!(err.is_empty());
    }
}
