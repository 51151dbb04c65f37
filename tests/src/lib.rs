//! Test infrastructure of codex-tools (package `codex-tools-tests`, never published).
//!
//! Why it exists: every tool in the workspace drives OpenAI's Codex CLI, and its tests
//! need three stand-ins for the world:
//! - [`mock`]: a scripted Responses-API endpoint the *real* CLI talks to offline
//!   (binary `codex-mock-responses`, used by `scripts/e2e` and `scripts/capture-fixtures`);
//! - [`fake_codex`]: a fake `codex` (binary `fake-codex`) that replays transcripts
//!   captured from the real CLI (`fixtures/codex-0.169.0/`), with fault knobs, for fast
//!   tests of the supervisor;
//! - [`real_codex`]: finds the pinned real CLI and runs `codex exec` in a scrubbed env;
//! - [`tools`]: finds the workspace's built tools for the end-to-end suite (`tests/e2e_tools.rs`);
//! - [`e2e`]: one end-to-end test's world (temp dir, CODEX_HOME, repo, runs dir, mock).
//!
//! It also renders the man pages of the five tools from their clap definitions ([`man`]).

pub mod e2e;
pub mod fake_codex;
pub mod man;
pub mod mock;
pub mod mock_cli;
pub mod real_codex;
pub mod tools;

/// Directory of the fixtures captured from codex-cli 0.169.0 (compile-time path).
pub const FIXTURES_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/codex-0.169.0");
