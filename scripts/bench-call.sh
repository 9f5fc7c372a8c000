#!/usr/bin/env bash
# Call setup benchmark: join → first remote video frame, the peerlink page against
# a minimal hand-written JS page (bench/call-setup/baseline.html) through the same
# peerlink-server, alternating, in one run, inside scripts/netns.sh (plus the
# baseline at peerlink's capture size, "baseline-hd"). Prints a table and a
# breakdown and writes both to bench/call-setup/latest.md. Figures, not a test: it
# fails only when too few calls could be set up at all.
#
#   scripts/bench-call.sh                 (make bench runs it)
#   BENCH_RUNS=20 scripts/bench-call.sh   runs per variant (default 15)
#   BENCH_TIMELINE=1 scripts/bench-call.sh  also every mark of the median runs
#   BENCH_SKIP_BUILD=1 scripts/bench-call.sh  use the existing dist/ and release server
#
# Builds what it needs first: the page (`trunk build --release`, what `make dist`
# runs, but into a private temporary directory) and `cargo build --release -p
# peerlink-server`; node deps in bench/call-setup (npm ci, only when the lock
# file changed; no browser download). The temporary directory (the page plus
# baseline.html, one origin) is removed on exit; the server and browser run
# inside the namespace, which ends everything left there when the benchmark ends.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="$ROOT/bench/call-setup"
NAME=bench-call
cd "$ROOT"
# shellcheck source=lib/bench.sh
. "$ROOT/scripts/lib/bench.sh"
bench_prepare
cp "$BENCH/baseline.html" "$static/baseline.html"

# In the background so this shell can pass INT/TERM/HUP on: netns.sh forwards
# TERM into the namespace, where run.mjs stops after the current run, closes
# the browser and server and writes nothing. (A background child ignores INT,
# hence TERM for all three.)
"$ROOT/scripts/netns.sh" env \
  PEERLINK_SERVER_BIN="$SERVER_BIN" \
  BENCH_STATIC="$static" \
  BENCH_COMMIT="$commit" \
  node "$BENCH/run.mjs" &
child=$!
trap 'kill -TERM "$child" 2>/dev/null || true' INT TERM HUP
while kill -0 "$child" 2>/dev/null; do
  wait "$child" || true
done
status=0
wait "$child" || status=$?
exit "$status"
