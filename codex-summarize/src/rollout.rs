//! Codex's own record of a session: the rollout file
//! `$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<ts>-<uuid>.jsonl[.zst]`.
//!
//! Exact per-call usage lives in `event_msg` lines whose payload type is
//! `token_count` (`info.total_token_usage` is cumulative for the session,
//! `info.last_token_usage` is the last call; `info` may be null); the model comes
//! from `turn_context` (`payload.model`); the session id and a fork's parent from
//! `session_meta` (`payload.id`, `payload.forked_from_id`).
//!
//! Files can be hundreds of MB, so a line is only parsed when a byte search finds
//! one of those three words in it, and only the needed fields are deserialised,
//! borrowing from the line buffer. Anything malformed is counted in
//! `skipped_lines` and never stops the scan.

use std::borrow::Cow;
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use memchr::memmem::Finder;
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::time::parse_ts_ms;
use crate::usage::Usage;

static TOKEN_COUNT: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"token_count"));
static TURN_CONTEXT: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"turn_context"));
static SESSION_META: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"session_meta"));
static TYPE_KEY: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"type\":\""));
static TURN_CONTEXT_TYPE: LazyLock<Finder<'static>> =
    LazyLock::new(|| Finder::new(b"\"type\":\"turn_context\""));
static SESSION_META_TYPE: LazyLock<Finder<'static>> =
    LazyLock::new(|| Finder::new(b"\"type\":\"session_meta\",\"payload\":{"));
static TOKEN_COUNT_TYPE: LazyLock<Finder<'static>> =
    LazyLock::new(|| Finder::new(b"\"payload\":{\"type\":\"token_count\""));
static ID_KEY: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"id\":\""));
static FORKED_KEY: LazyLock<Finder<'static>> =
    LazyLock::new(|| Finder::new(b"\"forked_from_id\":"));
static MODEL_KEY: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"model\":"));
static MODEL_STR_KEY: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"model\":\""));
static INFO_NULL: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"info\":null"));
static TOTAL_KEY: LazyLock<Finder<'static>> =
    LazyLock::new(|| Finder::new(b"\"total_token_usage\":{"));
static LAST_KEY: LazyLock<Finder<'static>> =
    LazyLock::new(|| Finder::new(b"\"last_token_usage\":{"));

/// Longest multi-line (pretty-printed) JSON value the scanner will reassemble.
const MAX_PRETTY_BYTES: usize = 4 << 20;
/// Longest line held in memory. The lines a scan parses (`token_count`,
/// `turn_context`, `session_meta`) are at most tens of KiB; a longer line is a
/// response item or compacted history: its type is read from its head, and the
/// rest is skipped unread (counted in `skipped_lines` unless its head shows a
/// type the scan ignores anyway). This bounds a scan's buffer whatever the file.
pub const MAX_LINE_BYTES: usize = 4 << 20;
/// Longest pause inside the burst of replayed usage a fork writes at its start
/// (ccusage uses the same bound).
pub const FORK_BURST_PAUSE_MS: i64 = 1_000;

/// One model call's usage, as derived from a `token_count` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageEvent {
    /// The line's timestamp (epoch ms), if it had a valid one.
    pub ts_ms: Option<i64>,
    /// This call's tokens (a delta, not cumulative).
    pub usage: Usage,
    /// Index into [`RolloutScan::models`]; `None` when no model was known yet.
    pub model: Option<u32>,
}

/// What one rollout file says about usage.
#[derive(Debug, Clone, Default)]
pub struct RolloutScan {
    /// `session_meta` payload.id (or session_id).
    pub session_id: Option<String>,
    /// `session_meta` payload.forked_from_id: the session this one was forked from.
    pub forked_from_id: Option<String>,
    /// The `session_meta` line's timestamp (a fork's fork instant).
    pub session_ts_ms: Option<i64>,
    /// Models seen, in order of first use.
    pub models: Vec<String>,
    /// Per-call usage deltas, in file order.
    pub events: Vec<UsageEvent>,
    /// The last `total_token_usage` seen (cumulative for the session).
    pub last_total: Option<Usage>,
    /// The last model named by a `turn_context`.
    pub last_model: Option<String>,
    /// Lines that could not be read as JSON (garbage, truncated, wrong shape).
    pub skipped_lines: u64,
}

impl RolloutScan {
    /// The model name of an event.
    pub fn model_of(&self, ev: &UsageEvent) -> Option<&str> {
        ev.model
            .and_then(|i| self.models.get(i as usize))
            .map(String::as_str)
    }

    fn intern(&mut self, model: &str) -> u32 {
        if let Some(i) = self.models.iter().position(|m| m == model) {
            return i as u32;
        }
        self.models.push(model.to_owned());
        (self.models.len() - 1) as u32
    }
}

// ---- lenient field types: a wrong JSON type yields None, never an error ----

/// A string field that tolerates any other JSON type (read as absent).
#[derive(Debug, Default)]
struct LStr<'a>(Option<Cow<'a, str>>);

impl<'de: 'a, 'a> Deserialize<'de> for LStr<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = LStr<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(LStr(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(LStr(Some(Cow::Owned(v.to_owned()))))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(LStr(Some(Cow::Owned(v))))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(LStr(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(LStr(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(LStr(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(LStr(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(LStr(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(LStr(None))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                LStr::deserialize(d)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                while a.next_element::<IgnoredAny>()?.is_some() {}
                Ok(LStr(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(LStr(None))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// A token counter that tolerates floats, negatives, strings and nulls (read as 0).
#[derive(Debug, Default, Clone, Copy)]
struct LNum(u64);

impl<'de> Deserialize<'de> for LNum {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LNum;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<LNum, E> {
                Ok(LNum(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<LNum, E> {
                Ok(LNum(u64::try_from(v).unwrap_or(0)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<LNum, E> {
                Ok(LNum(if v.is_finite() && v > 0.0 {
                    v as u64
                } else {
                    0
                }))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LNum, E> {
                Ok(LNum(v.trim().parse().unwrap_or(0)))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<LNum, E> {
                Ok(LNum(0))
            }
            fn visit_unit<E: de::Error>(self) -> Result<LNum, E> {
                Ok(LNum(0))
            }
            fn visit_none<E: de::Error>(self) -> Result<LNum, E> {
                Ok(LNum(0))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<LNum, D::Error> {
                LNum::deserialize(d)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<LNum, A::Error> {
                while a.next_element::<IgnoredAny>()?.is_some() {}
                Ok(LNum(0))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<LNum, A::Error> {
                while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(LNum(0))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize, Default)]
struct RawUsage {
    #[serde(default)]
    input_tokens: LNum,
    #[serde(default, alias = "cache_read_input_tokens")]
    cached_input_tokens: LNum,
    #[serde(default)]
    output_tokens: LNum,
    #[serde(default)]
    reasoning_output_tokens: LNum,
    #[serde(default)]
    total_tokens: LNum,
}

impl RawUsage {
    fn get(&self) -> Usage {
        Usage {
            input_tokens: self.input_tokens.0,
            cached_input_tokens: self.cached_input_tokens.0,
            output_tokens: self.output_tokens.0,
            reasoning_output_tokens: self.reasoning_output_tokens.0,
            total_tokens: self.total_tokens.0,
        }
        .normalized()
    }
}

#[derive(Deserialize)]
struct RawInfo<'a> {
    #[serde(default)]
    total_token_usage: Option<RawUsage>,
    #[serde(default)]
    last_token_usage: Option<RawUsage>,
    #[serde(default, borrow)]
    model: LStr<'a>,
}

#[derive(Deserialize)]
struct RawPayload<'a> {
    #[serde(rename = "type", default, borrow)]
    kind: LStr<'a>,
    #[serde(default, borrow)]
    info: Option<RawInfo<'a>>,
    #[serde(default, borrow)]
    model: LStr<'a>,
    #[serde(default, borrow)]
    id: LStr<'a>,
    #[serde(default, borrow)]
    session_id: LStr<'a>,
    #[serde(default, borrow)]
    forked_from_id: LStr<'a>,
}

#[derive(Deserialize)]
struct RawLine<'a> {
    #[serde(default, borrow)]
    timestamp: LStr<'a>,
    #[serde(rename = "type", default, borrow)]
    kind: LStr<'a>,
    #[serde(default, borrow)]
    payload: Option<RawPayload<'a>>,
}

/// Incremental state of one scan.
#[derive(Default)]
struct Scanner {
    scan: RolloutScan,
    prev_total: Option<Usage>,
    current_model: Option<u32>,
    pending: Vec<u8>,
}

enum Wanted {
    No,
    Yes,
}

impl Scanner {
    fn wanted(&self, line: &[u8]) -> Wanted {
        if let Some(w) = self.wanted_compact(line) {
            return w;
        }
        if TOKEN_COUNT.find(line).is_some() || TURN_CONTEXT.find(line).is_some() {
            return Wanted::Yes;
        }
        if self.scan.session_id.is_none() && SESSION_META.find(line).is_some() {
            return Wanted::Yes;
        }
        Wanted::No
    }

    /// Fast path for the lines codex writes (`{"timestamp":"…","ordinal":N,"type":"…",
    /// "payload":{"type":"…"`): decide from the line's head without scanning the rest
    /// (response items can be megabytes). `None`: not that shape, use the slow path.
    fn wanted_compact(&self, line: &[u8]) -> Option<Wanted> {
        const TYPE: &[u8] = b"\"type\":\"";
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
        if rest.starts_with(b"event_msg\",\"payload\":{\"type\":\"") {
            let v = &rest[b"event_msg\",\"payload\":{\"type\":\"".len()..];
            return Some(if v.starts_with(b"token_count\"") {
                Wanted::Yes
            } else {
                Wanted::No
            });
        }
        if rest.starts_with(b"turn_context\"") {
            return Some(Wanted::Yes);
        }
        if rest.starts_with(b"session_meta\"") {
            return Some(if self.scan.session_id.is_none() {
                Wanted::Yes
            } else {
                Wanted::No
            });
        }
        if rest.starts_with(b"event_msg\"") {
            return None;
        }
        // any other top-level type (response_item, world_state, compacted, ...)
        let end = memchr::memchr(b'"', rest)?;
        rest[..end]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'_')
            .then_some(Wanted::No)
    }

    /// Feeds one physical line (without its newline).
    fn line(&mut self, raw: &[u8]) {
        let line = trim(raw);
        if !self.pending.is_empty() {
            // Reassembling a pretty-printed value. A complete compact line inside
            // means the pretty one was truncated: drop it and go on normally.
            if line.first() == Some(&b'{')
                && line.last() == Some(&b'}')
                && serde_json::from_slice::<IgnoredAny>(line).is_ok()
            {
                self.pending.clear();
                self.scan.skipped_lines += 1;
                if matches!(self.wanted(line), Wanted::Yes) {
                    self.parse(line);
                }
                return;
            }
            self.pending.push(b'\n');
            self.pending.extend_from_slice(raw);
            if line.first() == Some(&b'}') {
                let buf = std::mem::take(&mut self.pending);
                match serde_json::from_slice::<IgnoredAny>(&buf) {
                    Ok(_) => {
                        if matches!(self.wanted(&buf), Wanted::Yes) {
                            self.parse(&buf);
                        }
                    }
                    Err(e) if e.is_eof() && buf.len() < MAX_PRETTY_BYTES => self.pending = buf,
                    Err(_) => self.scan.skipped_lines += 1,
                }
            } else if self.pending.len() >= MAX_PRETTY_BYTES {
                self.pending.clear();
                self.scan.skipped_lines += 1;
            }
            return;
        }
        if line.is_empty() {
            return;
        }
        if line[0] != b'{' {
            self.scan.skipped_lines += 1;
            return;
        }
        if line.last() != Some(&b'}') {
            // An opening line of a pretty-printed object, or a truncated line.
            if line == b"{" {
                self.pending.extend_from_slice(raw);
            } else {
                self.scan.skipped_lines += 1;
            }
            return;
        }
        if matches!(self.wanted(line), Wanted::Yes) && !self.parse_fast(line) {
            self.parse(line);
        }
    }

    /// Feeds the head of a line longer than [`MAX_LINE_BYTES`] (the rest is skipped).
    fn long_line(&mut self, head: &[u8]) {
        if !self.pending.is_empty() {
            self.pending.clear();
            self.scan.skipped_lines += 1;
        }
        let line = trim(head);
        if line.first() == Some(&b'{') && matches!(self.wanted_compact(line), Some(Wanted::No)) {
            return;
        }
        self.scan.skipped_lines += 1;
    }

    /// Hand-parses the two hot line kinds in the exact shape codex writes them;
    /// returns false (use serde) for anything else.
    fn parse_fast(&mut self, line: &[u8]) -> bool {
        const TS: &[u8] = b"{\"timestamp\":\"";
        if !line.starts_with(TS) {
            return false;
        }
        let Some(ts_end) = memchr::memchr(b'"', &line[TS.len()..]) else {
            return false;
        };
        let ts = std::str::from_utf8(&line[TS.len()..TS.len() + ts_end]).ok();
        let head = &line[..line.len().min(192)];
        if TURN_CONTEXT_TYPE.find(head).is_some() {
            return match fast_model(line) {
                Some(m) => {
                    let i = self.scan.intern(m);
                    self.current_model = Some(i);
                    if self.scan.last_model.as_deref() != Some(m) {
                        self.scan.last_model = Some(m.to_owned());
                    }
                    true
                }
                None => false,
            };
        }
        if SESSION_META_TYPE.find(head).is_some() {
            return self.fast_session_meta(line, ts);
        }
        if TOKEN_COUNT_TYPE.find(head).is_none() || MODEL_KEY.find(line).is_some() {
            return false;
        }
        let ts_ms = ts.and_then(parse_ts_ms);
        if INFO_NULL.find(line).is_some() {
            return true;
        }
        let total = match TOTAL_KEY.find(line) {
            Some(i) => match flat_usage(&line[i + TOTAL_KEY.needle().len()..]) {
                Some(u) => Some(u),
                None => return false,
            },
            None => None,
        };
        let last = match LAST_KEY.find(line) {
            Some(i) => match flat_usage(&line[i + LAST_KEY.needle().len()..]) {
                Some(u) => Some(u),
                None => return false,
            },
            None => None,
        };
        if total.is_none() && last.is_none() {
            return false;
        }
        self.apply_counts(ts_ms, total, last, None);
        true
    }

    /// `session_meta`: the top-level `payload.id` (the first `"id":"` before any
    /// nested object) and `forked_from_id`, without parsing the instructions.
    fn fast_session_meta(&mut self, line: &[u8], ts: Option<&str>) -> bool {
        let Some(p) = SESSION_META_TYPE.find(line) else {
            return false;
        };
        let body = &line[p + SESSION_META_TYPE.needle().len()..];
        let Some(i) = ID_KEY.find(body) else {
            return false;
        };
        if memchr::memchr(b'{', &body[..i]).is_some() {
            return false;
        }
        let v = &body[i + ID_KEY.needle().len()..];
        let Some(id) = v.get(..36).and_then(|b| std::str::from_utf8(b).ok()) else {
            return false;
        };
        if !is_uuid(id) || v.get(36) != Some(&b'"') {
            return false;
        }
        let forked = match FORKED_KEY.find_iter(body).collect::<Vec<_>>().as_slice() {
            [] => None,
            [j] => {
                let v = &body[j + FORKED_KEY.needle().len()..];
                if v.starts_with(b"null") {
                    None
                } else {
                    match v.get(1..37).and_then(|b| std::str::from_utf8(b).ok()) {
                        Some(f) if v[0] == b'"' && is_uuid(f) => Some(f.to_owned()),
                        _ => return false,
                    }
                }
            }
            _ => return false,
        };
        self.scan.session_id = Some(id.to_owned());
        self.scan.forked_from_id = forked;
        self.scan.session_ts_ms = ts.and_then(parse_ts_ms);
        true
    }

    fn finish(&mut self) {
        if !self.pending.is_empty() {
            self.pending.clear();
            self.scan.skipped_lines += 1;
        }
    }

    fn parse(&mut self, line: &[u8]) {
        let Ok(rec) = serde_json::from_slice::<RawLine<'_>>(line) else {
            self.scan.skipped_lines += 1;
            return;
        };
        let Some(payload) = rec.payload else { return };
        match rec.kind.0.as_deref() {
            Some("event_msg") if payload.kind.0.as_deref() == Some("token_count") => {
                let ts = rec.timestamp.0.as_deref().and_then(parse_ts_ms);
                self.token_count(ts, payload);
            }
            Some("turn_context") => {
                if let Some(m) = payload
                    .model
                    .0
                    .as_deref()
                    .map(str::trim)
                    .filter(|m| !m.is_empty())
                {
                    let i = self.scan.intern(m);
                    self.current_model = Some(i);
                    self.scan.last_model = Some(m.to_owned());
                }
            }
            Some("session_meta") if self.scan.session_id.is_none() => {
                let id = payload.id.0.or(payload.session_id.0);
                self.scan.session_id = id.map(Cow::into_owned);
                self.scan.forked_from_id = payload
                    .forked_from_id
                    .0
                    .filter(|s| !s.is_empty())
                    .map(Cow::into_owned);
                self.scan.session_ts_ms = rec.timestamp.0.as_deref().and_then(parse_ts_ms);
            }
            _ => {}
        }
    }

    /// The delta rule ccusage uses, so totals agree with it: the call's own
    /// `last_token_usage` when the cumulative total moved (or is absent), else the
    /// difference of totals — a repeated `token_count` (same total) adds nothing,
    /// and a total that went backwards (context reset) still adds its last call.
    fn token_count(&mut self, ts_ms: Option<i64>, payload: RawPayload<'_>) {
        let Some(info) = payload.info else { return };
        let total = info.total_token_usage.as_ref().map(RawUsage::get);
        let last = info.last_token_usage.as_ref().map(RawUsage::get);
        let model = info
            .model
            .0
            .or(payload.model.0)
            .filter(|m| !m.trim().is_empty());
        self.apply_counts(ts_ms, total, last, model.as_deref().map(str::trim));
    }

    fn apply_counts(
        &mut self,
        ts_ms: Option<i64>,
        total: Option<Usage>,
        last: Option<Usage>,
        model: Option<&str>,
    ) {
        let advanced = total.is_none_or(|t| Some(t) != self.prev_total);
        let delta = last.filter(|_| advanced).or_else(|| {
            total.map(|t| {
                t.saturating_sub(&self.prev_total.unwrap_or_default())
                    .normalized()
            })
        });
        if let Some(t) = total {
            self.prev_total = Some(t);
            self.scan.last_total = Some(t);
        }
        let Some(delta) = delta else { return };
        if delta.is_zero() {
            return;
        }
        let model = match model {
            Some(m) => {
                let i = self.scan.intern(m);
                self.current_model = Some(i);
                Some(i)
            }
            None => self.current_model,
        };
        self.scan.events.push(UsageEvent {
            ts_ms,
            usage: delta,
            model,
        });
    }
}

/// The value of every `"model":"…"` in a line, when they are all the same
/// (then the top-level one is that too).
fn fast_model(line: &[u8]) -> Option<&str> {
    let mut found: Option<&[u8]> = None;
    for i in MODEL_STR_KEY.find_iter(line) {
        let v = &line[i + MODEL_STR_KEY.needle().len()..];
        let end = memchr::memchr2(b'"', b'\\', v)?;
        if v[end] != b'"' {
            return None;
        }
        let v = &v[..end];
        match found {
            Some(f) if f != v => return None,
            _ => found = Some(v),
        }
    }
    let m = std::str::from_utf8(found?).ok()?.trim();
    (!m.is_empty()).then_some(m)
}

/// Parses a flat `{"k":123,"k2":45}` object of non-negative integers (from just
/// after its `{`). `None` for anything else.
fn flat_usage(b: &[u8]) -> Option<Usage> {
    let mut u = Usage::default();
    let mut i = 0;
    loop {
        match b.get(i)? {
            b'}' => break,
            b',' => i += 1,
            b'"' => {
                let kend = memchr::memchr(b'"', &b[i + 1..])? + i + 1;
                let key = &b[i + 1..kend];
                if b.get(kend + 1) != Some(&b':') {
                    return None;
                }
                i = kend + 2;
                let start = i;
                let mut v: u64 = 0;
                while let Some(c) = b.get(i).filter(|c| c.is_ascii_digit()) {
                    v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
                    i += 1;
                }
                if i == start || !matches!(b.get(i), Some(b',' | b'}')) {
                    return None;
                }
                match key {
                    b"input_tokens" => u.input_tokens = v,
                    b"cached_input_tokens" | b"cache_read_input_tokens" => {
                        u.cached_input_tokens = v
                    }
                    b"output_tokens" => u.output_tokens = v,
                    b"reasoning_output_tokens" => u.reasoning_output_tokens = v,
                    b"total_tokens" => u.total_tokens = v,
                    _ => {}
                }
            }
            _ => return None,
        }
    }
    Some(u.normalized())
}

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

/// Runs `f` with this thread's scan buffer number `slot` (0 or 1), reused
/// across files so that a scan allocates nothing per file. Two slots let one
/// thread read two rollouts in lockstep (a fork and its parent).
pub fn with_scan_buffer<T>(slot: usize, f: impl FnOnce(&mut Vec<u8>) -> T) -> T {
    thread_local! {
        static BUFS: [std::cell::RefCell<Vec<u8>>; 2] = const {
            [std::cell::RefCell::new(Vec::new()), std::cell::RefCell::new(Vec::new())]
        };
    }
    BUFS.with(|cells| {
        let cell = &cells[slot.min(1)];
        let mut buf = cell.take();
        let out = f(&mut buf);
        cell.replace(buf);
        out
    })
}

/// Scans a rollout from any reader, collecting every usage event (see
/// [`EventReader`] for the reading; the events are what grows with the file).
pub fn scan_reader<R: Read>(r: R) -> io::Result<RolloutScan> {
    with_scan_buffer(0, |buf| {
        let mut rd = EventReader::new(r, buf);
        let mut events = Vec::new();
        while let Some(ev) = rd.next_event()? {
            events.push(ev);
        }
        let mut scan = rd.into_scan();
        scan.events = events;
        Ok(scan)
    })
}

/// Reads a rollout's usage events one at a time, in bounded memory: the input
/// is read in 1 MiB chunks split into lines in place (a line longer than the
/// buffer grows it, up to [`MAX_LINE_BYTES`]; a longer one is judged by its
/// head and skipped). Nothing is kept per event, so a caller that folds the
/// events as they come reads any file in one buffer.
pub struct EventReader<'b, R> {
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
    s: Scanner,
    /// Index of the next event of `s.scan.events` to hand out.
    next: usize,
}

impl<'b, R: Read> EventReader<'b, R> {
    /// A reader over `r` using `buf` (grown to 1 MiB if smaller).
    pub fn new(r: R, buf: &'b mut Vec<u8>) -> Self {
        if buf.len() < 1 << 20 {
            buf.resize(1 << 20, 0);
        }
        EventReader {
            r,
            buf,
            start: 0,
            end: 0,
            from: 0,
            skipping: false,
            done: false,
            s: Scanner::default(),
            next: 0,
        }
    }

    /// What the file said so far: session id, fork parent, models (an event's
    /// `model` indexes [`RolloutScan::models`]), skipped lines. Its `events`
    /// are scratch: use [`EventReader::next_event`].
    pub fn scan(&self) -> &RolloutScan {
        &self.s.scan
    }

    /// The scan's header once the events were read (its `events` are empty).
    pub fn into_scan(self) -> RolloutScan {
        let mut scan = self.s.scan;
        scan.events.clear();
        scan
    }

    /// The next usage event, or `None` at the end of the input.
    pub fn next_event(&mut self) -> io::Result<Option<UsageEvent>> {
        loop {
            if let Some(ev) = self.s.scan.events.get(self.next) {
                self.next += 1;
                return Ok(Some(*ev));
            }
            if self.next > 0 {
                self.s.scan.events.clear();
                self.next = 0;
            }
            if self.done {
                return Ok(None);
            }
            if let Some(pos) = memchr::memchr(b'\n', &self.buf[self.from..self.end]) {
                let nl = self.from + pos;
                self.s.line(&self.buf[self.start..nl]);
                self.start = nl + 1;
                self.from = self.start;
                continue;
            }
            self.from = self.end;
            self.fill()?;
        }
    }

    /// Reads more input after the current line (none of which is complete).
    fn fill(&mut self) -> io::Result<()> {
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
                self.s.long_line(&self.buf[..self.end]);
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
                self.s.line(&self.buf[self.start..self.end]);
            }
            self.s.finish();
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

/// Opens a rollout file (`.jsonl`, or `.jsonl.zst` decompressed on the fly).
pub fn open_rollout(path: &Path) -> io::Result<Box<dyn Read>> {
    let file = File::open(path)?;
    if path.extension().is_some_and(|e| e == "zst") {
        Ok(Box::new(zstd::stream::read::Decoder::new(file)?))
    } else {
        Ok(Box::new(file))
    }
}

/// Scans an in-memory rollout.
pub fn scan_bytes(bytes: &[u8]) -> RolloutScan {
    let mut s = Scanner::default();
    for line in bytes.split(|&b| b == b'\n') {
        s.line(line);
    }
    s.finish();
    s.scan
}

/// True for `*.jsonl` and `*.jsonl.zst` names.
pub fn is_rollout_name(name: &str) -> bool {
    name.ends_with(".jsonl") || name.ends_with(".jsonl.zst")
}

/// Scans a rollout file (`.jsonl`, or `.jsonl.zst` decompressed on the fly).
pub fn scan_file(path: &Path) -> io::Result<RolloutScan> {
    scan_reader(open_rollout(path)?)
}

/// How many leading events of a fork are its parent's replayed history.
///
/// A forked rollout starts by replaying the parent's items. When the parent's
/// events up to the fork instant are known, the child's leading events that
/// match them one for one are the replay; otherwise (parent unavailable or
/// rewritten) a dense burst at the start — consecutive events at most
/// [`FORK_BURST_PAUSE_MS`] apart — is taken as the replay, the way ccusage does.
pub fn replayed_prefix_len(child: &[UsageEvent], parent_prefix: Option<&[Usage]>) -> usize {
    if let Some(prefix) = parent_prefix {
        let n = child
            .iter()
            .zip(prefix)
            .take_while(|(c, p)| c.usage == **p)
            .count();
        if n > 0 {
            return n;
        }
    }
    let mut burst = ForkBurst::default();
    for ev in child {
        if burst.push(ev.ts_ms) {
            break;
        }
    }
    burst.len()
}

/// The length of the dense burst of events at the start of a rollout
/// (consecutive events at most [`FORK_BURST_PAUSE_MS`] apart, the first two
/// included; 0 when the first two are not), fed one event at a time.
#[derive(Debug, Clone, Copy, Default)]
pub struct ForkBurst {
    /// At least one event was seen.
    started: bool,
    /// The last timestamp inside the burst.
    prev: Option<i64>,
    len: usize,
    done: bool,
}

impl ForkBurst {
    /// Feeds the next event's timestamp; true once the burst is known (later
    /// events cannot change it).
    pub fn push(&mut self, ts_ms: Option<i64>) -> bool {
        if self.done {
            return true;
        }
        let close = |prev: Option<i64>| match (prev, ts_ms) {
            (Some(a), Some(b)) => (0..=FORK_BURST_PAUSE_MS).contains(&b.saturating_sub(a)),
            _ => false,
        };
        if !self.started {
            self.started = true;
            self.prev = ts_ms;
        } else if close(self.prev) {
            self.prev = ts_ms;
            self.len = if self.len == 0 { 2 } else { self.len + 1 };
        } else {
            self.done = true;
        }
        self.done
    }

    /// The burst's length so far (final once [`ForkBurst::push`] said so, or
    /// at the end of the events).
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when there is no burst (yet).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// The parent's usage up to (and including) the fork instant.
pub fn parent_prefix(parent: &RolloutScan, forked_at_ms: Option<i64>) -> Vec<Usage> {
    parent
        .events
        .iter()
        .take_while(|e| match (forked_at_ms, e.ts_ms) {
            (Some(f), Some(t)) => t <= f,
            _ => true,
        })
        .map(|e| e.usage)
        .collect()
}

/// Extracts the session UUID from a rollout file name
/// (`rollout-2026-11-23T20-21-08-<uuid>.jsonl[.zst]`).
pub fn session_id_from_name(name: &str) -> Option<&str> {
    let stem = name
        .strip_suffix(".jsonl.zst")
        .or_else(|| name.strip_suffix(".jsonl"))?;
    let cand = stem.get(stem.len().checked_sub(36)?..)?;
    is_uuid(cand).then_some(cand)
}

/// True for a canonical 8-4-4-4-12 hex UUID.
pub fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// The creation instant encoded in a UUIDv7 session id (Codex's ids are v7).
pub fn uuid_v7_ms(id: &str) -> Option<i64> {
    if !is_uuid(id) || id.as_bytes()[14] != b'7' {
        return None;
    }
    let hex: String = id.chars().filter(|c| *c != '-').take(12).collect();
    i64::from_str_radix(&hex, 16).ok()
}

/// Lists every rollout under `sessions/` and `archived_sessions/` of a Codex home,
/// sorted by path. Unreadable directories are skipped.
pub fn list_rollouts(codex_home: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for sub in ["sessions", "archived_sessions"] {
        walk(&codex_home.join(sub), &mut out, 0);
    }
    out.sort();
    out
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) {
    if depth > 8 {
        return;
    }
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for ent in rd.flatten() {
        let Ok(ft) = ent.file_type() else { continue };
        let path = ent.path();
        if ft.is_dir() {
            walk(&path, out, depth + 1);
        } else if ent.file_name().to_str().is_some_and(is_rollout_name) {
            out.push(path);
        }
    }
}

/// Finds the rollout of `session_id`: first in `sessions/YYYY/MM/DD` (and
/// `archived_sessions/…`) of each hinted day (epoch-day numbers), then the flat
/// `archived_sessions/`, then by walking the whole home.
pub fn find_rollout(codex_home: &Path, session_id: &str, days: &[i64]) -> Option<PathBuf> {
    let sid = session_id.to_ascii_lowercase();
    let matches = |p: &Path| {
        p.file_name()
            .and_then(|n| n.to_str())
            .and_then(session_id_from_name)
            .is_some_and(|id| id.eq_ignore_ascii_case(&sid))
    };
    let in_dir = |dir: &Path| -> Option<PathBuf> {
        let rd = std::fs::read_dir(dir).ok()?;
        let mut hits: Vec<PathBuf> = rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| matches(p))
            .collect();
        hits.sort();
        hits.into_iter().next()
    };
    for root in ["sessions", "archived_sessions"] {
        for &day in days {
            let (y, m, d) = crate::time::civil_from_days(day);
            let dir = codex_home.join(root).join(format!("{y:04}/{m:02}/{d:02}"));
            if let Some(p) = in_dir(&dir) {
                return Some(p);
            }
        }
    }
    if let Some(p) = in_dir(&codex_home.join("archived_sessions")) {
        return Some(p);
    }
    list_rollouts(codex_home).into_iter().find(|p| matches(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TC: &str = r#"{"timestamp":"2026-11-23T20:21:09.178Z","ordinal":12,"type":"event_msg","payload":{"type":"token_count","info":{"total_token_usage":{"input_tokens":5000,"cached_input_tokens":1000,"cache_write_input_tokens":0,"output_tokens":250,"reasoning_output_tokens":50,"total_tokens":5250},"last_token_usage":{"input_tokens":5000,"cached_input_tokens":1000,"cache_write_input_tokens":0,"output_tokens":250,"reasoning_output_tokens":50,"total_tokens":5250},"last_usage_includes_reasoning":false,"model_context_window":258400},"rate_limits":null}}"#;

    fn tc(ts: &str, total: (u64, u64, u64, u64), last: (u64, u64, u64, u64)) -> String {
        format!(
            r#"{{"timestamp":"{ts}","type":"event_msg","payload":{{"type":"token_count","info":{{"total_token_usage":{{"input_tokens":{},"cached_input_tokens":{},"output_tokens":{},"reasoning_output_tokens":{}}},"last_token_usage":{{"input_tokens":{},"cached_input_tokens":{},"output_tokens":{},"reasoning_output_tokens":{}}}}}}}}}"#,
            total.0, total.1, total.2, total.3, last.0, last.1, last.2, last.3
        )
    }

    #[test]
    fn reads_a_real_token_count_line() {
        let s = scan_bytes(TC.as_bytes());
        assert_eq!(s.events.len(), 1);
        assert_eq!(
            s.events[0].usage,
            Usage {
                total_tokens: 5250,
                ..Usage::new(5000, 1000, 250, 50)
            }
        );
        assert_eq!(s.skipped_lines, 0);
    }

    #[test]
    fn null_info_garbage_and_truncation_are_tolerated() {
        let text = format!(
            "{}\nnot json\n{}\n{}\n{}",
            r#"{"timestamp":"2026-11-23T20:21:09Z","type":"event_msg","payload":{"type":"token_count","info":null}}"#,
            r#"{"type":"turn_context","payload":{"model":"gpt-5"}}"#,
            TC,
            &TC[..TC.len() - 20]
        );
        let s = scan_bytes(text.as_bytes());
        assert_eq!(s.events.len(), 1);
        assert_eq!(s.skipped_lines, 2);
        assert_eq!(s.model_of(&s.events[0]), Some("gpt-5"));
    }

    #[test]
    fn repeated_totals_count_once_and_resets_count_last() {
        let text = [
            tc("2026-01-01T00:00:01Z", (100, 10, 5, 1), (100, 10, 5, 1)),
            tc("2026-01-01T00:00:02Z", (100, 10, 5, 1), (100, 10, 5, 1)),
            tc("2026-01-01T00:00:03Z", (300, 30, 15, 3), (200, 20, 10, 2)),
            // context reset: total goes backwards, last still counts
            tc("2026-01-01T00:00:04Z", (50, 0, 5, 0), (50, 0, 5, 0)),
        ]
        .join("\n");
        let s = scan_bytes(text.as_bytes());
        let mut sum = Usage::default();
        s.events.iter().for_each(|e| sum.add(&e.usage));
        assert_eq!(s.events.len(), 3);
        assert_eq!(sum.input_tokens, 350);
        assert_eq!(sum.output_tokens, 20);
    }

    #[test]
    fn pretty_printed_and_reordered_lines() {
        let pretty = "{\n  \"payload\": {\"info\": {\"last_token_usage\": {\"output_tokens\": 7, \"input_tokens\": 70}}, \"type\": \"token_count\"},\n  \"type\": \"event_msg\",\n  \"timestamp\": \"2026-01-01T00:00:00Z\"\n}";
        let s = scan_bytes(pretty.as_bytes());
        assert_eq!(s.events.len(), 1);
        assert_eq!(s.events[0].usage.input_tokens, 70);
        assert_eq!(s.skipped_lines, 0);
    }

    #[test]
    fn session_meta_and_fork() {
        let meta = r#"{"timestamp":"2026-01-01T00:00:00Z","type":"session_meta","payload":{"id":"01a20a11-cee4-7090-bde8-0211b8147f80","forked_from_id":"01a20a11-c891-7691-9716-0a912243e201"}}"#;
        let s = scan_bytes(meta.as_bytes());
        assert_eq!(
            s.session_id.as_deref(),
            Some("01a20a11-cee4-7090-bde8-0211b8147f80")
        );
        assert_eq!(
            s.forked_from_id.as_deref(),
            Some("01a20a11-c891-7691-9716-0a912243e201")
        );
    }

    #[test]
    fn fork_prefix_detection() {
        let ev = |t: i64, n: u64| UsageEvent {
            ts_ms: Some(t),
            usage: Usage::new(n, 0, 1, 0),
            model: None,
        };
        let child = [ev(0, 1), ev(10, 2), ev(20, 3), ev(9_000, 4)];
        // parent known: matching prefix
        let prefix = [Usage::new(1, 0, 1, 0), Usage::new(2, 0, 1, 0)];
        assert_eq!(replayed_prefix_len(&child, Some(&prefix)), 2);
        // parent unknown: the dense burst
        assert_eq!(replayed_prefix_len(&child, None), 3);
        // no burst: a real pause between the first two
        let own = [ev(0, 1), ev(5_000, 2)];
        assert_eq!(replayed_prefix_len(&own, None), 0);
    }

    #[test]
    fn fast_and_serde_paths_agree_on_real_rollouts() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/codex-0.169.0/codex-home/sessions/2026/11/23");
        let mut n = 0;
        for ent in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let bytes = std::fs::read(ent.path()).unwrap_or_default();
            let fast = scan_bytes(&bytes);
            // a leading space defeats every fast path: serde reads each line
            let slow_text: Vec<u8> = bytes
                .split(|&b| b == b'\n')
                .flat_map(|l| [b" ".as_slice(), l, b"\n"].concat())
                .collect();
            let slow = scan_bytes(&slow_text);
            assert_eq!(fast.events, slow.events, "{}", ent.path().display());
            assert_eq!(fast.session_id, slow.session_id);
            assert_eq!(fast.models, slow.models);
            assert!(fast.session_id.is_some());
            n += fast.events.len();
        }
        assert_eq!(n, 18);
    }

    #[test]
    fn lines_longer_than_the_buffer_bound_are_skipped() {
        let big = "x".repeat(MAX_LINE_BYTES + 100);
        let item = format!(
            r#"{{"timestamp":"2026-11-23T20:21:09.000Z","type":"response_item","payload":{{"type":"message","content":"{big}"}}}}"#
        );
        let odd = format!(r#"{{"payload":"{big}"}}"#);
        let a = tc("2026-01-01T00:00:01Z", (100, 10, 5, 1), (100, 10, 5, 1));
        let b = tc("2026-01-01T00:00:02Z", (300, 30, 15, 3), (200, 20, 10, 2));
        let text = format!("{item}\n{a}\n{odd}\n{b}\n{item}");
        let s = scan_reader(text.as_bytes()).unwrap_or_default();
        // the response item is known to be ignorable; the odd line is counted
        assert_eq!(s.events.len(), 2);
        assert_eq!(s.events[1].usage.input_tokens, 200);
        assert_eq!(s.skipped_lines, 1);
    }

    /// Reads at most `n` bytes a call: lines cross every chunk boundary.
    struct Trickle<'a>(&'a [u8], usize);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.1.min(buf.len()).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn event_reader_streams_what_a_whole_scan_sees() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/codex-0.169.0/codex-home/sessions/2026/11/23");
        for ent in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let bytes = std::fs::read(ent.path()).unwrap_or_default();
            let whole = scan_bytes(&bytes);
            for chunk in [1, 7, 4096, usize::MAX] {
                let mut buf = Vec::new();
                let mut rd = EventReader::new(Trickle(&bytes, chunk), &mut buf);
                let mut events = Vec::new();
                while let Ok(Some(ev)) = rd.next_event() {
                    events.push(ev);
                }
                let scan = rd.into_scan();
                assert_eq!(events, whole.events, "{}", ent.path().display());
                assert_eq!(scan.models, whole.models);
                assert_eq!(scan.session_id, whole.session_id);
                assert_eq!(scan.skipped_lines, whole.skipped_lines);
                assert!(scan.events.is_empty());
            }
        }
    }

    #[test]
    fn fork_burst_fed_one_at_a_time() {
        let mut b = ForkBurst::default();
        assert!(b.is_empty());
        assert!(!b.push(Some(0)));
        assert!(!b.push(Some(1_000)));
        assert!(!b.push(Some(1_500)));
        assert!(b.push(Some(2_501)));
        assert_eq!(b.len(), 3);
        // a missing timestamp ends it; a first pause means none
        let mut b = ForkBurst::default();
        b.push(Some(0));
        assert!(b.push(Some(1_001)));
        assert_eq!(b.len(), 0);
        let mut b = ForkBurst::default();
        b.push(None);
        assert!(b.push(Some(0)));
        assert!(b.is_empty());
    }

    #[test]
    fn names_and_uuids() {
        let n = "rollout-2026-11-23T20-21-08-01a20a11-cee4-7090-bde8-0211b8147f80.jsonl.zst";
        assert_eq!(
            session_id_from_name(n),
            Some("01a20a11-cee4-7090-bde8-0211b8147f80")
        );
        let ms = uuid_v7_ms("01a20a11-cee4-7090-bde8-0211b8147f80").unwrap_or_default();
        assert_eq!(crate::time::day_string(ms), "2026-11-23");
    }
}
