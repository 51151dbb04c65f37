//! Forked sessions: a fork's rollout starts by replaying its parent's history, which
//! must not be counted twice.

use super::*;

/// How many leading events of a fork are its parent's replayed history.
///
/// A forked rollout starts by replaying the parent's items. When the parent's
/// events up to the fork instant are known, the child's leading events that
/// match them one for one are the replay; otherwise (parent unavailable or
/// rewritten) a dense burst at the start — consecutive events at most
/// [`FORK_BURST_PAUSE_MS`] apart — is taken as the replay, the way ccusage does.
pub fn replayed_prefix_len(child: &[UsageEvent], parent_prefix: Option<&[Usage]>) -> usize {
    if let Some(prefix) = parent_prefix {
        let n = child
            .iter()
            .zip(prefix)
            .take_while(|(c, p)| c.usage == **p)
            .count();
        if n > 0 {
            return n;
        }
    }
    let mut burst = ForkBurst::default();
    for ev in child {
        if burst.push(ev.ts_ms) {
            break;
        }
    }
    burst.len()
}

/// The length of the dense burst of events at the start of a rollout
/// (consecutive events at most [`FORK_BURST_PAUSE_MS`] apart, the first two
/// included; 0 when the first two are not), fed one event at a time.
#[derive(Debug, Clone, Copy, Default)]
pub struct ForkBurst {
    /// At least one event was seen.
    started: bool,
    /// The last timestamp inside the burst.
    prev: Option<i64>,
    len: usize,
    done: bool,
}

impl ForkBurst {
    /// Feeds the next event's timestamp; true once the burst is known (later
    /// events cannot change it).
    pub fn push(&mut self, ts_ms: Option<i64>) -> bool {
        if self.done {
            return true;
        }
        let close = |prev: Option<i64>| match (prev, ts_ms) {
            (Some(a), Some(b)) => (0..=FORK_BURST_PAUSE_MS).contains(&b.saturating_sub(a)),
            _ => false,
        };
        if !self.started {
            self.started = true;
            self.prev = ts_ms;
        } else if close(self.prev) {
            self.prev = ts_ms;
            self.len = if self.len == 0 { 2 } else { self.len + 1 };
        } else {
            self.done = true;
        }
        self.done
    }

    /// The burst's length so far (final once [`ForkBurst::push`] said so, or
    /// at the end of the events).
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when there is no burst (yet).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// The parent's usage up to (and including) the fork instant.
pub fn parent_prefix(parent: &RolloutScan, forked_at_ms: Option<i64>) -> Vec<Usage> {
    parent
        .events
        .iter()
        .take_while(|e| match (forked_at_ms, e.ts_ms) {
            (Some(f), Some(t)) => t <= f,
            _ => true,
        })
        .map(|e| e.usage)
        .collect()
}
