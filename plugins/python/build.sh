#!/usr/bin/env bash
# Builds every Python plugin under plugins/python/<name>/ into a WebAssembly component with
# componentize-py, against the host contract in <repo>/wit (world `plugin`).
#
#   plugins/python/build.sh OUT_DIR
#
# Each plugin dir holds the module `app.py` (the app componentize-py wraps; it may import other
# modules from the same dir) and an optional manifest `<name>.toml`. Outputs, per plugin:
#   OUT_DIR/<name>.wasm   the component (about 20 MB: CPython plus a pre-initialized heap)
#   OUT_DIR/<name>.toml   a copy of the manifest
#
# The toolchain (componentize-py 0.25.1 in a venv at $TOOLS/pyguest) is installed on first use;
# TOOLS defaults to $HOME/.cache/toolhost/tools. A plugin whose .wasm is newer than every input
# (its sources, <repo>/wit, this script) is not rebuilt; set FORCE=1 to rebuild anyway.
# The bindings (`wit_world`, `componentize_py_types`) are generated inside componentize-py at
# build time; nothing generated is written to the source tree.
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
root="$(cd "$here/../.." && pwd)"
wit="$root/wit"
mkdir -p "$1"
out_dir="$(cd "$1" && pwd)"

componentize_py_version=0.25.1
tools="${TOOLS:-$HOME/.cache/toolhost/tools}"
venv="$tools/pyguest"
cpy="$venv/bin/componentize-py"

now_ms() { date +%s%3N; }
secs_since() { awk -v ms="$(($(now_ms) - $1))" 'BEGIN { printf "%.1f", ms / 1000 }'; }
mb() { awk -v b="$(stat -c %s "$1")" 'BEGIN { printf "%.1f", b / 1000000 }'; }

# --- toolchain ------------------------------------------------------------------------------
have_toolchain() { [[ -x "$cpy" ]] && [[ "$("$cpy" --version 2>/dev/null)" == "componentize-py $componentize_py_version" ]]; }
if ! have_toolchain; then
    mkdir -p "$tools"
    # One installer at a time (parallel builds share the tools dir).
    exec 9>"$tools/.pyguest.lock"
    flock 9
    if ! have_toolchain; then
        echo "[python] installing componentize-py $componentize_py_version into $venv" >&2
        t0=$(now_ms)
        log="$(mktemp)"
        if ! { [[ -x "$venv/bin/pip" ]] || python3 -m venv "$venv"; } >"$log" 2>&1 ||
            ! "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input \
                "componentize-py==$componentize_py_version" >>"$log" 2>&1; then
            cat "$log" >&2
            rm -f "$log"
            echo "[python] error: could not install componentize-py $componentize_py_version" >&2
            exit 1
        fi
        rm -f "$log"
        echo "[python] installed componentize-py in $(secs_since "$t0") s" >&2
    fi
    exec 9>&-
fi

# --- plugins --------------------------------------------------------------------------------
# Newest-input check: prints the first input newer than $1 (nothing when $1 is up to date).
newer_input() {
    local dest="$1" dir="$2" name="$3"
    find "$dir" "$wit" "$script" -newer "$dest" -type f \
        ! -path '*/__pycache__/*' ! -name "$name.toml" ! -name '.*' -print -quit
}

found=0
failed=0
for dir in "$here"/*/; do
    dir="${dir%/}"
    name="$(basename "$dir")"
    [[ -f "$dir/app.py" ]] || continue
    found=$((found + 1))
    dest="$out_dir/$name.wasm"
    # The manifest is copied whenever it changed; it does not need a rebuild.
    if [[ -f "$dir/$name.toml" ]] && ! cmp -s "$dir/$name.toml" "$out_dir/$name.toml"; then
        cp "$dir/$name.toml" "$out_dir/$name.toml.tmp" && mv -f "$out_dir/$name.toml.tmp" "$out_dir/$name.toml"
    fi
    if [[ -f "$dest" && -z "${FORCE:-}" && -z "$(newer_input "$dest" "$dir" "$name")" ]]; then
        echo "[python] $name ... up to date ($(mb "$dest") MB)"
        continue
    fi
    printf '[python] %s ... ' "$name"
    # Build from a copy, so componentize-py's __pycache__ stays out of the source tree and a
    # half-written component never appears under its final name (hosts may watch OUT_DIR).
    stage="$(mktemp -d)"
    cp -R "$dir"/. "$stage/"
    rm -rf "$stage/__pycache__" "$stage/$name.toml"
    tmp="$out_dir/.$name.wasm.$$.tmp"
    log="$stage/.build.log"
    t0=$(now_ms)
    if (cd "$stage" && RUST_BACKTRACE=0 RUST_LIB_BACKTRACE=0 "$cpy" --quiet -d "$wit" -w plugin \
        componentize app -p "$stage" -o "$tmp") >"$log" 2>&1 && [[ -s "$tmp" ]]; then
        mv -f "$tmp" "$dest"
        echo "ok ($(mb "$dest") MB, $(secs_since "$t0") s)"
    else
        echo "FAILED ($(secs_since "$t0") s)"
        sed 's/^/    /' "$log" >&2
        rm -f "$tmp"
        failed=$((failed + 1))
    fi
    rm -rf "$stage"
done

if [[ $found -eq 0 ]]; then
    echo "[python] error: no plugin dirs with an app.py under $here" >&2
    exit 1
fi
if [[ $failed -gt 0 ]]; then
    echo "[python] error: $failed of $found plugin(s) failed" >&2
    exit 1
fi
