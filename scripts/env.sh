# Sourced by the scripts: one place for toolchain set-up and shared paths.
# Build output lives outside the clone (reused across clones and CI runs).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/toolhost/target}"
export TOOLHOST_GUEST_TARGET="${TOOLHOST_GUEST_TARGET:-$HOME/.cache/toolhost/guest-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
mkdir -p "$CARGO_TARGET_DIR" "$TOOLHOST_GUEST_TARGET"

step() { printf '\n==> %s\n' "$*" >&2; }

ensure_rust_target() {
  if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
    step "installing the wasm32-wasip2 Rust target"
    rustup target add wasm32-wasip2
  fi
}
