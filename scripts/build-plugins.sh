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
#   build/fixtures/legacy-text-0.1.wasm   plugins/rust/text as of commit 86406b4, the last one
#                       on toolhost:plugin@0.1.0 (sources taken with `git archive`; skipped
#                       when the clone lacks that commit, e.g. a shallow clone)
#
# Environment:
#   TOOLHOST_GUEST_TARGET   cargo target dir for guest builds
#                           (default: $HOME/.cache/toolhost/guest-target)
#
# Guests build with the workspace's `guest` profile (opt-level s, LTO, stripped); rustc emits
# components directly for wasm32-wasip2, so no extra tooling is needed.
set -euo pipefail

usage() {
    sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'
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

# A 0.1 plugin built from an old commit's sources: the host must keep listing and calling
# plugins built against the frozen contract (wit/v0.1). Built in its own tiny workspace
# (the old root manifest lists members the archive does not hold) and its own target dir
# (its artifact has the same name as today's plugin-text).
legacy_commit=86406b4
legacy_dest="$fixtures_dir/legacy-text-0.1.wasm"
legacy_src="$CARGO_TARGET_DIR/legacy-$legacy_commit/src"
legacy_target="$CARGO_TARGET_DIR/legacy-$legacy_commit/target"
legacy=0
if git -C "$root" cat-file -e "$legacy_commit^{commit}" 2>/dev/null; then
    legacy=1
else
    legacy_skip="commit $legacy_commit is not in this clone (shallow?); fetch it to build the 0.1 fixture"
fi

# Extracts the old sources once (a commit never changes) and writes the workspace manifest:
# the old [workspace.package], the workspace dependencies the two crates use, the guest profile.
prepare_legacy() {
    [[ -f "$legacy_src/.complete" ]] && return 0
    rm -rf "$legacy_src"
    mkdir -p "$legacy_src"
    git -C "$root" archive "$legacy_commit" wit sdk/rust plugins/rust/text Cargo.toml Cargo.lock |
        tar -x -C "$legacy_src" || return 1
    mv "$legacy_src/Cargo.toml" "$legacy_src/Cargo.toml.orig"
    awk '
        /^\[/ { section = $0 }
        section == "[workspace.package]" || section == "[profile.guest]" ||
        section == "[profile.release]" { print; next }
        section == "[workspace.dependencies]" {
            if ($0 == section) { print; next }
            if ($1 ~ /^(wit-bindgen|serde|serde_json|schemars|serde_path_to_error)$/) print
        }
    ' "$legacy_src/Cargo.toml.orig" >"$legacy_src/Cargo.toml.tail" || return 1
    {
        echo "# Written by scripts/build-plugins.sh: a standalone workspace for the $legacy_commit sources."
        echo '[workspace]'
        echo 'resolver = "3"'
        echo 'members = ["sdk/rust", "plugins/rust/text"]'
        echo
        cat "$legacy_src/Cargo.toml.tail"
    } >"$legacy_src/Cargo.toml"
    rm -f "$legacy_src/Cargo.toml.tail"
    touch "$legacy_src/.complete"
}

# Builds the fixture with the old Cargo.lock's versions, from crates already downloaded (the
# workspace build above fetched them), else from the registry.
build_legacy() {
    prepare_legacy || return 1
    local args=(build --quiet --manifest-path "$legacy_src/Cargo.toml" -p plugin-text
        --target "$target" --profile "$profile")
    CARGO_TARGET_DIR="$legacy_target" cargo "${args[@]}" --offline ||
        CARGO_TARGET_DIR="$legacy_target" cargo "${args[@]}" || return 1
    local artifact="$legacy_target/$target/$profile/plugin_text.wasm"
    [[ -f "$artifact" ]] || { echo "no $artifact"; return 1; }
    # It must really be a 0.1 component (checked when a WIT printer is at hand).
    local jco="$HOME/.cache/toolhost/tools/jco/node_modules/.bin/jco" wit=""
    if command -v wasm-tools >/dev/null; then
        wit="$(wasm-tools component wit "$artifact")" || return 1
    elif [[ -x "$jco" ]] && command -v node >/dev/null; then
        wit="$("$jco" wit "$artifact")" || return 1
    fi
    if [[ -n "$wit" ]] && ! { grep -q '^ *import toolhost:plugin/host@0\.1\.0;' <<<"$wit" &&
        grep -q '^ *export toolhost:plugin/tool@0\.1\.0;' <<<"$wit"; }; then
        echo "$artifact does not import toolhost:plugin/host@0.1.0 and export toolhost:plugin/tool@0.1.0:"
        grep -E '^ *(import|export) ' <<<"$wit"
        return 1
    fi
    mkdir -p "$fixtures_dir"
    cp "$artifact" "$legacy_dest"
}

total=$((${#packages[@]} + legacy))
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
if [[ $legacy -eq 1 ]]; then
    printf '[%d/%d] building fixture legacy-text-0.1 (toolhost:plugin@0.1.0, commit %s) ... ' \
        "$total" "$total" "$legacy_commit"
    log="$(mktemp)"
    t0=$(now_ms)
    if build_legacy >"$log" 2>&1; then
        t1=$(now_ms)
        bytes=$(stat -c %s "$legacy_dest")
        total_bytes=$((total_bytes + bytes))
        kb=$(((bytes + 1023) / 1024))
        echo "ok (${kb} KB, $(awk -v ms="$((t1 - t0))" 'BEGIN { printf "%.1f", ms / 1000 }') s)"
        summary+=("$(printf '  %-28s %7d KB' "${legacy_dest#"$root"/}" "$kb")")
        [[ -s "$log" ]] && sed 's/^/    /' "$log"
    else
        echo "FAILED"
        sed 's/^/    /' "$log" >&2
        failed=$((failed + 1))
    fi
    rm -f "$log"
else
    echo "skipped fixture legacy-text-0.1: $legacy_skip"
fi
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
