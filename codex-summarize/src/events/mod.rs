//! What a codex-spawn log (codex's stdout + stderr) says about usage.
//!
//! Three shapes, possibly mixed in one file (see [`json`] and [`human`] for each
//! version's forms):
//! - `codex exec --json` events (0.44 on): `turn.completed` carries the usage so far;
//! - the event stream before 0.44: `token_count` events;
//! - the human transcript: `tokens used` and a number — the *blended* total
//!   (input − cached) + output, whose input/output split is unknown.
//!
//! The session id is what codex-session-id's scanner finds (only where a run's id
//! stands, never a decoy); the version and model are read from the human header.
//! Logs are read as they are found: UTF-16 with a byte-order mark, CI timestamps, ANSI
//! colours and their `←` rendering are looked through ([`codex_session_id::text`]).
//!
//! A log holds everything codex printed, so it can be gigabytes. It is read as a
//! stream ([`scan_log_reader`]): [`READ_CHUNK`]-sized reads, one line at a time,
//! keeping only what a summary needs. At most [`MAX_LINE_BYTES`] of a line are kept:
//! every line that carries usage or an id is short (a `turn.completed` event is ~200
//! bytes), so a longer line is agent output; it is skipped after its head is kept and
//! counted in [`LogScan::long_lines`]. Memory therefore stays under ~2.1 MiB whatever
//! the log's size.

mod json;

pub use codex_session_id::log::{MAX_SEPARATION, Reading, TokensUsed, parse_count};

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use codex_session_id::codex_version::{self, Fact, Version};
use codex_session_id::log::{Line, Lines, human};
use codex_session_id::text;

use crate::usage::Usage;

/// Bytes asked of the reader at a time.
pub const READ_CHUNK: usize = 64 << 10;
/// Longest line kept in memory; the rest of a longer line is skipped (see the
/// module docs). The session-id scanner's cap too: one split of the log feeds both.
pub const MAX_LINE_BYTES: usize = codex_session_id::MAX_JSON_LINE;

/// What was found in a log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogScan {
    /// The session id (the first a run's header, events or closing lines name).
    pub session_id: Option<String>,
    /// The CLI version of the first human header (`OpenAI Codex v…`).
    pub cli_version: Option<Version>,
    /// The `model:` line of the first human header.
    pub model: Option<String>,
    /// The last `turn.completed` usage (the process's running total).
    pub last_turn_usage: Option<Usage>,
    /// Whether every `turn.completed` usage had `reasoning_output_tokens` (0.100 on).
    pub turn_reasoning_known: bool,
    /// How many `turn.completed` events were seen.
    pub turns_completed: u32,
    /// The event stream before 0.44: this process's total of its `token_count` events.
    pub stream_usage: Option<Usage>,
    /// ... summed from per-call counts (up to 0.29), not a running total.
    pub stream_per_call: bool,
    /// The human `tokens used` readings.
    pub blended: Blended,
    /// Lines longer than [`MAX_LINE_BYTES`], skipped (agent output, never usage).
    pub long_lines: u64,
}

/// The human log's `tokens used` readings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Blended {
    /// The last number.
    pub last: Option<u64>,
    /// The sum of all numbers.
    pub sum: u64,
    /// How many there were.
    pub readings: u32,
    /// Whether they were one-line `tokens used: N` (before 0.44).
    pub one_line: bool,
    /// Whether a number was smaller than the one before (so they are not a running
    /// total).
    pub decreased: bool,
}

impl Blended {
    fn add(&mut self, r: Reading) {
        let n = r.value();
        if self.last.is_some_and(|l| n < l) {
            self.decreased = true;
        }
        self.last = Some(n);
        self.sum = self.sum.saturating_add(n);
        self.readings += 1;
        self.one_line |= matches!(r, Reading::OneLine(_));
    }

    /// The process's blended total: the last reading of a running total, the sum of
    /// per-call ones (one-line readings before 0.34). `Err` with the reason when the
    /// version is needed and unknown.
    pub fn total(&self, version: Option<Version>) -> Result<Option<u64>, String> {
        let Some(last) = self.last else {
            return Ok(None);
        };
        if !self.one_line || self.readings == 1 {
            return Ok(Some(last));
        }
        let per_call = match version {
            Some(v) => !codex_version::has(v, Fact::CumulativeTokenCounts),
            None if self.decreased => true,
            None => {
                return Err(format!(
                    "{} one-line `{}` readings and no CLI version: before 0.34 each counts one model call, from 0.34 each is the running total",
                    self.readings,
                    human::TOKENS_USED
                ));
            }
        };
        Ok(Some(if per_call { self.sum } else { last }))
    }
}

/// Incremental state of a log scan: feed it lines with [`LogScanner::line`].
#[derive(Debug)]
pub struct LogScanner {
    out: LogScan,
    ids: codex_session_id::Scanner,
    tokens: TokensUsed,
    /// Lines since the first banner, while its header may go on (`None`: no banner
    /// yet; past the header: `Some(u32::MAX)`).
    header: Option<u32>,
    fences: u8,
}

impl Default for LogScanner {
    fn default() -> Self {
        LogScanner::new()
    }
}

/// How many lines after its banner a header's `model:` may come.
const HEADER_LINES: u32 = 40;

impl LogScanner {
    /// A scanner that has seen nothing yet.
    pub fn new() -> LogScanner {
        LogScanner {
            out: LogScan::default(),
            ids: codex_session_id::Scanner::new(),
            tokens: TokensUsed::new(),
            header: None,
            fences: 0,
        }
    }

    /// Feeds one line of the log's (decoded) text as the splitter handed it out: to the
    /// session-id scanner, then as a line or a long line.
    fn split_line(&mut self, l: Line<'_>) {
        if self.out.session_id.is_none() {
            if let Some(id) = self.ids.line(l) {
                self.out.session_id = Some(id.uuid.to_string());
            }
        }
        if l.truncated {
            self.long_line(l.text);
        } else {
            self.line(l.text);
        }
    }

    /// Feeds one line (without its `\n`; a trailing `\r` is ignored).
    pub fn line(&mut self, raw: &[u8]) {
        let plain = text::plain(raw);
        let plain = &*plain;
        if plain.first() == Some(&b'{') {
            // in a human transcript a JSON line is a tool's output or the agent's text
            if self.header.is_none() && json::wanted(plain) {
                json::line(plain, &mut self.out);
            }
            // a JSON line ends a pending `tokens used` only by not being a number
            let _ = self.tokens.line(plain);
            return;
        }
        if let Some(r) = self.tokens.line(plain) {
            self.out.blended.add(r);
            return;
        }
        self.header_line(plain);
    }

    /// The first header's version and model.
    fn header_line(&mut self, plain: &[u8]) {
        let text = text::strip_stamp(plain).unwrap_or(plain);
        match self.header {
            None => {
                if let Some(banner) = human::find_banner(text) {
                    let banner = String::from_utf8_lossy(banner);
                    self.out.cli_version = human::version_in(&banner);
                    self.header = Some(0);
                }
            }
            Some(n) if n < HEADER_LINES => {
                self.header = Some(n + 1);
                if human::is_fence(text) {
                    self.fences += 1;
                    if self.fences >= 2 {
                        self.header = Some(u32::MAX);
                    }
                } else if let Some(m) = human::model_line(text) {
                    let m = String::from_utf8_lossy(m);
                    if self.out.model.is_none() && !m.is_empty() {
                        self.out.model = Some(m.into_owned());
                    }
                }
            }
            Some(_) => {}
        }
    }

    /// Feeds a line longer than [`MAX_LINE_BYTES`], of which only `head` was kept.
    ///
    /// Every line that carries usage, an id or the model is short, so such a
    /// line is agent output: it is counted, and read as the text it starts with.
    pub fn long_line(&mut self, head: &[u8]) {
        let plain = text::plain(head);
        let _ = self.tokens.line(&plain);
        self.out.long_lines += 1;
    }

    /// What the lines said.
    pub fn finish(self) -> LogScan {
        self.out
    }
}

/// Scans an in-memory log. Never fails: unreadable parts are ignored.
pub fn scan_log(bytes: &[u8]) -> LogScan {
    // reading a slice cannot fail
    scan_log_reader(bytes).unwrap_or_default()
}

/// Scans a log from a reader, streaming: [`READ_CHUNK`] bytes at a time and at
/// most [`MAX_LINE_BYTES`] of one line in memory. Lines end at `\n` or `\r`. Fails
/// only when reading does.
pub fn scan_log_reader<R: Read>(r: R) -> io::Result<LogScan> {
    let mut r = text::TextReader::new(r);
    let mut buf = vec![0u8; READ_CHUNK];
    let mut sc = LogScanner::new();
    let mut lines = Lines::new(MAX_LINE_BYTES);
    loop {
        let n = match r.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            break;
        }
        lines.feed(&buf[..n], |l| sc.split_line(l));
    }
    lines.finish(|l| sc.split_line(l));
    Ok(sc.finish())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_log_blended_total() {
        let s = scan_log(b"OpenAI Codex v0.169.0\n--------\nmodel: gpt-5\nsession id: 01a20a11-c891-7691-9716-0a912243e201\n--------\ncodex\nhi\ntokens used\n1,700\nhi\n");
        assert_eq!(s.blended.total(None), Ok(Some(1700)));
        assert_eq!(s.model.as_deref(), Some("gpt-5"));
        assert_eq!(s.cli_version, Some(Version(0, 169, 0)));
        assert_eq!(
            s.session_id.as_deref(),
            Some("01a20a11-c891-7691-9716-0a912243e201")
        );
        assert_eq!(s.last_turn_usage, None);
    }

    #[test]
    fn ansi_header() {
        let s = scan_log(b"OpenAI Codex v0.169.0\r\n--------\r\n\x1b[1mmodel:\x1b[0m gpt-5\r\n\x1b[1mtokens used\x1b[0m\r\n2,100\r\n");
        assert_eq!(s.model.as_deref(), Some("gpt-5"));
        assert_eq!(s.blended.total(None), Ok(Some(2100)));
    }

    #[test]
    fn one_line_readings_count_by_version() {
        let log = b"[2026-12-01T08:48:43] OpenAI Codex v0.22.0 (research preview)\n--------\nmodel: gpt-5\n--------\n[2026-12-01T08:48:43] tokens used: 7650\n[2026-12-01T08:48:43] codex\nhi\n[2026-12-01T08:48:43] tokens used: 8500\n";
        let s = scan_log(log);
        assert_eq!(s.cli_version, Some(Version(0, 22, 0)));
        // before 0.34 each reading is one call
        assert_eq!(s.blended.total(s.cli_version), Ok(Some(16150)));
        assert_eq!(s.blended.total(Some(Version(0, 42, 0))), Ok(Some(8500)));
        assert!(s.blended.total(None).is_err());
        // a decrease says "per call" without the version
        let s = scan_log(b"tokens used: 900\ntokens used: 800\n");
        assert_eq!(s.blended.total(None), Ok(Some(1700)));
    }

    #[test]
    fn json_after_a_human_header_is_output() {
        let s = scan_log(b"OpenAI Codex v0.169.0\n--------\n--------\nexec\ncat old.jsonl\n{\"type\":\"turn.completed\",\"usage\":{\"input_tokens\":10,\"output_tokens\":2}}\ntokens used\n5\n");
        assert_eq!(s.last_turn_usage, None);
        assert_eq!(s.blended.total(None), Ok(Some(5)));
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
            if whole.last_turn_usage.is_some() || whole.blended.last.is_some() {
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
        // a long line between `tokens used` and its number (stdout's copy of a long
        // final message, merged with stderr): the number still counts
        let text = format!("tokens used\n{long}\n1,700\n");
        let s = scan_log_reader(Chunked(text.as_bytes(), 4096)).unwrap_or_default();
        assert_eq!((s.blended.last, s.long_lines), (Some(1700), 1));
        // ... and a section after the label ends the wait
        let text = format!("tokens used\n{long}\ncodex\n1,700\n");
        let s = scan_log_reader(Chunked(text.as_bytes(), 4096)).unwrap_or_default();
        assert_eq!(s.blended.last, None);
        // exactly MAX_LINE_BYTES is still a line; the usage after a long line counts
        let edge = "z".repeat(MAX_LINE_BYTES);
        let text = format!(
            "{edge}\n{long}\n{{\"type\":\"turn.completed\",\"usage\":{{\"input_tokens\":10,\"output_tokens\":2}}}}\ntokens used\n1,700\n{long}"
        );
        for n in [3, 4096, 1 << 20] {
            let s = scan_log_reader(Chunked(text.as_bytes(), n)).unwrap_or_default();
            assert_eq!(s.long_lines, 2, "by {n}");
            assert_eq!(s.blended.last, Some(1700));
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
