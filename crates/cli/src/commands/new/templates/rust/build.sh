#!/usr/bin/env bash
# Builds build/{{name}}.wasm (a WebAssembly component) and copies the manifest beside it.
set -euo pipefail
cd "$(dirname "$0")"
rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
cargo build --release --target wasm32-wasip2
mkdir -p build
cp "${CARGO_TARGET_DIR:-target}/wasm32-wasip2/release/{{crate}}.wasm" build/{{name}}.wasm
cp {{name}}.toml build/
echo "built build/{{name}}.wasm ($(stat -c %s build/{{name}}.wasm) bytes)"
