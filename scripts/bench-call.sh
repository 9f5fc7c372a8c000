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
cd "$ROOT"
export PATH="$ROOT/scripts/binaryen/node_modules/.bin:$HOME/.cargo/bin:$PATH"

log() { printf 'bench-call: %s\n' "$*"; }

# The page is built (or copied) into a private directory that the server then
# serves, with baseline.html added (same origin). Private, because others may
# run `make dist` meanwhile: Trunk stages in <dist>/.stage, and two builds into
# one dist/ break each other; and a rebuild during the run must not change
# what is measured.
static="$(mktemp -d "${TMPDIR:-/tmp}/peerlink-bench-call.XXXXXX")"
trap 'rm -rf "$static"' EXIT

if [[ "${BENCH_SKIP_BUILD:-}" != 1 ]]; then
  log "building the page (trunk build --release, as make dist) and peerlink-server (release)"
  "$ROOT/scripts/setup.sh" --trunk
  trunk build --release --dist "$static"
  cargo build --release -p peerlink-server
else
  [[ -f "$ROOT/dist/index.html" ]] || { echo "bench-call: dist/index.html missing (make dist)" >&2; exit 1; }
  cp -R "$ROOT/dist/." "$static/"
fi
cp "$BENCH/baseline.html" "$static/baseline.html"
SERVER_BIN="$ROOT/target/release/peerlink-server"
[[ -x "$SERVER_BIN" ]] || { echo "bench-call: $SERVER_BIN missing (cargo build --release -p peerlink-server)" >&2; exit 1; }
command -v node >/dev/null || { echo "bench-call: node missing (scripts/setup.sh --node)" >&2; exit 1; }

# npm ci unless node_modules came from this very lock file.
stamp="$BENCH/node_modules/.peerlink-lock.sha256"
sum="$(sha256sum "$BENCH/package-lock.json" | awk '{print $1}')"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$sum" ]]; then
  log "npm ci in bench/call-setup"
  (cd "$BENCH" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefer-offline --no-audit --no-fund)
  printf '%s\n' "$sum" >"$stamp"
fi

commit="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [[ -n "$(git -C "$ROOT" status --porcelain -- src www server protocol Cargo.toml Cargo.lock 2>/dev/null)" ]]; then
  commit="$commit+dirty"
fi

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
