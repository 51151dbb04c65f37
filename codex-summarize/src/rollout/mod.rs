//! Codex's own record of a session: the rollout file
//! `$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<ts>-<uuid>.jsonl[.zst]`.
//!
//! Exact per-call usage lives in `event_msg` lines whose payload type is
//! `token_count` (`info.total_token_usage` is cumulative for the session,
//! `info.last_token_usage` is the last call; `info` may be null); the model comes
//! from `turn_context` (`payload.model`); the session id and a fork's parent from
//! `session_meta` (`payload.id`, `payload.forked_from_id`). Which of them are the
//! session's own calls — a fork's inherited baseline, a sub-agent's copied lines,
//! re-emitted counts — is decided in one place, [`own`].
//!
//! The lines are decoded by [`codex_session_id::rollout`] (the one decoder of Codex's
//! records: a line is only parsed when its kind is wanted, hand-parsed in the shape
//! codex writes it); this module folds its records into usage. Anything malformed is
//! counted in `skipped_lines` and never stops the scan.

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use codex_session_id::rollout::Reader;

use crate::time::parse_ts_ms;
use crate::usage::Usage;

/// Longest line held in memory (see [`codex_session_id::rollout::MAX_LINE_BYTES`]).
pub use codex_session_id::rollout::MAX_LINE_BYTES;
/// Longest pause inside the burst of replayed usage a fork writes at its start
/// (ccusage uses the same bound).
pub const FORK_BURST_PAUSE_MS: i64 = 1_000;

/// One model call's usage, as derived from a `token_count` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageEvent {
    /// The line's timestamp (epoch ms), if it had a valid one.
    pub ts_ms: Option<i64>,
    /// This call's tokens (a delta, not cumulative).
    pub usage: Usage,
    /// Index into [`RolloutScan::models`]; `None` when no model was known yet.
    pub model: Option<u32>,
}

/// What one rollout file says about usage.
#[derive(Debug, Clone, Default)]
pub struct RolloutScan {
    /// `session_meta` payload.id (or session_id).
    pub session_id: Option<String>,
    /// `session_meta` payload.forked_from_id: the session this one was forked from.
    pub forked_from_id: Option<String>,
    /// The `session_meta` line's timestamp (a fork's fork instant).
    pub session_ts_ms: Option<i64>,
    /// `session_meta` payload.cwd: the directory the session worked in (its project).
    pub cwd: Option<String>,
    /// A fork's `session_meta` payload.history_mode is `"paginated"` (codex 0.148 on): its
    /// file names its parent's history instead of copying it, or a sub-agent's copy of it
    /// is marked (`subagent_history_start_ordinal`); either way the events are the
    /// session's own calls (see [`own`]). False for a session that forked nothing.
    pub history_paginated: bool,
    /// Models seen, in order of first use.
    pub models: Vec<String>,
    /// Per-call usage deltas, in file order.
    pub events: Vec<UsageEvent>,
    /// The last `total_token_usage` seen (cumulative for the session).
    pub last_total: Option<Usage>,
    /// The last model named by a `turn_context`.
    pub last_model: Option<String>,
    /// Lines that could not be read as JSON (garbage, truncated, wrong shape).
    pub skipped_lines: u64,
}

impl RolloutScan {
    /// A fork whose file may replay its parent's calls (its history is not paginated):
    /// [`fork`] finds them, with the parent's file.
    pub fn replays_parent(&self) -> bool {
        self.forked_from_id.is_some() && !self.history_paginated
    }

    /// The model name of an event.
    pub fn model_of(&self, ev: &UsageEvent) -> Option<&str> {
        ev.model
            .and_then(|i| self.models.get(i as usize))
            .map(String::as_str)
    }

    fn intern(&mut self, model: &str) -> u32 {
        if let Some(i) = self.models.iter().position(|m| m == model) {
            return i as u32;
        }
        self.models.push(model.to_owned());
        (self.models.len() - 1) as u32
    }
}

mod files;
mod fork;
mod own;
mod parse;
mod run_session;

pub use files::*;
pub use fork::*;
use own::*;
use parse::*;
pub use run_session::*;

/// Runs `f` with this thread's scan buffer number `slot` (0 or 1), reused
/// across files so that a scan allocates nothing per file. Two slots let one
/// thread read two rollouts in lockstep (a fork and its parent).
pub fn with_scan_buffer<T>(slot: usize, f: impl FnOnce(&mut Vec<u8>) -> T) -> T {
    thread_local! {
        static BUFS: [std::cell::RefCell<Vec<u8>>; 2] = const {
            [std::cell::RefCell::new(Vec::new()), std::cell::RefCell::new(Vec::new())]
        };
    }
    BUFS.with(|cells| {
        let cell = &cells[slot.min(1)];
        let mut buf = cell.take();
        let out = f(&mut buf);
        cell.replace(buf);
        out
    })
}

/// Scans a rollout from any reader, collecting every usage event (see
/// [`EventReader`] for the reading; the events are what grows with the file).
pub fn scan_reader<R: Read>(r: R) -> io::Result<RolloutScan> {
    with_scan_buffer(0, |buf| {
        let mut rd = EventReader::new(r, buf);
        let mut events = Vec::new();
        while let Some(ev) = rd.next_event()? {
            events.push(ev);
        }
        let mut scan = rd.into_scan();
        scan.events = events;
        Ok(scan)
    })
}

/// Reads a rollout's usage events one at a time, in bounded memory (a
/// [`codex_session_id::rollout::Reader`]: 1 MiB chunks split into lines in place, a
/// line longer than [`MAX_LINE_BYTES`] judged by its head and skipped). Nothing is kept
/// per event, so a caller that folds the events as they come reads any file in one
/// buffer.
pub struct EventReader<'b, R> {
    r: Reader<'b, R>,
    s: Scanner,
    /// Index of the next event of `s.scan.events` to hand out.
    next: usize,
}

impl<'b, R: Read> EventReader<'b, R> {
    /// A reader over `r` using `buf` (grown to 1 MiB if smaller).
    pub fn new(r: R, buf: &'b mut Vec<u8>) -> Self {
        EventReader {
            r: Reader::new(r, buf),
            s: Scanner::default(),
            next: 0,
        }
    }

    /// What the file said so far: session id, fork parent, models (an event's
    /// `model` indexes [`RolloutScan::models`]), skipped lines. Its `events`
    /// are scratch: use [`EventReader::next_event`].
    pub fn scan(&self) -> &RolloutScan {
        &self.s.scan
    }

    /// The scan's header once the events were read (its `events` are empty).
    pub fn into_scan(self) -> RolloutScan {
        let mut scan = self.s.scan;
        scan.events.clear();
        scan
    }

    /// The next usage event, or `None` at the end of the input.
    pub fn next_event(&mut self) -> io::Result<Option<UsageEvent>> {
        loop {
            if let Some(ev) = self.s.scan.events.get(self.next) {
                self.next += 1;
                return Ok(Some(*ev));
            }
            if self.next > 0 {
                self.s.scan.events.clear();
                self.next = 0;
            }
            if !self.r.step(&mut self.s)? {
                return Ok(None);
            }
        }
    }
}

/// Opens a rollout file (`.jsonl`, or `.jsonl.zst` decompressed on the fly).
pub fn open_rollout(path: &Path) -> io::Result<Box<dyn Read>> {
    let file = File::open(path)?;
    if path.extension().is_some_and(|e| e == "zst") {
        Ok(Box::new(zstd::stream::read::Decoder::new(file)?))
    } else {
        Ok(Box::new(file))
    }
}

/// Scans an in-memory rollout.
pub fn scan_bytes(bytes: &[u8]) -> RolloutScan {
    let mut s = Scanner::default();
    codex_session_id::rollout::decode_bytes(bytes, &mut s);
    s.scan
}

/// True for `*.jsonl` and `*.jsonl.zst` names.
pub fn is_rollout_name(name: &str) -> bool {
    name.ends_with(".jsonl") || name.ends_with(".jsonl.zst")
}

/// Scans a rollout file (`.jsonl`, or `.jsonl.zst` decompressed on the fly).
pub fn scan_file(path: &Path) -> io::Result<RolloutScan> {
    scan_reader(open_rollout(path)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TC: &str = r#"{"timestamp":"2026-11-23T20:21:09.178Z","ordinal":12,"type":"event_msg","payload":{"type":"token_count","info":{"total_token_usage":{"input_tokens":5000,"cached_input_tokens":1000,"cache_write_input_tokens":0,"output_tokens":250,"reasoning_output_tokens":50,"total_tokens":5250},"last_token_usage":{"input_tokens":5000,"cached_input_tokens":1000,"cache_write_input_tokens":0,"output_tokens":250,"reasoning_output_tokens":50,"total_tokens":5250},"last_usage_includes_reasoning":false,"model_context_window":258400},"rate_limits":null}}"#;

    fn tc(ts: &str, total: (u64, u64, u64, u64), last: (u64, u64, u64, u64)) -> String {
        format!(
            r#"{{"timestamp":"{ts}","type":"event_msg","payload":{{"type":"token_count","info":{{"total_token_usage":{{"input_tokens":{},"cached_input_tokens":{},"output_tokens":{},"reasoning_output_tokens":{}}},"last_token_usage":{{"input_tokens":{},"cached_input_tokens":{},"output_tokens":{},"reasoning_output_tokens":{}}}}}}}}}"#,
            total.0, total.1, total.2, total.3, last.0, last.1, last.2, last.3
        )
    }

    #[test]
    fn reads_a_real_token_count_line() {
        let s = scan_bytes(TC.as_bytes());
        assert_eq!(s.events.len(), 1);
        assert_eq!(
            s.events[0].usage,
            Usage {
                total_tokens: 5250,
                ..Usage::new(5000, 1000, 250, 50)
            }
        );
        assert_eq!(s.skipped_lines, 0);
    }

    #[test]
    fn null_info_garbage_and_truncation_are_tolerated() {
        let text = format!(
            "{}\nnot json\n{}\n{}\n{}",
            r#"{"timestamp":"2026-11-23T20:21:09Z","type":"event_msg","payload":{"type":"token_count","info":null}}"#,
            r#"{"type":"turn_context","payload":{"model":"gpt-5"}}"#,
            TC,
            &TC[..TC.len() - 20]
        );
        let s = scan_bytes(text.as_bytes());
        assert_eq!(s.events.len(), 1);
        assert_eq!(s.skipped_lines, 2);
        assert_eq!(s.model_of(&s.events[0]), Some("gpt-5"));
    }

    #[test]
    fn repeated_totals_count_once_and_resets_count_last() {
        let text = [
            tc("2026-01-01T00:00:01Z", (100, 10, 5, 1), (100, 10, 5, 1)),
            tc("2026-01-01T00:00:02Z", (100, 10, 5, 1), (100, 10, 5, 1)),
            tc("2026-01-01T00:00:03Z", (300, 30, 15, 3), (200, 20, 10, 2)),
            // context reset: total goes backwards, last still counts
            tc("2026-01-01T00:00:04Z", (50, 0, 5, 0), (50, 0, 5, 0)),
        ]
        .join("\n");
        let s = scan_bytes(text.as_bytes());
        let mut sum = Usage::default();
        s.events.iter().for_each(|e| sum.add(&e.usage));
        assert_eq!(s.events.len(), 3);
        assert_eq!(sum.input_tokens, 350);
        assert_eq!(sum.output_tokens, 20);
    }

    #[test]
    fn pretty_printed_and_reordered_lines() {
        let pretty = "{\n  \"payload\": {\"info\": {\"last_token_usage\": {\"output_tokens\": 7, \"input_tokens\": 70}}, \"type\": \"token_count\"},\n  \"type\": \"event_msg\",\n  \"timestamp\": \"2026-01-01T00:00:00Z\"\n}";
        let s = scan_bytes(pretty.as_bytes());
        assert_eq!(s.events.len(), 1);
        assert_eq!(s.events[0].usage.input_tokens, 70);
        assert_eq!(s.skipped_lines, 0);
    }

    #[test]
    fn session_meta_and_fork() {
        let meta = r#"{"timestamp":"2026-01-01T00:00:00Z","type":"session_meta","payload":{"id":"01a20a11-cee4-7090-bde8-0211b8147f80","forked_from_id":"01a20a11-c891-7691-9716-0a912243e201"}}"#;
        let s = scan_bytes(meta.as_bytes());
        assert_eq!(
            s.session_id.as_deref(),
            Some("01a20a11-cee4-7090-bde8-0211b8147f80")
        );
        assert_eq!(
            s.forked_from_id.as_deref(),
            Some("01a20a11-c891-7691-9716-0a912243e201")
        );
    }

    #[test]
    fn fork_prefix_detection() {
        let ev = |t: i64, n: u64| UsageEvent {
            ts_ms: Some(t),
            usage: Usage::new(n, 0, 1, 0),
            model: None,
        };
        let child = [ev(0, 1), ev(10, 2), ev(20, 3), ev(9_000, 4)];
        // parent known: matching prefix
        let prefix = [Usage::new(1, 0, 1, 0), Usage::new(2, 0, 1, 0)];
        assert_eq!(replayed_prefix_len(&child, Some(&prefix)), 2);
        // parent unknown: the dense burst
        assert_eq!(replayed_prefix_len(&child, None), 3);
        // no burst: a real pause between the first two
        let own = [ev(0, 1), ev(5_000, 2)];
        assert_eq!(replayed_prefix_len(&own, None), 0);
    }

    /// A rollout scanned as it is, and with a leading space on every line — which
    /// defeats every fast path, so serde reads each line.
    fn fast_and_slow(bytes: &[u8]) -> (RolloutScan, RolloutScan) {
        let slow_text: Vec<u8> = bytes
            .split(|&b| b == b'\n')
            .flat_map(|l| [b" ".as_slice(), l, b"\n"].concat())
            .collect();
        (scan_bytes(bytes), scan_bytes(&slow_text))
    }

    #[test]
    fn fast_and_serde_paths_agree_on_real_rollouts() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/codex-0.169.0/codex-home/sessions/2026/11/23");
        let mut n = 0;
        for ent in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let bytes = std::fs::read(ent.path()).unwrap_or_default();
            let (fast, slow) = fast_and_slow(&bytes);
            assert_eq!(fast.events, slow.events, "{}", ent.path().display());
            assert_eq!(fast.session_id, slow.session_id);
            assert_eq!(fast.models, slow.models);
            assert!(fast.session_id.is_some());
            n += fast.events.len();
        }
        assert_eq!(n, 18);
        // forks and a sub-agent (session_meta's history, token_usage_record lines)
        for v in ["0.169.0", "0.171.0"] {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!(
                "../tests/fixtures/codex-{v}/forks/codex-home/sessions/2026/12/07"
            ));
            let mut calls = 0;
            for ent in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let bytes = std::fs::read(ent.path()).unwrap_or_default();
                let (fast, slow) = fast_and_slow(&bytes);
                assert_eq!(fast.events, slow.events, "{}", ent.path().display());
                assert_eq!(fast.forked_from_id, slow.forked_from_id);
                assert_eq!(fast.history_paginated, slow.history_paginated);
                assert_eq!(fast.history_paginated, fast.forked_from_id.is_some());
                assert!(!fast.replays_parent());
                assert_eq!(fast.skipped_lines, 0);
                calls += fast.events.len();
            }
            assert_eq!(calls, 9, "{v}");
        }
    }

    #[test]
    fn lines_longer_than_the_buffer_bound_are_skipped() {
        let big = "x".repeat(MAX_LINE_BYTES + 100);
        let item = format!(
            r#"{{"timestamp":"2026-11-23T20:21:09.000Z","type":"response_item","payload":{{"type":"message","content":"{big}"}}}}"#
        );
        let odd = format!(r#"{{"payload":"{big}"}}"#);
        let a = tc("2026-01-01T00:00:01Z", (100, 10, 5, 1), (100, 10, 5, 1));
        let b = tc("2026-01-01T00:00:02Z", (300, 30, 15, 3), (200, 20, 10, 2));
        let text = format!("{item}\n{a}\n{odd}\n{b}\n{item}");
        let s = scan_reader(text.as_bytes()).unwrap_or_default();
        // the response item is known to be ignorable; the odd line is counted
        assert_eq!(s.events.len(), 2);
        assert_eq!(s.events[1].usage.input_tokens, 200);
        assert_eq!(s.skipped_lines, 1);
    }

    /// Reads at most `n` bytes a call: lines cross every chunk boundary.
    struct Trickle<'a>(&'a [u8], usize);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.1.min(buf.len()).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn event_reader_streams_what_a_whole_scan_sees() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/codex-0.169.0/codex-home/sessions/2026/11/23");
        for ent in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let bytes = std::fs::read(ent.path()).unwrap_or_default();
            let whole = scan_bytes(&bytes);
            for chunk in [1, 7, 4096, usize::MAX] {
                let mut buf = Vec::new();
                let mut rd = EventReader::new(Trickle(&bytes, chunk), &mut buf);
                let mut events = Vec::new();
                while let Ok(Some(ev)) = rd.next_event() {
                    events.push(ev);
                }
                let scan = rd.into_scan();
                assert_eq!(events, whole.events, "{}", ent.path().display());
                assert_eq!(scan.models, whole.models);
                assert_eq!(scan.session_id, whole.session_id);
                assert_eq!(scan.skipped_lines, whole.skipped_lines);
                assert!(scan.events.is_empty());
            }
        }
    }

    #[test]
    fn fork_burst_fed_one_at_a_time() {
        let mut b = ForkBurst::default();
        assert!(b.is_empty());
        assert!(!b.push(Some(0)));
        assert!(!b.push(Some(1_000)));
        assert!(!b.push(Some(1_500)));
        assert!(b.push(Some(2_501)));
        assert_eq!(b.len(), 3);
        // a missing timestamp ends it; a first pause means none
        let mut b = ForkBurst::default();
        b.push(Some(0));
        assert!(b.push(Some(1_001)));
        assert_eq!(b.len(), 0);
        let mut b = ForkBurst::default();
        b.push(None);
        assert!(b.push(Some(0)));
        assert!(b.is_empty());
    }

    #[test]
    fn names_and_uuids() {
        let n = "rollout-2026-11-23T20-21-08-01a20a11-cee4-7090-bde8-0211b8147f80.jsonl.zst";
        assert_eq!(
            session_id_from_name(n),
            Some("01a20a11-cee4-7090-bde8-0211b8147f80")
        );
        let ms = uuid_v7_ms("01a20a11-cee4-7090-bde8-0211b8147f80").unwrap_or_default();
        assert_eq!(crate::time::day_string(ms), "2026-11-23");
    }
}
