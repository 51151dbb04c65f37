//! The true outcome of one codex invocation, read from its output.
//!
//! This file exists because codex's exit code does not tell whether its turn worked:
//! `codex exec` exits 0 even when every tool call failed, and a turn can end without a
//! completion. [`Detector`] is fed the same chunks as the session-id scanner (bounded
//! memory: one line of at most [`MAX_LINE`] bytes is carried between chunks; longer lines
//! are skipped) and says at the end whether the output shows a completed turn. It is a
//! fold over codex-session-id's decoder of codex's output
//! ([`codex_session_id::log`]: its line splitter, typed JSON events and human lines).
//!
//! # What counts (codex-cli 0.36 to 0.171; see `tests/fixtures/codex-<version>`)
//!
//! The output's format is decided by its first recognisable line: a top-level JSON event
//! (`thread.started`, `turn.*`, `item.*`, `error` — `--json` mode; before 0.44 the
//! `{"id":…,"msg":{"type":…}}` event stream), or the human header line `OpenAI Codex v…`
//! (before 0.44 after a `[timestamp] `). Lines end at `\n` or `\r`; blank lines are
//! ignored.
//!
//! JSON mode (only JSONL lines whose top-level `type` is one of these count):
//! - `turn.completed`: a completed turn;
//! - `turn.failed`: the attempt failed (`turn.failed: <error.message>`), whatever follows;
//! - `error`: failed **only when no `turn.completed` follows it** — the CLI prints
//!   `{"type":"error","message":"Reconnecting... 1/5 …"}` for retries that may still
//!   succeed.
//!
//! The old event stream (0.36–0.42 print no session id and no task_complete in it):
//! - `token_count`: a model call completed (a completed turn, unless an error follows);
//! - `error`: failed when no `token_count` follows it (`stream_error` is a retry notice).
//!
//! Human mode (read as found: a CI log's line timestamps, ANSI colours and their `←`
//! rendering, UTF-16 with a byte-order mark and, before 0.44, a line's `[timestamp] ` are
//! looked through — `codex_session_id::text`):
//! - `tokens used` and its number (`1,700`) on a later line — the next one, or after
//!   stdout's copy of the final message when the two streams were merged — or before
//!   0.44 one line `tokens used: 870` (`codex_session_id::log::TokensUsed` reads all
//!   three): a completed turn. What codex prints after it is the final agent message
//!   repeated (on stdout), so nothing after the completion is inspected (an agent
//!   message may quote `ERROR:`);
//! - a line starting with `ERROR:`: failed when no completion follows it. (Before 0.44
//!   codex exits 0 even then.)
//!
//! Verdict: failed when a `turn.failed` was seen, else when an error was not followed by a
//! completed turn, else when no turn completed at all (`no completed turn in codex's
//! output`); otherwise completed. Output in neither format (an older CLI) therefore
//! never counts as completed.

use codex_session_id::log::{JsonEvent, LegacyEvent, Lines, TURN_FAILED, TokensUsed, human, json};
use codex_session_id::text::{Decoder, plain, strip_stamp};

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
    /// The line splitter: longer lines than [`MAX_LINE`] are skipped.
    lines: Lines,
    /// What the lines said.
    state: State,
    /// Bytes to UTF-8 (output redirected through PowerShell is UTF-16).
    decoder: Decoder,
    decoded: Vec<u8>,
}

/// The detector's fold over the lines.
#[derive(Debug)]
struct State {
    format: Format,
    completed: bool,
    turn_failed: Option<String>,
    pending_error: Option<String>,
    /// The human `tokens used` line (shared with codex-summarize).
    tokens: TokensUsed,
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
            lines: Lines::new(MAX_LINE),
            state: State {
                format: Format::Unknown,
                completed: false,
                turn_failed: None,
                pending_error: None,
                tokens: TokensUsed::new(),
                done: false,
            },
            decoder: Decoder::new(),
            decoded: Vec::new(),
        }
    }

    /// The format recognised so far.
    pub fn format(&self) -> Format {
        self.state.format
    }

    /// Feed the next chunk of codex's output.
    pub fn feed(&mut self, chunk: &[u8]) {
        if self.state.done {
            return;
        }
        let mut buf = std::mem::take(&mut self.decoded);
        let text = self.decoder.decode(chunk, &mut buf);
        let state = &mut self.state;
        self.lines.feed(text, |l| state.line(l.text, l.truncated));
        self.decoded = buf;
    }

    /// The verdict once the output has ended (a last line without a newline counts).
    pub fn finish(&mut self) -> Verdict {
        let mut buf = std::mem::take(&mut self.decoded);
        let rest = self.decoder.finish(&mut buf);
        let state = &mut self.state;
        if !state.done {
            self.lines.feed(rest, |l| state.line(l.text, l.truncated));
            self.lines.finish(|l| state.line(l.text, l.truncated));
        }
        state.verdict()
    }
}

impl State {
    fn verdict(&self) -> Verdict {
        if let Some(m) = &self.turn_failed {
            return Verdict::Failed(format!("{TURN_FAILED}: {m}"));
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

    /// One line (`truncated`: longer than [`MAX_LINE`], skipped).
    fn line(&mut self, line: &[u8], truncated: bool) {
        if self.done || truncated {
            return;
        }
        // a CI log's timestamps, colours (and their `←` rendering) set aside
        let text = plain(line);
        if text.is_empty() {
            return;
        }
        if text[0] == b'{' && self.format != Format::Human && self.json_line(&text) {
            return;
        }
        if self.format == Format::Json {
            return;
        }
        self.human_line(&text);
    }

    /// A JSONL event; true when it was one.
    fn json_line(&mut self, text: &[u8]) -> bool {
        let Some(event) = json::decode(text) else {
            return false;
        };
        let message = |m: Option<String>| short(m.as_deref().unwrap_or("(no message)"));
        match event {
            JsonEvent::TurnCompleted { .. }
            | JsonEvent::Legacy(LegacyEvent::TokenCount { .. } | LegacyEvent::TaskComplete) => {
                self.completed = true;
                self.pending_error = None;
            }
            JsonEvent::TurnFailed { message: m } => self.turn_failed = Some(message(m)),
            JsonEvent::Error { message: m }
            | JsonEvent::Legacy(LegacyEvent::Error { message: m }) => {
                self.pending_error = Some(message(m));
            }
            JsonEvent::Other | JsonEvent::Legacy(LegacyEvent::Other) => {}
        }
        if self.format == Format::Unknown {
            self.format = Format::Json;
        }
        true
    }

    fn human_line(&mut self, plain: &[u8]) {
        if self.tokens.line(plain).is_some() {
            // `tokens used` and its number: the turn completed
            self.completed = true;
            self.pending_error = None;
            self.done = true;
            if self.format == Format::Unknown {
                self.format = Format::Human;
            }
            return;
        }
        let text = strip_stamp(plain).unwrap_or(plain);
        if self.format == Format::Unknown && human::is_banner(text) {
            self.format = Format::Human;
        }
        if let Some(rest) = human::error_line(text) {
            self.pending_error = Some(short(&String::from_utf8_lossy(rest)));
        }
    }
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

    /// Every captured CLI version: the successful scenarios completed, the failing ones
    /// failed — whatever the version's format (old event stream, timestamped lines,
    /// one-line `tokens used`), and also when that version exits 0 on a failure.
    #[test]
    fn every_captured_version_is_judged_right() {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures");
        let mut versions = 0;
        for dir in std::fs::read_dir(&root).unwrap().flatten() {
            let dir = dir.path();
            if !dir
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("codex-")
            {
                continue;
            }
            versions += 1;
            for entry in std::fs::read_dir(&dir).unwrap().flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let Some(sc) = name.strip_suffix(".exit") else {
                    continue;
                };
                if sc.starts_with("resume-notask") {
                    continue; // no prompt: nothing ran
                }
                let read =
                    |ext: &str| std::fs::read(dir.join(format!("{sc}.{ext}"))).unwrap_or_default();
                let mut merged = read("stderr");
                merged.extend(read("stdout"));
                for bytes in [merged, read("log")] {
                    let v = verdict(&bytes);
                    if sc.starts_with("fail") {
                        assert!(
                            matches!(v, Verdict::Failed(_)),
                            "{}/{sc}: {v:?}",
                            dir.display()
                        );
                    } else {
                        assert_eq!(v, Verdict::Completed, "{}/{sc}", dir.display());
                    }
                }
            }
        }
        assert!(versions >= 2, "captured versions in {}", root.display());
    }

    #[test]
    fn logs_as_found_are_judged_alike() {
        // a CI log's timestamps, `←` escapes, UTF-16 (PowerShell), and stdout's final
        // message between `tokens used` and its number
        let gha = "2026-04-19T14:53:13.8788191Z \x1b[35m\x1b[3mcodex\x1b[0m\x1b[0m\n2026-04-19T14:53:13.8791871Z {\"findings\":[]}\n2026-04-19T14:53:13.9168833Z \x1b[2mtokens used\x1b[0m\n2026-04-19T14:53:13.9174439Z {\"findings\":[]}\n2026-04-19T14:53:13.9178040Z 51,841\n";
        assert_eq!(verdict(gha.as_bytes()), Verdict::Completed);
        let win = "\u{2190}[35mcodex\u{2190}[0m\nOK\n\u{2190}[2mtokens used\u{2190}[0m\n10,426\n";
        assert_eq!(verdict(win.as_bytes()), Verdict::Completed);
        let mut wide = vec![0xff, 0xfe];
        for u in "OpenAI Codex v0.50.0\r\ncodex\r\nhi\r\ntokens used\r\n2,363\r\n".encode_utf16() {
            wide.extend_from_slice(&u.to_le_bytes());
        }
        assert_eq!(verdict(&wide), Verdict::Completed);
        // a label without its number is no completion
        assert_eq!(
            verdict(b"codex\nhi\ntokens used\ncodex\nmore\n"),
            Verdict::Failed(NO_COMPLETED_TURN.into())
        );
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
        assert!(d.lines.carry_capacity() <= 2 * MAX_LINE);
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
