//! What a rollout's lines say of whose session it is: its id, start and cwd, the user's
//! messages and the agent's answers (read whole, with serde: the reader reads the first
//! lines of a few fresh rollouts only).

/// One line's fact about its session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fact {
    /// The `session_meta` payload (before codex 0.30: the bare first line).
    Session {
        /// The line's timestamp (as written).
        ts: Option<String>,
        /// `id`, when a UUID.
        id: Option<String>,
        /// `timestamp` of the payload: when the session began.
        began: Option<String>,
        /// `cwd`.
        cwd: Option<String>,
    },
    /// A user message.
    Prompt {
        /// The line's timestamp (as written).
        ts: Option<String>,
        /// Its text.
        text: String,
        /// From a `response_item` message (a CLI without the `user_message` events).
        item: bool,
    },
    /// An answer of the agent.
    Answer {
        /// The line's timestamp (as written).
        ts: Option<String>,
        /// Its text.
        text: String,
        /// From a `response_item` message (a CLI without the `agent_message` events).
        item: bool,
    },
}

/// The fact of one line (the file's first when `first`): `None` for a line that is not
/// JSON or says none of these things.
pub fn fact(line: &[u8], first: bool) -> Option<Fact> {
    let v = serde_json::from_slice::<serde_json::Value>(line).ok()?;
    let ts = v
        .get("timestamp")
        .and_then(|t| t.as_str())
        .map(str::to_owned);
    match v.get("type").and_then(|t| t.as_str()) {
        Some("session_meta") => Some(session(v.get("payload").unwrap_or(&v), ts)),
        Some(_) => message(v.get("payload").unwrap_or(&v), ts),
        // before 0.30: a bare first line {"id","timestamp",…} and untyped items
        None if first => Some(session(&v, ts)),
        None => message(&v, ts),
    }
}

/// The `session_meta` payload's id, start and cwd.
fn session(p: &serde_json::Value, ts: Option<String>) -> Fact {
    let text = |key: &str| p.get(key).and_then(|x| x.as_str()).map(str::to_owned);
    Fact::Session {
        ts,
        id: text("id").filter(|i| crate::Uuid::parse(i.as_bytes()).is_some()),
        began: text("timestamp"),
        cwd: text("cwd"),
    }
}

/// A user message or an answer, from an event or a response item.
fn message(p: &serde_json::Value, ts: Option<String>) -> Option<Fact> {
    let text = |key: &str| p.get(key).and_then(|m| m.as_str()).map(str::to_owned);
    match p.get("type").and_then(|t| t.as_str()) {
        Some("user_message") => text("message").map(|text| Fact::Prompt {
            ts,
            text,
            item: false,
        }),
        Some("agent_message") => text("message").map(|text| Fact::Answer {
            ts,
            text,
            item: false,
        }),
        Some("message") => {
            let parts: Vec<&str> = p
                .get("content")
                .and_then(|c| c.as_array())
                .map(|parts| {
                    parts
                        .iter()
                        .filter_map(|part| part.get("text").and_then(|t| t.as_str()))
                        .collect()
                })
                .unwrap_or_default();
            let text = parts.concat();
            match p.get("role").and_then(|r| r.as_str()) {
                // codex's own context, sent as user messages before the task
                Some("user")
                    if !text.starts_with("<environment_context>")
                        && !text.starts_with("<user_instructions>") =>
                {
                    Some(Fact::Prompt {
                        ts,
                        text,
                        item: true,
                    })
                }
                Some("assistant") => Some(Fact::Answer {
                    ts,
                    text,
                    item: true,
                }),
                _ => None,
            }
        }
        _ => None,
    }
}
