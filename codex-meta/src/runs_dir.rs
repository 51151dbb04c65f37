//! The runs directory: where run files live, how they are named, how a new run claims
//! its files, how a RUN argument is found, and how runs are listed.
//!
//! Files of run `<id>`: `codex-run-<id>.log`, `.meta.json`, `.summary.json`,
//! `.last-message.txt`. A new run claims its id by creating the log with O_EXCL, so two
//! processes never share a run, however many start in the same second.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use crate::{Meta, MetaError, RunId, Status, read_meta};

/// The environment variable naming the default runs dir.
pub const RUNS_DIR_ENV: &str = "CODEX_RUNS_DIR";
/// The runs dir used when neither a flag nor the environment names one.
pub const DEFAULT_RUNS_DIR: &str = "runs";
/// Every run file starts with this.
pub const RUN_FILE_PREFIX: &str = "codex-run-";
/// The meta file's suffix.
pub const META_SUFFIX: &str = ".meta.json";

/// How often [`RunsDir::create_run`] tries a fresh id before giving up.
const CREATE_ATTEMPTS: u32 = 10_000;

/// A runs directory (absolute path; it need not exist yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunsDir {
    path: PathBuf,
}

/// The files of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunPaths {
    pub log: PathBuf,
    pub meta: PathBuf,
    pub summary: PathBuf,
    pub last_message: PathBuf,
}

/// A freshly allocated run: its id, its paths and its log, open for appending.
#[derive(Debug)]
pub struct NewRun {
    pub id: RunId,
    pub paths: RunPaths,
    pub log: File,
    /// Whether the last-message file was claimed too.
    pub last_message: bool,
}

impl NewRun {
    /// Give the run up before it started: remove the files it claimed (and a meta written
    /// for it), so a run that could not start leaves nothing behind.
    pub fn discard(self) {
        let NewRun {
            paths,
            log,
            last_message,
            ..
        } = self;
        drop(log);
        let _ = fs::remove_file(&paths.log);
        if last_message {
            let _ = fs::remove_file(&paths.last_message);
        }
        let _ = fs::remove_file(&paths.meta);
    }
}

/// One meta found by [`RunsDir::list`]. `meta` is the error (naming the file) when the
/// meta could not be read.
#[derive(Debug)]
pub struct ListedRun {
    /// The id taken from the file name.
    pub id: String,
    pub meta_path: PathBuf,
    pub meta: Result<Meta, MetaError>,
}

impl ListedRun {
    /// The effective status (with `lost` derived), `None` when the meta is unreadable.
    pub fn status(&self) -> Option<Status> {
        self.meta
            .as_ref()
            .ok()
            .map(|m| crate::effective_status_at(m, Some(&self.meta_path)))
    }
}

impl RunsDir {
    /// The runs dir named by `explicit`, else by `$CODEX_RUNS_DIR` (when non-empty), else
    /// `./runs`; made absolute against the current directory (not canonicalised, and it
    /// need not exist).
    pub fn resolve(explicit: Option<&Path>) -> Result<RunsDir, MetaError> {
        let chosen: PathBuf = match explicit {
            Some(p) => p.to_path_buf(),
            None => match std::env::var_os(RUNS_DIR_ENV) {
                Some(v) if !v.is_empty() => PathBuf::from(v),
                _ => PathBuf::from(DEFAULT_RUNS_DIR),
            },
        };
        RunsDir::new(&chosen)
    }

    /// This exact directory, made absolute.
    pub fn new(path: &Path) -> Result<RunsDir, MetaError> {
        if path.as_os_str().is_empty() {
            return Err(MetaError::io(
                path,
                "use as runs dir",
                io::Error::new(io::ErrorKind::InvalidInput, "empty path"),
            ));
        }
        let path = std::path::absolute(path).map_err(|e| MetaError::io(path, "resolve", e))?;
        Ok(RunsDir { path })
    }

    /// The absolute path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Create the directory (and its parents) if missing; the directories it creates are
    /// mode 0700. An existing directory must be safe to keep runs in
    /// ([`crate::files::check_dir`]: owned by this user or root, not writable by others
    /// unless sticky).
    pub fn ensure(&self) -> Result<(), MetaError> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.path)
            .map_err(|e| MetaError::io(&self.path, "create runs dir", e))?;
        crate::files::check_dir(&self.path)
    }

    /// The file names of run `id` in this dir.
    pub fn paths(&self, id: &RunId) -> RunPaths {
        let base = format!("{RUN_FILE_PREFIX}{}", id.as_str());
        RunPaths {
            log: self.path.join(format!("{base}.log")),
            meta: self.path.join(format!("{base}{META_SUFFIX}")),
            summary: self.path.join(format!("{base}.summary.json")),
            last_message: self.path.join(format!("{base}.last-message.txt")),
        }
    }

    /// The run's own files for the meta at `meta_path` (`<dir>/codex-run-<id>.meta.json`):
    /// the siblings named after its id. Readers open these, never paths taken from the
    /// meta's content. `None` for a meta not named like a run's.
    pub fn own_paths(meta_path: &Path) -> Option<RunPaths> {
        let id = meta_id(meta_path.file_name()?)?;
        let id = RunId::parse(id).ok()?;
        let dir = match meta_path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        Some(
            RunsDir {
                path: dir.to_path_buf(),
            }
            .paths(&id),
        )
    }

    /// The run's own files for a meta read from `meta_path` (or, without a path, for the
    /// meta alone): the siblings of the meta file named after the id in its file name
    /// (else after its `run_id`); without a path, those beside the meta's `log_file`
    /// when that is named after its `run_id`. Never the paths the meta's content names
    /// otherwise — a reader opens a run's own files only.
    pub fn run_paths(meta: &Meta, meta_path: Option<&Path>) -> Option<RunPaths> {
        let own_id = || RunId::parse(&meta.run_id).ok();
        match meta_path {
            Some(mp) => RunsDir::own_paths(mp).or_else(|| {
                let id = own_id()?;
                Some(
                    RunsDir {
                        path: parent_or_dot(mp).to_path_buf(),
                    }
                    .paths(&id),
                )
            }),
            None => {
                let id = own_id()?;
                let log = Path::new(meta.log_file.as_deref()?);
                let want = format!("{RUN_FILE_PREFIX}{}.log", id.as_str());
                if log.file_name().and_then(|n| n.to_str()) != Some(want.as_str()) {
                    return None;
                }
                Some(
                    RunsDir {
                        path: parent_or_dot(log).to_path_buf(),
                    }
                    .paths(&id),
                )
            }
        }
    }

    /// Allocate a new run: make sure the dir exists (and is safe), generate an id, and
    /// claim its files: the log (and with `last_message`, the last-message file) created
    /// `O_CREAT|O_EXCL|O_NOFOLLOW`, 0600, close-on-exec, the log in append mode. An id
    /// whose log, meta, summary or last-message file exists under any form (a file, a
    /// symlink, a dangling one) is skipped for a fresh one: no run ever uses a file it did
    /// not create. The open log is the claim on the id.
    pub fn create_run(&self, last_message: bool) -> Result<NewRun, MetaError> {
        self.create_run_with(RunId::generate, last_message)
    }

    /// [`RunsDir::create_run`] with the id source given (tests force collisions with it).
    pub(crate) fn create_run_with(
        &self,
        mut next_id: impl FnMut() -> RunId,
        last_message: bool,
    ) -> Result<NewRun, MetaError> {
        self.ensure()?;
        let taken = |p: &Path| fs::symlink_metadata(p).is_ok();
        for _ in 0..CREATE_ATTEMPTS {
            let id = next_id();
            let paths = self.paths(&id);
            if taken(&paths.meta) || taken(&paths.summary) {
                continue;
            }
            let log = match crate::files::create_private(&paths.log, true) {
                Ok(log) => log,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(MetaError::io(&paths.log, "create log", e)),
            };
            if last_message {
                match crate::files::create_private(&paths.last_message, false) {
                    Ok(_) => {}
                    Err(e) => {
                        drop(log);
                        let _ = fs::remove_file(&paths.log);
                        if e.kind() == io::ErrorKind::AlreadyExists {
                            continue;
                        }
                        return Err(MetaError::io(
                            &paths.last_message,
                            "create last-message file",
                            e,
                        ));
                    }
                }
            }
            return Ok(NewRun {
                id,
                paths,
                log,
                last_message,
            });
        }
        Err(MetaError::Exhausted {
            dir: self.path.clone(),
            attempts: CREATE_ATTEMPTS,
        })
    }

    /// Find a RUN argument's meta file.
    ///
    /// - a launch file (an existing file that is not a meta, holding codex-spawn's run
    ///   lines, see [`crate::launch`]): the meta it names;
    /// - a path (it contains `/` or ends with `.meta.json`): that file, which must exist
    ///   (a bare `codex-run-<id>.meta.json` is also looked up in this dir);
    /// - otherwise a run id (strictly validated, see [`RunId::parse`]; a leading
    ///   `codex-run-` is ignored): `<dir>/codex-run-<id>.meta.json`, or else the only
    ///   meta whose id starts with it.
    ///
    /// Errors: [`MetaError::NotFound`] for a missing path, [`MetaError::InvalidRunId`],
    /// [`MetaError::UnknownRun`], [`MetaError::AmbiguousRun`].
    pub fn resolve_run(&self, arg: &str) -> Result<PathBuf, MetaError> {
        let as_path = Path::new(arg);
        if !arg.ends_with(META_SUFFIX) && as_path.is_file() {
            // a launch file: the run lines codex-spawn printed
            if let Some(launch) = crate::launch::read_launch(as_path)? {
                let meta = launch.meta_file;
                if !meta.is_file() {
                    return Err(MetaError::io(
                        meta,
                        "read",
                        io::Error::other(format!("the meta named by launch file {arg} is missing")),
                    ));
                }
                crate::files::check_dir(parent_or_dot(&meta))?;
                return Ok(meta);
            }
            // not a launch file: a path is a meta path, as it always was
        }
        if arg.contains('/') || arg.ends_with(META_SUFFIX) {
            let path = PathBuf::from(arg);
            if path.is_file() {
                crate::files::check_dir(parent_or_dot(&path))?;
                return Ok(path);
            }
            if !arg.contains('/') {
                let inside = self.path.join(arg);
                if inside.is_file() {
                    crate::files::check_dir(&self.path)?;
                    return Ok(inside);
                }
            }
            return match fs::metadata(&path) {
                Ok(_) => Err(MetaError::Io {
                    path,
                    action: "read",
                    source: io::Error::other("not a regular file"),
                }),
                Err(e) => Err(MetaError::io(path, "read", e)),
            };
        }
        self.resolve_id(arg)
    }

    /// The meta of the run `arg` names as a run id, `codex-run-<id>`, or a unique prefix
    /// of an id — looked for in this dir only (never a file of the working directory).
    pub fn resolve_id(&self, arg: &str) -> Result<PathBuf, MetaError> {
        let id_text = arg.strip_prefix(RUN_FILE_PREFIX).unwrap_or(arg);
        let id = RunId::parse(id_text).map_err(|e| match e {
            MetaError::InvalidRunId { reason, .. } => MetaError::InvalidRunId {
                arg: arg.to_owned(),
                reason,
            },
            other => other,
        })?;
        if self.path.is_dir() {
            crate::files::check_dir(&self.path)?;
        }
        let meta = self.paths(&id).meta;
        if meta.is_file() {
            return Ok(meta);
        }
        // A unique prefix of an id, like git's abbreviated hashes.
        let mut matches = Vec::new();
        if let Ok(entries) = fs::read_dir(&self.path) {
            for entry in entries.flatten() {
                let name = entry.file_name();
                if let Some(found) = meta_id(&name) {
                    if found.starts_with(id.as_str()) {
                        matches.push(entry.path());
                    }
                }
            }
        }
        match matches.len() {
            1 => Ok(matches.remove(0)),
            0 => Err(MetaError::UnknownRun {
                id: arg.to_owned(),
                file: format!("{RUN_FILE_PREFIX}{}{META_SUFFIX}", id.as_str()),
                dir: self.path.clone(),
            }),
            n => Err(MetaError::AmbiguousRun {
                id: arg.to_owned(),
                count: n,
                dir: self.path.clone(),
            }),
        }
    }

    /// Every meta in the dir, newest first (see [`RunsDir::list_paths`]). A missing dir
    /// lists nothing. Unreadable metas are listed with their error.
    pub fn list(&self) -> Result<Vec<ListedRun>, MetaError> {
        Ok(self
            .list_paths()?
            .into_iter()
            .map(|(id, meta_path)| ListedRun {
                meta: read_meta(&meta_path),
                id,
                meta_path,
            })
            .collect())
    }

    /// The run ids and meta paths of the dir, newest first, from the file names alone: a
    /// run id begins with its creation time (`YYYYMMDD-HHMMSS-…`), so the order costs no
    /// read of a meta (`codex-meta list --limit 20` of 100,000 runs reads 20). Ids of
    /// another form come after, in reverse order of name. A missing dir lists nothing.
    pub fn list_paths(&self) -> Result<Vec<(String, PathBuf)>, MetaError> {
        let entries = match fs::read_dir(&self.path) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(MetaError::io(&self.path, "read runs dir", e)),
        };
        crate::files::check_dir(&self.path)?;
        let mut runs = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| MetaError::io(&self.path, "read runs dir", e))?;
            let name = entry.file_name();
            let Some(id) = meta_id(&name) else { continue };
            runs.push((id.to_owned(), entry.path()));
        }
        runs.sort_by(|(a, _), (b, _)| (timed(b), b).cmp(&(timed(a), a)));
        Ok(runs)
    }
}

/// Whether a run id begins with a creation time (`YYYYMMDD-HHMMSS-`), as codex-spawn's do.
fn timed(id: &str) -> bool {
    let b = id.as_bytes();
    b.len() > 16
        && b[..8].iter().all(u8::is_ascii_digit)
        && b[8] == b'-'
        && b[9..15].iter().all(u8::is_ascii_digit)
        && b[15] == b'-'
}

/// The directory holding `path` (`.` for a bare file name).
pub(crate) fn parent_or_dot(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// The run id in a meta file name `codex-run-<id>.meta.json`, if it is one.
fn meta_id(name: &OsStr) -> Option<&str> {
    let name = name.to_str()?;
    let id = name
        .strip_prefix(RUN_FILE_PREFIX)?
        .strip_suffix(META_SUFFIX)?;
    RunId::parse(id).ok().map(|_| id)
}

/// The run id to show for a meta: the id in its file name (the run's own, the one its
/// lock and log are named after — a meta copied or edited to name another run must not
/// pass for it), else its `run_id`, else the path itself.
pub fn display_id(meta: &Meta, meta_path: &Path) -> String {
    if let Some(id) = id_from_path(meta_path) {
        return id;
    }
    if !meta.run_id.is_empty() {
        return meta.run_id.clone();
    }
    meta_path.display().to_string()
}

/// `<id>` of a path ending in `codex-run-<id>.meta.json`.
pub fn id_from_path(meta_path: &Path) -> Option<String> {
    meta_id(meta_path.file_name()?).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::write_meta;
    use std::collections::HashSet;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn paths_follow_the_naming_scheme() {
        let dir = RunsDir::new(Path::new("/r")).unwrap();
        let id = RunId::parse("20261123-195751-9f3ac2").unwrap();
        let p = dir.paths(&id);
        assert_eq!(p.log, Path::new("/r/codex-run-20261123-195751-9f3ac2.log"));
        assert_eq!(
            p.meta,
            Path::new("/r/codex-run-20261123-195751-9f3ac2.meta.json")
        );
        assert_eq!(
            p.summary,
            Path::new("/r/codex-run-20261123-195751-9f3ac2.summary.json")
        );
        assert_eq!(
            p.last_message,
            Path::new("/r/codex-run-20261123-195751-9f3ac2.last-message.txt")
        );
    }

    #[test]
    fn resolve_is_absolute() {
        let d = RunsDir::resolve(Some(Path::new("some/runs"))).unwrap();
        assert!(d.path().is_absolute());
        assert!(d.path().ends_with("some/runs"));
    }

    #[test]
    fn ensure_creates_private_dirs() {
        let tmp = tempfile::tempdir().unwrap();
        let d = RunsDir::new(&tmp.path().join("a/b")).unwrap();
        d.ensure().unwrap();
        d.ensure().unwrap();
        for p in [tmp.path().join("a"), tmp.path().join("a/b")] {
            let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o700, "{}", p.display());
        }
    }

    #[test]
    fn hundred_runs_in_threads_get_distinct_files() {
        let tmp = tempfile::tempdir().unwrap();
        let d = RunsDir::new(&tmp.path().join("runs")).unwrap();
        let ids: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        (0..25)
                            .map(|_| d.create_run(false).unwrap().id.as_str().to_owned())
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect()
        });
        let distinct: HashSet<_> = ids.iter().collect();
        assert_eq!(distinct.len(), 100);
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 100);
        let log = d.paths(&RunId::parse(&ids[0]).unwrap()).log;
        let mode = fs::metadata(&log).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn collisions_are_retried_with_a_fresh_id() {
        let tmp = tempfile::tempdir().unwrap();
        let d = RunsDir::new(tmp.path()).unwrap();
        let fixed = || RunId::parse("20260101-000000-000000").unwrap();
        let first = d.create_run_with(fixed, false).unwrap();
        // An id whose meta exists (but whose log is gone) is not reused either.
        let taken = RunId::parse("20260101-000000-000001").unwrap();
        write_meta(&d.paths(&taken).meta, &Meta::new(taken.as_str())).unwrap();
        let mut ids = vec![fixed(), taken.clone(), fixed(), RunId::generate()].into_iter();
        let second = d.create_run_with(|| ids.next().unwrap(), false).unwrap();
        assert_ne!(second.id, first.id);
        assert_ne!(second.id, taken);
        let mut always = fixed;
        assert!(matches!(
            d.create_run_with(&mut always, false),
            Err(MetaError::Exhausted { .. })
        ));
    }

    /// A name already taken by anything — a file, a symlink to a secret, a dangling
    /// symlink — is never used: the run takes another id, and nothing is written through.
    #[test]
    fn planted_files_make_the_run_take_another_id() {
        let tmp = tempfile::tempdir().unwrap();
        let d = RunsDir::new(tmp.path()).unwrap();
        let secret = tmp.path().join("secret");
        fs::write(&secret, "secret").unwrap();
        let planted = RunId::parse("20260101-000000-000000").unwrap();
        let p = d.paths(&planted);
        for (i, target) in [&p.last_message, &p.summary, &p.meta]
            .into_iter()
            .enumerate()
        {
            let _ = fs::remove_file(&p.log);
            std::os::unix::fs::symlink(
                if i == 0 {
                    secret.clone()
                } else {
                    tmp.path().join("none")
                },
                target,
            )
            .unwrap();
            let mut ids = vec![planted.clone(), RunId::generate()].into_iter();
            let run = d.create_run_with(|| ids.next().unwrap(), true).unwrap();
            assert_ne!(run.id, planted, "{}", target.display());
            assert!(run.paths.last_message.is_file());
            fs::remove_file(target).unwrap();
            run.discard();
        }
        assert_eq!(fs::read_to_string(&secret).unwrap(), "secret");
        assert!(!tmp.path().join("none").exists());
        // discard leaves nothing behind
        let names: Vec<_> = fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["secret"], "{names:?}");
    }

    #[test]
    fn own_paths_come_from_the_meta_file_name() {
        let p =
            RunsDir::own_paths(Path::new("/r/codex-run-20261123-195751-9f3ac2.meta.json")).unwrap();
        assert_eq!(p.log, Path::new("/r/codex-run-20261123-195751-9f3ac2.log"));
        assert!(RunsDir::own_paths(Path::new("/r/other.json")).is_none());
        assert!(RunsDir::own_paths(Path::new("/r/codex-run-..%2f.meta.json")).is_none());
    }

    #[test]
    fn resolve_run_by_id_prefix_and_path() {
        let tmp = tempfile::tempdir().unwrap();
        let d = RunsDir::new(tmp.path()).unwrap();
        let a = RunId::parse("20260101-000000-aaaaaa").unwrap();
        let b = RunId::parse("20260101-000000-aabbbb").unwrap();
        for id in [&a, &b] {
            write_meta(&d.paths(id).meta, &Meta::new(id.as_str())).unwrap();
        }
        assert_eq!(d.resolve_run(a.as_str()).unwrap(), d.paths(&a).meta);
        assert_eq!(
            d.resolve_run("codex-run-20260101-000000-aaaaaa").unwrap(),
            d.paths(&a).meta
        );
        assert_eq!(
            d.resolve_run("20260101-000000-aab").unwrap(),
            d.paths(&b).meta
        );
        assert!(matches!(
            d.resolve_run("20260101-000000-aa"),
            Err(MetaError::AmbiguousRun { count: 2, .. })
        ));
        assert!(matches!(
            d.resolve_run("nope"),
            Err(MetaError::UnknownRun { .. })
        ));
        assert!(matches!(
            d.resolve_run(".."),
            Err(MetaError::InvalidRunId { .. })
        ));
        let p = d.paths(&a).meta;
        assert_eq!(d.resolve_run(p.to_str().unwrap()).unwrap(), p);
        assert_eq!(
            d.resolve_run("codex-run-20260101-000000-aaaaaa.meta.json")
                .unwrap(),
            p
        );
        assert!(matches!(
            d.resolve_run("/nonexistent/x.meta.json"),
            Err(MetaError::NotFound { .. })
        ));
    }

    #[test]
    fn list_is_newest_first_and_reports_corrupt() {
        let tmp = tempfile::tempdir().unwrap();
        let d = RunsDir::new(tmp.path()).unwrap();
        for (id, at) in [
            ("20260101-000000-000001", "2026-01-01T00:00:00.000Z"),
            ("20260101-000000-000003", "2026-01-03T00:00:00.000Z"),
            ("20260101-000000-000002", "2026-01-02T00:00:00.000Z"),
        ] {
            let mut m = Meta::new(id);
            m.started_at = Some(at.into());
            m.status = Some(Status::Succeeded);
            write_meta(&d.paths(&RunId::parse(id).unwrap()).meta, &m).unwrap();
        }
        fs::write(tmp.path().join("codex-run-bad.meta.json"), "{").unwrap();
        fs::write(tmp.path().join("unrelated.json"), "{}").unwrap();
        let runs = d.list().unwrap();
        let ids: Vec<&str> = runs.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "20260101-000000-000003",
                "20260101-000000-000002",
                "20260101-000000-000001",
                "bad"
            ]
        );
        assert!(runs[3].meta.is_err());
        assert_eq!(runs[0].status(), Some(Status::Succeeded));
        let missing = RunsDir::new(&tmp.path().join("none")).unwrap();
        assert!(missing.list().unwrap().is_empty());
    }
}
