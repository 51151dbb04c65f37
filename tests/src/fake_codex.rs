//! A fake `codex` that replays transcripts captured from the real Codex CLI.
//!
//! Why it exists: codex-spawn's tests must run in milliseconds, without Node or a
//! network, yet see exactly what the real CLI prints. So this binary never invents a
//! format: it replays `NAME.stderr`, then `NAME.stdout`, and exits with `NAME.exit` from
//! the fixture directory (`fixtures/codex-0.169.0`, or `$FAKE_CODEX_FIXTURES`). It
//! parses `codex exec` argv just enough to honour `--json`, `-o FILE` and
//! `resume ID`, and has knobs for the faults a supervisor must survive.
//!
//! Environment:
//! - `FAKE_CODEX_SCENARIO=NAME` — fixture to replay. Without a `-json`/`-human` suffix
//!   (`new`, `resume`, `tool`, `fail`) `--json` picks the `-json` variant. Default:
//!   `resume` when argv has `resume`, else `new` (so plain `exec PROMPT` replays new-human).
//! - `FAKE_CODEX_FIXTURES=DIR` — another fixture directory.
//! - `FAKE_CODEX_RECORD=FILE` — append one JSON line `{argv, cwd, stdin_bytes,
//!   stdin_sha256, stdin_text, env_keys}` (stdin fields null unless stdin was read;
//!   `stdin_text` only below 4 KiB of UTF-8; `env_keys` are names, never values).
//! - `FAKE_CODEX_READ_STDIN=1` — read stdin to EOF when the transcript prints
//!   `Reading additional input from stdin...` (before the header, as codex does). A prompt
//!   argument `-` always reads stdin.
//! - `FAKE_CODEX_SLEEP_BEFORE=DUR` — sleep before printing anything (`2s`, `200ms`).
//! - `FAKE_CODEX_SLEEP_AFTER_HEADER=DUR` — print the header (stderr up to the `--------`
//!   after `session id:`; in `--json` mode also the `thread.started` line), sleep, go on.
//! - `FAKE_CODEX_HANG=1` — after the header, wait until signalled; SIGTERM exits 143.
//! - `FAKE_CODEX_IGNORE_TERM=1` — ignore SIGTERM (only SIGKILL ends a hang).
//! - `FAKE_CODEX_SIGNAL_SELF=SIG` — after the header, raise SIG (`KILL`, `SEGV`, …).
//! - `FAKE_CODEX_BIG_OUTPUT=BYTES` — after the transcript, stream that many bytes of
//!   binary, invalid UTF-8 to stdout in 64 KiB chunks.
//! - `FAKE_CODEX_BACKGROUND_CHILD=SECS` — leave a `sleep SECS` grandchild holding stdout
//!   and stderr open after the fake exits.
//! - `FAKE_CODEX_EXIT=N` — exit with N instead of `NAME.exit`.
//!
//! `-o FILE` gets the last agent message at the end of a successful transcript: the text
//! without a trailing newline, as codex-cli 0.169.0 writes it.
//! Exit status: the transcript's (or `FAKE_CODEX_EXIT`), 143 on SIGTERM while hanging,
//! 99 when the fake itself fails (missing fixture, bad knob).

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use codex_meta::parse_duration;

/// Exit status of the fake when it fails itself.
pub const FAKE_ERROR_EXIT: u8 = 99;

/// Errors of the fake itself (not of the replayed run).
#[derive(Debug, thiserror::Error)]
pub enum FakeError {
    #[error("cannot read fixture {}: {source}", path.display())]
    Fixture { path: PathBuf, source: io::Error },
    #[error("invalid {name}={value}")]
    Knob { name: &'static str, value: String },
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
    #[error("cannot read stdin: {0}")]
    Stdin(io::Error),
}

/// What the fake understood of its `codex exec` argv.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Invocation {
    pub json: bool,
    pub output_last_message: Option<PathBuf>,
    pub cd: Option<PathBuf>,
    /// `Some(id)` for `resume ID`, `Some("--last")` for `resume --last`.
    pub resume: Option<String>,
    pub prompt: Option<String>,
}

/// `codex exec` options that take a value.
const VALUE_OPTS: &[&str] = &[
    "-C",
    "--cd",
    "-o",
    "--output-last-message",
    "-s",
    "--sandbox",
    "-m",
    "--model",
    "-p",
    "--profile",
    "--add-dir",
    "--output-schema",
    "-c",
    "--config",
    "--color",
    "-i",
    "--image",
    "--local-provider",
    "--enable",
    "--disable",
];

/// Parses `[exec] [OPTS] [resume (ID|--last)] [PROMPT]`.
pub fn parse_args(args: &[String]) -> Invocation {
    let mut inv = Invocation::default();
    let mut positionals = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_owned())),
            _ => (arg.as_str(), None),
        };
        if name == "--last" && positionals.last().is_some_and(|p: &String| p == "resume") {
            positionals.push(name.to_owned());
        } else if name == "--json" {
            inv.json = true;
        } else if VALUE_OPTS.contains(&name) {
            let value = inline.or_else(|| it.next().cloned()).unwrap_or_default();
            match name {
                "-o" | "--output-last-message" => inv.output_last_message = Some(value.into()),
                "-C" | "--cd" => inv.cd = Some(value.into()),
                _ => {}
            }
        } else if name.starts_with('-') && name != "-" {
            // a flag codex has (or will have); no value
        } else {
            positionals.push(arg.clone());
        }
    }
    let mut pos = positionals.into_iter().peekable();
    if pos.peek().is_some_and(|p| p == "exec" || p == "e") {
        pos.next();
    }
    if pos.peek().is_some_and(|p| p == "resume") {
        pos.next();
        inv.resume = pos.next();
    }
    inv.prompt = pos.next();
    inv
}

/// A captured run: what codex printed and how it exited.
#[derive(Debug, Clone)]
pub struct Transcript {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub exit: u8,
}

impl Transcript {
    /// Loads `NAME.stdout`, `NAME.stderr`, `NAME.exit` from `dir`.
    pub fn load(dir: &Path, name: &str) -> Result<Transcript, FakeError> {
        let read = |ext: &str| {
            let path = dir.join(format!("{name}.{ext}"));
            std::fs::read(&path).map_err(|source| FakeError::Fixture { path, source })
        };
        let exit_raw = read("exit")?;
        let exit = String::from_utf8_lossy(&exit_raw)
            .trim()
            .parse()
            .map_err(|_| FakeError::Fixture {
                path: dir.join(format!("{name}.exit")),
                source: io::Error::new(io::ErrorKind::InvalidData, "not an exit code"),
            })?;
        Ok(Transcript {
            stdout: read("stdout")?,
            stderr: read("stderr")?,
            exit,
        })
    }

    /// The session id the transcript carries (`session id:` header or `thread_id`).
    pub fn session_id(&self) -> Option<String> {
        let find = |hay: &[u8], key: &[u8]| {
            let at = find_bytes(hay, key)? + key.len();
            let id = hay.get(at..at + 36)?;
            Some(String::from_utf8_lossy(id).into_owned())
        };
        find(&self.stderr, b"session id: ").or_else(|| find(&self.stdout, b"\"thread_id\":\""))
    }

    /// Replaces the transcript's session id everywhere with `id`.
    pub fn rewrite_session_id(&mut self, id: &str) {
        if let Some(old) = self.session_id() {
            self.stdout = replace_bytes(&self.stdout, old.as_bytes(), id.as_bytes());
            self.stderr = replace_bytes(&self.stderr, old.as_bytes(), id.as_bytes());
        }
    }

    /// The last agent message, as `-o FILE` receives it (None for a failed run).
    pub fn last_message(&self, json: bool) -> Option<String> {
        if self.exit != 0 {
            return None;
        }
        let out = String::from_utf8_lossy(&self.stdout);
        if json {
            out.lines()
                .rev()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .find(|v| v["item"]["type"] == "agent_message")
                .and_then(|v| v["item"]["text"].as_str().map(str::to_owned))
        } else {
            let text = out.strip_suffix('\n').unwrap_or(&out);
            (!text.is_empty()).then(|| text.to_owned())
        }
    }
}

fn find_bytes(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn replace_bytes(hay: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hay.len());
    let mut rest = hay;
    while let Some(i) = find_bytes(rest, from) {
        out.extend_from_slice(&rest[..i]);
        out.extend_from_slice(to);
        rest = &rest[i + from.len()..];
    }
    out.extend_from_slice(rest);
    out
}

/// Byte offset just past `needle`'s line in `hay`, if present.
fn after_line(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let at = find_bytes(hay, needle)?;
    let nl = hay[at..].iter().position(|&b| b == b'\n')?;
    Some(at + nl + 1)
}

/// End of the header in stderr: past the `--------` line after `session id:`.
fn stderr_header_end(stderr: &[u8]) -> usize {
    after_line(stderr, b"session id: ")
        .and_then(|sid_end| after_line(&stderr[sid_end..], b"--------").map(|e| sid_end + e))
        .unwrap_or(stderr.len())
}

struct Knobs {
    scenario: Option<String>,
    fixtures: PathBuf,
    record: Option<PathBuf>,
    read_stdin: bool,
    sleep_before: Option<Duration>,
    sleep_after_header: Option<Duration>,
    hang: bool,
    ignore_term: bool,
    signal_self: Option<nix::sys::signal::Signal>,
    big_output: Option<u64>,
    background_child: Option<String>,
    exit: Option<u8>,
}

fn env(name: &str) -> Option<String> {
    std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
}

fn flag(name: &str) -> bool {
    env(name).is_some_and(|v| !v.is_empty() && v != "0")
}

fn knob<T>(name: &'static str, parse: impl Fn(&str) -> Option<T>) -> Result<Option<T>, FakeError> {
    match env(name) {
        None => Ok(None),
        Some(v) => parse(&v)
            .map(Some)
            .ok_or(FakeError::Knob { name, value: v }),
    }
}

impl Knobs {
    fn from_env() -> Result<Knobs, FakeError> {
        Ok(Knobs {
            scenario: env("FAKE_CODEX_SCENARIO").filter(|s| !s.is_empty()),
            fixtures: env("FAKE_CODEX_FIXTURES")
                .map_or_else(|| PathBuf::from(crate::FIXTURES_DIR), PathBuf::from),
            record: env("FAKE_CODEX_RECORD").map(PathBuf::from),
            read_stdin: flag("FAKE_CODEX_READ_STDIN"),
            sleep_before: knob("FAKE_CODEX_SLEEP_BEFORE", |s| parse_duration(s).ok())?,
            sleep_after_header: knob("FAKE_CODEX_SLEEP_AFTER_HEADER", |s| parse_duration(s).ok())?,
            hang: flag("FAKE_CODEX_HANG"),
            ignore_term: flag("FAKE_CODEX_IGNORE_TERM"),
            signal_self: knob("FAKE_CODEX_SIGNAL_SELF", |s| {
                let name = s.trim().to_ascii_uppercase();
                let name = if name.starts_with("SIG") {
                    name
                } else {
                    format!("SIG{name}")
                };
                name.parse().ok()
            })?,
            big_output: knob("FAKE_CODEX_BIG_OUTPUT", |s| s.trim().parse().ok())?,
            background_child: knob("FAKE_CODEX_BACKGROUND_CHILD", |s| {
                parse_duration(s).ok().map(|d| d.as_secs_f64().to_string())
            })?,
            exit: knob("FAKE_CODEX_EXIT", |s| s.trim().parse().ok())?,
        })
    }
}

/// Entry point of the `fake-codex` binary.
pub fn main() -> ExitCode {
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a: OsString| a.to_string_lossy().into_owned())
        .collect();
    match run(&args) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let _ = writeln!(io::stderr(), "fake-codex: {e}");
            ExitCode::from(FAKE_ERROR_EXIT)
        }
    }
}

#[allow(unsafe_code)] // test support: the fake codex's own signal handling
extern "C" fn exit_on_term(_: libc::c_int) {
    // SAFETY: _exit is async-signal-safe.
    unsafe { libc::_exit(143) }
}

#[allow(unsafe_code)] // test support: the fake codex's own signal handling
fn install_term_handling(knobs: &Knobs) {
    use nix::sys::signal::{SigHandler, Signal, signal};
    let handler = if knobs.ignore_term {
        SigHandler::SigIgn
    } else if knobs.hang {
        SigHandler::Handler(exit_on_term)
    } else {
        return;
    };
    // SAFETY: the handler only calls _exit; nothing else in this process uses SIGTERM.
    let _ = unsafe { signal(Signal::SIGTERM, handler) };
}

/// Picks the fixture name for `inv` (see the module docs).
pub fn scenario_name(dir: &Path, scenario: Option<&str>, inv: &Invocation) -> String {
    let base = scenario.unwrap_or(if inv.resume.is_some() {
        "resume"
    } else {
        "new"
    });
    if dir.join(format!("{base}.stdout")).exists() {
        base.to_owned()
    } else {
        format!("{base}-{}", if inv.json { "json" } else { "human" })
    }
}

fn run(args: &[String]) -> Result<u8, FakeError> {
    let knobs = Knobs::from_env()?;
    install_term_handling(&knobs);
    let inv = parse_args(args);
    let name = scenario_name(&knobs.fixtures, knobs.scenario.as_deref(), &inv);
    let mut t = Transcript::load(&knobs.fixtures, &name)?;
    if let Some(id) = inv.resume.as_deref().filter(|id| *id != "--last") {
        t.rewrite_session_id(id);
    }
    if let Some(d) = knobs.sleep_before {
        std::thread::sleep(d);
    }

    let mut err = io::stderr().lock();
    let mut out = io::stdout().lock();
    // Part 1: stderr up to "Reading … from stdin..." — where codex reads its stdin.
    let reading = after_line(&t.stderr, b"from stdin...").unwrap_or(0);
    emit(&mut err, &t.stderr[..reading]);
    let wants_stdin = knobs.read_stdin || inv.prompt.as_deref() == Some("-");
    if wants_stdin && reading == 0 {
        emit(&mut err, b"Reading additional input from stdin...\n");
    }
    let stdin = if wants_stdin {
        let mut buf = Vec::new();
        io::stdin()
            .read_to_end(&mut buf)
            .map_err(FakeError::Stdin)?;
        Some(buf)
    } else {
        None
    };
    if let Some(path) = &knobs.record {
        record(path, args, stdin.as_deref())?;
    }
    // Part 2: the rest of the header.
    let header_end = stderr_header_end(&t.stderr).max(reading);
    emit(&mut err, &t.stderr[reading..header_end]);
    let stdout_header = if inv.json {
        after_line(&t.stdout, b"thread.started").unwrap_or(0)
    } else {
        0
    };
    emit(&mut out, &t.stdout[..stdout_header]);

    if let Some(d) = knobs.sleep_after_header {
        std::thread::sleep(d);
    }
    if let Some(sig) = knobs.signal_self {
        let _ = nix::sys::signal::raise(sig);
    }
    if knobs.hang {
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
    if let Some(secs) = &knobs.background_child {
        // Inherits stdout/stderr and outlives us: the pipe stays open after we exit.
        let _ = std::process::Command::new("sleep")
            .arg(secs)
            .stdin(std::process::Stdio::null())
            .spawn();
    }
    // Part 3: the rest, stderr first then stdout, as codex prints it.
    emit(&mut err, &t.stderr[header_end..]);
    if let (Some(path), Some(msg)) = (&inv.output_last_message, t.last_message(inv.json)) {
        std::fs::write(path, msg).map_err(|source| FakeError::Write {
            path: path.clone(),
            source,
        })?;
    }
    emit(&mut out, &t.stdout[stdout_header..]);
    if let Some(n) = knobs.big_output {
        big_output(&mut out, n);
    }
    Ok(knobs.exit.unwrap_or(t.exit))
}

/// Writes and flushes; a closed pipe is ignored (the real CLI would go on too).
fn emit(w: &mut dyn Write, bytes: &[u8]) {
    let _ = w.write_all(bytes).and_then(|()| w.flush());
}

fn big_output(w: &mut dyn Write, total: u64) {
    let chunk: Vec<u8> = (0..65536u32)
        .map(|i| match i % 97 {
            0 => b'\n',
            1 => 0xff,
            2 => 0xc3, // a lone UTF-8 lead byte
            _ => (i % 251) as u8,
        })
        .collect();
    let mut left = total;
    while left > 0 {
        let n = usize::try_from(left.min(chunk.len() as u64)).unwrap_or(chunk.len());
        if w.write_all(&chunk[..n]).and_then(|()| w.flush()).is_err() {
            return;
        }
        left -= n as u64;
    }
}

fn record(path: &Path, args: &[String], stdin: Option<&[u8]>) -> Result<(), FakeError> {
    let mut env_keys: Vec<String> = std::env::vars_os()
        .map(|(k, _)| k.to_string_lossy().into_owned())
        .collect();
    env_keys.sort();
    let cwd = std::env::current_dir()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let sha = stdin.map(|b| {
        Sha256::digest(b)
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect::<String>()
    });
    let text = stdin
        .filter(|b| b.len() < 4096)
        .and_then(|b| std::str::from_utf8(b).ok());
    let line = json!({
        "argv": args,
        "cwd": cwd,
        "stdin_bytes": stdin.map(<[u8]>::len),
        "stdin_sha256": sha,
        "stdin_text": text,
        "env_keys": env_keys,
    });
    let err = |source| FakeError::Write {
        path: path.to_owned(),
        source,
    };
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(err)?;
    writeln!(f, "{line}").map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|a| (*a).to_owned()).collect()
    }

    #[test]
    fn parses_exec_argv() {
        let inv = parse_args(&args(&[
            "exec",
            "--cd",
            "/r",
            "-o",
            "/m",
            "--json",
            "-c",
            "x=1",
            "--skip-git-repo-check",
            "resume",
            "abc",
            "do it",
        ]));
        assert_eq!(inv.cd, Some("/r".into()));
        assert_eq!(inv.output_last_message, Some("/m".into()));
        assert!(inv.json);
        assert_eq!(inv.resume.as_deref(), Some("abc"));
        assert_eq!(inv.prompt.as_deref(), Some("do it"));
        let inv = parse_args(&args(&[
            "exec",
            "--output-last-message=/x",
            "resume",
            "--last",
        ]));
        assert_eq!(inv.resume.as_deref(), Some("--last"));
        assert_eq!(inv.output_last_message, Some("/x".into()));
        assert_eq!(inv.prompt, None);
        assert_eq!(
            parse_args(&args(&["exec", "-"])).prompt.as_deref(),
            Some("-")
        );
    }

    #[test]
    fn transcripts_know_their_ids_and_messages() {
        let dir = Path::new(crate::FIXTURES_DIR);
        let human = Transcript::load(dir, "new-human").unwrap();
        let json = Transcript::load(dir, "new-json").unwrap();
        assert_eq!(human.session_id().unwrap().len(), 36);
        assert_eq!(json.session_id().unwrap().len(), 36);
        let msg = human.last_message(false).unwrap();
        assert!(msg.starts_with("Done ") && !msg.ends_with('\n'));
        assert!(json.last_message(true).unwrap().starts_with("Done "));
        assert_eq!(
            Transcript::load(dir, "fail-json")
                .unwrap()
                .last_message(true),
            None
        );
        let mut t = human.clone();
        t.rewrite_session_id("00000000-0000-0000-0000-000000000000");
        assert_eq!(
            t.session_id().as_deref(),
            Some("00000000-0000-0000-0000-000000000000")
        );
        assert!(stderr_header_end(&human.stderr) < human.stderr.len());
    }

    #[test]
    fn names_scenarios() {
        let dir = Path::new(crate::FIXTURES_DIR);
        let json = parse_args(&args(&["exec", "--json", "x"]));
        assert_eq!(scenario_name(dir, None, &json), "new-json");
        assert_eq!(scenario_name(dir, Some("tool"), &json), "tool-json");
        assert_eq!(scenario_name(dir, Some("fail-human"), &json), "fail-human");
        let resume = parse_args(&args(&["exec", "resume", "id", "x"]));
        assert_eq!(scenario_name(dir, None, &resume), "resume-human");
    }
}
