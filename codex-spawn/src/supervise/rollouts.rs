//! codex's rollouts, read while codex runs: the session of a CLI that names none in its
//! output ([`RolloutLookup`]), and the run's usage ([`BudgetWatch`]) — against
//! `--max-tokens` / `--max-cost` when they are given, and for every run as the meta's
//! `spend` (what `codex-meta list` shows of a run still going).
//!
//! Why the rollout: codex writes a `token_count` event to the session's rollout under
//! CODEX_HOME after each model call, while the `--json` stream reports usage only at
//! the end of a turn (and the human transcript only its blended total) — too late to
//! stop a run that is spending. The rollout is found by the session id (in the
//! `sessions/YYYY/MM/DD` of the days around now), read again only when it grew, and
//! only the calls since the run's first attempt began count (a resumed session's
//! earlier runs do not).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use codex_meta::Status;
use codex_session_id::codex_version::{Fact, has};
use codex_summarize::{Pricing, Usage};
use serde_json::json;

use crate::config::Budget;

/// Looking for the session of an attempt whose output names none (codex before 0.44).
/// While codex runs, only the rollout its own process tree holds open counts (exact, even
/// for runs of one task side by side; looked at every [`RolloutLookup::EVERY`] where the
/// platform tells it); when the attempt ends, [`RolloutLookup::settle`] applies the rules
/// of [`codex_summarize::rollout::find_run_session`] — never a time window alone.
pub(super) struct RolloutLookup {
    home: PathBuf,
    cwd: PathBuf,
    since_ms: i64,
    task: String,
    /// `resume --last`: the session began before the attempt.
    resumed: bool,
    /// codex's pid (= its process group's id), while it runs.
    pid: Option<i32>,
    last: Option<Instant>,
    /// Known from the start (a resume by id).
    known: Option<String>,
}

impl RolloutLookup {
    /// How often codex's open files are looked at (a few `readlink`s).
    pub const EVERY: Duration = Duration::from_millis(50);

    pub fn known(id: String) -> RolloutLookup {
        RolloutLookup {
            home: PathBuf::new(),
            cwd: PathBuf::new(),
            since_ms: 0,
            task: String::new(),
            resumed: false,
            pid: None,
            last: None,
            known: Some(id),
        }
    }

    /// The lookup of an attempt that began at `since_ms` (epoch ms) in `cwd` with `task`.
    pub fn new(home: PathBuf, cwd: PathBuf, since_ms: i64, task: String, resumed: bool) -> Self {
        RolloutLookup {
            home,
            cwd,
            since_ms,
            task,
            resumed,
            pid: None,
            last: None,
            known: None,
        }
    }

    /// Look at the open files of codex's process tree (`pid`) while it runs.
    pub fn watching(mut self, pid: i32) -> Self {
        self.pid = Some(pid);
        self
    }

    fn query<'a>(&'a self, transcript: Option<&'a [u8]>) -> codex_summarize::rollout::RunQuery<'a> {
        codex_summarize::rollout::RunQuery {
            codex_home: &self.home,
            cwd: &self.cwd,
            since_ms: self.since_ms,
            prompt: &self.task,
            resumed: self.resumed,
            transcript,
            open_elsewhere: None,
        }
    }

    /// The session, once codex's process holds exactly one rollout of it open.
    pub fn poll(&mut self) -> Option<String> {
        if let Some(id) = self.known.take() {
            return Some(id);
        }
        let now = Instant::now();
        if self.last.is_some_and(|t| now - t < Self::EVERY) {
            return None;
        }
        self.last = Some(now);
        let pid = self.pid?;
        // what /proc shows: the path without symlinks (made by codex's first session)
        let sessions = std::fs::canonicalize(self.home.join("sessions")).ok()?;
        let held = crate::sys::open_files::held_under(pid, &sessions)?;
        let q = self.query(None);
        let mut ids: Vec<String> = Vec::new();
        for path in held {
            if let Some(id) = codex_summarize::rollout::held_rollout_session(&path, &q) {
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
        }
        (ids.len() == 1).then(|| ids.remove(0))
    }

    /// The attempt ended: its session by the rollouts' evidence, its log (`transcript`,
    /// read only when a rollout could be the attempt's) among it.
    pub fn settle(
        &self,
        transcript: impl FnOnce() -> Option<Vec<u8>>,
    ) -> codex_summarize::rollout::RunSession {
        if let Some(id) = &self.known {
            return codex_summarize::rollout::RunSession::Found(id.clone());
        }
        // The log and the other processes' files only ever rule a rollout out: when none
        // passes the rules without them, none passes with them — and the log (up to
        // TRANSCRIPT_MAX_BYTES held in memory) is not read at all.
        let rough = codex_summarize::rollout::find_run_session(&self.query(None));
        if rough == codex_summarize::rollout::RunSession::NotFound {
            return rough;
        }
        let transcript = transcript();
        // a rollout another live process holds open for writing is its session, still
        // going (a neighbour's with the same task may have no answer yet for the
        // transcript to tell by); codex's own tree has ended, so every writer is
        // another's. Looked at once, and only when a rollout passed every other rule.
        let sessions = std::fs::canonicalize(self.home.join("sessions")).ok();
        let held = std::cell::OnceCell::new();
        let open_elsewhere = |path: &Path| {
            let held = held.get_or_init(|| {
                sessions
                    .as_deref()
                    .and_then(crate::sys::open_files::written_elsewhere)
            });
            // (when /proc cannot be read, every candidate is taken for another's)
            held.as_ref()
                .is_none_or(|held| std::fs::canonicalize(path).is_ok_and(|p| held.contains(&p)))
        };
        let q = codex_summarize::rollout::RunQuery {
            open_elsewhere: crate::sys::open_files::CAN_TELL
                .then_some(&open_elsewhere as &dyn Fn(&Path) -> bool),
            ..self.query(transcript.as_deref())
        };
        codex_summarize::rollout::find_run_session(&q)
    }
}

/// What the run used so far (the calls since its first attempt began).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct Used {
    pub tokens: u64,
    /// `None` while some call's model has no price.
    pub cost_usd: Option<f64>,
    pub calls: usize,
}

/// Following the run's usage: against its budget (when it has one), and for the meta.
pub(super) struct BudgetWatch {
    budget: Budget,
    home: Option<PathBuf>,
    since_ms: i64,
    model_hint: Option<String>,
    pricing: Pricing,
    rollout: Option<PathBuf>,
    seen_len: u64,
    last: Option<Instant>,
    /// When the rollout was last looked for (a lookup beyond the days around now walks
    /// the home: at most every [`Self::FIND_EVERY`]).
    last_find: Option<Instant>,
    /// How long the last scan of the rollout took: scans are spaced by 20 times that, so
    /// a long session's rollout (re-read whole as it grows) costs at most ~5% of a core.
    scan_cost: Duration,
    last_scan: Option<Instant>,
    pub used: Used,
    /// Said once: a model without a price (so `--max-cost` cannot be judged).
    pub unpriced: Option<String>,
    /// The usage last given to the meta, and when.
    recorded: Option<(Instant, Used)>,
}

impl BudgetWatch {
    /// How often the rollout is looked at, with a budget.
    pub const EVERY: Duration = Duration::from_millis(250);
    /// How often, without one (only the meta's `spend` asks).
    const SPEND_EVERY: Duration = Duration::from_secs(1);
    /// The meta's `spend` is written at most this often.
    const RECORD_EVERY: Duration = Duration::from_secs(2);
    /// How often a rollout not found yet is looked for again.
    const FIND_EVERY: Duration = Duration::from_secs(2);

    /// A watch of the run that began at `since_ms` (epoch ms).
    pub fn new(budget: Budget, since_ms: i64, model_hint: Option<String>) -> BudgetWatch {
        BudgetWatch {
            budget,
            home: codex_summarize::Options::default().resolved_codex_home(),
            since_ms,
            model_hint,
            pricing: Pricing::builtin(),
            rollout: None,
            seen_len: 0,
            last: None,
            last_find: None,
            scan_cost: Duration::ZERO,
            last_scan: None,
            used: Used::default(),
            unpriced: None,
            recorded: None,
        }
    }

    /// Whether the run has a budget (else the watch is only for the meta's `spend`).
    pub fn has_budget(&self) -> bool {
        self.budget.is_set()
    }

    /// How often the rollout is looked at.
    pub fn every(&self) -> Duration {
        if self.has_budget() {
            Self::EVERY
        } else {
            Self::SPEND_EVERY
        }
    }

    /// The usage for the meta's `spend`, when it changed since it was last given and that
    /// was [`Self::RECORD_EVERY`] ago (`None` before the rollout is found).
    pub fn spend_to_record(&mut self) -> Option<codex_meta::Spend> {
        self.rollout.as_ref()?;
        let now = Instant::now();
        match self.recorded {
            Some((_, u)) if u == self.used => return None,
            Some((t, _)) if now - t < Self::RECORD_EVERY => return None,
            _ => {}
        }
        self.recorded = Some((now, self.used));
        Some(codex_meta::Spend {
            tokens: Some(self.used.tokens),
            tokens_blended: false,
            cost_usd: self.used.cost_usd,
            at: codex_meta::now_rfc3339(),
        })
    }

    /// Look again (at most every [`Self::EVERY`]); the reason, once the budget is passed.
    pub fn poll(&mut self, session: Option<&str>) -> Option<String> {
        let now = Instant::now();
        if self.last.is_some_and(|t| now - t < self.every()) {
            return None;
        }
        self.last = Some(now);
        let sid = session?;
        if self.rollout.is_none() && self.last_find.is_none_or(|t| now - t >= Self::FIND_EVERY) {
            self.last_find = Some(now);
            self.rollout = self.find(sid);
        }
        let path = self.rollout.clone()?;
        let len = std::fs::metadata(&path).map_or(0, |m| m.len());
        let spaced = self
            .last_scan
            .is_none_or(|t| now - t >= self.scan_cost * 20);
        if len != self.seen_len && spaced {
            self.seen_len = len;
            let start = Instant::now();
            if let Ok(scan) = codex_summarize::rollout::scan_file(&path) {
                self.count(&scan);
            }
            self.scan_cost = start.elapsed();
            self.last_scan = Some(Instant::now());
        }
        self.over()
    }

    /// Why the budget could not be followed, if it could not (no rollout found).
    pub fn unfollowed(&self, session: Option<&str>) -> Option<String> {
        if self.rollout.is_some() {
            return None;
        }
        Some(match session {
            Some(sid) => format!(
                "the budget could not be followed: no rollout of session {sid} under CODEX_HOME"
            ),
            None => "the budget could not be followed: codex's session id is unknown".to_owned(),
        })
    }

    /// Look now (between attempts, at the end), whatever the time of the last look.
    pub fn refresh(&mut self, session: Option<&str>) -> Option<String> {
        self.last = None;
        self.last_find = None;
        self.last_scan = None;
        self.poll(session)
    }

    /// The reason the budget is passed, if it is.
    pub fn over(&self) -> Option<String> {
        let u = &self.used;
        if let Some(max) = self.budget.max_tokens.filter(|&m| u.tokens > m) {
            return Some(format!(
                "over budget: {} tokens used in {} model call{} > --max-tokens {max}",
                u.tokens,
                u.calls,
                if u.calls == 1 { "" } else { "s" }
            ));
        }
        match (self.budget.max_cost_usd, u.cost_usd) {
            (Some(max), Some(cost)) if cost > max => Some(format!(
                "over budget: ${cost:.4} spent in {} model call{} > --max-cost {max}",
                u.calls,
                if u.calls == 1 { "" } else { "s" }
            )),
            _ => None,
        }
    }

    fn count(&mut self, scan: &codex_summarize::rollout::RolloutScan) {
        let mut used = Used {
            cost_usd: Some(0.0),
            ..Used::default()
        };
        for ev in &scan.events {
            if ev.ts_ms.is_some_and(|t| t < self.since_ms) {
                continue; // an earlier run of this session
            }
            used.tokens += usage_total(&ev.usage);
            used.calls += 1;
            let model = scan
                .model_of(ev)
                .map(str::to_owned)
                .or_else(|| self.model_hint.clone());
            match model.as_deref().and_then(|m| self.pricing.resolve(m)) {
                Some(r) => {
                    if let Some(c) = used.cost_usd.as_mut() {
                        *c += r.price.cost(&ev.usage);
                    }
                }
                None => {
                    used.cost_usd = None;
                    if self.unpriced.is_none() && self.budget.max_cost_usd.is_some() {
                        self.unpriced = Some(format!(
                            "--max-cost cannot be judged: no price for model {}",
                            model.as_deref().unwrap_or("(unknown)")
                        ));
                    }
                }
            }
        }
        self.used = used;
    }

    /// The session's rollout: in `sessions/` of the days around now (codex names the
    /// directory by its local date), else where codex-summarize finds it (the session's
    /// own day, by its id's time: a resumed session appends to its first rollout).
    fn find(&self, sid: &str) -> Option<PathBuf> {
        let home = self.home.as_deref()?;
        let today = chrono::Local::now().date_naive();
        for day in [Some(today), today.pred_opt(), today.succ_opt()]
            .into_iter()
            .flatten()
        {
            let dir = home
                .join("sessions")
                .join(day.format("%Y/%m/%d").to_string());
            if let Some(p) = rollout_in(&dir, sid) {
                return Some(p);
            }
        }
        let days = codex_summarize::rollout::days_around(codex_summarize::rollout::uuid_v7_ms(sid));
        codex_summarize::rollout::find_rollout(home, sid, &days)
    }
}

/// A session's tokens as codex counts them: input + output (cached input is part of
/// the input, reasoning part of the output).
fn usage_total(u: &Usage) -> u64 {
    if u.total_tokens > 0 {
        u.total_tokens
    } else {
        u.input_tokens + u.output_tokens
    }
}

/// The rollout of session `sid` in `dir`.
fn rollout_in(dir: &Path, sid: &str) -> Option<PathBuf> {
    std::fs::read_dir(dir).ok()?.flatten().find_map(|e| {
        let name = e.file_name();
        let id = codex_summarize::rollout::session_id_from_name(name.to_str()?)?;
        id.eq_ignore_ascii_case(sid).then(|| e.path())
    })
}

impl super::Run {
    /// After the attempts: the budget's last look, and what the run must say of it (a
    /// model without a price, a budget that could not be followed), and `budget_used` in
    /// the meta. A budget passed that only the end of codex's turn showed (codex finished
    /// before it could be stopped) still ends the run `over_budget` when it would
    /// otherwise have succeeded: a caller reading the exit code must not take a spent
    /// budget for success. Its work and its summary are kept as they are.
    pub(super) fn settle_budget(&self, ctx: &mut super::Ctx<'_>, end: &mut super::attempts::Final) {
        let Some(b) = ctx.budget.as_mut().filter(|b| b.has_budget()) else {
            return;
        };
        b.refresh(ctx.session_id.as_deref());
        if let Some(w) = b.unpriced.clone() {
            ctx.warnings.push(w);
        }
        if let Some(w) = b.unfollowed(ctx.session_id.as_deref()) {
            ctx.warnings.push(w);
        }
        if let (Some(why), false) = (b.over(), end.outcome.status == Status::OverBudget) {
            // the budget was passed, but only the end of codex's turn showed it
            let late = self
                .codex_version
                .filter(|&v| !has(v, Fact::UsageInRolloutPerCall))
                .map(|v| format!(" (codex-cli {v} writes a call's usage only after its tools ran)"))
                .unwrap_or_default();
            let said = format!(
                "the run passed its budget: {why}; codex finished before it could be stopped{late}"
            );
            if end.outcome.status == Status::Succeeded {
                end.outcome =
                    codex_meta::Outcome::new(Status::OverBudget, None, Some(said.clone()));
            }
            ctx.warnings.push(said);
        }
        let u = b.used;
        let used = json!({"tokens": u.tokens, "cost_usd": u.cost_usd, "model_calls": u.calls});
        if let Err(e) = codex_meta::update_meta(&self.meta_path, |m| {
            m.extra.insert("budget_used".into(), used);
        }) {
            ctx.warnings
                .push(format!("cannot record the budget used: {e}"));
        }
    }
}
