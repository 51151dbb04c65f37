//! The MCP handler: the six tools' list (schemas from [`crate::params`]), the dispatch of
//! a call to [`crate::spawn`] or [`crate::runs`], progress notifications while a call
//! blocks, and the client's cancellation of a call.
//!
//! A call's result is one JSON object, given twice as MCP asks: as structured content and
//! as the same JSON in a text block, cut to the caller's `max_bytes`
//! ([`crate::compact`]). Whatever goes wrong in a call — bad arguments, an unknown run,
//! codex-spawn's refusal — is a tool error (`isError: true`) of one line; the server
//! goes on. Only a call of a tool that does not exist is a protocol error, as MCP says.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use codex_meta::RunsDir;
use rmcp::handler::server::common::schema_for_input;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ProgressNotificationParam, ServerCapabilities,
    ServerConfig, Tool, ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::compact;
use crate::error::ToolError;
use crate::params::{
    CancelParams, ListParams, ResultParams, SpawnParams, StatusParams, WaitParams, seconds,
};
use crate::runs;

/// `wait`'s timeout when the caller gives none.
const WAIT_DEFAULT: Duration = Duration::from_secs(300);

/// What the server was started with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where runs live (absolute): `--runs-dir`, else `$CODEX_RUNS_DIR`, else `./runs`.
    pub runs_dir: RunsDir,
    /// The codex-spawn binary that starts runs.
    pub codex_spawn: PathBuf,
    /// How often a blocking call sends a progress notification.
    pub progress_interval: Duration,
}

/// The server: its settings, shared by every call.
#[derive(Debug, Clone)]
pub struct CodexMcp {
    settings: Arc<Settings>,
}

const INSTRUCTIONS: &str = "Runs OpenAI Codex CLI tasks as fire-and-forget jobs. `spawn` \
returns at once with a run_id; `wait` blocks until the run ends; `result` gives its status, \
session_id, usage, cost and last message; `spawn` with `resume: <run_id>` continues the same \
Codex session. Runs are files in the runs dir, shared with the codex-spawn/codex-meta CLI.";

/// The tools, their schemas and descriptions.
fn tools() -> Vec<Tool> {
    fn tool<T: schemars::JsonSchema + 'static>(
        name: &'static str,
        description: &'static str,
        read_only: bool,
    ) -> Tool {
        let schema = schema_for_input::<T>().unwrap_or_else(|_| Arc::new(Map::new()));
        let notes = ToolAnnotations::new()
            .read_only(read_only)
            .destructive(name == "cancel");
        Tool::new(name, description, schema).with_annotations(notes)
    }
    vec![
        tool::<SpawnParams>(
            "spawn",
            "Launch a Codex task (or resume a session) as a detached run; returns at once with run_id, log_file, meta_file (and session_id with wait_for_session)",
            false,
        ),
        tool::<StatusParams>(
            "status",
            "Status of a run (or of several): status, exit_code, session_id, and why it ended",
            true,
        ),
        tool::<ListParams>(
            "list",
            "The runs in the runs dir, newest first: run_id, status, exit_code, task",
            true,
        ),
        tool::<WaitParams>(
            "wait",
            "Block until a run ends (progress notifications meanwhile); returns its status and exit_code, or timed_out",
            true,
        ),
        tool::<ResultParams>(
            "result",
            "How a run ended: status, session_id, usage, total_cost_usd and the last agent message (result, cut to max_bytes)",
            true,
        ),
        tool::<CancelParams>(
            "cancel",
            "Stop a run through its supervisor (a queued run never starts); optionally wait for its end",
            false,
        ),
    ]
}

/// A call's outcome: the JSON object and the caller's size limit.
type Answer = Result<(Map<String, Value>, usize), ToolError>;

impl CodexMcp {
    pub fn new(settings: Settings) -> CodexMcp {
        CodexMcp {
            settings: Arc::new(settings),
        }
    }

    fn runs(&self) -> RunsDir {
        self.settings.runs_dir.clone()
    }

    async fn spawn(&self, p: SpawnParams, ctx: &RequestContext<RoleServer>) -> Answer {
        let max = compact::limit(p.max_bytes);
        let runs_dir = self.settings.runs_dir.path().to_path_buf();
        let launch = crate::spawn::launch(&p, &runs_dir)?;
        let bin = self.settings.codex_spawn.clone();
        let what = if launch.wait_for_session {
            "waiting for codex's session id"
        } else {
            "launching the run"
        };
        let run = crate::spawn::run(&bin, launch, &runs_dir);
        Ok((self.progress(ctx, what, None, run).await??, max))
    }

    async fn status(&self, p: StatusParams) -> Answer {
        let max = compact::limit(p.max_bytes);
        let runs = self.runs();
        match (p.run, p.runs) {
            (Some(run), None) => Ok((blocking(move || runs::status(&runs, &run)).await?, max)),
            (None, Some(list)) if !list.is_empty() => {
                let n = list.len();
                let (v, failed) = blocking(move || Ok(runs::status_many(&runs, &list))).await?;
                if failed == n {
                    // not one run could be read: that is the answer
                    let e = v["runs"][0]["error"]
                        .as_str()
                        .unwrap_or("cannot read the run");
                    return Err(ToolError::bad_args(e));
                }
                Ok((v, max))
            }
            (Some(_), Some(_)) => Err(ToolError::bad_args("give run or runs, not both")),
            _ => Err(ToolError::bad_args(
                "run (a run id) or runs (a list) is required",
            )),
        }
    }

    async fn list(&self, p: ListParams) -> Answer {
        let max = compact::limit(p.max_bytes);
        let runs = self.runs();
        let v = blocking(move || runs::list(&runs, p.limit, p.status.as_deref())).await?;
        Ok((v, max))
    }

    async fn wait(&self, p: WaitParams, ctx: &RequestContext<RoleServer>) -> Answer {
        let max = compact::limit(p.max_bytes);
        let timeout = match p.timeout_seconds {
            Some(s) => seconds("timeout_seconds", s).map_err(ToolError::BadArgs)?,
            None => WAIT_DEFAULT,
        };
        let runs = self.runs();
        let run = p.run;
        let path = blocking(move || runs::resolve(&runs, &run)).await?;
        let what = format!("waiting for run {}", short_id(&path));
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let waiting = blocking(move || runs::wait(&path, timeout, &flag));
        let ended = self.progress(ctx, &what, Some(timeout), waiting).await;
        if ended.is_err() {
            stop.store(true, Ordering::Relaxed); // the blocking look ends at its next slice
        }
        Ok((ended??, max))
    }

    async fn result(&self, p: ResultParams) -> Answer {
        let max = compact::limit(p.max_bytes);
        let runs = self.runs();
        Ok((blocking(move || runs::result(&runs, &p.run)).await?, max))
    }

    async fn cancel(&self, p: CancelParams, ctx: &RequestContext<RoleServer>) -> Answer {
        let max = compact::limit(p.max_bytes);
        let wait =
            seconds("wait_seconds", p.wait_seconds.unwrap_or(0.0)).map_err(ToolError::BadArgs)?;
        let runs = self.runs();
        let c = blocking(move || runs::cancel(&runs, &p.run, p.signal.as_deref())).await?;
        let mut v = c.result;
        let Some(path) = c.signalled.filter(|_| !wait.is_zero()) else {
            return Ok((v, max));
        };
        let what = format!("waiting for run {} to stop", short_id(&path));
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let waiting = blocking(move || runs::wait(&path, wait, &flag));
        let ended = self.progress(ctx, &what, Some(wait), waiting).await;
        if ended.is_err() {
            stop.store(true, Ordering::Relaxed);
        }
        let ended = ended??;
        for k in ["status", "exit_code", "timed_out"] {
            if let Some(x) = ended.get(k) {
                v.insert(k.into(), x.clone());
            }
        }
        Ok((v, max))
    }

    /// Run `work`, sending a progress notification every `progress_interval` when the
    /// request carries a progress token; `Err(Cancelled)` as soon as the client cancels
    /// the request (blocking work then ends on its own, bounded by its timeout).
    async fn progress<T>(
        &self,
        ctx: &RequestContext<RoleServer>,
        what: &str,
        total: Option<Duration>,
        work: impl Future<Output = T>,
    ) -> Result<T, ToolError> {
        let token = ctx.meta.get_progress_token();
        let every = self
            .settings
            .progress_interval
            .max(Duration::from_millis(100));
        let start = Instant::now();
        let mut tick = tokio::time::interval_at((start + every).into(), every);
        tokio::pin!(work);
        loop {
            tokio::select! {
                out = &mut work => return Ok(out),
                () = ctx.ct.cancelled() => return Err(ToolError::Cancelled),
                _ = tick.tick() => {
                    let Some(token) = &token else { continue };
                    let secs = start.elapsed().as_secs_f64().round();
                    let mut note = ProgressNotificationParam::new(token.clone(), secs)
                        .with_message(format!("{what}: {secs:.0} s"));
                    if let Some(t) = total {
                        note = note.with_total(t.as_secs_f64().round());
                    }
                    // a client that stopped listening only misses the note
                    let _ = ctx.peer.notify_progress(note).await;
                }
            }
        }
    }

    async fn dispatch(&self, name: &str, args: Value, ctx: &RequestContext<RoleServer>) -> Answer {
        match name {
            "spawn" => self.spawn(parse(name, args)?, ctx).await,
            "status" => self.status(parse(name, args)?).await,
            "list" => self.list(parse(name, args)?).await,
            "wait" => self.wait(parse(name, args)?, ctx).await,
            "result" => self.result(parse(name, args)?).await,
            "cancel" => self.cancel(parse(name, args)?, ctx).await,
            _ => Err(ToolError::Internal(format!("no tool {name}"))),
        }
    }
}

/// The tool's arguments, or a one-line error naming what is wrong.
fn parse<T: DeserializeOwned>(tool: &str, args: Value) -> Result<T, ToolError> {
    serde_json::from_value(args).map_err(|e| ToolError::bad_args(format!("{tool}: {e}")))
}

/// Run blocking library code on tokio's blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ToolError> + Send + 'static,
) -> Result<T, ToolError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ToolError::Internal(format!("the call's worker failed: {e}")))?
}

/// The run id of a meta path, for progress messages.
fn short_id(path: &std::path::Path) -> String {
    codex_meta::id_from_path(path).unwrap_or_else(|| path.display().to_string())
}

/// The tool result: the object (cut to `max`) as structured content and as text; or the
/// error's one line (at most 1 KiB too).
pub fn answer(out: Answer) -> CallToolResult {
    match out {
        Ok((v, max)) => CallToolResult::structured(Value::Object(compact::fit(v, max))),
        Err(e) => {
            let line = compact::line(e.one_line(), compact::DEFAULT_MAX_BYTES);
            CallToolResult::error(vec![ContentBlock::text(line)])
        }
    }
}

impl ServerHandler for CodexMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("codex-mcp", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(tools()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        tools().into_iter().find(|t| t.name == name)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let name = request.name.as_ref();
        if !tools().iter().any(|t| t.name == name) {
            return Err(ErrorData::invalid_params(
                format!("unknown tool '{name}' (tools: spawn, status, list, wait, result, cancel)"),
                Some(json!({"tool": name})),
            ));
        }
        let args = Value::Object(request.arguments.clone().unwrap_or_default());
        Ok(answer(self.dispatch(name, args, &context).await).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tool_has_an_object_schema() {
        let tools = tools();
        assert_eq!(tools.len(), 6);
        for t in &tools {
            assert_eq!(
                t.input_schema.get("type"),
                Some(&json!("object")),
                "{}",
                t.name
            );
        }
        let spawn = &tools[0].input_schema;
        assert_eq!(spawn["required"], json!(["repo"]));
        for k in [
            "task",
            "resume",
            "codex_args",
            "worktree",
            "base",
            "branch",
            "max_cost_usd",
        ] {
            assert!(spawn["properties"].get(k).is_some(), "spawn: no {k}");
        }
    }

    #[test]
    fn errors_are_one_line_tool_errors() {
        let r = answer(Err(ToolError::bad_args("a\nb")));
        assert_eq!(r.is_error, Some(true));
        let text = serde_json::to_value(&r.content).unwrap();
        assert_eq!(text[0]["text"], "a b");
    }
}
