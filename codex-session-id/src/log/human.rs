//! The human transcript's lines that other tools read: the banner `OpenAI Codex v…` and
//! its version, the header's fences and `model:`, `ERROR:` lines, and the usage line
//! `tokens used`, as every version printed it.
//!
//! Why it exists apart: both codex-summarize (how many tokens, which version and model)
//! and codex-spawn (did the turn complete) read these, and `tokens used` has more shapes
//! than it seems:
//! - before 0.44, one line: `[2025-09-01T12:00:00] tokens used: 870` (or `1,700`);
//! - from 0.44, two lines: `tokens used`, then the number (`1,700`) on the next one;
//! - in a log where stdout and stderr were merged (CI, `2>&1`), stdout's copy of the final
//!   message can land between the two lines: `tokens used`, the message, then the number.
//!
//! [`TokensUsed`] reads [`plain`](crate::text::plain) lines (a CI timestamp,
//! colours and `←` escapes already set aside) and reports each reading. For the
//! separated form, a number line of the repeated message is told from the real one by
//! the agent's message itself: the lines of the last `codex` section that were bare
//! numbers are skipped, once each, before a number counts.

use crate::codex_version::Version;

use crate::text::strip_stamp;

/// The label of the human transcript's usage line (messages about it name it so).
pub const TOKENS_USED: &str = "tokens used";

/// The banner that opens a human transcript's header.
const BANNER: &[u8] = b"OpenAI Codex v";

/// Where `text` (a [`plain`](crate::text::plain) line, its `[timestamp] ` set aside or
/// not) holds the banner `OpenAI Codex v…`: the text from the banner on.
pub fn find_banner(text: &[u8]) -> Option<&[u8]> {
    memchr::memmem::find(text, BANNER).map(|i| &text[i..])
}

/// Whether `text` (a plain line without its `[timestamp] `) is the banner.
pub fn is_banner(text: &[u8]) -> bool {
    text.starts_with(BANNER)
}

/// The version a line names: the human banner (`OpenAI Codex v0.42.0 (research
/// preview)`, maybe after a `[timestamp] `) or `codex --version`'s output
/// (`codex-cli 0.169.0`).
pub fn version_in(line: &str) -> Option<Version> {
    let l = line.trim();
    let rest = match l.strip_prefix("codex-cli ") {
        Some(rest) => rest,
        None => std::str::from_utf8(&find_banner(l.as_bytes())?[BANNER.len()..]).ok()?,
    };
    rest.split_whitespace().next()?.parse().ok()
}

/// Whether `text` (a plain line) is a header's fence, `--------`.
pub fn is_fence(text: &[u8]) -> bool {
    text.len() >= 8 && text.iter().all(|&b| b == b'-')
}

/// The model a header's `model: …` line names (any case), trimmed; `None` for another
/// line.
pub fn model_line(text: &[u8]) -> Option<&[u8]> {
    strip_prefix_ci(text, b"model:").map(<[u8]>::trim_ascii)
}

/// The message of an `ERROR: …` line (a plain line without its `[timestamp] `), trimmed.
pub fn error_line(text: &[u8]) -> Option<&[u8]> {
    text.strip_prefix(b"ERROR:").map(<[u8]>::trim_ascii)
}

/// How many lines after `tokens used` its number is looked for (stdout's copy of the
/// final message may come between).
pub const MAX_SEPARATION: u32 = 4096;

/// Bare-number lines of the agent's last message that are remembered; after a message
/// with more, only an adjacent number counts (a separated reading is then unknown,
/// never wrong).
const MAX_AGENT_NUMBERS: usize = 1024;

/// One `tokens used` reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// `tokens used: N` on one line (codex before 0.44).
    OneLine(u64),
    /// `tokens used`, then `N` on a later line (0.44 on).
    TwoLine(u64),
}

impl Reading {
    /// The number read.
    pub fn value(self) -> u64 {
        match self {
            Reading::OneLine(n) | Reading::TwoLine(n) => n,
        }
    }
}

impl Default for TokensUsed {
    fn default() -> Self {
        TokensUsed::new()
    }
}

/// The streaming reader of `tokens used` (see the module docs).
#[derive(Debug, Clone)]
pub struct TokensUsed {
    /// After a `tokens used` label: how many non-blank lines since, and the agent's
    /// numbers still to skip (`None`: too many to know).
    awaiting: Option<(u32, Option<Vec<u64>>)>,
    /// Inside a `codex` section: its bare numbers (`None`: too many).
    in_agent: bool,
    agent_numbers: Option<Vec<u64>>,
}

impl TokensUsed {
    /// A reader at the start of a transcript.
    pub fn new() -> TokensUsed {
        TokensUsed {
            awaiting: None,
            in_agent: false,
            agent_numbers: Some(Vec::new()),
        }
    }

    /// Feeds one plain line; a reading when the line completes one.
    pub fn line(&mut self, plain: &[u8]) -> Option<Reading> {
        if plain.is_empty() {
            return None;
        }
        let text = strip_stamp(plain).unwrap_or(plain);
        let number = parse_count(text);
        if let Some((seen, skip)) = &mut self.awaiting {
            match number {
                Some(n) if *seen == 0 => {
                    self.awaiting = None;
                    return Some(Reading::TwoLine(n));
                }
                Some(n) => {
                    if let Some(skip) = skip {
                        if let Some(i) = skip.iter().position(|s| *s == n) {
                            skip.swap_remove(i);
                        } else {
                            self.awaiting = None;
                            return Some(Reading::TwoLine(n));
                        }
                    }
                }
                None if is_section(text) => self.awaiting = None,
                None => {}
            }
            if let Some((seen, _)) = &mut self.awaiting {
                *seen += 1;
                if *seen > MAX_SEPARATION {
                    self.awaiting = None;
                }
            }
            return None;
        }
        if text.eq_ignore_ascii_case(TOKENS_USED.as_bytes()) {
            self.in_agent = false;
            let numbers = self.agent_numbers.replace(Vec::new());
            self.awaiting = Some((0, numbers));
            return None;
        }
        if let Some(rest) = strip_prefix_ci(text, b"tokens used:") {
            self.in_agent = false;
            self.agent_numbers = Some(Vec::new());
            return parse_count(rest.trim_ascii()).map(Reading::OneLine);
        }
        if is_section(text) {
            self.in_agent = text == b"codex";
            self.agent_numbers = Some(Vec::new());
        } else if let Some(n) = number.filter(|_| self.in_agent) {
            if let Some(list) = &mut self.agent_numbers {
                if list.len() < MAX_AGENT_NUMBERS {
                    list.push(n);
                } else {
                    self.agent_numbers = None;
                }
            }
        }
        None
    }
}

/// A section mark of the transcript (after its stamp): `user`, `codex`, `thinking`,
/// `exec`, and before 0.44 `User instructions:` and `exec <command>`.
fn is_section(text: &[u8]) -> bool {
    matches!(
        text,
        b"user" | b"codex" | b"thinking" | b"exec" | b"User instructions:"
    ) || text.starts_with(b"exec ")
        || is_banner(text)
}

/// `1,700`, `1700`, `1 700`, `1_700`: a count (digits, maybe grouped).
pub fn parse_count(text: &[u8]) -> Option<u64> {
    if !text.first().is_some_and(u8::is_ascii_digit)
        || !text.last().is_some_and(u8::is_ascii_digit)
        || !text
            .iter()
            .all(|c| c.is_ascii_digit() || matches!(c, b',' | b'_' | b' '))
    {
        return None;
    }
    let mut n: u64 = 0;
    for &c in text.iter().filter(|c| c.is_ascii_digit()) {
        n = n.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(n)
}

/// `text` without `prefix`, compared ignoring ASCII case.
fn strip_prefix_ci<'a>(text: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn readings(text: &str) -> Vec<Reading> {
        let mut t = TokensUsed::new();
        text.lines()
            .filter_map(|l| t.line(&crate::text::plain(l.as_bytes())))
            .collect()
    }

    #[test]
    fn every_shape_is_read() {
        assert_eq!(
            readings("[2025-10-28T18:18:30] tokens used: 2800"),
            [Reading::OneLine(2800)]
        );
        assert_eq!(
            readings("[2025-10-11T20:54:07] tokens used: 4,274\n"),
            [Reading::OneLine(4274)]
        );
        assert_eq!(
            readings("codex\nhi\ntokens used\n\n1,700\nhi\n"),
            [Reading::TwoLine(1700)]
        );
        // stdout's copy of the message between the label and its number
        assert_eq!(
            readings("codex\n{\"a\":1}\ntokens used\n{\"a\":1}\n51,841\n"),
            [Reading::TwoLine(51841)]
        );
        // ... and a message with bare numbers in it: those are skipped
        assert_eq!(
            readings("codex\nThe answer:\n42\n7\ntokens used\nThe answer:\n42\n7\n1,234\n"),
            [Reading::TwoLine(1234)]
        );
        // adjacent, then the message with its numbers: the first one counts
        assert_eq!(
            readings("codex\n42\ntokens used\n1,234\n42\n"),
            [Reading::TwoLine(1234)]
        );
        // no number before the next section: none
        assert_eq!(readings("tokens used\nhello\ncodex\n9\n"), []);
        assert_eq!(readings("tokens used: many"), []);
        assert_eq!(parse_count(b"1,,"), None);
        assert_eq!(parse_count(b"99999999999999999999999"), None);
    }

    /// (Moved from codex-meta's `codex_version`, whose `Version::from_banner` this was.)
    #[test]
    fn versions_parse_from_banners_and_version_output() {
        assert_eq!(version_in("codex-cli 0.171.0"), Some(Version(0, 171, 0)));
        assert_eq!(
            version_in("[2026-12-01T08:09:42] OpenAI Codex v0.36.0 (research preview)"),
            Some(Version(0, 36, 0))
        );
        assert_eq!(
            version_in("OpenAI Codex v0.169.0"),
            Some(Version(0, 169, 0))
        );
        assert_eq!(version_in("hello"), None);
    }

    #[test]
    fn header_lines() {
        assert_eq!(
            find_banner(b"x OpenAI Codex v1"),
            Some(&b"OpenAI Codex v1"[..])
        );
        assert!(is_fence(b"--------") && !is_fence(b"-------"));
        assert_eq!(model_line(b"Model:  gpt-5 "), Some(&b"gpt-5"[..]));
        assert_eq!(error_line(b"ERROR: boom "), Some(&b"boom"[..]));
        assert_eq!(error_line(b"error: boom"), None);
    }
}
