//! What a codex-spawn log (codex's stdout + stderr) says about usage.
//!
//! Two shapes, possibly mixed in one file:
//! - `codex exec --json` events: `turn.completed` carries
//!   `usage{input_tokens,cached_input_tokens,output_tokens,reasoning_output_tokens}`,
//!   **cumulative for the thread** (a resumed thread reports its old turns too);
//!   `thread.started` names the session.
//! - the human transcript: a `tokens used` line and, on the next line, a
//!   comma-grouped number — the *blended* total (input − cached) + output, also
//!   cumulative for the session. Its input/output split is unknown.
//!
//! A log holds everything codex printed, so it can be gigabytes. It is read as a
//! stream ([`scan_log_reader`]): [`READ_CHUNK`]-sized reads, one line at a time,
//! keeping only what a summary needs (the session id, the model, the last
//! `turn.completed` usage, the last `tokens used` number). At most
//! [`MAX_LINE_BYTES`] of a line are kept: every line that carries usage or an id
//! is short (a `turn.completed` event is ~200 bytes), so a longer line is agent
//! output; it is skipped after its head is kept and counted in
//! [`LogScan::long_lines`]. Memory therefore stays under ~1.1 MiB whatever the
//! log's size.

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use serde::Deserialize;

use crate::usage::Usage;

/// Bytes asked of the reader at a time.
pub const READ_CHUNK: usize = 64 << 10;
/// Longest line kept in memory; the rest of a longer line is skipped (see the
/// module docs).
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// What was found in a log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogScan {
    /// The session id (`thread.started`, `session_configured`, `session id:` header).
    pub session_id: Option<String>,
    /// The last `turn.completed` usage (cumulative for the thread).
    pub last_turn_usage: Option<Usage>,
    /// How many `turn.completed` events were seen.
    pub turns_completed: u32,
    /// The last `tokens used` number (blended, cumulative for the session).
    pub blended_total: Option<u64>,
    /// The `model:` header line of the human transcript.
    pub model: Option<String>,
    /// Lines longer than [`MAX_LINE_BYTES`], skipped (agent output, never usage).
    pub long_lines: u64,
}

#[derive(Deserialize)]
struct Ev<'a> {
    #[serde(rename = "type", default, borrow)]
    kind: Option<&'a str>,
    #[serde(default)]
    usage: Option<EvUsage>,
    #[serde(default, borrow)]
    thread_id: Option<&'a str>,
}

#[derive(Deserialize, Default)]
struct EvUsage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    cached_input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
    #[serde(default)]
    reasoning_output_tokens: u64,
}

/// Removes ANSI escape sequences (`ESC [ … letter`) and carriage returns.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for d in chars.by_ref() {
                    if d.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        if c != '\r' {
            out.push(c);
        }
    }
    out
}

/// Parses `1,700` / `1700` / `1 700` into a number.
fn parse_grouped(s: &str) -> Option<u64> {
    let s = s.trim();
    if s.is_empty()
        || !s
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ',' | '_' | ' '))
    {
        return None;
    }
    let digits: String = s.chars().filter(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Incremental state of a log scan: feed it lines with [`LogScanner::line`].
#[derive(Debug, Default)]
pub struct LogScanner {
    out: LogScan,
    expect_number: bool,
    header_lines: usize,
}

impl LogScanner {
    /// A scanner that has seen nothing yet.
    pub fn new() -> LogScanner {
        LogScanner::default()
    }

    /// Feeds one line (without its `\n`; a trailing `\r` is ignored).
    pub fn line(&mut self, raw: &[u8]) {
        let text = String::from_utf8_lossy(raw);
        let trimmed = text.trim();
        if trimmed.starts_with('{') {
            self.expect_number = false;
            if wants_json(trimmed) {
                json_line(trimmed, &mut self.out);
            }
            return;
        }
        let line: Cow<'_, str> = if trimmed.contains('\u{1b}') {
            Cow::Owned(strip_ansi(trimmed))
        } else {
            Cow::Borrowed(trimmed)
        };
        let line = line.trim();
        if self.expect_number {
            if line.is_empty() {
                return;
            }
            self.expect_number = false;
            if let Some(n) = parse_grouped(line) {
                self.out.blended_total = Some(n);
                return;
            }
        }
        if line.eq_ignore_ascii_case("tokens used") {
            self.expect_number = true;
        } else if let Some(rest) = strip_prefix_ci(line, "tokens used:") {
            if let Some(n) = parse_grouped(rest) {
                self.out.blended_total = Some(n);
            }
        } else if self.header_lines < 64 {
            self.header_lines += 1;
            if let Some(m) = line.strip_prefix("model:").map(str::trim) {
                if self.out.model.is_none() && !m.is_empty() {
                    self.out.model = Some(m.to_owned());
                }
            } else if let Some(id) = strip_prefix_ci(line, "session id:") {
                let id = id.trim();
                if self.out.session_id.is_none() && crate::rollout::is_uuid(id) {
                    self.out.session_id = Some(id.to_ascii_lowercase());
                }
            }
        }
    }

    /// Feeds a line longer than [`MAX_LINE_BYTES`], of which only `head` was kept.
    ///
    /// Every line that carries usage, an id or the model is short, so such a
    /// line is agent output: it only ends a pending `tokens used` (whose number
    /// must be on the next line) and is counted.
    pub fn long_line(&mut self, head: &[u8]) {
        if head.iter().any(|b| !b.is_ascii_whitespace()) {
            self.expect_number = false;
        }
        self.out.long_lines += 1;
    }

    /// What the lines said.
    pub fn finish(self) -> LogScan {
        self.out
    }
}

/// `line` without its `prefix`, compared ignoring ASCII case.
fn strip_prefix_ci<'a>(line: &'a str, prefix: &str) -> Option<&'a str> {
    let head = line.as_bytes().get(..prefix.len())?;
    // an ASCII prefix matched, so `prefix.len()` is a char boundary
    (head.eq_ignore_ascii_case(prefix.as_bytes())).then(|| &line[prefix.len()..])
}

/// True when a JSON line may be one of the events a summary reads. Codex's
/// `--json` lines start with their type (`{"type":"item.completed",…`): that
/// head decides without searching the rest, which can be megabytes of output.
fn wants_json(line: &str) -> bool {
    const HEAD: &str = "{\"type\":\"";
    if let Some(rest) = line.strip_prefix(HEAD) {
        if let Some(end) = rest.find('"') {
            let kind = &rest[..end];
            if kind == "turn.completed" || kind == "thread.started" {
                return true;
            }
            if kind
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"._-".contains(&c))
            {
                return false;
            }
        }
    }
    line.contains("turn.completed")
        || line.contains("thread.started")
        || line.contains("session_configured")
}

/// Scans an in-memory log. Never fails: unreadable parts are ignored.
pub fn scan_log(bytes: &[u8]) -> LogScan {
    // reading a slice cannot fail
    scan_log_reader(bytes).unwrap_or_default()
}

/// Scans a log from a reader, streaming: [`READ_CHUNK`] bytes at a time and at
/// most [`MAX_LINE_BYTES`] of one line in memory. Fails only when reading does.
pub fn scan_log_reader<R: Read>(r: R) -> io::Result<LogScan> {
    let mut r = BufReader::with_capacity(READ_CHUNK, r);
    let mut sc = LogScanner::new();
    // the part of the current line read so far, when it spans reads
    let mut line: Vec<u8> = Vec::new();
    let mut overlong = false;
    loop {
        let buf = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            break;
        }
        let mut used = 0;
        while let Some(i) = memchr::memchr(b'\n', &buf[used..]) {
            let part = &buf[used..used + i];
            if line.is_empty() && !overlong {
                if part.len() > MAX_LINE_BYTES {
                    sc.long_line(&part[..MAX_LINE_BYTES]);
                } else {
                    sc.line(part);
                }
            } else {
                overlong |= keep(&mut line, part);
                if overlong {
                    sc.long_line(&line);
                } else {
                    sc.line(&line);
                }
                line.clear();
                overlong = false;
            }
            used += i + 1;
        }
        let tail = &buf[used..];
        if !overlong {
            overlong = keep(&mut line, tail);
        }
        let n = buf.len();
        r.consume(n);
    }
    if overlong {
        sc.long_line(&line);
    } else if !line.is_empty() {
        sc.line(&line);
    }
    Ok(sc.finish())
}

/// Appends `part` to `line` up to [`MAX_LINE_BYTES`]; true when some was cut.
fn keep(line: &mut Vec<u8>, part: &[u8]) -> bool {
    let room = MAX_LINE_BYTES.saturating_sub(line.len());
    line.extend_from_slice(&part[..part.len().min(room)]);
    part.len() > room
}

/// Scans a log file (`.zst` decompressed on the fly), streaming.
pub fn scan_log_file(path: &Path) -> io::Result<LogScan> {
    scan_opened_log(File::open(path)?, path)
}

/// [`scan_log_file`] for a run's own log, found from its record: never through a
/// symlink, a regular file only.
pub fn scan_run_log(path: &Path) -> io::Result<LogScan> {
    scan_opened_log(codex_meta::files::open_regular(path)?, path)
}

fn scan_opened_log(file: File, path: &Path) -> io::Result<LogScan> {
    if path.extension().is_some_and(|e| e == "zst") {
        scan_log_reader(zstd::stream::read::Decoder::new(file)?)
    } else {
        scan_log_reader(file)
    }
}

fn json_line(line: &str, out: &mut LogScan) {
    if line.contains("session_configured") {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
            if let Some(id) = v.pointer("/msg/session_id").and_then(|x| x.as_str()) {
                if out.session_id.is_none() && crate::rollout::is_uuid(id) {
                    out.session_id = Some(id.to_ascii_lowercase());
                }
            }
        }
        return;
    }
    let Ok(ev) = serde_json::from_str::<Ev<'_>>(line) else {
        return;
    };
    match ev.kind {
        Some("turn.completed") => {
            if let Some(u) = ev.usage {
                out.turns_completed += 1;
                out.last_turn_usage = Some(
                    Usage::new(
                        u.input_tokens,
                        u.cached_input_tokens,
                        u.output_tokens,
                        u.reasoning_output_tokens,
                    )
                    .normalized(),
                );
            }
        }
        Some("thread.started") => {
            if let Some(id) = ev.thread_id.filter(|id| crate::rollout::is_uuid(id)) {
                if out.session_id.is_none() {
                    out.session_id = Some(id.to_ascii_lowercase());
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_log_blended_total() {
        let s = scan_log(b"model: gpt-5\nsession id: 01a20a11-c891-7691-9716-0a912243e201\ncodex\nhi\ntokens used\n1,700\nhi\n");
        assert_eq!(s.blended_total, Some(1700));
        assert_eq!(s.model.as_deref(), Some("gpt-5"));
        assert_eq!(
            s.session_id.as_deref(),
            Some("01a20a11-c891-7691-9716-0a912243e201")
        );
        assert_eq!(s.last_turn_usage, None);
    }

    #[test]
    fn ansi_header() {
        let s = scan_log(b"\x1b[1mmodel:\x1b[0m gpt-5\r\n\x1b[1mtokens used\x1b[0m\r\n2,100\r\n");
        assert_eq!(s.model.as_deref(), Some("gpt-5"));
        assert_eq!(s.blended_total, Some(2100));
    }

    /// Hands out at most `n` bytes per read.
    struct Chunked<'a>(&'a [u8], usize);

    impl std::io::Read for Chunked<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.0.len().min(self.1).min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn chunk_boundaries_do_not_matter_on_real_logs() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/codex-0.169.0");
        let (mut seen, mut with_usage) = (0, 0);
        for ent in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if ent.path().extension().is_none_or(|e| e != "log") {
                continue;
            }
            let bytes = std::fs::read(ent.path()).unwrap_or_default();
            let whole = scan_log(&bytes);
            for n in [1, 2, 7, 64] {
                let chunked = scan_log_reader(Chunked(&bytes, n)).ok();
                assert_eq!(
                    chunked.as_ref(),
                    Some(&whole),
                    "{} by {n}",
                    ent.path().display()
                );
            }
            if whole.last_turn_usage.is_some() || whole.blended_total.is_some() {
                with_usage += 1;
            }
            seen += 1;
        }
        assert!(
            seen >= 9 && with_usage >= 6,
            "{seen} logs, {with_usage} with usage"
        );
    }

    #[test]
    fn long_lines_are_skipped_and_counted() {
        let long = "z".repeat(MAX_LINE_BYTES + 10);
        // a long line between `tokens used` and its number: no number
        let text = format!("tokens used\n{long}\n1,700\n");
        let s = scan_log_reader(Chunked(text.as_bytes(), 4096)).unwrap_or_default();
        assert_eq!((s.blended_total, s.long_lines), (None, 1));
        // exactly MAX_LINE_BYTES is still a line; the usage after a long line counts
        let edge = "z".repeat(MAX_LINE_BYTES);
        let text = format!(
            "{edge}\n{long}\n{{\"type\":\"turn.completed\",\"usage\":{{\"input_tokens\":10,\"output_tokens\":2}}}}\ntokens used\n1,700\n{long}"
        );
        for n in [3, 4096, 1 << 20] {
            let s = scan_log_reader(Chunked(text.as_bytes(), n)).unwrap_or_default();
            assert_eq!(s.long_lines, 2, "by {n}");
            assert_eq!(s.blended_total, Some(1700));
            assert_eq!(s.last_turn_usage, Some(Usage::new(10, 0, 2, 0)));
        }
    }

    #[test]
    fn json_events_last_turn() {
        let s = scan_log(br#"{"type":"thread.started","thread_id":"01a20a11-cee4-7090-bde8-0211b8147f80"}
{"type":"turn.completed","usage":{"input_tokens":71000,"cached_input_tokens":14200,"cache_write_input_tokens":0,"output_tokens":3550,"reasoning_output_tokens":710}}
"#);
        assert_eq!(
            s.session_id.as_deref(),
            Some("01a20a11-cee4-7090-bde8-0211b8147f80")
        );
        assert_eq!(s.last_turn_usage, Some(Usage::new(71000, 14200, 3550, 710)));
        assert_eq!(s.turns_completed, 1);
    }
}
