#!/usr/bin/env bash
# The README's second command: install everything the tests need, then run
# the whole suite — lint, typecheck, unit/integration tests from source, the
# built packages, and the published tarballs. Ends with "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --tests || exit 1

report=$(mktemp -d)
trap 'rm -rf "$report"' EXIT
extra_passed=0
extra_failed=0
step() {
  local name=$1; shift
  echo "── $name" >&2
  if "$@"; then extra_passed=$((extra_passed + 1)); else echo "✗ $name failed" >&2; extra_failed=$((extra_failed + 1)); fi
}

step lint pnpm exec biome check .
step typecheck pnpm exec tsc -p tsconfig.json --noEmit
step "lua sources in sync" node scripts/embed-lua.mjs --check
step "API reference builds from TSDoc (every export documented)" pnpm exec typedoc
step "lua54.wasm is what its recipe builds" bash packages/backend-wasm/engine/build.sh --check

# Tests write into temp directories only: the checkout must end as it began.
checkout_before=$(git status --porcelain 2>/dev/null)
checkout_unchanged() {
  local after
  after=$(git status --porcelain 2>/dev/null)
  [ "$after" = "$checkout_before" ] && return 0
  echo "files the run changed in the checkout:" >&2
  diff <(echo "$checkout_before") <(echo "$after") >&2
  return 1
}

started_ms=$(node -p 'Date.now()')
echo "── tests" >&2
pnpm exec vitest run --reporter=default --reporter=json --outputFile.json="$report/vitest.json"
vitest_rc=$?
echo "── built packages and tarballs" >&2
pnpm exec vitest run --config vitest.dist.config.ts --reporter=default --reporter=json --outputFile.json="$report/dist.json"
dist_rc=$?

step "nothing left behind" node scripts/leak-oracle.mjs "$started_ms"
step "the checkout is as it was" checkout_unchanged

node scripts/summarize.mjs "$report/vitest.json" "$report/dist.json" "$extra_passed" "$extra_failed" "$vitest_rc" "$dist_rc"
