#!/usr/bin/env bash
# The README's first command: install, build, and run a Lua program through
# the CLI on the embedded default backend (WebAssembly; no native Lua needed).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
program=${1:-examples/lua/gc_content.lua}
echo "\$ bioxen-luavm run $program" >&2
exec node packages/cli/dist/bin.js run --backend wasm "$program"
