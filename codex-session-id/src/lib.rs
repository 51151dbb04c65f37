//! Finding the Codex session id in a stream of bytes.
//!
//! This crate exists so that every tool (the `codex-session-id` CLI, and `codex-spawn`
//! watching codex's output live) recognises the session id the same way and only where
//! Codex puts it: the `session id:` header line, the `thread.started` /
//! `session_configured` / `session_meta` JSON events, and codex-spawn's
//! `codex_session_id=` closing line — never another UUID of the transcript (an agent
//! message quoting `session id: …`, `request id: …`, a path, a tool's output). The
//! per-line rules are in [`line`](crate::line) (private); where in a transcript a header
//! counts (not one a tool printed inside the run) in [`position`](crate::position)
//! (private); how a log as found is made plain (UTF-16, CI timestamps, `←` escapes) in
//! [`text`], which the other tools' readers share; this file holds the streaming
//! [`Scanner`].
//!
//! # How the scanner is fast and bounded
//!
//! Lines end at `\n` or `\r`. Every recognised line is recognisable by its first bytes:
//! after leading whitespace, a header starts with `s`/`S` (or an ANSI escape), a JSON
//! event with `{`, a codex-spawn line with `c`. So the complete lines of a chunk are
//! walked with memchr's SIMD line-end search and all other lines — nearly all of a
//! transcript — are dismissed after looking at a byte or two; only plausible lines are
//! classified (an `s` line is rejected at its first differing letter, a `{` line unless
//! it holds an event marker). A line that spans chunks is
//! carried over, but at most [`MAX_JSON_LINE`] (1 MiB) of it is kept: a header can't be
//! longer than [`MAX_HEADER_LINE`] (64 KiB), and a longer JSON line is read as a prefix
//! (the ids come first in those events). So memory stays at about one read buffer plus
//! 1 MiB whatever the input, and results never depend on how the input was chunked.

mod follow;
mod json_prefix;
mod launch;
mod line;
mod position;
mod read;
mod sys;

pub mod cli;
pub mod codex_version;
pub mod counts;
pub mod log;
pub mod rollout;
pub mod text;

use std::fmt;

pub use follow::{follow_path, follow_reader, is_run_log};
pub use line::{MAX_HEADER_LINE, MAX_JSON_LINE};
pub use read::{
    Error, Mode, find_all, find_first, find_last, scan_bytes, scan_file, scan_path, scan_reader,
};

use line::{Line, Mark};
use position::Pos;

/// A session id: a UUID, kept as its 36-character lowercase text.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Uuid([u8; 36]);

impl Default for Uuid {
    /// The nil UUID `00000000-0000-0000-0000-000000000000`.
    fn default() -> Uuid {
        let mut text = [b'0'; 36];
        for i in [8, 13, 18, 23] {
            text[i] = b'-';
        }
        Uuid(text)
    }
}

impl Uuid {
    /// Parses exactly 36 bytes `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (hex digits in any
    /// case); the result is lowercase.
    pub fn parse(text: &[u8]) -> Option<Uuid> {
        let text: &[u8; 36] = text.try_into().ok()?;
        let mut out = [0u8; 36];
        for (i, (&b, slot)) in text.iter().zip(out.iter_mut()).enumerate() {
            *slot = if matches!(i, 8 | 13 | 18 | 23) {
                (b == b'-').then_some(b)?
            } else {
                b.is_ascii_hexdigit().then(|| b.to_ascii_lowercase())?
            };
        }
        Some(Uuid(out))
    }

    /// The lowercase text.
    pub fn as_str(&self) -> &str {
        // only ASCII hex digits and '-' are ever stored
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Uuid({})", self.as_str())
    }
}

/// Where a session id was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdKind {
    /// The human header line `session id: <uuid>`.
    Header,
    /// `{"type":"thread.started","thread_id":…}` (`codex exec --json`).
    ThreadStarted,
    /// Legacy `{"id":"0","msg":{"type":"session_configured","session_id":…}}`.
    SessionConfigured,
    /// A rollout's `{"type":"session_meta","payload":{"id":…}}` line.
    SessionMeta,
    /// codex-spawn's closing line `codex_session_id=<uuid>`.
    SpawnLine,
}

/// One session id found in a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionId {
    /// The id.
    pub uuid: Uuid,
    /// Which kind of line carried it.
    pub kind: IdKind,
    /// Byte offset of that line's start in the stream.
    pub offset: u64,
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.uuid.fmt(f)
    }
}

/// The streaming scanner: feed it byte chunks of any size, in order; it yields each
/// session id as soon as the line carrying it is complete.
///
/// ```
/// use codex_session_id::{IdKind, Scanner};
/// let mut s = Scanner::new();
/// assert_eq!(s.feed(b"OpenAI Codex v0.169.0\nsession id: 01A20A11-c891").count(), 0);
/// let ids: Vec<_> = s.feed(b"-7691-9716-0a912243e201\n").collect();
/// assert_eq!(ids[0].uuid.as_str(), "01a20a11-c891-7691-9716-0a912243e201");
/// assert_eq!(ids[0].kind, IdKind::Header);
/// assert!(s.finish().is_none());
/// ```
#[derive(Debug)]
pub struct Scanner {
    /// The line splitter: at most `MAX_JSON_LINE` bytes of a line are kept.
    lines: log::Lines,
    /// What the lines said so far.
    state: State,
    /// Bytes to UTF-8 (PowerShell's `>` writes UTF-16LE with a byte-order mark).
    decoder: text::Decoder,
    /// What the decoder made of the last chunk.
    decoded: Vec<u8>,
}

impl Default for Scanner {
    fn default() -> Scanner {
        Scanner {
            lines: log::Lines::new(MAX_JSON_LINE),
            state: State::default(),
            decoder: text::Decoder::default(),
            decoded: Vec::new(),
        }
    }
}

/// The scanner's fold over the lines.
#[derive(Debug, Default)]
struct State {
    /// Whether a `codex_exit_code=` line was seen.
    run_ended: bool,
    found: Vec<SessionId>,
    /// Where the current line stands ([`position`]); `None` for a block of a file scanned
    /// in parallel, until its first settling mark (the block's start depends on the
    /// blocks before it: see [`Scanner::take_pending`]).
    pos: Option<Pos>,
    /// While `pos` is unknown: the ids and marks seen, to be settled later.
    pending: Vec<Pending>,
}

/// Something seen in a block before its state was known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pending {
    Id(SessionId),
    Mark(Mark),
}

impl Scanner {
    /// A scanner at the start of a stream.
    pub fn new() -> Scanner {
        Scanner {
            state: State {
                pos: Some(Pos::Start),
                ..State::default()
            },
            ..Scanner::default()
        }
    }

    /// A scanner for the part of a larger stream that starts at byte `offset` (a line
    /// start; offsets in the [`SessionId`]s it reports count from there). Past offset 0,
    /// where the part starts in a transcript is not known: what comes before its first
    /// settling line is kept aside ([`Scanner::take_pending`]) for the caller to settle.
    pub fn at_offset(offset: u64) -> Scanner {
        Scanner {
            lines: log::Lines::at_offset(MAX_JSON_LINE, offset),
            state: State {
                pos: (offset == 0).then_some(Pos::Start),
                ..State::default()
            },
            decoder: if offset == 0 {
                text::Decoder::new()
            } else {
                text::Decoder::past_start()
            },
            decoded: Vec::new(),
        }
    }

    /// The ids and marks seen before the state was known (a block of a file), in order,
    /// and the state from the first settling line on (`None`: no such line).
    pub(crate) fn take_pending(&mut self) -> (Vec<Pending>, Option<Pos>) {
        (std::mem::take(&mut self.state.pending), self.state.pos)
    }

    /// Feeds the next chunk; yields the ids of the lines it completed, in order.
    pub fn feed(&mut self, chunk: &[u8]) -> std::vec::Drain<'_, SessionId> {
        self.state.found.clear();
        self.push(chunk);
        self.state.found.drain(..)
    }

    /// Like [`feed`](Scanner::feed), appending the ids to `out`.
    pub fn feed_into(&mut self, chunk: &[u8], out: &mut Vec<SessionId>) {
        self.state.found.clear();
        self.push(chunk);
        out.append(&mut self.state.found);
    }

    /// Feeds one line that another reader split ([`log::Lines`] with a cap of
    /// [`MAX_JSON_LINE`], over text already decoded: [`text::TextReader`]); the id it
    /// carries, if it counts. For readers that fold the same lines into more than ids
    /// (codex-summarize's log scan), so a log is split once.
    pub fn line(&mut self, line: log::Line<'_>) -> Option<SessionId> {
        self.state.found.clear();
        self.state.line(line, 0);
        self.state.found.pop()
    }

    /// Ends the stream: the unfinished last line (no line end) is classified too.
    /// The scanner can then go on as if a line end had been fed.
    pub fn finish(&mut self) -> Option<SessionId> {
        self.state.found.clear();
        let mut buf = std::mem::take(&mut self.decoded);
        let rest = self.decoder.finish(&mut buf);
        let bom = u64::from(self.decoder.bom_len());
        let state = &mut self.state;
        self.lines.feed(rest, |l| state.line(l, bom));
        self.lines.finish(|l| state.line(l, bom));
        self.decoded = buf;
        self.state.found.pop()
    }

    /// Whether a codex-spawn closing line `codex_exit_code=…` has been seen: the run that
    /// writes this log is over.
    pub fn run_ended(&self) -> bool {
        self.state.run_ended
    }

    /// Bytes fed so far (plus the starting offset).
    pub fn offset(&self) -> u64 {
        self.lines.offset()
    }

    fn push(&mut self, chunk: &[u8]) {
        let mut buf = std::mem::take(&mut self.decoded);
        let before = self.decoder.bom_len();
        let text = self.decoder.decode(chunk, &mut buf);
        // offsets count the mark's bytes, and the decoded text's
        let bom = self.decoder.bom_len();
        self.lines.skip(u64::from(bom - before));
        let state = &mut self.state;
        self.lines.feed(text, |l| state.line(l, u64::from(bom)));
        self.decoded = buf;
    }
}

impl State {
    /// One line; `bom` is the length of the stream's byte-order mark (a legacy rollout's
    /// head counts only as the stream's first line). Most lines are dismissed by their
    /// first bytes (see [`line::plausible`]).
    #[inline(always)]
    fn line(&mut self, l: log::Line<'_>, bom: u64) {
        if line::plausible(l.text) {
            self.handle(line::classify(l.text, l.truncated), l.offset, bom);
        }
    }

    fn handle(&mut self, line: Line, offset: u64, bom: u64) {
        match line {
            Line::Id(kind, uuid) => {
                let id = SessionId { uuid, kind, offset };
                match self.pos {
                    Some(p) if p.admits(kind) => self.found.push(id),
                    Some(_) => {}
                    None => self.pending.push(Pending::Id(id)),
                }
            }
            Line::Mark(m) => match self.pos {
                Some(p) => self.pos = Some(p.after(m)),
                None if position::settles(m) => self.pos = Some(Pos::Start.after(m)),
                None => self.pending.push(Pending::Mark(m)),
            },
            // a legacy rollout's first line: the first line of the stream only
            Line::LegacyHead(uuid) if offset == bom && self.pos == Some(Pos::Start) => {
                self.found.push(SessionId {
                    uuid,
                    kind: IdKind::SessionMeta,
                    offset,
                });
            }
            Line::LegacyHead(_) => {}
            Line::RunEnded => self.run_ended = true,
            Line::Nothing => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "01a20a11-c891-7691-9716-0a912243e201";
    const B: &str = "01a20a11-cee4-7090-bde8-0211b8147f80";

    fn all_ids(text: &[u8], chunk: usize) -> Vec<(String, IdKind, u64)> {
        let mut s = Scanner::new();
        let mut out = Vec::new();
        for c in text.chunks(chunk.max(1)) {
            out.extend(s.feed(c).map(|i| (i.uuid.to_string(), i.kind, i.offset)));
        }
        out.extend(s.finish().map(|i| (i.uuid.to_string(), i.kind, i.offset)));
        out
    }

    #[test]
    fn uuid_parse() {
        assert_eq!(
            Uuid::parse(A.to_uppercase().as_bytes()).map(|u| u.to_string()),
            Some(A.to_owned())
        );
        assert!(Uuid::parse(&A.as_bytes()[1..]).is_none());
        assert!(Uuid::parse(A.replace('-', "_").as_bytes()).is_none());
        assert!(Uuid::parse(A.replace('a', "g").as_bytes()).is_none());
    }

    #[test]
    fn chunking_does_not_matter() {
        let text = format!(
            "x\r\nrequest id: {B}\nsession id: {A}\r\n{{\"type\":\"thread.started\",\"thread_id\":\"{B}\"}}\ndecoy session id: {B}\ncodex_session_id={A}"
        );
        let want = all_ids(text.as_bytes(), text.len());
        assert_eq!(
            want.iter().map(|w| (w.0.as_str(), w.1)).collect::<Vec<_>>(),
            [
                (A, IdKind::Header),
                (B, IdKind::ThreadStarted),
                (A, IdKind::SpawnLine)
            ]
        );
        assert_eq!(want[0].2, text.find("session id").unwrap() as u64);
        for chunk in 1..text.len() {
            assert_eq!(all_ids(text.as_bytes(), chunk), want, "chunk {chunk}");
        }
    }

    #[test]
    fn run_end_is_seen() {
        let mut s = Scanner::new();
        assert_eq!(s.feed(b"codex_exit_code=0\ncodex_session_id=\n").count(), 0);
        assert!(s.run_ended());
        let mut s = Scanner::new();
        let _ = s.feed(b"x codex_exit_code=0\n");
        assert!(!s.run_ended());
    }

    #[test]
    fn huge_lines_are_bounded() {
        let mut s = Scanner::new();
        let block = vec![b'x'; 1 << 20];
        for _ in 0..20 {
            assert_eq!(s.feed(&block).count(), 0);
        }
        assert!(s.lines.carried() <= MAX_JSON_LINE);
        let ids: Vec<_> = s.feed(format!("\nsession id: {A}\n").as_bytes()).collect();
        assert_eq!(ids.len(), 1);
        assert_eq!(ids[0].offset, 20 << 20 | 1);
    }

    #[test]
    fn huge_session_meta_line_is_read_as_prefix() {
        let mut line =
            format!(r#"{{"timestamp":"t","type":"session_meta","payload":{{"id":"{A}","base_instructions":""#)
                .into_bytes();
        line.resize(3 << 20, b'a');
        line.extend_from_slice(b"\"}}\n");
        for chunk in [4096, 1 << 20, line.len()] {
            let got = all_ids(&line, chunk);
            assert_eq!(got.len(), 1, "chunk {chunk}");
            assert_eq!(got[0].1, IdKind::SessionMeta);
        }
    }
}
