//! Reading the top-level fields of a JSON object from a *prefix* of its text.
//!
//! This file exists for JSON lines too long to keep whole (see `line::MAX_JSON_LINE`):
//! a `session_meta` rollout line carries the base instructions and can grow without
//! bound, but its `payload.id` comes in the first few hundred bytes. The walker reads
//! the top-level keys in order, descends one level into `msg` and `payload`, skips every
//! other value without building it (strings with escapes, nested arrays/objects), and
//! stops quietly where the text ends or stops being JSON. Fields it could not finish
//! reading stay unset, so a truncated line only ever yields an id that was complete.

use crate::line::Fields;

/// Walks the top-level object at the start of `text`.
pub(crate) fn walk(text: &[u8]) -> Fields {
    let mut fields = Fields::default();
    let mut w = Walker { s: text, i: 0 };
    let _ = w.object(Ctx::Top, &mut fields);
    fields
}

/// Which object the walker is in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Top,
    Msg,
    Payload,
}

struct Walker<'a> {
    s: &'a [u8],
    i: usize,
}

/// `None` = the text ended or is not JSON here: stop.
type Step<T> = Option<T>;

impl Walker<'_> {
    fn ws(&mut self) {
        while matches!(self.s.get(self.i), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.i += 1;
        }
    }

    fn eat(&mut self, b: u8) -> Step<()> {
        self.ws();
        (*self.s.get(self.i)? == b).then(|| self.i += 1)
    }

    /// An object: the top level, or `msg`/`payload` inside it.
    fn object(&mut self, ctx: Ctx, fields: &mut Fields) -> Step<()> {
        self.eat(b'{')?;
        self.ws();
        if self.s.get(self.i) == Some(&b'}') {
            self.i += 1;
            return Some(());
        }
        loop {
            self.ws();
            let key = self.string()?;
            self.eat(b':')?;
            self.ws();
            let slot: Option<&mut Option<String>> = match (ctx, key.as_str()) {
                (Ctx::Top, "type") => Some(&mut fields.kind),
                (Ctx::Top, "thread_id") => Some(&mut fields.thread_id),
                (Ctx::Msg, "type") => Some(&mut fields.msg_kind),
                (Ctx::Msg, "session_id") => Some(&mut fields.msg_session_id),
                (Ctx::Payload, "id") => Some(&mut fields.payload_id),
                (Ctx::Payload, "session_id") => Some(&mut fields.payload_session_id),
                _ => None,
            };
            match slot {
                Some(slot) if self.s.get(self.i) == Some(&b'"') => {
                    let value = self.string()?;
                    if slot.is_some() {
                        // duplicate key: serde_json would reject the line; so do we
                        *fields = Fields::default();
                        return None;
                    }
                    *slot = Some(value);
                }
                _ if ctx == Ctx::Top && key == "msg" && self.s.get(self.i) == Some(&b'{') => {
                    self.object(Ctx::Msg, fields)?;
                }
                _ if ctx == Ctx::Top && key == "payload" && self.s.get(self.i) == Some(&b'{') => {
                    self.object(Ctx::Payload, fields)?;
                }
                _ => self.skip_value()?,
            }
            self.ws();
            match *self.s.get(self.i)? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// A string (the cursor is on its opening quote); escapes decoded as far as ids need.
    fn string(&mut self) -> Step<String> {
        self.eat(b'"')?;
        let mut out = Vec::new();
        loop {
            let b = *self.s.get(self.i)?;
            self.i += 1;
            match b {
                b'"' => return Some(String::from_utf8_lossy(&out).into_owned()),
                b'\\' => {
                    let e = *self.s.get(self.i)?;
                    self.i += 1;
                    match e {
                        b'u' => {
                            let hex = self.s.get(self.i..self.i + 4)?;
                            self.i += 4;
                            let code =
                                u32::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
                            let c = char::from_u32(code).unwrap_or('\u{fffd}');
                            out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                        }
                        b'n' => out.push(b'\n'),
                        b't' => out.push(b'\t'),
                        b'r' => out.push(b'\r'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        other => out.push(other),
                    }
                }
                // keep the key/value small: ids and types are short
                _ if out.len() < 256 => out.push(b),
                _ => {}
            }
        }
    }

    /// Skips any value without keeping it.
    fn skip_value(&mut self) -> Step<()> {
        self.ws();
        match *self.s.get(self.i)? {
            b'"' => self.skip_string(),
            b'{' | b'[' => {
                let mut depth = 0usize;
                loop {
                    let b = *self.s.get(self.i)?;
                    match b {
                        b'"' => {
                            self.skip_string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                self.i += 1;
                                return Some(());
                            }
                        }
                        _ => {}
                    }
                    self.i += 1;
                }
            }
            _ => {
                // number, true, false, null
                while let Some(b) = self.s.get(self.i) {
                    if matches!(b, b',' | b'}' | b']') || b.is_ascii_whitespace() {
                        return Some(());
                    }
                    self.i += 1;
                }
                None
            }
        }
    }

    fn skip_string(&mut self) -> Step<()> {
        self.i += 1; // opening quote
        loop {
            let rest = self.s.get(self.i..)?;
            let at = memchr::memchr2(b'"', b'\\', rest)?;
            self.i += at + 1;
            if rest[at] == b'"' {
                return Some(());
            }
            self.i += 1; // the escaped byte
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "01a20a11-c891-7691-9716-0a912243e201";

    #[test]
    fn reads_top_level_and_one_level_down() {
        let f = walk(
            format!(
                r#"{{"timestamp":"t","n":[1,{{"a":"}}"}}],"type":"session_meta","payload":{{"x":{{"id":"no"}},"id":"{ID}","base":"aaa"#
            )
            .as_bytes(),
        );
        assert_eq!(f.kind.as_deref(), Some("session_meta"));
        assert_eq!(f.payload_id.as_deref(), Some(ID));
    }

    #[test]
    fn nested_type_does_not_count() {
        let f = walk(
            format!(r#"{{"item":{{"type":"thread.started","thread_id":"{ID}"}},"type":"x"}}"#)
                .as_bytes(),
        );
        assert_eq!(f.kind.as_deref(), Some("x"));
        assert_eq!(f.thread_id, None);
    }

    #[test]
    fn truncated_value_is_not_used() {
        let f = walk(format!(r#"{{"type":"thread.started","thread_id":"{}"#, &ID[..20]).as_bytes());
        assert_eq!(f.thread_id, None);
    }

    #[test]
    fn garbage_never_panics() {
        for text in [
            &b""[..],
            b"{",
            b"{\"",
            b"{\"a\\",
            b"}}}",
            b"{\"a\":[[[",
            b"{\"\\u12",
        ] {
            let _ = walk(text);
        }
    }
}
