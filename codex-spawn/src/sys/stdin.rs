//! The prompt on a child's stdin, delivered so that nothing can deadlock and the prompt
//! never touches argv (or, on Linux, the disk).
//!
//! - Linux: a memfd holding the prompt, rewound: the child reads it to EOF at its own
//!   pace, and nobody has to write while it reads;
//! - portable (macOS; Linux with the `portable` feature): a pipe. What fits in the pipe's
//!   buffer is written at once; the rest is fed by the keeper ([`crate::process`]) from
//!   its poll loop as the child reads — never by the supervisor, which must not block,
//!   and never by a thread (the supervisor forks, so it stays single-threaded).

use std::io;
use std::os::fd::{AsFd, OwnedFd};

/// What is left to write into the child's stdin pipe (the portable path only).
pub struct Feed {
    pub fd: OwnedFd,
    bytes: Vec<u8>,
    pos: usize,
}

impl Feed {
    /// Write what the pipe takes now. `Ok(true)` when everything is written (then the
    /// descriptor should be closed); a child that closed its stdin (EPIPE) ends the feed.
    pub fn write_some(&mut self) -> io::Result<bool> {
        while self.pos < self.bytes.len() {
            match nix::unistd::write(&self.fd, &self.bytes[self.pos..]) {
                Ok(n) => self.pos += n,
                Err(nix::errno::Errno::EINTR) => {}
                Err(nix::errno::Errno::EAGAIN) => return Ok(false),
                Err(nix::errno::Errno::EPIPE) => return Ok(true),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(true)
    }
}

/// The child's stdin carrying `bytes`, and what remains to be fed (portable path).
pub struct Prompt {
    pub child: OwnedFd,
    pub feed: Option<Feed>,
}

impl Prompt {
    /// Prepare `bytes` for a child's stdin.
    pub fn new(bytes: &[u8]) -> io::Result<Prompt> {
        imp::new(bytes)
    }
}

#[cfg(linux_native)]
mod imp {
    use super::*;
    use std::fs::File;
    use std::io::{Seek, SeekFrom, Write};

    pub fn new(bytes: &[u8]) -> io::Result<Prompt> {
        let fd = nix::sys::memfd::memfd_create(
            c"codex-spawn-prompt",
            nix::sys::memfd::MFdFlags::MFD_CLOEXEC,
        )?;
        let mut file = File::from(fd);
        file.write_all(bytes)?;
        file.seek(SeekFrom::Start(0))?;
        Ok(Prompt {
            child: OwnedFd::from(file),
            feed: None,
        })
    }
}

#[cfg(not(linux_native))]
mod imp {
    use super::*;

    pub fn new(bytes: &[u8]) -> io::Result<Prompt> {
        let (r, w) = crate::sys::cloexec_pipe()?;
        crate::sys::set_nonblocking(&w)?;
        let mut feed = Feed {
            fd: w,
            bytes: bytes.to_vec(),
            pos: 0,
        };
        let done = feed.write_some()?;
        Ok(Prompt {
            child: r,
            feed: (!done).then_some(feed),
        })
    }
}

impl AsFd for Feed {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn a_big_prompt_reads_back_whole() {
        let bytes: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let Prompt { child, feed } = Prompt::new(&bytes).unwrap();
        let reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            std::fs::File::from(child).read_to_end(&mut got).unwrap();
            got
        });
        if let Some(mut f) = feed {
            while !f.write_some().unwrap() {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        }
        assert_eq!(reader.join().unwrap(), bytes);
    }
}
