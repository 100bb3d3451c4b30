#!/usr/bin/env bash
# Runs every test suite of the project, installing what the suites need:
# lint, Rust (unit, integration, property, doc tests), the real-client
# Python tests against the binary, the C, C++, Python and Go binding tests,
# and each binding installed the way its users install it, from outside
# the repository.
# This is the test command README.md gives and .ci/run calls.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

step() { printf '\n==> %s\n' "$*"; }

sudo_if_needed() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# Go for the Go binding, CMake and pkg-config for the installed C/C++
# hosts: from Debian, if missing.
missing=()
command -v go >/dev/null 2>&1 || missing+=(golang-go)
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
if [ ${#missing[@]} -gt 0 ]; then
  step "installing ${missing[*]} (Debian)"
  sudo_if_needed apt-get update -qq
  DEBIAN_FRONTEND=noninteractive sudo_if_needed apt-get install -y -qq "${missing[@]}" >/dev/null
fi

VENV="$ROOT/.venv-test"
step "Python test environment ($VENV)"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check -r tests/python/requirements.txt

step "lint: cargo fmt, cargo clippy (as a Rust dependent builds the crate, and with every feature), cargo doc"
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
cargo clippy --all-targets --all-features -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --all-features

# tests/tls.rs (and one C ABI test) make their certificate with the
# openssl command line: from Debian, if missing.
if ! command -v openssl >/dev/null 2>&1; then
  step "installing openssl (Debian)"
  sudo_if_needed apt-get update -qq
  DEBIAN_FRONTEND=noninteractive sudo_if_needed apt-get install -y -qq openssl >/dev/null
fi

step "Rust: unit, integration, property and doc tests (the black-box tests need the capi and internals features)"
cargo test --all-features

step "Python: real NSQ clients (gnsq, pynsq) against the binary"
LOOKUPD_BIN="$ROOT/target/debug/nsqlookupd" "$VENV/bin/python" -m pytest -q tests/python

step "C and C++ bindings (strict flags, AddressSanitizer and UBSan)"
make -s -C bindings/c test

step "Python bindings (ctypes)"
LOOKUPD_LIB="$ROOT/target/debug/liblookupd.so" "$VENV/bin/python" -m pytest -q bindings/python/tests

step "Go bindings (cgo, over the release library)"
cargo build --release --lib
(cd bindings/go && go vet ./... && go test -count=1 ./... && go test -race -count=1 ./...)

# Each surface installed as its users install it, from temporary
# directories outside the repository.
step "C/C++ install: make install, pkg-config and CMake hosts built outside the repo"
bash tests/install/c.sh
step "Python package: pip install into a fresh virtualenv, the pytest plugin, the wheel"
bash tests/install/python.sh
step "Go binding used from another module (replace directive, lookupdtest)"
bash tests/install/go.sh

step "all suites passed"
