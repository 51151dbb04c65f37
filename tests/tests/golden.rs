//! Behaviour unchanged: what the tools print and write, against snapshots.
//!
//! Why it exists: issue 22 re-cuts the tools' insides (one decoder of Codex's output, one
//! typed run record, one launch request) and promises that nothing a user or a script
//! sees changes. This suite pins what they see for a fixed set of cases — every tool's
//! `--help` (the man pages in `man/` are pinned by `tests/man.rs`), and for runs of the
//! fake codex (success in both output formats, failure, resume, timeout, verify, budget,
//! dependency, detach, bad input): codex-spawn's stdout, stderr and exit code, the meta,
//! the summary, `--json-out` and the event stream; codex-meta's and codex-summarize's
//! views of those runs; codex-session-id on their logs; codex-mcp's tool list, the argv
//! it builds for codex-spawn, and its status and result objects. The snapshots
//! (`tests/fixtures/golden/`) were taken on main before the refactor;
//! `GOLDEN_UPDATE=1 cargo test -p codex-tools-tests --test golden` rewrites them, for a
//! change meant to be seen (review the diff).
//!
//! What varies from run to run is masked before comparing, and only that: the temp dir
//! and binaries' paths, run ids (numbered in order of appearance), timestamps, pids,
//! durations, host and boot ids.
//!
//! Needs the workspace's binaries (`cargo build --workspace --bins`, which
//! `cargo test --workspace` does first).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use codex_tools_tests::tools::tool_path;
use regex::Regex;
use serde_json::{Value, json};

/// Keys whose values differ between two runs of one case.
const VOLATILE: &[&str] = &[
    "pid",
    "pid_start",
    "boot_id",
    "host",
    "elapsed_seconds",
    "queued_seconds",
    "queued_ms",
    "elapsed_ms",
    "duration_ms",
    "run_seconds",
];

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/golden")
}

/// The world of one suite: a temp dir with a repo, a runs dir and a HOME.
struct World {
    dir: tempfile::TempDir,
    /// Run ids in order of first appearance, for masking.
    ids: Vec<String>,
    /// Named artifacts, in the order they were taken.
    out: BTreeMap<String, String>,
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("repo")).unwrap();
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        World {
            dir,
            ids: Vec::new(),
            out: BTreeMap::new(),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn runs(&self) -> PathBuf {
        self.path().join("runs")
    }

    /// A tool with a scrubbed environment, in the world's dir.
    fn tool(&self, name: &str) -> Command {
        let mut c = Command::new(tool_path(name).unwrap());
        c.env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", self.path().join("home"))
            .env("CODEX_HOME", self.path().join("home/.codex"))
            .env("CODEX_RUNS_DIR", self.runs())
            .env("TZ", "UTC")
            .current_dir(self.path())
            .stdin(Stdio::null());
        c
    }

    /// codex-spawn with the fake codex replaying `scenario`.
    fn spawn(&self, scenario: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut c = self.tool("codex-spawn");
        c.env("FAKE_CODEX_SCENARIO", scenario);
        if !args.contains(&"--repo") {
            c.arg("--repo").arg("repo");
        }
        c.arg("--codex-bin")
            .arg(tool_path("fake-codex").unwrap())
            .args(args);
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    }

    /// Mask what varies; number run ids in order of appearance.
    fn mask(&mut self, text: &str) -> String {
        let mut t = text.replace(&self.path().display().to_string(), "$TMP");
        let bin_dir = tool_path("codex-spawn").unwrap();
        t = t.replace(&bin_dir.parent().unwrap().display().to_string(), "$BIN");
        let run_id = Regex::new(r"\b\d{8}-\d{6}-[0-9a-f]{6}\b").unwrap();
        for m in run_id.find_iter(&t.clone()) {
            if !self.ids.iter().any(|i| i == m.as_str()) {
                self.ids.push(m.as_str().to_owned());
            }
        }
        for (n, id) in self.ids.iter().enumerate() {
            t = t.replace(id, &format!("RUN{}", n + 1));
        }
        let stamp =
            Regex::new(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})").unwrap();
        t = stamp.replace_all(&t, "<TIME>").into_owned();
        for key in VOLATILE {
            let line = Regex::new(&format!(r"(?m)^{key}=.*$")).unwrap();
            t = line.replace_all(&t, format!("{key}=<V>")).into_owned();
        }
        t
    }

    /// Mask a JSON value: volatile keys' values (non-null) become `"<V>"`, then the text.
    fn mask_json(&mut self, v: &Value) -> String {
        let masked = mask_value(v);
        let text = serde_json::to_string_pretty(&masked).unwrap();
        self.mask(&text)
    }

    /// Mask a text whose lines may each be JSON (`key={...}` or a JSON line).
    fn mask_lines(&mut self, text: &str) -> String {
        let mut out = String::new();
        for line in text.lines() {
            let (prefix, rest) = match line.split_once('=') {
                Some((k, v)) if v.starts_with('{') && !k.contains(' ') => (format!("{k}="), v),
                _ => (String::new(), line),
            };
            let masked = match serde_json::from_str::<Value>(rest) {
                Ok(v) if v.is_object() => {
                    let m = serde_json::to_string(&mask_value(&v)).unwrap();
                    self.mask(&format!("{prefix}{m}"))
                }
                _ => self.mask(line),
            };
            out.push_str(&masked);
            out.push('\n');
        }
        out
    }

    fn put(&mut self, name: &str, text: String) {
        assert!(
            self.out.insert(name.to_owned(), text).is_none(),
            "{name} twice"
        );
    }

    /// A tool's stdout, stderr and exit code as one artifact.
    fn put_output(&mut self, name: &str, o: &Output) {
        let text = String::from_utf8_lossy(&o.stdout);
        let stdout = match serde_json::from_str::<Value>(&text) {
            // one pretty JSON document (`codex-meta show`, a summary)
            Ok(v) if text.trim_start().starts_with('{') && text.lines().count() > 1 => {
                self.mask_json(&v) + "\n"
            }
            _ => self.mask_lines(&text),
        };
        let stderr = self.mask_lines(&String::from_utf8_lossy(&o.stderr));
        let code = o.status.code().map_or("signal".into(), |c| c.to_string());
        self.put(
            name,
            format!("exit: {code}\n--- stdout\n{stdout}--- stderr\n{stderr}"),
        );
    }

    /// A JSON file a tool wrote (missing: said so).
    fn put_json_file(&mut self, name: &str, path: &Path) {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                self.put(name, format!("<unreadable: {}>\n", e.kind()));
                return;
            }
        };
        let masked = match serde_json::from_str::<Value>(&text) {
            Ok(v) => self.mask_json(&v) + "\n",
            Err(_) => self.mask_lines(&text),
        };
        self.put(name, masked);
    }

    /// The meta, summary and last-message files of the run `spawn` printed.
    fn put_run_files(&mut self, name: &str, o: &Output) {
        let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
        let Some(meta) = value_of(&stdout, "meta_file") else {
            return;
        };
        self.put_json_file(&format!("{name}.meta.json"), Path::new(&meta));
        let summary = meta.replace(".meta.json", ".summary.json");
        self.put_json_file(&format!("{name}.summary.json"), Path::new(&summary));
    }

    /// Compare every artifact with its snapshot (or write them, with GOLDEN_UPDATE=1).
    fn check(self, suite: &str) {
        let dir = golden_dir().join(suite);
        if std::env::var_os("GOLDEN_UPDATE").is_some() {
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            for (name, text) in &self.out {
                std::fs::write(dir.join(name), text).unwrap();
            }
            return;
        }
        let mut bad = String::new();
        for (name, text) in &self.out {
            let want = std::fs::read_to_string(dir.join(name)).unwrap_or_default();
            if &want != text {
                let _ = writeln!(bad, "=== {suite}/{name}: differs\n{}", diff(&want, text));
            }
        }
        let names: Vec<_> = std::fs::read_dir(&dir)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        for n in names {
            if !self.out.contains_key(&n) {
                let _ = writeln!(bad, "=== {suite}/{n}: no longer produced");
            }
        }
        assert!(bad.is_empty(), "behaviour changed:\n{bad}");
    }
}

fn mask_value(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| {
                    let masked = if VOLATILE.contains(&k.as_str()) && !x.is_null() {
                        json!("<V>")
                    } else {
                        mask_value(x)
                    };
                    (k.clone(), masked)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(mask_value).collect()),
        // a result object given as text (MCP's content) is masked as JSON too
        Value::String(s) if s.starts_with('{') => match serde_json::from_str::<Value>(s) {
            Ok(inner) => Value::String(serde_json::to_string(&mask_value(&inner)).unwrap()),
            Err(_) => v.clone(),
        },
        other => other.clone(),
    }
}

/// The lines of `want` and `got` that differ (a simple line diff, enough to see what).
fn diff(want: &str, got: &str) -> String {
    let w: Vec<&str> = want.lines().collect();
    let g: Vec<&str> = got.lines().collect();
    let mut out = String::new();
    for i in 0..w.len().max(g.len()) {
        match (w.get(i), g.get(i)) {
            (Some(a), Some(b)) if a == b => {}
            (a, b) => {
                let _ = writeln!(
                    out,
                    "  line {}:\n  - {}\n  + {}",
                    i + 1,
                    a.unwrap_or(&""),
                    b.unwrap_or(&"")
                );
            }
        }
    }
    out
}

fn value_of(text: &str, key: &str) -> Option<String> {
    text.lines()
        .rev()
        .find_map(|l| l.strip_prefix(&format!("{key}=")).map(str::to_owned))
}

fn run_id(o: &Output) -> String {
    value_of(&String::from_utf8_lossy(&o.stdout), "codex_run_id").expect("a run id")
}

#[test]
fn help_texts_are_unchanged() {
    let mut w = World::new();
    let commands = [
        ("codex-spawn", codex_spawn::cli::command()),
        ("codex-session-id", codex_session_id::cli::command()),
        ("codex-meta", codex_meta::cli::command()),
        ("codex-summarize", codex_summarize::cli::command()),
        ("codex-mcp", codex_mcp::cli::command()),
    ];
    for (tool, cmd) in commands {
        let mut calls = vec![(tool.to_owned(), vec!["--help".to_owned()])];
        calls.push((format!("{tool}.short"), vec!["-h".to_owned()]));
        for sub in cmd.get_subcommands() {
            let s = sub.get_name().to_owned();
            calls.push((format!("{tool}-{s}"), vec![s, "--help".to_owned()]));
        }
        calls.push((format!("{tool}.version"), vec!["--version".to_owned()]));
        for (name, args) in calls {
            let o = w.tool(tool).args(&args).output().unwrap();
            w.put_output(&format!("{name}.txt"), &o);
        }
    }
    w.check("help");
}

/// Runs of the fake codex through codex-spawn, and what every tool then says of them.
#[test]
fn runs_are_recorded_and_reported_as_before() {
    let mut w = World::new();
    std::fs::write(w.path().join("task.txt"), "from a file\n").unwrap();
    let ev = w.path().join("events.jsonl");
    let out = w.path().join("out.json");
    let (ev_s, out_s) = (ev.display().to_string(), out.display().to_string());

    let ok = w.spawn(
        "new-human",
        &[
            "--task",
            "hi",
            "--json-out",
            &out_s,
            "--event-stream",
            &ev_s,
        ],
        &[],
    );
    w.put_output("01-human.out", &ok);
    w.put_run_files("01-human", &ok);
    w.put_json_file("01-human.json-out", &out);
    w.put_json_file("01-human.events", &ev);
    let first = run_id(&ok);

    let json = w.spawn(
        "new-json",
        &["--task-file", "task.txt", "--", "--json"],
        &[],
    );
    w.put_output("02-json.out", &json);
    w.put_run_files("02-json", &json);

    let fail = w.spawn("fail-human", &["--task", "break"], &[]);
    w.put_output("03-fail.out", &fail);
    w.put_run_files("03-fail", &fail);
    let failed = run_id(&fail);

    let resume = w.spawn(
        "resume-json",
        &["--resume", &first, "--task", "more", "--", "--json"],
        &[],
    );
    w.put_output("04-resume.out", &resume);
    w.put_run_files("04-resume", &resume);

    let hang = w.spawn(
        "new-human",
        &["--task", "hang", "--timeout", "300ms"],
        &[("FAKE_CODEX_HANG", "1")],
    );
    w.put_output("05-timeout.out", &hang);
    w.put_run_files("05-timeout", &hang);

    let verify = w.spawn(
        "new-human",
        &["--task", "v", "--verify", "false", "--max-attempts", "2"],
        &[],
    );
    w.put_output("06-verify.out", &verify);
    w.put_run_files("06-verify", &verify);

    let budget = w.spawn("new-human", &["--task", "b", "--max-tokens", "10"], &[]);
    w.put_output("07-budget.out", &budget);
    w.put_run_files("07-budget", &budget);

    let dep = w.spawn("new-human", &["--task", "d", "--after", &failed], &[]);
    w.put_output("08-dependency.out", &dep);
    w.put_run_files("08-dependency", &dep);

    let detach = w.spawn("new-human", &["--task", "bg", "--detach"], &[]);
    w.put_output("09-detach.out", &detach);
    let bg = run_id(&detach);
    let waited = w.tool("codex-meta").args(["wait", &bg]).output().unwrap();
    w.put_output("09-detach.wait", &waited);
    w.put_run_files("09-detach", &detach);

    for (name, args) in [
        (
            "10-bad-repo",
            vec!["--task", "x", "--repo", "/nonexistent/repo"],
        ),
        ("10-bad-timeout", vec!["--task", "x", "--timeout", "soon"]),
        ("10-no-task", vec![]),
        (
            "10-task-and-file",
            vec!["--task", "x", "--task-file", "task.txt"],
        ),
    ] {
        let o = w.spawn("new-human", &args, &[]);
        w.put_output(&format!("{name}.out"), &o);
    }

    reports(&mut w, &first, &failed);
    w.check("runs");
}

/// What codex-meta, codex-summarize and codex-session-id say of the runs.
fn reports(w: &mut World, first: &str, failed: &str) {
    let log = w.runs().join(format!("codex-run-{first}.log"));
    let log_s = log.display().to_string();
    let calls: Vec<(&str, &str, Vec<&str>)> = vec![
        ("meta-show", "codex-meta", vec!["show", first]),
        ("meta-get", "codex-meta", vec!["get", first, "status"]),
        (
            "meta-get-attempts",
            "codex-meta",
            vec!["get", failed, "attempts"],
        ),
        ("meta-status", "codex-meta", vec!["status", first, failed]),
        ("meta-list-json", "codex-meta", vec!["list", "--json"]),
        (
            "meta-list-failed",
            "codex-meta",
            vec!["list", "--status", "failed", "--json"],
        ),
        ("meta-wait-failed", "codex-meta", vec!["wait", failed]),
        ("meta-bad-run", "codex-meta", vec!["show", "nosuchrun"]),
        ("summarize-run", "codex-summarize", vec![first]),
        (
            "summarize-run-json",
            "codex-summarize",
            vec!["--json", first],
        ),
        (
            "summarize-all-json",
            "codex-summarize",
            vec!["--all", "--json"],
        ),
        ("summarize-log", "codex-summarize", vec!["--log", &log_s]),
        ("session-id-log", "codex-session-id", vec![&log_s]),
        ("session-id-all", "codex-session-id", vec!["--all", &log_s]),
    ];
    for (name, tool, args) in calls {
        let o = w.tool(tool).args(&args).output().unwrap();
        if name.starts_with("meta-list") {
            // runs of one second are listed in run-id order, and ids end at random: the
            // masked lines (RUN<n> in order of creation) sorted
            let text = w.mask_lines(&String::from_utf8_lossy(&o.stdout));
            let mut lines: Vec<&str> = text.lines().collect();
            lines.sort();
            w.put(&format!("{name}.out"), lines.join("\n") + "\n");
            continue;
        }
        w.put_output(&format!("{name}.out"), &o);
    }
}

/// codex-summarize over the captured Codex homes: no run, no mask needed.
#[test]
fn codex_home_reports_are_unchanged() {
    let mut w = World::new();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    for v in ["codex-0.169.0", "codex-0.171.0"] {
        let home = fixtures.join(v).join("codex-home");
        if !home.is_dir() {
            continue;
        }
        let h = home.display().to_string();
        for (name, args) in [
            ("sessions", vec!["--codex-home", &h]),
            ("sessions-json", vec!["--codex-home", &h, "--json"]),
            ("by-day", vec!["--codex-home", &h, "--by", "day"]),
            (
                "by-model-json",
                vec!["--codex-home", &h, "--by", "model", "--json"],
            ),
        ] {
            let o = w.tool("codex-summarize").args(&args).output().unwrap();
            let masked = {
                let t = String::from_utf8_lossy(&o.stdout).replace(&h, "$HOME");
                let e = String::from_utf8_lossy(&o.stderr).replace(&h, "$HOME");
                format!(
                    "exit: {:?}\n--- stdout\n{t}--- stderr\n{e}",
                    o.status.code()
                )
            };
            w.put(&format!("{v}.{name}.out"), masked);
        }
    }
    w.check("codex-home");
}

/// codex-mcp: its tool list, the argv it gives codex-spawn, its views of real runs.
#[test]
#[allow(
    clippy::too_many_lines,
    reason = "one snapshot after another of the same runs, in the order a client asks"
)]
fn mcp_tools_and_argv_are_unchanged() {
    let mut w = World::new();
    // real runs for status/result
    let ok = w.spawn("new-json", &["--task", "hi", "--", "--json"], &[]);
    let ok_id = run_id(&ok);
    let fail = w.spawn("fail-human", &["--task", "break"], &[]);
    let fail_id = run_id(&fail);

    let stand_in = w.path().join("spawn-stand-in");
    std::fs::write(
        &stand_in,
        "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done >> \"$HERE/argv\"\necho --- >> \"$HERE/argv\"\n\
         echo '{\"codex_run_id\":\"20260101-000000-abcdef\",\"log_file\":\"/r/l\",\"meta_file\":\"/r/m\",\"summary_file_pending\":\"/r/s\"}'\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&stand_in, std::fs::Permissions::from_mode(0o755)).unwrap();

    let mut mcp = w.tool("codex-mcp");
    mcp.arg("--codex-spawn")
        .arg(&stand_in)
        .env("HERE", w.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = mcp.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut call = |id: u64, method: &str, params: Value| -> Value {
        let req = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        writeln!(stdin, "{req}").unwrap();
        stdin.flush().unwrap();
        if method == "initialize" {
            writeln!(
                stdin,
                "{}",
                json!({"jsonrpc": "2.0", "method": "notifications/initialized"})
            )
            .unwrap();
        }
        loop {
            let line = lines.next().unwrap().unwrap();
            let v: Value = serde_json::from_str(&line).unwrap();
            if v["id"] == json!(id) {
                return v;
            }
        }
    };
    let init = call(
        1,
        "initialize",
        json!({"protocolVersion": "2025-06-18", "capabilities": {},
               "clientInfo": {"name": "golden", "version": "0"}}),
    );
    let tools = call(2, "tools/list", json!({}));
    let spawns = [
        json!({"repo": "/r", "task": "t"}),
        json!({"repo": "/r", "task": "t", "resume": "last", "codex_args": ["--json", "-m", "o3"],
               "verify": "make test", "max_attempts": 3, "verify_timeout": "5m",
               "timeout": 90, "stall_timeout": "10m", "max_cost_usd": 1.5, "max_tokens": 1000,
               "max_running": 2, "queue": "q", "after": ["a", "b"], "worktree": true,
               "base": "main", "branch": "b1", "keep_worktree": true,
               "wait_for_session": true, "session_timeout": "30s"}),
        json!({"repo": "/r", "task_file": "/t.txt", "timeout": "bogus"}),
        json!({"repo": "/r", "task": "t", "max_attempts": 0}),
    ];
    let mut results = Vec::new();
    for (i, args) in spawns.iter().enumerate() {
        let id = 10 + i as u64;
        results.push(call(
            id,
            "tools/call",
            json!({"name": "spawn", "arguments": args}),
        ));
    }
    for (i, (tool, args)) in [
        ("status", json!({"run": ok_id})),
        ("status", json!({"runs": [ok_id, fail_id]})),
        ("result", json!({"run": ok_id})),
        ("result", json!({"run": fail_id})),
        ("wait", json!({"run": fail_id, "timeout_seconds": 5})),
        ("list", json!({"status": "failed"})),
        ("status", json!({"run": "nosuchrun"})),
    ]
    .into_iter()
    .enumerate()
    {
        let id = 30 + i as u64;
        results.push(call(
            id,
            "tools/call",
            json!({"name": tool, "arguments": args}),
        ));
    }

    let _ = child.kill();
    let _ = child.wait();
    let init_text = w.mask_json(&init["result"]);
    w.put("initialize.json", init_text + "\n");
    let tools_text = w.mask_json(&tools["result"]);
    w.put("tools-list.json", tools_text + "\n");
    let calls_text = w.mask_json(&Value::Array(results));
    w.put("calls.json", calls_text + "\n");
    let argv = std::fs::read_to_string(w.path().join("argv")).unwrap_or_default();
    let argv = w.mask(&argv);
    w.put("spawn-argv.txt", argv);
    w.check("mcp");
}
