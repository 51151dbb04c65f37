//! What differs by platform, one small module per mechanism, each with its Linux and its
//! portable implementation side by side (the `portable` feature forces the portable one
//! on Linux, so both are tested here). Nothing outside this directory (and codex-meta's
//! `witness`) names signalfd, memfd, prctl or /proc.
//!
//! - [`signals`]: signals as poll(2) events (signalfd | self-pipe), and the reset every
//!   child gets before exec;
//! - [`stdin`]: the prompt on a child's stdin (memfd | a pipe the keeper feeds);
//! - [`reaper`]: orphans adopted and codex dying with its keeper (subreaper and
//!   parent-death signal | neither);
//! - [`proc_table`]: the process table (/proc | libproc);
//! - [`reserve`]: room kept on the runs dir's disk for the final record (fallocate |
//!   written zeros).

pub mod proc_table;
pub mod reaper;
pub mod reserve;
pub mod signals;
pub mod stdin;

/// A pipe whose both ends are close-on-exec (pipe2 is not everywhere: macOS has none).
pub fn cloexec_pipe() -> std::io::Result<(std::os::fd::OwnedFd, std::os::fd::OwnedFd)> {
    use nix::fcntl::{FcntlArg, FdFlag, fcntl};
    let (r, w) = nix::unistd::pipe()?;
    for fd in [&r, &w] {
        fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))?;
    }
    Ok((r, w))
}

/// Make `fd` non-blocking.
pub fn set_nonblocking(fd: &impl std::os::fd::AsFd) -> std::io::Result<()> {
    use nix::fcntl::{FcntlArg, OFlag, fcntl};
    let flags = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL)?);
    fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok(())
}
