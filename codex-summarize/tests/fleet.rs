//! The Codex-home report folds each rollout as it streams (and reads forks that
//! replay their parent a second time, in lockstep with the parent): on generated homes
//! full of forks (paginated ones, ones copying their parent's history), nested forks,
//! orphan forks, copies, unpriced models, many days and `--since/--until` windows, it
//! must say exactly what the straightforward computation says — every call kept in
//! memory, forks resolved after.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use codex_summarize::Pricing;
use codex_summarize::report::{self, GroupBy, ReportOptions, Row};
use codex_summarize::rollout::{self, RolloutScan};
use codex_summarize::zone::Zone;
use common::{Call, Lines, Origin, Rng};
use tempfile::TempDir;

const MODELS: [&str; 3] = ["gpt-5", "gpt-5-codex", "mystery-model-x"];
const DAY: i64 = 86_400_000;
const T0: i64 = 1_790_000_000_000; // 2026-09-21

/// A rollout read whole.
struct F {
    path: PathBuf,
    key: String,
    scan: RolloutScan,
}

/// Every session's calls in memory (the copy with more calls), forks' replays dropped.
fn load(files: &[PathBuf]) -> HashMap<String, F> {
    let mut by_session: HashMap<String, F> = HashMap::new();
    for path in files {
        let scan = rollout::scan_file(path).expect("scan");
        let key = scan.session_id.clone().expect("session id");
        match by_session.get(&key) {
            Some(old) if old.scan.events.len() >= scan.events.len() => {}
            _ => {
                by_session.insert(
                    key.clone(),
                    F {
                        path: path.clone(),
                        key,
                        scan,
                    },
                );
            }
        }
    }
    // each fork that replays its parent, against its parent's whole file
    let drops: Vec<(String, usize)> = by_session
        .values()
        .filter(|c| c.scan.replays_parent())
        .map(|c| {
            let prefix = c
                .scan
                .forked_from_id
                .as_ref()
                .and_then(|p| by_session.get(p))
                .filter(|p| p.path != c.path)
                .map(|p| rollout::parent_prefix(&p.scan, c.scan.session_ts_ms));
            let n = rollout::replayed_prefix_len(&c.scan.events, prefix.as_deref());
            (c.key.clone(), n)
        })
        .collect();
    for (k, n) in drops {
        if let Some(c) = by_session.get_mut(&k) {
            c.scan.events.drain(..n);
        }
    }
    by_session
}

/// The report computed the plain way: every call of every file in memory.
fn reference(files: &[PathBuf], opts: &ReportOptions, pricing: &Pricing) -> (Vec<Row>, Row) {
    let by_session = load(files);
    let mut files: Vec<&F> = by_session.values().collect();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let mut rows: BTreeMap<Vec<String>, Row> = BTreeMap::new();
    let mut last: HashMap<Vec<String>, i64> = HashMap::new();

    let mut totals = new_row("total");
    for f in files {
        for ev in &f.scan.events {
            let inside = match ev.ts_ms {
                Some(t) => {
                    opts.since_ms.is_none_or(|s| t >= s) && opts.until_ms.is_none_or(|u| t <= u)
                }
                None => opts.since_ms.is_none() && opts.until_ms.is_none(),
            };
            if !inside {
                continue;
            }
            let model = f.scan.model_of(ev).unwrap_or("unknown");
            let cost = pricing.resolve(model).map(|r| r.price.cost(&ev.usage));
            let key: Vec<String> = opts
                .by
                .iter()
                .map(|&k| match k {
                    GroupBy::Session => f.key.clone(),
                    GroupBy::Model => model.to_owned(),
                    GroupBy::Repo => f.scan.cwd.clone().unwrap_or_else(|| "unknown".into()),
                    _ => ev
                        .ts_ms
                        .map_or("unknown".to_owned(), |t| calendar(k, t, opts.zone)),
                })
                .collect();
            let row = rows.entry(key.clone()).or_insert_with(|| {
                let mut r = Row::new(key.join(" "));
                if key.len() > 1 {
                    r.keys = key.clone();
                }
                r
            });
            add(row, &ev.usage, model, cost);
            if !opts.by.contains(&GroupBy::Model) && !row.models.iter().any(|m| m == model) {
                row.models.push(model.to_owned());
            }
            if let (true, Some(t)) = (opts.by.contains(&GroupBy::Session), ev.ts_ms) {
                let e = last.entry(key).or_insert(t);
                *e = (*e).max(t);
            }
            add(&mut totals, &ev.usage, model, cost);
        }
    }
    let mut rows: Vec<Row> = rows
        .into_iter()
        .map(|(k, mut r)| {
            r.last_activity = last.get(&k).map(|&t| report::rfc3339_ms(t));
            r
        })
        .collect();
    if opts.by.contains(&GroupBy::Session) {
        rows.sort_by(|a, b| {
            a.last_activity
                .cmp(&b.last_activity)
                .then(a.key.cmp(&b.key))
        });
    }
    (rows, totals)
}

/// A calendar key of instant `t` in `zone`, from chrono-tz alone.
fn calendar(k: GroupBy, t: i64, zone: Zone) -> String {
    let tz: chrono_tz::Tz = match zone {
        Zone::Utc => chrono_tz::UTC,
        Zone::Named(tz) => tz,
        z => panic!("the reference knows UTC and named zones, not {z:?}"),
    };
    let at = chrono::DateTime::from_timestamp_millis(t)
        .expect("instant")
        .with_timezone(&tz);
    let f = match k {
        GroupBy::Day => "%Y-%m-%d",
        GroupBy::Week => "%G-W%V",
        _ => "%Y-%m",
    };
    at.format(f).to_string()
}

fn new_row(key: &str) -> Row {
    Row::new(key.to_owned())
}

fn add(row: &mut Row, u: &codex_summarize::Usage, model: &str, cost: Option<f64>) {
    row.input_tokens += u.input_tokens;
    row.cached_input_tokens += u.cached_input_tokens;
    row.output_tokens += u.output_tokens;
    row.reasoning_output_tokens += u.reasoning_output_tokens;
    row.total_tokens += u.total_tokens;
    match cost {
        Some(c) => row.cost_usd = Some(row.cost_usd.unwrap_or(0.0) + c),
        None if !row.unpriced_models.iter().any(|m| m == model) => {
            row.unpriced_models.push(model.to_owned());
        }
        None => {}
    }
}

/// Rows equal but for the cost's last bits (it is summed in another order).
fn assert_same(got: &Row, want: &Row, what: &str) {
    let strip = |r: &Row| Row {
        cost_usd: None,
        ..r.clone()
    };
    assert_eq!(strip(got), strip(want), "{what}");
    match (got.cost_usd, want.cost_usd) {
        (Some(a), Some(b)) => assert!((a - b).abs() <= 1e-9 * b.abs().max(1.0), "{what}: {a} {b}"),
        (a, b) => assert_eq!(a, b, "{what}"),
    }
}

fn random_calls(rng: &mut Rng, start: i64, n: u64, model: &'static str) -> Vec<Call> {
    let mut t = start;
    (0..n)
        .map(|_| {
            // pauses from none at all to days (the report spans several)
            t += match rng.below(4) {
                0 => rng.below(800) as i64,
                1 => 1_000 + rng.below(60_000) as i64,
                2 => rng.below(6 * 3_600_000) as i64,
                _ => rng.below(2 * DAY as u64) as i64,
            };
            let input = rng.below(50_000);
            let output = rng.below(3_000);
            Call {
                ts_ms: t,
                model: if rng.below(6) == 0 {
                    MODELS[rng.below(3) as usize]
                } else {
                    model
                },
                input,
                cached: rng.below(input + 1),
                output,
                reasoning: rng.below(output + 1),
            }
        })
        .collect()
}

/// A home of `n` sessions, about half of them forks (of sessions on disk,
/// of forks, of sessions not on disk; replaying their parent exactly, partly,
/// re-stamped in a burst, or not at all; paginated, their first own call often the
/// parent's own, their own calls in a burst), plus archived copies.
///
/// Returns each paginated fork's session id and the total tokens of its own calls.
#[allow(
    clippy::too_many_lines,
    reason = "one generator of a synthetic home: its parts share the random stream and the line templates"
)]
fn generate(home: &Path, seed: u64, n: u64) -> Vec<(String, u64)> {
    let lines = Lines::load();
    let mut rng = Rng(seed);
    // session id, calls, the cumulative total its first call started from
    let mut written: Vec<(String, Vec<Call>, [u64; 4])> = Vec::new();
    let mut paginated = Vec::new();
    for i in 0..n {
        let start = T0 + (i as i64) * 5_400_000 + rng.below(3_600_000) as i64;
        let sid = common::session_id(start, seed * 1000 + i);
        let model = MODELS[rng.below(3) as usize];
        let n_own = rng.below(40);
        let own = random_calls(&mut rng, start, n_own, model);
        let kind = if written.is_empty() { 0 } else { rng.below(8) };
        let mut base = None;
        let (parent, fork_ts, calls) = match kind {
            // a fork of a session on disk (maybe itself a fork)
            1..=3 => {
                let (pid, pcalls, _) = &written[rng.below(written.len() as u64) as usize];
                let k = rng.below(pcalls.len() as u64 + 1) as usize;
                // the fork instant: right after the k-th parent call (or later)
                let fork_ts = pcalls
                    .get(k.saturating_sub(1))
                    .map_or(start, |c| c.ts_ms + rng.below(2) as i64 * 10);
                let mut replay: Vec<Call> = pcalls[..k].to_vec();
                match kind {
                    // re-stamped at the fork instant, in a burst
                    2 => {
                        for (j, c) in replay.iter_mut().enumerate() {
                            c.ts_ms = fork_ts + j as i64 * rng.below(3) as i64;
                        }
                    }
                    // a replay that differs from the parent: only the burst rule
                    3 => {
                        if let Some(c) = replay.first_mut() {
                            c.input += 1;
                        }
                    }
                    _ => {}
                }
                let after = replay.last().map_or(fork_ts, |c| c.ts_ms.max(fork_ts));
                let mut calls = replay;
                // its first own call happens to equal the parent's next one,
                // made after the fork instant: not a replay
                if let Some(next) = pcalls.get(k).filter(|c| kind == 1 && c.ts_ms > fork_ts) {
                    calls.push(Call {
                        ts_ms: after + 2_000,
                        ..*next
                    });
                }
                let n_more = rng.below(20);
                calls.extend(random_calls(&mut rng, after + 5_000, n_more, model));
                (Some(pid.clone()), fork_ts, calls)
            }
            // an orphan fork: its parent is not on disk; a burst at its start
            4 => {
                let pid = common::session_id(start - 1, 999_999);
                let n_burst = 1 + rng.below(8);
                let mut calls: Vec<Call> = random_calls(&mut rng, start, n_burst, model)
                    .into_iter()
                    .enumerate()
                    .map(|(j, c)| Call {
                        ts_ms: start + j as i64 * 300,
                        ..c
                    })
                    .collect();
                let after = calls.last().map_or(start, |c| c.ts_ms);
                let n_more = rng.below(10);
                calls.extend(random_calls(&mut rng, after + 5_000, n_more, model));
                (Some(pid), start, calls)
            }
            // a paginated fork (`exec fork`): its totals go on from the parent's at
            // the fork; its own calls come fast and may equal the parent's
            5 | 6 => {
                let (pid, pcalls, pbase) = &written[rng.below(written.len() as u64) as usize];
                let k = rng.below(pcalls.len() as u64 + 1) as usize;
                let mut b = *pbase;
                for c in &pcalls[..k] {
                    for (t, u) in b.iter_mut().zip([c.input, c.cached, c.output, c.reasoning]) {
                        *t += u;
                    }
                }
                base = Some(b);
                let mut calls: Vec<Call> = pcalls
                    .iter()
                    .take(rng.below(3) as usize)
                    .enumerate()
                    .map(|(j, c)| Call {
                        ts_ms: start + j as i64 * 200,
                        ..*c
                    })
                    .collect();
                let after = calls.last().map_or(start, |c| c.ts_ms);
                let n_more = rng.below(10);
                calls.extend(random_calls(&mut rng, after + 300, n_more, model));
                (Some(pid.clone()), start, calls)
            }
            _ => (None, start, own),
        };
        let path = common::rollout_path(home, fork_ts.min(start), &sid);
        let origin = match (&parent, base) {
            (Some(p), Some(b)) => Origin::Paginated(p, b),
            (Some(p), None) => Origin::Copied(p),
            (None, _) => Origin::New,
        };
        lines.write_rollout_from(&path, &sid, origin, fork_ts, calls.clone());
        // an archived copy: shorter, or the same
        if rng.below(8) == 0 {
            let keep = if rng.below(2) == 0 {
                calls.len() / 2
            } else {
                calls.len()
            };
            let name = path.file_name().expect("name");
            let copy = home.join("archived_sessions").join(name);
            lines.write_rollout_from(&copy, &sid, origin, fork_ts, calls[..keep].to_vec());
        }
        if base.is_some() {
            let own: u64 = calls.iter().map(|c| c.input + c.output).sum();
            paginated.push((sid.clone(), own));
        }
        written.push((sid, calls, base.unwrap_or_default()));
    }
    paginated
}

#[test]
fn streamed_report_equals_the_in_memory_computation() {
    let pricing = Pricing::builtin();
    for seed in 1..=4u64 {
        let tmp = TempDir::new().expect("tmp");
        let paginated = generate(tmp.path(), seed, 60);
        assert!(
            paginated.len() >= 5,
            "seed {seed}: {} paginated forks",
            paginated.len()
        );
        let files = rollout::list_rollouts(tmp.path());
        let forks = files
            .iter()
            .filter(|p| {
                rollout::scan_file(p)
                    .expect("scan")
                    .forked_from_id
                    .is_some()
            })
            .count();
        assert!(forks >= 10, "seed {seed}: only {forks} forks");
        let mid = T0 + 40 * 5_400_000;
        let windows = [
            (None, None),
            (Some(mid), None),
            (None, Some(mid)),
            (Some(T0 + 3 * DAY), Some(mid + DAY / 3)),
        ];
        // India (+05:30) and New York (-04:00 in these September days): days, weeks and
        // months cut at other hours than UTC's (the zone's rules across a change of
        // its clocks: zone.rs's tests)
        let kolkata = Zone::Named(chrono_tz::Tz::Asia__Kolkata);
        let new_york = Zone::Named(chrono_tz::Tz::America__New_York);
        let groupings = [
            (vec![GroupBy::Session], Zone::Utc),
            (vec![GroupBy::Day], Zone::Utc),
            (vec![GroupBy::Model], Zone::Utc),
            (vec![GroupBy::Day], kolkata),
            (vec![GroupBy::Week], new_york),
            (vec![GroupBy::Month, GroupBy::Model], new_york),
            (vec![GroupBy::Repo, GroupBy::Day], kolkata),
            (vec![GroupBy::Session, GroupBy::Model], Zone::Utc),
        ];
        for (by, zone) in &groupings {
            for (since_ms, until_ms) in windows {
                let opts = ReportOptions {
                    since_ms,
                    until_ms,
                    by: by.clone(),
                    zone: *zone,
                };
                let what = format!("seed {seed}, {opts:?}");
                let got = report::report_files(&files, &opts, &pricing);
                let (rows, totals) = reference(&files, &opts, &pricing);
                assert!(got.unreadable_files.is_empty(), "{what}");
                assert_eq!(got.files, files.len());
                assert_eq!(got.rows.len(), rows.len(), "{what}");
                for (g, w) in got.rows.iter().zip(&rows) {
                    assert_same(g, w, &what);
                }
                assert_same(&got.totals, &totals, &what);
                if since_ms.is_none() && until_ms.is_none() {
                    assert!(totals.total_tokens > 0, "{what}");
                }
                // a paginated fork: all of its own calls, whatever its parent's
                if (since_ms, until_ms, by.as_slice()) == (None, None, &[GroupBy::Session][..]) {
                    for (sid, own) in &paginated {
                        let row = got.rows.iter().find(|r| &r.key == sid);
                        assert_eq!(row.map_or(0, |r| r.total_tokens), *own, "{what}: {sid}");
                    }
                }
            }
        }
    }
}
