#!/usr/bin/env bash
# Instructions per call that observability adds, counted by callgrind (exact,
# unlike wall time on a shared machine): the call_overhead bench makes N calls
# (every policy on, cache miss, fresh instance) with metrics and in-flight
# tracking off, on (default, no subscriber), and on with a JSON log subscriber
# at info recording every span. Per-call cost = (I(N2) - I(N1)) / (N2 - N1),
# so start-up is subtracted.
source "$(dirname "$0")/env.sh"
cd "$ROOT"
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 1; }
cargo bench -p toolhost --bench call_overhead --no-run >/dev/null 2>&1
BIN=$(ls -t "$CARGO_TARGET_DIR"/release/deps/call_overhead-* | grep -v '\.d$' | head -1)
"$BIN" --bench observe-count on 1 >/dev/null   # fills the compile cache outside valgrind
N1=${N1:-50}; N2=${N2:-250}
count() { valgrind --tool=callgrind --callgrind-out-file=/dev/null "$BIN" --bench observe-count "$1" "$2" 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'; }
declare -A per
for mode in off on traced; do
  a=$(count "$mode" "$N1"); b=$(count "$mode" "$N2")
  per[$mode]=$(( (b - a) / (N2 - N1) ))
  echo "$mode: ${per[$mode]} instructions/call"
done
awk -v off="${per[off]}" -v on="${per[on]}" -v tr="${per[traced]}" 'BEGIN {
  printf "metrics + tracking, no subscriber: %.3fx (+%d instr/call)\n", on/off, on-off
  printf "+ JSON log subscriber at info (7 spans): %.3fx vs off (+%d instr/call)\n", tr/off, tr-off }'
