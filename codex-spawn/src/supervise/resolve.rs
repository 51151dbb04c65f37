//! RUN arguments of a new run, resolved in the runs dir before any file exists (a bad one
//! is a usage error, exit 2, with nothing created): `--after RUN` and `--resume RUN`.
//! A RUN is a run id (or a unique prefix), a meta path, or a launch file.

use codex_meta::RunsDir;

use super::queue;
use crate::config::Config;
use crate::error::SpawnError;

/// `--after RUN…`, each a run of the runs dir (or a meta path, or a launch file).
pub(super) fn resolve_after(
    runs: &RunsDir,
    after: &[String],
) -> Result<Vec<queue::Dependency>, SpawnError> {
    after
        .iter()
        .map(|a| {
            let meta = runs
                .resolve_run(a)
                .map_err(|e| SpawnError::usage(format!("--after {a}: {e}")))?;
            let m = codex_meta::read_meta(&meta)
                .map_err(|e| SpawnError::usage(format!("--after {a}: {e}")))?;
            let run_id = if m.run_id.is_empty() {
                a.clone()
            } else {
                m.run_id
            };
            Ok(queue::Dependency {
                run_id,
                meta,
                asked: Default::default(),
            })
        })
        .collect()
}

/// `--resume RUN`: a run id (or a launch file, or a meta path) whose session is resumed
/// becomes that session's id. A session id, `last`, or a name that is no run stays as
/// given. Returns the run's id.
pub(super) fn resume_of_run(
    runs: &RunsDir,
    config: &mut Config,
) -> Result<Option<String>, SpawnError> {
    let Some(crate::config::Resume::Id(arg)) = &config.resume else {
        return Ok(None);
    };
    if codex_session_id::Uuid::parse(arg.as_bytes()).is_some() {
        return Ok(None);
    }
    let meta_path = match runs.resolve_run(arg) {
        Ok(p) => p,
        Err(
            codex_meta::MetaError::UnknownRun { .. } | codex_meta::MetaError::InvalidRunId { .. },
        ) if !std::path::Path::new(arg).exists() => {
            return Ok(None); // not a run: codex is given it as is
        }
        Err(e) => return Err(SpawnError::usage(format!("--resume {arg}: {e}"))),
    };
    let meta = codex_meta::read_meta(&meta_path)
        .map_err(|e| SpawnError::usage(format!("--resume {arg}: {e}")))?;
    let Some(sid) = meta.session_id.clone().filter(|s| !s.is_empty()) else {
        return Err(SpawnError::usage(format!(
            "--resume {arg}: run {} has no codex session id (yet): nothing to resume",
            meta.run_id
        )));
    };
    config.resume = Some(crate::config::Resume::Id(sid));
    Ok(Some(meta.run_id))
}

/// `--worktree --resume`: the newest run of the resumed session that worked in a
/// worktree — its branch is where this run goes on. `None` when the session never ran
/// in one (the run then starts a branch of its own).
pub(super) fn prior_worktree(
    runs: &RunsDir,
    config: &Config,
) -> Result<Option<crate::worktree::Prior>, SpawnError> {
    let Some(crate::config::Resume::Id(sid)) = &config.resume else {
        return Ok(None);
    };
    // newest first from the names; only the runs' metas are read, one at a time
    for (_, meta_path) in runs.list_paths()? {
        let Ok(m) = codex_meta::read_meta(&meta_path) else {
            continue;
        };
        if m.session_id.as_deref() != Some(sid.as_str()) {
            continue;
        }
        if let Some(worktree) = m.worktree() {
            return Ok(Some(crate::worktree::Prior {
                run_id: m.run_id,
                worktree,
            }));
        }
    }
    Ok(None)
}

/// The worktree of run `run_id` (whose branch is still there), if it had one.
pub(super) fn worktree_of_run(runs: &RunsDir, run_id: &str) -> Option<codex_meta::Worktree> {
    let meta = codex_meta::read_meta(&runs.resolve_run(run_id).ok()?).ok()?;
    meta.worktree().filter(codex_meta::Worktree::has_branch)
}
