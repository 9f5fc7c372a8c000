#!/usr/bin/env bash
# File transfer benchmark: 256 MiB between two Chromium instances on two network
# hosts (scripts/two-hosts.sh), clean link and with 5 % random UDP loss, for
# (a) the peerlink page, (b) a minimal hand-written RTCDataChannel page
# (bench/files/raw.html, the ceiling) and (c) PeerJS 1.5.5 with its own
# PeerServer (npm `peer`), in one run; then the receiver's peak Wasm memory and
# JS heap during a 1 GiB peerlink transfer. Prints a table and writes it to
# bench/files/latest.md. Figures, not a test: it fails only when a variant
# could not transfer at all.
#
#   scripts/bench-files.sh                      (make bench runs it)
#   BENCH_RUNS=5 scripts/bench-files.sh         runs per variant and condition (default 3)
#   BENCH_SIZE_MIB=64 BENCH_MEMORY_MIB=0 scripts/bench-files.sh   quick look
#   BENCH_PROFILE_S=8 scripts/bench-files.sh    + CPU profiles of sender and receiver
#   BENCH_SKIP_BUILD=1 scripts/bench-files.sh   use the existing dist/ and release server
#   BENCH_ALT_DIR=DIR BENCH_VARIANTS=peerlink,peerlink-alt,raw scripts/bench-files.sh
#                                               compare a second build of the page (served at /alt/)
# More knobs (variants, conditions, loss %) at the top of bench/files/run.mjs.
#
# Builds what it needs first: the page (`trunk build --release`, what `make
# dist` runs, but into a private temporary directory, as bench-call.sh does:
# concurrent `make dist` runs break each other) and `cargo build --release -p
# peerlink-server`; node deps in bench/files (npm ci from the committed lock
# file, only when it changed; no browser download). Cleanup: run.mjs stops the
# servers and browsers it started and removes its nftables table and test
# files; whatever is left in the hosts dies with scripts/two-hosts.sh's
# namespaces; the temporary page directory is removed on exit.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="$ROOT/bench/files"
NAME=bench-files
cd "$ROOT"
# shellcheck source=lib/bench.sh
. "$ROOT/scripts/lib/bench.sh"
bench_prepare
command -v nft >/dev/null || { echo "bench-files: nft missing (apt-get install nftables)" >&2; exit 1; }

# For CPU profiles, a copy of the page whose Wasm keeps its function names
# (wasm-bindgen keeps the name section, wasm-opt -g keeps it through -Oz; Trunk's
# build drops it), served under /named/ with the same loader as dist's
# index.html. Built right after Trunk's cargo build, from the same wasm.
if [[ "${BENCH_PROFILE_S:-0}" != 0 ]]; then
  log "building the named copy of the page for CPU profiles (/named/)"
  cargo build --release --target wasm32-unknown-unknown --features app -p peerlink
  mkdir -p "$static/named"
  wasm-bindgen --target web --no-typescript --out-dir "$static/named" --out-name peerlink \
    "$ROOT/target/wasm32-unknown-unknown/release/peerlink.wasm"
  wasm-opt -Oz -g "$static/named/peerlink_bg.wasm" -o "$static/named/peerlink_bg.wasm"
  sed -E -e 's# integrity="[^"]*"##g' \
    -e 's#/peerlink-[0-9a-f]+_bg\.wasm#/named/peerlink_bg.wasm#g' \
    -e 's#/peerlink-[0-9a-f]+\.js#/named/peerlink.js#g' \
    "$static/index.html" >"$static/named/index.html"
fi

# Investigating: BENCH_ALT_DIR=DIR (a second build of the page, e.g. another
# profile, its index.html loading its files relative to /alt/) is served under
# /alt/ as the variant "peerlink-alt" (add it to BENCH_VARIANTS).
if [[ -n "${BENCH_ALT_DIR:-}" ]]; then
  cp -R "$BENCH_ALT_DIR" "$static/alt"
  export BENCH_ALT_PAGE=/alt/
fi

# One origin for all three pages: the peerlink page, raw.html and peerjs.html
# (with the PeerJS client build it loads).
cp "$BENCH/raw.html" "$BENCH/peerjs.html" "$static/"
cp "$BENCH/node_modules/peerjs/dist/peerjs.min.js" "$static/peerjs.min.js"

status=0
"$ROOT/scripts/two-hosts.sh" env \
  PEERLINK_SERVER_BIN="$SERVER_BIN" \
  BENCH_STATIC="$static" \
  BENCH_COMMIT="$commit" \
  node "$BENCH/run.mjs" || status=$?
exit "$status"
