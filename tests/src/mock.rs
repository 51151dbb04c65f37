//! A scripted Responses-API endpoint that the real Codex CLI can talk to offline.
//!
//! Why it exists: the end-to-end tests (and `scripts/capture-fixtures`) run the real
//! `codex exec` against loopback instead of OpenAI, so every behaviour the tools must
//! survive — a tool call, a resumed session, HTTP 500s, a slow or stalled stream, a
//! failed turn, exact token usage — can be produced on demand and asserted on.
//!
//! The server answers `POST …/responses` with Server-Sent Events (`response.created`,
//! one `response.output_item.done` per item, `response.completed` with `usage`), each
//! event written and flushed on its own so slow and stalled streams are real. Any other
//! path gets 404. Every POST body is kept in memory ([`MockServer::requests`]) and, when
//! a log file is given, appended to it as one JSON line `{"path":…,"body":…}`.
//!
//! # Choosing the behaviour
//!
//! Request `r` (1-based, counting every POST to `…/responses`) uses `steps[r-1]` of the
//! [`Scenario`] when there is one. Otherwise the *prompt* — the text of the last user
//! message in the request's `input`, ignoring codex's own `<environment_context>` and
//! `# AGENTS.md` messages — picks it through markers (they combine):
//!
//! | marker | effect |
//! |---|---|
//! | `[say:TEXT]` | answer TEXT (default: the scenario's `text`) |
//! | `[tool]` / `[tool:CMD]` | first an `exec_command` call (or, to a client that offers only `shell` — codex before 0.99 — a `shell` call of `bash -lc CMD`) running CMD (default: the scenario's `tool_cmd`); once the input holds its `function_call_output`, an answer quoting that output (`tool output: …`) |
//! | `[history]` | answer `history has: ["first prompt","second prompt"]`, the user prompts in the request |
//! | `[fail500]` / `[fail]` | HTTP 500 (codex 0.169.0 retries 5 times, ~24 s, then exits 1) |
//! | `[turnfail]` / `[turnfail:CODE]` | a `response.failed` event with `error.code` CODE (default `insufficient_quota`, which codex treats as fatal) |
//! | `[stall]` / `[stall:30s]` | `response.created`, then nothing until the client goes away, the server stops, or the time (default: the scenario's `stall_max_secs`) runs out; then the stream ends without `response.completed` |
//! | `[slow:200ms]` | wait that long before each event after the first |
//! | `[usage:I,C,O,R]` | usage input I, cached C, output O, reasoning R |
//! | `[spawn]` / `[spawn:fresh]` | a sub-agent: a `spawn_agent` call (codex's `multi_agent_v1` tools, 0.169 on) whose task is `child task`, forking this thread's history into it (`fresh`: not); once its output (the agent id) is in the input, a `wait_agent` call on that agent; once that output is in, an answer. The sub-agent's own request (its last prompt is the task) is an ordinary answer |
//!
//! In answer texts `{n}` is the number of the streamed answer (HTTP errors do not count),
//! and with `usage_scales_with_call` the usage is multiplied by it — the scheme the
//! captured fixtures use (call k reports input=1000k, cached=200k, output=50k, reasoning=10k).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use codex_meta::parse_duration;
use serde::Deserialize;
use serde_json::{Value, json};

/// Errors of the mock server.
#[derive(Debug, thiserror::Error)]
pub enum MockError {
    /// The listening socket could not be bound.
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Bind {
        port: u16,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A scenario file could not be read.
    #[error("cannot read scenario {}: {source}", path.display())]
    ReadScenario { path: PathBuf, source: io::Error },
    /// A scenario file is not a valid scenario.
    #[error("invalid scenario {}: {source}", path.display())]
    ParseScenario {
        path: PathBuf,
        source: serde_json::Error,
    },
    /// The request log could not be opened.
    #[error("cannot open request log {}: {source}", path.display())]
    OpenLog { path: PathBuf, source: io::Error },
    /// The Codex home could not be written.
    #[error("cannot write {}: {source}", path.display())]
    WriteCodexHome { path: PathBuf, source: io::Error },
}

/// Token usage reported in `response.completed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Usage {
    pub input: u64,
    pub cached: u64,
    pub output: u64,
    pub reasoning: u64,
}

impl Default for Usage {
    fn default() -> Self {
        Usage {
            input: 1000,
            cached: 200,
            output: 50,
            reasoning: 10,
        }
    }
}

impl Usage {
    fn times(self, k: u64) -> Usage {
        Usage {
            input: self.input * k,
            cached: self.cached * k,
            output: self.output * k,
            reasoning: self.reasoning * k,
        }
    }

    fn to_json(self) -> Value {
        json!({
            "input_tokens": self.input,
            "input_tokens_details": {"cached_tokens": self.cached},
            "output_tokens": self.output,
            "output_tokens_details": {"reasoning_tokens": self.reasoning},
            "total_tokens": self.input + self.output,
        })
    }
}

/// What one answer does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// A plain assistant message.
    #[default]
    Answer,
    /// An `exec_command` call; once its output is in the input, an answer quoting it.
    Tool,
    /// An answer listing the user prompts present in the request.
    History,
    /// An HTTP error status (500 unless `status` says otherwise).
    Fail500,
    /// `response.created`, then silence.
    Stall,
    /// A `response.failed` event.
    TurnFail,
    /// A sub-agent: `spawn_agent` (forking the thread's history), then `wait_agent`, then
    /// an answer.
    Spawn,
}

/// One scripted answer (scenario files: `{"action":"tool","cmd":"echo hi"}` …).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    #[serde(default)]
    pub action: Action,
    /// Answer text (`answer`), `{n}` = answer number.
    pub text: Option<String>,
    /// Command of a `tool` step.
    pub cmd: Option<String>,
    pub usage: Option<Usage>,
    /// Delay before each event after the first.
    pub delay_ms: Option<u64>,
    /// HTTP status of a `fail500` step.
    pub status: Option<u16>,
    /// `error.code` of a `turn_fail` step.
    pub code: Option<String>,
    /// `error.message` of a `turn_fail` step.
    pub message: Option<String>,
    /// How long a `stall` step stays silent at most.
    pub max_secs: Option<u64>,
}

impl Step {
    /// A step doing `action` with every other field at its default.
    pub fn new(action: Action) -> Step {
        Step {
            action,
            ..Step::default()
        }
    }
}

/// The script of a mock server. Every field has a default, so `{}` is a valid file.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Scenario {
    /// Default answer text; `{n}` is replaced by the answer number.
    pub text: String,
    /// Command run by `[tool]` without an argument.
    pub tool_cmd: String,
    /// After a tool call, quote the tool output (`tool output: …`) instead of `text`.
    pub quote_tool_output: bool,
    /// Default usage of every answer.
    pub usage: Usage,
    /// Multiply the usage by the answer number (the fixtures' scheme).
    pub usage_scales_with_call: bool,
    /// Default delay between events, in milliseconds.
    pub delay_ms: u64,
    /// Longest silence of a stall, in seconds.
    pub stall_max_secs: u64,
    /// Answers for requests 1, 2, …; past the end, the prompt's markers decide.
    pub steps: Vec<Step>,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            text: "Done {n}.".to_owned(),
            tool_cmd: "echo hi from tool".to_owned(),
            quote_tool_output: true,
            usage: Usage::default(),
            usage_scales_with_call: false,
            delay_ms: 0,
            stall_max_secs: 600,
            steps: Vec::new(),
        }
    }
}

impl Scenario {
    /// Plain answers with `text` (markers still apply).
    pub fn answer(text: &str) -> Scenario {
        Scenario {
            text: text.to_owned(),
            ..Scenario::default()
        }
    }

    /// Scripted answers, one per request.
    pub fn steps(steps: Vec<Step>) -> Scenario {
        Scenario {
            steps,
            ..Scenario::default()
        }
    }

    /// The same scenario with another default usage.
    pub fn with_usage(mut self, usage: Usage) -> Scenario {
        self.usage = usage;
        self
    }

    /// Reads a scenario file (JSON).
    pub fn from_file(path: &Path) -> Result<Scenario, MockError> {
        let text = std::fs::read_to_string(path).map_err(|source| MockError::ReadScenario {
            path: path.to_owned(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| MockError::ParseScenario {
            path: path.to_owned(),
            source,
        })
    }
}

/// Markers found in a prompt (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Markers {
    pub say: Option<String>,
    pub tool: Option<Option<String>>,
    pub history: bool,
    pub fail500: bool,
    pub turnfail: Option<Option<String>>,
    pub stall: Option<Option<Duration>>,
    pub slow: Option<Duration>,
    pub usage: Option<Usage>,
    /// `[spawn]`: Some(true) (fork the history), `[spawn:fresh]`: Some(false).
    pub spawn: Option<bool>,
}

impl Markers {
    /// Finds the markers in `prompt`; unknown or malformed `[…]` text is ignored.
    pub fn parse(prompt: &str) -> Markers {
        let mut m = Markers::default();
        let mut rest = prompt;
        while let Some(open) = rest.find('[') {
            let after = &rest[open + 1..];
            let Some(close) = after.find(']') else { break };
            let inner = &after[..close];
            let (name, arg) = match inner.split_once(':') {
                Some((n, a)) => (n, Some(a)),
                None => (inner, None),
            };
            let known = match (name, arg) {
                ("say", Some(a)) => {
                    m.say = Some(a.to_owned());
                    true
                }
                ("tool", a) => {
                    m.tool = Some(a.map(str::to_owned));
                    true
                }
                ("history", None) => {
                    m.history = true;
                    true
                }
                ("fail500" | "fail", None) => {
                    m.fail500 = true;
                    true
                }
                ("turnfail", a) => {
                    m.turnfail = Some(a.map(str::to_owned));
                    true
                }
                ("stall", None) => {
                    m.stall = Some(None);
                    true
                }
                ("stall", Some(a)) => parse_duration(a)
                    .ok()
                    .map(|d| m.stall = Some(Some(d)))
                    .is_some(),
                ("slow", Some(a)) => parse_duration(a).ok().map(|d| m.slow = Some(d)).is_some(),
                ("usage", Some(a)) => parse_usage(a).map(|u| m.usage = Some(u)).is_some(),
                ("spawn", None) => {
                    m.spawn = Some(true);
                    true
                }
                ("spawn", Some("fresh")) => {
                    m.spawn = Some(false);
                    true
                }
                _ => false,
            };
            rest = if known { &after[close + 1..] } else { after };
        }
        m
    }

    fn action(&self) -> Action {
        if self.fail500 {
            Action::Fail500
        } else if self.turnfail.is_some() {
            Action::TurnFail
        } else if self.stall.is_some() {
            Action::Stall
        } else if self.tool.is_some() {
            Action::Tool
        } else if self.spawn.is_some() {
            Action::Spawn
        } else if self.history {
            Action::History
        } else {
            Action::Answer
        }
    }
}

fn parse_usage(text: &str) -> Option<Usage> {
    let nums: Vec<u64> = text
        .split(',')
        .map(|p| p.trim().parse().ok())
        .collect::<Option<_>>()?;
    match nums[..] {
        [input, cached, output, reasoning] => Some(Usage {
            input,
            cached,
            output,
            reasoning,
        }),
        _ => None,
    }
}

/// The user prompts of a request body, oldest first, without codex's own context
/// messages (`<environment_context>…`, `# AGENTS.md instructions…`).
pub fn user_prompts(body: &Value) -> Vec<String> {
    input_items(body)
        .iter()
        .filter(|item| is_user_message(item))
        .map(message_text)
        .filter(|t| !t.starts_with('<') && !t.starts_with("# AGENTS.md"))
        .collect()
}

fn input_items(body: &Value) -> &[Value] {
    body.get("input")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn is_user_message(item: &Value) -> bool {
    item.get("role").and_then(Value::as_str) == Some("user")
        && item
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("message")
            == "message"
}

fn message_text(item: &Value) -> String {
    match item.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// Does the request's `tools` list offer a function named `name`?
fn offers_tool(body: &Value, name: &str) -> bool {
    body.get("tools")
        .and_then(Value::as_array)
        .is_some_and(|tools| {
            tools
                .iter()
                .any(|t| t.get("name").and_then(Value::as_str) == Some(name))
        })
}

/// The output of the last `function_call_output` after the last user message, if any.
pub fn pending_tool_output(body: &Value) -> Option<String> {
    let items = input_items(body);
    let start = items.iter().rposition(is_user_message).map_or(0, |i| i + 1);
    items[start..]
        .iter()
        .rev()
        .find(|i| i.get("type").and_then(Value::as_str) == Some("function_call_output"))
        .map(|i| match i.get("output") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(parts)) => parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join("\n"),
            Some(other) => other.to_string(),
            None => String::new(),
        })
}

/// The last `function_call_output` after the last prompt (a user message that is not
/// codex's own context: codex tells a thread of its sub-agent's end in a user message
/// `<subagent_notification>…`), with the name of the call it answers and its text.
fn pending_call(body: &Value) -> Option<(Option<String>, String)> {
    let items = input_items(body);
    let is_prompt = |i: &Value| {
        is_user_message(i) && {
            let t = message_text(i);
            !t.starts_with('<') && !t.starts_with("# AGENTS.md")
        }
    };
    let start = items.iter().rposition(is_prompt).map_or(0, |i| i + 1);
    let out = items[start..]
        .iter()
        .rev()
        .find(|i| i.get("type").and_then(Value::as_str) == Some("function_call_output"))?;
    let call_id = out.get("call_id").and_then(Value::as_str);
    let name = items
        .iter()
        .filter(|i| i.get("type").and_then(Value::as_str) == Some("function_call"))
        .find(|i| i.get("call_id").and_then(Value::as_str) == call_id)
        .and_then(|i| i.get("name").and_then(Value::as_str))
        .map(str::to_owned);
    let text = match out.get("output") {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    Some((name, text))
}

/// The `function_call` item of the sub-agent steps of [`Action::Spawn`]: `spawn_agent`
/// first, `wait_agent` once the spawn's output (`{"agent_id":…}`) is in; `None` once the
/// wait's output is in (then the answer).
fn spawn_step(body: &Value, fork: bool, n: u64) -> Option<Value> {
    let (name, args) = match pending_call(body) {
        None => (
            "spawn_agent",
            json!({"message": "child task", "fork_context": fork}),
        ),
        Some((Some(name), out)) if name == "spawn_agent" => {
            let id = serde_json::from_str::<Value>(&out)
                .ok()
                .and_then(|v| v.get("agent_id").and_then(Value::as_str).map(str::to_owned))
                .unwrap_or_default();
            ("wait_agent", json!({"targets": [id], "timeout_ms": 30000}))
        }
        Some(_) => return None,
    };
    Some(json!({"type": "response.output_item.done", "item": {
        "type": "function_call", "name": name, "namespace": "multi_agent_v1",
        "call_id": format!("c{n}"), "arguments": args.to_string()}}))
}

/// What the server sends back for one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// A plain HTTP error.
    Http { status: u16, body: String },
    /// An SSE stream: `events`, `delay` before each after the first, then — if
    /// `hang` — silence for that long before the stream is closed unfinished.
    Stream {
        events: Vec<Value>,
        delay: Duration,
        hang: Option<Duration>,
    },
}

#[derive(Debug, Default)]
struct Counters {
    requests: u64,
    answers: u64,
}

/// Decides the reply to request body `body` (pure apart from the counters).
#[allow(
    clippy::too_many_lines,
    reason = "one decision over the scenario's markers, read top to bottom"
)]
fn plan(scenario: &Scenario, counters: &mut Counters, body: &Value) -> Reply {
    counters.requests += 1;
    let prompt = user_prompts(body).pop().unwrap_or_default();
    let markers = Markers::parse(&prompt);
    let step = usize::try_from(counters.requests - 1)
        .ok()
        .and_then(|i| scenario.steps.get(i))
        .cloned();
    let action = step.as_ref().map_or_else(|| markers.action(), |s| s.action);
    let step = step.unwrap_or_default();

    if action == Action::Fail500 {
        return Reply::Http {
            status: step.status.unwrap_or(500),
            body: r#"{"error":{"message":"mock failure"}}"#.to_owned(),
        };
    }
    counters.answers += 1;
    let n = counters.answers;
    let id = format!("resp_{n}");
    let usage = step
        .usage
        .or(markers.usage)
        .unwrap_or(if scenario.usage_scales_with_call {
            scenario.usage.times(n)
        } else {
            scenario.usage
        });
    let delay = step
        .delay_ms
        .map(Duration::from_millis)
        .or(markers.slow)
        .unwrap_or(Duration::from_millis(scenario.delay_ms));
    let created = json!({"type": "response.created", "response": {"id": id}});
    let template = step
        .text
        .clone()
        .or(markers.say.clone())
        .unwrap_or_else(|| scenario.text.clone());
    let render = |t: &str| t.replace("{n}", &n.to_string());
    let message = |text: String| {
        json!({"type": "response.output_item.done", "item": {
            "type": "message", "role": "assistant", "id": format!("msg_{n}"),
            "content": [{"type": "output_text", "text": text}]}})
    };
    let completed = json!({"type": "response.completed",
        "response": {"id": id, "usage": usage.to_json()}});
    let item = match action {
        Action::Stall => {
            let max = step
                .max_secs
                .map(Duration::from_secs)
                .or(markers.stall.flatten())
                .unwrap_or(Duration::from_secs(scenario.stall_max_secs));
            return Reply::Stream {
                events: vec![created],
                delay,
                hang: Some(max),
            };
        }
        Action::TurnFail => {
            let code = step
                .code
                .clone()
                .or(markers.turnfail.clone().flatten())
                .unwrap_or_else(|| "insufficient_quota".to_owned());
            let msg = step
                .message
                .clone()
                .unwrap_or_else(|| format!("mock turn failure ({code})"));
            let failed = json!({"type": "response.failed", "response": {
                "id": id, "status": "failed", "error": {"code": code, "message": msg}}});
            return Reply::Stream {
                events: vec![created, failed],
                delay,
                hang: None,
            };
        }
        Action::Tool => match pending_tool_output(body) {
            Some(out) if scenario.quote_tool_output => message(format!("tool output: {out}")),
            Some(_) => message(render(&template)),
            None => {
                let cmd = step
                    .cmd
                    .clone()
                    .or(markers.tool.clone().flatten())
                    .unwrap_or_else(|| scenario.tool_cmd.clone());
                // the call the client offers: `exec_command` (codex 0.99 on), else the
                // older `shell`, whose command is an argv
                let (name, args) =
                    if offers_tool(body, "exec_command") || !offers_tool(body, "shell") {
                        ("exec_command", json!({"cmd": cmd}).to_string())
                    } else {
                        (
                            "shell",
                            json!({"command": ["bash", "-lc", cmd]}).to_string(),
                        )
                    };
                json!({"type": "response.output_item.done", "item": {
                    "type": "function_call", "name": name,
                    "call_id": format!("c{n}"), "arguments": args}})
            }
        },
        Action::History => {
            let list = Value::from(user_prompts(body)).to_string();
            message(format!("history has: {list}"))
        }
        Action::Spawn => spawn_step(body, markers.spawn.unwrap_or(true), n)
            .unwrap_or_else(|| message(render(&template))),
        Action::Answer | Action::Fail500 => message(render(&template)),
    };
    Reply::Stream {
        events: vec![created, item, completed],
        delay,
        hang: None,
    }
}

/// Options of [`MockServer::start_with`].
#[derive(Debug, Clone, Default)]
pub struct MockOptions {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Append every request as a JSON line `{"path":…,"body":…}` to this file.
    pub log: Option<PathBuf>,
}

/// Provider settings codex accepts in `[model_providers.mock]` (None = codex's default).
///
/// Measured with codex-cli 0.169.0: an HTTP 500 with the defaults costs 30 requests
/// (6 stream attempts × 5 HTTP tries) and ~24 s; with both retries at 0 it fails after
/// one request in ~1 s. A stall with the default idle timeout (300 s) and 5 stream
/// retries keeps codex waiting ~30 min.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProviderTuning {
    /// `request_max_retries`: retries of a failed HTTP request (default 4).
    pub request_max_retries: Option<u64>,
    /// `stream_max_retries`: reconnects after a failed/idle stream (default 5).
    pub stream_max_retries: Option<u64>,
    /// `stream_idle_timeout_ms`: how long codex waits for the next SSE event (default 300000).
    pub stream_idle_timeout_ms: Option<u64>,
}

/// The `config.toml` that points codex at `base_url` (model gpt-5, provider `mock`).
pub fn codex_config_toml(base_url: &str, tuning: &ProviderTuning) -> String {
    let mut s = format!(
        "model = \"gpt-5\"\nmodel_provider = \"mock\"\n[model_providers.mock]\nname = \"mock\"\n\
         base_url = \"{base_url}\"\nwire_api = \"responses\"\n"
    );
    for (key, value) in [
        ("request_max_retries", tuning.request_max_retries),
        ("stream_max_retries", tuning.stream_max_retries),
        ("stream_idle_timeout_ms", tuning.stream_idle_timeout_ms),
    ] {
        if let Some(v) = value {
            s.push_str(&format!("{key} = {v}\n"));
        }
    }
    s
}

/// Writes `dir/config.toml` (creating `dir`) for `base_url`.
pub fn write_codex_config(
    dir: &Path,
    base_url: &str,
    tuning: &ProviderTuning,
) -> Result<PathBuf, MockError> {
    let path = dir.join("config.toml");
    let err = |source| MockError::WriteCodexHome {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(err)?;
    std::fs::write(&path, codex_config_toml(base_url, tuning)).map_err(err)?;
    Ok(path)
}

struct Shared {
    scenario: Scenario,
    counters: Mutex<Counters>,
    requests: Mutex<Vec<Value>>,
    log: Option<Mutex<File>>,
    stop: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running mock endpoint on 127.0.0.1; dropping it stops it.
pub struct MockServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for MockServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockServer")
            .field("addr", &self.addr)
            .finish()
    }
}

impl MockServer {
    /// Starts a server on an ephemeral port; panics if it cannot (test helper).
    pub fn start(scenario: Scenario) -> MockServer {
        MockServer::start_with(scenario, MockOptions::default())
            .unwrap_or_else(|e| panic!("mock server: {e}"))
    }

    /// Starts a server with explicit options.
    pub fn start_with(scenario: Scenario, opts: MockOptions) -> Result<MockServer, MockError> {
        let log = match &opts.log {
            Some(path) => Some(Mutex::new(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|source| MockError::OpenLog {
                        path: path.clone(),
                        source,
                    })?,
            )),
            None => None,
        };
        let server = tiny_http::Server::http(("127.0.0.1", opts.port)).map_err(|source| {
            MockError::Bind {
                port: opts.port,
                source,
            }
        })?;
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| MockError::Bind {
                port: opts.port,
                source: "not an IP socket".into(),
            })?;
        let server = Arc::new(server);
        let shared = Arc::new(Shared {
            scenario,
            counters: Mutex::new(Counters::default()),
            requests: Mutex::new(Vec::new()),
            log,
            stop: AtomicBool::new(false),
        });
        let (srv, sh) = (Arc::clone(&server), Arc::clone(&shared));
        let thread = std::thread::spawn(move || {
            for request in srv.incoming_requests() {
                let sh = Arc::clone(&sh);
                std::thread::spawn(move || handle(&sh, request));
            }
        });
        Ok(MockServer {
            addr,
            shared,
            server,
            thread: Some(thread),
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT/v1` — the provider `base_url` for codex.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Every POST body received so far (JSON; a body that is not JSON is a string).
    pub fn requests(&self) -> Vec<Value> {
        lock(&self.shared.requests).clone()
    }

    /// Writes `dir/config.toml` pointing codex at this server.
    pub fn write_codex_home(&self, dir: &Path) -> Result<PathBuf, MockError> {
        write_codex_config(dir, &self.base_url(), &ProviderTuning::default())
    }

    /// Like [`write_codex_home`](Self::write_codex_home) with provider tuning.
    pub fn write_codex_home_tuned(
        &self,
        dir: &Path,
        tuning: &ProviderTuning,
    ) -> Result<PathBuf, MockError> {
        write_codex_config(dir, &self.base_url(), tuning)
    }

    /// Blocks until the server stops (never, unless another thread drops it).
    pub fn wait(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn handle(shared: &Shared, mut request: tiny_http::Request) {
    let mut raw = Vec::new();
    if request.as_reader().read_to_end(&mut raw).is_err() {
        let _ = request.respond(tiny_http::Response::empty(400));
        return;
    }
    if *request.method() != tiny_http::Method::Post {
        let _ = request.respond(tiny_http::Response::empty(404));
        return;
    }
    let path = request.url().to_owned();
    let body: Value = serde_json::from_slice(&raw)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&raw).into_owned()));
    if let Some(log) = &shared.log {
        let line = json!({"path": path, "body": body}).to_string();
        let mut f = lock(log);
        let _ = writeln!(f, "{line}").and_then(|()| f.flush());
    }
    lock(&shared.requests).push(body.clone());
    if !path.split('?').next().unwrap_or("").ends_with("/responses") {
        let _ = request.respond(tiny_http::Response::empty(404));
        return;
    }
    let reply = plan(&shared.scenario, &mut lock(&shared.counters), &body);
    match reply {
        Reply::Http { status, body } => {
            let mut response = tiny_http::Response::from_string(body).with_status_code(status);
            if let Ok(h) =
                tiny_http::Header::from_bytes(&b"Content-Type"[..], &b"application/json"[..])
            {
                response = response.with_header(h);
            }
            let _ = request.respond(response);
        }
        Reply::Stream {
            events,
            delay,
            hang,
        } => {
            let mut w = request.into_writer();
            let _ = stream(&mut *w, &events, delay, hang, &shared.stop);
        }
    }
}

/// Writes an SSE response as HTTP/1.1 chunks, one event per chunk, flushed each.
fn stream(
    w: &mut dyn Write,
    events: &[Value],
    delay: Duration,
    hang: Option<Duration>,
    stop: &AtomicBool,
) -> io::Result<()> {
    w.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\
          Transfer-Encoding: chunked\r\n\r\n",
    )?;
    w.flush()?;
    for (i, event) in events.iter().enumerate() {
        if i > 0 && !delay.is_zero() && !sleep_unless_stopped(delay, stop) {
            return Ok(());
        }
        let kind = event.get("type").and_then(Value::as_str).unwrap_or("");
        let data = format!("event: {kind}\ndata: {event}\n\n");
        write!(w, "{:x}\r\n{data}\r\n", data.len())?;
        w.flush()?;
    }
    if let Some(max) = hang {
        sleep_unless_stopped(max, stop);
    }
    w.write_all(b"0\r\n\r\n")?;
    w.flush()
}

/// Sleeps `total` in small steps; false when the server was stopped meanwhile.
fn sleep_unless_stopped(total: Duration, stop: &AtomicBool) -> bool {
    let end = Instant::now() + total;
    loop {
        if stop.load(Ordering::SeqCst) {
            return false;
        }
        let now = Instant::now();
        if now >= end {
            return true;
        }
        std::thread::sleep((end - now).min(Duration::from_millis(50)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(prompts: &[&str]) -> Value {
        let mut input = vec![json!({"type":"message","role":"user","content":[
            {"type":"input_text","text":"<environment_context>x</environment_context>"}]})];
        for p in prompts {
            input.push(
                json!({"type":"message","role":"user","content":[{"type":"input_text","text":p}]}),
            );
        }
        json!({"input": input})
    }

    #[test]
    fn markers_parse_and_combine() {
        let m = Markers::parse("do [tool:echo hi] [usage:1,2,3,4] [slow:200ms] [bogus] [stall:2s]");
        assert_eq!(m.tool, Some(Some("echo hi".to_owned())));
        assert_eq!(
            m.usage,
            Some(Usage {
                input: 1,
                cached: 2,
                output: 3,
                reasoning: 4
            })
        );
        assert_eq!(m.slow, Some(Duration::from_millis(200)));
        assert_eq!(m.stall, Some(Some(Duration::from_secs(2))));
        assert_eq!(m.action(), Action::Stall);
        assert_eq!(Markers::parse("[usage:1,2]").usage, None);
        assert_eq!(Markers::parse("[[fail]").action(), Action::Fail500);
        assert_eq!(Markers::parse("no markers ] [").action(), Action::Answer);
    }

    #[test]
    fn prompts_skip_codex_context() {
        assert_eq!(user_prompts(&body(&["a", "b"])), vec!["a", "b"]);
        assert!(user_prompts(&json!({"input": 3})).is_empty());
    }

    #[test]
    fn tool_then_quote() {
        let s = Scenario::default();
        let mut c = Counters::default();
        let first = plan(&s, &mut c, &body(&["[tool:echo hi]"]));
        let Reply::Stream { events, .. } = first else {
            panic!("not a stream")
        };
        assert_eq!(events[1]["item"]["type"], "function_call");
        assert_eq!(events[1]["item"]["arguments"], r#"{"cmd":"echo hi"}"#);
        let mut b = body(&["[tool:echo hi]"]);
        b["input"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type":"function_call_output","call_id":"c1","output":"hi\n"}));
        let Reply::Stream { events, .. } = plan(&s, &mut c, &b) else {
            panic!("not a stream")
        };
        assert_eq!(events[1]["item"]["content"][0]["text"], "tool output: hi\n");
    }

    #[test]
    fn spawn_then_wait_then_answer() {
        let s = Scenario::default();
        let mut c = Counters::default();
        let item = |b: &Value, c: &mut Counters| match plan(&s, c, b) {
            Reply::Stream { events, .. } => events[1]["item"].clone(),
            Reply::Http { .. } => panic!("not a stream"),
        };
        let mut b = body(&["[spawn] go"]);
        let spawn = item(&b, &mut c);
        assert_eq!(spawn["name"], "spawn_agent");
        assert_eq!(spawn["namespace"], "multi_agent_v1");
        assert_eq!(
            spawn["arguments"],
            r#"{"message":"child task","fork_context":true}"#
        );
        let input = b["input"].as_array_mut().unwrap();
        input.push(spawn.clone());
        input.push(
            json!({"type":"function_call_output","call_id":spawn["call_id"],
            "output":r#"{"agent_id":"a-1","nickname":"N"}"#}),
        );
        let wait = item(&b, &mut c);
        assert_eq!(wait["name"], "wait_agent");
        assert_eq!(
            wait["arguments"],
            r#"{"targets":["a-1"],"timeout_ms":30000}"#
        );
        let input = b["input"].as_array_mut().unwrap();
        input.push(wait.clone());
        input.push(json!({"type":"function_call_output","call_id":wait["call_id"],"output":"{}"}));
        input.push(
            json!({"type":"message","role":"user","content":[{"type":"input_text",
            "text":"<subagent_notification>\n{}\n</subagent_notification>"}]}),
        );
        assert_eq!(item(&b, &mut c)["type"], "message");
        // the sub-agent's own request: its task is the last prompt
        assert_eq!(
            item(&body(&["[spawn] go", "child task"]), &mut c)["type"],
            "message"
        );
        let fresh = item(&body(&["[spawn:fresh]"]), &mut c);
        assert_eq!(
            fresh["arguments"],
            r#"{"message":"child task","fork_context":false}"#
        );
    }

    #[test]
    fn fail500_does_not_count_as_answer_and_usage_scales() {
        let s = Scenario {
            usage_scales_with_call: true,
            ..Scenario::default()
        };
        let mut c = Counters::default();
        assert!(matches!(
            plan(&s, &mut c, &body(&["[fail]"])),
            Reply::Http { status: 500, .. }
        ));
        plan(&s, &mut c, &body(&["x"]));
        let Reply::Stream { events, .. } = plan(&s, &mut c, &body(&["x"])) else {
            panic!("not a stream")
        };
        assert_eq!(events[1]["item"]["content"][0]["text"], "Done 2.");
        assert_eq!(events[2]["response"]["usage"]["input_tokens"], 2000);
        assert_eq!(events[2]["response"]["usage"]["total_tokens"], 2100);
    }

    #[test]
    fn steps_win_over_markers() {
        let s = Scenario::steps(vec![Step {
            text: Some("scripted".into()),
            ..Step::new(Action::Answer)
        }]);
        let mut c = Counters::default();
        let Reply::Stream { events, .. } = plan(&s, &mut c, &body(&["[fail500]"])) else {
            panic!("not a stream")
        };
        assert_eq!(events[1]["item"]["content"][0]["text"], "scripted");
        assert!(matches!(
            plan(&s, &mut c, &body(&["[fail500]"])),
            Reply::Http { .. }
        ));
    }

    #[test]
    fn scenario_file_shape() {
        let s: Scenario = serde_json::from_str(
            r#"{"text":"t","steps":[{"action":"tool","cmd":"ls"},{"action":"turn_fail","code":"server_error"}]}"#,
        )
        .unwrap();
        assert_eq!(s.steps[1].action, Action::TurnFail);
        assert!(serde_json::from_str::<Scenario>(r#"{"bogus":1}"#).is_err());
    }
}
