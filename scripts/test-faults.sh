#!/usr/bin/env bash
# Network-fault end-to-end tests (tests/e2e/faults/): two browsers on two
# network "hosts" joined by one veth (scripts/two-hosts.sh); a file transfer
# survives 5 % random UDP loss, one interrupted by cutting the link for 6 s
# resumes, and one whose link stays down until ICE fails comes back by an ICE
# restart (all byte-exact, SHA-256 computed by the test); a host that changes
# address rejoins the server and links with a peer that joined meanwhile.
#
#   scripts/test-faults.sh [PLAYWRIGHT_ARGS...]      e.g. -g "cut"
#   make test-faults FAULTS_ARGS='-g loss'           (builds first)
#
# Needs what `make test-faults` provides first: the built page (dist/, `make
# dist`; or $PEERLINK_DIST), the server binary ($PEERLINK_SERVER_BIN, else the
# newer of target/debug and target/release, see tests/e2e/lib/server.ts),
# tests/e2e's node modules, chromium and nftables (scripts/setup.sh --browsers
# --node). The page is copied into a private directory first, so a `make dist`
# running meanwhile cannot change or break what is served.
#
# Everything (server, browsers, nft rules, the link) lives in the namespaces
# of scripts/two-hosts.sh and ends with them. Results, traces and the pages'
# timelines: tests/e2e/faults/test-results/.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
E2E="$ROOT/tests/e2e"
log() { printf 'test-faults: %s\n' "$*"; }

command -v nft >/dev/null || { echo "test-faults: nft missing (scripts/setup.sh --browsers)" >&2; exit 1; }

src="${PEERLINK_DIST:-$ROOT/dist}"
[[ -f "$src/index.html" ]] || { echo "test-faults: $src/index.html missing (make dist)" >&2; exit 1; }
static="$(mktemp -d "${TMPDIR:-/tmp}/peerlink-faults.XXXXXX")"
trap 'rm -rf "$static"' EXIT
cp -R "$src/." "$static/"
rm -rf "$static/.stage"

log "type-checking tests/e2e/faults"
(cd "$E2E" && npx --no-install tsc --noEmit -p faults/tsconfig.json)

log "running in two private network hosts"
cd "$E2E"
status=0
PEERLINK_DIST="$static" PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 \
  "$ROOT/scripts/two-hosts.sh" npx --no-install playwright test -c playwright.faults.config.ts "$@" || status=$?
exit "$status"
