//! The version matrix: codex-spawn with every Codex CLI it supports, from the oldest
//! (0.36.0, the first whose `exec` can resume) to the newest, each against the mock
//! endpoint: a new run and a resumed one (with and without a task), in human and
//! `--json` mode, the verify loop, and a failing turn. Each must end with the right
//! status, the session id, and tokens in its summary — never a success judged failed.
//!
//! The versions are `$CODEX_VERSIONS` (comma-separated; `scripts/e2e` installs them from
//! the npm registry and fails loudly when one cannot be had), else the pinned one. Each
//! test prints the matrix row by row, so a failure shows where.
//!
//! Ignored by plain `cargo test`; `scripts/e2e` runs them.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::path::PathBuf;

use codex_tools_tests::e2e::{BYPASS, E2e};
use codex_tools_tests::tools::RunLines;
use serde_json::Value;

/// The CLIs under test: (version, binary).
fn versions() -> Vec<(String, PathBuf)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let list = std::env::var("CODEX_VERSIONS").unwrap_or_else(|_| "0.169.0".to_owned());
    list.split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| {
            let out = std::process::Command::new(root.join("scripts/install-codex"))
                .env("CODEX_VERSION", v)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "cannot install codex {v}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let bin = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            (v.to_owned(), bin)
        })
        .collect()
}

fn world(bin: &std::path::Path) -> E2e {
    let mut s = E2e::new();
    s.codex = bin.to_path_buf();
    s
}

fn meta(run: &RunLines) -> Value {
    serde_json::from_str(&std::fs::read_to_string(&run.meta_file).unwrap()).unwrap()
}

fn summary(run: &RunLines) -> Value {
    let m = meta(run);
    serde_json::from_str(&std::fs::read_to_string(m["summary_file"].as_str().unwrap()).unwrap())
        .unwrap()
}

/// Run `check` for every version; print one line per version; fail with all failures.
fn matrix(scenario: &str, check: impl Fn(&str, &std::path::Path) -> Result<String, String>) {
    let mut failures = Vec::new();
    for (v, bin) in versions() {
        match check(&v, &bin) {
            Ok(note) => eprintln!("matrix {scenario:<22} {v:<8} ok   {note}"),
            Err(why) => {
                eprintln!("matrix {scenario:<22} {v:<8} FAIL {why}");
                failures.push(format!("{v}: {why}"));
            }
        }
    }
    assert!(failures.is_empty(), "{scenario}:\n{}", failures.join("\n"));
}

/// A finished run's lines, or why it did not produce them.
fn ran(s: &E2e, args: &[&str]) -> Result<(i32, RunLines), String> {
    let out = s.spawn(args);
    let run = RunLines::parse(&out.stdout).map_err(|e| format!("{e}: {out}"))?;
    Ok((out.code().unwrap_or(-1), run))
}

fn expect_success(code: i32, run: &RunLines) -> Result<(String, Value), String> {
    let m = meta(run);
    let log = std::fs::read_to_string(&run.log_file).unwrap_or_default();
    let tail: String = log.lines().rev().take(12).collect::<Vec<_>>().join(" | ");
    if code != 0 || m["status"] != "succeeded" {
        return Err(format!(
            "exit {code}, status {}, reason {}; log tail: {tail}",
            m["status"], m["outcome_reason"]
        ));
    }
    let sid = m["session_id"].as_str().unwrap_or("").to_owned();
    if sid.len() != 36 {
        return Err(format!("no session id in the meta; log tail: {tail}"));
    }
    let s = summary(run);
    if s["token_usage"]["total_tokens"].as_u64().unwrap_or(0) == 0 {
        return Err(format!("no tokens in the summary: {}", s["token_usage"]));
    }
    Ok((sid, s))
}

#[test]
#[ignore = "needs the real Codex CLI: run scripts/e2e"]
fn new_runs_in_human_and_json_mode() {
    matrix("new human+json", |_, bin| {
        let mut notes = Vec::new();
        for json in [false, true] {
            let s = world(bin);
            let mut args = vec!["--task", "say hello", "-q"];
            if json {
                args.extend(["--", "--json"]);
            }
            let (code, run) = ran(&s, &args)?;
            let (sid, sum) = expect_success(code, &run)?;
            notes.push(format!(
                "{} sid={} tokens={} source={}",
                if json { "json" } else { "human" },
                &sid[..8],
                sum["token_usage"]["total_tokens"],
                sum["token_usage"]["source"]
            ));
        }
        Ok(notes.join("; "))
    });
}

#[test]
#[ignore = "needs the real Codex CLI: run scripts/e2e"]
fn resumed_runs_with_and_without_a_task_keep_the_session() {
    matrix("resume +/- task", |_, bin| {
        let mut notes = Vec::new();
        for json in [false, true] {
            let s = world(bin);
            let mut extra: Vec<&str> = vec![];
            if json {
                extra.extend(["--", "--json"]);
            }
            let mut first = vec!["--task", "remember the word kiwi", "-q"];
            first.extend(&extra);
            let (code, run) = ran(&s, &first)?;
            let (sid, _) = expect_success(code, &run)?;
            for task in [Some("[history] what was the word?"), None] {
                let mut args = vec!["--resume", &sid, "-q"];
                if let Some(t) = task {
                    args.extend(["--task", t]);
                }
                args.extend(&extra);
                let before = s.server.requests().len() as u64;
                let (code, run) = ran(&s, &args)?;
                let (sid2, sum) = expect_success(code, &run)?;
                if sid2 != sid {
                    return Err(format!("resumed into {sid2}, not {sid}"));
                }
                // this run's own calls only: the mock serves 1,050 tokens a call
                let calls = s.server.requests().len() as u64 - before;
                if sum["token_usage"]["total_tokens"].as_u64() != Some(1050 * calls) {
                    return Err(format!(
                        "{calls} calls, yet the summary counts {}",
                        sum["token_usage"]
                    ));
                }
                // from the log alone (no rollout): the version decides whether the log's
                // running total is this run's or the session's (codex-meta's table)
                let no_home = s.dir.path().join("no-codex-home");
                std::fs::create_dir_all(&no_home).unwrap();
                let meta_file = run.meta_file.display().to_string();
                let home = no_home.display().to_string();
                let from_log = s.summarize(&[&meta_file, "--codex-home", &home]);
                let t = &from_log["token_usage"];
                // the mock's call: 1,000 input (200 cached) + 50 output; blended 850
                let want = if json { 1050 * calls } else { 850 * calls };
                if t["total_tokens"].as_u64() != Some(want) || t["source"] == "rollout" {
                    return Err(format!("{calls} calls, yet from the log alone: {t}"));
                }
                notes.push(format!(
                    "{}{} tokens={} (log alone: {})",
                    if json { "json" } else { "human" },
                    if task.is_some() { "+task" } else { "" },
                    sum["token_usage"]["total_tokens"],
                    t["total_tokens"]
                ));
            }
            let prompts: Vec<String> = s
                .server
                .requests()
                .iter()
                .flat_map(codex_tools_tests::mock::user_prompts)
                .collect();
            if !prompts.iter().any(|p| p.contains("kiwi")) {
                return Err("the resumed session lost its history".into());
            }
        }
        Ok(notes.join("; "))
    });
}

#[test]
#[ignore = "needs the real Codex CLI: run scripts/e2e"]
fn the_verify_loop_resumes_until_the_check_passes() {
    matrix("verify", |_, bin| {
        let s = world(bin);
        // the check's output carries the mock's marker into the follow-up prompt: the
        // resumed attempt runs `touch fixed`, and the check passes
        let (code, run) = ran(
            &s,
            &[
                "--task",
                "fix the widget",
                "-q",
                "--verify",
                "test -f fixed || { echo '[tool:touch fixed]'; exit 1; }",
                "--",
                BYPASS,
            ],
        )?;
        let (sid, _) = expect_success(code, &run)?;
        let m = meta(&run);
        let at = m["attempts"].as_array().cloned().unwrap_or_default();
        if at.len() != 2 || at[1]["session_id"] != sid.as_str() {
            return Err(format!("attempts: {}", Value::Array(at)));
        }
        if !s.repo.join("fixed").exists() {
            return Err("the resumed attempt did not run the tool".into());
        }
        Ok(format!("2 attempts in session {}", &sid[..8]))
    });
}

#[test]
#[ignore = "needs the real Codex CLI: run scripts/e2e"]
fn a_failing_turn_is_failed_in_both_modes() {
    matrix("failure", |_, bin| {
        let mut notes = Vec::new();
        for json in [false, true] {
            let mut s = E2e::no_retries();
            s.codex = bin.to_path_buf();
            let mut args = vec!["--task", "[fail] say hello", "-q"];
            if json {
                args.extend(["--", "--json"]);
            }
            let (code, run) = ran(&s, &args)?;
            let m = meta(&run);
            if code == 0 || m["status"] != "failed" || m["outcome_reason"].is_null() {
                return Err(format!("exit {code}, status {}", m["status"]));
            }
            notes.push(format!(
                "exit {code}: {}",
                m["outcome_reason"].as_str().unwrap_or("")
            ));
        }
        Ok(notes.join("; "))
    });
}

#[test]
#[ignore = "needs the real Codex CLI: run scripts/e2e"]
fn a_budget_stops_the_run_as_soon_as_the_cli_shows_it_passed() {
    use codex_session_id::codex_version::{Fact, has};
    matrix("budget", |v, bin| {
        let s = world(bin);
        // each call: 1,050 tokens; the first call's tool sleeps 6 s
        let task = "[tool:sleep 6; echo budget] [usage:1000,200,50,10]";
        let args = [
            "--max-tokens",
            "1000",
            "--verify",
            "false",
            "--max-attempts",
            "2",
            "--task",
            task,
            "-q",
            "--",
            BYPASS,
        ];
        let start = std::time::Instant::now();
        let (code, run) = ran(&s, &args)?;
        let took = start.elapsed();
        let m = meta(&run);
        let reason = m["outcome_reason"].as_str().unwrap_or("").to_owned();
        if code != 4 || m["status"] != "over_budget" {
            return Err(format!(
                "exit {code}, status {}, reason {reason}",
                m["status"]
            ));
        }
        // live: stopped during the tool, after 1 call; the others once the usage shows —
        // after the tool ran (1 call) or at the turn's end (2 calls), never during it
        let live = has(v.parse().unwrap(), Fact::UsageInRolloutPerCall);
        let one = reason.contains("1050 tokens used in 1 model call");
        let two = reason.contains("2100 tokens used in 2 model calls");
        let six = std::time::Duration::from_secs(6);
        let fits = if live {
            one && !reason.contains("before attempt 2") && took < six
        } else {
            (one || two) && took >= six
        };
        if !fits {
            return Err(format!("live={live} after {took:?}: {reason}"));
        }
        Ok(format!("live={live} {took:.1?} {reason}"))
    });
}
