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

step "MSRV: no normal dependency needs a newer Rust than our rust-version"
# A Rust dependent needs what lookupd's normal dependencies need (and their
# build dependencies: build scripts are compiled by the same toolchain),
# never its dev-dependencies (proptest 1.12, say, needs 1.88 and builds only
# our tests). Every package reachable from lookupd through non-dev edges,
# with every feature (capi brings cbindgen) and for every platform, must
# declare a rust_version no newer than Cargo.toml's. The MSRV is 1.85: the
# floor too, as hashbrown 0.17, indexmap 2, toml 1, tokio and zeroize in
# that tree declare 1.85. Only one toolchain can be installed on these
# machines, so nothing here builds with 1.85 itself: this check, and
# clippy's incompatible_msrv lint above (std APIs newer than rust-version),
# stand in for it.
cargo metadata --format-version 1 --all-features | python3 -c '
import json, sys
meta = json.load(sys.stdin)
pkgs = {p["id"]: p for p in meta["packages"]}
nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
root = next(p for p in meta["packages"] if p["name"] == "lookupd" and p["source"] is None)
ver = lambda s: tuple(int(x) for x in (s.split(".") + ["0", "0"])[:3])
ours = root["rust_version"]
seen, todo = set(), [root["id"]]
while todo:
    for d in nodes[todo.pop()]["deps"]:
        if {k["kind"] for k in d["dep_kinds"]} - {"dev"} and d["pkg"] not in seen:
            seen.add(d["pkg"])
            todo.append(d["pkg"])
newer = sorted(
    "%s %s needs Rust %s" % (pkgs[i]["name"], pkgs[i]["version"], pkgs[i]["rust_version"])
    for i in seen
    if pkgs[i]["rust_version"] and ver(pkgs[i]["rust_version"]) > ver(ours)
)
for line in newer:
    print("MSRV: " + line + ", newer than our rust-version " + ours, file=sys.stderr)
print("MSRV %s: %d normal dependencies checked, %d newer" % (ours, len(seen), len(newer)))
sys.exit(1 if newer else 0)
'

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
