//! The library's one error type.
//!
//! Every variant names the file or the argument it is about, so that a binary can print
//! `codex-meta: <error>` on one line and the reader knows what to fix. The binaries map
//! these errors to exit codes; the library never prints.

use std::path::PathBuf;

/// Everything that can go wrong while reading, writing, locking or resolving a run record.
#[derive(thiserror::Error, Debug)]
pub enum MetaError {
    /// A file or directory that should exist does not.
    #[error("{}: no such file or directory", path.display())]
    NotFound { path: PathBuf },

    /// Any other I/O failure, with what was being done.
    #[error("{}: cannot {action}: {source}", path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },

    /// The meta file exists but is not a valid meta (bad JSON, truncated, wrong types).
    #[error("{}: corrupt meta: {message}", path.display())]
    Corrupt { path: PathBuf, message: String },

    /// A RUN argument that is a well-formed id but has no meta in the runs dir.
    #[error("unknown run id '{id}' (no {} in {})", file, dir.display())]
    UnknownRun {
        id: String,
        file: String,
        dir: PathBuf,
    },

    /// A RUN argument that is the prefix of several run ids.
    #[error("ambiguous run id '{id}': {count} runs in {} start with it", dir.display())]
    AmbiguousRun {
        id: String,
        count: usize,
        dir: PathBuf,
    },

    /// A string that is not an acceptable run id.
    #[error("invalid run id '{arg}': {reason}")]
    InvalidRunId { arg: String, reason: &'static str },

    /// A `key=value` argument that cannot be applied.
    #[error("invalid argument '{arg}': {reason}")]
    BadAssignment { arg: String, reason: String },

    /// A value that does not fit the known field it is given for.
    #[error("invalid value for '{key}': {message}")]
    BadField { key: String, message: String },

    /// Input that is not what a command needs (e.g. stdin that is not a JSON object).
    #[error("{what}: {message}")]
    BadInput { what: String, message: String },

    /// Another process already holds the run's lock.
    #[error("{}: run lock is held by another process", path.display())]
    LockHeld { path: PathBuf },

    /// No free run id could be found (a crowded runs dir or a broken clock).
    #[error("{}: could not allocate a new run id after {attempts} attempts", dir.display())]
    Exhausted { dir: PathBuf, attempts: u32 },

    /// A directory that is not safe to keep runs in (owned by another user, or writable
    /// by others without the sticky bit).
    #[error("{}: unsafe runs dir: {reason}", path.display())]
    UnsafeDir { path: PathBuf, reason: String },

    /// An input larger than its documented cap.
    #[error("{what}: larger than {limit} bytes (the limit)")]
    TooLarge { what: String, limit: u64 },

    /// A field that only the run's owner writes (identity, paths, the liveness witness).
    #[error("'{key}' cannot be set: it is part of the run's identity ({why})")]
    Protected { key: String, why: &'static str },

    /// The JSON to write could not be produced.
    #[error("{}: cannot serialise: {message}", path.display())]
    Serialize { path: PathBuf, message: String },
}

impl MetaError {
    /// Wrap an I/O error, turning `NotFound` into [`MetaError::NotFound`].
    pub fn io(path: impl Into<PathBuf>, action: &'static str, source: std::io::Error) -> Self {
        let path = path.into();
        if source.kind() == std::io::ErrorKind::NotFound {
            MetaError::NotFound { path }
        } else {
            MetaError::Io {
                path,
                action,
                source,
            }
        }
    }
}
