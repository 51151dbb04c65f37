//! The true outcome of one codex invocation, read from its output.
//!
//! This file exists because codex's exit code does not tell whether its turn worked:
//! `codex exec` exits 0 even when every tool call failed, and a turn can end without a
//! completion. [`Detector`] is fed the same chunks as the session-id scanner (bounded
//! memory: one line of at most [`MAX_LINE`] bytes is carried between chunks; longer lines
//! are skipped) and says at the end whether the output shows a completed turn.
//!
//! # What counts (codex-cli 0.169.0; see `tests/fixtures/codex-0.169.0`)
//!
//! The output's format is decided by its first recognisable line: a top-level JSON event
//! (`thread.started`, `turn.*`, `item.*`, `error` — `--json` mode) or the human header
//! line `OpenAI Codex v…`. Lines end at `\n` or `\r`; blank lines are ignored.
//!
//! JSON mode (only JSONL lines whose top-level `type` is one of these count):
//! - `turn.completed`: a completed turn;
//! - `turn.failed`: the attempt failed (`turn.failed: <error.message>`), whatever follows;
//! - `error`: failed **only when no `turn.completed` follows it** — the CLI prints
//!   `{"type":"error","message":"Reconnecting... 1/5 …"}` for retries that may still
//!   succeed.
//!
//! Human mode (ANSI colour codes are ignored):
//! - a line `tokens used` whose next non-blank line is a number (`1,700`): a completed
//!   turn. What codex prints after it is the final agent message repeated (on stdout), so
//!   nothing after the completion is inspected (an agent message may quote `ERROR:`);
//! - a line starting with `ERROR:`: failed when no completion follows it.
//!
//! Verdict: failed when a `turn.failed` was seen, else when an error was not followed by a
//! completed turn, else when no turn completed at all (`no completed turn in codex's
//! output`); otherwise completed. Output in neither format (an older CLI) therefore
//! never counts as completed.

use serde_json::Value;

/// The longest line the detector keeps; longer lines are skipped (the events that count
/// are far shorter).
pub const MAX_LINE: usize = 64 * 1024;

/// How much of an error message goes into the verdict.
const MAX_MESSAGE: usize = 300;

/// The reason given when no turn completed.
pub const NO_COMPLETED_TURN: &str = "no completed turn in codex's output";

/// Which format codex's output is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Not known yet.
    Unknown,
    /// The human transcript (header on stderr, `tokens used` at the end).
    Human,
    /// `--json`: JSONL events.
    Json,
}

/// What the output says about the attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A turn completed (and no failure is pending).
    Completed,
    /// Not a success; the reason for the meta's `outcome_reason`.
    Failed(String),
}

/// The streaming detector (see the module docs).
#[derive(Debug)]
pub struct Detector {
    line: Vec<u8>,
    overflow: bool,
    format: Format,
    completed: bool,
    turn_failed: Option<String>,
    pending_error: Option<String>,
    after_tokens_used: bool,
    /// Human mode after the completion: the rest is the final message, not inspected.
    done: bool,
}

impl Default for Detector {
    fn default() -> Self {
        Detector::new()
    }
}

impl Detector {
    /// A detector for a new attempt.
    pub fn new() -> Detector {
        Detector {
            line: Vec::new(),
            overflow: false,
            format: Format::Unknown,
            completed: false,
            turn_failed: None,
            pending_error: None,
            after_tokens_used: false,
            done: false,
        }
    }

    /// The format recognised so far.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Feed the next chunk of codex's output.
    pub fn feed(&mut self, mut chunk: &[u8]) {
        while !self.done && !chunk.is_empty() {
            match memchr::memchr2(b'\n', b'\r', chunk) {
                Some(i) => {
                    self.push(&chunk[..i]);
                    self.end_line();
                    chunk = &chunk[i + 1..];
                }
                None => {
                    self.push(chunk);
                    break;
                }
            }
        }
    }

    /// The verdict once the output has ended (a last line without a newline counts).
    pub fn finish(&mut self) -> Verdict {
        if !self.done {
            self.end_line();
        }
        if let Some(m) = &self.turn_failed {
            return Verdict::Failed(format!("turn.failed: {m}"));
        }
        if let Some(m) = &self.pending_error {
            let what = match self.format {
                Format::Json => "error event",
                _ => "ERROR",
            };
            return Verdict::Failed(format!("{what} not followed by a completed turn: {m}"));
        }
        if self.completed {
            Verdict::Completed
        } else {
            Verdict::Failed(NO_COMPLETED_TURN.to_owned())
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        if self.overflow {
            return;
        }
        if self.line.len() + bytes.len() > MAX_LINE {
            self.overflow = true;
            self.line.clear();
            return;
        }
        self.line.extend_from_slice(bytes);
    }

    fn end_line(&mut self) {
        let line = std::mem::take(&mut self.line);
        if !self.overflow {
            self.classify(&line);
        }
        self.overflow = false;
        // Keep the allocation (bounded by MAX_LINE).
        self.line = line;
        self.line.clear();
    }

    fn classify(&mut self, line: &[u8]) {
        let text = line.trim_ascii();
        if text.is_empty() {
            return;
        }
        if text[0] == b'{' && self.format != Format::Human && self.json_event(text) {
            return;
        }
        if self.format == Format::Json {
            return;
        }
        self.human_line(text);
    }

    /// A JSONL event; true when it was one.
    fn json_event(&mut self, text: &[u8]) -> bool {
        // The bulk of a JSON transcript (items with tool output) never matters.
        if text.starts_with(br#"{"type":"item."#) {
            if self.format == Format::Unknown {
                self.format = Format::Json;
            }
            return true;
        }
        let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(text) else {
            return false;
        };
        let Some(kind) = obj.get("type").and_then(Value::as_str) else {
            return false;
        };
        match kind {
            "turn.completed" => {
                self.completed = true;
                self.pending_error = None;
            }
            "turn.failed" => {
                let m = obj
                    .get("error")
                    .and_then(|e| e.get("message").and_then(Value::as_str).or(e.as_str()))
                    .unwrap_or("(no message)");
                self.turn_failed = Some(short(m));
            }
            "error" => {
                let m = obj
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("(no message)");
                self.pending_error = Some(short(m));
            }
            k if k == "thread.started" || k.starts_with("turn.") || k.starts_with("item.") => {}
            _ => return false,
        }
        if self.format == Format::Unknown {
            self.format = Format::Json;
        }
        true
    }

    fn human_line(&mut self, raw: &[u8]) {
        let plain = strip_ansi(raw);
        let text = plain.trim_ascii();
        if text.is_empty() {
            return;
        }
        if self.format == Format::Unknown && text.starts_with(b"OpenAI Codex v") {
            self.format = Format::Human;
        }
        if self.after_tokens_used {
            self.after_tokens_used = false;
            if is_count(text) {
                self.completed = true;
                self.pending_error = None;
                self.done = true;
                if self.format == Format::Unknown {
                    self.format = Format::Human;
                }
                return;
            }
        }
        if text == b"tokens used" {
            self.after_tokens_used = true;
        } else if let Some(rest) = text.strip_prefix(b"ERROR:") {
            self.pending_error = Some(short(&String::from_utf8_lossy(rest.trim_ascii())));
        }
    }
}

/// `1,700`, `42`: digits with comma grouping.
fn is_count(text: &[u8]) -> bool {
    text.first().is_some_and(u8::is_ascii_digit)
        && text.iter().all(|b| b.is_ascii_digit() || *b == b',')
}

/// `line` without ANSI CSI sequences (`ESC [ … final-byte`) and other lone escapes.
fn strip_ansi(line: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(line.len());
    let mut i = 0;
    while i < line.len() {
        if line[i] == 0x1b {
            i += 1;
            if line.get(i) == Some(&b'[') {
                i += 1;
                while i < line.len() && !(0x40..=0x7e).contains(&line[i]) {
                    i += 1;
                }
            }
            i += 1;
            continue;
        }
        out.push(line[i]);
        i += 1;
    }
    out
}

/// A message cut to [`MAX_MESSAGE`] characters, on one line.
fn short(m: &str) -> String {
    let one_line = m.replace(['\n', '\r'], " ");
    let mut s: String = one_line.chars().take(MAX_MESSAGE).collect();
    if one_line.chars().count() > MAX_MESSAGE {
        s.push('…');
    }
    s
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn fixture(name: &str) -> Vec<u8> {
        let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/codex-0.169.0")
            .join(name);
        std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    /// The verdict for `bytes`, checked to be the same whatever the chunking.
    fn verdict(bytes: &[u8]) -> Verdict {
        let mut whole = Detector::new();
        whole.feed(bytes);
        let v = whole.finish();
        for size in [1, 2, 7, 64, 4096] {
            let mut d = Detector::new();
            for c in bytes.chunks(size) {
                d.feed(c);
            }
            assert_eq!(d.finish(), v, "chunk size {size}");
        }
        v
    }

    /// What a codex-spawn log holds for a scenario: stderr, then stdout (the fake codex's
    /// order), and the `.log` capture (merged by the real CLI).
    fn both(scenario: &str) -> [Vec<u8>; 2] {
        let mut merged = fixture(&format!("{scenario}.stderr"));
        merged.extend(fixture(&format!("{scenario}.stdout")));
        [merged, fixture(&format!("{scenario}.log"))]
    }

    #[test]
    fn completed_turns_in_every_successful_fixture() {
        for sc in [
            "new-human",
            "new-human-color",
            "new-json",
            "tool-human",
            "tool-json",
            "resume-human",
            "resume-json",
        ] {
            for bytes in both(sc) {
                assert_eq!(verdict(&bytes), Verdict::Completed, "{sc}");
            }
        }
    }

    #[test]
    fn json_turn_failed_wins_over_everything() {
        for bytes in both("fail-json") {
            let v = verdict(&bytes);
            assert_eq!(
                v,
                Verdict::Failed(
                    "turn.failed: We’re currently experiencing high demand, which may cause temporary errors."
                        .into()
                )
            );
        }
    }

    #[test]
    fn human_error_without_completion_fails() {
        for bytes in both("fail-human") {
            let Verdict::Failed(r) = verdict(&bytes) else {
                panic!("fail-human must fail")
            };
            assert!(
                r.starts_with("ERROR not followed by a completed turn: We’re currently"),
                "{r}"
            );
        }
    }

    #[test]
    fn no_output_or_no_prompt_is_no_completed_turn() {
        assert_eq!(verdict(b""), Verdict::Failed(NO_COMPLETED_TURN.into()));
        for bytes in both("resume-notask-json") {
            assert_eq!(verdict(&bytes), Verdict::Failed(NO_COMPLETED_TURN.into()));
        }
        // A transcript cut before its end: the header, no completion.
        let log = fixture("new-human.log");
        let cut = String::from_utf8_lossy(&log);
        let cut = cut.split("tokens used").next().unwrap();
        assert_eq!(
            verdict(cut.as_bytes()),
            Verdict::Failed(NO_COMPLETED_TURN.into())
        );
        // `tokens used` without its number is not a completion.
        let mut no_number = cut.as_bytes().to_vec();
        no_number.extend_from_slice(b"tokens used\n");
        assert_eq!(
            verdict(&no_number),
            Verdict::Failed(NO_COMPLETED_TURN.into())
        );
    }

    /// Lines of a real transcript, recombined: retries (`error`) that a completed turn
    /// follows are not failures; an error after the last completion is.
    #[test]
    fn json_error_counts_only_without_a_later_completion() {
        let fail = fixture("fail-json.stdout");
        let new = fixture("new-json.stdout");
        let fail_lines: Vec<&[u8]> = fail.split(|&b| b == b'\n').collect();
        let new_lines: Vec<&[u8]> = new.split(|&b| b == b'\n').collect();
        // thread.started, item, turn.started, 5 reconnect errors, then new-json's answer
        // and turn.completed.
        let mut retried = Vec::new();
        for l in fail_lines[..8].iter().chain(&new_lines[3..5]) {
            retried.extend_from_slice(l);
            retried.push(b'\n');
        }
        assert_eq!(verdict(&retried), Verdict::Completed);
        // The same without the completion: the last error is the reason.
        let mut cut = Vec::new();
        for l in &fail_lines[..8] {
            cut.extend_from_slice(l);
            cut.push(b'\n');
        }
        let Verdict::Failed(r) = verdict(&cut) else {
            panic!("an error without completion must fail")
        };
        assert!(
            r.starts_with("error event not followed by a completed turn: Reconnecting... 5/5"),
            "{r}"
        );
        // An error after the completion.
        let mut late = new.clone();
        late.extend_from_slice(fail_lines[3]);
        assert!(matches!(verdict(&late), Verdict::Failed(_)));
    }

    #[test]
    fn human_errors_followed_by_completion_and_final_message_quotes() {
        // Reconnect errors, then the rest of a completed transcript.
        let log = String::from_utf8_lossy(&fixture("new-human.log")).into_owned();
        let (head, tail) = log.split_once("codex\n").unwrap();
        let retried = format!("{head}ERROR: Reconnecting... 1/5\ncodex\n{tail}");
        assert_eq!(verdict(retried.as_bytes()), Verdict::Completed);
        // After the completion, codex repeats the final message: not inspected.
        let quoted = format!("{log}ERROR: this line is part of the agent's message\n");
        assert_eq!(verdict(quoted.as_bytes()), Verdict::Completed);
    }

    #[test]
    fn json_lines_in_human_output_and_human_lines_in_json_are_ignored() {
        // A tool printing a JSON "turn.failed" line inside a human transcript.
        let log = String::from_utf8_lossy(&fixture("tool-human.log")).into_owned();
        let fail = String::from_utf8_lossy(&fixture("fail-json.stdout")).into_owned();
        let injected = log.replace("hi from tool\n", &format!("hi from tool\n{fail}"));
        assert_eq!(verdict(injected.as_bytes()), Verdict::Completed);
        // `ERROR:` on stderr in JSON mode does not count.
        let mut json = fixture("new-json.log");
        json.extend_from_slice(b"ERROR: something on stderr\n");
        assert_eq!(verdict(&json), Verdict::Completed);
    }

    #[test]
    fn overlong_lines_are_skipped_with_bounded_memory() {
        let mut d = Detector::new();
        d.feed(&fixture("new-json.stdout")[..0]);
        let big = vec![b'x'; 3 * MAX_LINE];
        d.feed(b"{\"type\":\"turn.failed\",\"error\":{\"message\":\"");
        d.feed(&big);
        d.feed(b"\"}}\n");
        assert!(d.line.capacity() <= 2 * MAX_LINE);
        d.feed(&fixture("new-json.stdout"));
        assert_eq!(d.finish(), Verdict::Completed);
        assert_eq!(d.format(), Format::Json);
    }

    #[test]
    fn messages_are_short_and_one_line() {
        let long = format!(
            "{{\"type\":\"turn.failed\",\"error\":{{\"message\":\"a\\nb{}\"}}}}\n",
            "y".repeat(1000)
        );
        let Verdict::Failed(r) = verdict(long.as_bytes()) else {
            panic!()
        };
        assert!(r.starts_with("turn.failed: a b"));
        assert!(r.chars().count() < MAX_MESSAGE + 20);
        assert!(r.ends_with('…'));
    }
}
