//! Every result fits in `max_bytes` (1 KiB unless the caller asks for more): an agent
//! pays for every byte it reads.
//!
//! A result that is too long is cut, and says so (`"truncated": true`): first the rows
//! of a `runs` list are dropped from the end (`"omitted": N` counts them), then the
//! longest strings (the last agent message, first of all) keep the longest prefix that
//! fits (its JSON escapes counted), with `…`, cut on a character boundary — never the
//! ones that say which run and how it stands ([`KEPT`]), whose cut value would mislead;
//! last, when even that is not enough (a small `max_bytes`), whole fields other than
//! those go, the largest first (`"dropped": N` counts them). Keys and numbers are never cut.

use serde_json::{Map, Value};

/// The default size of a result, in bytes of compact JSON.
pub const DEFAULT_MAX_BYTES: usize = 1024;
/// Fields never cut or dropped, at any depth: a run's identity and state.
const KEPT: &[&str] = &[
    "run_id",
    "status",
    "session_id",
    "truncated",
    "omitted",
    "dropped",
];

/// The smallest `max_bytes` a caller may ask for (less is raised to it): room for the
/// [`KEPT`] fields of a run.
pub const MIN_MAX_BYTES: usize = 256;
/// The largest `max_bytes` a caller may ask for.
pub const MAX_MAX_BYTES: usize = 1 << 20;

/// The limit for a call: `asked`, else [`DEFAULT_MAX_BYTES`], within
/// [`MIN_MAX_BYTES`]..=[`MAX_MAX_BYTES`].
pub fn limit(asked: Option<usize>) -> usize {
    asked
        .unwrap_or(DEFAULT_MAX_BYTES)
        .clamp(MIN_MAX_BYTES, MAX_MAX_BYTES)
}

/// The size of `v` as compact JSON.
pub fn size(v: &Map<String, Value>) -> usize {
    serde_json::to_string(v).map_or(usize::MAX, |s| s.len())
}

/// `v`, cut to at most `max` bytes of compact JSON (see the module docs).
pub fn fit(mut v: Map<String, Value>, max: usize) -> Map<String, Value> {
    if size(&v) <= max {
        return v;
    }
    v.insert("truncated".into(), Value::Bool(true));
    // rows of a list first: a shorter list of whole rows beats many cut ones
    let mut omitted = 0u64;
    while size(&v) > max {
        let Some(Value::Array(rows)) = v.get_mut("runs") else {
            break;
        };
        if rows.len() <= 1 {
            break;
        }
        rows.pop();
        omitted += 1;
        v.insert("omitted".into(), Value::from(omitted));
    }
    // then the longest strings: each keeps the longest prefix that fits
    let mut root = Value::Object(v);
    while json_len(&root) > max {
        let Some(pointer) = longest_string(&root) else {
            return drop_fields(root, max);
        };
        let Some(Value::String(s)) = root.pointer_mut(&pointer) else {
            break;
        };
        let whole = std::mem::replace(s, ELLIPSIS.to_owned());
        let room = max.saturating_sub(json_len(&root));
        if let Some(Value::String(s)) = root.pointer_mut(&pointer) {
            let keep = prefix_within(&whole, room);
            s.insert_str(0, &whole[..keep]);
        }
    }
    match root {
        Value::Object(v) => v,
        _ => Map::new(),
    }
}

/// Top-level fields other than the [`KEPT`] ones removed, the largest first, until `root`
/// fits in `max` (or only those are left); `"dropped"` counts them.
fn drop_fields(root: Value, max: usize) -> Map<String, Value> {
    let Value::Object(mut v) = root else {
        return Map::new();
    };
    let mut dropped = 0u64;
    while size(&v) > max {
        let largest = v
            .iter()
            .filter(|(k, _)| !KEPT.contains(&k.as_str()))
            .max_by_key(|(_, x)| json_len(x))
            .map(|(k, _)| k.clone());
        let Some(k) = largest else {
            break;
        };
        v.remove(&k);
        dropped += 1;
        v.insert("dropped".into(), Value::from(dropped));
    }
    v
}

const ELLIPSIS: &str = "…";

/// An error line of at most `max` bytes (cut on a character boundary, with `…`).
pub fn line(text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let mut end = max.saturating_sub(ELLIPSIS.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{ELLIPSIS}", &text[..end])
}

fn json_len(v: &Value) -> usize {
    serde_json::to_string(v).map_or(usize::MAX, |s| s.len())
}

/// The longest prefix of `s` (in bytes, on a character boundary) whose JSON-escaped
/// form takes at most `room` bytes.
fn prefix_within(s: &str, room: usize) -> usize {
    let mut used = 0;
    for (i, c) in s.char_indices() {
        let cost = match c {
            '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
            c if (c as u32) < 0x20 => 6,
            c => c.len_utf8(),
        };
        if used + cost > room {
            return i;
        }
        used += cost;
    }
    s.len()
}

/// The JSON pointer of the longest string anywhere in `v` (never a key), if one is
/// longer than the `…` that would replace it.
fn longest_string(v: &Value) -> Option<String> {
    fn walk(v: &Value, at: &mut String, best: &mut Option<(usize, String)>) {
        let len = at.len();
        match v {
            Value::String(s)
                if s.len() > ELLIPSIS.len()
                    && !kept(at)
                    && best.as_ref().is_none_or(|(n, _)| s.len() > *n) =>
            {
                *best = Some((s.len(), at.clone()));
            }
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    at.push_str(&format!("/{i}"));
                    walk(x, at, best);
                    at.truncate(len);
                }
            }
            Value::Object(o) => {
                for (k, x) in o {
                    at.push('/');
                    at.push_str(&k.replace('~', "~0").replace('/', "~1"));
                    walk(x, at, best);
                    at.truncate(len);
                }
            }
            _ => {}
        }
    }
    let mut best = None;
    walk(v, &mut String::new(), &mut best);
    best.map(|(_, p)| p)
}

/// Whether the JSON pointer `at` ends in a [`KEPT`] key.
fn kept(at: &str) -> bool {
    at.rsplit('/').next().is_some_and(|k| KEPT.contains(&k))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(o) => o,
            _ => unreachable!(),
        }
    }

    #[test]
    fn small_results_are_untouched() {
        let v = obj(json!({"run_id": "x", "status": "running"}));
        assert_eq!(fit(v.clone(), 1024), v);
    }

    #[test]
    fn a_long_message_is_cut_to_fit_and_says_so() {
        let text = "é\"\n".repeat(2000);
        let v = fit(obj(json!({"run_id": "x", "result": text})), 1024);
        assert!(size(&v) <= 1024, "{}", size(&v));
        assert!(size(&v) > 900, "cut too much: {}", size(&v));
        assert_eq!(v["truncated"], true);
        assert!(v["result"].as_str().unwrap().ends_with('…'));
        assert_eq!(v["run_id"], "x");
    }

    #[test]
    fn lists_lose_whole_rows_from_the_end() {
        let rows: Vec<Value> = (0..50)
            .map(|i| json!({"run_id": format!("run-{i}"), "status": "succeeded"}))
            .collect();
        let v = fit(obj(json!({"runs": rows})), 512);
        assert!(size(&v) <= 512);
        let kept = v["runs"].as_array().unwrap().len();
        assert!(kept > 5 && kept < 50, "{kept}");
        assert_eq!(v["omitted"], 50 - kept as u64);
        assert_eq!(v["runs"][0]["run_id"], "run-0");
    }

    #[test]
    fn a_small_limit_never_cuts_which_run_and_how_it_stands() {
        let v = obj(json!({
            "run_id": "20261201-120000-abcdef",
            "status": "succeeded",
            "session_id": "01a20a11-c891-7691-9716-0a912243e201",
            "exit_code": 0,
            "log_file": format!("/{}/codex-run-20261201-120000-abcdef.log", "d".repeat(200)),
            "meta_file": format!("/{}/codex-run-20261201-120000-abcdef.meta.json", "d".repeat(200)),
            "usage": {"input_tokens": 1000, "output_tokens": 50, "model": "gpt-5"},
            "result": "x".repeat(5000),
        }));
        let cut = fit(v, MIN_MAX_BYTES);
        assert!(size(&cut) <= MIN_MAX_BYTES, "{}: {cut:?}", size(&cut));
        assert_eq!(cut["run_id"], "20261201-120000-abcdef");
        assert_eq!(cut["status"], "succeeded");
        assert_eq!(cut["session_id"], "01a20a11-c891-7691-9716-0a912243e201");
        assert_eq!(cut["truncated"], true);
        assert!(cut["result"].as_str().unwrap().ends_with('…'));
        // numbers are never cut: too many of them, and whole fields go, said by name
        let mut many = obj(json!({"run_id": "20261201-120000-abcdef", "status": "failed"}));
        for i in 0..40 {
            many.insert(format!("field_{i}"), json!(1_234_567_890u64 + i));
        }
        let cut = fit(many, MIN_MAX_BYTES);
        assert!(size(&cut) <= MIN_MAX_BYTES, "{}: {cut:?}", size(&cut));
        assert_eq!(cut["status"], "failed");
        let dropped = cut.get("dropped").and_then(Value::as_u64).unwrap();
        assert_eq!(cut.len() as u64, 2 + 40 - dropped + 2, "{cut:?}");
        // within a list too
        let rows =
            vec![json!({"run_id": "r".repeat(40), "status": "running", "task": "t".repeat(400)})];
        let cut = fit(obj(json!({"runs": rows})), MIN_MAX_BYTES);
        assert_eq!(cut["runs"][0]["run_id"], "r".repeat(40));
        assert_eq!(cut["runs"][0]["status"], "running");
    }

    #[test]
    fn error_lines_are_capped_too() {
        assert_eq!(line("short".into(), 1024), "short");
        let long = line("é".repeat(1000), 1024);
        assert!(long.len() <= 1024 && long.ends_with('…'), "{}", long.len());
    }

    #[test]
    fn limits_are_clamped() {
        assert_eq!(limit(None), 1024);
        assert_eq!(limit(Some(1)), MIN_MAX_BYTES);
        assert_eq!(limit(Some(usize::MAX)), MAX_MAX_BYTES);
        assert_eq!(limit(Some(4096)), 4096);
    }
}
