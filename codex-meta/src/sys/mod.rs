//! What differs by platform in codex-meta, and the one reader of the process table that
//! codex-meta's witness and codex-spawn's process tree both use. Every `unsafe` of
//! codex-meta stands here (the rest of the crate is `unsafe_code = "deny"`).
//!
//! - [`proc`]: one process (parent, group, session, state, start time, threads), its
//!   children, a session's members, the whole table (/proc | libproc | nothing);
//! - [`pid`]: one process named by pid: this boot's id, a signal that cannot hit a
//!   reused pid, waiting for an exit (pidfd | kqueue | probing).
#![allow(unsafe_code)]

pub mod pid;
pub mod proc;
