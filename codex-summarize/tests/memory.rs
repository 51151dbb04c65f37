//! Memory stays flat whatever the input's size: a run whose codex printed
//! hundreds of MiB is summarised in a few MiB (codex-spawn calls the summary at
//! the end of every run), and the `-o` last message is read only up to its bound.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use assert_cmd::Command;
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
