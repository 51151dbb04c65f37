//! Token counters as codex writes them, shared by every decoder of its output (log
//! events, rollout records): `input_tokens`, `cached_input_tokens`, `output_tokens`,
//! `reasoning_output_tokens`, each possibly missing (`total_tokens` is not read: it is
//! input + output).
//!
//! The decoders hand them out as read — a missing counter stays `None` (e.g.
//! `reasoning_output_tokens` before 0.100); the arithmetic (normalising, summing) is the
//! readers' (codex-summarize's `Usage`).

use serde::Deserialize;

/// One set of counters, as read (`None`: not in the data).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct TokenCounts {
    /// Input tokens, cached ones included.
    #[serde(default)]
    pub input_tokens: Option<u64>,
    /// The part of the input served from the prompt cache.
    #[serde(default)]
    pub cached_input_tokens: Option<u64>,
    /// Output tokens, reasoning included.
    #[serde(default)]
    pub output_tokens: Option<u64>,
    /// The part of the output spent on reasoning.
    #[serde(default)]
    pub reasoning_output_tokens: Option<u64>,
}

impl TokenCounts {
    /// Whether any of input or output was there.
    pub fn any(&self) -> bool {
        self.input_tokens.is_some() || self.output_tokens.is_some()
    }
}
