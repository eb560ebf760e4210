#!/usr/bin/env bash
# scripts/bench.sh [--json] [--quick] [--processes N]: one side-by-side table for this machine,
# every figure measured in this run. Builds what it needs (release, in
# ~/.cache/toolhost/target-bench, or TOOLHOST_BENCH_TARGET_DIR), then measures
#   - in process (crates/toolhost/benches/side_by_side.rs): the bare wasmtime
#     floor, Host::invoke, Host::call, a cache hit, a 5,000-call run_batch, and
#     fresh vs warm vs bare for each example language; the call paths and the
#     batch in N processes (default 7), each figure the median over them,
#     since one process's address layout moves a path's figures;
#   - as processes (scripts/bench/processes.py): `toolhost serve` over HTTP,
#     `toolhost run` whole process, and chuk-tool-processor (from PyPI, in a
#     venv under ~/.cache/toolhost/tools/chuk-venv) on the same batch;
# and prints a markdown table with the ratios and issue 15's goals (met / not
# met) on stdout; progress goes to stderr. --json prints the raw figures
# instead; --quick runs a tenth of the in-process calls in one process (a
# smoke run); --processes N sets the number of processes.
# Not part of scripts/test.sh: it takes minutes and its figures are the point.
source "$(dirname "$0")/env.sh"
cd "$ROOT"

JSON=0 QUICK=0 PROCESSES=
while [ $# -gt 0 ]; do
  a=$1; shift
  case "$a" in
    --json) JSON=1 ;;
    --quick) QUICK=1 ;;
    --processes)
      PROCESSES=${1:-}; shift || true
      [[ "$PROCESSES" =~ ^[1-9][0-9]*$ ]] || { echo "bench.sh: --processes needs a count (try --help)" >&2; exit 2; } ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench.sh: unknown argument $a (try --help)" >&2; exit 2 ;;
  esac
done
[ -n "$PROCESSES" ] || { PROCESSES=7; [ "$QUICK" = 1 ] && PROCESSES=1; }

# Release builds keep their own target dir: one feature set, wasmtime compiled once.
export CARGO_TARGET_DIR="${TOOLHOST_BENCH_TARGET_DIR:-$HOME/.cache/toolhost/target-bench}"
CHUK_VENV="$HOME/.cache/toolhost/tools/chuk-venv"
CACHE_ROOT="${TOOLHOST_BENCH_CACHE:-$HOME/.cache/toolhost/bench}"
export TOOLHOST_BENCH_CACHE="$CACHE_ROOT"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/toolhost-bench.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

# The executable cargo reports for target NAME of KIND (bench | bin) in its JSON messages.
artifact() {
  python3 -c '
import json, sys
name, kind = sys.argv[1], sys.argv[2]
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == name \
            and kind in m["target"]["kind"] and m.get("executable"):
        print(m["executable"])' "$1" "$2" | tail -n 1
}

ensure_guests() {
  ensure_rust_target
  if [ ! -f build/fixtures/hostile.wasm ] || ! ls build/plugins/*.wasm >/dev/null 2>&1; then
    step "building the guest plugins (scripts/build-plugins.sh)"
    scripts/build-plugins.sh
  fi
}

# True when executable $1 was built from this checkout: its debug info names
# this checkout's directory.
built_here() {
  python3 -c 'import mmap, sys
with open(sys.argv[1], "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
    sys.exit(0 if m.find(sys.argv[2].encode() + b"\0") >= 0 else 1)' "$1" "$ROOT"
}

# build NAME KIND DEST CARGO-ARGS…: runs cargo and copies the executable of
# target NAME to DEST. Checkouts of this repository that share the target dir
# produce artifacts of the same names, so another one may build in between:
# the copy must come from this checkout, else cargo runs again.
build() {
  local name=$1 kind=$2 dest=$3 exe attempt
  shift 3
  for attempt in 1 2 3; do
    if exe="$(cargo "$@" --message-format=json-render-diagnostics | artifact "$name" "$kind")" && [ -n "$exe" ]; then
      cp "$exe" "$dest"
      built_here "$dest" && return 0
      echo "bench.sh: $exe comes from another checkout sharing $CARGO_TARGET_DIR; building again" >&2
    else
      echo "bench.sh: cargo failed (attempt $attempt of 3)" >&2
    fi
  done
  exit 1
}

# What the measured executables are built from: the code, not the docs.
MEASURED=(crates sdk plugins tests wit Cargo.toml Cargo.lock)

# A key for the executables of clean measured files (their committed hashes,
# rustc and this checkout's path, which the bench reads its guests from), or
# nothing when they have uncommitted or untracked changes.
clean_key() {
  [ -z "$(git status --porcelain -- "${MEASURED[@]}")" ] || return 0
  { git ls-tree HEAD -- "${MEASURED[@]}"; rustc -V; echo "$ROOT"; } | sha256sum | cut -c1-24
}

build_host() {
  local key kept
  key="$(clean_key)"
  kept="$CACHE_ROOT/bin/$key"
  BENCH_BIN="$WORK/side_by_side" TOOLHOST_BIN="$WORK/toolhost"
  # Other checkouts sharing the target dir make cargo rebuild often: executables
  # already built from this very tree are reused.
  if [ -n "$key" ] && [ -x "$kept/side_by_side" ] && [ -x "$kept/toolhost" ]; then
    step "reusing the executables built from these sources ($kept)"
    BENCH_BIN="$kept/side_by_side" TOOLHOST_BIN="$kept/toolhost"
    return
  fi
  step "building the side_by_side bench (release, $CARGO_TARGET_DIR)"
  build side_by_side bench "$BENCH_BIN" \
    bench --locked -p toolhost -p toolhost-serve -p toolhost-cli --bench side_by_side --no-run
  step "building the toolhost binary (release, $CARGO_TARGET_DIR)"
  build toolhost bin "$TOOLHOST_BIN" build --locked --release -p toolhost-cli
  if [ -n "$key" ]; then
    rm -rf "$CACHE_ROOT/bin" && mkdir -p "$kept"   # one tree's executables at a time (~0.5 GB)
    cp "$BENCH_BIN" "$TOOLHOST_BIN" "$kept/"
  fi
}

ensure_chuk() {
  if ! "$CHUK_VENV/bin/python" -c 'import chuk_tool_processor' >/dev/null 2>&1; then
    step "installing chuk-tool-processor from PyPI into $CHUK_VENV"
    python3 -m venv "$CHUK_VENV"
    "$CHUK_VENV/bin/pip" install --quiet --disable-pip-version-check chuk-tool-processor
  fi
}

machine_facts() {
  local dirty=""
  # Uncommitted changes to what is measured (not to docs).
  [ -z "$(git status --porcelain -- "${MEASURED[@]}" scripts)" ] || dirty="+uncommitted"
  python3 -c 'import json, sys
keys = ("commit", "nproc", "kernel", "date", "rustc", "load_start", "load_end")
print(json.dumps(dict(zip(keys, sys.argv[1:]))))' \
    "$(git rev-parse --short HEAD)$dirty" "$(nproc)" "$(uname -sr)" "$(date -u '+%Y-%m-%d %H:%M UTC')" \
    "$(rustc --version | cut -d' ' -f1-2)" "$LOAD_START" "$(cut -d' ' -f1-3 /proc/loadavg)"
}

ensure_guests
build_host
ensure_chuk
LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"
if python3 -c "import os, sys; sys.exit(os.getloadavg()[0] <= os.cpu_count() / 2)"; then
  echo "bench.sh: load average $LOAD_START on $(nproc) cores: other processes will skew the figures" \
    "(verdicts taken under load are marked)" >&2
fi

step "measuring in process: bare wasmtime, Host::invoke, Host::call, cache hit, run_batch, languages"
quick=(); [ "$QUICK" = 1 ] && quick=(--quick)
"$BENCH_BIN" "${quick[@]}" >"$WORK/side-1.json"
for i in $(seq 2 "$PROCESSES"); do
  step "measuring the call paths and the batch again, process $i of $PROCESSES"
  "$BENCH_BIN" "${quick[@]}" --no-languages >"$WORK/side-$i.json"
done
python3 scripts/bench/merge.py $(seq -f "$WORK/side-%g.json" 1 "$PROCESSES") >"$WORK/side.json"

step "measuring processes: toolhost serve, toolhost run, chuk-tool-processor"
rounds=3; [ "$QUICK" = 1 ] && rounds=1
python3 scripts/bench/processes.py --bin "$TOOLHOST_BIN" --fixture build/fixtures/hostile.wasm \
  --cache-dir "$CACHE_ROOT/host" --chuk-python "$CHUK_VENV/bin/python" --rounds "$rounds" >"$WORK/processes.json"

machine_facts >"$WORK/machine.json"
json=(); [ "$JSON" = 1 ] && json=(--json)
python3 scripts/bench/report.py "$WORK/side.json" "$WORK/processes.json" "$WORK/machine.json" "${json[@]}"
