//! The JSON lines of a log that carry usage: `--json` events of every version, as
//! codex-session-id's decoder ([`codex_session_id::log::json`]) reads them.
//!
//! - From 0.44, `{"type":"turn.completed","usage":{…}}`: the process's running total
//!   (see [`crate::run`] for what it counts on resume). `reasoning_output_tokens` is in
//!   it only from 0.100: before, the reasoning part is unknown, never 0.
//! - Before 0.44, the event stream `{"id":"0","msg":{"type":"token_count",…}}`: up to
//!   0.29 the counters sit flat in `msg` and count one model call (the run's total is
//!   their sum); from 0.34 they sit in `msg.info.total_token_usage`, the process's running
//!   total (`info` is null before the first call).
//!
//! The session id is not read here: the scanner of codex-session-id finds it.

use codex_session_id::log::TokenCounts;
use codex_session_id::log::json::{self, JsonEvent, LegacyEvent};

use super::LogScan;
use crate::usage::Usage;

/// The usage of a set of counters as read (missing ones 0, normalised).
fn usage(c: &TokenCounts) -> Usage {
    Usage::new(
        c.input_tokens.unwrap_or(0),
        c.cached_input_tokens.unwrap_or(0),
        c.output_tokens.unwrap_or(0),
        c.reasoning_output_tokens.unwrap_or(0),
    )
    .normalized()
}

/// True when a JSON line may be one of the events read here (see
/// [`json::may_carry_usage`]).
pub(super) fn wanted(line: &[u8]) -> bool {
    json::may_carry_usage(line)
}

/// Reads one JSON line into `out`.
pub(super) fn line(text: &[u8], out: &mut LogScan) {
    match json::decode(text) {
        Some(JsonEvent::TurnCompleted { usage: Some(u) }) => {
            out.turns_completed += 1;
            out.turn_reasoning_known = u.reasoning_output_tokens.is_some()
                && (out.turns_completed == 1 || out.turn_reasoning_known);
            out.last_turn_usage = Some(usage(&u));
        }
        Some(JsonEvent::Legacy(LegacyEvent::TokenCount { total, flat })) => {
            if let Some(total) = total {
                out.stream_usage = Some(usage(&total));
            } else if flat.any() {
                // up to 0.29: one model call
                let mut sum = out.stream_usage.unwrap_or_default();
                sum.add(&usage(&flat));
                out.stream_usage = Some(sum);
                out.stream_per_call = true;
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::super::scan_log;
    use crate::usage::Usage;

    #[test]
    fn every_versions_events() {
        // 0.169: reasoning known
        let s = scan_log(br#"{"type":"turn.completed","usage":{"input_tokens":71000,"cached_input_tokens":14200,"cache_write_input_tokens":0,"output_tokens":3550,"reasoning_output_tokens":710}}"#);
        assert_eq!(s.last_turn_usage, Some(Usage::new(71000, 14200, 3550, 710)));
        assert!(s.turn_reasoning_known);
        // 0.46 (tests/fixtures/outside): no reasoning_output_tokens
        let s = scan_log(br#"{"type":"turn.completed","usage":{"input_tokens":6040,"cached_input_tokens":4992,"output_tokens":129}}"#);
        assert!(!s.turn_reasoning_known);
        // 0.22: flat, per call
        let s = scan_log(
            br#"{"id":"0","msg":{"type":"token_count","input_tokens":11000,"cached_input_tokens":2200,"output_tokens":550,"reasoning_output_tokens":110,"total_tokens":11550}}
{"id":"0","msg":{"type":"token_count","input_tokens":12000,"cached_input_tokens":2400,"output_tokens":600,"reasoning_output_tokens":120,"total_tokens":12600}}"#,
        );
        assert_eq!(s.stream_usage, Some(Usage::new(23000, 4600, 1150, 230)));
        assert!(s.stream_per_call);
        // 0.36: the running total; `info: null` before the first call
        let s = scan_log(
            br#"{"id":"0","msg":{"type":"token_count","info":null,"rate_limits":{"primary":null,"secondary":null}}}
{"id":"0","msg":{"type":"token_count","info":{"total_token_usage":{"input_tokens":23000,"cached_input_tokens":4600,"output_tokens":1150,"reasoning_output_tokens":230,"total_tokens":24150},"last_token_usage":{"input_tokens":12000,"cached_input_tokens":2400,"output_tokens":600,"reasoning_output_tokens":120,"total_tokens":12600}}}}"#,
        );
        assert_eq!(s.stream_usage, Some(Usage::new(23000, 4600, 1150, 230)));
        assert!(!s.stream_per_call);
    }
}
