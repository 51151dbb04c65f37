//! codex-mcp over stdio, driven with raw JSON-RPC lines as any MCP host sends them: the
//! tool list, bad requests (one-line tool errors; the server goes on), the 1 KiB cap,
//! spawn through a stand-in codex-spawn (argv, stderr line, run kept), and wait /
//! cancel on a stand-in supervisor (a real process named by the meta's witness, the
//! run's lock held by the test) — progress notifications, timeout, cancellation.
//! (The real codex-spawn and Codex CLI, driven by the official Python SDK, are in
//! tests/tests/e2e_mcp.rs.)
#![allow(clippy::unwrap_used)]

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use codex_meta::{Meta, RunLock, Status, Witness};
use serde_json::{Value, json};
use tempfile::TempDir;

const BIN: &str = env!("CARGO_BIN_EXE_codex-mcp");
const LIMIT: Duration = Duration::from_secs(30);

/// One server and its world: a temp dir with a runs dir and a stand-in codex-spawn.
struct Server {
    dir: TempDir,
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    next_id: u64,
    /// Notifications read while waiting for a response.
    notes: Vec<Value>,
}

/// A stand-in codex-spawn: records its argv (NUL-separated) and CODEX_RUNS_DIR, then
/// refuses a repo named `/bad` like codex-spawn does (exit 2, one line), or prints the
/// run line of `--json` (and exits `$EXIT` when the repo is `/late`).
const FAKE_SPAWN: &str = r#"#!/bin/sh
for a in "$@"; do printf '%s\0' "$a"; done > "$HERE/spawn.argv"
printf '%s' "$CODEX_RUNS_DIR" > "$HERE/spawn.runs"
cat > "$HERE/spawn.stdin"
case "$2" in
  /bad) echo "codex-spawn: --repo /bad: no such file or directory" >&2; exit 2 ;;
  /late) echo '{"codex_run_id":"20260101-000000-abcdef","log_file":"/r/l","meta_file":"/r/m","summary_file_pending":"/r/s","session_id":null}'
         echo "codex-spawn: run 20260101-000000-abcdef: no session id within 1 s; the run goes on (/r/m)" >&2; exit 124 ;;
esac
echo '{"codex_run_id":"20260101-000000-abcdef","log_file":"/r/l","meta_file":"/r/m","summary_file_pending":"/r/s"}'
"#;

impl Server {
    fn start() -> Server {
        Server::start_with(&[])
    }

    fn start_with(args: &[&str]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("runs")).unwrap();
        let fake = dir.path().join("codex-spawn");
        fs::write(&fake, FAKE_SPAWN).unwrap();
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&fake, fs::Permissions::from_mode(0o755)).unwrap();
        let mut child = Command::new(BIN)
            .args(args)
            .arg("--codex-spawn")
            .arg(&fake)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", dir.path())
            .env("HERE", dir.path())
            .env("CODEX_RUNS_DIR", dir.path().join("runs"))
            .current_dir(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut s = Server {
            dir,
            child,
            stdin,
            lines,
            next_id: 1,
            notes: Vec::new(),
        };
        let init = s.request(
            "initialize",
            json!({"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "stdio-test", "version": "0"}}),
        );
        assert_eq!(init["result"]["serverInfo"]["name"], "codex-mcp", "{init}");
        s.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        s
    }

    fn runs(&self) -> PathBuf {
        self.dir.path().join("runs")
    }

    fn send(&mut self, v: &Value) {
        writeln!(self.stdin, "{v}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// Send a request (returns its id) without waiting for the response.
    fn send_request(&mut self, method: &str, params: Value) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        id
    }

    /// The response to request `id` (notifications on the way are kept in `notes`).
    fn response(&mut self, id: u64) -> Value {
        let deadline = Instant::now() + LIMIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no response to request {id} within {LIMIT:?}"));
            let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
            if v.get("id") == Some(&json!(id)) {
                return v;
            }
            self.notes.push(v);
        }
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.send_request(method, params);
        self.response(id)
    }

    /// `tools/call`: the result object (`result` of the response).
    fn call(&mut self, tool: &str, args: Value) -> Value {
        let r = self.request("tools/call", json!({"name": tool, "arguments": args}));
        r.get("result")
            .cloned()
            .unwrap_or_else(|| panic!("{tool}: {r}"))
    }

    /// A call that must succeed: its structured content, checked against its text.
    fn ok(&mut self, tool: &str, args: Value) -> Value {
        let r = self.call(tool, args.clone());
        assert_eq!(r["isError"], false, "{tool} {args}: {r}");
        let text = r["content"][0]["text"].as_str().unwrap();
        let parsed: Value = serde_json::from_str(text).unwrap();
        assert_eq!(
            parsed, r["structuredContent"],
            "text and structured content differ"
        );
        r["structuredContent"].clone()
    }

    /// A call that must fail: its one line.
    fn err(&mut self, tool: &str, args: Value) -> String {
        let r = self.call(tool, args.clone());
        assert_eq!(r["isError"], true, "{tool} {args}: {r}");
        let text = r["content"][0]["text"].as_str().unwrap().to_owned();
        assert!(!text.contains('\n') && !text.is_empty(), "{text:?}");
        text
    }

    /// An ended run written with codex-meta, with `summary` beside it.
    fn ended_run(&self, id: &str, status: Status, task: &str, summary: Option<Value>) {
        let mut m = Meta::new(id);
        m.status = Some(status);
        m.exit_code = Some(if status == Status::Succeeded { 0 } else { 1 });
        m.task = Some(task.to_owned());
        m.session_id = Some("0199b2c4-5d6e-7f80-9a1b-2c3d4e5f6a7b".to_owned());
        m.elapsed_seconds = Some(2.5);
        let base = self.runs().join(format!("codex-run-{id}"));
        codex_meta::write_meta(&base.with_extension("meta.json"), &m).unwrap();
        if let Some(s) = summary {
            codex_meta::write_json_atomic(&base.with_extension("summary.json"), &s).unwrap();
        }
    }

    /// A live run whose supervisor is `sup` (its witness in the meta); the lock is held
    /// while the guard lives.
    fn live_run(&self, id: &str, sup: &Child) -> RunLock {
        let log = self.runs().join(format!("codex-run-{id}.log"));
        fs::write(&log, "").unwrap();
        let w = Witness::of(sup.id()).unwrap();
        let mut m = Meta::new(id);
        m.status = Some(Status::Running);
        w.record(&mut m);
        m.host = Some(codex_meta::hostname());
        m.log_file = Some(log.display().to_string());
        let path = self.runs().join(format!("codex-run-{id}.meta.json"));
        codex_meta::write_meta(&path, &m).unwrap();
        RunLock::acquire_path(&log).unwrap()
    }

    fn spawn_argv(&self) -> Vec<String> {
        let bytes = fs::read(self.dir.path().join("spawn.argv")).unwrap();
        bytes
            .split(|&b| b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn size(v: &Value) -> usize {
    v.to_string().len()
}

#[test]
fn six_tools_each_with_an_object_schema() {
    let mut s = Server::start();
    let r = s.request("tools/list", json!({}));
    let tools = r["result"]["tools"].as_array().unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["spawn", "status", "list", "wait", "result", "cancel"]
    );
    for t in tools {
        assert_eq!(t["inputSchema"]["type"], "object", "{t}");
        assert!(t["description"].as_str().is_some_and(|d| !d.is_empty()));
    }
    assert_eq!(tools[3]["inputSchema"]["required"], json!(["run"]));
}

#[test]
fn bad_requests_are_one_line_tool_errors_and_the_server_goes_on() {
    let mut s = Server::start();
    let e = s.err("status", json!({"run": "20991231-000000-ffffff"}));
    assert!(
        e.starts_with("unknown run id '20991231-000000-ffffff'"),
        "{e}"
    );
    let e = s.err("wait", json!({"run": 5}));
    assert!(e.contains("invalid type"), "{e}");
    let e = s.err("result", json!({}));
    assert!(e.contains("missing field `run`"), "{e}");
    let e = s.err("wait", json!({"run": "x", "timeout_secs": 5}));
    assert!(e.contains("unknown field `timeout_secs`"), "{e}");
    let e = s.err("wait", json!({"run": "../etc"}));
    assert!(!e.is_empty());
    // a file that is no run of the server's is never read
    let e = s.err("result", json!({"run": "/etc/passwd"}));
    assert!(e.contains("is not a run of"), "{e}");
    // nor looked at: whether it exists is not said either
    for outside in [
        "/etc/nonexistent.meta.json",
        "/etc/hostname",
        "/nonexistent/a.launch",
    ] {
        let e = s.err("status", json!({"run": outside}));
        assert!(e.contains("is not a run of"), "{outside}: {e}");
    }
    // a bare name is a run of the runs dir, never a file of the server's working
    // directory (which holds `codex-spawn`, a file, here): one answer, there or not
    let there = s.err("status", json!({"run": "codex-spawn"}));
    let not_there = s.err("status", json!({"run": "codex-spaw0"}));
    assert_eq!(
        there.replace("codex-spawn", "X"),
        not_there.replace("codex-spaw0", "X")
    );
    let e = s.err("status", json!({}));
    assert!(e.contains("run"), "{e}");
    let e = s.err("list", json!({"status": "sleeping"}));
    assert!(e.starts_with("status:"), "{e}");
    let e = s.err("wait", json!({"run": "x", "timeout_seconds": -1}));
    assert!(e.starts_with("timeout_seconds:"), "{e}");
    let e = s.err("cancel", json!({"run": "x", "signal": "KILL"}));
    assert!(e.starts_with("signal:"), "{e}");
    // a tool that does not exist is a protocol error, as MCP says
    let r = s.request("tools/call", json!({"name": "fork", "arguments": {}}));
    assert_eq!(r["error"]["code"], -32602, "{r}");
    // and the server is still there
    let l = s.ok("list", json!({}));
    assert_eq!(l["runs"], json!([]));
}

#[test]
fn results_fit_in_1_kib_unless_the_caller_asks_for_more() {
    let mut s = Server::start();
    for i in 0..30 {
        let task = format!(
            "task {i}: {}",
            "make the flaky test deterministic ".repeat(3)
        );
        s.ended_run(
            &format!("20260101-0000{i:02}-abcdef"),
            Status::Succeeded,
            &task,
            None,
        );
    }
    let l = s.ok("list", json!({"limit": 30}));
    assert!(size(&l) <= 1024, "{}: {l}", size(&l));
    assert_eq!(l["truncated"], true);
    let shown = l["runs"].as_array().unwrap().len();
    assert_eq!(l["omitted"], json!(30 - shown));
    assert_eq!(l["runs"][0]["run_id"], "20260101-000029-abcdef");
    let all = s.ok("list", json!({"limit": 30, "max_bytes": 65536}));
    assert_eq!(all["runs"].as_array().unwrap().len(), 30);
    assert!(all.get("truncated").is_none());

    let message = format!("{}\nthe end", "Done: fixed \"the\" parser.\n".repeat(400));
    let summary = json!({
        "run_id": "20260102-000000-abcdef",
        "token_usage": {"input_tokens": 1000, "cached_input_tokens": 200, "output_tokens": 50,
                        "reasoning_output_tokens": 10, "total_tokens": 1050},
        "cost": {"usd": 0.00175},
        "last_message": message,
    });
    s.ended_run(
        "20260102-000000-abcdef",
        Status::Succeeded,
        "t",
        Some(summary),
    );
    let r = s.ok("result", json!({"run": "20260102-000000"}));
    assert!(size(&r) <= 1024, "{}: {r}", size(&r));
    assert!(size(&r) > 900, "cut too much: {r}");
    assert_eq!(r["truncated"], true);
    assert_eq!(r["status"], "succeeded");
    assert_eq!(r["exit_code"], 0);
    assert_eq!(r["session_id"], "0199b2c4-5d6e-7f80-9a1b-2c3d4e5f6a7b");
    assert_eq!(r["usage"]["output_tokens"], 50);
    assert_eq!(r["total_cost_usd"], 0.00175);
    let text = r["result"].as_str().unwrap();
    assert!(text.starts_with("Done: fixed \"the\" parser.") && text.ends_with('…'));
    let big = s.ok(
        "result",
        json!({"run": "20260102-000000", "max_bytes": 65536}),
    );
    assert_eq!(
        big["result"],
        message.as_str(),
        "the whole message when asked"
    );
    assert!(big.get("truncated").is_none());
}

#[test]
fn spawn_runs_codex_spawn_detached_and_says_its_errors_in_one_line() {
    let mut s = Server::start();
    let r = s.ok(
        "spawn",
        json!({"repo": "/src/app", "task": "fix it", "codex_args": ["-m", "gpt-5"],
               "worktree": true, "max_cost_usd": 2}),
    );
    assert_eq!(
        r,
        json!({"run_id": "20260101-000000-abcdef", "log_file": "/r/l", "meta_file": "/r/m"})
    );
    let argv = s.spawn_argv();
    let runs = s.runs().display().to_string();
    for want in [
        "--repo",
        "/src/app",
        "--task",
        "fix it",
        "--worktree",
        "--detach",
        "--json",
        "--runs-dir",
        &runs,
        "--",
        "-m",
        "gpt-5",
    ] {
        assert!(argv.iter().any(|a| a == want), "{want} not in {argv:?}");
    }
    assert_eq!(
        fs::read_to_string(s.dir.path().join("spawn.runs")).unwrap(),
        runs
    );

    let e = s.err("spawn", json!({"repo": "/bad", "task": "x"}));
    assert_eq!(e, "codex-spawn: --repo /bad: no such file or directory");

    // codex-spawn named a run, then failed to learn its session: the run is not lost
    let r = s.ok(
        "spawn",
        json!({"repo": "/late", "task": "x", "wait_for_session": true}),
    );
    assert_eq!(r["run_id"], "20260101-000000-abcdef");
    assert_eq!(r["session_id"], Value::Null);
    assert!(r["note"].as_str().unwrap().contains("no session id"), "{r}");
    assert!(s.spawn_argv().contains(&"--detach=session".to_owned()));

    // a task that is "-" reaches codex-spawn on its stdin, never as an option
    s.ok("spawn", json!({"repo": "/src/app", "task": "-"}));
    assert_eq!(
        fs::read_to_string(s.dir.path().join("spawn.stdin")).unwrap(),
        "-"
    );
}

#[test]
fn wait_sends_progress_times_out_and_cancel_signals_the_supervisor() {
    let mut s = Server::start_with(&["--progress-interval", "200ms"]);
    let mut sup = Command::new("sleep").arg("30").spawn().unwrap();
    let lock = s.live_run("20260103-000000-abcdef", &sup);
    let started = Instant::now();
    let id = s.send_request(
        "tools/call",
        json!({"name": "wait", "arguments": {"run": "20260103-000000-abcdef", "timeout_seconds": 1.5},
               "_meta": {"progressToken": "w1"}}),
    );
    let r = s.response(id)["result"]["structuredContent"].clone();
    assert!(started.elapsed() >= Duration::from_millis(1400));
    assert_eq!(r["status"], "running", "{r}");
    assert_eq!(r["timed_out"], true);
    let progress: Vec<&Value> = s
        .notes
        .iter()
        .filter(|n| n["method"] == "notifications/progress")
        .collect();
    assert!(progress.len() >= 3, "{:?}", s.notes);
    assert!(
        progress
            .iter()
            .all(|p| p["params"]["progressToken"] == "w1")
    );

    // a wait the client cancels: no answer needed, the server goes on at once
    let id = s.send_request(
        "tools/call",
        json!({"name": "wait", "arguments": {"run": "20260103-000000-abcdef"}}),
    );
    std::thread::sleep(Duration::from_millis(200));
    s.send(
        &json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
                   "params": {"requestId": id, "reason": "test"}}),
    );
    let quick = Instant::now();
    let st = s.ok("status", json!({"run": "20260103-000000-abcdef"}));
    assert_eq!(st["status"], "running");
    assert!(quick.elapsed() < Duration::from_secs(5));

    let c = s.ok("cancel", json!({"run": "20260103-000000-abcdef"}));
    assert_eq!(c["status"], "cancelling", "{c}");
    let deadline = Instant::now() + Duration::from_secs(5);
    let ended = loop {
        if let Some(st) = sup.try_wait().unwrap() {
            break st;
        }
        assert!(
            Instant::now() < deadline,
            "the supervisor was not signalled"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(ended.signal(), Some(15));
    let meta: Value = serde_json::from_slice(
        &fs::read(s.runs().join("codex-run-20260103-000000-abcdef.meta.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(meta["cancel_request"]["signal"], "SIGTERM");
    drop(lock);
    // the supervisor is gone and nobody holds the run: lost, and said so
    let st = s.ok(
        "status",
        json!({"runs": ["20260103-000000-abcdef", "nope"]}),
    );
    assert_eq!(st["runs"][0]["status"], "lost", "{st}");
    assert!(st["runs"][1]["error"].is_string());
    let c = s.ok("cancel", json!({"run": "20260103-000000-abcdef"}));
    assert_eq!(c["note"], "already ended, nothing to cancel");
}

#[test]
fn a_run_is_named_by_id_prefix_meta_path_or_launch_file() {
    let mut s = Server::start();
    s.ended_run("20260104-000000-abcdef", Status::Failed, "t", None);
    let meta = s.runs().join("codex-run-20260104-000000-abcdef.meta.json");
    let launch = s.dir.path().join("a.launch");
    let text = format!(
        "codex_run_id=20260104-000000-abcdef\nlog_file={}\nmeta_file={}\n",
        s.runs()
            .join("codex-run-20260104-000000-abcdef.log")
            .display(),
        meta.display()
    );
    fs::write(&launch, text).unwrap();
    for run in [
        "20260104-000000-abcdef".to_owned(),
        "20260104".to_owned(),
        meta.display().to_string(),
        launch.display().to_string(),
    ] {
        let st = s.ok("status", json!({ "run": run }));
        assert_eq!(st["run_id"], "20260104-000000-abcdef", "{run}: {st}");
        assert_eq!(st["status"], "failed");
    }
    // a failed run's result: no message, its status, never an error
    let r = s.ok("result", json!({"run": "20260104"}));
    assert_eq!(r["status"], "failed");
    assert_eq!(r["is_error"], true);
    assert_eq!(r["result"], Value::Null);
}
