#!/usr/bin/env bash
# Builds build/{{name}}.wasm with componentize-py (installed into a venv on first use).
set -euo pipefail
cd "$(dirname "$0")"
TOOLS="${TOOLS:-$HOME/.cache/toolhost/tools}"
venv="$TOOLS/pyguest"
if ! "$venv/bin/componentize-py" --version 2>/dev/null | grep -qx "componentize-py 0.25.1"; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "componentize-py==0.25.1"
fi
mkdir -p build
"$venv/bin/componentize-py" --quiet -d wit -w plugin componentize app -o build/{{name}}.wasm
rm -rf __pycache__
cp {{name}}.toml build/
echo "built build/{{name}}.wasm ($(stat -c %s build/{{name}}.wasm) bytes)"
