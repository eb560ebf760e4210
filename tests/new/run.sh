#!/usr/bin/env bash
# `toolhost new` end to end: scaffold a plugin in every language, build it with
# its own build.sh, and run its own test.sh (a real `toolhost call`).
#
#   tests/new/run.sh [--bin PATH] [LANG...]     (default: every language)
source "$(dirname "$0")/../../scripts/env.sh"
cd "$ROOT"
BIN="$CARGO_TARGET_DIR/debug/toolhost"
if [[ "${1:-}" == "--bin" ]]; then BIN="$2"; shift 2; fi
langs=("$@")
[[ ${#langs[@]} -gt 0 ]] || langs=(rust python js c)
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for lang in "${langs[@]}"; do
    step "toolhost new demo_$lang --lang $lang"
    "$BIN" new "demo_$lang" --lang "$lang" --dir "$work"
    t0=$(date +%s)
    # Rust scaffolds share the guest target dir, so wit-bindgen compiles once.
    (cd "$work/demo_$lang" && CARGO_TARGET_DIR="$TOOLHOST_GUEST_TARGET" TOOLHOST="$BIN" \
        ./test.sh)
    echo "[$lang] scaffold built and answered in $(($(date +%s) - t0)) s"
done
