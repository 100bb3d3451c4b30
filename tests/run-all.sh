#!/usr/bin/env bash
# Runs every test suite of the project, installing what the suites need:
# lint, Rust (unit, integration, property, doc tests), the real-client
# Python tests against the binary, and the C, Python and Go binding tests.
# This is the test command README.md gives and .ci/run calls.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

step() { printf '\n==> %s\n' "$*"; }

sudo_if_needed() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v go >/dev/null 2>&1; then
  step "installing Go (Debian golang-go)"
  sudo_if_needed apt-get update -qq
  DEBIAN_FRONTEND=noninteractive sudo_if_needed apt-get install -y -qq golang-go >/dev/null
fi

VENV="$ROOT/.venv-test"
step "Python test environment ($VENV)"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check -r tests/python/requirements.txt

step "lint: cargo fmt, cargo clippy"
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings

step "Rust: unit, integration, property and doc tests"
cargo test

step "Python: real NSQ clients (gnsq, pynsq) against the binary"
LOOKUPD_BIN="$ROOT/target/debug/nsqlookupd" "$VENV/bin/python" -m pytest -q tests/python

if [ -d bindings/c ]; then
  step "C bindings (gcc -Wall -Wextra -Werror -pedantic, AddressSanitizer)"
  make -s -C bindings/c test
fi
if [ -d bindings/python ]; then
  step "Python bindings (ctypes)"
  LOOKUPD_LIB="$ROOT/target/debug/liblookupd.so" "$VENV/bin/python" -m pytest -q bindings/python/tests
fi
if [ -d bindings/go ]; then
  step "Go bindings (cgo)"
  (cd bindings/go && go test -count=1 ./...)
fi

step "all suites passed"
