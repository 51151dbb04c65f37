//! The JSON lines of codex's log output, typed: `codex exec --json` events of every
//! version (what each reader needs of them; the session-id events are the
//! [`Scanner`](crate::Scanner)'s, `line.rs`).
//!
//! - From 0.44, JSONL events with a top-level `type`: `thread.started`, `turn.started`,
//!   `item.*`, `turn.completed` (its `usage` is the process's running total;
//!   `reasoning_output_tokens` in it only from 0.100), `turn.failed{error:{message}}`,
//!   `error{message}` (also a retry notice: `Reconnecting... 1/5`).
//! - Before 0.44, the event stream `{"id":"0","msg":{"type":…}}`: `token_count` (up to
//!   0.29 the counters sit flat in `msg` and count one model call; from 0.34 in
//!   `msg.info.total_token_usage`, the process's running total, `info` null before the
//!   first call), `task_complete`, `error{message}`.
//!
//! Only the top-level object's `type` counts (an item's text may quote any event).

use std::borrow::Cow;

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;

use crate::counts::TokenCounts;

/// The `type` of a failed turn's event; the outcome detector names it in its verdict.
pub const TURN_FAILED: &str = "turn.failed";

/// The `type` of a completed turn's event (with the turn's `usage`); the readers name it
/// in their reasons.
pub const TURN_COMPLETED: &str = "turn.completed";

/// One JSON line of codex's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonEvent {
    /// `turn.completed`; its `usage` (`None`: absent or not counters).
    TurnCompleted {
        /// The usage so far.
        usage: Option<TokenCounts>,
    },
    /// `turn.failed`: `error.message` (or `error` as a string).
    TurnFailed {
        /// The message, when there is one.
        message: Option<String>,
    },
    /// `error`: `message`.
    Error {
        /// The message, when there is one.
        message: Option<String>,
    },
    /// Another event of the `--json` stream: `thread.started`, `turn.*`, `item.*`.
    Other,
    /// An event of the stream before 0.44.
    Legacy(LegacyEvent),
}

/// An event of the stream before 0.44 (`{"id":…,"msg":{"type":…}}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegacyEvent {
    /// `token_count`: a model call completed.
    TokenCount {
        /// `info.total_token_usage` (0.34 on): the running total.
        total: Option<TokenCounts>,
        /// The counters flat in `msg` (up to 0.29): this call's.
        flat: TokenCounts,
    },
    /// `task_complete`.
    TaskComplete,
    /// `error`: `message`.
    Error {
        /// The message, when there is one.
        message: Option<String>,
    },
    /// Any other event of that stream.
    Other,
}

/// A `--json` line's head: the bulk of a JSON transcript (items with tool output) is
/// told by it without parsing.
const ITEM_HEAD: &[u8] = br#"{"type":"item."#;

/// The top-level fields read, typed: only what the events need is built (a `Value` of
/// every `turn.completed` line made codex-summarize's scan of a `--json` log 1.8x
/// slower). A line whose fields have other shapes falls back to [`decode_value`].
#[derive(Deserialize)]
struct Raw<'a> {
    #[serde(rename = "type", default, borrow)]
    kind: Option<Cow<'a, str>>,
    /// Whether the line has an `id` (the stream before 0.44), whatever its value.
    #[serde(default, deserialize_with = "present")]
    id: bool,
    #[serde(default)]
    msg: Option<Value>,
    #[serde(default)]
    usage: Option<TokenCounts>,
    #[serde(default)]
    error: Option<Value>,
    #[serde(default, borrow)]
    message: Option<Cow<'a, str>>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    IgnoredAny::deserialize(d).map(|_| true)
}

/// Decodes one line (a [`plain`](crate::text::plain) line starting with `{`); `None`
/// when it is not one of codex's events.
pub fn decode(text: &[u8]) -> Option<JsonEvent> {
    if text.starts_with(ITEM_HEAD) {
        return Some(JsonEvent::Other);
    }
    let Ok(raw) = serde_json::from_slice::<Raw<'_>>(text) else {
        return decode_value(text);
    };
    if let Some(msg) = raw.msg.as_ref().filter(|_| raw.id) {
        return legacy(msg).map(JsonEvent::Legacy);
    }
    event(
        raw.kind.as_deref()?,
        raw.usage,
        raw.error.as_ref(),
        raw.message.map(Cow::into_owned),
    )
}

/// [`decode`] of a line whose fields are not all of the usual shapes (or that is not
/// JSON): read as a `Value`, a field of another shape is as good as none.
fn decode_value(text: &[u8]) -> Option<JsonEvent> {
    let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(text) else {
        return None;
    };
    if let Some(msg) = obj.get("msg").filter(|_| obj.contains_key("id")) {
        return legacy(msg).map(JsonEvent::Legacy);
    }
    event(
        obj.get("type").and_then(Value::as_str)?,
        obj.get("usage")
            .and_then(|u| Option::<TokenCounts>::deserialize(u).ok().flatten()),
        obj.get("error"),
        obj.get("message")
            .and_then(Value::as_str)
            .map(str::to_owned),
    )
}

/// The event of a `--json` line of type `kind`.
fn event(
    kind: &str,
    usage: Option<TokenCounts>,
    error: Option<&Value>,
    message: Option<String>,
) -> Option<JsonEvent> {
    Some(match kind {
        TURN_COMPLETED => JsonEvent::TurnCompleted { usage },
        TURN_FAILED => JsonEvent::TurnFailed {
            message: error
                .and_then(|e| e.get("message").and_then(Value::as_str).or(e.as_str()))
                .map(str::to_owned),
        },
        "error" => JsonEvent::Error { message },
        k if k == "thread.started" || k.starts_with("turn.") || k.starts_with("item.") => {
            JsonEvent::Other
        }
        _ => return None,
    })
}

/// `msg` of the stream before 0.44: only the fields read.
#[derive(Deserialize)]
struct Msg {
    #[serde(default)]
    info: Option<Info>,
    #[serde(flatten)]
    flat: TokenCounts,
}

#[derive(Deserialize)]
struct Info {
    #[serde(default)]
    total_token_usage: Option<TokenCounts>,
}

fn legacy(msg: &Value) -> Option<LegacyEvent> {
    let kind = msg.get("type").and_then(Value::as_str)?;
    Some(match kind {
        "token_count" => match Msg::deserialize(msg) {
            Ok(m) => LegacyEvent::TokenCount {
                total: m.info.and_then(|i| i.total_token_usage),
                flat: m.flat,
            },
            // counters that are not counters: a call, its usage unknown
            Err(_) => LegacyEvent::TokenCount {
                total: None,
                flat: TokenCounts::default(),
            },
        },
        "task_complete" => LegacyEvent::TaskComplete,
        "error" => LegacyEvent::Error {
            message: msg
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_owned),
        },
        _ => LegacyEvent::Other,
    })
}

/// True when a JSON line may carry usage (`turn.completed`, the old stream's
/// `token_count`). Codex's `--json` lines start with their type
/// (`{"type":"item.completed",…`): that head decides without searching the rest, which
/// can be megabytes of output.
pub fn may_carry_usage(line: &[u8]) -> bool {
    const HEAD: &[u8] = b"{\"type\":\"";
    if let Some(rest) = line.strip_prefix(HEAD) {
        if let Some(end) = memchr::memchr(b'"', rest) {
            let kind = &rest[..end];
            if kind == TURN_COMPLETED.as_bytes() {
                return true;
            }
            if kind
                .iter()
                .all(|c| c.is_ascii_alphanumeric() || b"._-".contains(c))
            {
                return false;
            }
        }
    }
    memchr::memmem::find(line, TURN_COMPLETED.as_bytes()).is_some()
        || memchr::memmem::find(line, b"\"token_count\"").is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_of_every_version() {
        let d = |s: &str| decode(s.as_bytes());
        assert_eq!(
            d(r#"{"type":"turn.completed","usage":{"input_tokens":6,"output_tokens":1}}"#),
            Some(JsonEvent::TurnCompleted {
                usage: Some(TokenCounts {
                    input_tokens: Some(6),
                    output_tokens: Some(1),
                    ..TokenCounts::default()
                })
            })
        );
        assert_eq!(
            d(r#"{"type":"turn.completed","usage":{"input_tokens":"x"}}"#),
            Some(JsonEvent::TurnCompleted { usage: None })
        );
        assert_eq!(
            d(r#"{"type":"turn.failed","error":{"message":"boom"}}"#),
            Some(JsonEvent::TurnFailed {
                message: Some("boom".into())
            })
        );
        assert_eq!(
            d(r#"{"type":"thread.started","thread_id":"x"}"#),
            Some(JsonEvent::Other)
        );
        assert_eq!(d(r#"{"type":"agent_message"}"#), None);
        assert_eq!(
            d(r#"{"type":"error","message":7}"#),
            Some(JsonEvent::Error { message: None })
        );
        assert_eq!(
            d(r#"{"type":"turn.failed","error":"x"}"#),
            Some(JsonEvent::TurnFailed {
                message: Some("x".into())
            })
        );
        assert_eq!(d(r#"{"type":7}"#), None);
        assert_eq!(
            d(r#"{"id":null,"msg":{"type":"task_complete"}}"#),
            Some(JsonEvent::Legacy(LegacyEvent::TaskComplete))
        );
        assert_eq!(d("{not json"), None);
        assert_eq!(
            d(r#"{"id":"0","msg":{"type":"token_count","info":null}}"#),
            Some(JsonEvent::Legacy(LegacyEvent::TokenCount {
                total: None,
                flat: TokenCounts::default()
            }))
        );
        assert_eq!(
            d(r#"{"id":"0","msg":{"type":"error","message":"m"}}"#),
            Some(JsonEvent::Legacy(LegacyEvent::Error {
                message: Some("m".into())
            }))
        );
        assert!(may_carry_usage(br#"{"type":"turn.completed"}"#));
        assert!(!may_carry_usage(
            br#"{"type":"item.completed","text":"turn.completed"}"#
        ));
        assert!(may_carry_usage(
            br#"{"id":"0","msg":{"type":"token_count"}}"#
        ));
    }
}
