//! Rollout files: their names, where they are under a Codex home, and finding one.

use super::*;

/// Extracts the session UUID from a rollout file name
/// (`rollout-2026-11-23T20-21-08-<uuid>.jsonl[.zst]`).
pub fn session_id_from_name(name: &str) -> Option<&str> {
    let stem = name
        .strip_suffix(".jsonl.zst")
        .or_else(|| name.strip_suffix(".jsonl"))?;
    let cand = stem.get(stem.len().checked_sub(36)?..)?;
    is_uuid(cand).then_some(cand)
}

/// True for a canonical 8-4-4-4-12 hex UUID (any case): [`codex_session_id::Uuid::parse`].
pub fn is_uuid(s: &str) -> bool {
    codex_session_id::Uuid::parse(s.as_bytes()).is_some()
}

/// The creation instant encoded in a UUIDv7 session id (Codex's ids are v7).
pub fn uuid_v7_ms(id: &str) -> Option<i64> {
    if !is_uuid(id) || id.as_bytes()[14] != b'7' {
        return None;
    }
    let hex: String = id.chars().filter(|c| *c != '-').take(12).collect();
    i64::from_str_radix(&hex, 16).ok()
}

/// Lists every rollout under `sessions/` and `archived_sessions/` of a Codex home,
/// sorted by path. Unreadable directories are skipped.
pub fn list_rollouts(codex_home: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for sub in ["sessions", "archived_sessions"] {
        walk(&codex_home.join(sub), &mut out, 0);
    }
    out.sort();
    out
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) {
    if depth > 8 {
        return;
    }
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for ent in rd.flatten() {
        let Ok(ft) = ent.file_type() else { continue };
        let path = ent.path();
        if ft.is_dir() {
            walk(&path, out, depth + 1);
        } else if ent.file_name().to_str().is_some_and(is_rollout_name) {
            out.push(path);
        }
    }
}

/// The directory of one day's rollouts under `root` (`sessions/` or `archived_sessions/`):
/// `YYYY/MM/DD` of the UTC day (`day`: days since 1970-01-01), as Codex lays them out.
pub fn day_dir(root: &Path, day: i64) -> Option<PathBuf> {
    use chrono::Datelike;
    let d = crate::time::date_of_day(day)?;
    Some(root.join(format!("{:04}/{:02}/{:02}", d.year(), d.month(), d.day())))
}

/// Every rollout of a Codex home by session id, from one walk of it: what a summary of
/// many runs looks each run's rollout up in, instead of listing the day directories (and,
/// for a run whose rollout is gone, walking the whole home) once per run.
#[derive(Debug, Default)]
pub struct RolloutIndex {
    by_session: std::collections::HashMap<String, PathBuf>,
}

impl RolloutIndex {
    /// Index `codex_home` (a rollout under `sessions/` is preferred to an archived copy;
    /// among equals, the first path in order — as [`find_rollout`] chooses).
    pub fn build(codex_home: &Path) -> RolloutIndex {
        let sessions = codex_home.join("sessions");
        let mut by_session: std::collections::HashMap<String, PathBuf> = Default::default();
        for path in list_rollouts(codex_home) {
            let Some(id) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(session_id_from_name)
                .map(str::to_ascii_lowercase)
            else {
                continue;
            };
            let better = |old: &PathBuf| {
                let (a, b) = (path.starts_with(&sessions), old.starts_with(&sessions));
                (a && !b) || (a == b && path < *old)
            };
            match by_session.get(&id) {
                Some(old) if !better(old) => {}
                _ => {
                    by_session.insert(id, path);
                }
            }
        }
        RolloutIndex { by_session }
    }

    /// The rollout of `session_id`, if the home held it when indexed.
    pub fn get(&self, session_id: &str) -> Option<&Path> {
        self.by_session
            .get(&session_id.to_ascii_lowercase())
            .map(PathBuf::as_path)
    }
}

/// The epoch-day numbers to look for a rollout in, for these times (epoch ms): each
/// time's own day first, then the day before and after (codex names the directory by
/// its local date), each day once.
pub fn days_around(times: impl IntoIterator<Item = i64>) -> Vec<i64> {
    let mut days = Vec::new();
    for t in times {
        let d = t.div_euclid(86_400_000);
        for x in [d, d - 1, d + 1] {
            if !days.contains(&x) {
                days.push(x);
            }
        }
    }
    days
}

/// Finds the rollout of `session_id`: first in `sessions/YYYY/MM/DD` (and
/// `archived_sessions/…`) of each hinted day (epoch-day numbers), then the flat
/// `archived_sessions/`, then by walking the whole home.
pub fn find_rollout(codex_home: &Path, session_id: &str, days: &[i64]) -> Option<PathBuf> {
    let sid = session_id.to_ascii_lowercase();
    let matches = |p: &Path| {
        p.file_name()
            .and_then(|n| n.to_str())
            .and_then(session_id_from_name)
            .is_some_and(|id| id.eq_ignore_ascii_case(&sid))
    };
    let in_dir = |dir: &Path| -> Option<PathBuf> {
        let rd = std::fs::read_dir(dir).ok()?;
        let mut hits: Vec<PathBuf> = rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| matches(p))
            .collect();
        hits.sort();
        hits.into_iter().next()
    };
    for root in ["sessions", "archived_sessions"] {
        for &day in days {
            if let Some(p) = day_dir(&codex_home.join(root), day).and_then(|d| in_dir(&d)) {
                return Some(p);
            }
        }
    }
    if let Some(p) = in_dir(&codex_home.join("archived_sessions")) {
        return Some(p);
    }
    list_rollouts(codex_home).into_iter().find(|p| matches(p))
}
