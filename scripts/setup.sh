#!/usr/bin/env bash
# Installs what this repository needs on a fresh Debian machine with Node 20
# and npm. Safe to run again: every step checks first.
#
#   scripts/setup.sh            pnpm + workspace dependencies + build
#   scripts/setup.sh --tests    also the Debian packages the test suite uses
set -euo pipefail
cd "$(dirname "$0")/.."

PNPM_VERSION=10.34.9
APT_PACKAGES=(lua5.4 liblua5.4-dev luarocks lua-socket openssh-server chromium util-linux tmux openssl)
# Optional interpreters: the suite runs the conformance kit on them when present.
APT_OPTIONAL=(lua5.1 lua5.3 luajit)

log() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

want_tests=0
for arg in "$@"; do
  case "$arg" in
    --tests) want_tests=1 ;;
    *) die "unknown option '$arg' (use --tests)" ;;
  esac
done

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null) || die "Node.js is not installed; install Node 20 or newer"
[ "$node_major" -ge 20 ] || die "Node $node_major is too old; Node 20 or newer is required"

missing_apt() {
  local out=()
  for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || out+=("$p"); done
  echo "${out[@]:-}"
}

if [ "$want_tests" = 1 ]; then
  missing=$(missing_apt "${APT_PACKAGES[@]}" "${APT_OPTIONAL[@]}")
  if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ]; then
      log "installing Debian packages: $missing"
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq
      # shellcheck disable=SC2086
      apt-get install -y -qq --no-install-recommends $missing >/dev/null
    else
      die "missing Debian packages: $missing — run: sudo apt-get install -y $missing"
    fi
  fi
fi

if ! command -v pnpm >/dev/null || [ "$(pnpm --version 2>/dev/null)" != "$PNPM_VERSION" ]; then
  log "installing pnpm $PNPM_VERSION with npm"
  if [ "$(id -u)" = 0 ] || [ -w "$(npm prefix -g)/lib" ]; then
    npm install -g --silent "pnpm@$PNPM_VERSION" >/dev/null 2>&1 || die "npm could not install pnpm@$PNPM_VERSION"
  else
    npm install -g --silent --prefix "$HOME/.local" "pnpm@$PNPM_VERSION" >/dev/null 2>&1 || die "npm could not install pnpm"
    export PATH="$HOME/.local/bin:$PATH"
  fi
fi

log "installing workspace dependencies"
if [ -n "${CI:-}" ]; then pnpm install --frozen-lockfile --reporter=silent; else pnpm install --reporter=silent; fi

log "building packages"
pnpm -r --filter './packages/*' build >/dev/null
