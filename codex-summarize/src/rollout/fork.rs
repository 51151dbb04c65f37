//! Forked sessions whose file replays their parent's calls (codex before paginated
//! history, `history_mode` absent or `"legacy"`: the parent's lines copied, its
//! `token_count`s with them, often re-stamped at the fork): those must not be counted
//! twice. Paginated forks and sub-agents never replay (see [`super::own`]), so this
//! applies only where [`RolloutScan::replays_parent`] says so.

use super::*;

/// Decides, one event at a time, whether a fork's leading events are its parent's
/// replayed history. When the parent's events up to the fork instant are known, the
/// child's leading events that match them one for one are the replay; otherwise (parent
/// unavailable or rewritten) a dense burst at the start — consecutive events at most
/// [`FORK_BURST_PAUSE_MS`] apart ([`ForkBurst`]) — is taken as the replay, the way
/// ccusage does. Holds no event: the callers stream both files.
#[derive(Debug, Clone)]
pub struct ReplayFilter {
    fork_ts: Option<i64>,
    burst: usize,
    matched: usize,
    index: usize,
    parent_live: bool,
}

impl ReplayFilter {
    /// A filter for a fork whose session began at `fork_ts`, whose events start with a
    /// dense burst of `burst` ([`ForkBurst`]), and whose parent's events are (`parent`)
    /// or are not available.
    pub fn new(fork_ts: Option<i64>, burst: usize, parent: bool) -> Self {
        ReplayFilter {
            fork_ts,
            burst,
            matched: 0,
            index: 0,
            parent_live: parent,
        }
    }

    /// Is the child's next event `ev` replayed? `parent_next` yields the parent's next
    /// event (asked at most once a call, while the parent still matches).
    pub fn replayed(
        &mut self,
        ev: &UsageEvent,
        parent_next: impl FnOnce() -> Option<UsageEvent>,
    ) -> bool {
        let i = self.index;
        self.index += 1;
        if self.parent_live {
            // the parent's calls up to (and including) the fork instant
            let pe = parent_next().filter(|pe| match (self.fork_ts, pe.ts_ms) {
                (Some(f), Some(t)) => t <= f,
                _ => true,
            });
            if pe.is_some_and(|pe| pe.usage == ev.usage) {
                self.matched += 1;
                return true;
            }
            self.parent_live = false;
        }
        i < if self.matched > 0 {
            self.matched
        } else {
            self.burst
        }
    }
}

/// The length of a fork's replayed prefix, given its events and (when on disk) its
/// parent's rollout, streamed: see [`ReplayFilter`]. An unreadable parent is one not on
/// disk.
pub fn replayed_len(child: &[UsageEvent], fork_ts: Option<i64>, parent: Option<&Path>) -> usize {
    let parent = parent.and_then(|p| open_rollout(p).ok());
    with_scan_buffer(1, |pbuf| {
        let mut parent = parent.map(|r| EventReader::new(r, pbuf));
        let mut filter = ReplayFilter::new(fork_ts, burst_len(child), parent.is_some());
        child
            .iter()
            .take_while(|ev| {
                filter.replayed(ev, || {
                    parent.as_mut().and_then(|p| p.next_event().ok().flatten())
                })
            })
            .count()
    })
}

/// How many leading events of a fork are its parent's replayed history, the parent's
/// events up to the fork instant being `parent_prefix` (when known): [`ReplayFilter`] on
/// events in memory.
pub fn replayed_prefix_len(child: &[UsageEvent], parent_prefix: Option<&[Usage]>) -> usize {
    let mut prefix = parent_prefix.map(|p| p.iter());
    let mut filter = ReplayFilter::new(None, burst_len(child), prefix.is_some());
    child
        .iter()
        .take_while(|ev| {
            filter.replayed(ev, || {
                prefix
                    .as_mut()
                    .and_then(Iterator::next)
                    .map(|u| UsageEvent {
                        ts_ms: None,
                        usage: *u,
                        model: None,
                    })
            })
        })
        .count()
}

fn burst_len(events: &[UsageEvent]) -> usize {
    let mut burst = ForkBurst::default();
    for ev in events {
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
