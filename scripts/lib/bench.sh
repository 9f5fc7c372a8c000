# Shared set-up of the benchmarks (scripts/bench-*.sh). Source it after setting
# ROOT, BENCH (the benchmark's directory under bench/) and NAME (for messages).
#
#   bench_prepare     the page into a private temporary directory $static
#                     (removed on exit) and the release server $SERVER_BIN,
#                     unless BENCH_SKIP_BUILD=1 (then dist/ is copied); npm ci
#                     in $BENCH when its lock file changed; $commit for the table.
#
# The page goes into a private directory, not dist/: Trunk stages in
# <dist>/.stage, two builds into one dist/ break each other, and a rebuild
# during the run must not change what is measured.
# shellcheck shell=bash

log() { printf '%s: %s\n' "$NAME" "$*"; }

bench_prepare() {
  export PATH="$ROOT/scripts/binaryen/node_modules/.bin:$HOME/.cargo/bin:$PATH"
  static="$(mktemp -d "${TMPDIR:-/tmp}/peerlink-$NAME.XXXXXX")"
  # shellcheck disable=SC2064  # expand $static now
  trap "rm -rf '$static'" EXIT

  if [[ "${BENCH_SKIP_BUILD:-}" != 1 ]]; then
    log "building the page (trunk build --release, as make dist) and peerlink-server (release)"
    "$ROOT/scripts/setup.sh" --trunk
    trunk build --release --dist "$static"
    cargo build --release -p peerlink-server
  else
    [[ -f "$ROOT/dist/index.html" ]] || { echo "$NAME: dist/index.html missing (make dist)" >&2; exit 1; }
    cp -R "$ROOT/dist/." "$static/"
  fi
  SERVER_BIN="$ROOT/target/release/peerlink-server"
  [[ -x "$SERVER_BIN" ]] || { echo "$NAME: $SERVER_BIN missing (cargo build --release -p peerlink-server)" >&2; exit 1; }
  command -v node >/dev/null || { echo "$NAME: node missing (scripts/setup.sh --node)" >&2; exit 1; }

  # npm ci unless node_modules came from this very lock file.
  local stamp="$BENCH/node_modules/.peerlink-lock.sha256" sum
  sum="$(sha256sum "$BENCH/package-lock.json" | awk '{print $1}')"
  if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$sum" ]]; then
    log "npm ci in ${BENCH#"$ROOT"/}"
    (cd "$BENCH" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefer-offline --no-audit --no-fund)
    printf '%s\n' "$sum" >"$stamp"
  fi

  commit="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  if [[ -n "$(git -C "$ROOT" status --porcelain -- src www server protocol Cargo.toml Cargo.lock 2>/dev/null)" ]]; then
    commit="$commit+dirty"
  fi
}
