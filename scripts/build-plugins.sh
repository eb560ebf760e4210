#!/usr/bin/env bash
# Builds every Rust plugin under plugins/rust/* and the test fixtures
# (tests/fixtures/{guest,conformance}) as WebAssembly components for wasm32-wasip2.
#
#   scripts/build-plugins.sh [--out DIR]
#
# Outputs:
#   DIR/<name>.wasm     one per plugins/rust/<dir> crate `plugin-<name>` (DIR: build/plugins)
#   DIR/<name>.toml     the example manifest plugins/rust/<dir>/<name>.toml, when present
#   DIR/<name>.wasm     plugins/{python,js,c}/<name>, via plugins/<lang>/build.sh (which
#                       installs componentize-py / componentize-js+jco / wit-bindgen+clang)
#   build/fixtures/hostile.wasm       the hostile guest (tests/fixtures/guest)
#   build/fixtures/conformance.wasm   the MCP conformance tools (tests/fixtures/conformance)
#
# Environment:
#   TOOLHOST_GUEST_TARGET   cargo target dir for guest builds
#                           (default: $HOME/.cache/toolhost/guest-target)
#
# Guests build with the workspace's `guest` profile (opt-level s, LTO, stripped); rustc emits
# components directly for wasm32-wasip2, so no extra tooling is needed.
set -euo pipefail

usage() {
    sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'
}

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out_dir="$root/build/plugins"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --out)
            [[ $# -ge 2 ]] || { echo "error: --out needs a directory" >&2; exit 2; }
            out_dir="$2"
            shift 2
            ;;
        --out=*)
            out_dir="${1#--out=}"
            shift
            ;;
        -h | --help)
            usage
            exit 0
            ;;
        *)
            echo "error: unknown argument '$1' (try --help)" >&2
            exit 2
            ;;
    esac
done
mkdir -p "$out_dir"
out_dir="$(cd "$out_dir" && pwd)"
fixtures_dir="$root/build/fixtures"

export CARGO_TARGET_DIR="${TOOLHOST_GUEST_TARGET:-$HOME/.cache/toolhost/guest-target}"
target=wasm32-wasip2
profile=guest
artifacts="$CARGO_TARGET_DIR/$target/$profile"

rustup target add "$target" >/dev/null 2>&1 || rustup target add "$target"

# Collect (package, output path, manifest) triples.
packages=()
outputs=()
manifests=()
for dir in "$root"/plugins/rust/*/; do
    dir="${dir%/}"
    [[ -f "$dir/Cargo.toml" ]] || continue
    pkg="$(sed -n 's/^name[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p' "$dir/Cargo.toml" | head -n 1)"
    if [[ -z "$pkg" ]]; then
        echo "warning: no package name in $dir/Cargo.toml; skipped" >&2
        continue
    fi
    name="${pkg#plugin-}"
    packages+=("$pkg")
    outputs+=("$out_dir/$name.wasm")
    manifests+=("$dir/$name.toml")
done

# Test fixtures: (crate dir, package, output name).
for fixture in "guest hostile-guest hostile" "conformance conformance-fixture conformance"; do
    read -r dir pkg name <<<"$fixture"
    if [[ -f "$root/tests/fixtures/$dir/Cargo.toml" ]]; then
        packages+=("$pkg")
        outputs+=("$fixtures_dir/$name.wasm")
        manifests+=("")
    fi
done

total=${#packages[@]}
if [[ $total -eq 0 ]]; then
    echo "error: nothing to build" >&2
    exit 1
fi

now_ms() { date +%s%3N; }
failed=0
total_bytes=0
summary=()
start_all=$(now_ms)
cd "$root"
for i in "${!packages[@]}"; do
    pkg="${packages[$i]}"
    dest="${outputs[$i]}"
    label="$(basename "$dest" .wasm)"
    kind="plugin"
    [[ "$dest" == "$fixtures_dir"/* ]] && kind="fixture"
    printf '[%d/%d] building %s %s ... ' "$((i + 1))" "$total" "$kind" "$label"
    log="$(mktemp)"
    t0=$(now_ms)
    if cargo build --quiet -p "$pkg" --target "$target" --profile "$profile" >"$log" 2>&1; then
        t1=$(now_ms)
        artifact="$artifacts/${pkg//-/_}.wasm"
        if [[ ! -f "$artifact" ]]; then
            echo "FAILED (no $artifact)"
            failed=$((failed + 1))
            rm -f "$log"
            continue
        fi
        mkdir -p "$(dirname "$dest")"
        cp "$artifact" "$dest"
        manifest="${manifests[$i]}"
        if [[ -n "$manifest" && -f "$manifest" ]]; then
            cp "$manifest" "$(dirname "$dest")/$label.toml"
        fi
        bytes=$(stat -c %s "$dest")
        total_bytes=$((total_bytes + bytes))
        kb=$(((bytes + 1023) / 1024))
        secs=$(awk -v ms="$((t1 - t0))" 'BEGIN { printf "%.1f", ms / 1000 }')
        echo "ok (${kb} KB, ${secs} s)"
        summary+=("$(printf '  %-28s %7d KB' "${dest#"$root"/}" "$kb")")
        # Show warnings, if any, without failing.
        if [[ -s "$log" ]]; then
            sed 's/^/    /' "$log"
        fi
    else
        echo "FAILED"
        sed 's/^/    /' "$log" >&2
        failed=$((failed + 1))
    fi
    rm -f "$log"
done
end_all=$(now_ms)

echo
echo "Summary: $((total - failed))/$total built in $(awk -v ms="$((end_all - start_all))" 'BEGIN { printf "%.1f", ms / 1000 }') s, $(((total_bytes + 1023) / 1024)) KB total (target dir: $CARGO_TARGET_DIR)"
for line in "${summary[@]}"; do
    echo "$line"
done
if [[ $failed -gt 0 ]]; then
    echo "error: $failed build(s) failed" >&2
    exit 1
fi

# Other languages: each plugins/<lang>/build.sh installs its own toolchain
# (pinned, under ~/.cache/toolhost/tools) and skips plugins that are up to date.
for lang in python js c; do
    script="$root/plugins/$lang/build.sh"
    [[ -x "$script" ]] || continue
    echo
    echo "$lang plugins:"
    "$script" "$out_dir"
done
