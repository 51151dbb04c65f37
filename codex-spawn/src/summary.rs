//! The summary written at the end of a run (`summary_file`, `--json-out`, and the
//! `summary_json=` closing line): codex-summarize's [`summarize_run`] on the final meta.
//! codex-summarize streams the log, so the end of a run with huge output costs no more
//! memory than its streaming.

use std::path::Path;

use codex_meta::Meta;
use codex_summarize::{Options, Pricing, RunSource, Summary, summarize_run};

/// Summarize the finished run (its final meta, or the meta file when the final meta
/// could not be written). Never fails: a summary that cannot be made is
/// [`Summary::Failed`], the run and why.
pub fn summarize(meta: Option<&Meta>, meta_path: &Path, runs_dir: &Path) -> Summary {
    let opts = Options {
        runs_dir: Some(runs_dir.to_path_buf()),
        pricing: Pricing::builtin(),
        ..Options::default()
    };
    let source = match meta {
        Some(m) => RunSource::Meta(m, Some(meta_path)),
        None => RunSource::MetaPath(meta_path),
    };
    match summarize_run(source, &opts) {
        Ok(s) => s.into(),
        Err(e) => Summary::Failed {
            run_id: meta.map(|m| m.run_id.clone()),
            error: e.to_string(),
        },
    }
}
