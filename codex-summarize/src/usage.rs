//! Token counts as Codex records them, and the arithmetic on them.
//!
//! Codex's own convention is kept everywhere: `cached_input_tokens` is part of
//! `input_tokens`, `reasoning_output_tokens` is part of `output_tokens`, and
//! `total_tokens` is input + output. The "blended" total that the human log prints
//! after `tokens used` is (input − cached) + output.

use serde::{Deserialize, Serialize};

/// One set of token counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Input tokens, cached ones included.
    pub input_tokens: u64,
    /// The part of the input that was served from the prompt cache.
    pub cached_input_tokens: u64,
    /// Output tokens, reasoning included.
    pub output_tokens: u64,
    /// The part of the output spent on reasoning.
    pub reasoning_output_tokens: u64,
    /// input + output.
    pub total_tokens: u64,
}

impl Usage {
    /// Builds a usage from its four base counters; total is input + output.
    pub fn new(input: u64, cached: u64, output: u64, reasoning: u64) -> Usage {
        Usage {
            input_tokens: input,
            cached_input_tokens: cached,
            output_tokens: output,
            reasoning_output_tokens: reasoning,
            total_tokens: input.saturating_add(output),
        }
    }

    /// Clamps cached to input and fills a missing total with input + output
    /// (the same normalisation ccusage applies to Codex's counters).
    pub fn normalized(mut self) -> Usage {
        self.cached_input_tokens = self.cached_input_tokens.min(self.input_tokens);
        if self.total_tokens == 0 {
            self.total_tokens = self.input_tokens.saturating_add(self.output_tokens);
        }
        self
    }

    /// Field-wise sum (saturating: never panics, never wraps).
    pub fn add(&mut self, other: &Usage) {
        self.input_tokens = self.input_tokens.saturating_add(other.input_tokens);
        self.cached_input_tokens = self
            .cached_input_tokens
            .saturating_add(other.cached_input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(other.output_tokens);
        self.reasoning_output_tokens = self
            .reasoning_output_tokens
            .saturating_add(other.reasoning_output_tokens);
        self.total_tokens = self.total_tokens.saturating_add(other.total_tokens);
    }

    /// Field-wise difference, floored at zero.
    pub fn saturating_sub(&self, other: &Usage) -> Usage {
        Usage {
            input_tokens: self.input_tokens.saturating_sub(other.input_tokens),
            cached_input_tokens: self
                .cached_input_tokens
                .saturating_sub(other.cached_input_tokens),
            output_tokens: self.output_tokens.saturating_sub(other.output_tokens),
            reasoning_output_tokens: self
                .reasoning_output_tokens
                .saturating_sub(other.reasoning_output_tokens),
            total_tokens: self.total_tokens.saturating_sub(other.total_tokens),
        }
    }

    /// True when no token of any kind was counted.
    pub fn is_zero(&self) -> bool {
        self.input_tokens == 0
            && self.cached_input_tokens == 0
            && self.output_tokens == 0
            && self.reasoning_output_tokens == 0
    }

    /// (input − cached) + output: the number `codex exec` prints after `tokens used`.
    pub fn blended(&self) -> u64 {
        self.input_tokens
            .saturating_sub(self.cached_input_tokens)
            .saturating_add(self.output_tokens)
    }

    /// True when every counter of `self` is at least the one of `other`
    /// (a cumulative total that did not go backwards).
    pub fn covers(&self, other: &Usage) -> bool {
        self.input_tokens >= other.input_tokens
            && self.cached_input_tokens >= other.cached_input_tokens
            && self.output_tokens >= other.output_tokens
            && self.reasoning_output_tokens >= other.reasoning_output_tokens
    }
}

impl From<codex_session_id::rollout::Counts> for Usage {
    /// A rollout's counters, [normalized](Usage::normalized).
    fn from(c: codex_session_id::rollout::Counts) -> Usage {
        Usage {
            input_tokens: c.input_tokens,
            cached_input_tokens: c.cached_input_tokens,
            output_tokens: c.output_tokens,
            reasoning_output_tokens: c.reasoning_output_tokens,
            total_tokens: c.total_tokens,
        }
        .normalized()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blended_matches_the_human_log() {
        // new-human fixture: two calls of 1000/200/50 -> "tokens used 1,700"
        let u = Usage::new(2000, 400, 100, 20);
        assert_eq!(u.blended(), 1700);
        assert_eq!(u.total_tokens, 2100);
    }

    #[test]
    fn sub_and_add_saturate() {
        let a = Usage::new(10, 5, 3, 1);
        let b = Usage::new(20, 1, 1, 1);
        assert_eq!(a.saturating_sub(&b).input_tokens, 0);
        let mut c = Usage::new(u64::MAX, 0, 0, 0);
        c.add(&a);
        assert_eq!(c.input_tokens, u64::MAX);
    }

    #[test]
    fn normalized_clamps_cached_and_fills_total() {
        let u = Usage {
            input_tokens: 10,
            cached_input_tokens: 50,
            output_tokens: 5,
            reasoning_output_tokens: 0,
            total_tokens: 0,
        }
        .normalized();
        assert_eq!(u.cached_input_tokens, 10);
        assert_eq!(u.total_tokens, 15);
    }
}
