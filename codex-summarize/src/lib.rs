//! codex-summarize: exact token usage and cost of Codex runs.
//!
//! Sources, best first: the session's rollout under `$CODEX_HOME` (exact per-call
//! usage), `codex exec --json` events in the run's log (`turn.completed`,
//! cumulative for the thread), the human log's `tokens used` line (a blended,
//! cumulative total). Each summary says which one it used and reports **this
//! run's** tokens — for a resumed session, the difference from where the session
//! stood when the run began — with the session's running total beside it.

pub mod cli;
pub mod events;
pub mod format;
pub mod grouped;
pub mod html;
pub mod pricing;
pub mod report;
pub mod rollout;
pub mod run;
pub mod time;
pub mod usage;
pub mod zone;

pub use pricing::{Price, Pricing};
pub use run::{Options, RunSource, RunSummary, SummarizeError, Summary, summarize_run};
pub use usage::Usage;
