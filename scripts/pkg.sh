#!/usr/bin/env bash
# Builds and packs the npm package `peerlink` (the Wasm library and its JS/TS
# facade, src/js.rs; without the page, i.e. without the `app` feature):
#
#   scripts/pkg.sh        -> pkg/ and pkg/peerlink-VERSION.tgz, then a size table
#
# pkg/ is the `--target web` build (ES module; call its default export `init()`
# once before anything else). pkg/bundler/ is the `--target bundler` build of
# the same code, for bundlers that import .wasm as a module (webpack's
# asyncWebAssembly): `import { Room } from 'peerlink/bundler'`, no init().
#
# wasm-opt -Oz runs inside wasm-pack ([package.metadata.wasm-pack] in
# Cargo.toml) with binaryen from scripts/binaryen: Debian's wasm-opt 108 cannot
# parse what wasm-bindgen 0.2.130 emits (table.fill). --mode no-install: never
# download a tool; everything comes from scripts/setup.sh --wasm-pack.
#
# The web build's imports get short names (scripts/binaryen/minify-imports.mjs)
# and its JS glue is minified with terser from scripts/terser.
#
# Honours CARGO_TARGET_DIR. Prints the sizes of what a browser loads (raw and
# gzip -9), which the npm README quotes.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

"$ROOT/scripts/setup.sh" --wasm-pack
export PATH="$ROOT/scripts/binaryen/node_modules/.bin:$HOME/.cargo/bin:$PATH"

# wasm-pack skips wasm-opt silently when it finds none (--mode no-install), and
# Debian's fails on our output: insist on a recent one.
wasm_opt_version="$(wasm-opt --version 2>/dev/null | awk '{print $3; exit}')"
if ! [[ "$wasm_opt_version" =~ ^[0-9]+$ ]] || ((wasm_opt_version < 116)); then
  echo "pkg.sh: need wasm-opt >= 116 on PATH (scripts/setup.sh --wasm-pack installs it into scripts/binaryen); found: ${wasm_opt_version:-none} at $(command -v wasm-opt || echo -)" >&2
  exit 1
fi

# The package is built with the pinned nightly that setup.sh installs (only
# here: the page, the tests and the server stay on stable), rebuilding std
# (-Z build-std) with `panic = "immediate-abort"`: a panic is a bare
# `unreachable` trap, so std's panic messages, hooks and their formatting code
# are left out (the release profile already aborts on panic, and the message
# went to stderr, which wasm32-unknown-unknown discards; nothing catches one). std's `optimize_for_size` feature picks its smaller algorithms (sorts,
# integer formatting), and -Z location-detail=none drops the file/line records
# that only a panic message would print (no code here reads a Location).
# -12.5, -2.0 and -1.4 KB gz. Without the reference-types feature, wasm-bindgen
# keeps JS objects in a JS array instead of a Wasm externref table: the glue
# grows by 0.2 KB gz and the module shrinks by 1.3 (no externref shims).
# wasm-pack passes the environment on to cargo.
PKG_TOOLCHAIN="$(sed -n 's/^PKG_TOOLCHAIN="\(.*\)"$/\1/p' "$ROOT/scripts/setup.sh")"
[[ -n "$PKG_TOOLCHAIN" ]] || { echo "pkg.sh: no PKG_TOOLCHAIN in scripts/setup.sh" >&2; exit 1; }
export RUSTUP_TOOLCHAIN="$PKG_TOOLCHAIN"
export CARGO_UNSTABLE_BUILD_STD="std,panic_abort"
export CARGO_UNSTABLE_BUILD_STD_FEATURES="optimize_for_size"
export CARGO_UNSTABLE_PANIC_IMMEDIATE_ABORT="true"
export CARGO_PROFILE_RELEASE_PANIC="immediate-abort"
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-Zlocation-detail=none -Ctarget-feature=-reference-types"

rm -rf pkg
echo "pkg: wasm-pack build --target web -> pkg/"
# `hash-worker`: SHA-256 of file transfers in a worker (src/web/hash_worker.rs);
# it needs wasm_bindgen::module(), which the bundler build below cannot have.
wasm-pack build --release --mode no-install --target web --out-dir pkg --out-name peerlink \
  -- --features hash-worker
# wasm-bindgen names each import after its JS function plus a hash; short names
# in the .wasm and the glue's import object instead (-6 KB gz; see the script),
# and short names for the closure trampolines' exports (-0.5 KB gz).
echo "pkg: short import names (scripts/binaryen/minify-imports.mjs)"
node "$ROOT/scripts/binaryen/minify-imports.mjs" pkg/peerlink_bg.wasm pkg/peerlink.js \
  pkg/peerlink.d.ts pkg/peerlink_bg.wasm.d.ts
# wasm-opt -Oz once more on the renamed module (wasm-pack ran it before the
# renaming; -0.5 KB gz), without the producers and target_features sections
# (it reads the features from the latter first).
wasm-opt -Oz --strip-producers --strip-target-features pkg/peerlink_bg.wasm -o pkg/peerlink_bg.wasm

# wasm-bindgen writes the glue readable, with every doc comment (the types and
# docs are in peerlink.d.ts); a page loads this file as it is, so minify it
# (12.4 -> 8.1 KB gz). Class names stay (`Room.name`); the comment that points
# Deno at the .d.ts stays. The bundler build below is left to the bundler.
echo "pkg: terser pkg/peerlink.js"
"$ROOT/scripts/terser/node_modules/.bin/terser" pkg/peerlink.js --module --compress --mangle \
  --keep-classnames --comments '/@ts-self-types/' --output pkg/peerlink.min.js
mv pkg/peerlink.min.js pkg/peerlink.js

echo "pkg: wasm-pack build --target bundler -> pkg/bundler/"
# No .gitignore inside: npm would apply it to pkg/bundler and drop the files.
wasm-pack build --release --mode no-install --target bundler --out-dir pkg/bundler \
  --out-name peerlink --no-pack --no-gitignore

# wasm-pack writes name/version/description/license from Cargo.toml and a
# `files` list for one target; make it describe both entry points.
node --input-type=module - pkg/package.json <<'EOF'
import { readFileSync, writeFileSync } from 'node:fs';
const file = process.argv[2];
const generated = JSON.parse(readFileSync(file, 'utf8'));
const pkg = {
  name: 'peerlink',
  version: generated.version,
  description: generated.description,
  license: generated.license,
  keywords: ['webrtc', 'video-call', 'p2p', 'chat', 'screen-sharing', 'wasm'],
  type: 'module',
  main: 'peerlink.js',
  module: 'peerlink.js',
  types: 'peerlink.d.ts',
  exports: {
    '.': { types: './peerlink.d.ts', default: './peerlink.js' },
    './bundler': { types: './bundler/peerlink.d.ts', default: './bundler/peerlink.js' },
    './peerlink_bg.wasm': './peerlink_bg.wasm',
    './package.json': './package.json',
  },
  files: [
    'peerlink.js', 'peerlink.d.ts', 'peerlink_bg.wasm', 'peerlink_bg.wasm.d.ts',
    'bundler/peerlink.js', 'bundler/peerlink_bg.js', 'bundler/peerlink.d.ts',
    'bundler/peerlink_bg.wasm', 'bundler/peerlink_bg.wasm.d.ts',
  ],
  // The bundler entry instantiates the module on import.
  sideEffects: ['./bundler/peerlink.js'],
};
for (const [key, value] of Object.entries(pkg)) {
  if (value === undefined) throw new Error(`package.json: no ${key} from wasm-pack`);
}
writeFileSync(file, JSON.stringify(pkg, null, 2) + '\n');
EOF
cp pkg-README.md pkg/README.md

echo "pkg: wasm-pack pack"
wasm-pack pack pkg
version="$(node -p "require('./pkg/package.json').version")"
tgz="pkg/peerlink-$version.tgz"
[[ -f "$tgz" ]] || { echo "pkg.sh: $tgz was not produced" >&2; exit 1; }

# What a page loads with the web build: the .wasm and the JS glue.
size_row() {
  local file="$1" raw gz
  raw="$(stat -c %s "$file")"
  gz="$(gzip -9 -c "$file" | wc -c)"
  printf '| %-28s | %9s | %9s |\n' "$2" "$(awk -v b="$raw" 'BEGIN{printf "%.1f KB", b/1000}')" \
    "$(awk -v b="$gz" 'BEGIN{printf "%.1f KB", b/1000}')"
  total_raw=$((total_raw + raw)) total_gz=$((total_gz + gz))
}
total_raw=0 total_gz=0
echo
echo "pkg: $tgz ($(stat -c %s "$tgz") bytes); what the browser loads (web build):"
printf '| %-28s | %9s | %9s |\n' "file" "raw" "gzip -9"
printf '|%s|%s|%s|\n' "------------------------------" "-----------" "-----------"
size_row pkg/peerlink_bg.wasm "peerlink_bg.wasm"
size_row pkg/peerlink.js "peerlink.js (JS glue)"
printf '| %-28s | %9s | %9s |\n' "total" "$(awk -v b="$total_raw" 'BEGIN{printf "%.1f KB", b/1000}')" \
  "$(awk -v b="$total_gz" 'BEGIN{printf "%.1f KB", b/1000}')"
