//! The one error a tool call can end with: a single line for the agent (an MCP tool
//! result with `isError: true`), never a crash of the server and never a protocol error
//! for what is only a bad request.

use codex_meta::MetaError;

/// Why a tool call failed.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// The arguments do not fit the tool's schema, or do not make sense together.
    #[error("{0}")]
    BadArgs(String),
    /// A run could not be found, read or changed.
    #[error("{0}")]
    Meta(#[from] MetaError),
    /// codex-spawn refused the request or could not be run (its stderr line).
    #[error("{0}")]
    Spawn(String),
    /// What was asked cannot be done from here (a run on another host, a supervisor
    /// that cannot be signalled).
    #[error("{0}")]
    Refused(String),
    /// The request was cancelled by the client.
    #[error("cancelled by the client")]
    Cancelled,
    /// Something in the server itself went wrong (a worker thread panicked).
    #[error("{0}")]
    Internal(String),
}

impl ToolError {
    /// A [`ToolError::BadArgs`].
    pub fn bad_args(message: impl Into<String>) -> ToolError {
        ToolError::BadArgs(message.into())
    }

    /// The message on one line: control characters (newlines) become spaces, runs of
    /// spaces one.
    pub fn one_line(&self) -> String {
        one_line(&self.to_string())
    }
}

/// `text` on one line (control characters as spaces, whitespace runs collapsed).
pub use codex_meta::io::words_on_one_line as one_line;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_one_line() {
        let e = ToolError::bad_args("first\nsecond\t\u{1b}[1mthird");
        assert_eq!(e.one_line(), "first second [1mthird");
    }
}
