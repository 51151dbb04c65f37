use super::*;

/// Owned records, in order, and the skipped lines.
#[derive(Default)]
struct Collect {
    want_meta: bool,
    records: Vec<String>,
    skipped: u64,
}

impl Sink for Collect {
    fn wants_session_meta(&self) -> bool {
        self.want_meta
    }
    fn record(&mut self, rec: Record<'_>) {
        if matches!(rec, Record::SessionMeta(SessionMeta { id: Some(_), .. })) {
            self.want_meta = false;
        }
        self.records.push(format!("{rec:?}"));
    }
    fn skipped(&mut self) {
        self.skipped += 1;
    }
}

fn decoded(bytes: &[u8]) -> Collect {
    let mut c = Collect {
        want_meta: true,
        ..Collect::default()
    };
    decode_bytes(bytes, &mut c);
    c
}

fn fixture_dirs() -> Vec<std::path::PathBuf> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures");
    let mut dirs = vec![root.join("codex-0.169.0/codex-home/sessions/2026/11/23")];
    for v in ["0.169.0", "0.171.0"] {
        dirs.push(root.join(format!("codex-{v}/forks/codex-home/sessions/2026/12/07")));
    }
    dirs
}

/// Every real rollout decodes to the same records whether the fast path reads its lines
/// or serde does (a leading space on every line defeats the fast path).
#[test]
fn fast_and_serde_paths_decode_the_same_records() {
    let (mut files, mut counts) = (0, 0);
    for dir in fixture_dirs() {
        for ent in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let bytes = std::fs::read(ent.path()).unwrap_or_default();
            let slow: Vec<u8> = bytes
                .split(|&b| b == b'\n')
                .flat_map(|l| [b" ".as_slice(), l, b"\n"].concat())
                .collect();
            let (fast, slow) = (decoded(&bytes), decoded(&slow));
            // serde reads a fork's history where the fast path found none: both say
            // "not a fork's", the same for a reader
            let norm = |r: &[String]| -> Vec<String> {
                r.iter()
                    .map(|s| {
                        s.replace(
                            "history: Some(History { paginated: false, start_ordinal: None })",
                            "history: None",
                        )
                    })
                    .collect()
            };
            assert_eq!(
                norm(&fast.records),
                norm(&slow.records),
                "{}",
                ent.path().display()
            );
            assert_eq!((fast.skipped, slow.skipped), (0, 0));
            counts += fast
                .records
                .iter()
                .filter(|r| r.contains("TokenCount"))
                .count();
            files += 1;
        }
    }
    assert!(
        files >= 6 && counts >= 18,
        "{files} files, {counts} token counts"
    );
}

#[test]
fn kinds_nobody_reads_are_not_decoded() {
    let item = br#"{"timestamp":"2026-11-23T20:21:09.000Z","type":"response_item","payload":{"type":"message","content":"token_count"}}"#;
    let meta = br#"{"timestamp":"2026-11-23T20:21:09.000Z","type":"session_meta","payload":{"id":"01a20a11-cee4-7090-bde8-0211b8147f80"}}"#;
    assert_eq!(wanted_compact(item, true), Some(false));
    assert_eq!(wanted_compact(meta, true), Some(true));
    assert_eq!(wanted_compact(meta, false), Some(false));
    let c = decoded(&[meta.as_slice(), b"\n", meta].concat());
    assert_eq!(c.records.len(), 1, "a second session_meta is not wanted");
    let c =
        decoded(b"not json\n{\"type\":\"turn_context\",\"payload\":{\"model\":\" gpt-5 \"}}\n{\n");
    assert_eq!(c.records, ["TurnContext { model: \"gpt-5\" }"]);
    assert_eq!(c.skipped, 2);
}

#[test]
fn history_fields_read_from_bytes() {
    let read = |s: &str| {
        fast::history(format!("{{\"id\":\"x\",{s}\"cwd\":\"/\"}}").as_bytes())
            .map(|h| (h.paginated, h.start_ordinal))
    };
    assert_eq!(read(""), Some((false, None)));
    assert_eq!(
        read(r#""history_mode":"paginated","subagent_history_start_ordinal":15,"#),
        Some((true, Some(15)))
    );
    assert_eq!(
        read(r#""history_mode":"legacy","subagent_history_start_ordinal":null,"#),
        Some((false, None))
    );
    // twice, or not a plain value: serde decides
    assert_eq!(read(r#""history_mode":"a","history_mode":"b","#), None);
    assert_eq!(read(r#""subagent_history_start_ordinal":1.5,"#), None);
    let forked = |s: &str| {
        fast::forked(format!("{{\"id\":\"x\",{s}\"cwd\":\"/\"}}").as_bytes())
            .map(|f| f.map(str::to_owned))
    };
    assert_eq!(forked(""), Some(None));
    assert_eq!(forked(r#""forked_from_id":null,"#), Some(None));
    assert_eq!(
        forked(r#""forked_from_id":null,"forked_from_id":null,"#),
        None
    );
    assert_eq!(forked(r#""forked_from_id":"nope","#), None);
    let line = br#"{"timestamp":"2026-12-07T11:33:36.928Z","ordinal":16,"type":"event_msg"}"#;
    assert_eq!(fast::ordinal(line, 39), Some(16));
    assert_eq!(fast::ordinal(line, 40), None);
}

#[test]
fn facts_of_a_session() {
    let meta = br#"{"timestamp":"2026-01-01T00:00:01Z","type":"session_meta","payload":{"id":"01A20A11-cee4-7090-bde8-0211b8147f80","timestamp":"2026-01-01T00:00:00Z","cwd":"/w"}}"#;
    assert_eq!(
        fact(meta, true),
        Some(Fact::Session {
            ts: Some("2026-01-01T00:00:01Z".into()),
            id: Some("01A20A11-cee4-7090-bde8-0211b8147f80".into()),
            began: Some("2026-01-01T00:00:00Z".into()),
            cwd: Some("/w".into()),
        })
    );
    let ctx = br#"{"type":"response_item","payload":{"type":"message","role":"user","content":[{"text":"<environment_context>x"}]}}"#;
    assert_eq!(fact(ctx, false), None);
    let said = br#"{"type":"event_msg","payload":{"type":"agent_message","message":"done"}}"#;
    assert_eq!(
        fact(said, false),
        Some(Fact::Answer {
            ts: None,
            text: "done".into(),
            item: false
        })
    );
}

/// A session's `cwd` (its project) from either path, unescaped, and never a `"cwd":"`
/// that sits inside another string.
#[test]
fn the_sessions_cwd_is_read_from_either_path() {
    let cwd_of = |line: &str| -> Vec<Option<String>> {
        let fast = decoded(line.as_bytes());
        let slow = decoded(format!(" {line}").as_bytes());
        [fast, slow]
            .iter()
            .map(|c| {
                c.records
                    .iter()
                    .find(|r| r.starts_with("SessionMeta"))
                    .and_then(|r| r.split("cwd: ").nth(1).map(str::to_owned))
            })
            .collect()
    };
    let id = "01a20a11-cee4-7090-bde8-0211b8147f80";
    let plain = format!(
        r#"{{"timestamp":"2026-11-23T20:21:09.006Z","type":"session_meta","payload":{{"id":"{id}","cwd":"/home/ana/proj","base_instructions":{{"text":"x"}}}}}}"#
    );
    assert_eq!(
        cwd_of(&plain),
        vec![Some(r#"Some("/home/ana/proj") })"#.into()); 2]
    );
    let escaped = format!(
        r#"{{"timestamp":"2026-11-23T20:21:09.006Z","type":"session_meta","payload":{{"id":"{id}","cwd":"C:\\Users\\ana \"q\"\u00e9","git":{{}}}}}}"#
    );
    assert_eq!(
        cwd_of(&escaped),
        vec![Some(r#"Some("C:\\Users\\ana \"q\"é") })"#.into()); 2]
    );
    let inside = format!(
        r#"{{"timestamp":"2026-11-23T20:21:09.006Z","type":"session_meta","payload":{{"id":"{id}","instructions":"say \"cwd\":\"/nope\""}}}}"#
    );
    assert_eq!(cwd_of(&inside), vec![Some("None })".into()); 2]);
    // every real rollout names its cwd
    for dir in fixture_dirs() {
        for ent in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let c = decoded(&std::fs::read(ent.path()).unwrap_or_default());
            let meta = c.records.iter().find(|r| r.starts_with("SessionMeta"));
            assert!(
                meta.is_some_and(|m| m.contains("cwd: Some(\"/")),
                "{}: {meta:?}",
                ent.path().display()
            );
        }
    }
}
