#!/usr/bin/env bash
# Builds the plugin, then calls its tool through toolhost the way an operator would.
#   TOOLHOST=path/to/toolhost ./test.sh     (default: `toolhost` on PATH)
set -euo pipefail
cd "$(dirname "$0")"
./build.sh
out="$("${TOOLHOST:-toolhost}" call {{name}}.hello '{"name":"toolhost"}' --plugins build --json)"
echo "$out"
grep -q 'Hello, toolhost!' <<<"$out" || { echo "error: {{name}}.hello did not answer as expected" >&2; exit 1; }
echo "ok: {{name}}.hello answered"
