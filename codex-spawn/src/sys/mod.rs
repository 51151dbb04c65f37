//! What differs by platform, one small module per mechanism, each with its Linux and its
//! portable implementation side by side (the `portable` feature forces the portable one
//! on Linux, so both are tested here). Nothing outside this directory (and codex-meta's
//! `sys`) names signalfd, memfd, prctl or /proc.
//!
//! Every `unsafe` of codex-spawn stands here (the rest of the crate is
//! `unsafe_code = "deny"`).
//!
//! - [`child`]: the fork (single-threaded only), `_exit`, waiting without reaping;
//! - [`signals`]: signals as poll(2) events (signalfd | self-pipe), and the reset every
//!   child gets before exec;
//! - [`stdin`]: the prompt on a child's stdin (memfd | a pipe the keeper feeds);
//! - [`reaper`]: orphans adopted and codex dying with its keeper (subreaper and
//!   parent-death signal | neither);
//! - the process table (/proc | libproc) is codex-meta's one reader,
//!   [`codex_meta::sys::proc`] (the witness reads it too);
//! - [`open_files`]: the files a process tree holds open (/proc | not known);
//! - [`reserve`]: room kept on the runs dir's disk for the final record (fallocate |
//!   written zeros).
#![allow(unsafe_code)]

pub mod child;
pub mod open_files;
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

/// Give a pipe a bigger buffer where the platform allows it (Linux: 1 MiB, the default
/// ceiling for unprivileged processes), so a flood of output is read in big chunks with
/// few wake-ups; elsewhere (and on failure) the pipe keeps its size.
pub fn widen_pipe(fd: &impl std::os::fd::AsFd) {
    #[cfg(target_os = "linux")]
    {
        // failure leaves the pipe as it was
        let _ = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_SETPIPE_SZ(1 << 20));
    }
    #[cfg(not(target_os = "linux"))]
    let _ = fd;
}

/// Close every descriptor of this process but 0, 1, 2 and `keep` (a keeper, just
/// forked: it must hold no copy of the supervisor's other pipes, locks or files). The
/// open ones are listed from `/dev/fd` (Linux and macOS); where that cannot be read,
/// every number up to the descriptor limit (at most 65536) is tried.
pub fn close_other_fds(keep: &[std::os::fd::RawFd]) {
    let open: Vec<i32> = match std::fs::read_dir("/dev/fd") {
        Ok(dir) => dir
            .flatten()
            .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
            .collect(),
        Err(_) => {
            let max = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
                .map_or(1024, |(soft, _)| soft.min(65536));
            (3..max as i32).collect()
        }
    };
    for fd in open {
        if fd > 2 && !keep.contains(&fd) {
            // a descriptor this (forked) process will never use, whatever holds it: the
            // process leaves with _exit, no owner's drop runs. The listing's own
            // descriptor is already closed, so closing it fails harmlessly.
            let _ = nix::unistd::close(fd);
        }
    }
}
