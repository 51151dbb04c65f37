//! Parsing a rollout's lines: lenient field types (a wrong JSON type is absent, never an
//! error), the borrowed raw line shapes, and the line-by-line [`Scanner`] that turns the
//! lines it cares about into usage events, the model and the session ids.

use super::*;

// ---- lenient field types: a wrong JSON type yields None, never an error ----

/// A string field that tolerates any other JSON type (read as absent).
#[derive(Debug, Default)]
pub(super) struct LStr<'a>(pub(super) Option<Cow<'a, str>>);

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
pub(super) struct LNum(u64);

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
pub(super) struct RawUsage {
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
    pub(super) fn get(&self) -> Usage {
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
pub(super) struct RawInfo<'a> {
    #[serde(default)]
    total_token_usage: Option<RawUsage>,
    #[serde(default)]
    last_token_usage: Option<RawUsage>,
    #[serde(default, borrow)]
    model: LStr<'a>,
}

#[derive(Deserialize)]
pub(super) struct RawPayload<'a> {
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
    #[serde(default, borrow)]
    history_mode: LStr<'a>,
    #[serde(default)]
    subagent_history_start_ordinal: Option<LNum>,
    #[serde(default, borrow)]
    pub(super) thread_id: LStr<'a>,
    #[serde(default, borrow)]
    pub(super) response_id: LStr<'a>,
    #[serde(default)]
    pub(super) usage: LUsage,
    #[serde(default)]
    pub(super) thread_token_usage: LUsage,
}

#[derive(Deserialize)]
pub(super) struct RawLine<'a> {
    #[serde(default, borrow)]
    timestamp: LStr<'a>,
    #[serde(rename = "type", default, borrow)]
    kind: LStr<'a>,
    #[serde(default)]
    ordinal: Option<LNum>,
    #[serde(default, borrow)]
    payload: Option<RawPayload<'a>>,
}

/// Incremental state of one scan.
#[derive(Default)]
pub(super) struct Scanner {
    pub(super) scan: RolloutScan,
    pub(super) current_model: Option<u32>,
    pending: Vec<u8>,
    /// Which `token_count`s are this session's own calls.
    pub(super) own: OwnCalls,
}

pub(super) enum Wanted {
    No,
    Yes,
}

impl Scanner {
    pub(super) fn wanted(&self, line: &[u8]) -> Wanted {
        if let Some(w) = self.wanted_compact(line) {
            return w;
        }
        if TOKEN_COUNT.find(line).is_some()
            || TURN_CONTEXT.find(line).is_some()
            || USER_MESSAGE.find(line).is_some()
            || RECORD.find(line).is_some()
        {
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
    pub(super) fn wanted_compact(&self, line: &[u8]) -> Option<Wanted> {
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
            return Some(
                if v.starts_with(b"token_count\"") || v.starts_with(b"user_message\"") {
                    Wanted::Yes
                } else {
                    Wanted::No
                },
            );
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
        if rest.starts_with(b"token_usage_record\"") {
            return Some(Wanted::Yes);
        }
        // any other top-level type (response_item, world_state, compacted, ...)
        let end = memchr::memchr(b'"', rest)?;
        rest[..end]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'_')
            .then_some(Wanted::No)
    }

    /// Feeds one physical line (without its newline).
    pub(super) fn line(&mut self, raw: &[u8]) {
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
    pub(super) fn long_line(&mut self, head: &[u8]) {
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
    pub(super) fn parse_fast(&mut self, line: &[u8]) -> bool {
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
        let ordinal = || fast_ordinal(line, TS.len() + ts_end + 1);
        if TOKEN_COUNT_TYPE.find(head).is_none() {
            return RECORD_TYPE.find(head).is_some() && self.fast_record(line, ordinal());
        }
        if MODEL_KEY.find(line).is_some() {
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
        let ordinal = self.own.inherited_below.and_then(|_| ordinal());
        self.apply_counts(ts_ms, ordinal, total, last, None);
        true
    }

    /// `session_meta`: the top-level `payload.id` (the first `"id":"` before any
    /// nested object) and `forked_from_id`, without parsing the instructions.
    pub(super) fn fast_session_meta(&mut self, line: &[u8], ts: Option<&str>) -> bool {
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
        let Some(forked) = fast_forked(body) else {
            return false;
        };
        let (paginated, start) = match forked {
            Some(_) => match fast_history(body) {
                Some(h) => h,
                None => return false,
            },
            None => (false, None),
        };
        self.scan.session_id = Some(id.to_owned());
        self.scan.forked_from_id = forked;
        self.scan.session_ts_ms = ts.and_then(parse_ts_ms);
        self.scan.history_paginated = paginated;
        self.own.inherited_below = start;
        self.note_cli_version(line);
        true
    }

    /// `"cli_version":"0.47.0"` in a `session_meta` line.
    fn note_cli_version(&mut self, line: &[u8]) {
        const KEY: &[u8] = b"\"cli_version\":\"";
        let Some(i) = memchr::memmem::find(line, KEY) else {
            return;
        };
        let rest = &line[i + KEY.len()..];
        let Some(end) = memchr::memchr(b'"', rest) else {
            return;
        };
        let version = std::str::from_utf8(&rest[..end])
            .ok()
            .and_then(|v| v.parse::<codex_meta::codex_version::Version>().ok());
        self.own.per_process_totals = version.is_some_and(|v| {
            !codex_meta::codex_version::has(
                v,
                codex_meta::codex_version::Fact::ResumeUsageIsCumulative,
            )
        });
    }

    pub(super) fn finish(&mut self) {
        if !self.pending.is_empty() {
            self.pending.clear();
            self.scan.skipped_lines += 1;
        }
    }

    pub(super) fn parse(&mut self, line: &[u8]) {
        let Ok(rec) = serde_json::from_slice::<RawLine<'_>>(line) else {
            self.scan.skipped_lines += 1;
            return;
        };
        let Some(payload) = rec.payload else { return };
        let ordinal = rec.ordinal.map(|o| o.0);
        match rec.kind.0.as_deref() {
            Some("event_msg") if payload.kind.0.as_deref() == Some("token_count") => {
                let ts = rec.timestamp.0.as_deref().and_then(parse_ts_ms);
                self.token_count(ts, ordinal, payload);
            }
            Some("event_msg") if payload.kind.0.as_deref() == Some("user_message") => {
                self.own.user_message(ordinal);
            }
            Some("token_usage_record") => self.record(ordinal, &payload),
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
                self.note_cli_version(line);
                let id = payload.id.0.or(payload.session_id.0);
                self.scan.session_id = id.map(Cow::into_owned);
                self.scan.forked_from_id = payload
                    .forked_from_id
                    .0
                    .filter(|s| !s.is_empty())
                    .map(Cow::into_owned);
                self.scan.session_ts_ms = rec.timestamp.0.as_deref().and_then(parse_ts_ms);
                // a fork's only: a session that forked nothing holds no one else's lines
                if self.scan.forked_from_id.is_some() {
                    self.scan.history_paginated =
                        payload.history_mode.0.as_deref() == Some("paginated");
                    self.own.inherited_below = payload.subagent_history_start_ordinal.map(|o| o.0);
                }
            }
            _ => {}
        }
    }

    /// A `token_count` parsed by serde (see [`OwnCalls::count`] for what it counts).
    pub(super) fn token_count(
        &mut self,
        ts_ms: Option<i64>,
        ordinal: Option<u64>,
        payload: RawPayload<'_>,
    ) {
        let Some(info) = payload.info else { return };
        let total = info.total_token_usage.as_ref().map(RawUsage::get);
        let last = info.last_token_usage.as_ref().map(RawUsage::get);
        let model = info
            .model
            .0
            .or(payload.model.0)
            .filter(|m| !m.trim().is_empty());
        self.apply_counts(ts_ms, ordinal, total, last, model.as_deref().map(str::trim));
    }
}

/// The value of every `"model":"…"` in a line, when they are all the same
/// (then the top-level one is that too).
pub(super) fn fast_model(line: &[u8]) -> Option<&str> {
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
pub(super) fn flat_usage(b: &[u8]) -> Option<Usage> {
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

pub(super) fn trim(b: &[u8]) -> &[u8] {
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
