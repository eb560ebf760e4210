"""toolhost against the official Python MCP SDK client (PyPI `mcp`, pinned in tests/mcp/run.sh).

Runs the same scenario over stdio and streamable HTTP, in both connection modes the SDK has
(`legacy`: the initialize handshake; `auto`: probes `server/discover`, 2026-07-28):

- list tools (schemas, annotations), call one, get a tool error (isError with a retry verdict),
  an unknown tool (JSON-RPC error);
- progress notifications (0, 50, 100) and log notifications;
- cancel a long call: the guest is interrupted and its bulkhead slot freed at once
  (a second call of the same single-slot tool is admitted right away);
- hot reload: a plugin dropped into the folder reaches the client as
  `notifications/tools/list_changed` (legacy sessions) and in `tools/list`;
- `[policy] confirm_destructive`: the host asks the client to confirm the destructive
  `files.purge` (plugin `confirm`) before it runs, in both eras;
- contract 0.2 from a plugin: prompts (list, get with arguments), resources (list, read text and
  blob, templates, an update notification after subscribing: `resources/subscribe` on legacy
  sessions, `subscriptions/listen` on 2026-07-28), argument completion, elicitation and sampling
  answered by the client's callbacks (server-to-client requests on legacy sessions, multi-round
  `input_required` results on 2026-07-28), and tool titles/annotations.
- tasks: the long-running `jobs.crunch` (example plugin `longtask`) run as a task, polled to
  completion and a second one cancelled, in the 2025-11-25 shape (`task` param, `tasks/get`,
  `tasks/result`, `tasks/list`, `tasks/cancel`) and the 2026-07-28 extension
  (`io.modelcontextprotocol/tasks`: the server answers `resultType: "task"`, the client polls
  `tasks/get` through a `ClientExtension` claim); hostile ids (unknown, cancelled twice,
  expired TTL) are JSON-RPC errors; a task's tool asks the user mid-task (`jobs.publish`);
- OAuth: a server with `[serve.oauth]` (the test issuer's JWKS file); the client connects with
  a bearer JWT whose scopes filter tools/list and refuse other calls, and without one is refused;
- durable tasks: the task scenarios once more against a server with Redis configured (a
  `redis-server` on a loopback port) and a `toolhost worker` process that runs them.

Usage: python_client.py --bin target/debug/toolhost --fixtures build/fixtures --plugins build/plugins
Exit status 0 when every check passes; each check prints one line.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import warnings
from typing import Any, Literal

import anyio
import mcp
import mcp_types
import mcp_types._v2025_11_25 as v2025
from mcp.client.extension import ClaimContext, ClientExtension, ResultClaim
from mcp.shared.exceptions import MCPDeprecationWarning

# Legacy sessions use what 2026-07-28 deprecates (resources/subscribe, logging/setLevel) on purpose.
warnings.filterwarnings("ignore", category=MCPDeprecationWarning)
from mcp.client.stdio import StdioServerParameters
from pydantic import Field

CONFIG = """
[serve]
list_ttl_ms = 45000

[policy]
confirm_destructive = true

[bulkheads.tools.test_slow]
max_concurrent = 1
max_queue_depth = 0
acquisition_timeout_ms = 0
"""

passed = 0


def check(cond: bool, what: str) -> None:
    global passed
    if not cond:
        print(f"FAIL {what}", flush=True)
        raise SystemExit(1)
    passed += 1
    print(f"ok   {what}", flush=True)


def text_of(result) -> str:
    return " ".join(getattr(c, "text", "") or "" for c in result.content)


async def on_elicit(context, params):
    import mcp_types as types

    props = sorted((getattr(params, "requested_schema", None) or {}).get("properties", {}))
    if props == ["confirm"]:  # the host's confirmation before a destructive tool
        return types.ElicitResult(action="accept", content={"confirm": True})
    if props == ["note", "publish"]:  # jobs.publish, asking from inside a task
        return types.ElicitResult(action="accept", content={"publish": True, "note": "from the client"})
    return types.ElicitResult(action="accept", content={"username": "ada", "email": "ada@example.com", "fields": ",".join(props)})


async def on_sample(context, params):
    import mcp_types as types

    asked = " ".join(getattr(m.content, "text", "") for m in params.messages)
    return types.CreateMessageResult(
        role="assistant", content=types.TextContent(type="text", text=f"sampled({asked})"), model="test-model"
    )


async def offers(client, tag: str, modern: bool, hooks: list) -> None:
    """Contract 0.2 from the conformance plugin: prompts, resources, completion, elicitation, sampling."""
    prompts = {p.name for p in (await client.list_prompts()).prompts}
    check({"test_simple_prompt", "test_prompt_with_arguments"} <= prompts, f"{tag} prompts/list")
    got = await client.get_prompt("test_prompt_with_arguments", {"arg1": "alpha", "arg2": "beta"})
    text = " ".join(getattr(m.content, "text", "") for m in got.messages)
    check("alpha" in text and "beta" in text, f"{tag} prompts/get fills in the arguments ({text!r})")
    resources = {str(r.uri) for r in (await client.list_resources()).resources}
    check({"test://static-text", "test://static-binary"} <= resources, f"{tag} resources/list")
    r = await client.read_resource("test://static-text")
    check(bool(getattr(r.contents[0], "text", "")), f"{tag} resources/read text")
    r = await client.read_resource("test://static-binary")
    check(bool(getattr(r.contents[0], "blob", "")), f"{tag} resources/read blob")
    templates = [t.uri_template for t in (await client.list_resource_templates()).resource_templates]
    check("test://template/{id}/data" in templates, f"{tag} resources/templates/list")
    r = await client.read_resource("test://template/42/data")
    check('"42"' in getattr(r.contents[0], "text", ""), f"{tag} a template URI reads with its variable")
    c = await client.complete({"type": "ref/prompt", "name": "test_prompt_with_arguments"}, {"name": "arg1", "value": "pa"})
    check(c.completion.values and all(v.startswith("pa") for v in c.completion.values), f"{tag} completion/complete ({c.completion.values})")
    await resource_update(client, tag, modern, hooks)
    r = await client.call_tool("test_elicitation", {"message": "Who are you?"})
    check(not r.is_error and "ada" in text_of(r), f"{tag} elicitation answered by the client ({text_of(r)[:80]!r})")
    r = await client.call_tool("files.purge", {"suffix": ".tmp", "dry_run": True})
    check(not r.is_error and "a.tmp" in text_of(r), f"{tag} confirm_destructive: the destructive tool runs once the client confirms ({text_of(r)[:60]!r})")
    r = await client.call_tool("test_sampling", {"prompt": "hello model"})
    check(not r.is_error and "sampled(" in text_of(r), f"{tag} sampling answered by the client ({text_of(r)[:80]!r})")


async def resource_update(client, tag: str, modern: bool, hooks: list) -> None:
    """Subscribe to test://watched-resource, call the tool that changes it, expect the notification."""
    uri = "test://watched-resource"
    if modern:
        async with client.listen(resource_subscriptions=[uri]) as sub:
            await client.call_tool("test_update_watched_resource", {})
            event = None
            with anyio.move_on_after(5):
                async for event in sub:
                    break
        check(event is not None and uri in str(event), f"{tag} subscriptions/listen delivers the resource update ({event})")
        return
    updated = asyncio.Event()
    hooks.append(updated.set)  # the session's message handler calls it on notifications/resources/updated
    await client.subscribe_resource(uri)
    await client.call_tool("test_update_watched_resource", {})
    try:
        await asyncio.wait_for(updated.wait(), 5)
        got = True
    except asyncio.TimeoutError:
        got = False
    check(got, f"{tag} notifications/resources/updated after resources/subscribe")
    await client.unsubscribe_resource(uri)


async def scenario(target, label: str, mode: str, plugins: Path, extra_plugin: Path) -> None:
    logs: list = []
    changed = asyncio.Event()

    async def on_log(params) -> None:
        logs.append(params)

    async def on_message(message) -> None:
        root = getattr(message, "root", message)
        if getattr(root, "method", None) == "notifications/tools/list_changed":
            changed.set()
        if getattr(root, "method", None) == "notifications/resources/updated":
            for f in list(hooks):
                f()

    hooks: list = []

    async with mcp.Client(
        target,
        mode=mode,
        read_timeout_seconds=30,
        logging_callback=on_log,
        message_handler=on_message,
        log_level="debug" if mode != "legacy" else None,
        elicitation_callback=on_elicit,
        sampling_callback=on_sample,
    ) as client:
        tag = f"[{label}/{mode} {client.protocol_version}]"
        await offers(client, tag, str(client.protocol_version) >= "2026-07-28", hooks)
        listed = await client.list_tools()
        tools = listed.tools
        if str(client.protocol_version) >= "2026-07-28":
            check(listed.ttl_ms == 45000 and listed.cache_scope == "private",
                  f"{tag} tools/list is private to the tenant, fresh for serve.list_ttl_ms ({listed.ttl_ms} ms)")
        names = {t.name for t in tools}
        check({"test_simple_text", "test_error_handling", "test_slow"} <= names, f"{tag} tools/list has the fixture tools")
        simple = next(t for t in tools if t.name == "test_simple_text")
        check(simple.input_schema.get("type") == "object", f"{tag} input schemas are objects")
        check(bool(simple.annotations and simple.annotations.idempotent_hint), f"{tag} idempotentHint annotation")

        r = await client.call_tool("test_simple_text", {})
        check(not r.is_error and text_of(r) == "This is a simple text response for testing.", f"{tag} call returns text")

        r = await client.call_tool("test_error_handling", {})
        t = text_of(r)
        check(r.is_error is True and "intentionally" in t and "retryable: no" in t, f"{tag} tool error is isError with a verdict")

        try:
            await client.call_tool("no_such_tool", {})
            check(False, f"{tag} unknown tool is a JSON-RPC error")
        except mcp.MCPError as e:
            check("unknown tool" in str(e), f"{tag} unknown tool is a JSON-RPC error ({e})")

        progress: list[float] = []

        async def on_progress(p, total, message) -> None:
            progress.append(p)

        await client.call_tool("test_tool_with_progress", {}, progress_callback=on_progress)
        check(progress == [0, 50, 100], f"{tag} progress 0/50/100 (got {progress})")

        if mode == "legacy":
            await client.set_logging_level("debug")
        await client.call_tool("test_tool_with_logging", {})
        await asyncio.sleep(0.2)
        messages = [str(getattr(p, "data", "")) for p in logs]
        check(sum("Tool" in m for m in messages) >= 3, f"{tag} three log notifications (got {messages})")

        # Cancel a long call: the guest stops and its single bulkhead slot is free at once.
        started = time.monotonic()
        with anyio.move_on_after(0.5):
            await client.call_tool("test_slow", {"ms": 20000})
        check(time.monotonic() - started < 5, f"{tag} cancelled call returns control")
        admitted = None
        for _ in range(50):
            r = await client.call_tool("test_slow", {"ms": 10})
            if not r.is_error:
                admitted = time.monotonic() - started
                break
            check("BULKHEAD_FULL" in text_of(r), f"{tag} while the slot is taken the refusal says so")
            await asyncio.sleep(0.1)
        check(admitted is not None and admitted < 5, f"{tag} cancelling freed the slot (admitted after {admitted and round(admitted, 2)} s)")

        if mode == "legacy":
            await hot_reload_legacy(client, tag, plugins / extra_plugin.name, extra_plugin, changed)
        else:
            await hot_reload_listening(client, tag, plugins / extra_plugin.name, extra_plugin)


async def relist_until(client, want_text: bool) -> set:
    names: set = set()
    for _ in range(100):
        names = {t.name for t in (await client.list_tools()).tools}
        if any(n.startswith("text.") for n in names) == want_text:
            break
        await asyncio.sleep(0.1)
    return names


async def hot_reload_legacy(client, tag: str, dest: Path, extra_plugin: Path, changed: asyncio.Event) -> None:
    """Hot reload: a new plugin appears in tools/list and as notifications/tools/list_changed."""
    shutil.copy(extra_plugin, dest)
    try:
        new_names = await relist_until(client, True)
        check(any(n.startswith("text.") for n in new_names), f"{tag} hot-reloaded plugin is listed")
        try:
            await asyncio.wait_for(changed.wait(), 5)
            got = True
        except asyncio.TimeoutError:
            got = False
        check(got, f"{tag} notifications/tools/list_changed received")
    finally:
        dest.unlink()
        await relist_until(client, False)


async def hot_reload_listening(client, tag: str, dest: Path, extra_plugin: Path) -> None:
    """2026-07-28: the list is cached for its ttlMs; a client listening for tool-list changes
    hears of the hot reload, its cached list is dropped, and the next tools/list shows the plugin."""
    before = {t.name for t in (await client.list_tools()).tools}
    async with client.listen(tools_list_changed=True) as sub:
        shutil.copy(extra_plugin, dest)
        try:
            event = None
            with anyio.move_on_after(10):
                async for event in sub:
                    break
            check(event is not None, f"{tag} subscriptions/listen delivers tools list_changed ({event})")
            names = {t.name for t in (await client.list_tools()).tools}
            check(any(n.startswith("text.") for n in names) and not any(n.startswith("text.") for n in before),
                  f"{tag} hot-reloaded plugin is listed at once, despite the list's ttlMs")
        finally:
            dest.unlink()
    await relist_until_bypassing(client)


async def relist_until_bypassing(client) -> None:
    for _ in range(100):
        if not any(t.name.startswith("text.") for t in (await client.list_tools(cache_mode="bypass")).tools):
            return
        await asyncio.sleep(0.1)


TASKS_EXTENSION = "io.modelcontextprotocol/tasks"
PROTOCOL_VERSION_META = "io.modelcontextprotocol/protocolVersion"
CRUNCH = {"items": 6, "step_ms": 100}
SLOW_CRUNCH = {"items": 200, "step_ms": 200}
PUBLISH = {"items": 2, "step_ms": 50}


async def raw(session, method: str, params: dict) -> dict:
    """One request exactly as given (the session still stamps its era's `_meta`)."""
    data: dict[str, Any] = {"method": method, "params": dict(params)}
    opts: dict[str, Any] = {}
    session._stamp(data, opts)  # noqa: SLF001 - the SDK has no public raw-request call
    if method.startswith("tasks/") and PROTOCOL_VERSION_META in data["params"].get("_meta", {}):
        # 2026-07-28 HTTP names the task in `Mcp-Name` (SEP-2663); the SDK knows only core methods.
        opts.setdefault("headers", {})["Mcp-Name"] = params["taskId"]
    return await session._dispatcher.send_raw_request(method, data.get("params"), opts)  # noqa: SLF001


async def raw_error(session, method: str, params: dict) -> str | None:
    try:
        await raw(session, method, params)
    except mcp.MCPError as e:
        return str(e)
    return None


class TaskHandle(mcp_types.Result):
    """A 2026-07-28 `CreateTaskResult` (`resultType: "task"`)."""

    result_type: Literal["task"] = Field(alias="resultType")
    task_id: str = Field(alias="taskId")
    status: str
    poll_interval_ms: int | None = Field(default=None, alias="pollIntervalMs")
    ttl_ms: int | None = Field(default=None, alias="ttlMs")


class Tasks(ClientExtension):
    """The client side of the tasks extension: polls `tasks/get` until the task ends."""

    identifier = TASKS_EXTENSION

    def __init__(self) -> None:
        self.resolved: list[str] = []

    def claims(self):
        return [ResultClaim(result_type="task", model=TaskHandle, resolve=self.resolve)]

    async def resolve(self, handle: TaskHandle, ctx: ClaimContext) -> mcp_types.CallToolResult:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            got = await raw(ctx.session, "tasks/get", {"taskId": handle.task_id})
            if got["status"] == "completed":
                self.resolved.append(handle.task_id)
                return mcp_types.CallToolResult.model_validate(got["result"])
            if got["status"] in ("failed", "cancelled"):
                raise RuntimeError(f"task {handle.task_id} ended {got['status']}: {got.get('error')}")
            await asyncio.sleep((handle.poll_interval_ms or 500) / 1000)
        raise TimeoutError(f"task {handle.task_id} did not finish")


async def poll_legacy(session, task_id: str) -> dict:
    for _ in range(200):
        got = await raw(session, "tasks/get", {"taskId": task_id})
        v2025.GetTaskResult.model_validate(got)
        if got["status"] not in ("working", "input_required"):
            return got
        await asyncio.sleep(got.get("pollInterval", 500) / 1000)
    raise TimeoutError(task_id)


async def legacy_tasks(client, tag: str, durable: bool = False) -> None:
    """2025-11-25: `task` on tools/call, then tasks/get, tasks/result, tasks/list, tasks/cancel.
    `durable`: tasks are runs in Redis, whose TTL is the run's (`redis.run_ttl_secs`)."""
    caps = client.server_capabilities
    call_cap = caps.tasks and caps.tasks.requests and caps.tasks.requests.tools and caps.tasks.requests.tools.call
    check(call_cap is not None and caps.tasks.cancel is not None and caps.tasks.list is not None,
          f"{tag} tasks capability (requests.tools.call, cancel, list)")
    tools = {t.name: t for t in (await client.list_tools()).tools}
    crunch = tools.get("jobs.crunch")
    support = crunch and crunch.execution and crunch.execution.task_support
    check(support == "optional", f"{tag} long-running jobs.crunch lists execution.taskSupport=optional (got {support})")
    check(tools["test_simple_text"].execution is None, f"{tag} other tools list no taskSupport")
    s = client.session
    created = await raw(s, "tools/call", {"name": "jobs.crunch", "arguments": CRUNCH, "task": {"ttl": 60000}})
    v2025.CreateTaskResult.model_validate(created)
    task = created["task"]
    check(task["status"] == "working" and task["ttl"] == (DURABLE_TTL_MS if durable else 60000)
          and task["pollInterval"] > 0,
          f"{tag} tools/call with task answers CreateTaskResult at once ({task['status']}, ttl {task['ttl']})")
    done = await poll_legacy(s, task["taskId"])
    check(done["status"] == "completed", f"{tag} tasks/get polled to completed")
    result = await raw(s, "tasks/result", {"taskId": task["taskId"]})
    r = mcp_types.CallToolResult.model_validate(result)
    check(not r.is_error and r.structured_content and r.structured_content["items"] == 6,
          f"{tag} tasks/result is the tool's CallToolResult ({r.structured_content})")
    related = (result.get("_meta") or {}).get("io.modelcontextprotocol/related-task", {})
    check(related.get("taskId") == task["taskId"], f"{tag} tasks/result carries the related-task _meta")
    listed = await raw(s, "tasks/list", {})
    v2025.ListTasksResult.model_validate(listed)
    check(task["taskId"] in {t["taskId"] for t in listed["tasks"]}, f"{tag} tasks/list has the task")
    err = await raw_error(s, "tasks/cancel", {"taskId": task["taskId"]})
    check(err is not None and "already finished" in err, f"{tag} cancel after completion is an error ({err})")

    # A task whose tool asks the user: the question reaches the client as elicitation/create
    # (while it waits in tasks/result, as the spec has clients do for `input_required`).
    asking = (await raw(s, "tools/call", {"name": "jobs.publish", "arguments": PUBLISH, "task": {}}))["task"]
    r = mcp_types.CallToolResult.model_validate(await raw(s, "tasks/result", {"taskId": asking["taskId"]}))
    check((await poll_legacy(s, asking["taskId"]))["status"] == "completed", f"{tag} an asking task completes")
    check(r.structured_content and r.structured_content["published"] is True
          and r.structured_content["note"] == "from the client",
          f"{tag} the task's question was answered through elicitation/create ({r.structured_content})")

    second = (await raw(s, "tools/call", {"name": "jobs.crunch", "arguments": SLOW_CRUNCH, "task": {}}))["task"]
    await asyncio.sleep(0.3)
    cancelled = await raw(s, "tasks/cancel", {"taskId": second["taskId"]})
    v2025.CancelTaskResult.model_validate(cancelled)
    check(cancelled["status"] == "cancelled", f"{tag} tasks/cancel stops a running task")
    check((await poll_legacy(s, second["taskId"]))["status"] == "cancelled", f"{tag} it stays cancelled")
    err = await raw_error(s, "tasks/result", {"taskId": second["taskId"]})
    check(err is not None and "cancelled" in err, f"{tag} tasks/result of a cancelled task is an error")
    err = await raw_error(s, "tasks/get", {"taskId": "0" * 32})
    check(err is not None and "unknown task" in err, f"{tag} unknown task id is an error ({err})")
    err = await raw_error(s, "tools/call", {"name": "test_simple_text", "arguments": {}, "task": {}})
    check(err is not None and "does not run as a task" in err, f"{tag} a task for a tool without taskSupport is refused")
    if durable:
        return
    short = (await raw(s, "tools/call", {"name": "jobs.crunch", "arguments": {"items": 1, "step_ms": 0},
                                          "task": {"ttl": 1000}}))["task"]
    check(short["ttl"] == 1000, f"{tag} requested TTL granted")
    await asyncio.sleep(1.5)
    err = await raw_error(s, "tasks/get", {"taskId": short["taskId"]})
    check(err is not None and "unknown task" in err, f"{tag} a task past its TTL is gone ({err})")


async def modern_tasks(target, label: str) -> None:
    """2026-07-28: the tasks extension; the server makes long-running calls tasks."""
    ext = Tasks()
    async with mcp.Client(target, mode="auto", read_timeout_seconds=30, extensions=[ext]) as client:
        tag = f"[{label}/auto+tasks {client.protocol_version}]"
        check(client.protocol_version == "2026-07-28", f"{tag} negotiated 2026-07-28")
        exts = client.server_capabilities.extensions or {}
        check(TASKS_EXTENSION in exts, f"{tag} server declares the tasks extension")
        r = await client.call_tool("jobs.crunch", CRUNCH)
        check(len(ext.resolved) == 1 and not r.is_error and r.structured_content["items"] == 6,
              f"{tag} jobs.crunch became a task, polled to completion ({r.structured_content})")
        r = await client.call_tool("test_simple_text", {})
        check(len(ext.resolved) == 1 and not r.is_error, f"{tag} other tools still answer directly")
        s = client.session
        handle = await s.call_tool("jobs.crunch", SLOW_CRUNCH, allow_claimed=True)
        check(isinstance(handle, TaskHandle) and handle.status == "working", f"{tag} second task created")
        await asyncio.sleep(0.3)
        ack = await raw(s, "tasks/cancel", {"taskId": handle.task_id})
        check(ack.get("resultType", "complete") == "complete", f"{tag} tasks/cancel acknowledged")
        got = await raw(s, "tasks/get", {"taskId": handle.task_id})
        check(got["status"] == "cancelled", f"{tag} tasks/get shows it cancelled")
        err = await raw_error(s, "tasks/cancel", {"taskId": handle.task_id})
        check(err is not None, f"{tag} cancelling it again is an error ({err})")
        err = await raw_error(s, "tasks/get", {"taskId": "f" * 32})
        check(err is not None and "unknown task" in err, f"{tag} unknown task id is an error ({err})")
        await modern_task_input(s, tag)
    # A client without the extension calls the same tool the plain way.
    async with mcp.Client(target, mode="auto", read_timeout_seconds=30) as client:
        r = await client.call_tool("jobs.crunch", {"items": 2, "step_ms": 10})
        check(not r.is_error and r.structured_content["items"] == 2,
              f"[{label}/auto {client.protocol_version}] without tasks the long-running call answers directly")


async def modern_task_input(s, tag: str) -> None:
    """2026-07-28: a task asks (`input_required` + `inputRequests`), the client answers with tasks/update."""
    handle = await s.call_tool("jobs.publish", PUBLISH, allow_claimed=True)
    check(isinstance(handle, TaskHandle), f"{tag} jobs.publish became a task")
    got = {}
    for _ in range(100):
        got = await raw(s, "tasks/get", {"taskId": handle.task_id})
        if got["status"] != "working":
            break
        await asyncio.sleep(0.1)
    requests = got.get("inputRequests") or {}
    check(got["status"] == "input_required" and len(requests) == 1,
          f"{tag} the asking task is input_required with its question ({got['status']})")
    key, question = next(iter(requests.items()))
    schema = question["params"]["requestedSchema"]["properties"]
    check(question["method"] == "elicitation/create" and "publish" in schema,
          f"{tag} inputRequests holds the tool's form ({question['method']})")
    err = await raw_error(s, "tasks/update", {"taskId": handle.task_id, "inputResponses": {key: {"action": 7}}})
    check(err is not None and "inputResponses" in err, f"{tag} a malformed answer is refused ({err})")
    err = await raw_error(s, "tasks/update", {"taskId": "e" * 32, "inputResponses": {}})
    check(err is not None and "unknown task" in err, f"{tag} answering an unknown task is an error ({err})")
    answer = {"action": "accept", "content": {"publish": True, "note": "ship it"}}
    ack = await raw(s, "tasks/update", {"taskId": handle.task_id, "inputResponses": {key: answer}})
    check(ack.get("resultType", "complete") == "complete", f"{tag} tasks/update acknowledged")
    for _ in range(100):
        got = await raw(s, "tasks/get", {"taskId": handle.task_id})
        if got["status"] not in ("working", "input_required"):
            break
        await asyncio.sleep(0.1)
    value = (got.get("result") or {}).get("structuredContent") or {}
    check(got["status"] == "completed" and value.get("published") is True and value.get("note") == "ship it",
          f"{tag} the answer reached the tool and the task completed ({value})")


async def task_scenarios(target, label: str, durable: bool = False) -> None:
    async with mcp.Client(target, mode="legacy", read_timeout_seconds=30, elicitation_callback=on_elicit) as client:
        await legacy_tasks(client, f"[{label}/legacy {client.protocol_version}]", durable)
    await modern_tasks(target, label)


DURABLE_TTL_MS = 600_000


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


OAUTH_KEYS = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "oauth"
OAUTH_ISSUER = "https://login.example.test"


def access_token(scope: str) -> str:
    """An RS256 access token of the test issuer (tests/fixtures/oauth), tenant `default`."""
    import jwt

    claims = {"iss": OAUTH_ISSUER, "aud": "toolhost", "sub": "ada", "tenant": "default",
              "exp": int(time.time()) + 600, "scope": scope}
    return jwt.encode(claims, (OAUTH_KEYS / "rsa-1.pem").read_text(), algorithm="RS256", headers={"kid": "rsa-1"})


async def oauth_scenarios(binary: str, plugins: Path, work: Path) -> None:
    """An OAuth resource server: the client sends a bearer JWT; its scopes filter tools/list and
    refuse other tools' calls (HTTP 403); without a token the connection is refused (401)."""
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    config = work / "oauth.toml"
    config.write_text(f'[serve.oauth]\nissuer = "{OAUTH_ISSUER}"\naudience = "toolhost"\n'
                      f'jwks_file = "{OAUTH_KEYS / "jwks-1.json"}"\n')
    proc, base = start_http(binary, plugins, config, work / "cache")
    token = access_token("tools:list tools:call:test_simple_text")
    try:
        for mode in ("legacy", "auto"):
            http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"})
            transport = streamable_http_client(base + "/mcp", http_client=http)
            async with mcp.Client(transport, mode=mode, read_timeout_seconds=30) as client:
                tag = f"[http+oauth/{mode} {client.protocol_version}]"
                names = {t.name for t in (await client.list_tools()).tools}
                check(names == {"test_simple_text"}, f"{tag} tools/list shows only what the token may call ({names})")
                r = await client.call_tool("test_simple_text", {})
                check(not r.is_error, f"{tag} a call the token's scope covers runs")
                refused = None
                try:
                    await client.call_tool("test_error_handling", {})
                except Exception as e:  # noqa: BLE001 - the SDK surfaces the HTTP 403 as its own error type
                    refused = e
                check(refused is not None, f"{tag} a call outside the token's scopes is refused ({type(refused).__name__})")
        refused = None
        try:
            async with mcp.Client(base + "/mcp", mode="legacy", read_timeout_seconds=10) as client:
                await client.list_tools()
        except BaseException as e:  # noqa: BLE001 - an ExceptionGroup from the transport's task group
            refused = e
        check(refused is not None, "[http+oauth] a client without a token is refused")
    finally:
        proc.terminate()
        proc.wait(timeout=20)


async def durable_task_scenarios(binary: str, plugins: Path, work: Path) -> None:
    """The task scenarios again with Redis configured: tasks are durable runs executed by a
    `toolhost worker` process, answered by the serving replica from Redis."""
    redis_server = shutil.which("redis-server")
    if redis_server is None:
        raise SystemExit("FAIL redis-server is not installed (scripts/env.sh installs it)")
    port = free_port()
    redis = subprocess.Popen([redis_server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                              "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    config = work / "durable.toml"
    config.write_text(f'redis_url = "redis://127.0.0.1:{port}"\n[redis]\nrun_ttl_secs = {DURABLE_TTL_MS // 1000}\n'
                      + CONFIG)
    cache = work / "cache"
    worker = subprocess.Popen([binary, "worker", "--plugins", str(plugins), "--config", str(config),
                               "--cache-dir", str(cache)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proc, base = start_http(binary, plugins, config, cache)
    try:
        await task_scenarios(base + "/mcp", "http+redis", durable=True)
    finally:
        for p in (proc, worker, redis):
            p.terminate()
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


def start_http(binary: str, plugins: Path, config: Path, cache: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [binary, "serve", "--http", "127.0.0.1:0", "--plugins", str(plugins), "--config", str(config),
         "--cache-dir", str(cache)],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        m = re.search(r"listening on (http://\S+)", line)
        if m:
            # Keep draining stderr so the server never blocks on a full pipe.
            threading_drain(proc)
            return proc, m.group(1)
    proc.kill()
    raise SystemExit("FAIL the HTTP server did not start")


def threading_drain(proc: subprocess.Popen) -> None:
    import threading

    def drain() -> None:
        for line in proc.stderr:
            sys.stderr.write("  [server] " + line)

    threading.Thread(target=drain, daemon=True).start()


def wait_idle(base: str) -> int:
    with urllib.request.urlopen(base + "/readyz", timeout=5) as r:
        import json

        return json.load(r)["inflight"]


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--fixtures", required=True, type=Path)
    ap.add_argument("--plugins", required=True, type=Path, help="built example plugins (text.wasm is hot-added)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="toolhost-mcp-"))
    plugins = work / "plugins"
    plugins.mkdir()
    shutil.copy(args.fixtures / "conformance.wasm", plugins / "conformance.wasm")
    for f in ("longtask.wasm", "longtask.toml"):
        shutil.copy(args.plugins / f, plugins / f)
    # The destructive `files.purge` (plugin confirm) behind [policy] confirm_destructive, over a
    # read-only directory with one matching file (dry runs only).
    data = work / "data"
    data.mkdir()
    (data / "a.tmp").write_text("x")
    shutil.copy(args.plugins / "confirm.wasm", plugins / "confirm.wasm")
    grant = f'[config]\ndir = "/data"\n[grants]\ndirs = [{{ host = "{data}", guest = "/data" }}]\n'
    (plugins / "confirm.toml").write_text(grant)
    config = work / "toolhost.toml"
    config.write_text(CONFIG)
    cache = work / "cache"
    extra = args.plugins / "text.wasm"
    stdio = StdioServerParameters(
        command=args.bin,
        args=["serve", "--stdio", "--plugins", str(plugins), "--config", str(config), "--cache-dir", str(cache)],
        env={**os.environ, "TOOLHOST_LOG": os.environ.get("DBG_LOG", "warn")},
    )
    for mode in ("legacy", "auto"):
        await scenario(stdio, "stdio", mode, plugins, extra)
    await task_scenarios(stdio, "stdio")
    proc, base = start_http(args.bin, plugins, config, cache)
    try:
        for mode in ("legacy", "auto"):
            await scenario(base + "/mcp", "http", mode, plugins, extra)
        await task_scenarios(base + "/mcp", "http")
        check(wait_idle(base) == 0, "[http] no call left running after the scenarios")
    finally:
        proc.terminate()
        try:
            rc = proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = None
        check(rc == 0, f"[http] SIGTERM stops the server cleanly (exit {rc})")
    try:
        await durable_task_scenarios(args.bin, plugins, work)
        await oauth_scenarios(args.bin, plugins, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"python MCP client: {passed} checks passed", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
