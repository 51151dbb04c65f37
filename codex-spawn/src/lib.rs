//! codex-spawn: run `codex exec` as a fire-and-forget job.
//!
//! One process, the *supervisor*, owns a run from its first line to its last: it creates
//! the run's files through `codex-meta` (log with O_EXCL, a lock on it held for the run's
//! life, the meta written atomically), prints the four run lines, starts codex in its own
//! process group, copies codex's output into the log (and to stdout), watches it for the
//! session id, forwards signals, enforces the timeout, and at the end writes the final
//! meta, the summary and the closing lines.
//!
//! Module map:
//! - [`cli`]: the clap definition, exit codes, `main` (thin).
//! - [`request`]: a launch request ([`cli::Args`]) back to codex-spawn's argv (codex-mcp's
//!   way to start a run).
//! - [`config`]: turns parsed arguments into a validated [`config::Config`] (usage errors
//!   are found here, before any file is created).
//! - [`argv`]: the codex argv, PATH lookup, shell quoting for the log.
//! - [`codex_version`]: which Codex CLI this is (npm package, cache, `--version`).
//! - [`preamble`]: the log's preamble at each verbosity.
//! - [`events`]: `--event-stream` lines and `--notify-cmd` hooks.
//! - [`process`]: starting each child through its keeper, a process in a session of its
//!   own that kills everything of the run when the supervisor dies (and a subreaper on
//!   Linux); [`process::tree`] finds and kills a run's processes wherever they moved.
//! - [`supervise`]: the run itself — its files and their safety, the attempts (the
//!   verify-and-resume loop), the poll(2) event loop that watches each child, and the
//!   end of the run; each concern in a file of its own.
//! - [`sys`]: what differs by platform, one module per mechanism (signals, the prompt on
//!   stdin, subreaper and parent-death signal, the process table, the disk reserve), the
//!   Linux and the portable implementation side by side.
//! - [`outcome`]: the streaming detector of a completed / failed turn in codex's output.
//! - [`result`]: the result object (`--json`'s closing line, codex-mcp's `result`).
//! - [`verify`]: `--verify`: the check's bounded output tail and the follow-up prompt.
//! - [`detach`]: `--detach` (fork + setsid, no daemon).
//! - [`worktree`]: `--worktree`: the run's own git worktree and branch.

pub mod argv;
pub mod cli;
pub mod codex_version;
pub mod config;
pub mod detach;
pub mod error;
pub mod events;
pub mod outcome;
pub mod preamble;
pub mod process;
pub mod request;
pub mod result;
pub mod summary;
pub mod supervise;
pub mod sys;
pub mod verify;
pub mod worktree;

pub use config::{Config, Resume, TaskSource, Verbosity};
pub use error::SpawnError;
