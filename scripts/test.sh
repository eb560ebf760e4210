#!/usr/bin/env bash
# Runs every test on a fresh machine: installs what is missing, builds the
# guest plugins from source, builds the host once (dev profile, optimised
# dependencies), runs the whole suite, then real MCP clients against the
# server (tests/mcp/run.sh: Python SDK, conformance suite).
source "$(dirname "$0")/env.sh"
cd "$ROOT"

ensure_rust_target
ensure_test_packages
step "building guest plugins"
scripts/build-plugins.sh

step "checking the layers: no import circle over 3 files, no library function over 80 lines"
python3 scripts/check-layers.py
# The executor stays independent of the sandbox, the backend and the front doors.
if cargo tree --locked -p toolhost-exec -e normal,dev --prefix none | grep -E '^(wasmtime|redis|axum|rmcp) '; then
  echo "toolhost-exec depends on a crate it must not name (above)" >&2; exit 1
fi

step "scripts/bench's merging and report arithmetic (python unittest)"
python3 scripts/bench/test_bench.py

step "building every crate, its tests and the toolhost binary (dev profile, one feature set)"
# The workspace's default members (crates/* and tests) always build together:
# one feature set, so dependencies compile once.
cargo build --locked --tests --bins

step "native tests of the C plugin's JSON reader (gcc with ASan/UBSan/LSan)"
plugins/c/checksum/tests/run.sh

step "the executor on its own: toolhost-exec built and tested without the rest of the workspace"
cargo test --locked -p toolhost-exec

step "installing the real upstream MCP servers the tests start (server-everything, the Python mcp SDK)"
crates/upstream/tests/setup.sh

step "running the host, SDK and integration tests"
cargo test --locked
cargo test --locked -p toolhost-sdk

step "the example Rust plugins' own tests (natively, against the SDK's fake host)"
plugin_packages=()
for manifest in plugins/rust/*/Cargo.toml; do
    plugin_packages+=(-p "$(sed -n 's/^name[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p' "$manifest" | head -n 1)")
done
cargo test --locked "${plugin_packages[@]}"

step "OTLP trace export (feature otel) to a collector on 127.0.0.1"
cargo test --locked --features toolhost/otel --lib otel

step "running real MCP clients against the server (Python SDK, conformance suite)"
tests/mcp/run.sh

step "scaffolding, building and calling a plugin in every language (toolhost new)"
tests/new/run.sh
