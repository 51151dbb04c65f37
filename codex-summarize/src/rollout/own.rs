//! A rollout's own model calls: the one place that decides which `token_count` is a
//! call of this session and what it used. Every reader of rollouts gets its events
//! from here (the Codex-home report, a run's summary, codex-spawn's budget watch).
//!
//! - A call's usage is its `last_token_usage` when the cumulative total moved, else the
//!   difference of totals (ccusage's rule): a re-emitted `token_count` (the same total)
//!   adds nothing, a total that went backwards (a context reset) still adds its call.
//! - The baseline a session inherits is taken off: a fork's first total already holds
//!   its parent's (codex 0.16x `exec fork`: total = the parent's total at the fork + its
//!   own call, `last_token_usage` = its own call), so the first call counts its `last`.
//! - The lines a sub-agent copies from its parent (ordinals below its
//!   `session_meta.subagent_history_start_ordinal`) are its parent's: a `token_count`
//!   there only sets the baseline, a user message there starts no turn. The sub-agent's
//!   own counter may start at zero (codex 0.169: it does): its first total equal to its
//!   own call is a call, whatever the inherited total.
//! - Where the CLI writes a `token_usage_record` per model response (0.169 on: thread id,
//!   response id, the call's `usage`, `thread_token_usage`, just before the call's
//!   `token_count`), a `token_count` whose total did not move is still a call when a
//!   record of this thread for a new response came before it with that total (a counter
//!   that restarted where the last one stood). A record of another thread (a copied one)
//!   or naming the response before it again counts nothing.
//!
//! Whether a fork's file replays its parent's calls is another matter, decided with the
//! parent's file: see [`super::fork`]. Files that say their history is paginated
//! (`history_mode: "paginated"`) never do.

use super::*;

/// An own `token_usage_record` not yet followed by its `token_count`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Fresh {
    pub(super) usage: Usage,
    /// The thread's cumulative total with this call (`thread_token_usage`).
    pub(super) thread_total: Option<Usage>,
}

/// The rules of [the module](self), fed line by line.
#[derive(Debug, Default)]
pub(super) struct OwnCalls {
    /// The last cumulative total seen (an inherited one, in a sub-agent's copied lines).
    prev_total: Option<Usage>,
    /// A user turn began (a `user_message` event) since the last counted call. Not a
    /// `turn_context`: 0.42 writes one before each model request of a turn, followed by
    /// the running total repeated — a repeat, not a resumed run's first call.
    pub(super) new_turn: bool,
    /// The session's CLI counts its total per process (before 0.79, by its
    /// `session_meta.cli_version`): a resumed run's total starts again.
    pub(super) per_process_totals: bool,
    /// Lines with an ordinal below this are the parent's, copied into a sub-agent.
    pub(super) inherited_below: Option<u64>,
    /// Inherited totals were seen and no own call yet.
    after_inherited: bool,
    fresh: Option<Fresh>,
    /// A hash of the last own record's response id.
    last_response: Option<u64>,
}

impl OwnCalls {
    /// Is the line of ordinal `ordinal` a copy of the parent's?
    pub(super) fn inherited(&self, ordinal: Option<u64>) -> bool {
        matches!((self.inherited_below, ordinal), (Some(b), Some(o)) if o < b)
    }

    /// A `user_message` event.
    pub(super) fn user_message(&mut self, ordinal: Option<u64>) {
        if !self.inherited(ordinal) {
            self.new_turn = true;
        }
    }

    /// A `token_count` (total and last call, either may be absent): the usage of the
    /// call it reports, or `None` (inherited, a repeat, nothing).
    /// One refinement, by the session's `cli_version`: codex up to 0.77 counts the total
    /// per process, so a resumed run's first call reports a total equal to its own
    /// usage — which, when it equals the previous total, would look like a repeat. There
    /// a call whose total is its own usage, in a turn that began after the last counted
    /// call, is a new call. (Later versions repeat the session's total at a resume: that
    /// one is a repeat.)
    pub(super) fn count(
        &mut self,
        ordinal: Option<u64>,
        total: Option<Usage>,
        last: Option<Usage>,
    ) -> Option<Usage> {
        if self.inherited(ordinal) {
            if total.is_some() {
                self.prev_total = total;
                self.after_inherited = true;
            }
            return None;
        }
        let fresh = self.fresh.take();
        let restarted = total.is_some()
            && total == last
            && ((self.per_process_totals && self.new_turn) || self.after_inherited);
        let advanced = restarted || total.is_none_or(|t| Some(t) != self.prev_total);
        let mut delta = last.filter(|_| advanced).or_else(|| {
            total.map(|t| {
                t.saturating_sub(&self.prev_total.unwrap_or_default())
                    .normalized()
            })
        });
        if !advanced {
            if let Some(f) = fresh.filter(|f| f.thread_total.is_some() && f.thread_total == total) {
                delta = Some(f.usage);
            }
        }
        if total.is_some() {
            self.prev_total = total;
        }
        let delta = delta.filter(|d| !d.is_zero())?;
        self.new_turn = false;
        self.after_inherited = false;
        Some(delta)
    }

    /// A `token_usage_record` (`own`: of this thread, or of no named thread).
    pub(super) fn record(
        &mut self,
        ordinal: Option<u64>,
        own: bool,
        response: Option<&str>,
        fresh: Fresh,
    ) {
        if !own || self.inherited(ordinal) {
            return;
        }
        let key = response.map(|r| {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            r.hash(&mut h);
            h.finish()
        });
        if key.is_some() && key == self.last_response {
            return;
        }
        self.last_response = key;
        self.fresh = Some(fresh);
    }
}

impl Scanner {
    /// A `token_count`'s numbers: counted, with the model, when they are a call of this
    /// session's own.
    pub(super) fn apply_counts(
        &mut self,
        ts_ms: Option<i64>,
        ordinal: Option<u64>,
        total: Option<Usage>,
        last: Option<Usage>,
        model: Option<&str>,
    ) {
        if let Some(t) = total.filter(|_| !self.own.inherited(ordinal)) {
            self.scan.last_total = Some(t);
        }
        let Some(delta) = self.own.count(ordinal, total, last) else {
            return;
        };
        let model = match model {
            Some(m) => {
                let i = self.scan.intern(m);
                self.current_model = Some(i);
                Some(i)
            }
            None => self.current_model,
        };
        self.scan.events.push(UsageEvent {
            ts_ms,
            usage: delta,
            model,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The captured sub-agent rollout (codex-cli 0.169.0, `[spawn]`: its parent's lines
    /// copied below `subagent_history_start_ordinal` 8, its one call of 1,050).
    fn sub_agent() -> Vec<String> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/codex-0.169.0/forks/codex-home/sessions/2026/12/07");
        let path =
            dir.join("rollout-2026-12-07T11-33-36-01a25047-ddbc-75d1-a39a-78607935d37a.jsonl");
        let text = std::fs::read_to_string(path).unwrap_or_default();
        text.lines().map(str::to_owned).collect()
    }

    fn line_of(lines: &[String], pred: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        lines
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .find(|v| pred(v))
            .unwrap_or_default()
    }

    fn is_count(v: &serde_json::Value) -> bool {
        v["payload"]["type"] == "token_count"
    }

    fn set_usage(v: &mut serde_json::Value, key: &str, n: u64) {
        v[key] = serde_json::json!({"input_tokens": n, "cached_input_tokens": 0,
            "output_tokens": 0, "reasoning_output_tokens": 0, "total_tokens": n});
    }

    /// `lines` with `extra` put in before line index `at`.
    fn scan_with(lines: &[String], at: usize, extra: &[serde_json::Value]) -> RolloutScan {
        let mut all: Vec<String> = lines[..at].to_vec();
        all.extend(extra.iter().map(|v| v.to_string()));
        all.extend_from_slice(&lines[at..]);
        scan_bytes(all.join("\n").as_bytes())
    }

    fn totals(s: &RolloutScan) -> (usize, u64) {
        (
            s.events.len(),
            s.events.iter().map(|e| e.usage.total_tokens).sum(),
        )
    }

    #[test]
    fn a_sub_agent_counts_its_own_call_only() {
        let lines = sub_agent();
        let s = scan_bytes(lines.join("\n").as_bytes());
        assert_eq!(
            s.session_id.as_deref(),
            Some("01a25047-ddbc-75d1-a39a-78607935d37a")
        );
        assert!(s.history_paginated && !s.replays_parent());
        assert_eq!(totals(&s), (1, 1050));
    }

    /// A `token_count` among the copied lines (below the start ordinal) is the parent's:
    /// it sets the baseline, and the sub-agent's own counter starting at zero — even at
    /// the inherited total — is its call.
    #[test]
    fn copied_counts_are_the_parents() {
        let lines = sub_agent();
        let own = line_of(&lines, is_count);
        for inherited in [1050, 5000] {
            let mut copied = own.clone();
            copied["ordinal"] = 5.into();
            set_usage(
                &mut copied["payload"]["info"],
                "total_token_usage",
                inherited,
            );
            set_usage(&mut copied["payload"]["info"], "last_token_usage", 1050);
            // the copied lines are ordinals 1..7: put it in after the copied user message
            let s = scan_with(&lines, 7, &[copied]);
            assert_eq!(totals(&s), (1, 1050), "inherited {inherited}");
            assert_eq!(s.last_total.map(|t| t.total_tokens), Some(1050));
        }
    }

    /// A sub-agent's counter restarting where it stood (its total equal to the last one):
    /// a record of this thread for a new response says it is a call; without it, or with
    /// another thread's record, or the same response again, it is a repeat.
    #[test]
    fn a_record_for_a_new_response_makes_a_repeated_total_a_call() {
        let lines = sub_agent();
        let count = line_of(&lines, is_count);
        let record = line_of(&lines, |v| v["type"] == "token_usage_record");
        let end = lines.len();
        let mut again = record.clone();
        again["payload"]["response_id"] = "resp_99".into();
        let mut other = again.clone();
        other["payload"]["thread_id"] = "01a25047-dd6e-7de2-aed7-4b4183f77c14".into();
        for (extra, calls) in [
            (vec![count.clone()], 1),
            (vec![again.clone(), count.clone()], 2),
            (vec![other, count.clone()], 1),
            (vec![record.clone(), count.clone()], 1),
        ] {
            let s = scan_with(&lines, end, &extra);
            assert_eq!(totals(&s), (calls, 1050 * calls as u64), "{extra:?}");
            // serde reads the same (a leading space defeats the fast paths)
            let slow: Vec<String> = lines
                .iter()
                .chain(
                    extra
                        .iter()
                        .map(|v| v.to_string())
                        .collect::<Vec<_>>()
                        .iter(),
                )
                .map(|l| format!(" {l}"))
                .collect();
            assert_eq!(scan_bytes(slow.join("\n").as_bytes()).events, s.events);
        }
    }

    /// The record's fields, shared by every line the scan parses, are lenient too.
    #[test]
    fn odd_usage_fields_do_not_lose_a_line() {
        let line = r#"{"type":"event_msg","payload":{"type":"token_count","usage":"odd","thread_token_usage":[1],"info":{"last_token_usage":{"input_tokens":7,"output_tokens":1}}}}"#;
        let s = scan_bytes(line.as_bytes());
        assert_eq!((s.skipped_lines, totals(&s)), (0, (1, 8)));
    }
}
