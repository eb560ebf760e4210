"""chuk-tool-processor on the batch scripts/bench.sh gives toolhost: N calls of
an echo tool that returns its arguments, through `ToolProcessor.process` with
the library's defaults, in one process. Prints one JSON line: the version, the
calls that succeeded and the in-process batch time (no interpreter start, no
imports, no registration).

Usage: python chuk_echo.py N
"""

import asyncio
import json
import sys
import time

from chuk_tool_processor import ToolProcessor, __version__, create_registry


class Echo:
    """The echo tool: returns its arguments (toolhost's fixture tool `ok`)."""

    async def execute(self, **arguments):
        return arguments


async def run(n):
    """Registers the tool, processes one batch of `n` calls, checks every result."""
    registry = create_registry()
    await registry.register_tool(Echo, name="ok")
    calls = [{"tool": "ok", "arguments": {"n": i}} for i in range(n)]
    async with ToolProcessor(registry=registry) as processor:
        start = time.perf_counter()
        results = await processor.process(calls)
        took = time.perf_counter() - start
    ok = sum(1 for r in results if r.error is None and isinstance(r.result, dict) and "n" in r.result)
    return {"version": __version__, "calls": n, "ok": ok, "batch_s": took}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(run(int(sys.argv[1])))))
