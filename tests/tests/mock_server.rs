//! Fast tests of the mock Responses endpoint over plain HTTP (no codex involved):
//! the in-process `MockServer` and the `codex-mock-responses` binary.

// Helpers outside #[test] fns unwrap too: a test failing loudly is the point.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use codex_tools_tests::mock::{Action, MockServer, Scenario, Step, Usage};
use serde_json::{Value, json};

/// A response as read off the socket; `body` is de-chunked.
struct Resp {
    status: u16,
    headers: String,
    body: String,
}

impl Resp {
    /// The `data:` payloads of the SSE body.
    fn events(&self) -> Vec<Value> {
        self.body
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .map(|d| serde_json::from_str(d).unwrap())
            .collect()
    }
}

fn request_body(prompts: &[&str]) -> Value {
    let mut input = vec![json!({"type":"message","role":"user","content":[
        {"type":"input_text","text":"<environment_context>\n</environment_context>"}]})];
    for p in prompts {
        input.push(
            json!({"type":"message","role":"user","content":[{"type":"input_text","text":p}]}),
        );
    }
    json!({"model":"gpt-5","stream":true,"input":input})
}

fn send(port: u16, method: &str, path: &str, body: &Value) -> TcpStream {
    let body = body.to_string();
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s
}

/// Reads one whole response (chunked or not) from `s`.
fn read_response(s: TcpStream) -> Resp {
    let mut r = BufReader::new(s);
    let mut status_line = String::new();
    r.read_line(&mut status_line).unwrap();
    let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let mut headers = String::new();
    loop {
        let mut l = String::new();
        r.read_line(&mut l).unwrap();
        if l == "\r\n" || l.is_empty() {
            break;
        }
        headers.push_str(&l.to_ascii_lowercase());
    }
    let mut body = Vec::new();
    if headers.contains("transfer-encoding: chunked") {
        loop {
            let mut size = String::new();
            r.read_line(&mut size).unwrap();
            let n = usize::from_str_radix(size.trim(), 16).unwrap();
            let mut chunk = vec![0; n + 2];
            r.read_exact(&mut chunk).unwrap();
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else if let Some(len) = headers
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
    {
        let mut b = vec![0; len.trim().parse().unwrap()];
        r.read_exact(&mut b).unwrap();
        body = b;
    }
    Resp {
        status,
        headers,
        body: String::from_utf8(body).unwrap(),
    }
}

fn post(port: u16, prompts: &[&str]) -> Resp {
    read_response(send(port, "POST", "/v1/responses", &request_body(prompts)))
}

fn text_of(events: &[Value]) -> String {
    events[1]["item"]["content"][0]["text"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn plain_answer_streams_created_item_completed_with_usage() {
    let server = MockServer::start(Scenario::answer("hello {n}"));
    let r = post(server.port(), &["say hello"]);
    assert_eq!(r.status, 200);
    assert!(
        r.headers.contains("content-type: text/event-stream"),
        "{}",
        r.headers
    );
    assert!(
        r.body.starts_with("event: response.created\ndata: {"),
        "{}",
        r.body
    );
    let ev = r.events();
    let kinds: Vec<_> = ev.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "response.created",
            "response.output_item.done",
            "response.completed"
        ]
    );
    assert_eq!(text_of(&ev), "hello 1");
    assert_eq!(ev[1]["item"]["role"], "assistant");
    let usage = &ev[2]["response"]["usage"];
    assert_eq!(usage["input_tokens"], 1000);
    assert_eq!(usage["input_tokens_details"]["cached_tokens"], 200);
    assert_eq!(usage["output_tokens"], 50);
    assert_eq!(usage["output_tokens_details"]["reasoning_tokens"], 10);
    assert_eq!(usage["total_tokens"], 1050);
    assert_eq!(
        text_of(&post(server.port(), &["again"]).events()),
        "hello 2"
    );
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0]["input"][1]["content"][0]["text"], "say hello");
}

#[test]
fn tool_marker_calls_exec_command_then_quotes_its_output() {
    let server = MockServer::start(Scenario::default());
    let ev = post(server.port(), &["go [tool:echo hi]"]).events();
    let item = &ev[1]["item"];
    assert_eq!(item["type"], "function_call");
    assert_eq!(item["name"], "exec_command");
    let args: Value = serde_json::from_str(item["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args, json!({"cmd": "echo hi"}));
    let mut body = request_body(&["go [tool:echo hi]"]);
    let input = body["input"].as_array_mut().unwrap();
    input.push(item.clone());
    input.push(
        json!({"type":"function_call_output","call_id":item["call_id"],"output":"Output:\nhi\n"}),
    );
    let r = read_response(send(server.port(), "POST", "/v1/responses", &body));
    assert_eq!(text_of(&r.events()), "tool output: Output:\nhi\n");
}

#[test]
fn history_marker_lists_user_prompts() {
    let server = MockServer::start(Scenario::default());
    let ev = post(server.port(), &["first turn", "[history] second"]).events();
    assert_eq!(
        text_of(&ev),
        r#"history has: ["first turn","[history] second"]"#
    );
}

#[test]
fn fail500_answers_http_500_and_keeps_answer_numbering() {
    let server = MockServer::start(Scenario::default());
    let r = post(server.port(), &["[fail500]"]);
    assert_eq!(r.status, 500);
    assert!(r.body.contains("mock failure"), "{}", r.body);
    assert_eq!(post(server.port(), &["[fail]"]).status, 500);
    assert_eq!(text_of(&post(server.port(), &["x"]).events()), "Done 1.");
    assert_eq!(server.requests().len(), 3);
}

#[test]
fn turnfail_sends_response_failed_with_code() {
    let server = MockServer::start(Scenario::default());
    let ev = post(server.port(), &["[turnfail]"]).events();
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[1]["type"], "response.failed");
    assert_eq!(ev[1]["response"]["status"], "failed");
    assert_eq!(ev[1]["response"]["error"]["code"], "insufficient_quota");
    let ev = post(server.port(), &["[turnfail:server_error]"]).events();
    assert_eq!(ev[1]["response"]["error"]["code"], "server_error");
}

#[test]
fn usage_marker_sets_usage() {
    let server = MockServer::start(Scenario::default());
    let ev = post(server.port(), &["[usage:7,3,5,2]"]).events();
    let usage = &ev[2]["response"]["usage"];
    assert_eq!(
        (
            &usage["input_tokens"],
            &usage["input_tokens_details"]["cached_tokens"],
            &usage["output_tokens"],
            &usage["output_tokens_details"]["reasoning_tokens"],
        ),
        (&json!(7), &json!(3), &json!(5), &json!(2))
    );
}

#[test]
fn slow_marker_spaces_events_and_flushes_each() {
    let server = MockServer::start(Scenario::default());
    let s = send(
        server.port(),
        "POST",
        "/v1/responses",
        &request_body(&["[slow:400ms]"]),
    );
    let start = Instant::now();
    let mut r = BufReader::new(s);
    let mut seen_created = None;
    let mut line = String::new();
    while r.read_line(&mut line).unwrap() > 0 {
        if seen_created.is_none() && line.contains("response.created") {
            seen_created = Some(start.elapsed());
        }
        if line.contains("\"response.completed\"") {
            break;
        }
        line.clear();
    }
    let total = start.elapsed();
    let first = seen_created.expect("no response.created");
    assert!(
        first < Duration::from_millis(400),
        "first event after {first:?}"
    );
    assert!(
        total >= Duration::from_millis(800),
        "whole stream in {total:?}"
    );
}

#[test]
fn stall_sends_created_then_nothing_until_its_limit() {
    let server = MockServer::start(Scenario::default());
    let start = Instant::now();
    let r = post(server.port(), &["[stall:1s]"]);
    let elapsed = start.elapsed();
    let ev = r.events();
    assert_eq!(ev.len(), 1, "{}", r.body);
    assert_eq!(ev[0]["type"], "response.created");
    assert!(elapsed >= Duration::from_secs(1), "{elapsed:?}");
}

#[test]
fn stall_ends_when_the_server_is_dropped() {
    let server = MockServer::start(Scenario::default());
    let s = send(
        server.port(),
        "POST",
        "/v1/responses",
        &request_body(&["[stall]"]),
    );
    std::thread::sleep(Duration::from_millis(300));
    let start = Instant::now();
    drop(server);
    let r = read_response(s);
    assert_eq!(r.events().len(), 1);
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn steps_script_requests_in_order() {
    let server = MockServer::start(Scenario::steps(vec![
        Step {
            cmd: Some("ls".into()),
            ..Step::new(Action::Tool)
        },
        Step {
            text: Some("second".into()),
            usage: Some(Usage {
                input: 1,
                cached: 0,
                output: 1,
                reasoning: 0,
            }),
            ..Step::new(Action::Answer)
        },
        Step {
            status: Some(503),
            ..Step::new(Action::Fail500)
        },
    ]));
    let ev = post(server.port(), &["x"]).events();
    assert_eq!(ev[1]["item"]["arguments"], r#"{"cmd":"ls"}"#);
    let ev = post(server.port(), &["x"]).events();
    assert_eq!(text_of(&ev), "second");
    assert_eq!(ev[2]["response"]["usage"]["total_tokens"], 2);
    assert_eq!(post(server.port(), &["x"]).status, 503);
    // past the steps, markers decide again
    assert_eq!(
        text_of(&post(server.port(), &["[say:free]"]).events()),
        "free"
    );
}

#[test]
fn other_paths_and_methods_get_404() {
    let server = MockServer::start(Scenario::default());
    assert_eq!(
        read_response(send(server.port(), "POST", "/v1/other", &json!({}))).status,
        404
    );
    assert_eq!(
        read_response(send(server.port(), "GET", "/v1/models", &json!({}))).status,
        404
    );
    assert_eq!(server.requests().len(), 1, "POSTs are logged, GETs not");
}

#[test]
fn write_codex_home_points_codex_at_the_server() {
    let server = MockServer::start(Scenario::default());
    let dir = tempfile::tempdir().unwrap();
    let path = server.write_codex_home(&dir.path().join("home")).unwrap();
    let toml = std::fs::read_to_string(path).unwrap();
    assert!(toml.contains("model = \"gpt-5\""), "{toml}");
    assert!(toml.contains("model_provider = \"mock\""), "{toml}");
    assert!(toml.contains("wire_api = \"responses\""), "{toml}");
    assert!(
        toml.contains(&format!("base_url = \"{}\"", server.base_url())),
        "{toml}"
    );
}

fn mock_bin() -> Command {
    let mut c = Command::new(assert_cmd::cargo::cargo_bin!("codex-mock-responses"));
    c.env_clear();
    c
}

#[test]
fn binary_prints_port_serves_scenario_and_logs_requests() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("s.json");
    std::fs::write(
        &scenario,
        r#"{"text":"from file {n}","usage_scales_with_call":true}"#,
    )
    .unwrap();
    let log = dir.path().join("req.jsonl");
    let home = dir.path().join("home");
    let mut child = mock_bin()
        .args(["--port", "0", "--print-port", "--scenario"])
        .arg(&scenario)
        .arg("--log")
        .arg(&log)
        .arg("--codex-home")
        .arg(&home)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let (port, url) = first.trim().split_once(' ').unwrap();
    let port: u16 = port.parse().unwrap();
    assert_eq!(url, format!("http://127.0.0.1:{port}/v1"));
    post(port, &["a"]);
    let ev = post(port, &["b"]).events();
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(text_of(&ev), "from file 2");
    assert_eq!(ev[2]["response"]["usage"]["input_tokens"], 2000);
    let lines: Vec<Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["path"], "/v1/responses");
    assert_eq!(lines[1]["body"]["input"][1]["content"][0]["text"], "b");
    assert!(
        std::fs::read_to_string(home.join("config.toml"))
            .unwrap()
            .contains(url)
    );
}

#[test]
fn binary_rejects_a_bad_scenario_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"stepz":[]}"#).unwrap();
    assert_cmd::Command::from_std(mock_bin())
        .arg("--scenario")
        .arg(&bad)
        .assert()
        .code(1)
        .stderr(predicates::str::starts_with(
            "codex-mock-responses: invalid scenario",
        ));
    assert_cmd::Command::from_std(mock_bin())
        .arg("--scenario")
        .arg(Path::new("/nonexistent/s.json"))
        .assert()
        .code(1)
        .stderr(predicates::str::contains(
            "cannot read scenario /nonexistent/s.json",
        ));
    assert_cmd::Command::from_std(mock_bin())
        .arg("--bogus")
        .assert()
        .code(2);
}

#[test]
fn binary_help_documents_the_markers() {
    assert_cmd::Command::from_std(mock_bin())
        .arg("--help")
        .assert()
        .success()
        .stdout(predicates::str::contains("[tool:CMD]"))
        .stdout(predicates::str::contains("[turnfail[:CODE]]"))
        .stdout(predicates::str::contains("SIGTERM"));
}
