//! Codex's record of a session, decoded: the lines of a rollout file
//! (`$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<ts>-<uuid>.jsonl`) as typed [`Record`]s.
//!
//! The one place that knows a rollout's line kinds and their field names:
//!
//! - `session_meta` — `payload.id` (or `session_id`), `forked_from_id`, a fork's
//!   `history_mode` and `subagent_history_start_ordinal`, `cli_version`;
//! - `turn_context` — `payload.model`;
//! - `event_msg` of payload type `token_count` — `info.total_token_usage` (cumulative
//!   for the session), `info.last_token_usage` (the last call), `info.model`; `info` may
//!   be null;
//! - `event_msg` of payload type `user_message` (a user turn began);
//! - `token_usage_record` (0.169 on) — `thread_id`, `response_id`, `usage`,
//!   `thread_token_usage`;
//! - and, for telling whose a session is ([`facts`]): the session's `cwd` and start,
//!   the user's and the agent's messages.
//!
//! What the records mean for usage (whose calls they are, forks, pricing) is the
//! reader's business (codex-summarize). Here: a file's lines can be hundreds of MB, so
//! a line is only parsed when its head (or a byte search) shows a kind the reader wants;
//! the lines codex writes are hand-parsed in their exact shape ([`fast`](self)) and
//! anything else is read by serde with lenient field types (a wrong JSON type is
//! absent, never an error), borrowing from the line. Pretty-printed (multi-line)
//! values are reassembled; anything malformed is reported to the [`Sink`] as skipped
//! and never stops the reading.

use std::borrow::Cow;
use std::io::{self, Read};
use std::sync::LazyLock;

use memchr::memmem::Finder;

mod facts;
mod fast;
mod lenient;

pub use facts::{Fact, fact};

/// Longest multi-line (pretty-printed) JSON value the decoder will reassemble.
pub const MAX_PRETTY_BYTES: usize = 4 << 20;
/// Longest line held in memory by a [`Reader`]. The lines a reader decodes
/// (`token_count`, `turn_context`, `session_meta`) are at most tens of KiB; a longer
/// line is a response item or compacted history: its type is read from its head, and
/// the rest is skipped unread (reported as skipped unless its head shows a kind no
/// reader wants anyway). This bounds a reader's buffer whatever the file.
pub const MAX_LINE_BYTES: usize = 4 << 20;

/// A rollout's token counters, as written (a counter of a wrong JSON type reads as 0;
/// `cache_read_input_tokens` is read as `cached_input_tokens`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// `input_tokens`.
    pub input_tokens: u64,
    /// `cached_input_tokens`.
    pub cached_input_tokens: u64,
    /// `output_tokens`.
    pub output_tokens: u64,
    /// `reasoning_output_tokens`.
    pub reasoning_output_tokens: u64,
    /// `total_tokens` (0 when absent).
    pub total_tokens: u64,
}

/// A fork's history, from its `session_meta`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct History {
    /// `history_mode` is `"paginated"` (codex 0.148 on): the file names its parent's
    /// history instead of copying it, or marks a sub-agent's copy of it.
    pub paginated: bool,
    /// `subagent_history_start_ordinal`: lines of a lower ordinal are the parent's.
    pub start_ordinal: Option<u64>,
}

/// A `session_meta` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionMeta<'a> {
    /// The line's timestamp (as written).
    pub ts: Option<Cow<'a, str>>,
    /// `payload.id`, else `payload.session_id`.
    pub id: Option<Cow<'a, str>>,
    /// `payload.forked_from_id` (never empty).
    pub forked_from_id: Option<Cow<'a, str>>,
    /// A fork's history (`None`: not read — the session forked nothing).
    pub history: Option<History>,
    /// `cli_version` (as written, unescaped JSON text).
    pub cli_version: Option<&'a str>,
    /// `payload.cwd`: the directory the session worked in (its project), never empty.
    pub cwd: Option<Cow<'a, str>>,
}

/// A `token_count` event's `info`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo<'a> {
    /// `total_token_usage`: cumulative for the session.
    pub total: Option<Counts>,
    /// `last_token_usage`: the last call.
    pub last: Option<Counts>,
    /// `info.model`, else `payload.model` (trimmed, never blank).
    pub model: Option<Cow<'a, str>>,
}

/// A `token_usage_record` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRecord<'a> {
    /// The line's `ordinal`.
    pub ordinal: Option<u64>,
    /// `thread_id`: the session whose call it is.
    pub thread_id: Option<Cow<'a, str>>,
    /// `response_id`.
    pub response_id: Option<Cow<'a, str>>,
    /// `usage`: the call's tokens.
    pub usage: Option<Counts>,
    /// `thread_token_usage`: the thread's cumulative total with this call.
    pub thread_total: Option<Counts>,
}

/// One decoded line of a rollout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record<'a> {
    /// `session_meta`.
    SessionMeta(SessionMeta<'a>),
    /// `turn_context` naming a model (trimmed, never blank).
    TurnContext {
        /// `payload.model`.
        model: Cow<'a, str>,
    },
    /// `event_msg` / `token_count`.
    TokenCount {
        /// The line's timestamp (as written).
        ts: Option<Cow<'a, str>>,
        /// The line's `ordinal`.
        ordinal: Option<u64>,
        /// `payload.info` (`None`: null or absent).
        info: Option<TokenInfo<'a>>,
    },
    /// `event_msg` / `user_message`: a user turn began.
    UserMessage {
        /// The line's `ordinal`.
        ordinal: Option<u64>,
    },
    /// `token_usage_record`.
    UsageRecord(UsageRecord<'a>),
}

/// Where a [`Decoder`] puts what it read.
pub trait Sink {
    /// Is a `session_meta` still wanted (the reader has no session id yet)?
    fn wants_session_meta(&self) -> bool;
    /// A decoded line.
    fn record(&mut self, rec: Record<'_>);
    /// A line that could not be read (garbage, truncated, wrong shape).
    fn skipped(&mut self);
}

static TOKEN_COUNT: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"token_count"));
static TURN_CONTEXT: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"turn_context"));
static USER_MESSAGE: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"user_message"));
static SESSION_META: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"session_meta"));
static RECORD: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"token_usage_record"));
static TYPE_KEY: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"type\":\""));

/// Decodes a rollout's physical lines, one at a time, into [`Record`]s (see the
/// [module](self)). Holds only a pretty-printed value being reassembled.
#[derive(Debug, Default)]
pub struct Decoder {
    pending: Vec<u8>,
}

impl Decoder {
    /// A decoder at the start of a file.
    pub fn new() -> Decoder {
        Decoder::default()
    }

    /// Feeds one physical line (without its newline).
    pub fn line<S: Sink>(&mut self, raw: &[u8], sink: &mut S) {
        let line = trim(raw);
        if !self.pending.is_empty() {
            self.pretty_line(raw, line, sink);
            return;
        }
        if line.is_empty() {
            return;
        }
        if line[0] != b'{' {
            sink.skipped();
            return;
        }
        if line.last() != Some(&b'}') {
            // An opening line of a pretty-printed object, or a truncated line.
            if line == b"{" {
                self.pending.extend_from_slice(raw);
            } else {
                sink.skipped();
            }
            return;
        }
        if wanted(line, sink.wants_session_meta()) {
            match fast::decode(line) {
                Some(Some(rec)) => sink.record(rec),
                Some(None) => {}
                None => lenient::decode(line, sink),
            }
        }
    }

    /// A line while reassembling a pretty-printed value. A complete compact line inside
    /// means the pretty one was truncated: drop it and go on normally.
    fn pretty_line<S: Sink>(&mut self, raw: &[u8], line: &[u8], sink: &mut S) {
        use serde::de::IgnoredAny;
        if line.first() == Some(&b'{')
            && line.last() == Some(&b'}')
            && serde_json::from_slice::<IgnoredAny>(line).is_ok()
        {
            self.pending.clear();
            sink.skipped();
            if wanted(line, sink.wants_session_meta()) {
                lenient::decode(line, sink);
            }
            return;
        }
        self.pending.push(b'\n');
        self.pending.extend_from_slice(raw);
        if line.first() == Some(&b'}') {
            let buf = std::mem::take(&mut self.pending);
            match serde_json::from_slice::<IgnoredAny>(&buf) {
                Ok(_) => {
                    if wanted(&buf, sink.wants_session_meta()) {
                        lenient::decode(&buf, sink);
                    }
                }
                Err(e) if e.is_eof() && buf.len() < MAX_PRETTY_BYTES => self.pending = buf,
                Err(_) => sink.skipped(),
            }
        } else if self.pending.len() >= MAX_PRETTY_BYTES {
            self.pending.clear();
            sink.skipped();
        }
    }

    /// Feeds the head of a line too long to hold (the rest is skipped unread).
    pub fn long_line<S: Sink>(&mut self, head: &[u8], sink: &mut S) {
        if !self.pending.is_empty() {
            self.pending.clear();
            sink.skipped();
        }
        let line = trim(head);
        if line.first() == Some(&b'{')
            && wanted_compact(line, sink.wants_session_meta()) == Some(false)
        {
            return;
        }
        sink.skipped();
    }

    /// The end of the input: a value still being reassembled is skipped.
    pub fn finish<S: Sink>(&mut self, sink: &mut S) {
        if !self.pending.is_empty() {
            self.pending.clear();
            sink.skipped();
        }
    }
}

/// Does the line hold a kind a reader wants (`session_meta` only when `meta`)?
fn wanted(line: &[u8], meta: bool) -> bool {
    if let Some(w) = wanted_compact(line, meta) {
        return w;
    }
    if TOKEN_COUNT.find(line).is_some()
        || TURN_CONTEXT.find(line).is_some()
        || USER_MESSAGE.find(line).is_some()
        || RECORD.find(line).is_some()
    {
        return true;
    }
    meta && SESSION_META.find(line).is_some()
}

/// Fast path for the lines codex writes (`{"timestamp":"…","ordinal":N,"type":"…",
/// "payload":{"type":"…"`): decide from the line's head without scanning the rest
/// (response items can be megabytes). `None`: not that shape, search the line.
fn wanted_compact(line: &[u8], meta: bool) -> Option<bool> {
    const TYPE: &[u8] = b"\"type\":\"";
    const EVENT: &[u8] = b"event_msg\",\"payload\":{\"type\":\"";
    if !line.starts_with(b"{\"timestamp\":\"") {
        return None;
    }
    let head = &line[..line.len().min(192)];
    let i = TYPE_KEY.find(head)?;
    // only a top-level key: no object opened before it
    if memchr::memchr(b'{', &head[1..i]).is_some() {
        return None;
    }
    let rest = &line[i + TYPE.len()..];
    if let Some(v) = rest.strip_prefix(EVENT) {
        return Some(v.starts_with(b"token_count\"") || v.starts_with(b"user_message\""));
    }
    if rest.starts_with(b"turn_context\"") {
        return Some(true);
    }
    if rest.starts_with(b"session_meta\"") {
        return Some(meta);
    }
    if rest.starts_with(b"event_msg\"") {
        return None;
    }
    if rest.starts_with(b"token_usage_record\"") {
        return Some(true);
    }
    // any other top-level type (response_item, world_state, compacted, ...)
    let end = memchr::memchr(b'"', rest)?;
    rest[..end]
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || *c == b'_')
        .then_some(false)
}

/// `b` without leading and trailing ASCII whitespace.
fn trim(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &b[start..end.max(start)]
}

/// Reads a rollout in bounded memory and feeds its lines to a [`Decoder`]: the input is
/// read in 1 MiB chunks split into lines in place (a line longer than the buffer grows
/// it, up to [`MAX_LINE_BYTES`]; a longer one is judged by its head and skipped).
#[derive(Debug)]
pub struct Reader<'b, R> {
    r: R,
    buf: &'b mut Vec<u8>,
    /// Start of the current (incomplete) line in `buf`.
    start: usize,
    /// End of the bytes read into `buf`.
    end: usize,
    /// Where to look for the next newline (`start..from` has none).
    from: usize,
    /// Inside a line longer than [`MAX_LINE_BYTES`] whose head was already fed.
    skipping: bool,
    done: bool,
    decoder: Decoder,
}

impl<'b, R: Read> Reader<'b, R> {
    /// A reader over `r` using `buf` (grown to 1 MiB if smaller).
    pub fn new(r: R, buf: &'b mut Vec<u8>) -> Self {
        if buf.len() < 1 << 20 {
            buf.resize(1 << 20, 0);
        }
        Reader {
            r,
            buf,
            start: 0,
            end: 0,
            from: 0,
            skipping: false,
            done: false,
            decoder: Decoder::new(),
        }
    }

    /// Feeds the next complete line to `sink`, or reads more input: false once the input
    /// has ended (and every line was fed).
    pub fn step<S: Sink>(&mut self, sink: &mut S) -> io::Result<bool> {
        if self.done {
            return Ok(false);
        }
        if let Some(pos) = memchr::memchr(b'\n', &self.buf[self.from..self.end]) {
            let nl = self.from + pos;
            self.decoder.line(&self.buf[self.start..nl], sink);
            self.start = nl + 1;
            self.from = self.start;
            return Ok(true);
        }
        self.from = self.end;
        self.fill(sink)?;
        Ok(true)
    }

    /// Reads more input after the current line (none of which is complete).
    fn fill<S: Sink>(&mut self, sink: &mut S) -> io::Result<()> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.from -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            if self.buf.len() < MAX_LINE_BYTES {
                let grown = (self.buf.len() * 2).clamp(1 << 16, MAX_LINE_BYTES);
                self.buf.resize(grown, 0);
            } else {
                // one line fills the whole buffer
                self.decoder.long_line(&self.buf[..self.end], sink);
                self.skipping = true;
                self.end = 0;
                self.from = 0;
            }
        }
        let n = loop {
            match self.r.read(&mut self.buf[self.end..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        };
        if n == 0 {
            if self.end > self.start && !self.skipping {
                self.decoder.line(&self.buf[self.start..self.end], sink);
            }
            self.decoder.finish(sink);
            self.done = true;
            return Ok(());
        }
        self.end += n;
        if self.skipping {
            match memchr::memchr(b'\n', &self.buf[self.from..self.end]) {
                Some(pos) => {
                    self.skipping = false;
                    self.start = self.from + pos + 1;
                    self.from = self.start;
                }
                None => {
                    self.end = 0;
                    self.from = 0;
                }
            }
        }
        Ok(())
    }
}

/// Decodes an in-memory rollout.
pub fn decode_bytes<S: Sink>(bytes: &[u8], sink: &mut S) {
    let mut d = Decoder::new();
    for line in bytes.split(|&b| b == b'\n') {
        d.line(line, sink);
    }
    d.finish(sink);
}

#[cfg(test)]
mod tests;
