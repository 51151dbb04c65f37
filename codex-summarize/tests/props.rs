//! Property tests: no input makes the parsers panic, and what they count is sane.

use codex_summarize::{events, rollout};
use proptest::prelude::*;

const TC: &str = r#"{"timestamp":"2026-11-23T20:21:09.178Z","ordinal":12,"type":"event_msg","payload":{"type":"token_count","info":{"total_token_usage":{"input_tokens":5000,"cached_input_tokens":1000,"output_tokens":250,"reasoning_output_tokens":50,"total_tokens":5250},"last_token_usage":{"input_tokens":5000,"cached_input_tokens":1000,"output_tokens":250,"reasoning_output_tokens":50,"total_tokens":5250}}}}"#;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_as_a_log(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let _ = events::scan_log(&bytes);
    }

    #[test]
    fn random_bytes_as_a_rollout(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let s = rollout::scan_bytes(&bytes);
        prop_assert!(s.events.iter().all(|e| e.usage.cached_input_tokens <= e.usage.input_tokens));
    }

    #[test]
    fn mutated_token_count_lines(cut in 0usize..TC.len(), byte in any::<u8>(), at in 0usize..TC.len()) {
        let mut line = TC.as_bytes().to_vec();
        line[at] = byte;
        line.truncate(cut.max(1));
        let mut text = line.clone();
        text.push(b'\n');
        text.extend_from_slice(TC.as_bytes());
        let s = rollout::scan_bytes(&text);
        // the intact line after the damaged one is always counted once
        prop_assert!(!s.events.is_empty());
        let _ = events::scan_log(&text);
    }

    #[test]
    fn random_lines_with_keywords(parts in proptest::collection::vec(
        prop_oneof![
            Just("token_count".to_owned()), Just("turn_context".to_owned()),
            Just("session_meta".to_owned()), Just("{".to_owned()), Just("}".to_owned()),
            Just("\n".to_owned()), Just("\"info\":null".to_owned()), Just(":".to_owned()),
            "[a-z0-9\":,{}\\[\\] ]{0,12}",
        ], 0..64)) {
        let text = parts.concat();
        let _ = rollout::scan_bytes(text.as_bytes());
        let _ = events::scan_log(text.as_bytes());
    }
}
