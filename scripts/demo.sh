#!/usr/bin/env bash
# The main job on embedded defaults: build the example plugins, start the host
# on them and run sample tool calls.
source "$(dirname "$0")/env.sh"
cd "$ROOT"

ensure_rust_target
step "building guest plugins"
scripts/build-plugins.sh

step "building toolhost (the same dev build the tests use)"
cargo build --locked --tests --bins
TOOLHOST="$CARGO_TARGET_DIR/debug/toolhost"
PLUGINS="$ROOT/build/plugins"

show() { printf '\n$ toolhost %s\n' "$*" >&2; "$TOOLHOST" "$@" --plugins "$PLUGINS"; }

step "tools"
show list
step "sample calls"
show call text.upper '{"text":"hello, toolhost"}'
show call text.word_count '{"text":"one two three\nfour"}' --json
show call json.query '{"document":{"users":[{"name":"ada"},{"name":"linus"}]},"path":"users[1].name"}'
show call math.eval '{"expression":"2^10 + sqrt(16) * (3 - 1)"}'
show call math.convert '{"value":100,"from":"km","to":"mi"}'
show call math.random '{}'
step "a typed error (exit status 1 is expected)"
show call math.eval '{"expression":"1/0"}' --json || true
step "a batch in OpenAI tool_calls shape through the executor (one malformed call fails alone)"
printf '%s' '{"tool_calls":[
  {"id":"call_1","type":"function","function":{"name":"text.slugify","arguments":"{\"text\":\"Hello, World!\"}"}},
  {"id":"call_2","type":"function","function":{"name":"math.eval","arguments":"{\"expression\":"}},
  {"id":"call_3","type":"function","function":{"name":"json.validate","arguments":"{\"text\":\"[1,2\"}"}}]}' \
  | "$TOOLHOST" run - --plugins "$PLUGINS" --order submission --json || true

step "the same contract in Python, JavaScript and C"
show call py.stats '{"numbers":[3,1,4,1,5,9,2,6]}'
show call js.csv_parse '{"csv":"name,lang\nstats,python\ntextkit,js"}'
show call c.checksum '{"text":"hello","algorithm":"crc32"}'

step "serving: toolhost serve --http (MCP at /mcp, HTTP API at /v1), then SIGTERM"
log="$(mktemp)"
"$TOOLHOST" serve --http 127.0.0.1:0 --plugins "$PLUGINS" --no-watch 2>"$log" &
server=$!
trap 'kill $server 2>/dev/null || true; rm -f "$log"' EXIT
url=""
for _ in $(seq 1 300); do
    url="$(sed -n 's/.*listening on \(http:\/\/[^ ]*\).*/\1/p' "$log" | head -n 1)"
    [[ -n "$url" ]] && break
    sleep 0.1
done
[[ -n "$url" ]] || { cat "$log" >&2; exit 1; }
echo "server: $url" >&2
printf '\n$ curl %s/v1/calls -d ...\n' "$url" >&2
curl -s "$url/v1/calls?order=submission" -d '[{"id":"a","tool":"text.upper","arguments":{"text":"over http"}},{"id":"b","tool":"math.eval","arguments":{"expression":"6*7"}}]'
echo
printf '\n$ curl %s/mcp (MCP initialize)\n' "$url" >&2
curl -s "$url/mcp" -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' \
    -d '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"curl","version":"0"}}}' \
    | sed -n 's/^data: //p' | head -c 400
echo
kill -TERM $server
wait $server && echo "server stopped cleanly" >&2
