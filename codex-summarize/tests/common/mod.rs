//! Generated Codex homes for the fleet-report tests: every line is a real
//! codex-cli 0.169.0 fixture line (`session_meta`, `turn_context`,
//! `token_count`, compact JSON as codex writes it) with its timestamp, ids,
//! model and token counts replaced. Lines are written from templates, so a
//! million calls cost little more than their bytes. A fork is either the real
//! `exec fork` shape (its captured `session_meta`: paginated history, the totals going
//! on from the parent's) or the older one that copies its parent's history
//! (`history_mode: "legacy"`, its counts from zero, replaying the parent's calls).

#![allow(dead_code)]

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;

/// The fixture rollout the lines are taken from.
pub fn fixture_rollout() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(
        "../tests/fixtures/codex-0.169.0/codex-home/sessions/2026/11/23/rollout-2026-11-23T20-21-08-01a20a11-cee4-7090-bde8-0211b8147f80.jsonl",
    )
}

/// A line cut at its variable parts.
struct Template {
    parts: Vec<String>,
}

impl Template {
    /// Splits `text` at each of `holes` (in order of appearance in `text`).
    fn new(text: &str, holes: &[&str]) -> Template {
        let mut parts = Vec::new();
        let mut rest = text;
        for h in holes {
            let i = rest
                .find(h)
                .unwrap_or_else(|| panic!("{h} not in template"));
            parts.push(rest[..i].to_owned());
            rest = &rest[i + h.len()..];
        }
        parts.push(rest.to_owned());
        Template { parts }
    }

    fn write(&self, w: &mut impl Write, values: &[&dyn std::fmt::Display]) {
        assert_eq!(values.len() + 1, self.parts.len());
        for (p, v) in self.parts.iter().zip(values) {
            write!(w, "{p}{v}").expect("write");
        }
        w.write_all(self.parts[values.len()].as_bytes())
            .expect("write");
        w.write_all(b"\n").expect("write");
    }
}

/// One model call as generated: its instant and its own tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Call {
    pub ts_ms: i64,
    pub model: &'static str,
    pub input: u64,
    pub cached: u64,
    pub output: u64,
    pub reasoning: u64,
}

/// A fork's captured rollout (codex-cli 0.169.0 `exec fork`).
pub fn fixture_fork_rollout() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(
        "../tests/fixtures/codex-0.169.0/forks/codex-home/sessions/2026/12/07/rollout-2026-12-07T11-33-35-01a25047-da61-7003-acf8-4e154ddfb9e6.jsonl",
    )
}

/// How a generated rollout's history began.
#[derive(Debug, Clone, Copy)]
pub enum Origin<'a> {
    /// A session of its own.
    New,
    /// A fork that copies its parent's history (the calls replayed are among its calls).
    Copied(&'a str),
    /// A paginated fork: names its parent, its totals going on from `base`.
    Paginated(&'a str, [u64; 4]),
}

/// The templates of the three kinds of lines a usage report reads.
pub struct Lines {
    meta: Template,
    meta_forked: Template,
    meta_paginated: Template,
    turn: Template,
    count: Template,
}

const TS: &str = "TS-HOLE";
const SID: &str = "01a20a11-0000-7000-8000-00000000d01e";
const PARENT: &str = "01a20a11-0000-7000-8000-0000000fa7e2";
const MODEL: &str = "MODEL-HOLE";

impl Lines {
    /// Reads the fixture and builds the templates.
    pub fn load() -> Lines {
        let text = std::fs::read_to_string(fixture_rollout()).expect("fixture");
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("fixture JSON"))
            .collect();
        let find = |pred: &dyn Fn(&Value) -> bool| -> Value {
            lines.iter().find(|l| pred(l)).cloned().expect("line")
        };
        let mut meta = find(&|l| l["type"] == "session_meta");
        meta["timestamp"] = TS.into();
        meta["payload"]["id"] = SID.into();
        meta["payload"]["session_id"] = SID.into();
        let meta_t = Template::new(&meta.to_string(), &[TS, SID, SID]);
        // a fork's session_meta names its parent (the field ccusage reads)
        let mut forked = meta.clone();
        let payload = forked["payload"].as_object_mut().expect("payload");
        let mut with_parent = serde_json::Map::new();
        for (k, v) in payload.iter() {
            with_parent.insert(k.clone(), v.clone());
            if k == "id" {
                with_parent.insert("forked_from_id".to_owned(), PARENT.into());
            }
        }
        *payload = with_parent;
        // what copied its parent's history: no paginated history
        forked["payload"]["history_mode"] = "legacy".into();
        let forked_t = Template::new(&forked.to_string(), &[TS, SID, SID, PARENT]);
        // a paginated fork: the captured `exec fork` session_meta
        let text = std::fs::read_to_string(fixture_fork_rollout()).expect("fork fixture");
        let mut paged: Value =
            serde_json::from_str(text.lines().next().expect("line")).expect("fork fixture JSON");
        paged["timestamp"] = TS.into();
        paged["payload"]["session_id"] = SID.into();
        paged["payload"]["id"] = SID.into();
        paged["payload"]["forked_from_id"] = PARENT.into();
        paged["payload"]["history_base"]["thread_id"] = PARENT.into();
        let paged_t = Template::new(&paged.to_string(), &[TS, SID, SID, PARENT, PARENT]);

        let mut turn = find(&|l| l["type"] == "turn_context");
        turn["timestamp"] = TS.into();
        turn["payload"]["model"] = MODEL.into();
        let turn_t = Template::new(&turn.to_string(), &[TS, MODEL]);

        let mut count = find(&|l| {
            l["type"] == "event_msg"
                && l["payload"]["type"] == "token_count"
                && l["payload"]["info"].is_object()
        });
        count["timestamp"] = TS.into();
        let holes = [
            "900000001",
            "900000002",
            "900000003",
            "900000004",
            "900000005",
            "900000011",
            "900000012",
            "900000013",
            "900000014",
            "900000015",
        ];
        let info = &mut count["payload"]["info"];
        let mut n = 0;
        for key in ["total_token_usage", "last_token_usage"] {
            for field in [
                "input_tokens",
                "cached_input_tokens",
                "output_tokens",
                "reasoning_output_tokens",
                "total_tokens",
            ] {
                info[key][field] = holes[n].parse::<u64>().expect("number").into();
                n += 1;
            }
        }
        let mut all = vec![TS];
        all.extend(holes);
        let count_t = Template::new(&count.to_string(), &all);
        Lines {
            meta: meta_t,
            meta_forked: forked_t,
            meta_paginated: paged_t,
            turn: turn_t,
            count: count_t,
        }
    }

    /// Writes one rollout: its `session_meta` (at `meta_ts_ms`, naming
    /// `forked_from` when given), then per call a `turn_context` when the model
    /// changes and a `token_count` (cumulative total and this call's usage).
    pub fn write_rollout(
        &self,
        path: &Path,
        sid: &str,
        forked_from: Option<&str>,
        meta_ts_ms: i64,
        calls: impl IntoIterator<Item = Call>,
    ) {
        let origin = forked_from.map_or(Origin::New, Origin::Copied);
        self.write_rollout_from(path, sid, origin, meta_ts_ms, calls);
    }

    /// Like [`write_rollout`](Self::write_rollout), for any [`Origin`].
    pub fn write_rollout_from(
        &self,
        path: &Path,
        sid: &str,
        origin: Origin<'_>,
        meta_ts_ms: i64,
        calls: impl IntoIterator<Item = Call>,
    ) {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        let file = std::fs::File::create(path).expect("create");
        let mut w = BufWriter::with_capacity(1 << 20, file);
        let ts = rfc3339(meta_ts_ms);
        let mut tot = [0u64; 4];
        match origin {
            Origin::Copied(p) => self.meta_forked.write(&mut w, &[&ts, &sid, &sid, &p]),
            Origin::Paginated(p, base) => {
                tot = base;
                self.meta_paginated
                    .write(&mut w, &[&ts, &sid, &sid, &p, &p]);
            }
            Origin::New => self.meta.write(&mut w, &[&ts, &sid, &sid]),
        }
        let mut model = "";
        for c in calls {
            let ts = rfc3339(c.ts_ms);
            if c.model != model {
                model = c.model;
                self.turn.write(&mut w, &[&ts, &model]);
            }
            let last = [c.input, c.cached, c.output, c.reasoning];
            for (t, l) in tot.iter_mut().zip(last) {
                *t += l;
            }
            self.count.write(
                &mut w,
                &[
                    &ts,
                    &tot[0],
                    &tot[1],
                    &tot[2],
                    &tot[3],
                    &(tot[0] + tot[2]),
                    &last[0],
                    &last[1],
                    &last[2],
                    &last[3],
                    &(last[0] + last[2]),
                ],
            );
        }
        w.flush().expect("flush");
    }
}

/// Where codex puts a session's rollout.
pub fn rollout_path(home: &Path, ts_ms: i64, sid: &str) -> PathBuf {
    let t = rfc3339(ts_ms);
    let (day, time) = (&t[..10], &t[11..19]);
    home.join("sessions")
        .join(day.replace('-', "/"))
        .join(format!(
            "rollout-{day}T{}-{sid}.jsonl",
            time.replace(':', "-")
        ))
}

/// A v7-shaped session id for generated session `n` started at `ts_ms`.
pub fn session_id(ts_ms: i64, n: u64) -> String {
    format!(
        "{:08x}-{:04x}-7{:03x}-8{:03x}-{:012x}",
        (ts_ms >> 16) & 0xffff_ffff,
        ts_ms & 0xffff,
        n >> 12 & 0xfff,
        n & 0xfff,
        n
    )
}

/// Epoch ms → `2026-11-23T20:21:09.006Z`.
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .expect("instant")
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// A small deterministic generator (tests need variety, not quality).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}
