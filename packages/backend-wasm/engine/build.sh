#!/usr/bin/env bash
# Builds lua54.wasm from Debian's Lua 5.4.7 sources, interrupt.patch and
# luavm.c, reproducibly (same bytes on every run), and writes it with
# SHA256SUMS next to this script. Lua's sources never enter the repository:
# they are fetched with `apt-get source` into a temporary directory.
#
#   bash packages/backend-wasm/engine/build.sh           build and write lua54.wasm + SHA256SUMS
#   bash packages/backend-wasm/engine/build.sh --check   rebuild in a temp dir, compare with SHA256SUMS
#
# Installs what it lacks (needs root, as on the project's machines): the
# `emscripten` package and a deb-src entry for Debian's source packages.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LUA_PKG=lua5.4
LUA_DEB_VERSION=5.4.7-1
LUA_ORIG=lua5.4_5.4.7.orig.tar.gz
LUA_ORIG_SHA256=9fbf5e28ef86c69858f6d3d34eccc32e911c1a28b4120ff3e84aaa70cfbf1e30
EMCC_VERSION=3.1.6
# A fixed build directory: paths end up in nothing (-ffile-prefix-map), but
# a fixed one rules out any path-dependent difference.
BUILD=/tmp/luavm-lua54-build
SRC_FILES="lapi lcode lctype ldebug ldo ldump lfunc lgc llex lmem lobject lopcodes lparser lstate
 lstring ltable ltm lundump lvm lzio lauxlib lbaselib lcorolib ldblib liolib lmathlib loadlib
 loslib lstrlib ltablib lutf8lib linit"

# Pinned compiler flags (README.md says why each is there).
CFLAGS=(-O3 -std=gnu99 -DLUA_COMPAT_5_3 -fwasm-exceptions "-ffile-prefix-map=$BUILD=/luavm")
LDFLAGS=(
  -sSTANDALONE_WASM=1 --no-entry
  -sSUPPORT_LONGJMP=wasm
  -sWASM_BIGINT=1
  -sALLOW_MEMORY_GROWTH=1 -sINITIAL_MEMORY=2097152 -sMAXIMUM_MEMORY=2147483648
  -sTOTAL_STACK=1048576
  -sALLOW_TABLE_GROWTH=1
  -sFILESYSTEM=0
)

mode=build
case "${1:-}" in
  --check) mode=check ;;
  "") ;;
  *) echo "usage: build.sh [--check]" >&2; exit 2 ;;
esac

log() { echo "build.sh: $*" >&2; }

ensure_tools() {
  local need_update=0
  # (No `| head` on emcc: it fails on a closed pipe, and pipefail would see it.)
  if ! command -v emcc >/dev/null || [[ "$(emcc --version 2>/dev/null)" != *" $EMCC_VERSION "* ]]; then
    need_update=1
  fi
  if ! command -v patch >/dev/null; then need_update=1; fi
  if [[ "$(apt-cache showsrc "$LUA_PKG" 2>/dev/null)" != *$'\n'"Version: $LUA_DEB_VERSION"$'\n'* ]]; then
    if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ && ! grep -qs '^deb-src' /etc/apt/sources.list; then
      log "adding a deb-src entry for Debian's source packages"
      cat > /etc/apt/sources.list.d/luavm-deb-src.sources <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    fi
    need_update=1
  fi
  if [ "$need_update" = 1 ]; then
    log "apt-get update"
    apt-get update -q >&2
  fi
  if ! command -v emcc >/dev/null || ! command -v patch >/dev/null; then
    log "installing emscripten (Debian's; about 800 MB)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends emscripten patch >&2
  fi
  local v
  v="$(emcc --version 2>/dev/null)"
  v="${v%%$'\n'*}"
  case "$v" in
    *" $EMCC_VERSION "*) ;;
    *) log "expected emcc $EMCC_VERSION, found: $v"; exit 1 ;;
  esac
}

fetch_sources() {
  local dl="$1"
  (cd "$dl" && apt-get source --download-only "$LUA_PKG=$LUA_DEB_VERSION" >&2 2>/dev/null) ||
    (cd "$dl" && apt-get source --download-only "$LUA_PKG=$LUA_DEB_VERSION" >&2)
  echo "$LUA_ORIG_SHA256  $dl/$LUA_ORIG" | sha256sum -c --quiet - >&2 ||
    { log "checksum mismatch for $LUA_ORIG"; exit 1; }
}

compile() {
  local dl="$1" out="$2"
  rm -rf "$BUILD"
  mkdir -p "$BUILD"
  tar -xzf "$dl/$LUA_ORIG" -C "$BUILD" --strip-components=1
  (cd "$BUILD" && patch -p1 --quiet --no-backup-if-mismatch < "$HERE/interrupt.patch")
  cp "$HERE/luavm.c" "$BUILD/src/luavm.c"
  local exports
  exports="$(grep -v '^#' "$HERE/exports.txt" | grep . | sed 's/^/_/' | paste -sd, -)"
  local files=()
  for f in $SRC_FILES luavm; do files+=("src/$f.c"); done
  # Debian's node-acorn is where emcc's JS tools look for it.
  (cd "$BUILD" && NODE_PATH=/usr/share/nodejs SOURCE_DATE_EPOCH=0 \
    emcc "${CFLAGS[@]}" "${LDFLAGS[@]}" "-sEXPORTED_FUNCTIONS=$exports" \
    --js-library "$HERE/imports.js" -o "$BUILD/lua54.wasm" "${files[@]}" >&2)
  cp "$BUILD/lua54.wasm" "$out/lua54.wasm"
  rm -rf "$BUILD"
}

ensure_tools
dl="$(mktemp -d)"
trap 'rm -rf "$dl"' EXIT
# One build at a time in the fixed build dir (the lock is on this script: nothing left behind).
exec 9<"${BASH_SOURCE[0]}"
flock 9
trap 'rm -rf "$dl" "$BUILD"' EXIT
fetch_sources "$dl"
if [ "$mode" = build ]; then
  compile "$dl" "$HERE"
  (cd "$HERE" && sha256sum lua54.wasm > SHA256SUMS)
  log "wrote lua54.wasm ($(wc -c < "$HERE/lua54.wasm") bytes) and SHA256SUMS"
else
  mkdir "$dl/out"
  compile "$dl" "$dl/out"
  if (cd "$dl/out" && sha256sum -c --quiet "$HERE/SHA256SUMS" >&2); then
    log "lua54.wasm matches SHA256SUMS"
  else
    log "lua54.wasm does not match SHA256SUMS: the committed artifact is not what the recipe builds"
    log "toolchain here (SHA256SUMS was made with emscripten 3.1.6~dfsg-5, clang/lld 1:14.0.6-12, binaryen 108-1):"
    dpkg-query -W emscripten clang-14 lld-14 binaryen >&2 || true
    exit 1
  fi
fi
