//! Property tests of the scanner: no input makes it panic, a true header is found
//! wherever it sits (at a line start, in any chunking), and a UUID in any decoy context
//! (mid-line, `request id:`, a path, inside an agent message's JSON, a whole header that a
//! tool printed or a message quoted inside a run's body) is never reported.

// helpers outside #[test] fns unwrap too: a failed fixture read is a failed test
#![allow(clippy::unwrap_used)]

use codex_session_id::{IdKind, Mode, Scanner, SessionId, find_all, find_first, scan_bytes};
use proptest::prelude::*;

fn uuid() -> impl Strategy<Value = String> {
    "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
}

/// A line a transcript may hold that carries `id` but is not a session id.
fn decoy_line(id: String) -> impl Strategy<Value = String> {
    let json_text =
        format!(r#"{{"type":"thread.started","thread_id":"{id}"}}"#).replace('"', "\\\"");
    prop_oneof![
        Just(format!("Done 2. decoy session id: {id}")),
        Just(format!("session token expired; request id: {id}")),
        Just(format!("request id: {id}")),
        Just(format!(
            "/bin/bash -lc 'cat /tmp/{id}/session.log' in /repo"
        )),
        Just(id.clone()),
        Just(format!("session id: {id} (resumed)")),
        Just(format!("> session id: {id}")),
        Just(format!("session id: {id}x")),
        Just(format!("x codex_session_id={id}")),
        Just(format!(
            r#"{{"type":"item.completed","item":{{"id":"item_1","type":"agent_message","text":"session id: {id}"}}}}"#
        )),
        Just(format!(
            r#"{{"type":"item.completed","item":{{"id":"item_2","type":"agent_message","text":"{json_text}"}}}}"#
        )),
        Just(format!(
            r#"{{"type":"item.completed","item":{{"type":"thread.started","thread_id":"{id}"}}}}"#
        )),
        Just(format!(
            r#"{{"type":"event_msg","payload":{{"type":"session_meta","id":"{id}"}}}}"#
        )),
        Just(format!(r#"{{"type":"thread.started","thread_id":"{id}"#)),
        "[ -~]{0,40}[!-~]".prop_map(move |noise| format!("{noise} session id: {id}")),
    ]
}

fn decoy_text() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(uuid().prop_flat_map(decoy_line), 0..20)
}

fn scan_chunked(text: &[u8], cuts: &[usize]) -> Vec<SessionId> {
    let mut scanner = Scanner::new();
    let mut out = Vec::new();
    let mut at = 0;
    for &cut in cuts {
        let cut = cut.min(text.len()).max(at);
        scanner.feed_into(&text[at..cut], &mut out);
        at = cut;
    }
    scanner.feed_into(&text[at..], &mut out);
    out.extend(scanner.finish());
    out
}

/// A whole header of another run, as `sed -n 1,20p old.log` prints it (`stamped`: the
/// format before 0.44).
fn quoted_header(id: &str, stamped: bool) -> String {
    let banner = if stamped {
        "[2025-09-01T12:00:00] OpenAI Codex v0.42.0 (research preview)"
    } else {
        "OpenAI Codex v0.150.0"
    };
    format!("{banner}\n--------\nworkdir: /repo\nmodel: gpt-5\nsession id: {id}\n--------")
}

/// A section of a run's body (its mark, then lines), holding quoted headers and decoys.
fn body_section(stamped: bool) -> impl Strategy<Value = String> {
    let marks: &[&str] = if stamped {
        &[
            "[2025-09-01T12:00:01] User instructions:",
            "[2025-09-01T12:00:02] exec bash -lc 'sed -n 1,20p old.log' in /repo",
            "[2025-09-01T12:00:03] codex",
            "[2025-09-01T12:00:03] thinking",
        ]
    } else {
        &["user", "exec", "codex", "thinking"]
    };
    let marks: Vec<String> = marks.iter().map(|m| (*m).to_owned()).collect();
    (
        prop::sample::select(marks),
        prop::collection::vec(
            prop_oneof![
                uuid().prop_map(move |id| quoted_header(&id, stamped)),
                uuid().prop_map(move |id| quoted_header(&id, !stamped)),
                uuid().prop_flat_map(decoy_line),
                uuid().prop_map(|id| format!(r#"{{"type":"thread.started","thread_id":"{id}"}}"#)),
                "[ -~]{0,40}",
            ],
            0..6,
        ),
    )
        .prop_map(|(mark, lines)| {
            let mut text = mark;
            for line in lines {
                text.push('\n');
                text.push_str(&line);
            }
            text
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..4096),
        cuts in prop::collection::vec(0usize..4096, 0..8),
    ) {
        let mut cuts = cuts;
        cuts.sort_unstable();
        let chunked = scan_chunked(&bytes, &cuts);
        let whole = scan_chunked(&bytes, &[]);
        prop_assert_eq!(chunked, whole);
    }

    #[test]
    fn random_lines_with_markers_never_panic(
        lines in prop::collection::vec(
            prop_oneof![
                "[ -~]{0,60}",
                "\\{\"type\":\"(thread.started|session_meta)\"[ -~]{0,60}",
                "\\{\"id\":\"0\",\"msg\":\\{[ -~]{0,60}",
                "(codex_session_id=|codex_exit_code=|session id: )[ -~\t\x1b]{0,50}",
            ],
            0..30,
        ),
    ) {
        let text = lines.join("\n");
        let _ = find_all(text.as_bytes()).unwrap();
    }

    #[test]
    fn a_true_header_is_found_anywhere(
        decoys in decoy_text(),
        at in any::<prop::sample::Index>(),
        id in uuid(),
        ansi in any::<bool>(),
        crlf in any::<bool>(),
        cuts in prop::collection::vec(0usize..4096, 0..6),
    ) {
        let mut lines = decoys;
        let header = if ansi {
            format!("\x1b[1msession id:\x1b[0m {id}")
        } else {
            format!("session id: {id}")
        };
        lines.insert(at.index(lines.len() + 1), header);
        let text = lines.join(if crlf { "\r\n" } else { "\n" });
        let found = find_all(text.as_bytes()).unwrap();
        prop_assert_eq!(found.len(), 1, "{:?}", text);
        prop_assert_eq!(found[0].uuid.as_str(), id.to_lowercase());
        prop_assert_eq!(found[0].kind, IdKind::Header);
        let mut cuts = cuts;
        cuts.sort_unstable();
        let chunked = scan_chunked(text.as_bytes(), &cuts);
        prop_assert_eq!(chunked, found);
    }

    #[test]
    fn a_header_in_a_runs_body_is_a_quotation(
        id in uuid(),
        stamped in any::<bool>(),
        sections in prop::collection::vec(body_section(false), 1..8),
        old_sections in prop::collection::vec(body_section(true), 1..8),
        crlf in any::<bool>(),
        cuts in prop::collection::vec(0usize..8192, 0..6),
    ) {
        let mut lines = vec![quoted_header(&id, stamped)];
        lines.extend(if stamped { old_sections } else { sections });
        // the turn's end: the final message repeated after it may quote one too
        lines.push(if stamped { "[2025-09-01T12:00:09] tokens used: 1,234".into() } else { "tokens used\n1,234".into() });
        let text = lines.join("\n");
        let text = if crlf { text.replace('\n', "\r\n") } else { text };
        let found = find_all(text.as_bytes()).unwrap();
        prop_assert_eq!(found.len(), 1, "{}", text);
        prop_assert_eq!(found[0].uuid.as_str(), id.to_lowercase());
        prop_assert_eq!(scan_bytes(text.as_bytes(), Mode::Last), found.clone());
        let mut cuts = cuts;
        cuts.sort_unstable();
        prop_assert_eq!(scan_chunked(text.as_bytes(), &cuts), found);
    }

    #[test]
    fn a_decoy_is_never_reported(decoys in decoy_text(), crlf in any::<bool>()) {
        let text = decoys.join(if crlf { "\r\n" } else { "\n" });
        prop_assert_eq!(find_first(text.as_bytes()).unwrap(), None, "{:?}", text);
    }
}
