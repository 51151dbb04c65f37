//! The session of a run whose output names none (codex before 0.44 prints no session id,
//! in either mode): which rollout of the Codex home is the run's — only on evidence,
//! never by a time window alone. Three back-to-back runs of one task write three rollouts
//! in the same second, and parallel runs of one task write them side by side; a rollout
//! is a run's only when
//!
//! - its session began inside the attempt: the `session_meta` payload's `timestamp`
//!   (milliseconds; codex-cli 0.42.0 writes
//!   `{"timestamp":…,"type":"session_meta","payload":{"id":…,"timestamp":"…Z","cwd":…}}`
//!   as the first line) is at or after the attempt's start — codex was started after it;
//! - its `cwd` is the run's directory;
//! - its first user message is the run's task;
//! - every answer it holds is in the run's transcript (its log): a rollout whose answers
//!   the run never printed is another run's (the case of a codex that wrote no rollout of
//!   its own while a neighbour with the same task did);
//! - no live process outside the run holds it open for writing
//!   ([`RunQuery::open_elsewhere`]): a neighbour's session still going may hold no
//!   answer yet, so the transcript cannot tell — its codex writing the file can. Where the platform cannot tell, a
//!   rollout with no answer to check is not taken.
//!
//! A session continued by `resume --last` began before the attempt: its rollout is the
//! run's when one of its user messages since the attempt's start is the task (and the
//! answers since then are in the transcript).
//!
//! When two rollouts pass, neither is taken ([`RunSession::Several`]). Where the platform
//! tells which file codex's own process holds open, [`held_rollout_session`] is exact.

use super::*;

/// How long a rollout's answers (and the transcript searched for them) may be for the
/// transcript check; a longer log is not searched (the other rules still hold).
pub const TRANSCRIPT_MAX_BYTES: u64 = 64 << 20;

/// What is known of the attempt whose session is looked for.
#[derive(Clone, Copy)]
pub struct RunQuery<'a> {
    pub codex_home: &'a Path,
    /// The run's directory (codex's `--cd`).
    pub cwd: &'a Path,
    /// When the attempt began (epoch ms): codex was started after it.
    pub since_ms: i64,
    /// The run's task (its prompt).
    pub prompt: &'a str,
    /// The attempt continues a session that began before it (`resume --last`).
    pub resumed: bool,
    /// What the attempt printed (its log), when it ended; `None` skips that check.
    pub transcript: Option<&'a [u8]>,
    /// Does a live process outside the run hold the rollout at this path open for
    /// writing now (so it is that process's session, still going)? `None`: the platform
    /// cannot tell.
    /// Asked only of a rollout that passed every other rule.
    pub open_elsewhere: Option<&'a dyn Fn(&Path) -> bool>,
}

impl std::fmt::Debug for RunQuery<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunQuery")
            .field("codex_home", &self.codex_home)
            .field("cwd", &self.cwd)
            .field("since_ms", &self.since_ms)
            .field("prompt", &self.prompt)
            .field("resumed", &self.resumed)
            .field("transcript", &self.transcript.map(<[u8]>::len))
            .field("open_elsewhere", &self.open_elsewhere.is_some())
            .finish()
    }
}

/// What the rollouts say of a run's session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunSession {
    /// Exactly one rollout is the run's.
    Found(String),
    /// None is.
    NotFound,
    /// More than one could be: none is taken.
    Several(Vec<String>),
}

impl RunSession {
    /// The session id, when exactly one rollout is the run's.
    pub fn id(&self) -> Option<&str> {
        match self {
            RunSession::Found(id) => Some(id),
            _ => None,
        }
    }

    /// Why no session id was taken (`None` when one was).
    pub fn reason(&self) -> Option<String> {
        match self {
            RunSession::Found(_) => None,
            RunSession::NotFound => Some(
                "no rollout in CODEX_HOME matches this run (a session begun in the attempt, \
                 for its cwd, with its task and answers, written by no other process)"
                    .to_owned(),
            ),
            RunSession::Several(ids) => Some(format!(
                "{} rollouts in CODEX_HOME match this run (same task, cwd and start window); none taken",
                ids.len()
            )),
        }
    }
}

/// What one rollout says of its session: enough to tell whose it is.
#[derive(Debug, Default)]
struct Facts {
    id: Option<String>,
    /// When the session began (`session_meta` payload's timestamp, else its line's).
    began_ms: Option<i64>,
    cwd: Option<String>,
    /// The user messages (`user_message` events), with their lines' times.
    prompts: Vec<(Option<i64>, String)>,
    /// The same from `response_item` messages (a version without the events).
    item_prompts: Vec<(Option<i64>, String)>,
    /// The agent's answers (`agent_message` events), with their lines' times.
    answers: Vec<(Option<i64>, String)>,
    /// The same from `response_item` messages.
    item_answers: Vec<(Option<i64>, String)>,
}

impl Facts {
    fn prompts(&self) -> &[(Option<i64>, String)] {
        if self.prompts.is_empty() {
            &self.item_prompts
        } else {
            &self.prompts
        }
    }

    fn answers(&self) -> &[(Option<i64>, String)] {
        if self.answers.is_empty() {
            &self.item_answers
        } else {
            &self.answers
        }
    }

    /// Did this session begin inside the attempt (or, resumed, is it for its cwd)?
    fn begins_right(&self, q: &RunQuery<'_>) -> bool {
        let cwd_ok = self.cwd.as_deref().is_some_and(|c| Path::new(c) == q.cwd);
        let began_ok = q.resumed || self.began_ms.is_some_and(|b| b >= q.since_ms);
        cwd_ok && began_ok && self.id.is_some()
    }

    /// The answers of the attempt `q`: all of them, or, resumed, those since it began.
    fn answers_in(&self, q: &RunQuery<'_>) -> impl Iterator<Item = &str> {
        let since = |t: &Option<i64>| t.is_some_and(|t| t >= q.since_ms);
        self.answers()
            .iter()
            .filter(move |(at, _)| !q.resumed || since(at))
            .map(|(_, a)| a.as_str())
    }

    /// Is this rollout, at `path`, another's session still going: held open by a live
    /// process outside the run — or, where the platform cannot tell, holding no answer
    /// for the transcript to tell by?
    fn someone_elses(&self, path: &Path, q: &RunQuery<'_>) -> bool {
        match q.open_elsewhere {
            Some(open) => open(path),
            None => q.transcript.is_some() && self.answers_in(q).next().is_none(),
        }
    }

    /// Is this the rollout of the attempt `q` (see the module docs)?
    fn is_run(&self, q: &RunQuery<'_>, transcript: Option<&Transcript<'_>>) -> bool {
        if !self.begins_right(q) {
            return false;
        }
        let prompt = q.prompt.trim();
        let since = |t: &Option<i64>| t.is_some_and(|t| t >= q.since_ms);
        let asked = match q.resumed {
            false => self
                .prompts()
                .first()
                .is_some_and(|(_, p)| p.trim() == prompt),
            true => self
                .prompts()
                .iter()
                .any(|(t, p)| since(t) && p.trim() == prompt),
        };
        asked && transcript.is_none_or(|t| self.answers_in(q).all(|a| t.holds(a)))
    }
}

/// A transcript to find answers in: as printed (a `--json` log holds them JSON-escaped)
/// and with whitespace and ANSI escapes removed (the human log prints them as text,
/// perhaps styled).
struct Transcript<'a> {
    raw: &'a [u8],
    squeezed: Vec<u8>,
}

impl<'a> Transcript<'a> {
    fn new(raw: &'a [u8]) -> Transcript<'a> {
        Transcript {
            raw,
            squeezed: squeeze(raw),
        }
    }

    fn holds(&self, answer: &str) -> bool {
        let a = squeeze(answer.as_bytes());
        if a.is_empty() || memchr::memmem::find(&self.squeezed, &a).is_some() {
            return true;
        }
        let escaped = serde_json::to_string(answer).unwrap_or_default();
        let inner = escaped.trim_start_matches('"').trim_end_matches('"');
        !inner.is_empty() && memchr::memmem::find(self.raw, inner.as_bytes()).is_some()
    }
}

/// `bytes` without whitespace and ANSI CSI sequences (`ESC [ … final`).
fn squeeze(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == 0x1b && bytes.get(i + 1) == Some(&b'[') {
            i += 2;
            while i < bytes.len() && !(0x40..=0x7e).contains(&bytes[i]) {
                i += 1;
            }
        } else if !b.is_ascii_whitespace() {
            out.push(b);
        }
        i += 1;
    }
    out
}

/// The session of the attempt `q` among the rollouts under `codex_home`'s `sessions/`
/// written to since the attempt began (see the module docs): exactly one, or none with
/// why.
pub fn find_run_session(q: &RunQuery<'_>) -> RunSession {
    if q.prompt.trim().is_empty() {
        return RunSession::NotFound;
    }
    let transcript = q.transcript.map(Transcript::new);
    let mut found: Vec<String> = Vec::new();
    for path in fresh_rollouts(q.codex_home, q.since_ms) {
        let Some(facts) = read_facts(&path, Some(q)) else {
            continue;
        };
        if facts.is_run(q, transcript.as_ref()) && !facts.someone_elses(&path, q) {
            if let Some(id) = facts.id.filter(|id| !found.contains(id)) {
                found.push(id);
            }
        }
    }
    match found.len() {
        0 => RunSession::NotFound,
        1 => RunSession::Found(found.remove(0)),
        _ => RunSession::Several(found),
    }
}

/// The session of the rollout at `path` — one that codex's own process holds open, so
/// the attempt's for certain once it is one of its sessions: begun inside the attempt and
/// for its cwd (its first line tells). A resumed session's rollout must also hold the
/// task asked since the attempt began: `resume --last` reads other rollouts to pick one.
/// `None` also while codex has not written those lines yet.
pub fn held_rollout_session(path: &Path, q: &RunQuery<'_>) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    if !is_rollout_name(name) || name.ends_with(".zst") {
        return None;
    }
    let facts = read_facts(path, None)?;
    let mine = match q.resumed {
        false => facts.begins_right(q),
        true => facts.is_run(
            &RunQuery {
                transcript: None,
                open_elsewhere: None,
                ..*q
            },
            None,
        ),
    };
    mine.then_some(facts.id).flatten()
}

/// The rollouts under `sessions/` of the days from the attempt's to now modified since
/// it began (2 s of slack for coarse file times).
fn fresh_rollouts(codex_home: &Path, since_ms: i64) -> Vec<PathBuf> {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(since_ms, |d| d.as_millis() as i64);
    let first_day = since_ms.div_euclid(86_400_000) - 1;
    let last_day = now_ms.div_euclid(86_400_000) + 1;
    let since =
        std::time::UNIX_EPOCH + std::time::Duration::from_millis((since_ms - 2_000).max(0) as u64);
    let mut out = Vec::new();
    for day in first_day..=last_day.min(first_day + 7) {
        let Some(dir) = super::files::day_dir(&codex_home.join("sessions"), day) else {
            continue;
        };
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let fresh = e
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t >= since);
            let named = e
                .file_name()
                .to_str()
                .is_some_and(|n| n.ends_with(".jsonl"));
            if fresh && named {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}

/// What the rollout at `path` says of its session. With a query, the reading stops at
/// the first line when that line already shows the session is not the attempt's.
fn read_facts(path: &Path, q: Option<&RunQuery<'_>>) -> Option<Facts> {
    use codex_session_id::rollout::{Fact, fact};
    use std::io::BufRead;
    let file = codex_meta::files::open_regular(path).ok()?;
    let mut f = Facts {
        id: session_id_from_name(path.file_name()?.to_str()?).map(str::to_ascii_lowercase),
        ..Facts::default()
    };
    let reader = std::io::BufReader::new(file.take(64 << 20));
    for (n, line) in reader.split(b'\n').take(100_000).enumerate() {
        let Ok(line) = line else { break };
        if line.len() > (4 << 20) {
            continue;
        }
        let ms = |ts: Option<String>| ts.as_deref().and_then(parse_ts_ms);
        match fact(&line, n == 0) {
            Some(Fact::Session { ts, id, began, cwd }) => {
                if let Some(id) = id {
                    f.id = Some(id.to_ascii_lowercase());
                }
                f.began_ms = ms(began).or(ms(ts));
                if let Some(c) = cwd {
                    f.cwd = Some(c);
                }
                if q.is_some_and(|q| !f.begins_right(q)) {
                    return None;
                }
            }
            Some(Fact::Prompt { ts, text, item }) => {
                let to = if item {
                    &mut f.item_prompts
                } else {
                    &mut f.prompts
                };
                to.push((ms(ts), text));
            }
            Some(Fact::Answer { ts, text, item }) => {
                let to = if item {
                    &mut f.item_answers
                } else {
                    &mut f.answers
                };
                to.push((ms(ts), text));
            }
            None => {}
        }
    }
    Some(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transcripts_hold_answers_as_text_or_json() {
        let human = b"[2026-12-01T08:54:21] codex\n\x1b[1mDone\x1b[0m  2.\r\nline two\n";
        let t = Transcript::new(human);
        assert!(t.holds("Done 2.\nline two"));
        assert!(!t.holds("Done 3."));
        let json = br#"{"id":"0","msg":{"type":"agent_message","message":"a \"quoted\"\nanswer"}}"#;
        assert!(Transcript::new(json).holds("a \"quoted\"\nanswer"));
    }
}
