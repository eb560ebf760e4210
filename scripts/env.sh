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

# Debian packages the tests drive for real: redis-server (scale-out tests
# start their own servers on free loopback ports), tmux (`toolhost top` is
# checked on a real terminal), docker-registry (an OCI registry the plugin
# publishing tests start on a loopback port) and skopeo (the third-party OCI
# client they check interoperability with).
ensure_test_packages() {
  local missing=()
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  command -v tmux >/dev/null 2>&1 || missing+=(tmux)
  [ -x /usr/bin/docker-registry ] || missing+=(docker-registry)
  command -v skopeo >/dev/null 2>&1 || missing+=(skopeo)
  if [ ${#missing[@]} -gt 0 ]; then
    step "installing ${missing[*]} (Debian packages) for the tests"
    local sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    # The package starts a system service; the tests run their own servers.
    ($sudo service redis-server stop || true) >/dev/null 2>&1
    ($sudo service docker-registry stop || true) >/dev/null 2>&1
  fi
}
