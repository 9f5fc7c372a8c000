#!/usr/bin/env bash
# Tests the npm package the way a consumer meets it:
#   1. scripts/pkg.sh builds and packs it (pkg/peerlink-VERSION.tgz);
#   2. tests/npm installs its tools from its lock file, then the .tgz (offline,
#      from the file, --no-save: the tarball's hash changes with every build);
#   3. tsc --noEmit (strict) checks tests/npm/types/example.ts against the
#      package's declarations, and no `any` may appear in them outside
#      wasm-bindgen's raw InitOutput;
#   4. inside scripts/netns.sh (a private network namespace), the real
#      peerlink-server serves tests/npm/page and Playwright drives two pages of
#      Debian's Chromium through a call, chat and a file transfer.
#
#   scripts/test-npm.sh [NODE_TEST_ARGS...]     e.g. --test-name-pattern=file
#
# Everything it starts (server, browsers) runs inside the namespace and is
# ended with it. Honours CARGO_TARGET_DIR.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CONSUMER="$ROOT/tests/npm"
export PATH="$HOME/.cargo/bin:$PATH"
log() { printf 'test-npm: %s\n' "$*"; }

"$ROOT/scripts/pkg.sh"
"$ROOT/scripts/setup.sh" --browsers --node

log "cargo build -p peerlink-server"
(cd "$ROOT" && cargo build -p peerlink-server)
target_dir="${CARGO_TARGET_DIR:-$ROOT/target}"
export PEERLINK_SERVER_BIN="$target_dir/debug/peerlink-server"

# npm ci unless node_modules came from this very lock file (as setup.sh does);
# the package itself is reinstalled every time, from the fresh tarball.
stamp="$CONSUMER/node_modules/.peerlink-lock.sha256"
sum="$(sha256sum "$CONSUMER/package-lock.json" | awk '{print $1}')"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$sum" ]]; then
  log "tests/npm node_modules up to date"
else
  log "npm ci in tests/npm"
  (cd "$CONSUMER" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
  printf '%s\n' "$sum" >"$stamp"
fi
version="$(node -p "require('$ROOT/pkg/package.json').version")"
tgz="$ROOT/pkg/peerlink-$version.tgz"
log "npm install --no-save ${tgz#"$ROOT"/}"
(cd "$CONSUMER" && npm install --no-save --offline --no-audit --no-fund "$tgz")

log "tsc --noEmit (tests/npm/types)"
(cd "$CONSUMER" && npm run --silent typecheck)
# `any` in the declarations would let the check above pass vacuously. wasm-bindgen's
# InitOutput (the raw Wasm exports init() resolves to) is the one exception.
any_lines="$(awk '/^export interface InitOutput/ {skip=1} skip && /^}/ {skip=0; next} !skip' \
  "$CONSUMER/node_modules/peerlink/peerlink.d.ts" | grep -nw 'any' | grep -Ev '^[0-9]+:\s*(/\*\*|\*)' || true)"
if [[ -n "$any_lines" ]]; then
  printf 'test-npm: `any` in peerlink.d.ts:\n%s\n' "$any_lines" >&2
  exit 1
fi

log "browser tests in a private network namespace"
cd "$CONSUMER"
"$ROOT/scripts/netns.sh" node --test --test-concurrency=1 "$@" test/
