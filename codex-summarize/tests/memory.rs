//! Memory stays flat whatever the input's size: a run whose codex printed
//! hundreds of MiB is summarised in a few MiB (codex-spawn calls the summary at
//! the end of every run), a Codex home's report does not grow with its number
//! of model calls, and the `-o` last message is read only up to its bound.

mod common;

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use codex_summarize::{Pricing, Usage};
use common::{Call, Lines};
use serde_json::{Value, json};
use tempfile::TempDir;

/// The bound the 300 MiB log must be summarised under.
const MAX_PEAK_RSS_KIB: u64 = 32 * 1024;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/codex-0.169.0")
}

fn cmd(tmp: &TempDir) -> Command {
    let mut c = Command::cargo_bin("codex-summarize").expect("binary");
    c.env_clear()
        .env("HOME", tmp.path())
        .current_dir(tmp.path());
    c
}

/// `new-json.log` with `filler_mib` MiB of agent output between its head (up to
/// and including `turn.started`) and its tail (the last agent message and
/// `turn.completed`), written in chunks. Besides ordinary `agent_message`
/// events the filler has a few lines longer than the scanner keeps, and lines
/// that mention `turn.completed` inside agent text.
fn big_json_log(path: &Path, filler_mib: usize) {
    let fixture = std::fs::read_to_string(fixtures().join("new-json.log")).expect("fixture");
    let split = fixture.find("{\"type\":\"item.completed\",\"item\":{\"id\":\"item_1\"");
    let (head, tail) = fixture.split_at(split.expect("fixture has item_1"));
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).expect("create"));
    w.write_all(head.as_bytes()).expect("write");
    let mut chunk = String::new();
    for i in 0..1000 {
        chunk.push_str(&format!(
            "{{\"type\":\"item.completed\",\"item\":{{\"id\":\"item_f{i}\",\"type\":\"agent_message\",\"text\":\"step {i}: the turn.completed event carries usage; lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua\"}}}}\n"
        ));
    }
    let long_line = format!(
        "{{\"type\":\"item.completed\",\"item\":{{\"id\":\"item_long\",\"type\":\"agent_message\",\"text\":\"{}\"}}}}\n",
        "x".repeat(3 << 20)
    );
    let target = filler_mib << 20;
    let mut written = 0;
    let mut n = 0usize;
    while written < target {
        let part = if n % 40 == 39 { &long_line } else { &chunk };
        w.write_all(part.as_bytes()).expect("write");
        written += part.len();
        n += 1;
    }
    w.write_all(tail.as_bytes()).expect("write");
    w.flush().expect("flush");
}

fn peak_rss_kib(stderr: &[u8]) -> u64 {
    let text = String::from_utf8_lossy(stderr);
    text.lines()
        .find_map(|l| l.strip_prefix("codex-summarize: debug: VmHWM "))
        .and_then(|v| v.trim_end_matches(" kB").parse().ok())
        .unwrap_or_else(|| panic!("no VmHWM line in stderr: {text}"))
}

#[test]
fn a_300_mib_log_is_summarised_in_flat_memory() {
    let tmp = TempDir::new().expect("tmp");
    let log = tmp.path().join("codex-run-big.log");
    big_json_log(&log, 300);
    assert!(std::fs::metadata(&log).expect("stat").len() >= 300 << 20);
    let out = cmd(&tmp)
        .arg("--log")
        .arg(&log)
        .arg("--debug-rss")
        .assert()
        .success()
        .get_output()
        .clone();
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let t = &v["token_usage"];
    assert_eq!(t["source"], "events", "{v:#}");
    assert_eq!(t["input_tokens"], 6000, "{v:#}");
    assert_eq!(t["cached_input_tokens"], 1200);
    assert_eq!(t["output_tokens"], 300);
    assert_eq!(t["reasoning_output_tokens"], 60);
    assert_eq!(t["total_tokens"], 6300);
    assert_eq!(v["session_id"], "01a20a11-d106-7b71-94cf-bcd84bc18137");
    if cfg!(target_os = "linux") {
        let kib = peak_rss_kib(&out.stderr);
        assert!(
            kib < MAX_PEAK_RSS_KIB,
            "peak RSS {kib} KiB summarising a 300 MiB log (bound {MAX_PEAK_RSS_KIB} KiB)"
        );
    }
}

/// What a generated home holds, computed as it is written.
#[derive(Debug, Default, PartialEq)]
struct Expected {
    usage: Usage,
    cost: f64,
}

/// `sessions` rollouts of `calls` calls each (two models, calls 20 s apart).
fn generate_home(home: &Path, sessions: u64, calls: u64) -> Expected {
    let lines = Lines::load();
    let prices = Pricing::builtin();
    let mut want = Expected::default();
    for s in 0..sessions {
        let start = 1_790_000_000_000 + s as i64 * 3_600_000;
        let sid = common::session_id(start, s);
        let model = if s % 2 == 0 { "gpt-5" } else { "gpt-5-codex" };
        let price = prices.resolve(model).expect("priced").price;
        let list = (0..calls).map(|i| {
            let k = s * calls + i;
            let c = Call {
                ts_ms: start + 1_000 + i as i64 * 20_000,
                model,
                input: 2_000 + k * 7_919 % 50_000,
                cached: k * 104_729 % 2_000,
                output: 50 + k * 613 % 3_000,
                reasoning: k * 31 % 50,
            };
            let u = Usage::new(c.input, c.cached, c.output, c.reasoning);
            want.usage.add(&u);
            want.cost += price.cost(&u);
            c
        });
        let path = common::rollout_path(home, start, &sid);
        lines.write_rollout(&path, &sid, None, start, list);
    }
    want
}

/// Reports on a generated home: (JSON, peak RSS in KiB or 0 off Linux).
fn home_report(tmp: &TempDir, home: &Path) -> (Value, u64) {
    let out = cmd(tmp)
        .arg("--codex-home")
        .arg(home)
        .arg("--debug-rss")
        .assert()
        .success()
        .get_output()
        .clone();
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let kib = if cfg!(target_os = "linux") {
        peak_rss_kib(&out.stderr)
    } else {
        0
    };
    (v, kib)
}

fn assert_totals(v: &Value, want: &Expected, sessions: u64) {
    let t = &v["totals"];
    assert_eq!(v["rows"].as_array().map(Vec::len), Some(sessions as usize));
    assert_eq!(t["input_tokens"], want.usage.input_tokens, "{t}");
    assert_eq!(t["cached_input_tokens"], want.usage.cached_input_tokens);
    assert_eq!(t["output_tokens"], want.usage.output_tokens);
    assert_eq!(
        t["reasoning_output_tokens"],
        want.usage.reasoning_output_tokens
    );
    assert_eq!(t["total_tokens"], want.usage.total_tokens);
    let cost = t["cost_usd"].as_f64().expect("cost");
    assert!(
        (cost - want.cost).abs() < 1e-9 * want.cost,
        "{cost} {}",
        want.cost
    );
    assert_eq!(v["skipped_lines"], 0);
}

/// 200,000 calls need no more memory than 2,000: nothing is kept per call
/// (a call's usage record was 64 bytes: 12 MiB here, 64 MiB at a million).
/// The million-call home is in scripts/bench-summarize.
#[test]
fn a_codex_home_report_is_flat_in_the_number_of_calls() {
    const SESSIONS: u64 = 200;
    let tmp = TempDir::new().expect("tmp");
    let small = tmp.path().join("small");
    let big = tmp.path().join("big");
    let want_small = generate_home(&small, SESSIONS, 10);
    let want_big = generate_home(&big, SESSIONS, 1_000);
    let (v_small, rss_small) = home_report(&tmp, &small);
    let (v_big, rss_big) = home_report(&tmp, &big);
    assert_totals(&v_small, &want_small, SESSIONS);
    assert_totals(&v_big, &want_big, SESSIONS);
    if cfg!(target_os = "linux") {
        assert!(
            rss_big < rss_small + 4 * 1024,
            "peak RSS {rss_big} KiB for 200,000 calls vs {rss_small} KiB for 2,000"
        );
        assert!(rss_big < 64 * 1024, "peak RSS {rss_big} KiB");
    }
}

#[test]
fn a_human_log_with_long_output_keeps_its_blended_total() {
    let tmp = TempDir::new().expect("tmp");
    let fixture = std::fs::read_to_string(fixtures().join("new-human.log")).expect("fixture");
    let (head, tail) = fixture.split_at(fixture.find("tokens used").expect("tokens used"));
    let log = tmp.path().join("human.log");
    let mut text = String::from(head);
    // one line longer than the scanner keeps, then ordinary lines
    text.push_str(&"y".repeat(3 << 20));
    text.push('\n');
    text.push_str(&"Done.\n".repeat(1000));
    text.push_str(tail);
    std::fs::write(&log, text).expect("write");
    let out = cmd(&tmp)
        .arg("--log")
        .arg(&log)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: Value = serde_json::from_slice(&out).expect("JSON");
    assert_eq!(v["token_usage"]["source"], "log", "{v:#}");
    assert_eq!(v["token_usage"]["total_tokens"], 1700);
    assert_eq!(v["model"], "gpt-5");
    assert_eq!(v["session_id"], "01a20a11-c891-7691-9716-0a912243e201");
}

fn run_with_last_message(tmp: &TempDir, message: &[u8]) -> Value {
    let runs = tmp.path().join("runs");
    std::fs::create_dir_all(&runs).expect("mkdir");
    let log = runs.join("codex-run-20261123-202114-eeeeee.log");
    std::fs::copy(fixtures().join("new-json.log"), &log).expect("copy");
    let msg = runs.join("codex-run-20261123-202114-eeeeee.last-message.txt");
    std::fs::write(&msg, message).expect("write");
    let meta = runs.join("codex-run-20261123-202114-eeeeee.meta.json");
    let m = json!({"run_id": "20261123-202114-eeeeee", "status": "succeeded", "mode": "new",
                   "log_file": log, "meta_file": meta, "last_message_file": msg, "exit_code": 0});
    std::fs::write(&meta, serde_json::to_vec(&m).expect("json")).expect("write");
    let out = cmd(tmp)
        .arg(&meta)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    serde_json::from_slice(&out).expect("JSON")
}

#[test]
fn a_long_last_message_is_cut_at_64_kib_on_a_char_boundary() {
    let tmp = TempDir::new().expect("tmp");
    // 3-byte characters: 64 KiB falls inside one
    let v = run_with_last_message(&tmp, "é€".repeat(60_000).as_bytes());
    let msg = v["last_message"].as_str().expect("last_message");
    assert!(
        msg.len() <= 64 * 1024 && msg.len() > 64 * 1024 - 4,
        "{}",
        msg.len()
    );
    assert!(msg.starts_with("é€é€") && msg.ends_with(['é', '€']));
    assert_eq!(v["last_message_truncated"], true);
}

#[test]
fn a_short_last_message_is_whole_and_not_flagged() {
    let tmp = TempDir::new().expect("tmp");
    let v = run_with_last_message(&tmp, b"\n  Done 6.\n\n");
    assert_eq!(v["last_message"], "Done 6.");
    assert!(v.get("last_message_truncated").is_none(), "{v:#}");
}
