//! The serde path: any line the fast path does not take, read with lenient field types
//! (a wrong JSON type is absent, never an error), borrowing from the line.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::{Counts, History, Record, SessionMeta, Sink, TokenInfo, UsageRecord};

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
    fn get(&self) -> Counts {
        Counts {
            input_tokens: self.input_tokens.0,
            cached_input_tokens: self.cached_input_tokens.0,
            output_tokens: self.output_tokens.0,
            reasoning_output_tokens: self.reasoning_output_tokens.0,
            total_tokens: self.total_tokens.0,
        }
    }
}

/// A usage object that tolerates any other JSON type (read as absent): a record's
/// fields, which every line kind the decoder parses shares.
#[derive(Default)]
struct LUsage(Option<RawUsage>);

impl<'de> Deserialize<'de> for LUsage {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LUsage;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, a: A) -> Result<LUsage, A::Error> {
                RawUsage::deserialize(de::value::MapAccessDeserializer::new(a))
                    .map(|u| LUsage(Some(u)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<LUsage, A::Error> {
                while a.next_element::<IgnoredAny>()?.is_some() {}
                Ok(LUsage(None))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<LUsage, D::Error> {
                LUsage::deserialize(d)
            }
            fn visit_none<E: de::Error>(self) -> Result<LUsage, E> {
                Ok(LUsage(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<LUsage, E> {
                Ok(LUsage(None))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<LUsage, E> {
                Ok(LUsage(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<LUsage, E> {
                Ok(LUsage(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<LUsage, E> {
                Ok(LUsage(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<LUsage, E> {
                Ok(LUsage(None))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<LUsage, E> {
                Ok(LUsage(None))
            }
        }
        d.deserialize_any(V)
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
    #[serde(default, borrow)]
    cwd: LStr<'a>,
    #[serde(default, borrow)]
    history_mode: LStr<'a>,
    #[serde(default)]
    subagent_history_start_ordinal: Option<LNum>,
    #[serde(default, borrow)]
    thread_id: LStr<'a>,
    #[serde(default, borrow)]
    response_id: LStr<'a>,
    #[serde(default)]
    usage: LUsage,
    #[serde(default)]
    thread_token_usage: LUsage,
}

#[derive(Deserialize)]
struct RawLine<'a> {
    #[serde(default, borrow)]
    timestamp: LStr<'a>,
    #[serde(rename = "type", default, borrow)]
    kind: LStr<'a>,
    #[serde(default)]
    ordinal: Option<LNum>,
    #[serde(default, borrow)]
    payload: Option<RawPayload<'a>>,
}

/// Reads a wanted line with serde: its record to `sink` (or that it was skipped).
pub(super) fn decode<S: Sink>(line: &[u8], sink: &mut S) {
    let Ok(rec) = serde_json::from_slice::<RawLine<'_>>(line) else {
        sink.skipped();
        return;
    };
    let Some(payload) = rec.payload else { return };
    let ordinal = rec.ordinal.map(|o| o.0);
    let out = match rec.kind.0.as_deref() {
        Some("event_msg") if payload.kind.0.as_deref() == Some("token_count") => {
            Record::TokenCount {
                ts: rec.timestamp.0,
                ordinal,
                info: payload.info.map(|info| TokenInfo {
                    total: info.total_token_usage.as_ref().map(RawUsage::get),
                    last: info.last_token_usage.as_ref().map(RawUsage::get),
                    model: info
                        .model
                        .0
                        .or(payload.model.0)
                        .filter(|m| !m.trim().is_empty())
                        .map(|m| trimmed(m)),
                }),
            }
        }
        Some("event_msg") if payload.kind.0.as_deref() == Some("user_message") => {
            Record::UserMessage { ordinal }
        }
        Some("token_usage_record") => Record::UsageRecord(UsageRecord {
            ordinal,
            thread_id: payload.thread_id.0,
            response_id: payload.response_id.0,
            usage: payload.usage.0.as_ref().map(RawUsage::get),
            thread_total: payload.thread_token_usage.0.as_ref().map(RawUsage::get),
        }),
        Some("turn_context") => match payload.model.0.filter(|m| !m.trim().is_empty()) {
            Some(m) => Record::TurnContext { model: trimmed(m) },
            None => return,
        },
        Some("session_meta") if sink.wants_session_meta() => {
            let forked_from_id = payload.forked_from_id.0.filter(|s| !s.is_empty());
            // a fork's only: a session that forked nothing holds no one else's lines
            let history = forked_from_id.is_some().then(|| History {
                paginated: payload.history_mode.0.as_deref() == Some("paginated"),
                start_ordinal: payload.subagent_history_start_ordinal.map(|o| o.0),
            });
            Record::SessionMeta(SessionMeta {
                ts: rec.timestamp.0,
                id: payload.id.0.or(payload.session_id.0),
                forked_from_id,
                history,
                cli_version: super::fast::cli_version(line),
                cwd: payload.cwd.0.filter(|s| !s.is_empty()),
            })
        }
        _ => return,
    };
    sink.record(out);
}

/// `s` without surrounding whitespace, borrowed when it was.
fn trimmed(s: Cow<'_, str>) -> Cow<'_, str> {
    match s {
        Cow::Borrowed(b) => Cow::Borrowed(b.trim()),
        Cow::Owned(o) if o.trim().len() == o.len() => Cow::Owned(o),
        Cow::Owned(o) => Cow::Owned(o.trim().to_owned()),
    }
}
