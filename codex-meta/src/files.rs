//! Opening and creating run files so that nothing is written or read through a planted
//! file.
//!
//! Why it exists: a runs dir is shared by every run of a user, and anyone who can write
//! it could plant a symlink named like a run's next file (`codex-run-<id>.last-message.txt
//! -> ~/.ssh/id_ed25519`) and have a reader print its target. So:
//!
//! - a runs dir must be owned by this user (or root) and not writable by group or others,
//!   unless it has the sticky bit (then others cannot remove or rename our files) —
//!   [`check_dir`], as ssh's `StrictModes` does;
//! - every file a run creates is created `O_CREAT|O_EXCL|O_NOFOLLOW`, mode 0600
//!   ([`create_private`]): a clash is an error, never a file used anyway;
//! - every file a reader opens from a record is opened `O_NOFOLLOW`, must be a regular
//!   file, and is read up to a cap ([`open_regular`], [`read_capped`]).

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use crate::MetaError;

/// The most a meta file (or a meta given on stdin) may hold. Real metas are a few KiB.
pub const META_MAX_BYTES: u64 = 16 << 20;

/// Why a directory is refused as a runs dir, or `None` when it is fine.
fn dir_problem(meta: &std::fs::Metadata) -> Option<String> {
    if !meta.is_dir() {
        return Some("not a directory".to_owned());
    }
    let me = nix::unistd::geteuid().as_raw();
    let owner = meta.uid();
    if owner != me && owner != 0 {
        return Some(format!(
            "owned by uid {owner}, not by you (uid {me}) or root; refusing to use it"
        ));
    }
    let mode = meta.mode();
    let writable_by_others = mode & 0o022 != 0;
    let sticky = mode & 0o1000 != 0;
    if writable_by_others && !sticky {
        return Some(format!(
            "writable by group or others (mode {:04o}) without the sticky bit; refusing to use it (chmod go-w it)",
            mode & 0o7777
        ));
    }
    None
}

/// Check that `dir` is a directory safe to keep runs in (see the module docs).
pub fn check_dir(dir: &Path) -> Result<(), MetaError> {
    let meta = std::fs::metadata(dir).map_err(|e| MetaError::io(dir, "open runs dir", e))?;
    match dir_problem(&meta) {
        None => Ok(()),
        Some(reason) => Err(MetaError::UnsafeDir {
            path: dir.to_path_buf(),
            reason,
        }),
    }
}

/// Create `path` for writing: `O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC`, mode 0600. Fails with
/// `AlreadyExists` when anything (a file, a symlink, a dangling symlink) has that name.
pub fn create_private(path: &Path, append: bool) -> io::Result<File> {
    let mut o = OpenOptions::new();
    if append {
        o.append(true);
    } else {
        o.write(true);
    }
    o.create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

/// A shared lock file: made with [`create_private`] when missing, else opened with
/// [`open_regular_rw`] (never through a symlink, only a regular file of yours).
pub fn create_or_open_private(path: &Path) -> io::Result<File> {
    match create_private(path, false) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => open_regular_rw(path),
        other => other,
    }
}

/// Open `path` for reading, never through a symlink, and only if it is a regular file
/// (`O_NONBLOCK` keeps a planted FIFO from blocking the open). In a directory others
/// can write (a sticky shared one), the file must also be yours and have no other name:
/// another user could have planted it, or hard-linked one of your files under a run's
/// name.
pub fn open_regular(path: &Path) -> io::Result<File> {
    open_checked(path, false)
}

/// [`open_regular`], read-write (the owner's own files: the run lock's descriptor).
pub fn open_regular_rw(path: &Path) -> io::Result<File> {
    open_checked(path, true)
}

fn open_checked(path: &Path, write: bool) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(write)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                io::Error::other("is a symbolic link (refused)")
            } else {
                e
            }
        })?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::other("not a regular file (refused)"));
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let shared = std::fs::metadata(dir).is_ok_and(|d| d.mode() & 0o022 != 0);
    if shared {
        let me = nix::unistd::geteuid().as_raw();
        if meta.uid() != me {
            return Err(io::Error::other(format!(
                "owned by uid {}, not by you, in a directory others can write (refused)",
                meta.uid()
            )));
        }
        if meta.nlink() != 1 {
            return Err(io::Error::other(
                "has other names (hard links), in a directory others can write (refused)",
            ));
        }
    }
    clear_nonblock(&file)?;
    Ok(file)
}

fn clear_nonblock(file: &File) -> io::Result<()> {
    use nix::fcntl::{FcntlArg, OFlag, fcntl};
    let flags = OFlag::from_bits_retain(fcntl(file, FcntlArg::F_GETFL)?);
    fcntl(file, FcntlArg::F_SETFL(flags & !OFlag::O_NONBLOCK))?;
    Ok(())
}

/// Read all of `reader`, refusing more than `cap` bytes: `Ok(None)` when it is longer.
pub fn read_to_cap(reader: impl Read, cap: u64) -> io::Result<Option<Vec<u8>>> {
    let mut buf = Vec::new();
    reader.take(cap + 1).read_to_end(&mut buf)?;
    Ok((buf.len() as u64 <= cap).then_some(buf))
}

/// Read the regular file `path` ([`open_regular`]) whole, up to `cap` bytes; `what` names
/// it in the error ("meta", "pricing file").
pub fn read_capped(path: &Path, cap: u64, what: &'static str) -> Result<Vec<u8>, MetaError> {
    let file = open_regular(path).map_err(|e| MetaError::io(path, "read", e))?;
    match read_to_cap(file, cap).map_err(|e| MetaError::io(path, "read", e))? {
        Some(bytes) => Ok(bytes),
        None => Err(MetaError::TooLarge {
            what: format!("{} ({what})", path.display()),
            limit: cap,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn dirs_writable_by_others_need_the_sticky_bit() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("runs");
        std::fs::create_dir(&d).unwrap();
        for (mode, ok) in [
            (0o700, true),
            (0o755, true),
            (0o775, false),
            (0o777, false),
            (0o1777, true),
            (0o1770, true),
        ] {
            std::fs::set_permissions(&d, std::fs::Permissions::from_mode(mode)).unwrap();
            let r = check_dir(&d);
            assert_eq!(r.is_ok(), ok, "{mode:o}: {r:?}");
            if let Err(e) = r {
                assert!(e.to_string().contains("runs"), "{e}");
                assert!(e.to_string().contains("sticky"), "{e}");
            }
        }
        let f = tmp.path().join("file");
        std::fs::write(&f, "").unwrap();
        assert!(
            check_dir(&f)
                .unwrap_err()
                .to_string()
                .contains("not a directory")
        );
    }

    #[test]
    fn symlinks_and_fifos_are_refused_and_creation_is_exclusive() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("secret");
        std::fs::write(&target, "secret").unwrap();
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let e = open_regular(&link).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert_eq!(
            create_private(&link, false).unwrap_err().kind(),
            io::ErrorKind::AlreadyExists
        );
        let dangling = tmp.path().join("dangling");
        std::os::unix::fs::symlink(tmp.path().join("nothing"), &dangling).unwrap();
        assert_eq!(
            create_private(&dangling, true).unwrap_err().kind(),
            io::ErrorKind::AlreadyExists
        );
        assert!(!tmp.path().join("nothing").exists());
        // a hard link in a directory others can write is refused; in one of your own, fine
        let hard = tmp.path().join("hard");
        std::fs::hard_link(&target, &hard).unwrap();
        assert!(open_regular(&hard).is_ok());
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
        let e = open_regular(&hard).unwrap_err();
        assert!(e.to_string().contains("hard links"), "{e}");
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let fifo = tmp.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let e = open_regular(&fifo).unwrap_err();
        assert!(e.to_string().contains("regular"), "{e}");
        let f = create_private(&tmp.path().join("new"), false).unwrap();
        assert_eq!(f.metadata().unwrap().permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn reads_are_capped() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("m");
        std::fs::write(&p, vec![b'x'; 100]).unwrap();
        assert_eq!(read_capped(&p, 100, "meta").unwrap().len(), 100);
        let e = read_capped(&p, 99, "meta").unwrap_err();
        assert!(matches!(e, MetaError::TooLarge { limit: 99, .. }), "{e}");
        assert!(read_to_cap(std::io::repeat(0), 1000).unwrap().is_none());
    }
}
