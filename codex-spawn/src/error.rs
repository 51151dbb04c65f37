//! The library's error type. Every variant says what was wrong and names the path or
//! argument, so `cli` can print `codex-spawn: <error>` on one line and pick the exit code.

use std::path::PathBuf;

/// What can stop codex-spawn (as opposed to codex failing, which is a run outcome).
#[derive(thiserror::Error, Debug)]
pub enum SpawnError {
    /// Bad command line (exit 2). The message is the whole story, e.g. `--repo is required`.
    #[error("{0}")]
    Usage(String),

    /// The run record could not be created or written (exit 125).
    #[error(transparent)]
    Meta(#[from] codex_meta::MetaError),

    /// Any other I/O failure of codex-spawn itself (exit 125).
    #[error("{}: cannot {action}: {source}", path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },

    /// What codex-spawn must print could not be printed (exit 125).
    #[error("{0}")]
    Output(String),

    /// A system call the supervisor depends on failed (exit 125).
    #[error("cannot {action}: {source}")]
    Sys {
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
}

impl SpawnError {
    /// A usage error (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        SpawnError::Usage(message.into())
    }

    /// An I/O error about `path`.
    pub fn io(path: impl Into<PathBuf>, action: &'static str, source: std::io::Error) -> Self {
        SpawnError::Io {
            path: path.into(),
            action,
            source,
        }
    }

    /// A failed system call.
    pub fn sys(action: &'static str, errno: nix::errno::Errno) -> Self {
        SpawnError::Sys {
            action,
            source: std::io::Error::from(errno),
        }
    }

    /// The exit status codex-spawn ends with for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            SpawnError::Usage(_) => 2,
            _ => codex_meta::exit::OWN_FAILURE,
        }
    }
}
