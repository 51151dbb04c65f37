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

/// Hands out at most `n` bytes per read.
struct Chunked<'a>(&'a [u8], usize);

impl std::io::Read for Chunked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.0.len().min(self.1).min(buf.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Streaming a log in reads of any size finds what reading it whole does.
    #[test]
    fn log_scan_is_independent_of_read_sizes(parts in proptest::collection::vec(
        prop_oneof![
            Just("tokens used\n".to_owned()), Just("1,700\n".to_owned()), Just("\n".to_owned()),
            Just("\r\n".to_owned()), Just("model: gpt-5\n".to_owned()),
            Just(r#"{"type":"turn.completed","usage":{"input_tokens":7,"output_tokens":2}}"#.to_owned()),
            Just(r#"{"type":"thread.started","thread_id":"01a20a11-d106-7b71-94cf-bcd84bc18137"}"#.to_owned()),
            "[a-z0-9\":,{} ]{0,12}",
        ], 0..48), n in 1usize..40) {
        let text = parts.concat();
        let whole = events::scan_log(text.as_bytes());
        let streamed = events::scan_log_reader(Chunked(text.as_bytes(), n)).ok();
        prop_assert_eq!(streamed, Some(whole));
    }
}
