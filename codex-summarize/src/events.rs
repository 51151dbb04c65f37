//! What a codex-spawn log (codex's stdout + stderr) says about usage.
//!
//! Two shapes, possibly mixed in one file:
//! - `codex exec --json` events: `turn.completed` carries
//!   `usage{input_tokens,cached_input_tokens,output_tokens,reasoning_output_tokens}`,
//!   **cumulative for the thread** (a resumed thread reports its old turns too);
//!   `thread.started` names the session.
//! - the human transcript: a `tokens used` line and, on the next line, a
//!   comma-grouped number — the *blended* total (input − cached) + output, also
//!   cumulative for the session. Its input/output split is unknown.

use serde::Deserialize;

use crate::usage::Usage;

/// What was found in a log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogScan {
    /// The session id (`thread.started`, `session_configured`, `session id:` header).
    pub session_id: Option<String>,
    /// The last `turn.completed` usage (cumulative for the thread).
    pub last_turn_usage: Option<Usage>,
    /// How many `turn.completed` events were seen.
    pub turns_completed: u32,
    /// The last `tokens used` number (blended, cumulative for the session).
    pub blended_total: Option<u64>,
    /// The `model:` header line of the human transcript.
    pub model: Option<String>,
}

#[derive(Deserialize)]
struct Ev<'a> {
    #[serde(rename = "type", default, borrow)]
    kind: Option<&'a str>,
    #[serde(default)]
    usage: Option<EvUsage>,
    #[serde(default, borrow)]
    thread_id: Option<&'a str>,
}

#[derive(Deserialize, Default)]
struct EvUsage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    cached_input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
    #[serde(default)]
    reasoning_output_tokens: u64,
}

/// Removes ANSI escape sequences (`ESC [ … letter`) and carriage returns.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for d in chars.by_ref() {
                    if d.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        if c != '\r' {
            out.push(c);
        }
    }
    out
}

/// Parses `1,700` / `1700` / `1 700` into a number.
fn parse_grouped(s: &str) -> Option<u64> {
    let s = s.trim();
    if s.is_empty()
        || !s
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ',' | '_' | ' '))
    {
        return None;
    }
    let digits: String = s.chars().filter(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Scans a log. Never fails: unreadable parts are ignored.
pub fn scan_log(bytes: &[u8]) -> LogScan {
    let text = String::from_utf8_lossy(bytes);
    let mut out = LogScan::default();
    let mut expect_number = false;
    let mut header_lines = 0usize;
    for raw in text.lines() {
        let trimmed = raw.trim();
        if trimmed.starts_with('{') {
            expect_number = false;
            if trimmed.contains("turn.completed")
                || trimmed.contains("thread.started")
                || trimmed.contains("session_configured")
            {
                json_line(trimmed, &mut out);
            }
            continue;
        }
        let line = if trimmed.contains('\u{1b}') {
            strip_ansi(trimmed)
        } else {
            trimmed.to_owned()
        };
        let line = line.trim();
        if expect_number {
            if line.is_empty() {
                continue;
            }
            expect_number = false;
            if let Some(n) = parse_grouped(line) {
                out.blended_total = Some(n);
                continue;
            }
        }
        let lower = line.to_ascii_lowercase();
        if lower == "tokens used" {
            expect_number = true;
        } else if let Some(rest) = lower.strip_prefix("tokens used:") {
            if let Some(n) = parse_grouped(rest) {
                out.blended_total = Some(n);
            }
        } else if header_lines < 64 {
            header_lines += 1;
            if let Some(m) = line.strip_prefix("model:").map(str::trim) {
                if out.model.is_none() && !m.is_empty() {
                    out.model = Some(m.to_owned());
                }
            } else if lower.starts_with("session id:") && out.session_id.is_none() {
                let id = line["session id:".len()..].trim();
                if crate::rollout::is_uuid(id) {
                    out.session_id = Some(id.to_ascii_lowercase());
                }
            }
        }
    }
    out
}

fn json_line(line: &str, out: &mut LogScan) {
    if line.contains("session_configured") {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
            if let Some(id) = v.pointer("/msg/session_id").and_then(|x| x.as_str()) {
                if out.session_id.is_none() && crate::rollout::is_uuid(id) {
                    out.session_id = Some(id.to_ascii_lowercase());
                }
            }
        }
        return;
    }
    let Ok(ev) = serde_json::from_str::<Ev<'_>>(line) else {
        return;
    };
    match ev.kind {
        Some("turn.completed") => {
            if let Some(u) = ev.usage {
                out.turns_completed += 1;
                out.last_turn_usage = Some(
                    Usage::new(
                        u.input_tokens,
                        u.cached_input_tokens,
                        u.output_tokens,
                        u.reasoning_output_tokens,
                    )
                    .normalized(),
                );
            }
        }
        Some("thread.started") => {
            if let Some(id) = ev.thread_id.filter(|id| crate::rollout::is_uuid(id)) {
                if out.session_id.is_none() {
                    out.session_id = Some(id.to_ascii_lowercase());
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_log_blended_total() {
        let s = scan_log(b"model: gpt-5\nsession id: 01a20a11-c891-7691-9716-0a912243e201\ncodex\nhi\ntokens used\n1,700\nhi\n");
        assert_eq!(s.blended_total, Some(1700));
        assert_eq!(s.model.as_deref(), Some("gpt-5"));
        assert_eq!(
            s.session_id.as_deref(),
            Some("01a20a11-c891-7691-9716-0a912243e201")
        );
        assert_eq!(s.last_turn_usage, None);
    }

    #[test]
    fn ansi_header() {
        let s = scan_log(b"\x1b[1mmodel:\x1b[0m gpt-5\r\n\x1b[1mtokens used\x1b[0m\r\n2,100\r\n");
        assert_eq!(s.model.as_deref(), Some("gpt-5"));
        assert_eq!(s.blended_total, Some(2100));
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
