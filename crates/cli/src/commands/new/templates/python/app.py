"""The `{{name}}` toolhost plugin: one tool, `{{name}}.hello`.

Built with componentize-py against wit/plugin.wit (toolhost:plugin@0.2.0, world `plugin`).
Import every module you need at the top: the component has no standard library files at
run time, so a module first imported inside a call fails.
"""

import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import host
from wit_world.imports.host import LogLevel
from wit_world.imports.types import Annotations, CallContext, ErrorKind, ToolDescriptor, ToolError, ToolOutput

SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string", "description": "Who to greet"}},
    "required": ["name"],
}


def error(kind, message):
    return Err(ToolError(kind=kind, message=message, retryable=None, retry_after_ms=None, details=None))


class Tool(exports.Tool):
    def describe(self) -> list[ToolDescriptor]:
        return [
            ToolDescriptor(
                name="{{name}}.hello",
                title="Say hello",
                description="Greet someone by name.",
                input_schema=json.dumps(SCHEMA),
                output_schema=None,
                idempotent=True,
                # Hints for clients: it changes nothing, the same name gives the same greeting,
                # and it reaches nothing outside the call.
                annotations=Annotations(read_only=True, destructive=False, idempotent=True, open_world=False),
                icons=[],
                long_running=False,
            )
        ]

    def call(self, name: str, args: str, ctx: CallContext) -> ToolOutput:
        if name != "{{name}}.hello":
            raise error(ErrorKind.NOT_FOUND, f"no tool named {name}")
        try:
            who = json.loads(args).get("name", "world")
        except ValueError as e:
            raise error(ErrorKind.INVALID_INPUT, f"arguments are not JSON: {e}")
        host.log(LogLevel.DEBUG, f"call {ctx.call_id} greets {who}")
        return ToolOutput(value=json.dumps({"greeting": f"Hello, {who}!"}), content=[])
