#!/usr/bin/env bash
# Installs what building and testing peerlink needs, idempotently: every step
# first checks whether the right thing (at the right version) is already there
# and does nothing if so, so `make test` can call this on every run and CI on a
# fresh machine gets everything. Facts behind the choices: shared/TOOLCHAIN.md.
#
# usage: scripts/setup.sh [--browsers] [--trunk] [--wasm-bindgen] [--wasm-pack]
#                         [--node] [--all]
#   (no flag)       Rust only: the wasm32 target, rustfmt and clippy
#   --browsers      Debian's chromium + chromium-driver, iproute2 and nftables
#                   (the browser tests run in a private network namespace)
#   --firefox       Debian's firefox-esr + geckodriver 0.37.1 (cargo install)
#   --wasm-bindgen  wasm-bindgen-cli at exactly the version in Cargo.lock
#   --trunk         trunk 0.21.14 (+ wasm-bindgen-cli, + wasm-opt)
#   --wasm-pack     wasm-pack 0.15.1 (+ wasm-bindgen-cli, + wasm-opt, + terser
#                   from npm in scripts/terser, for the package's JS glue,
#                   + the pinned nightly that builds the npm package)
#   --node          Node.js/npm, then the Playwright package in tests/e2e
#                   (with --firefox also puppeteer-core in tests/e2e-firefox)
# wasm-opt is binaryen 132 from npm, in scripts/binaryen/node_modules/.bin
# (put first on PATH by the Makefile): Debian's binaryen 108 cannot parse
# the table.fill that wasm-bindgen emits for Rust 1.95's reference types.
#   --all           all of the above
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# trunk 0.22 needs a newer rustc than the machine's 1.95; 0.21.14 builds.
TRUNK_VERSION="0.21.14"
WASM_PACK_VERSION="0.15.1"
GECKODRIVER_VERSION="0.37.1"
WASM_TARGET="wasm32-unknown-unknown"
# The npm package only (scripts/pkg.sh reads this line) is built with a pinned
# nightly: -Z build-std with panic=immediate-abort rebuilds std without its
# panic and formatting machinery. Everything else stays on stable.
PKG_TOOLCHAIN="nightly-2026-10-01"

want_firefox=0 want_browsers=0 want_trunk=0 want_wasm_bindgen=0 want_wasm_pack=0 want_node=0 want_wasm_opt=0
for arg in "$@"; do
  case "$arg" in
    --browsers) want_browsers=1 ;;
    --firefox) want_firefox=1 ;;
    --trunk) want_trunk=1 want_wasm_bindgen=1 want_wasm_opt=1 ;;
    --wasm-bindgen) want_wasm_bindgen=1 ;;
    --wasm-pack) want_wasm_pack=1 want_wasm_bindgen=1 want_wasm_opt=1 ;;
    --node) want_node=1 ;;
    --all) want_firefox=1 want_browsers=1 want_trunk=1 want_wasm_bindgen=1 want_wasm_pack=1 want_node=1 want_wasm_opt=1 ;;
    -h | --help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "setup.sh: unknown option: $arg (see --help)" >&2; exit 2 ;;
  esac
done

log() { printf 'setup: %s\n' "$*"; }
export PATH="$HOME/.cargo/bin:$PATH"

# --- Debian packages --------------------------------------------------------
apt_packages=()
((want_browsers)) && apt_packages+=(chromium chromium-driver iproute2 nftables unzip)
((want_firefox)) && apt_packages+=(firefox-esr iproute2)
if ((want_node || want_wasm_opt)) && ! { command -v node && command -v npm; } >/dev/null 2>&1; then
  apt_packages+=(nodejs npm)
fi

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

if ((${#apt_packages[@]})); then
  missing=()
  for pkg in "${apt_packages[@]}"; do installed "$pkg" || missing+=("$pkg"); done
  if ((${#missing[@]})); then
    log "apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q "${missing[@]}"
  else
    log "Debian packages present: ${apt_packages[*]}"
  fi
fi

if ((want_browsers)); then
  # chromedriver refuses a browser of another major version; Debian ships them
  # in lockstep, so a mismatch means a half-finished upgrade.
  chromium_v="$(dpkg-query -W -f='${Version}' chromium)"
  driver_v="$(dpkg-query -W -f='${Version}' chromium-driver)"
  if [[ "$chromium_v" != "$driver_v" ]]; then
    echo "setup: chromium $chromium_v and chromium-driver $driver_v differ; run apt-get install chromium chromium-driver" >&2
    exit 1
  fi
fi

# --- Rust -------------------------------------------------------------------
# rust-toolchain.toml asks for these too, but rustup may run with
# RUSTUP_AUTO_INSTALL=0, so add them explicitly.
if ! rustup target list --installed | grep -qx "$WASM_TARGET"; then
  log "rustup target add $WASM_TARGET"
  rustup target add "$WASM_TARGET"
fi
for component in rustfmt clippy; do
  if ! rustup component list --installed | grep -q "^$component"; then
    log "rustup component add $component"
    rustup component add "$component"
  fi
done

if ((want_wasm_pack)); then
  # rust-src: -Z build-std compiles std from it; the wasm32 target: wasm-pack
  # checks that it is installed. --profile minimal: no docs, no clippy.
  if ! rustup run "$PKG_TOOLCHAIN" rustc --version >/dev/null 2>&1 ||
    ! rustup component list --installed --toolchain "$PKG_TOOLCHAIN" | grep -qx rust-src ||
    ! rustup target list --installed --toolchain "$PKG_TOOLCHAIN" | grep -qx "$WASM_TARGET"; then
    log "rustup toolchain install $PKG_TOOLCHAIN (rust-src, $WASM_TARGET)"
    rustup toolchain install "$PKG_TOOLCHAIN" --profile minimal --component rust-src --target "$WASM_TARGET"
  else
    log "$PKG_TOOLCHAIN present (rust-src, $WASM_TARGET)"
  fi
fi

# Prints the version a `NAME --version` reports ("NAME 1.2.3 (...)" -> 1.2.3).
tool_version() { command -v "$1" >/dev/null 2>&1 && "$1" --version 2>/dev/null | awk '{print $2; exit}'; }

# cargo install NAME@VERSION unless `BIN --version` already says VERSION.
cargo_install() {
  local bin="$1" crate="$2" version="$3"; shift 3
  local have
  have="$(tool_version "$bin" || true)"
  if [[ "$have" == "$version" ]]; then
    log "$bin $version present"
    return
  fi
  log "cargo install $crate@$version $* (had: ${have:-none}; takes minutes)"
  # --force: replace another installed version of the same crate.
  cargo install "$crate@$version" --force "$@"
}

# The wasm-bindgen version the client is locked to; the CLI must match exactly.
wasm_bindgen_version() {
  local v=""
  if [[ -f "$ROOT/Cargo.lock" ]]; then
    v="$(awk '/^\[\[package\]\]/ {name=""} /^name = / {name=$3} /^version = / && name=="\"wasm-bindgen\"" {gsub(/"/, "", $3); print $3; exit}' "$ROOT/Cargo.lock")"
  fi
  if [[ -z "$v" ]]; then
    # No lock file yet: fall back to the exact pin in Cargo.toml.
    v="$(sed -n 's/^wasm-bindgen *= *"=\([0-9.]*\)".*/\1/p' "$ROOT/Cargo.toml" | head -n1)"
  fi
  [[ -n "$v" ]] || { echo "setup: cannot find the wasm-bindgen version in Cargo.lock or Cargo.toml" >&2; return 1; }
  printf '%s\n' "$v"
}

if ((want_wasm_bindgen)); then
  # Without --locked: the locked webpki-roots is missing from the registry here.
  cargo_install wasm-bindgen wasm-bindgen-cli "$(wasm_bindgen_version)"
fi
if ((want_trunk)); then
  cargo_install trunk trunk "$TRUNK_VERSION" --locked
fi
if ((want_firefox)); then
  # Debian has no geckodriver package; it builds from crates.io (~4 min).
  cargo_install geckodriver geckodriver "$GECKODRIVER_VERSION" --locked
fi
if ((want_wasm_pack)); then
  # It calls the wasm-bindgen on PATH; pinned to a version that builds on rustc 1.95.
  cargo_install wasm-pack wasm-pack "$WASM_PACK_VERSION"
fi

# --- npm packages (each folder has its own package-lock.json) -----------------
# npm ci unless node_modules was installed from this very lock file.
npm_ci() {
  local dir="$1" stamp sum
  stamp="$dir/node_modules/.peerlink-lock.sha256"
  sum="$(sha256sum "$dir/package-lock.json" | awk '{print $1}')"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$sum" ]]; then
    log "${dir#"$ROOT"/} node_modules up to date"
    return
  fi
  log "npm ci in ${dir#"$ROOT"/}"
  # Browsers come from Debian; Playwright must never fetch its own (it can't here).
  (cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
  printf '%s\n' "$sum" >"$stamp"
}

((want_wasm_opt)) && npm_ci "$ROOT/scripts/binaryen"
((want_wasm_pack)) && npm_ci "$ROOT/scripts/terser"
((want_node)) && npm_ci "$ROOT/tests/e2e"
# puppeteer-core (no install script) drives Debian's firefox-esr; it never downloads one.
((want_node && want_firefox)) && npm_ci "$ROOT/tests/e2e-firefox"

log "done"
