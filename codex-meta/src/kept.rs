//! The meta's fields that only some runs have, kept among its other fields (so a run
//! without them has none of their keys, and an older reader keeps them as it found
//! them): each typed here, with the one spelling of its key, written and read through
//! [`Meta`]'s accessors — never picked out of `extra` by name elsewhere.
//!
//! (`worktree` and `scheduler` are kept the same way: [`Meta::worktree`],
//! [`Meta::scheduler`](crate::scheduler).)

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::Meta;

/// When the run was queued (`--after`, `--max-running`): RFC 3339.
pub const QUEUED_AT: &str = "queued_at";
/// How long it waited in the queue, in seconds (written when it left the queue, or
/// when it ended there).
pub const QUEUED_SECONDS: &str = "queued_seconds";
/// Which slot of its queue it ran in.
pub const QUEUE_SLOT: &str = "queue_slot";
/// Who asked for the run to be cancelled ([`CancelRequest`]).
pub const CANCEL_REQUEST: &str = "cancel_request";
/// What the run has spent ([`Spend`]).
pub const SPEND: &str = "spend";

/// What a run has spent: while it runs, its supervisor's reading of the session's
/// rollout (this run's model calls only), at most every few seconds; at its end, its
/// summary's numbers. The summary stays the account; this is what a reader of many
/// records (`codex-meta list`) shows without reading any rollout.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Spend {
    /// Tokens (input + output), when known.
    pub tokens: Option<u64>,
    /// `tokens` is the human log's blended total, (input − cached) + output: only that
    /// was known.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub tokens_blended: bool,
    /// Cost in USD, when every call's model has a price.
    pub cost_usd: Option<f64>,
    /// When it was read (RFC 3339).
    pub at: String,
}

/// A cancel asked of a run, recorded before the signal goes (`codex-meta cancel`,
/// codex-mcp's `cancel`), so the run's end can say who stopped it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CancelRequest {
    /// When (RFC 3339).
    pub requested_at: String,
    /// The signal sent (`SIGTERM`, …).
    pub signal: String,
    /// How it was sent when not by a signal from here (`scancel` for a Slurm job).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
    /// Who asked (always written; a record without it says nothing of who).
    pub by: Option<Requester>,
}

/// Who asked for a cancel: the user (name and uid), the host, the process and the tool —
/// no environment values.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Requester {
    pub user: Option<String>,
    pub uid: Option<u32>,
    pub host: Option<String>,
    pub pid: Option<u32>,
    /// The program that asked (`codex-meta`, `codex-mcp`): a file name only.
    pub tool: Option<String>,
}

impl CancelRequest {
    /// `codex-meta cancel (user@host, pid N)`: who stopped the run, in the words its end
    /// gives. Only a tool name of ours is repeated (never a path or another name).
    pub fn describe(&self) -> Option<String> {
        let by = self.by.as_ref()?;
        let user = by
            .user
            .clone()
            .or_else(|| by.uid.map(|u| format!("uid {u}")))
            .unwrap_or_else(|| "someone".to_owned());
        let host = by.host.as_deref().unwrap_or("?");
        let tool = by
            .tool
            .as_deref()
            .filter(|t| matches!(*t, "codex-mcp" | "codex-meta"))
            .unwrap_or("codex-meta");
        Some(match by.pid {
            Some(p) => format!("{tool} cancel ({user}@{host}, pid {p})"),
            None => format!("{tool} cancel ({user}@{host})"),
        })
    }
}

impl Meta {
    /// When the run was queued, if it was.
    pub fn queued_at(&self) -> Option<&str> {
        self.extra.get(QUEUED_AT).and_then(Value::as_str)
    }

    /// Record when the run was queued.
    pub fn set_queued_at(&mut self, at: &str) {
        self.extra.insert(QUEUED_AT.to_owned(), json!(at));
    }

    /// How long the run waited in the queue, once it left it (or ended there).
    pub fn queued_seconds(&self) -> Option<f64> {
        self.extra.get(QUEUED_SECONDS).and_then(Value::as_f64)
    }

    /// Record how long the run waited in the queue.
    pub fn set_queued_seconds(&mut self, seconds: f64) {
        self.extra.insert(QUEUED_SECONDS.to_owned(), json!(seconds));
    }

    /// Record the queue slot the run took.
    pub fn set_queue_slot(&mut self, slot: u32) {
        self.extra.insert(QUEUE_SLOT.to_owned(), json!(slot));
    }

    /// What the run has spent, as last recorded (see [`Spend`]).
    pub fn spend(&self) -> Option<Spend> {
        serde_json::from_value(self.extra.get(SPEND)?.clone()).ok()
    }

    /// Record what the run has spent.
    pub fn set_spend(&mut self, s: &Spend) {
        if let Ok(v) = serde_json::to_value(s) {
            self.extra.insert(SPEND.to_owned(), v);
        }
    }

    /// The cancel asked of the run, if any (and it is well formed).
    pub fn cancel_request(&self) -> Option<CancelRequest> {
        serde_json::from_value(self.extra.get(CANCEL_REQUEST)?.clone()).ok()
    }

    /// Record a cancel asked of the run.
    pub fn set_cancel_request(&mut self, r: &CancelRequest) {
        if let Ok(v) = serde_json::to_value(r) {
            self.extra.insert(CANCEL_REQUEST.to_owned(), v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cancel_request_is_written_as_before_and_described() {
        let r = CancelRequest {
            requested_at: "2026-12-07T00:00:00Z".into(),
            signal: "SIGTERM".into(),
            via: None,
            by: Some(Requester {
                user: Some("ana".into()),
                uid: Some(1000),
                host: Some("h1".into()),
                pid: Some(42),
                tool: Some("codex-mcp".into()),
            }),
        };
        let mut m = Meta::new("r");
        m.set_cancel_request(&r);
        assert_eq!(
            serde_json::to_string(&m.extra[CANCEL_REQUEST]).unwrap(),
            r#"{"requested_at":"2026-12-07T00:00:00Z","signal":"SIGTERM","by":{"user":"ana","uid":1000,"host":"h1","pid":42,"tool":"codex-mcp"}}"#
        );
        assert_eq!(m.cancel_request().as_ref(), Some(&r));
        assert_eq!(
            r.describe().as_deref(),
            Some("codex-mcp cancel (ana@h1, pid 42)")
        );
    }

    #[test]
    fn a_partial_or_foreign_request_is_described_without_inventing() {
        let mut m = Meta::new("r");
        m.extra.insert(
            CANCEL_REQUEST.into(),
            json!({"by": {"uid": 7, "tool": "/tmp/evil"}}),
        );
        let r = m.cancel_request().expect("reads");
        assert_eq!(r.describe().as_deref(), Some("codex-meta cancel (uid 7@?)"));
        m.extra
            .insert(CANCEL_REQUEST.into(), json!({"signal": "SIGINT"}));
        assert_eq!(m.cancel_request().and_then(|r| r.describe()), None);
        m.extra
            .insert(CANCEL_REQUEST.into(), json!("not an object"));
        assert_eq!(m.cancel_request(), None);
    }

    #[test]
    fn spend_round_trips_and_a_bad_one_is_none() {
        let mut m = Meta::new("r");
        assert_eq!(m.spend(), None);
        let s = Spend {
            tokens: Some(1200),
            tokens_blended: false,
            cost_usd: Some(0.0123),
            at: "2026-12-08T00:00:00Z".into(),
        };
        m.set_spend(&s);
        assert_eq!(m.spend(), Some(s));
        assert_eq!(
            m.extra[SPEND].to_string(),
            r#"{"tokens":1200,"cost_usd":0.0123,"at":"2026-12-08T00:00:00Z"}"#
        );
        m.extra.insert(SPEND.into(), json!({"tokens": "many"}));
        assert_eq!(m.spend(), None);
    }

    #[test]
    fn queue_facts_round_trip() {
        let mut m = Meta::new("r");
        assert_eq!((m.queued_at(), m.queued_seconds()), (None, None));
        m.set_queued_at("2026-12-07T00:00:00Z");
        m.set_queued_seconds(2.5);
        m.set_queue_slot(3);
        assert_eq!(m.queued_at(), Some("2026-12-07T00:00:00Z"));
        assert_eq!(m.queued_seconds(), Some(2.5));
        assert_eq!(m.extra[QUEUE_SLOT], json!(3));
    }
}
