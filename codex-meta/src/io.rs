//! Output helpers shared by the tools: a closed stdout (`| head -1`) is a quiet, successful
//! end, never a panic or an error message.

use std::io;

/// True for the error a write to a closed pipe gives.
pub fn is_broken_pipe(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::BrokenPipe
}

/// Turn a broken-pipe error into success; keep every other result.
pub fn quiet_on_broken_pipe<T: Default>(result: io::Result<T>) -> io::Result<T> {
    match result {
        Err(e) if is_broken_pipe(&e) => Ok(T::default()),
        other => other,
    }
}
