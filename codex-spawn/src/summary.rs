//! The summary written at the end of a run (`summary_file`, `--json-out`, and the
//! `summary_json=` closing line): codex-summarize's [`summarize_run`] on the final meta.
//! codex-summarize streams the log, so the end of a run with huge output costs no more
//! memory than its streaming.

use std::path::Path;

use codex_meta::Meta;
use codex_summarize::{Options, Pricing, RunSource, summarize_run};
use serde_json::{Value, json};

/// Summarize the finished run (its final meta, or the meta file when the final meta
/// could not be written). Never fails: a summary that cannot be made is a JSON object
/// saying why (`{"run_id":…, "error":…}`).
pub fn summarize(meta: Option<&Meta>, meta_path: &Path, runs_dir: &Path) -> Value {
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
        Ok(s) => serde_json::to_value(&s).unwrap_or_else(|e| json!({"error": e.to_string()})),
        Err(e) => json!({
            "run_id": meta.map(|m| m.run_id.clone()),
            "error": e.to_string(),
        }),
    }
}
