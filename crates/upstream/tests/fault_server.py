"""A deliberately faulty MCP server for crates/upstream's tests (Python `mcp` SDK).

    fault_server.py [--slow-start SECONDS] [--refuse-start-if FILE]
                    [--http] [--port PORT] [--require-header NAME=VALUE]

stdio by default; with --http it serves streamable HTTP on 127.0.0.1 (PORT,
default a free one) at /mcp and prints `listening on http://127.0.0.1:PORT/mcp` on stdout.

Tools:
  echo(text)          the text back
  crash(code)         writes to stderr, then the process exits mid-call
  hang()              never answers
  cancellations()     how many hang calls the client cancelled
  pid()               the process id
  change()            adds the tool `added` and sends tools/list_changed
  env()               the process environment
  meta()              the request's `_meta`
  log(message)        sends a notifications/message (warning), then answers
  progress(steps)     reports progress `steps` times, then answers
  fail(message)       a tool error (isError: true)
  header(name)        a request header (HTTP)
"""

import argparse
import os
import socket
import sys
import time

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

server = MCPServer("fault")


@server.tool()
def echo(text: str) -> str:
    """Returns the text."""
    return text


@server.tool()
async def crash(code: int = 3) -> str:
    """Exits the process while the call is in flight."""
    print(f"crashing on purpose with code {code}", file=sys.stderr, flush=True)
    await anyio.sleep(0.2)
    os._exit(code)


CANCELLED = {"hang": 0}


@server.tool()
async def hang() -> str:
    """Never answers (counts the calls the client cancelled)."""
    try:
        await anyio.sleep(3600)
    except anyio.get_cancelled_exc_class():
        CANCELLED["hang"] += 1
        raise
    return "woke up"


@server.tool()
def cancellations() -> int:
    """How many `hang` calls were cancelled by the client."""
    return CANCELLED["hang"]


@server.tool()
def pid() -> int:
    """The server's process id."""
    return os.getpid()


def added(x: int) -> int:
    """Doubles x (added at run time)."""
    return 2 * x


@server.tool()
async def change(ctx: Context) -> str:
    """Adds the tool `added` and tells the client."""
    server.add_tool(added, name="added")
    await ctx.session.send_tool_list_changed()
    return "added"


@server.tool()
def env() -> dict[str, str]:
    """The process environment."""
    return dict(os.environ)


@server.tool()
def meta(ctx: Context) -> dict:
    """The `_meta` of this request."""
    m = ctx.request_context.meta
    if m is None:
        return {}
    d = m.model_dump(by_alias=True, exclude_none=True, mode="json") if hasattr(m, "model_dump") else dict(m)
    if "progress_token" in d:
        d["progressToken"] = d.pop("progress_token")
    return d


@server.tool()
async def log(message: str, ctx: Context) -> str:
    """Sends a log line to the client, then answers."""
    await ctx.log("warning", message, logger_name="fault")
    await anyio.sleep(0.1)
    return "logged"


@server.tool()
async def progress(steps: int, ctx: Context) -> str:
    """Reports progress `steps` times."""
    for i in range(1, steps + 1):
        await ctx.report_progress(i, steps, f"step {i}")
        await anyio.sleep(0.05)
    return "done"


@server.tool()
def fail(message: str) -> str:
    """Fails with `message`."""
    raise ToolError(message)


@server.tool()
def header(name: str, ctx: Context) -> str:
    """A request header, or an empty string."""
    return (ctx.headers or {}).get(name.lower(), "")


def require_header(app, name: str, value: str):
    """An ASGI app that answers 401 unless the request carries `name: value`."""
    want = (name.lower().encode(), value.encode())

    async def guarded(scope, receive, send):
        if scope["type"] == "http" and want not in scope.get("headers", []):
            await send({"type": "http.response.start", "status": 401, "headers": []})
            await send({"type": "http.response.body", "body": b"missing header"})
            return
        await app(scope, receive, send)

    return guarded


def serve_http(port: int, required: str | None) -> None:
    import uvicorn

    app = server.streamable_http_app()
    if required:
        name, _, value = required.partition("=")
        app = require_header(app, name, value)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    port = sock.getsockname()[1]
    print(f"listening on http://127.0.0.1:{port}/mcp", flush=True)
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    anyio.run(lambda: uvicorn.Server(config).serve(sockets=[sock]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--slow-start", type=float, default=0.0)
    parser.add_argument("--refuse-start-if", default=None)
    parser.add_argument("--http", action="store_true")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--require-header", default=None)
    args = parser.parse_args()
    if args.refuse_start_if and os.path.exists(args.refuse_start_if):
        print(f"refusing to start: {args.refuse_start_if} exists", file=sys.stderr, flush=True)
        sys.exit(5)
    time.sleep(args.slow_start)
    if args.http:
        serve_http(args.port, args.require_header)
    else:
        server.run()


if __name__ == "__main__":
    main()
