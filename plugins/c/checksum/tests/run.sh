#!/usr/bin/env bash
# Native tests of the C `checksum` plugin (gcc + ASan/LSan/UBSan; no wasm toolchain needed):
#   1. json_check: differential test of json.c against Python's json module.
#   2. plugin_test: the whole guest (checksum.c, json.c, generated bindings) called the way
#      the bindings call it, including truncated and corrupted arguments; LeakSanitizer
#      fails the run if a call leaks. Needs wit-bindgen ($TOOLHOST_TOOLS/witbg, installed by
#      ../../build.sh); skipped with a note when it is missing.
#
#   plugins/c/checksum/tests/run.sh [N_DOCUMENTS]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
plugin="$(cd "$here/.." && pwd)"
root="$(cd "$here/../../../.." && pwd)"
wit_bindgen="${TOOLHOST_TOOLS:-$HOME/.cache/toolhost/tools}/witbg/bin/wit-bindgen"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# shellcheck disable=SC2054 # commas inside -Wl,/-fsanitize= flags
san=(-std=c11 -O1 -g -Wall -Wextra -fsanitize=address,undefined -fno-sanitize-recover=all)

gcc "${san[@]}" -Werror -o "$tmp/json_check" "$here/json_check.c" "$plugin/json.c"
python3 "$here/diff_test.py" "$tmp/json_check" "${1:-20000}"

if [[ ! -x "$wit_bindgen" ]]; then
    echo "note: $wit_bindgen missing (run plugins/c/build.sh first): plugin_test skipped"
    exit 0
fi
"$wit_bindgen" c "$root/wit" --world plugin --out-dir "$tmp/gen" >/dev/null 2>&1
# The bindings' wasm import/export attributes mean nothing natively.
gcc "${san[@]}" -Wno-attributes -Wno-unused-parameter -Wno-maybe-uninitialized -I"$tmp/gen" -I"$plugin" -o "$tmp/plugin_test" \
    "$here/plugin_test.c" "$plugin"/*.c "$tmp/gen/plugin.c"
ASAN_OPTIONS=detect_leaks=1 "$tmp/plugin_test"
