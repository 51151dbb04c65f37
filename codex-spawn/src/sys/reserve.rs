//! Room kept on the runs dir's disk so that the final meta and the summary can always be
//! written, even when the disk fills up during the run — as databases keep a reserve.
//!
//! The room is a file in the runs dir that has no name (Linux: `O_TMPFILE`; elsewhere
//! created O_EXCL|O_NOFOLLOW 0600 and unlinked at once), so a crash leaves nothing behind:
//! the kernel frees it with the last descriptor. Its blocks are allocated at the start:
//! `posix_fallocate` on Linux; written bytes elsewhere and where the filesystem cannot
//! preallocate (filesystems with delayed allocation count written data against free
//! space at write(2), so ENOSPC comes then, not later; the bytes are not zeros, which a
//! compressing filesystem would store as holes). [`Reserve::release`] truncates
//! the file, so the room is free for the final writes even while other descriptors of
//! it exist.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

/// Claimed room; released by [`Reserve::release`] (or the process's end).
pub struct Reserve {
    file: Option<File>,
}

impl Reserve {
    /// Claim `bytes` in `dir`, through a temporary file named `name` there. An error
    /// (ENOSPC: the disk is already too full) leaves no file behind.
    pub fn claim(dir: &Path, name: &str, bytes: u64) -> io::Result<Reserve> {
        let mut file = match imp::nameless(dir) {
            Some(f) => f,
            None => {
                let path = dir.join(name);
                let f = codex_meta::files::create_private(&path, false)?;
                let _ = std::fs::remove_file(&path);
                f
            }
        };
        allocate(&mut file, bytes)?;
        Ok(Reserve { file: Some(file) })
    }

    /// Give the room back, now.
    pub fn release(&mut self) {
        if let Some(f) = self.file.take() {
            let _ = f.set_len(0);
        }
    }
}

fn allocate(file: &mut File, bytes: u64) -> io::Result<()> {
    if imp::fallocate(file, bytes)? {
        return Ok(());
    }
    // Not zeros: a compressing or deduplicating filesystem (ZFS with lz4, btrfs) would
    // store zero blocks as holes and hold no room at all.
    let mut chunk = vec![0u8; 64 * 1024];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for b in chunk.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    let mut left = bytes;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        file.write_all(&chunk[..n])?;
        left -= n as u64;
    }
    file.flush()
}

#[cfg(target_os = "linux")]
mod imp {
    use nix::errno::Errno;
    use std::fs::{File, OpenOptions};
    use std::os::unix::fs::OpenOptionsExt;
    use std::path::Path;

    /// `Ok(true)`: allocated; `Ok(false)`: this filesystem can't, write bytes instead.
    pub fn fallocate(file: &File, bytes: u64) -> std::io::Result<bool> {
        match nix::fcntl::posix_fallocate(file, 0, bytes as libc::off_t) {
            Ok(()) => Ok(true),
            Err(Errno::EOPNOTSUPP | Errno::EINVAL) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// An unnamed file in `dir` (`O_TMPFILE`), when the filesystem has them.
    pub fn nameless(dir: &Path) -> Option<File> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .mode(0o600)
            .custom_flags(libc::O_TMPFILE | libc::O_CLOEXEC)
            .open(dir)
            .ok()
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    pub fn fallocate(_file: &std::fs::File, _bytes: u64) -> std::io::Result<bool> {
        Ok(false)
    }

    pub fn nameless(_dir: &std::path::Path) -> Option<std::fs::File> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_room_leaves_no_file_and_is_given_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = Reserve::claim(dir.path(), ".x.reserve", 1 << 20).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        let f = r.file.as_ref().unwrap();
        assert_eq!(f.metadata().unwrap().len(), 1 << 20);
        r.release();
        assert!(r.file.is_none());
        // a second claim with the same name works: nothing was left
        Reserve::claim(dir.path(), ".x.reserve", 4096).unwrap();
    }
}
