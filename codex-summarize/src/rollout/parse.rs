//! The line-by-line [`Scanner`]: the records [`codex_session_id::rollout`] decodes,
//! folded into usage events, the model and the session ids.

use codex_session_id::rollout::{Record, SessionMeta, Sink, TokenInfo, UsageRecord};

use super::*;

/// Incremental state of one scan.
#[derive(Default)]
pub(super) struct Scanner {
    pub(super) scan: RolloutScan,
    pub(super) current_model: Option<u32>,
    /// Which `token_count`s are this session's own calls.
    pub(super) own: OwnCalls,
}

impl Sink for Scanner {
    fn wants_session_meta(&self) -> bool {
        self.scan.session_id.is_none()
    }

    fn record(&mut self, rec: Record<'_>) {
        match rec {
            Record::TokenCount { ts, ordinal, info } => {
                let Some(info) = info else { return };
                let ts_ms = ts.as_deref().and_then(parse_ts_ms);
                self.token_count(ts_ms, ordinal, info);
            }
            Record::UserMessage { ordinal } => self.own.user_message(ordinal),
            Record::UsageRecord(r) => self.record(&r),
            Record::TurnContext { model } => {
                let i = self.scan.intern(&model);
                self.current_model = Some(i);
                if self.scan.last_model.as_deref() != Some(&*model) {
                    self.scan.last_model = Some(model.into_owned());
                }
            }
            Record::SessionMeta(m) => self.session_meta(m),
        }
    }

    fn skipped(&mut self) {
        self.scan.skipped_lines += 1;
    }
}

impl Scanner {
    /// A `session_meta`: the session, the fork it is (see [`own`]), its CLI's counting.
    fn session_meta(&mut self, m: SessionMeta<'_>) {
        self.note_cli_version(m.cli_version);
        self.scan.session_id = m.id.map(Cow::into_owned);
        self.scan.forked_from_id = m.forked_from_id.map(Cow::into_owned);
        self.scan.cwd = m.cwd.map(Cow::into_owned);
        self.scan.session_ts_ms = m.ts.as_deref().and_then(parse_ts_ms);
        if let Some(h) = m.history {
            self.scan.history_paginated = h.paginated;
            self.own.inherited_below = h.start_ordinal;
        }
    }

    /// The session's `cli_version`: whether its CLI counts the total per process.
    fn note_cli_version(&mut self, version: Option<&str>) {
        let version =
            version.and_then(|v| v.parse::<codex_session_id::codex_version::Version>().ok());
        self.own.per_process_totals = version.is_some_and(|v| {
            !codex_session_id::codex_version::has(
                v,
                codex_session_id::codex_version::Fact::ResumeUsageIsCumulative,
            )
        });
    }

    /// A `token_count` (see [`OwnCalls::count`] for what it counts).
    fn token_count(&mut self, ts_ms: Option<i64>, ordinal: Option<u64>, info: TokenInfo<'_>) {
        let total = info.total.map(Usage::from);
        let last = info.last.map(Usage::from);
        self.apply_counts(ts_ms, ordinal, total, last, info.model.as_deref());
    }

    /// A `token_usage_record`.
    fn record(&mut self, r: &UsageRecord<'_>) {
        let own = match (r.thread_id.as_deref(), self.scan.session_id.as_deref()) {
            (Some(t), Some(me)) => t == me,
            _ => true,
        };
        let Some(usage) = r.usage.map(Usage::from) else {
            return;
        };
        let fresh = Fresh {
            usage,
            thread_total: r.thread_total.map(Usage::from),
        };
        self.own
            .record(r.ordinal, own, r.response_id.as_deref(), fresh);
    }
}
