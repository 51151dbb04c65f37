//! Classifying one line: is it one of the few places that carry the session id?
//!
//! This file exists so that the format rules live in one place, apart from the buffering
//! and searching in `lib.rs`. Every function here looks at exactly one line (no line
//! terminator) and either names the id it carries or says "nothing here". The rules:
//!
//! * **Header** — after removing ANSI escape sequences, the line is
//!   `[ws] session <ws> id: [ws] <uuid> [ws]`, any ASCII case. Anything else on the line
//!   (an agent message `decoy session id: …`, `request id: …`) disqualifies it. Lines
//!   longer than [`MAX_HEADER_LINE`] are never headers.
//! * **JSON event** — the line (after leading whitespace) starts with `{` and carries one
//!   of the markers `"thread.started"` or `"session_` (a cheap substring prefilter for
//!   `"session_configured"` / `"session_meta"`). It is then parsed with `serde_json`, and only the *top-level*
//!   object's `type` counts (or `msg.type` for the legacy `session_configured` event).
//!   A line longer than [`MAX_JSON_LINE`] is not kept whole: its first `MAX_JSON_LINE`
//!   bytes go to [`crate::json_prefix`], a tolerant walker that reads the top-level keys in
//!   order and stops at the truncation — the ids sit in the first few hundred bytes of
//!   these events, while a `session_meta` line can be tens of KiB (base instructions).
//! * **Spawn line** — `codex_session_id=<uuid>` at the very start of a line (codex-spawn's
//!   closing lines); an empty value or `-` is not an id. `codex_exit_code=` at the start
//!   of a line marks the end of a codex-spawn run (used by `--follow`).

use crate::json_prefix;
use crate::text::{has_escapes, strip_ci_timestamp, strip_stamp, without_escapes};
use crate::{IdKind, Uuid};
use memchr::memmem::Finder;
use serde::Deserialize;
use std::sync::LazyLock;

/// A line longer than this (bytes, ANSI escapes included) can't be a `session id:` header.
pub const MAX_HEADER_LINE: usize = 64 * 1024;

/// How much of a JSON line is kept for parsing; longer lines are walked as a prefix.
pub const MAX_JSON_LINE: usize = 1024 * 1024;

/// What one line says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Line {
    Nothing,
    Id(IdKind, Uuid),
    RunEnded,
    /// Where a header can be or not ([`crate::position`]).
    Mark(Mark),
    /// A rollout's first line before 0.34: a bare `{"id":"<uuid>","timestamp":…}` object
    /// (no `type`) — an id only as the very first line of a stream.
    LegacyHead(Uuid),
}

/// The part of a run's body a section opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Region {
    /// `user`: the prompt.
    Prompt,
    /// `exec`: a tool command and its output.
    Tool,
    /// `codex`, `thinking`: the agent's words.
    Agent,
    /// `tokens used`: the turn is over (the final message may be repeated after it).
    Final,
}

/// A line that tells where in a transcript we are (see [`crate::position`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mark {
    /// `OpenAI Codex v…`: a header begins.
    Banner,
    /// `--------`: a header's fence.
    Fence,
    /// A section of the run: `user`, `exec`, `codex`, `thinking`, `tokens used` (before
    /// 0.44: `[ts] User instructions:`, `[ts] exec …`, `[ts] codex`, …). After one, what
    /// follows is the run's body: prompts, tool output, agent messages.
    Section(Region),
    /// A new run starts: codex-spawn's `===== codex-spawn attempt …` marker, or the last
    /// closing line `summary_json=` of a run (logs concatenated).
    RunStart,
}

/// A cheap, conservative prefilter: `false` only for lines [`classify`] would reject —
/// those whose first non-whitespace byte cannot start an id line or a mark (see
/// [`FIRST_BYTE`]).
#[inline(always)]
pub(crate) fn plausible(line: &[u8]) -> bool {
    match line.first() {
        None => false,
        Some(&b) => match FIRST_BYTE[usize::from(b)] {
            REJECT => false,
            ACCEPT => true,
            _ => line
                .iter()
                .find(|b| !is_space(**b))
                .is_some_and(|b| FIRST_BYTE[usize::from(*b)] == ACCEPT),
        },
    }
}

const REJECT: u8 = 0;
const ACCEPT: u8 = 1;
const SPACE: u8 = 2;

/// What the first byte of a line says (see [`plausible`]): `c` (`codex_session_id=`,
/// `codex`), `{` (JSON), `s`/`S` (`session id:`, `summary_json=`), ESC and `←` (ANSI
/// colours, as Windows consoles render them), `u`/`e`/`t`/`U` (section marks), `O`
/// (`OpenAI Codex v`), `-` (fences), `=` (codex-spawn's attempt marks), `[` (the
/// `[timestamp] ` of codex before 0.44), a digit (a CI log's timestamp prefix).
static FIRST_BYTE: [u8; 256] = {
    let mut table = [REJECT; 256];
    let accept = b"c{sS\x1butUeO-=[0123456789\xe2";
    let mut i = 0;
    while i < accept.len() {
        table[accept[i] as usize] = ACCEPT;
        i += 1;
    }
    table[b' ' as usize] = SPACE;
    table[b'\t' as usize] = SPACE;
    table[b'\r' as usize] = SPACE;
    table[b'\n' as usize] = SPACE;
    table[0x0b] = SPACE;
    table[0x0c] = SPACE;
    table
};

/// Classifies one line. `line` holds at most the first [`MAX_JSON_LINE`] bytes of the line;
/// `truncated` says whether the line was longer than what `line` holds. A CI log's
/// timestamp prefix (`2026-04-19T14:51:51.9956552Z `, GitHub Actions) is looked through.
pub(crate) fn classify(line: &[u8], truncated: bool) -> Line {
    let line = if line.first().is_some_and(u8::is_ascii_digit) {
        strip_ci_timestamp(line)
    } else {
        line
    };
    if let Some(rest) = line.strip_prefix(b"codex_session_id=") {
        return match parse_uuid_trimmed(rest) {
            Some(uuid) if !truncated => Line::Id(IdKind::SpawnLine, uuid),
            _ => Line::Nothing,
        };
    }
    if line.starts_with(b"codex_exit_code=") {
        return Line::RunEnded;
    }
    if line.starts_with(b"summary_json=") {
        return Line::Mark(Mark::RunStart);
    }
    let start = line
        .iter()
        .position(|b| !is_space(*b))
        .unwrap_or(line.len());
    if line.get(start) == Some(&b'{') {
        if let Some(uuid) = legacy_head(&line[start..]) {
            return Line::LegacyHead(uuid);
        }
        return match json_event(&line[start..], truncated) {
            Some((kind, uuid)) => Line::Id(kind, uuid),
            None => Line::Nothing,
        };
    }
    if truncated || line.len() > MAX_HEADER_LINE {
        return Line::Nothing;
    }
    // Most lines have no escape at all: they are read in place (copying every candidate
    // line through the escape filter made `--last` on a 1 GiB log ~60% slower).
    let escaped = has_escapes(line);
    if let Some(m) = mark(line, escaped) {
        return Line::Mark(m);
    }
    match header(line, escaped) {
        Some(uuid) => Line::Id(IdKind::Header, uuid),
        None => Line::Nothing,
    }
}

/// The longest line a mark can be.
const MAX_MARK_LINE: usize = 512;

/// A line that tells where in a transcript we are ([`Mark`]), after ANSI colours, the
/// line's whitespace and (codex before 0.44) a `[timestamp] ` are set aside.
fn mark(line: &[u8], escaped: bool) -> Option<Mark> {
    if line.len() > MAX_MARK_LINE {
        return None;
    }
    let first = *line.iter().find(|b| !is_space(**b))?;
    if !b"-=[OuectU\x1b\xe2".contains(&first) {
        return None;
    }
    if !escaped {
        return plain_mark(line.trim_ascii());
    }
    let mut buf = [0u8; MAX_MARK_LINE];
    let mut n = 0;
    for b in without_escapes(line) {
        buf[n] = b;
        n += 1;
    }
    plain_mark(buf[..n].trim_ascii())
}

/// [`mark`] of a line without escapes and surrounding whitespace.
fn plain_mark(text: &[u8]) -> Option<Mark> {
    if text.len() >= 8 && text.iter().all(|&b| b == b'-') {
        return Some(Mark::Fence);
    }
    if text.starts_with(b"===== codex-spawn attempt ") {
        return Some(Mark::RunStart);
    }
    let (stamped, text) = match strip_stamp(text) {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    if text.starts_with(b"OpenAI Codex v") {
        return Some(Mark::Banner);
    }
    let region = match text {
        b"user" => Region::Prompt,
        b"exec" => Region::Tool,
        b"codex" | b"thinking" => Region::Agent,
        b"tokens used" => Region::Final,
        _ if !stamped => return None,
        b"User instructions:" => Region::Prompt,
        _ if text.starts_with(b"tokens used: ") => Region::Final,
        _ if text.starts_with(b"exec ") => Region::Tool,
        _ => return None,
    };
    Some(Mark::Section(region))
}

/// A rollout's first line before 0.34: `{"id":"<uuid>","timestamp":…}`, no `type`.
fn legacy_head(line: &[u8]) -> Option<Uuid> {
    let rest = line.strip_prefix(b"{\"id\":\"")?;
    let uuid = Uuid::parse(rest.get(..36)?)?;
    rest[36..]
        .starts_with(b"\",\"timestamp\":\"")
        .then_some(uuid)
}

/// Horizontal whitespace and the line-end leftovers we tolerate around a header.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n' | 0x0b | 0x0c)
}

/// `<uuid>` followed only by whitespace.
fn parse_uuid_trimmed(rest: &[u8]) -> Option<Uuid> {
    let uuid = Uuid::parse(rest.get(..36)?)?;
    rest[36..].iter().all(|b| is_space(*b)).then_some(uuid)
}

/// `[ws] session <ws> id: [ws] <uuid> [ws]` after ANSI stripping, any ASCII case.
fn header(line: &[u8], escaped: bool) -> Option<Uuid> {
    if !escaped {
        return plain_header(line);
    }
    let plain: Vec<u8> = without_escapes(line).collect();
    plain_header(&plain)
}

/// [`header`] of a line without escapes.
fn plain_header(line: &[u8]) -> Option<Uuid> {
    let is_blank = |b: &u8| matches!(b, b' ' | b'\t');
    let rest = &line[line.iter().position(|b| !is_space(*b))?..];
    let (word, rest) = rest.split_at_checked(7)?;
    if !word.eq_ignore_ascii_case(b"session") || !rest.first().is_some_and(is_blank) {
        return None;
    }
    let rest = &rest[rest.iter().position(|b| !is_blank(b))?..];
    let (word, rest) = rest.split_at_checked(3)?;
    if !word.eq_ignore_ascii_case(b"id:") {
        return None;
    }
    let rest = &rest[rest.iter().position(|b| !is_blank(b)).unwrap_or(rest.len())..];
    parse_uuid_trimmed(rest)
}

/// The three JSON events that carry the session id, as far as we read them.
#[derive(Deserialize)]
struct Event {
    #[serde(rename = "type")]
    kind: Option<String>,
    thread_id: Option<String>,
    msg: Option<Inner>,
    payload: Option<Inner>,
}

/// `msg` of the legacy event / `payload` of a rollout line: only the fields we need.
#[derive(Deserialize)]
struct Inner {
    #[serde(rename = "type")]
    kind: Option<String>,
    id: Option<String>,
    session_id: Option<String>,
}

/// The top-level fields of an event, whichever reader found them.
#[derive(Debug, Default)]
pub(crate) struct Fields {
    pub kind: Option<String>,
    pub thread_id: Option<String>,
    pub msg_kind: Option<String>,
    pub msg_session_id: Option<String>,
    pub payload_id: Option<String>,
    pub payload_session_id: Option<String>,
}

impl Fields {
    /// Which id (if any) these fields name.
    pub(crate) fn decide(&self) -> Option<(IdKind, Uuid)> {
        let parse = |s: &Option<String>| s.as_deref().and_then(|s| Uuid::parse(s.as_bytes()));
        match self.kind.as_deref() {
            Some("thread.started") => Some((IdKind::ThreadStarted, parse(&self.thread_id)?)),
            Some("session_meta") => {
                let id = parse(&self.payload_id).or_else(|| parse(&self.payload_session_id))?;
                Some((IdKind::SessionMeta, id))
            }
            None if self.msg_kind.as_deref() == Some("session_configured") => {
                Some((IdKind::SessionConfigured, parse(&self.msg_session_id)?))
            }
            _ => None,
        }
    }
}

/// The event markers, searched with prebuilt SIMD finders.
/// (`"session_` covers both `"session_configured"` and `"session_meta"`.)
static MARKERS: LazyLock<[Finder<'static>; 2]> = LazyLock::new(|| {
    [
        Finder::new(b"\"thread.started\""),
        Finder::new(b"\"session_"),
    ]
});

/// A line starting with `{`: prefilter on the markers, then parse.
fn json_event(line: &[u8], truncated: bool) -> Option<(IdKind, Uuid)> {
    if !MARKERS.iter().any(|m| m.find(line).is_some()) {
        return None;
    }
    let fields = if truncated {
        json_prefix::walk(line)
    } else {
        let event: Event = serde_json::from_slice(trim_end(line)).ok()?;
        let (msg_kind, msg_session_id) = match event.msg {
            Some(m) => (m.kind, m.session_id),
            None => (None, None),
        };
        let (payload_id, payload_session_id) = match event.payload {
            Some(p) => (p.id, p.session_id),
            None => (None, None),
        };
        Fields {
            kind: event.kind,
            thread_id: event.thread_id,
            msg_kind,
            msg_session_id,
            payload_id,
            payload_session_id,
        }
    };
    fields.decide()
}

fn trim_end(line: &[u8]) -> &[u8] {
    let end = line
        .iter()
        .rposition(|b| !is_space(*b))
        .map_or(0, |p| p + 1);
    &line[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "01a20a11-c891-7691-9716-0a912243e201";

    fn id_of(line: &str) -> Option<(IdKind, String)> {
        match classify(line.as_bytes(), false) {
            Line::Id(kind, uuid) => Some((kind, uuid.as_str().to_owned())),
            _ => None,
        }
    }

    #[test]
    fn header_variants() {
        for line in [
            format!("session id: {ID}"),
            format!("\x1b[1msession id:\x1b[0m {ID}"),
            format!("session id: {ID}\r"),
            format!("SESSION ID: {}", ID.to_uppercase()),
            format!("\t Session \t Id:\t\t{ID}  \t"),
            format!("session id:{ID}"),
            format!("\x1b[1msession\x1b[0m id: \x1b[2m{ID}\x1b[0m"),
        ] {
            assert_eq!(
                id_of(&line),
                Some((IdKind::Header, ID.to_owned())),
                "{line:?}"
            );
        }
    }

    #[test]
    fn header_decoys() {
        for line in [
            format!("decoy session id: {ID}"),
            format!("Done 2. decoy session id: {ID}"),
            format!("session token expired; request id: {ID}"),
            format!("request id: {ID}"),
            format!("session id: {ID} extra"),
            format!("session id: {ID}0"),
            format!("sessionid: {ID}"),
            format!("session  ID {ID}"),
            format!("/tmp/{ID}/session id: {ID}"),
            format!("session id: {}", &ID[..35]),
            format!("session id: x{}", &ID[1..]),
        ] {
            assert_eq!(id_of(&line), None, "{line:?}");
        }
    }

    #[test]
    fn json_events() {
        assert_eq!(
            id_of(&format!(
                r#"{{"type":"thread.started","thread_id":"{ID}"}}"#
            )),
            Some((IdKind::ThreadStarted, ID.to_owned()))
        );
        assert_eq!(
            id_of(&format!(
                r#"{{"id":"0","msg":{{"type":"session_configured","session_id":"{ID}","model":"x"}}}}"#
            )),
            Some((IdKind::SessionConfigured, ID.to_owned()))
        );
        assert_eq!(
            id_of(&format!(
                r#"{{"timestamp":"t","type":"session_meta","payload":{{"session_id":"{ID}","id":"{ID}","cwd":"/"}}}}"#
            )),
            Some((IdKind::SessionMeta, ID.to_owned()))
        );
        // not top-level
        let nested = format!(
            r#"{{"type":"item.completed","item":{{"type":"agent_message","text":"{{\"type\":\"thread.started\",\"thread_id\":\"{ID}\"}}"}}}}"#
        );
        assert_eq!(id_of(&nested), None);
        let nested = format!(
            r#"{{"type":"item.completed","item":{{"type":"thread.started","thread_id":"{ID}"}}}}"#
        );
        assert_eq!(id_of(&nested), None);
        // duplicate keys, broken JSON, bad uuid
        assert_eq!(
            id_of(&format!(
                r#"{{"type":"x","type":"thread.started","thread_id":"{ID}"}}"#
            )),
            None
        );
        assert_eq!(
            id_of(&format!(r#"{{"type":"thread.started","thread_id":"{ID}""#)),
            None
        );
        assert_eq!(
            id_of(r#"{"type":"thread.started","thread_id":"nope"}"#),
            None
        );
    }

    #[test]
    fn spawn_lines() {
        assert_eq!(
            id_of(&format!("codex_session_id={ID}")),
            Some((IdKind::SpawnLine, ID.to_owned()))
        );
        assert_eq!(id_of("codex_session_id="), None);
        assert_eq!(id_of("codex_session_id=-"), None);
        assert_eq!(id_of(&format!(" codex_session_id={ID}")), None);
        assert_eq!(id_of(&format!("x codex_session_id={ID}")), None);
        assert_eq!(classify(b"codex_exit_code=0", false), Line::RunEnded);
    }

    #[test]
    fn truncated_json_uses_prefix_walker() {
        let line = format!(
            r#"{{"timestamp":"t","type":"session_meta","payload":{{"id":"{ID}","base_instructions":"aaaa"#
        );
        assert_eq!(
            classify(line.as_bytes(), true),
            Line::Id(
                IdKind::SessionMeta,
                Uuid::parse(ID.as_bytes()).unwrap_or_default()
            )
        );
        assert_eq!(classify(line.as_bytes(), false), Line::Nothing);
    }
}
