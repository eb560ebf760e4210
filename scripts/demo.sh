#!/usr/bin/env bash
# The main job on embedded defaults: build the example plugins, start the host
# on them and run sample tool calls.
source "$(dirname "$0")/env.sh"
cd "$ROOT"

ensure_rust_target
step "building guest plugins"
scripts/build-plugins.sh

step "building toolhost (the same dev build the tests use)"
cargo build --locked --tests --bins -p toolhost -p toolhost-tests
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
