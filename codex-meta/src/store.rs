//! Reading and atomically writing meta files (and other JSON, e.g. summaries).
//!
//! A write goes to `.<name>.<pid>.<rand>.partial` in the same directory (created with
//! O_EXCL|O_NOFOLLOW, mode 0600), is fsynced, renamed over the target (a rename replaces
//! a planted symlink, it never writes through it), and the directory is fsynced: a reader
//! sees the old file or the new one, never half of either. Read-modify-write updates are
//! serialised by an exclusive `flock` on the directory's lock file `.codex-runs.lock`
//! (0600, ours: a lock on the directory itself could be taken by anyone who can open it),
//! so two concurrent updaters of different fields both land. A meta is read without
//! following a symlink, only from a regular file, at most [`META_MAX_BYTES`] of it; one
//! that cannot be parsed is never rewritten.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::files::META_MAX_BYTES;
use crate::{Meta, MetaError};

/// The update lock's file in a runs dir.
pub const LOCK_FILE: &str = ".codex-runs.lock";

/// The directory that holds `path` (`.` for a bare file name).
fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Read a meta file as a JSON object, checking that it is a valid [`Meta`].
///
/// Errors name the file: [`MetaError::NotFound`], [`MetaError::Io`], or
/// [`MetaError::Corrupt`] for bad JSON, a truncated file, a non-object, or a known field
/// of the wrong type.
pub fn read_meta_object(path: &Path) -> Result<Map<String, Value>, MetaError> {
    Ok(read_both(path)?.0)
}

/// Read and parse a meta file (see [`read_meta_object`] for the errors).
pub fn read_meta(path: &Path) -> Result<Meta, MetaError> {
    Ok(read_both(path)?.1)
}

fn read_both(path: &Path) -> Result<(Map<String, Value>, Meta), MetaError> {
    let bytes = crate::files::read_capped(path, META_MAX_BYTES, "meta")?;
    let corrupt = |message: String| MetaError::Corrupt {
        path: path.to_path_buf(),
        message,
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(corrupt("empty file".to_owned()));
    }
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
    let Value::Object(object) = value else {
        return Err(corrupt("not a JSON object".to_owned()));
    };
    let meta = Meta::from_object(object.clone()).map_err(|e| corrupt(e.to_string()))?;
    Ok((object, meta))
}

/// Write `meta` to `path` atomically (serialised against [`update_meta`] callers).
pub fn write_meta(path: &Path, meta: &Meta) -> Result<(), MetaError> {
    let _guard = DirLock::acquire(&parent_dir(path))?;
    write_json_atomic(path, &Value::Object(meta.to_object()))
}

/// Replace the meta at `path` with a raw JSON object, atomically, after checking it is a
/// valid [`Meta`] (serialised against [`update_meta`] callers). Key order is kept.
pub fn write_meta_object(path: &Path, object: &Map<String, Value>) -> Result<(), MetaError> {
    Meta::from_object(object.clone()).map_err(|e| MetaError::Corrupt {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let _guard = DirLock::acquire(&parent_dir(path))?;
    write_json_atomic(path, object)
}

/// Read-modify-write the meta at `path`: read it (refusing a corrupt one), let `f` change
/// it, write it back atomically, and return what was written. Concurrent updaters (this
/// function, [`update_meta_object`], [`write_meta`]) are serialised by an exclusive flock
/// on the meta's directory, so no update is lost.
///
/// Do not nest updates (e.g. call it from inside `f`): the inner one would wait for the
/// outer one's lock forever.
pub fn update_meta(path: &Path, f: impl FnOnce(&mut Meta)) -> Result<Meta, MetaError> {
    let _guard = DirLock::acquire(&parent_dir(path))?;
    let mut meta = read_meta(path)?;
    f(&mut meta);
    write_json_atomic(path, &Value::Object(meta.to_object()))?;
    Ok(meta)
}

/// Like [`update_meta`] on the raw JSON object (keeps key order and formatting choices of
/// other writers). `f` may refuse the update by returning an error; the file is then
/// untouched. The result must still be a valid [`Meta`], else [`MetaError::BadField`]-style
/// errors from `f` or a [`MetaError::Corrupt`] naming the file are returned and nothing
/// is written.
pub fn update_meta_object(
    path: &Path,
    f: impl FnOnce(&mut Map<String, Value>) -> Result<(), MetaError>,
) -> Result<Map<String, Value>, MetaError> {
    let _guard = DirLock::acquire(&parent_dir(path))?;
    let mut object = read_meta_object(path)?;
    f(&mut object)?;
    Meta::from_object(object.clone()).map_err(|e| MetaError::BadField {
        key: "meta".to_owned(),
        message: e.to_string(),
    })?;
    write_json_atomic(path, &object)?;
    Ok(object)
}

/// Serialise `value` as pretty JSON (plus a final newline) and put it at `path`
/// atomically: temp file in the same directory (O_EXCL, 0600), write, fsync, rename over,
/// fsync the directory. Used for metas and summaries. Does not take the update lock.
pub fn write_json_atomic(path: &Path, value: &impl Serialize) -> Result<(), MetaError> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|e| MetaError::Serialize {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    bytes.push(b'\n');
    write_bytes_atomic(path, &bytes)
}

/// Put `bytes` at `path` atomically (see [`write_json_atomic`]).
pub fn write_bytes_atomic(path: &Path, bytes: &[u8]) -> Result<(), MetaError> {
    let dir = parent_dir(path);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| MetaError::Io {
            path: path.to_path_buf(),
            action: "write",
            source: io::Error::new(io::ErrorKind::InvalidInput, "not a file name"),
        })?;
    let pid = std::process::id();
    let mut attempt = 0;
    let (tmp_path, mut file) = loop {
        let tmp = dir.join(format!(
            ".{name}.{pid}.{:08x}.partial",
            crate::random::random_u64() as u32
        ));
        match crate::files::create_private(&tmp, false) {
            Ok(f) => break (tmp, f),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 100 => attempt += 1,
            // named by its directory: the temporary name means nothing to the reader
            Err(e) => return Err(MetaError::io(&dir, "create a file in", e)),
        }
    };
    let result = (|| {
        file.write_all(bytes)
            .map_err(|e| MetaError::io(&tmp_path, "write", e))?;
        file.sync_all()
            .map_err(|e| MetaError::io(&tmp_path, "fsync", e))?;
        drop(file);
        fs::rename(&tmp_path, path).map_err(|e| MetaError::io(path, "rename temporary file to", e))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp_path);
        return result;
    }
    sync_dir(&dir)
}

/// fsync a directory so a rename in it is durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), MetaError> {
    let d = File::open(dir).map_err(|e| MetaError::io(dir, "open directory", e))?;
    d.sync_all()
        .map_err(|e| MetaError::io(dir, "fsync directory", e))
}

/// An exclusive flock on a directory's lock file ([`LOCK_FILE`]), held while alive: the
/// updaters' mutex.
pub(crate) struct DirLock {
    _lock: Flock<File>,
}

impl DirLock {
    pub(crate) fn acquire(dir: &Path) -> Result<DirLock, MetaError> {
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
            .open(&path)
            .map_err(|e| MetaError::io(&path, "open lock file", e))?;
        let meta = file
            .metadata()
            .map_err(|e| MetaError::io(&path, "open lock file", e))?;
        use std::os::unix::fs::MetadataExt;
        let me = nix::unistd::geteuid().as_raw();
        if !meta.is_file() || meta.uid() != me {
            return Err(MetaError::UnsafeDir {
                path: dir.to_path_buf(),
                reason: format!(
                    "its lock file {LOCK_FILE} is not a regular file of yours (uid {me}); refusing to use it"
                ),
            });
        }
        loop {
            match Flock::lock(file, FlockArg::LockExclusive) {
                Ok(lock) => return Ok(DirLock { _lock: lock }),
                Err((f, nix::errno::Errno::EINTR)) => file = f,
                Err((_, errno)) => {
                    return Err(MetaError::io(&path, "lock", io::Error::from(errno)));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;
    use serde_json::json;

    #[test]
    fn write_then_read_round_trips_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("codex-run-x.meta.json");
        let mut meta = Meta::new("x");
        meta.status = Some(Status::Running);
        meta.extra.insert("custom".into(), json!([1, "two"]));
        write_meta(&path, &meta).unwrap();
        assert_eq!(read_meta(&path).unwrap(), meta);
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // No temp files left behind (the update lock's file stays).
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n != LOCK_FILE)
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.ends_with("}\n"));
        assert!(text.contains("\"session_id\": null"), "{text}");
    }

    #[test]
    fn corrupt_and_missing_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.meta.json");
        let err = read_meta(&path).unwrap_err();
        assert!(matches!(err, MetaError::NotFound { .. }), "{err}");
        assert!(err.to_string().contains("m.meta.json"));
        for bad in [
            "",
            "  \n",
            "{\"run_id\":\"x\",",
            "[1,2]",
            "{\"status\":\"nope\"}",
            "nul",
        ] {
            fs::write(&path, bad).unwrap();
            let err = read_meta(&path).unwrap_err();
            assert!(matches!(err, MetaError::Corrupt { .. }), "{bad:?}: {err}");
            assert!(err.to_string().contains("m.meta.json"), "{err}");
        }
    }

    #[test]
    fn update_keeps_unknown_fields_and_refuses_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.meta.json");
        fs::write(
            &path,
            r#"{"run_id":"m","zz":{"keep":true},"status":"running"}"#,
        )
        .unwrap();
        let out = update_meta(&path, |m| {
            m.status = Some(Status::Succeeded);
            m.exit_code = Some(0);
        })
        .unwrap();
        assert_eq!(out.extra["zz"], json!({"keep": true}));
        let again = read_meta(&path).unwrap();
        assert_eq!(again.status, Some(Status::Succeeded));
        assert_eq!(again.extra["zz"], json!({"keep": true}));

        fs::write(&path, "{\"run_id\":").unwrap();
        assert!(update_meta(&path, |m| m.exit_code = Some(1)).is_err());
        assert_eq!(fs::read_to_string(&path).unwrap(), "{\"run_id\":");
    }

    #[test]
    fn update_object_refusal_leaves_file_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.meta.json");
        let original = "{\"run_id\":\"m\",\"b\":1,\"a\":2}";
        fs::write(&path, original).unwrap();
        let err = update_meta_object(&path, |o| {
            o.insert("exit_code".into(), json!("x"));
            Ok(())
        })
        .unwrap_err();
        assert!(matches!(err, MetaError::BadField { .. }), "{err}");
        assert_eq!(fs::read_to_string(&path).unwrap(), original);
        update_meta_object(&path, |o| {
            o.insert("c".into(), json!(3));
            Ok(())
        })
        .unwrap();
        let obj = read_meta_object(&path).unwrap();
        let keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        assert_eq!(keys, ["run_id", "b", "a", "c"]);
    }

    #[test]
    fn concurrent_updates_in_threads_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.meta.json");
        write_meta(&path, &Meta::new("m")).unwrap();
        std::thread::scope(|s| {
            for t in 0..4 {
                let path = &path;
                s.spawn(move || {
                    for i in 0..25 {
                        update_meta(path, |m| {
                            m.extra.insert(format!("k{t}_{i}"), json!(i));
                        })
                        .unwrap();
                    }
                });
            }
        });
        assert_eq!(read_meta(&path).unwrap().extra.len(), 100);
    }
}
