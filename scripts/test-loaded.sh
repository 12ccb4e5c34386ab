#!/usr/bin/env bash
# The whole suite on a busy machine: two CPU burners keep both cores
# saturated while scripts/test.sh runs, and are stopped (by pid) however the
# run ends. CI may share its cores; a test that only passes on a quiet
# machine is a bug (give it a generous deadline; timings belong in bench/).
#
#   bash scripts/test-loaded.sh [burners]     default: one burner per core
set -uo pipefail
cd "$(dirname "$0")/.."
burners=${1:-$(nproc)}
pids=()
stop_burners() { [ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null; wait "${pids[@]}" 2>/dev/null; pids=(); }
trap stop_burners EXIT INT TERM
for _ in $(seq "$burners"); do
  node -e 'for (;;) {}' &
  pids+=($!)
done
echo "── $burners CPU burner(s) running: ${pids[*]}" >&2
bash scripts/test.sh
