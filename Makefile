# peerlink: every target installs what it needs first (scripts/setup.sh skips
# whatever is already there at the right version), so each one works on a
# fresh machine. Browser tests run inside scripts/netns.sh: a private network
# namespace with a veth pair (Chromium gathers no ICE candidates on loopback
# alone, and no test traffic may leave the machine).
#
#   make serve       build the page and run the server on http://127.0.0.1:8080/
#   make test        test-native + test-wasm (Chromium and Firefox ESR) + test-e2e
#                    + test-e2e-firefox + test-faults + test-npm (what CI runs)
#   make lint        rustfmt --check, clippy -D warnings (native and wasm32), e2e typecheck
#   make bench       scripts/bench*.sh
#   make pkg         the npm package (wasm-pack) in pkg/, packed to pkg/peerlink-*.tgz
#
# One e2e test:   make test-e2e E2E_ARGS='-g "share link"'
# One Firefox e2e test: make test-e2e-firefox E2E_FIREFOX_ARGS='--test-name-pattern=chat'
# One fault test: make test-faults FAULTS_ARGS='-g loss'
# One wasm test:  make test-wasm WASM_TEST_ARGS='--test web_peer' WASM_WORKER_TEST_ARGS=

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:
# Targets share installs, cargo locks and CPU (2 cores): one at a time.
.NOTPARALLEL:

# wasm-opt comes from scripts/binaryen (npm binaryen 132): Debian's 108 cannot
# parse what wasm-bindgen emits for Rust 1.95 (see scripts/setup.sh).
export PATH := $(CURDIR)/scripts/binaryen/node_modules/.bin:$(HOME)/.cargo/bin:$(PATH)

CARGO ?= cargo
SETUP := scripts/setup.sh
NETNS := scripts/netns.sh
WASM_TARGET := wasm32-unknown-unknown
LISTEN ?= 0.0.0.0:8080
PORT = $(lastword $(subst :, ,$(LISTEN)))

# Browser tests of the client crate: its lib tests and tests/web_*.rs.
WEB_TESTS := $(patsubst tests/%.rs,--test %,$(wildcard tests/web_*.rs))
WASM_TEST_ARGS ?= --lib $(WEB_TESTS)
E2E_ARGS ?=
E2E_FIREFOX_ARGS ?=
FAULTS_ARGS ?=

# wasm-bindgen-test in headless Chromium via Debian's chromedriver. Browser
# mode for every test binary, also those without wasm_bindgen_test_configure!.
# The runner allows 20 s per test binary and 5 s for chromedriver to start by
# default: too little on a cold CI machine. No backtraces: they push the
# failure itself out of the end of a CI log.
WASM_RUNNER_ENV := \
	CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
	WASM_BINDGEN_USE_BROWSER=1 \
	WASM_BINDGEN_TEST_TIMEOUT=180 \
	WASM_BINDGEN_TEST_DRIVER_TIMEOUT=30 \
	RUST_BACKTRACE=0
WASM_TEST_ENV := $(WASM_RUNNER_ENV) \
	CHROMEDRIVER=/usr/bin/chromedriver \
	WASM_BINDGEN_TEST_WEBDRIVER_JSON=$(CURDIR)/webdriver.json
# The same tests in Firefox ESR through geckodriver (the runner picks the
# browser by which driver variable is set, so CHROMEDRIVER must be absent).
WASM_TEST_ENV_FIREFOX := $(WASM_RUNNER_ENV) \
	GECKODRIVER=$(HOME)/.cargo/bin/geckodriver \
	WASM_BINDGEN_TEST_WEBDRIVER_JSON=$(CURDIR)/webdriver-firefox.json

# The file transfer tests once more with SHA-256 in the page's hashing worker
# (cargo feature `hash-worker`, which the page and the npm package's web build
# have); without it they hash on the main thread. Empty: skipped.
WASM_WORKER_TEST_ARGS ?= --features hash-worker --test web_files

# $(call run-wasm-tests,LOG NAME,ENV): build outside the namespace (it has no
# network for crates), run inside.
define run-wasm-tests
	$(2) $(CARGO) test -p peerlink --target $(WASM_TARGET) $(WASM_TEST_ARGS) --no-run
	scripts/run-logged.sh $(1) $(NETNS) env $(2) \
		$(CARGO) test --offline --no-fail-fast -p peerlink --target $(WASM_TARGET) $(WASM_TEST_ARGS)
	$(if $(WASM_WORKER_TEST_ARGS),$(2) $(CARGO) test -p peerlink --target $(WASM_TARGET) $(WASM_WORKER_TEST_ARGS) --no-run)
	$(if $(WASM_WORKER_TEST_ARGS),scripts/run-logged.sh $(1)-hash-worker $(NETNS) env $(2) \
		$(CARGO) test --offline --no-fail-fast -p peerlink --target $(WASM_TARGET) $(WASM_WORKER_TEST_ARGS))
endef

# The e2e suite starts this server binary itself (one per test).
E2E_SERVER_BIN := $(CURDIR)/target/debug/peerlink-server

.PHONY: help setup serve dist test test-native test-wasm test-wasm-firefox test-e2e test-e2e-firefox test-faults test-npm lint bench pkg clean

help:
	@sed -n '1,17p' Makefile | sed 's/^# \{0,1\}//'

setup:
	$(SETUP) --browsers --firefox --trunk --wasm-bindgen --node

# --- the app -------------------------------------------------------------------

dist:
	$(SETUP) --trunk
	trunk build --release

serve: dist
	@echo
	@echo "peerlink: open http://127.0.0.1:$(PORT)/ (listening on $(LISTEN); Ctrl-C stops)"
	@echo
	$(CARGO) run --release -p peerlink-server -- --static dist --listen $(LISTEN)

# --- tests ---------------------------------------------------------------------

test: test-native test-wasm test-wasm-firefox test-e2e test-e2e-firefox test-faults test-npm

test-native:
	$(SETUP)
	$(CARGO) test --workspace

test-wasm:
	$(SETUP) --browsers --wasm-bindgen
	$(call run-wasm-tests,test-wasm,$(WASM_TEST_ENV))

test-wasm-firefox:
	$(SETUP) --browsers --firefox --wasm-bindgen
	$(call run-wasm-tests,test-wasm-firefox,$(WASM_TEST_ENV_FIREFOX))

test-e2e: dist
	$(SETUP) --browsers --node
	$(CARGO) build -p peerlink-server
	cd tests/e2e && PEERLINK_SERVER_BIN=$(E2E_SERVER_BIN) npm test -- $(E2E_ARGS)

# The page and the server in Debian's Firefox ESR (puppeteer-core over WebDriver
# BiDi, node --test; tests/e2e-firefox): two peers chat, call, send 24 MiB; and a
# Firefox peer with a Chromium peer (CDP): chat, a call, a file each way.
test-e2e-firefox: dist
	$(SETUP) --browsers --firefox --node
	$(CARGO) build -p peerlink-server
	cd tests/e2e-firefox && PEERLINK_SERVER_BIN=$(E2E_SERVER_BIN) npm test -- $(E2E_FIREFOX_ARGS)

# Two browsers on two network hosts (scripts/two-hosts.sh): transfers under 5 %
# UDP loss and across a cut link (tests/e2e/faults/).
test-faults: dist
	$(SETUP) --browsers --node
	$(CARGO) build -p peerlink-server
	PEERLINK_SERVER_BIN=$(E2E_SERVER_BIN) scripts/test-faults.sh $(FAULTS_ARGS)

# --- quality -------------------------------------------------------------------

# Runs every check, then fails if any did, so one run shows all problems.
lint:
	$(SETUP) --node
	@failed=(); \
	check() { echo "+ $$*"; "$$@" || failed+=("$$*"); }; \
	check $(CARGO) fmt --all --check; \
	check $(CARGO) clippy --workspace --all-targets -- -D warnings; \
	check $(CARGO) clippy -p peerlink --target $(WASM_TARGET) --all-targets --features app -- -D warnings; \
	check npm --prefix tests/e2e run --silent typecheck; \
	if (( $${#failed[@]} )); then printf 'lint failed: %s\n' "$${failed[@]}"; exit 1; fi

# Benchmarks print figures; they are not tests and not part of `make test`.
bench:
	$(SETUP) --browsers --trunk --node
	@shopt -s nullglob; scripts=(scripts/bench*.sh); \
	if (( $${#scripts[@]} == 0 )); then echo "bench: no scripts/bench*.sh yet"; fi; \
	for script in "$${scripts[@]}"; do echo "== $$script"; "$$script"; done

# The npm package: the library without the page (no `app` feature).
pkg:
	$(SETUP) --wasm-pack
	scripts/pkg.sh

# The packed .tgz installed in a consumer project: tsc --noEmit, and two plain-JS
# pages calling each other through the real server (inside the namespace).
test-npm:
	$(SETUP) --browsers --wasm-pack --node
	scripts/test-npm.sh

clean:
	rm -rf dist pkg tests/e2e/test-results tests/e2e/playwright-report
	$(CARGO) clean
