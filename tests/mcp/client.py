"""A real MCP client — the official Python SDK (`mcp` from PyPI) — driving codex-mcp.

Why it exists: codex-mcp must work for any MCP host, not only for the Rust tests that
speak raw JSON-RPC to it. tests/tests/e2e_mcp.rs starts this script with the real Codex
CLI pointed at the mock Responses endpoint; it runs the whole lifecycle over MCP —
spawn, wait (with progress), result, resume, cancel (and a cancelled wait), status,
list, a bad request — asserts what the protocol promises, and prints one JSON line with
what it saw for the Rust side to check against the CLI tools. Exit 0 when everything
held; on the first failure, a line on stderr and exit 1.

Environment: CODEX_MCP (the server binary), REPO, TAG (unique marker), BYPASS (codex's
no-sandbox flag), and CODEX_HOME, CODEX_BIN, CODEX_RUNS_DIR, HOME, PATH for the server.
"""

import json
import os
import sys
import time

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

MAX = 1024
UUID_LEN = 36


class Failed(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failed(what)


def payload(res, tool):
    """The call's JSON: structured content, which the text block must repeat exactly."""
    text = res.content[0].text if res.content else ""
    check(not res.is_error, f"{tool}: tool error: {text}")
    check(res.structured_content is not None, f"{tool}: no structured content")
    check(json.loads(text) == res.structured_content, f"{tool}: text and structured content differ")
    return res.structured_content, len(text.encode())


async def call(session, tool, args, limit=MAX, **kw):
    res = await session.call_tool(tool, args, **kw)
    value, size = payload(res, tool)
    check(size <= limit, f"{tool}: {size} bytes > {limit}: {value}")
    return value


async def tool_error(session, tool, args):
    res = await session.call_tool(tool, args)
    text = res.content[0].text if res.content else ""
    check(res.is_error, f"{tool} {args}: expected a tool error, got {text}")
    check(text and "\n" not in text, f"{tool}: error not one line: {text!r}")
    return text


async def lifecycle(session, env):
    repo, tag, bypass = env["REPO"], env["TAG"], env["BYPASS"]
    seen = {}

    tools = await session.list_tools()
    names = [t.name for t in tools.tools]
    check(names == ["spawn", "status", "list", "wait", "result", "cancel"], f"tools: {names}")
    for t in tools.tools:
        check(t.input_schema.get("type") == "object", f"{t.name}: schema {t.input_schema}")

    # spawn returns at once; wait blocks until the end; result is compact
    first = await call(session, "spawn", {
        "repo": repo,
        "task": f"first-{tag} [say:answer-{tag}] [usage:1000,200,50,10]",
        "codex_args": [bypass],
    })
    for k in ("run_id", "log_file", "meta_file"):
        check(isinstance(first.get(k), str) and first[k], f"spawn: no {k}: {first}")
    check(os.path.isfile(first["meta_file"]), f"spawn: no meta at {first['meta_file']}")
    done = await call(session, "wait", {"run": first["run_id"], "timeout_seconds": 60})
    check(done["status"] == "succeeded" and done["exit_code"] == 0, f"wait: {done}")
    check(done["timed_out"] is False, f"wait: {done}")
    r1 = await call(session, "result", {"run": first["run_id"]})
    check(r1["status"] == "succeeded" and r1["is_error"] is False, f"result: {r1}")
    check(len(r1["session_id"] or "") == UUID_LEN, f"result: session id {r1}")
    check(f"answer-{tag}" in (r1["result"] or ""), f"result: message {r1}")
    check(isinstance(r1["usage"], dict), f"result: usage {r1}")
    seen["first"] = {"run_id": first["run_id"], "result": r1}

    # resume the session, returning once codex named it
    second = await call(session, "spawn", {
        "repo": repo,
        "resume": first["run_id"],
        "task": f"[history] second-{tag}",
        "codex_args": [bypass],
        "wait_for_session": True,
    })
    check(second["session_id"] == r1["session_id"], f"resume: {second} vs {r1}")
    done = await call(session, "wait", {"run": second["run_id"], "timeout_seconds": 60})
    check(done["status"] == "succeeded", f"wait (resume): {done}")
    r2 = await call(session, "result", {"run": second["run_id"]})
    check(r2["session_id"] == r1["session_id"], f"resume: another session {r2}")
    check(f"first-{tag}" in (r2["result"] or ""), f"resume: no history in {r2}")
    seen["second"] = {"run_id": second["run_id"], "result": r2}

    # a long message is cut to 1 KiB, whole when asked for
    words = " ".join(f"w{i}" for i in range(700))
    long = await call(session, "spawn", {"repo": repo, "task": f"[say:{words} end-{tag}]"})
    await call(session, "wait", {"run": long["run_id"], "timeout_seconds": 60})
    cut = await call(session, "result", {"run": long["run_id"]})
    check(cut.get("truncated") is True and cut["result"].endswith("…"), f"result cap: {cut}")
    whole = await call(session, "result", {"run": long["run_id"], "max_bytes": 16384}, limit=16384)
    check(whole["result"].strip().endswith(f"end-{tag}"), f"result max_bytes: {whole}")
    seen["long"] = {"run_id": long["run_id"]}

    # wait sends progress notifications while a tool runs
    slow = await call(session, "spawn", {
        "repo": repo, "task": f"[tool:sleep 4; echo slow-{tag}]", "codex_args": [bypass],
    })
    notes = []

    async def on_progress(progress, total, message):
        notes.append((progress, total, message))

    done = await call(session, "wait", {"run": slow["run_id"], "timeout_seconds": 60},
                      progress_callback=on_progress)
    check(done["status"] == "succeeded", f"wait (slow): {done}")
    check(len(notes) >= 2, f"progress: {notes}")
    check(all(b[0] > a[0] for a, b in zip(notes, notes[1:])), f"progress not increasing: {notes}")
    seen["slow"] = {"run_id": slow["run_id"], "progress": len(notes)}

    # cancel: a wait the client gives up on, then the run stopped through its supervisor
    victim = await call(session, "spawn", {
        "repo": repo, "task": f"[tool:sleep 30; echo never-{tag}]", "codex_args": [bypass],
    })
    deadline = time.monotonic() + 60
    while (await call(session, "status", {"run": victim["run_id"]}))["status"] != "running":
        check(time.monotonic() < deadline, "cancel: the run never started")
        await anyio.sleep(0.2)
    with anyio.move_on_after(1.5) as scope:
        await session.call_tool("wait", {"run": victim["run_id"], "timeout_seconds": 60})
    check(scope.cancelled_caught, "a 30 s run ended within 1.5 s")
    t0 = time.monotonic()
    st = await call(session, "status", {"run": victim["run_id"]})
    check(st["status"] == "running" and time.monotonic() - t0 < 5, f"after a cancelled wait: {st}")
    stopped = await call(session, "cancel", {"run": victim["run_id"], "wait_seconds": 30})
    check(stopped["status"] == "killed", f"cancel: {stopped}")
    again = await call(session, "cancel", {"run": victim["run_id"]})
    check(again["status"] == "killed" and "already ended" in again.get("note", ""), f"{again}")
    seen["victim"] = {"run_id": victim["run_id"]}

    # status of many, list, a bad request
    ids = [seen[k]["run_id"] for k in ("first", "second", "long", "slow", "victim")]
    many = await call(session, "status", {"runs": ids})
    statuses = [r["status"] for r in many["runs"]]
    check(statuses == ["succeeded"] * 4 + ["killed"], f"status: {many}")
    listed = await call(session, "list", {"limit": 10})
    # newest first by run id (which begins with the second it was made in)
    listed_ids = [r["run_id"] for r in listed["runs"]]
    check(sorted(listed_ids) == sorted(ids), f"list: {listed}")
    check(listed_ids == sorted(listed_ids, reverse=True), f"list order: {listed}")
    killed = await call(session, "list", {"status": "killed"})
    check([r["run_id"] for r in killed["runs"]] == [ids[4]], f"list killed: {killed}")
    err = await tool_error(session, "status", {"run": "20991231-000000-ffffff"})
    check("unknown run id" in err, f"bad run: {err}")
    err = await tool_error(session, "spawn", {"repo": os.path.join(repo, "missing"), "task": "x"})
    check(err.startswith("codex-spawn: "), f"bad repo: {err}")
    seen["list"] = listed
    return seen


async def main():
    env = os.environ
    server = StdioServerParameters(
        command=env["CODEX_MCP"],
        args=["--progress-interval", "1s"],
        env={k: env[k] for k in ("CODEX_HOME", "CODEX_BIN", "CODEX_RUNS_DIR", "HOME", "PATH")},
        cwd=env["HOME"],
    )
    async with stdio_client(server) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            check(init.server_info.name == "codex-mcp", f"server: {init.server_info}")
            with anyio.fail_after(300):
                seen = await lifecycle(session, env)
    print(json.dumps(seen), flush=True)


def failure(e):
    """The Failed inside `e` (task groups wrap it in exception groups), if any."""
    if isinstance(e, Failed):
        return e
    for inner in getattr(e, "exceptions", ()):
        found = failure(inner)
        if found:
            return found
    return None


if __name__ == "__main__":
    try:
        anyio.run(main)
    except BaseException as e:  # noqa: BLE001 - one line for a failed check, else the trace
        f = failure(e)
        if f is None:
            raise
        print(f"client.py: {f}", file=sys.stderr, flush=True)
        sys.exit(1)
