//! The readers on logs as they are found: real transcripts, `--json` streams and rollouts
//! from other people's runs (`tests/fixtures/outside/`, each with its source in
//! SOURCES.md), and every captured CLI version's logs (`tests/fixtures/codex-<v>/`) —
//! each as it was, and as a log meets it on its way: CRLF line ends, UTF-16LE with a
//! byte-order mark (PowerShell's `>`), a UTF-8 byte-order mark, a CI timestamp before
//! every line (GitHub Actions), ESC rendered as `←` (a Windows console), pasted inside a
//! markdown code fence. Whatever the form, codex-session-id finds the same ids,
//! codex-summarize the same usage, and codex-spawn's outcome detector the same verdict.

// helpers outside #[test] fns unwrap too: a failed fixture read is a failed test
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use codex_session_id::{Mode, scan_bytes};
use codex_spawn::outcome::{Detector, Verdict};
use codex_summarize::events::{LogScan, scan_log};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The ways a log is found. `log` is false for a rollout (a file codex wrote, read as
/// is: only its line ends and a BOM may change).
fn as_found(bytes: &[u8], log: bool) -> Vec<(&'static str, Vec<u8>)> {
    let text = String::from_utf8_lossy(bytes).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    let crlf = lines.join("\r\n") + "\r\n";
    let mut out = vec![
        ("as is", bytes.to_vec()),
        ("crlf", crlf.clone().into_bytes()),
        ("utf-8 bom", [&[0xef, 0xbb, 0xbf][..], bytes].concat()),
    ];
    if !log {
        return out;
    }
    let mut utf16 = vec![0xff, 0xfe];
    for u in crlf.encode_utf16() {
        utf16.extend_from_slice(&u.to_le_bytes());
    }
    out.push(("utf-16le", utf16));
    let gha: String = lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            format!(
                "2026-04-19T14:51:{:02}.{:07}Z {l}\n",
                i % 60,
                i * 7919 % 10_000_000
            )
        })
        .collect();
    out.push(("ci timestamps", gha.into_bytes()));
    out.push((
        "windows console",
        text.replace('\x1b', "\u{2190}").into_bytes(),
    ));
    out.push((
        "markdown fence",
        format!("## Output\n\n```text\n{}\n```\n", text.trim_end()).into_bytes(),
    ));
    out
}

/// What the three readers make of a log.
#[derive(Debug, PartialEq)]
struct Reading {
    ids: Vec<String>,
    last_id: Option<String>,
    usage: UsageSeen,
    verdict: Option<Verdict>,
}

#[derive(Debug, PartialEq, Clone)]
struct UsageSeen {
    session_id: Option<String>,
    model: Option<String>,
    blended: Result<Option<u64>, String>,
    turn_input: Option<u64>,
    stream_input: Option<u64>,
}

fn usage_of(s: &LogScan) -> UsageSeen {
    UsageSeen {
        session_id: s.session_id.clone(),
        model: s.model.clone(),
        blended: s.blended.total(s.cli_version),
        turn_input: s.last_turn_usage.map(|u| u.input_tokens),
        stream_input: s.stream_usage.map(|u| u.input_tokens),
    }
}

fn reading(bytes: &[u8], log: bool) -> Reading {
    let ids = scan_bytes(bytes, Mode::All)
        .into_iter()
        .map(|i| i.uuid.to_string())
        .collect();
    let last_id = scan_bytes(bytes, Mode::Last)
        .first()
        .map(|i| i.uuid.to_string());
    let verdict = log.then(|| {
        let mut d = Detector::new();
        for c in bytes.chunks(4093) {
            d.feed(c);
        }
        d.finish()
    });
    Reading {
        ids,
        last_id,
        usage: usage_of(&scan_log(bytes)),
        verdict,
    }
}

/// Every form reads like the original.
fn same_in_every_form(name: &str, bytes: &[u8], log: bool) -> Reading {
    let want = reading(bytes, log);
    for (form, b) in as_found(bytes, log) {
        assert_eq!(reading(&b, log), want, "{name} {form}");
    }
    want
}

struct Expect {
    file: &'static str,
    ids: &'static [&'static str],
    model: Option<&'static str>,
    blended: Option<u64>,
    turn_input: Option<u64>,
    completed: Option<bool>,
}

const fn e(file: &'static str, ids: &'static [&'static str]) -> Expect {
    Expect {
        file,
        ids,
        model: None,
        blended: None,
        turn_input: None,
        completed: None,
    }
}

/// What each outside sample holds, read by hand from the sample (see SOURCES.md).
#[allow(
    clippy::too_many_lines,
    reason = "a table: one entry per outside sample"
)]
fn expectations() -> Vec<Expect> {
    vec![
        Expect {
            model: Some("gpt-5.6-terra"),
            completed: Some(false),
            ..e(
                "1-human-v0.146.0-no-research-preview-header.txt",
                &["019fb491-7335-77b1-84db-d695243acae9"],
            )
        },
        Expect {
            blended: Some(23786),
            completed: Some(true),
            ..e(
                "1-human-v0.146.0-tail-tokens-used-then-final-message.txt",
                &[],
            )
        },
        // two runs, each only its header (their answers went to files)
        Expect {
            model: Some("gpt-6-luna"),
            completed: Some(false),
            ..e(
                "1-human-v0.160.0-windows-stderr-header-only-no-user.txt",
                &[
                    "01a119ed-66dc-7523-86b3-0ea3cb508d65",
                    "01a119ed-7f8f-7e61-a6b3-b23517196047",
                ],
            )
        },
        Expect {
            blended: Some(3131),
            model: Some("gpt-5.2-codex"),
            completed: Some(true),
            ..e(
                "1-human-v0.22.0-timestamped-in-html-comment-preamble.txt",
                &[],
            )
        },
        Expect {
            blended: Some(2800),
            completed: Some(true),
            ..e("1-human-v0.29.0-timestamped-tokens-used-no-comma.txt", &[])
        },
        // from 0.34 the one-line readings are the running total: the last counts
        Expect {
            blended: Some(9540),
            completed: Some(true),
            ..e("1-human-v0.34.0-timestamped-exec-excerpt.txt", &[])
        },
        Expect {
            blended: Some(12632),
            completed: Some(true),
            ..e("1-human-v0.42.0-timestamped-tokens-used-oneline.txt", &[])
        },
        Expect {
            blended: Some(2363),
            completed: Some(true),
            ..e(
                "1-human-v0.50.0-windows-full-transcript.txt",
                &["019a3d63-d02d-7050-a4d4-44f0057f41a4"],
            )
        },
        Expect {
            turn_input: Some(6040),
            completed: Some(true),
            ..e(
                "2-json-v0.46.0-thread-events-2.jsonl",
                &["019a2d7a-6455-7170-a661-c6d8b94c630a"],
            )
        },
        Expect {
            turn_input: Some(6008),
            completed: Some(true),
            ..e(
                "2-json-v0.46.0-thread-events-3.jsonl",
                &["019a2d7a-8e1c-7111-b1a6-8cec551a55a0"],
            )
        },
        Expect {
            completed: Some(false),
            ..e(
                "2-json-v0.46.0-thread-started-only-truncated.jsonl",
                &["019a2d7b-c0ed-75a0-8908-de832785d47f"],
            )
        },
        e(
            "3-rollout-v0.105.0-session_meta-token_count-excerpt.jsonl",
            &["019d021f-1244-77d2-b5aa-ba1d70f11e87"],
        ),
        e(
            "3-rollout-v0.2x-legacy-header-excerpt.jsonl",
            &["38b123ff-933b-4dfe-bd12-d42671fcb25f"],
        ),
        e(
            "3-rollout-v0.2x-legacy-header-full.jsonl",
            &["ba5beec8-616a-4853-87c9-997bc4f96924"],
        ),
        e(
            "3-rollout-v0.34.0-session_meta-minimal.jsonl",
            &["fa1ac8bf-348e-4b9a-a06d-767050fa1e10"],
        ),
        e(
            "3-rollout-v0.36.0-session_meta-token_count-excerpt.jsonl",
            &["9cd28a74-da7e-4458-a91a-fffec2be9d7a"],
        ),
        // a sub-agent's rollout: its own id, not the root's `session_id` before it
        e(
            "3-rollout-v0.156.1-subagent-seat-excerpt.jsonl",
            &["01a0e81b-4af7-7330-a113-bad47ba77c3e"],
        ),
        Expect {
            model: Some("gpt-5.2-codex"),
            completed: Some(false),
            ..e(
                "4-gha-v0.121.0-ansi-header.txt",
                &["019da639-ff0b-7df3-996e-5d1065c3fbef"],
            )
        },
        Expect {
            blended: Some(77326),
            completed: Some(true),
            ..e("4-gha-v0.121.0-ansi-tokens-used-adjacent.txt", &[])
        },
        // stdout's copy of the final message between `tokens used` and its number
        Expect {
            blended: Some(51841),
            completed: Some(true),
            ..e("4-gha-v0.121.0-ansi-tokens-used-separated.txt", &[])
        },
        Expect {
            blended: Some(12578),
            model: Some("gpt-5.2-codex"),
            completed: Some(true),
            ..e(
                "4-mdfence-v0.80.0-forge-ledger.txt",
                &["019ba980-ac37-7a52-a18f-1d413505c045"],
            )
        },
        Expect {
            blended: Some(2709),
            completed: Some(true),
            ..e(
                "4-mdfence-v0.98.0-forge-ledger-stderr-noise.txt",
                &["019c5071-ec2a-7080-b6be-7ce5ef661d79"],
            )
        },
        Expect {
            completed: Some(false),
            ..e(
                "4-powershell-nativecommanderror-v0.133.0-header.txt",
                &["019f74cb-291f-7433-8170-78339b4b0b82"],
            )
        },
        Expect {
            blended: Some(32485),
            completed: Some(true),
            ..e("4-powershell-nativecommanderror-v0.133.0-tail.txt", &[])
        },
        Expect {
            blended: Some(10426),
            model: Some("gpt-5.4"),
            completed: Some(true),
            ..e(
                "4-windows-arrow-esc-v0.152.1-powershell.txt",
                &["01a063e8-55b8-7ad2-8ce5-ac0c56268fb7"],
            )
        },
    ]
}

#[test]
fn outside_samples_read_right_in_every_form() {
    let dir = fixtures().join("outside");
    let expect = expectations();
    // every sample in the directory is checked
    let on_disk = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name() != "SOURCES.md")
        .count();
    assert_eq!(on_disk, expect.len(), "a sample without expectations");
    for x in &expect {
        let log = !x.file.starts_with("3-");
        let got = same_in_every_form(x.file, &read(&dir.join(x.file)), log);
        assert_eq!(got.ids, x.ids, "{}", x.file);
        assert_eq!(got.last_id.as_deref(), x.ids.last().copied(), "{}", x.file);
        if !log {
            continue;
        }
        assert_eq!(
            got.usage.session_id.as_deref(),
            x.ids.first().copied(),
            "{}",
            x.file
        );
        if let Some(m) = x.model {
            assert_eq!(got.usage.model.as_deref(), Some(m), "{}", x.file);
        }
        assert_eq!(got.usage.blended, Ok(x.blended), "{}", x.file);
        assert_eq!(got.usage.turn_input, x.turn_input, "{}", x.file);
        let completed = got.verdict.as_ref().map(|v| *v == Verdict::Completed);
        assert_eq!(completed, x.completed, "{}: {:?}", x.file, got.verdict);
    }
}

#[test]
fn every_captured_versions_logs_read_alike_in_every_form() {
    let mut logs = 0;
    for dir in std::fs::read_dir(fixtures()).unwrap().flatten() {
        let name = dir.file_name().to_string_lossy().into_owned();
        if !name.starts_with("codex-") {
            continue;
        }
        for f in std::fs::read_dir(dir.path()).unwrap().flatten() {
            let p = f.path();
            if p.extension().is_some_and(|e| e == "log") {
                let got = same_in_every_form(&p.display().to_string(), &read(&p), true);
                // a successful scenario's log says so, a failing one's does not (nor
                // one that codex refused: `resume` without a task on some versions)
                let exit = std::fs::read_to_string(p.with_extension("exit")).unwrap();
                let ok = !p.file_name().unwrap().to_string_lossy().starts_with("fail")
                    && exit.trim() == "0";
                assert_eq!(
                    got.verdict == Some(Verdict::Completed),
                    ok,
                    "{}: {:?}",
                    p.display(),
                    got.verdict
                );
                logs += 1;
            }
        }
    }
    assert!(logs >= 100, "only {logs} captured logs");
}
