//! The hand-written fast path: the hot line kinds in the exact compact shape codex
//! writes them (`{"timestamp":"…","ordinal":N,"type":"…","payload":{…}}`), read from
//! their bytes without a JSON parser. Anything else — another shape, an escape, a key
//! twice — is left to serde ([`super::lenient`]), which reads the same records.

use std::borrow::Cow;
use std::sync::LazyLock;

use memchr::memmem::Finder;

use super::{Counts, History, Record, SessionMeta, TokenInfo, UsageRecord};

static TURN_CONTEXT_TYPE: LazyLock<Finder<'static>> =
    LazyLock::new(|| Finder::new(b"\"type\":\"turn_context\""));
pub(super) static SESSION_META_TYPE: LazyLock<Finder<'static>> =
    LazyLock::new(|| Finder::new(b"\"type\":\"session_meta\",\"payload\":{"));
static TOKEN_COUNT_TYPE: LazyLock<Finder<'static>> =
    LazyLock::new(|| Finder::new(b"\"payload\":{\"type\":\"token_count\""));
static RECORD_TYPE: LazyLock<Finder<'static>> =
    LazyLock::new(|| Finder::new(b"\"type\":\"token_usage_record\""));
static ID_KEY: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"id\":\""));
static MODEL_KEY: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"model\":"));
static MODEL_STR_KEY: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"model\":\""));
static INFO_NULL: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"info\":null"));
static TOTAL_KEY: LazyLock<Finder<'static>> =
    LazyLock::new(|| Finder::new(b"\"total_token_usage\":{"));
static LAST_KEY: LazyLock<Finder<'static>> =
    LazyLock::new(|| Finder::new(b"\"last_token_usage\":{"));
static THREAD_ID_KEY: LazyLock<Finder<'static>> =
    LazyLock::new(|| Finder::new(b"\"thread_id\":\""));
static RESPONSE_ID_KEY: LazyLock<Finder<'static>> =
    LazyLock::new(|| Finder::new(b"\"response_id\":\""));
static USAGE_KEY: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"usage\":{"));
static THREAD_USAGE_KEY: LazyLock<Finder<'static>> =
    LazyLock::new(|| Finder::new(b"\"thread_token_usage\":{"));
static FORKED_KEY: LazyLock<Finder<'static>> =
    LazyLock::new(|| Finder::new(b"\"forked_from_id\":"));
static HISTORY_MODE_KEY: LazyLock<Finder<'static>> =
    LazyLock::new(|| Finder::new(b"\"history_mode\":"));
static HISTORY_START_KEY: LazyLock<Finder<'static>> =
    LazyLock::new(|| Finder::new(b"\"subagent_history_start_ordinal\":"));

/// A wanted compact line, hand-parsed: `Some(Some(record))`, `Some(None)` when it says
/// nothing (a `token_count` with null info), `None` when serde must read it.
pub(super) fn decode(line: &[u8]) -> Option<Option<Record<'_>>> {
    const TS: &[u8] = b"{\"timestamp\":\"";
    if !line.starts_with(TS) {
        return None;
    }
    let ts_end = memchr::memchr(b'"', &line[TS.len()..])?;
    let ts = std::str::from_utf8(&line[TS.len()..TS.len() + ts_end]).ok();
    let head = &line[..line.len().min(192)];
    if TURN_CONTEXT_TYPE.find(head).is_some() {
        let model = Cow::Borrowed(model(line)?);
        return Some(Some(Record::TurnContext { model }));
    }
    if SESSION_META_TYPE.find(head).is_some() {
        return session_meta(line, ts).map(|m| Some(Record::SessionMeta(m)));
    }
    let ordinal = ordinal(line, TS.len() + ts_end + 1);
    if TOKEN_COUNT_TYPE.find(head).is_none() {
        RECORD_TYPE.find(head)?;
        return record(line, ordinal).map(|r| Some(Record::UsageRecord(r)));
    }
    if MODEL_KEY.find(line).is_some() {
        return None;
    }
    if INFO_NULL.find(line).is_some() {
        return Some(None);
    }
    let total = match TOTAL_KEY.find(line) {
        Some(i) => Some(flat_usage(&line[i + TOTAL_KEY.needle().len()..])?),
        None => None,
    };
    let last = match LAST_KEY.find(line) {
        Some(i) => Some(flat_usage(&line[i + LAST_KEY.needle().len()..])?),
        None => None,
    };
    if total.is_none() && last.is_none() {
        return None;
    }
    Some(Some(Record::TokenCount {
        ts: ts.map(Cow::Borrowed),
        ordinal,
        info: Some(TokenInfo {
            total,
            last,
            model: None,
        }),
    }))
}

/// `session_meta`: the top-level `payload.id` (the first `"id":"` before any nested
/// object) and `forked_from_id`, without parsing the instructions.
fn session_meta<'a>(line: &'a [u8], ts: Option<&'a str>) -> Option<SessionMeta<'a>> {
    let p = SESSION_META_TYPE.find(line)?;
    let body = &line[p + SESSION_META_TYPE.needle().len()..];
    let i = ID_KEY.find(body)?;
    if memchr::memchr(b'{', &body[..i]).is_some() {
        return None;
    }
    let v = &body[i + ID_KEY.needle().len()..];
    let id = v.get(..36).and_then(|b| std::str::from_utf8(b).ok())?;
    if !is_uuid(id) || v.get(36) != Some(&b'"') {
        return None;
    }
    let forked = forked(body)?;
    let history = match forked {
        Some(_) => history(body)?,
        None => History::default(),
    };
    Some(SessionMeta {
        ts: ts.map(Cow::Borrowed),
        id: Some(Cow::Borrowed(id)),
        forked_from_id: forked.map(Cow::Borrowed),
        history: Some(history),
        cli_version: cli_version(line),
        cwd: cwd(body),
    })
}

/// `"cwd":"…"` of a `session_meta` payload (it comes before the instructions and any
/// nested object: a `"cwd":"` inside a string would be escaped), unescaped; `None` when
/// absent, empty or not a complete JSON string.
fn cwd(body: &[u8]) -> Option<Cow<'_, str>> {
    const KEY: &[u8] = b"\"cwd\":\"";
    let start = memchr::memmem::find(body, KEY)? + KEY.len();
    let rest = &body[start..];
    let mut at = 0;
    let mut escaped = false;
    let end = loop {
        let k = at + memchr::memchr2(b'"', b'\\', rest.get(at..)?)?;
        if rest[k] == b'"' {
            break k;
        }
        escaped = true;
        at = k + 2;
    };
    let text = if escaped {
        // the quoted string, quotes included, through the JSON decoder
        Cow::Owned(serde_json::from_slice::<String>(&body[start - 1..=start + end]).ok()?)
    } else {
        Cow::Borrowed(std::str::from_utf8(&rest[..end]).ok()?)
    };
    (!text.is_empty()).then_some(text)
}

fn is_uuid(s: &str) -> bool {
    crate::Uuid::parse(s.as_bytes()).is_some()
}

/// `"cli_version":"0.47.0"` in a `session_meta` line.
pub(super) fn cli_version(line: &[u8]) -> Option<&str> {
    const KEY: &[u8] = b"\"cli_version\":\"";
    let i = memchr::memmem::find(line, KEY)?;
    let rest = &line[i + KEY.len()..];
    let end = memchr::memchr(b'"', rest)?;
    std::str::from_utf8(&rest[..end]).ok()
}

/// The value of every `"model":"…"` in a line, when they are all the same
/// (then the top-level one is that too).
fn model(line: &[u8]) -> Option<&str> {
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
pub(super) fn flat_usage(b: &[u8]) -> Option<Counts> {
    let mut u = Counts::default();
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
    Some(u)
}

/// A `token_usage_record` in the shape codex writes it (its `thread_id` the payload's
/// first key): `None` when it is not, for serde to read.
fn record(line: &[u8], ordinal: Option<u64>) -> Option<UsageRecord<'_>> {
    const PAYLOAD: &[u8] = b"\"payload\":{";
    let p = memchr::memmem::find(line, PAYLOAD)?;
    let body = &line[p + PAYLOAD.len()..];
    let ((at, thread), Some(usage)) = (
        string_at(body, &THREAD_ID_KEY)?,
        usage_at(body, &USAGE_KEY)?,
    ) else {
        return None;
    };
    if memchr::memchr(b'{', &body[..at]).is_some() {
        return None;
    }
    let thread_total = match usage_at(body, &THREAD_USAGE_KEY) {
        Some(None) => return None,
        Some(Some(u)) => Some(u),
        None => None,
    };
    let response = string_at(body, &RESPONSE_ID_KEY).map(|(_, r)| Cow::Borrowed(r));
    Some(UsageRecord {
        ordinal,
        thread_id: Some(Cow::Borrowed(thread)),
        response_id: response,
        usage: Some(usage),
        thread_total,
    })
}

/// The first `"key":"value"` of `f` in `body`: where the key is, and the value (`None`
/// when absent or escaped).
fn string_at<'a>(body: &'a [u8], f: &Finder<'_>) -> Option<(usize, &'a str)> {
    let i = f.find(body)?;
    let v = &body[i + f.needle().len()..];
    let end = memchr::memchr2(b'"', b'\\', v)?;
    if v[end] != b'"' {
        return None;
    }
    Some((i, std::str::from_utf8(&v[..end]).ok()?))
}

/// The first `"key":{…}` of `f` in `body` as usage: `None` when absent, `Some(None)`
/// when not a flat object of counts.
fn usage_at(body: &[u8], f: &Finder<'_>) -> Option<Option<Counts>> {
    f.find(body)
        .map(|i| flat_usage(&body[i + f.needle().len()..]))
}

/// Where the value of `key` begins in `body` (`Some(None)`: no such key); `None` when
/// it appears more than once (then serde reads the line). The line is a `session_meta`
/// (tens of KiB of instructions): one pass over it a key.
fn key_once(body: &[u8], key: &Finder<'_>) -> Option<Option<usize>> {
    let mut it = key.find_iter(body);
    match (it.next(), it.next()) {
        (None, _) => Some(None),
        (Some(i), None) => Some(Some(i + key.needle().len())),
        _ => None,
    }
}

/// `session_meta`'s `forked_from_id` value: `Some(None)` when absent or null, `None` when
/// not plain (then serde reads the line).
pub(super) fn forked(body: &[u8]) -> Option<Option<&str>> {
    let Some(v) = key_once(body, &FORKED_KEY)?.map(|j| &body[j..]) else {
        return Some(None);
    };
    if v.starts_with(b"null") {
        return Some(None);
    }
    match v.get(1..37).and_then(|b| std::str::from_utf8(b).ok()) {
        Some(f) if v[0] == b'"' && is_uuid(f) => Some(Some(f)),
        _ => None,
    }
}

/// A fork's `session_meta`: `history_mode` is `"paginated"`, and its
/// `subagent_history_start_ordinal`; `None` when a key appears twice or the ordinal is
/// not a plain number (then serde reads the line). Read for forks only: the file of a
/// session that forked nothing holds no one else's lines.
pub(super) fn history(body: &[u8]) -> Option<History> {
    let paginated =
        key_once(body, &HISTORY_MODE_KEY)?.is_some_and(|v| body[v..].starts_with(b"\"paginated\""));
    let start = match key_once(body, &HISTORY_START_KEY)? {
        None => None,
        Some(v) if body[v..].starts_with(b"null") => None,
        Some(v) => {
            let digits = body[v..].iter().take_while(|c| c.is_ascii_digit()).count();
            if digits == 0 || !matches!(body.get(v + digits), Some(b',' | b'}')) {
                return None;
            }
            std::str::from_utf8(&body[v..v + digits]).ok()?.parse().ok()
        }
    };
    Some(History {
        paginated,
        start_ordinal: start,
    })
}

/// The `"ordinal":N` right after a compact line's timestamp.
pub(super) fn ordinal(line: &[u8], ts_end: usize) -> Option<u64> {
    const KEY: &[u8] = b",\"ordinal\":";
    let rest = line.get(ts_end..)?.strip_prefix(KEY)?;
    let digits = rest.iter().take_while(|c| c.is_ascii_digit()).count();
    std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
}
