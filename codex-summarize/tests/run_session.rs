//! The session of a run whose output names none (codex before 0.44): which rollout of a
//! Codex home is the run's. Each rollout here is the real codex-cli 0.42.0 fixture
//! (tests/fixtures/codex-0.42.0, captured by scripts/capture-fixtures) with its id,
//! timestamps, cwd, prompt and answer replaced — the bytes codex writes, nothing else.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use codex_summarize::rollout::{RunQuery, RunSession, find_run_session, held_rollout_session};

const FIXTURE: &str = "../tests/fixtures/codex-0.42.0/codex-home/sessions/2026/12/01/rollout-2026-12-01T08-54-20-01a230cf-e5b9-78b1-967e-b699e7bd20d6.jsonl";
const FIXTURE_ID: &str = "01a230cf-e5b9-78b1-967e-b699e7bd20d6";
const FIXTURE_META_TS: &str = "2026-12-01T08:54:20.857Z";
const FIXTURE_CWD: &str = "/tmp/capture/repo";
const FIXTURE_PROMPT: &str = "say hello";
const FIXTURE_ANSWER: &str = "Done 1. decoy session id: 123e4567-e89b-12d3-a456-426614174000";

fn ms_to_ts(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn ts_to_ms(ts: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(ts)
        .unwrap()
        .timestamp_millis()
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// One fake rollout.
struct Fake<'a> {
    id: &'a str,
    /// `session_meta.payload.timestamp` (epoch ms): when the session began.
    began_ms: i64,
    cwd: &'a str,
    prompt: &'a str,
    answer: &'a str,
}

/// The fixture's lines from `from` on, for `f`: every line's timestamp moved by `shift`
/// ms, the id, cwd, prompt and answer replaced.
fn lines(f: &Fake<'_>, shift: i64, from: usize) -> String {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURE)).unwrap();
    let mut out = String::new();
    for line in text.lines().skip(from) {
        let line = match line.strip_prefix("{\"timestamp\":\"") {
            Some(rest) => {
                let t = ms_to_ts(ts_to_ms(&rest[..24]) + shift);
                format!("{{\"timestamp\":\"{t}{}", &rest[24..])
            }
            None => line.to_owned(),
        };
        let line = line
            .replace(FIXTURE_META_TS, &ms_to_ts(f.began_ms))
            .replace(FIXTURE_ID, f.id)
            .replace(FIXTURE_CWD, f.cwd)
            .replace(FIXTURE_ANSWER, f.answer)
            .replace(
                &format!("\"{FIXTURE_PROMPT}\""),
                &format!("\"{}\"", f.prompt),
            );
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// Writes `f` under `home` as codex 0.42.0 does: its file named after the second the
/// session began (`sessions/YYYY/MM/DD/rollout-YYYY-MM-DDTHH-MM-SS-<id>.jsonl`).
fn write(home: &Path, f: &Fake<'_>) -> PathBuf {
    let began = chrono::DateTime::from_timestamp_millis(f.began_ms).unwrap();
    let dir = home
        .join("sessions")
        .join(began.format("%Y/%m/%d").to_string());
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!(
        "rollout-{}-{}.jsonl",
        began.format("%Y-%m-%dT%H-%M-%S"),
        f.id
    ));
    let shift = f.began_ms - ts_to_ms(FIXTURE_META_TS);
    std::fs::write(&path, lines(f, shift, 0)).unwrap();
    path
}

/// Appends a turn at `at_ms` (the fixture's lines after its environment context): what
/// `resume` adds to the session's rollout.
fn append_turn(path: &Path, f: &Fake<'_>, at_ms: i64) {
    use std::io::Write;
    let shift = at_ms - ts_to_ms(FIXTURE_META_TS);
    let mut file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    file.write_all(lines(f, shift, 2).as_bytes()).unwrap();
}

const CWD: &str = "/work/repo";
const TASK: &str = "fix the tests";
const IDS: [&str; 4] = [
    "01a2503a-0001-7000-8000-00000000000a",
    "01a2503a-0002-7000-8000-00000000000b",
    "01a2503a-0003-7000-8000-00000000000c",
    "01a2503a-0004-7000-8000-00000000000d",
];

fn fake(id: &'static str, began_ms: i64, answer: &'static str) -> Fake<'static> {
    Fake {
        id,
        began_ms,
        cwd: CWD,
        prompt: TASK,
        answer,
    }
}

fn query(home: &Path, since_ms: i64, transcript: Option<&[u8]>) -> RunSession {
    find_run_session(&RunQuery {
        codex_home: home,
        cwd: Path::new(CWD),
        since_ms,
        prompt: TASK,
        resumed: false,
        transcript,
        open_elsewhere: None,
    })
}

/// A 0.42 human log of an attempt that printed `answer`.
fn human_log(answer: &str) -> Vec<u8> {
    format!(
        "codex-spawn preamble\n[2026-12-07T05:49:30] User instructions:\n{TASK}\n[2026-12-07T05:49:31] codex\n{answer}\n[2026-12-07T05:49:31] tokens used: 850\n"
    )
    .into_bytes()
}

/// The case: the first run's rollout began 268 ms before the second run's attempt
/// (both in one second, so its file name and mtime fall in the attempt's window): it is
/// not the second run's, and the second run's own is, once written.
#[test]
fn a_rollout_that_began_before_the_attempt_is_not_its() {
    let home = tempfile::tempdir().unwrap();
    let attempt = now_ms();
    write(home.path(), &fake(IDS[0], attempt - 268, "Done 1."));
    assert_eq!(query(home.path(), attempt, None), RunSession::NotFound);
    write(home.path(), &fake(IDS[1], attempt + 40, "Done 2."));
    assert_eq!(
        query(home.path(), attempt, Some(&human_log("Done 2."))),
        RunSession::Found(IDS[1].into())
    );
}

/// Three runs of one task back to back, each attempt starting as the last one ended:
/// each gets its own session.
#[test]
fn back_to_back_runs_of_one_task_each_get_their_own() {
    let home = tempfile::tempdir().unwrap();
    let t0 = now_ms() - 3_000;
    let answers = ["Done 1.", "Done 2.", "Done 3."];
    for (n, answer) in answers.iter().enumerate() {
        let attempt = t0 + 700 * n as i64;
        write(home.path(), &fake(IDS[n], attempt + 90, answer));
        let log = human_log(answer);
        let want = RunSession::Found(IDS[n].into());
        assert_eq!(query(home.path(), attempt, Some(&log)), want, "run {n}");
    }
    // looked at again after all three ended, each attempt still finds only its own
    for (n, answer) in answers.iter().enumerate() {
        let got = query(home.path(), t0 + 700 * n as i64, Some(&human_log(answer)));
        assert_eq!(got, RunSession::Found(IDS[n].into()), "run {n}, later");
    }
}

/// Two runs of one task at once: both rollouts began inside the earlier attempt, so the
/// rules alone cannot tell them apart — no id; the answers each printed can.
#[test]
fn parallel_runs_of_one_task_take_none_unless_the_transcript_tells() {
    let home = tempfile::tempdir().unwrap();
    let attempt = now_ms() - 1_000;
    write(home.path(), &fake(IDS[0], attempt + 300, "Done 2."));
    write(home.path(), &fake(IDS[1], attempt + 200, "Done 1."));
    let got = query(home.path(), attempt, None);
    assert!(
        matches!(&got, RunSession::Several(ids) if ids.len() == 2),
        "{got:?}"
    );
    let reason = got.reason().unwrap_or_default();
    assert!(
        reason.starts_with("2 rollouts in CODEX_HOME match this run"),
        "{reason}"
    );
    assert_eq!(got.id(), None);
    let mine = query(home.path(), attempt, Some(&human_log("Done 1.")));
    assert_eq!(mine, RunSession::Found(IDS[1].into()));
    // the same answer in both: nothing tells them apart
    write(home.path(), &fake(IDS[2], attempt + 250, "Done 1."));
    let same = query(home.path(), attempt, Some(&human_log("Done 1.")));
    assert!(
        matches!(&same, RunSession::Several(ids) if ids.len() == 2),
        "{same:?}"
    );
}

/// A codex that wrote no rollout (it failed first) while a neighbour with the same task
/// did: the neighbour's answers are not in this run's transcript.
#[test]
fn a_neighbours_rollout_alone_is_not_taken() {
    let home = tempfile::tempdir().unwrap();
    let attempt = now_ms() - 1_000;
    write(home.path(), &fake(IDS[0], attempt + 300, "Done 7."));
    let log = b"codex-spawn preamble\nError: config.toml is invalid\n";
    assert_eq!(query(home.path(), attempt, Some(log)), RunSession::NotFound);
}

/// The same while the neighbour's session is still going and holds no answer yet (the
/// race of two runs of one task side by side): the transcript cannot tell, so the
/// rollout is another's when a live process outside the run writes it — and, where the
/// platform cannot tell, a rollout with no answer to check is not taken at all.
#[test]
fn a_neighbours_rollout_with_no_answer_yet_is_not_taken() {
    let home = tempfile::tempdir().unwrap();
    let attempt = now_ms() - 1_000;
    let path = write(home.path(), &fake(IDS[0], attempt + 300, "Done 7."));
    // what codex 0.42.0 has written before the model answers: its first five lines
    let text = std::fs::read_to_string(&path).unwrap();
    let asked: String = text.lines().take(5).map(|l| format!("{l}\n")).collect();
    assert!(asked.contains("user_message") && !asked.contains("agent_message"));
    std::fs::write(&path, asked).unwrap();
    let log: &[u8] = b"codex-spawn preamble\nError: Model provider `nope` not found\n";
    let with = |open_elsewhere: Option<&dyn Fn(&Path) -> bool>| {
        find_run_session(&RunQuery {
            codex_home: home.path(),
            cwd: Path::new(CWD),
            since_ms: attempt,
            prompt: TASK,
            resumed: false,
            transcript: Some(log),
            open_elsewhere,
        })
    };
    let asked_of = std::cell::RefCell::new(Vec::new());
    let written = |p: &Path| {
        asked_of.borrow_mut().push(p.to_path_buf());
        true
    };
    assert_eq!(with(Some(&written)), RunSession::NotFound);
    assert_eq!(*asked_of.borrow(), vec![path.clone()]);
    assert_eq!(with(None), RunSession::NotFound);
    // nobody else writes it: the run's own (a codex whose turn failed before an answer)
    assert_eq!(with(Some(&|_| false)), RunSession::Found(IDS[0].into()));
}

/// Another directory, or the task only as a later message (a session that began with
/// another task): not the run's.
#[test]
fn cwd_and_first_message_must_be_the_runs() {
    let home = tempfile::tempdir().unwrap();
    let attempt = now_ms() - 1_000;
    let elsewhere = Fake {
        cwd: "/work/other",
        ..fake(IDS[0], attempt + 100, "Done 1.")
    };
    write(home.path(), &elsewhere);
    let other_task = Fake {
        prompt: "write the docs",
        ..fake(IDS[1], attempt + 100, "Done 2.")
    };
    let path = write(home.path(), &other_task);
    append_turn(
        &path,
        &fake(IDS[1], attempt + 100, "Done 3."),
        attempt + 500,
    );
    assert_eq!(query(home.path(), attempt, None), RunSession::NotFound);
}

/// `resume --last`: the session began before the attempt; it is the run's by the task
/// asked since the attempt began.
#[test]
fn a_resumed_session_is_found_by_the_turn_asked_in_the_attempt() {
    let home = tempfile::tempdir().unwrap();
    let attempt = now_ms() - 1_000;
    let first = Fake {
        prompt: "write the docs",
        ..fake(IDS[0], attempt - 60_000, "Done 1.")
    };
    let path = write(home.path(), &first);
    let q = |since_ms: i64| {
        find_run_session(&RunQuery {
            codex_home: home.path(),
            cwd: Path::new(CWD),
            since_ms,
            prompt: TASK,
            resumed: true,
            transcript: Some(b"[2026-12-07T05:49:31] codex\nDone 2.\n"),
            open_elsewhere: None,
        })
    };
    let held = RunQuery {
        codex_home: home.path(),
        cwd: Path::new(CWD),
        since_ms: attempt,
        prompt: TASK,
        resumed: true,
        transcript: None,
        open_elsewhere: None,
    };
    assert_eq!(q(attempt), RunSession::NotFound);
    // (an old rollout `resume --last` only reads is not the one it continues)
    assert_eq!(held_rollout_session(&path, &held), None);
    append_turn(
        &path,
        &fake(IDS[0], attempt - 60_000, "Done 2."),
        attempt + 200,
    );
    assert_eq!(q(attempt), RunSession::Found(IDS[0].into()));
    assert_eq!(held_rollout_session(&path, &held), Some(IDS[0].into()));
    // a later attempt did not ask it
    assert_eq!(q(attempt + 1_000), RunSession::NotFound);
}

/// The file codex holds open: its first line suffices; a session begun before the
/// attempt (an old rollout codex only read) is not the attempt's.
#[test]
fn a_held_rollout_is_the_attempts_once_its_session_began_in_it() {
    let home = tempfile::tempdir().unwrap();
    let attempt = now_ms() - 1_000;
    let q = RunQuery {
        codex_home: home.path(),
        cwd: Path::new(CWD),
        since_ms: attempt,
        prompt: TASK,
        resumed: false,
        transcript: None,
        open_elsewhere: None,
    };
    let mine = write(home.path(), &fake(IDS[0], attempt + 100, "Done 1."));
    let text = std::fs::read_to_string(&mine).unwrap();
    std::fs::write(&mine, "").unwrap();
    assert_eq!(held_rollout_session(&mine, &q), None);
    let first = text.lines().next().unwrap_or_default();
    std::fs::write(&mine, format!("{first}\n")).unwrap();
    assert_eq!(held_rollout_session(&mine, &q), Some(IDS[0].into()));
    let old = write(home.path(), &fake(IDS[1], attempt - 100, "Done 2."));
    assert_eq!(held_rollout_session(&old, &q), None);
}
