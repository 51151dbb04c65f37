//! A run's tokens from its session's rollout: source 1 of [`super`], exact per call.
//!
//! The rollout is found by the session id in `sessions/YYYY/MM/DD` of the session's own
//! date (its id is a UUIDv7) and the run's dates, or in the index of a summary of many
//! runs; the calls counted are those timestamped inside the run (a resumed session's
//! earlier runs do not count), and a fork's replay of its parent's history is dropped.

use std::path::{Path, PathBuf};

use codex_meta::Meta;

use super::{AttemptSummary, Attempts, Options, RunSummary, Source, TokenUsage, Tokens};
use crate::pricing::Pricing;
use crate::rollout::{self, RolloutScan};
use crate::time::parse_ts_ms;
use crate::usage::Usage;

/// The session's rollout, scanned (the fork's replay dropped), for a run that began at
/// `start_ms`; `None` without a session id, a Codex home or a rollout.
pub(super) fn find(
    s: &RunSummary,
    opts: &Options,
    start_ms: i64,
    end_ms: Option<i64>,
) -> Option<(PathBuf, RolloutScan)> {
    let sid = s.session_id.as_deref()?;
    let home = opts.resolved_codex_home()?;
    let days = rollout::days_around(
        [rollout::uuid_v7_ms(sid), Some(start_ms), end_ms]
            .into_iter()
            .flatten(),
    );
    let path = match &opts.rollout_index {
        Some(ix) => ix.get(sid).map(Path::to_path_buf),
        None => rollout::find_rollout(&home, sid, &days),
    }?;
    let mut scan = rollout::scan_file(&path).ok()?;
    drop_fork_replay(&home, &mut scan);
    Some((path, scan))
}

/// The calls of `scan` inside the run's `window` (epoch ms: start, end if ended):
/// their usage, the session's up to the run's end, the run's cost (`None` while a model
/// has no price), and the models used and those without a price.
struct Counted {
    run: Usage,
    session: Usage,
    cost: Option<f64>,
    models: Vec<String>,
    unpriced: Vec<String>,
}

fn count(scan: &RolloutScan, (start, end_ms): (i64, Option<i64>), pricing: &Pricing) -> Counted {
    let in_run = |t: Option<i64>| t.is_some_and(|t| t >= start && end_ms.is_none_or(|e| t <= e));
    let mut c = Counted {
        run: Usage::default(),
        session: Usage::default(),
        cost: Some(0.0),
        models: Vec::new(),
        unpriced: Vec::new(),
    };
    for ev in &scan.events {
        if ev.ts_ms.is_some_and(|t| end_ms.is_some_and(|e| t > e)) {
            break;
        }
        c.session.add(&ev.usage);
        if !in_run(ev.ts_ms) {
            continue;
        }
        c.run.add(&ev.usage);
        let model = scan.model_of(ev).unwrap_or("unknown").to_owned();
        match pricing.resolve(&model) {
            Some(r) => c.cost = c.cost.map(|cost| cost + r.price.cost(&ev.usage)),
            None => {
                c.cost = None;
                if !c.unpriced.contains(&model) {
                    c.unpriced.push(model.clone());
                }
            }
        }
        if !c.models.contains(&model) {
            c.models.push(model);
        }
    }
    c
}

/// Fills `s` from the rollout at `path`, for the run's `window` (epoch ms).
pub(super) fn summarize(
    s: &mut RunSummary,
    path: &Path,
    scan: &RolloutScan,
    window: (i64, Option<i64>),
    meta: &Meta,
    opts: &Options,
) {
    let c = count(scan, window, &opts.pricing);
    s.token_usage = TokenUsage {
        run: Tokens::exact(&c.run),
        source: Some(Source::Rollout),
        session_total: Some(Tokens::exact(&c.session)),
        reason: None,
        rollout_file: Some(path.display().to_string()),
    };
    if let Some(m) = scan.last_model.clone().filter(|_| s.model.is_none()) {
        s.model = Some(m);
    }
    if c.models.is_empty() {
        s.cost.model = s.model.clone();
        s.cost.usd = Some(0.0);
    } else {
        s.cost.model = Some(c.models.join(","));
        s.cost.usd = c.cost;
        if c.cost.is_none() {
            s.cost.reason = Some(format!("no price for model {}", c.unpriced.join(",")));
        }
    }
    s.attempts = attempts(meta, scan, &opts.pricing);
}

/// A fork whose rollout replays its parent's history (older CLIs; paginated forks and
/// sub-agents hold their own calls only): drop the replay ([`rollout::ReplayFilter`]).
fn drop_fork_replay(home: &Path, scan: &mut RolloutScan) {
    let Some(parent_id) = scan
        .forked_from_id
        .clone()
        .filter(|_| scan.replays_parent())
    else {
        return;
    };
    let days = rollout::days_around(rollout::uuid_v7_ms(&parent_id));
    let parent = rollout::find_rollout(home, &parent_id, &days);
    let n = rollout::replayed_len(&scan.events, scan.session_ts_ms, parent.as_deref());
    scan.events.drain(..n);
}

/// Each attempt's tokens and cost: the calls inside its own window.
fn attempts(meta: &Meta, scan: &RolloutScan, pricing: &Pricing) -> Option<Attempts> {
    let list = meta.attempts.as_ref()?;
    let mut out = Attempts::default();
    let mut total = Some(Usage::default());
    let mut total_cost = Some(0.0);
    for (i, a) in list.iter().enumerate() {
        let st = a.started_at.clone();
        let en = a.ended_at.clone();
        let window = st
            .as_deref()
            .and_then(parse_ts_ms)
            .map(|s| (s, en.as_deref().and_then(parse_ts_ms)));
        let (tokens, cost) = match window {
            Some((s0, e0)) => {
                let mut u = Usage::default();
                let mut c = Some(0.0);
                for ev in &scan.events {
                    if ev
                        .ts_ms
                        .is_some_and(|t| t >= s0 && e0.is_none_or(|e| t <= e))
                    {
                        u.add(&ev.usage);
                        let p = scan.model_of(ev).and_then(|m| pricing.resolve(m));
                        c = c.and_then(|c| p.map(|p| c + p.price.cost(&ev.usage)));
                    }
                }
                (Some(u), c)
            }
            None => (None, None),
        };
        total = total.and_then(|mut t| {
            t.add(&tokens?);
            Some(t)
        });
        total_cost = total_cost.and_then(|t| Some(t + cost?));
        out.items.push(AttemptSummary {
            attempt: i + 1,
            started_at: st,
            ended_at: en,
            exit_code: a.exit_code.map(i64::from),
            token_usage: tokens.as_ref().map(Tokens::exact),
            cost_usd: cost,
        });
    }
    out.total = total.as_ref().map(Tokens::exact);
    out.total_cost_usd = total_cost;
    Some(out)
}
