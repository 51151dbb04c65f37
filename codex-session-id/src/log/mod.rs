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
