//! The one decoder of codex's log output (the stdout and stderr of `codex exec`, as a
//! codex-spawn log, a CI log or a terminal capture holds them).
//!
//! Why it exists: codex changes its output every few weeks; every reader — the session-id
//! [`Scanner`](crate::Scanner), codex-spawn's outcome detector, codex-summarize's log
//! scan — reads it through these pieces, so a new format is one change here plus its
//! captured fixture (`tests/fixtures/codex-<version>/`).
//!
//! - [`lines`]: the line splitter (chunk-independent, capped, SIMD);
//! - [`text`](crate::text): a line as found made plain (UTF-16, CI timestamps, ANSI);
//! - [`json`]: the `--json` events and the stream before 0.44, typed ([`JsonEvent`]);
//! - [`human`]: the human transcript's banner, header lines, `ERROR:` and
//!   `tokens used` ([`TokensUsed`]);
//! - the session-id lines (header, `thread.started`, …) and where in a transcript they
//!   count: the [`Scanner`](crate::Scanner).
//!
//! The readers are folds over these: each keeps its own state (what a verdict, a usage
//! or an id needs), none spells a line of codex's output.

pub mod human;
pub mod json;
pub mod lines;

pub use crate::counts::TokenCounts;
pub use human::{MAX_SEPARATION, Reading, TOKENS_USED, TokensUsed, parse_count, version_in};
pub use json::{JsonEvent, LegacyEvent, TURN_FAILED};
pub use lines::{Line, Lines};

/// What counts as a completed (or failed) turn, for codex-spawn's `--help` and man page:
/// the decoder's rules in words, stated beside the decoder.
pub const WHAT_COUNTS: &str =
    "What counts as a completed turn (codex-cli 0.169.0). The output's format is decided by
its first recognisable line (a JSON event, or the header `OpenAI Codex v...`):
  --json mode: a top-level {\"type\":\"turn.completed\"} event. A top-level turn.failed
    event fails the attempt (outcome_reason `turn.failed: <message>`); a top-level error
    event fails it only when no turn.completed follows (codex prints `error` events
    for retries, `Reconnecting... 1/5`, that may still succeed).
  human mode: a line `tokens used` followed by a number line (`1,700`). A line starting
    `ERROR:` fails the attempt unless a completion follows it. After the completion
    codex repeats the final message, which is not inspected.
  Output with no completed turn: `no completed turn in codex's output`.

";

/// Why an output shows no completed turn (codex-spawn's exit status 1), in words.
pub const NO_TURN_CAUSES: &str = "turn.failed, an error event, no turn.completed / `tokens used`";
