//! codex-mcp: the codex-tools run lifecycle for agents, over MCP (stdio).
//!
//! Why it exists: an MCP host (Claude Code, Cursor, Claude Desktop, …) drives tools, not
//! shells. Since codex 0.154 removed `codex mcp-server` — which blocked until the task
//! ended anyway — this server gives such a host the fire-and-forget lifecycle of the
//! four tools: `spawn` returns at once with a run id, `wait` blocks (sending progress
//! notifications) until the run ends, `result` says how it went in a few hundred bytes.
//!
//! It holds no run logic of its own. A run started here is an ordinary run in the runs
//! dir, started by the `codex-spawn` binary (`--detach`, never a fork inside the async
//! server), visible to the CLI tools and surviving the server's exit; status, list, wait,
//! result and cancel call the libraries the CLI tools use.
//!
//! Module map:
//! - [`cli`]: the clap definition, exit statuses, `main` (the tokio runtime and stdio);
//! - [`server`]: the MCP handler — tool list, dispatch, progress and cancellation;
//! - [`params`]: each tool's arguments (their JSON schemas are derived from these);
//! - [`spawn`]: `spawn` as a `codex-spawn --detach --json` child process;
//! - [`runs`]: status, list, wait, result and cancel on the runs dir;
//! - [`compact`]: every result fits in `max_bytes` (1 KiB by default);
//! - [`error`]: the one-line tool error.

pub mod cli;
pub mod compact;
pub mod error;
pub mod params;
pub mod runs;
pub mod server;
pub mod spawn;

pub use error::ToolError;
pub use server::{CodexMcp, Settings};
