#!/usr/bin/env bash
# Installs the Python binding the way its users do, from outside the
# repository, and uses it there:
#  1. `pip install <repo>/bindings/python pytest` into a fresh virtualenv
#     (cwd: a temporary directory), which builds the library with the
#     repository's rule (`make -C bindings/c lib PROFILE=release`: its
#     soname is checked), then a pytest file written there uses the
#     `nsqlookupd` fixture (the plugin registered by installing) and
#     `wait_for_producers`, with LOOKUPD_LIB unset, so the library is the
#     one inside the package; the package carries py.typed;
#  2. pytest still starts in that environment when the library is missing;
#  3. `pip wheel` makes a platform wheel carrying liblookupd.so, which
#     installs and runs in a second virtualenv with no cargo on PATH;
#  4. a copy of bindings/python away from the crate (what an sdist holds)
#     fails to build with an error that says why, and builds with
#     LOOKUPD_CRATE_DIR.
# The release library is built into the repository's cargo target
# directory (CARGO_TARGET_DIR if set), so a build already made is reused.
# Needs python3 (>= 3.9, with venv), cargo, make, readelf, and PyPI (or a
# pip find-links).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
PYTHON=${PYTHON:-python3}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}
export PIP_DISABLE_PIP_VERSION_CHECK=1
unset LOOKUPD_LIB LOOKUPD_CRATE_DIR
# The package's version (its build checks that Cargo.toml's is the same).
VERSION=$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$REPO/bindings/python/pyproject.toml" | head -n 1)
# The soname the C library is linked with: "0.<minor>" before 1.0.
case "$VERSION" in
  0.*) SONAME=liblookupd.so.$(echo "$VERSION" | cut -d. -f1,2) ;;
  *) SONAME=liblookupd.so.$(echo "$VERSION" | cut -d. -f1) ;;
esac

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"

step() { printf '\n--> %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

step "pip install $REPO/bindings/python pytest (fresh venv in $tmp; make -C bindings/c lib PROFILE=release builds the library first if need be, which takes minutes)"
"$PYTHON" -m venv venv
venv/bin/python -m pip install -q "$REPO/bindings/python" pytest

cat > test_outside.py <<'EOF'
"""Uses the installed package from outside the repository."""
import json
import os
import socket
import struct
import threading
import time

import pytest

import lookupd


def register_as_nsqd(l, topic):
    """Registers `topic` as an nsqd does (V1 over TCP) once a wait is
    blocked on `l`; returns the connection, which keeps the registration."""
    deadline = time.monotonic() + 10
    while l.waiting != 1:
        assert time.monotonic() < deadline, "no wait blocked within 10 s"
        time.sleep(0.001)
    host, _, port = l.tcp_address.rpartition(":")
    sock = socket.create_connection((host, int(port)), timeout=5)
    sock.sendall(b"  V1")
    body = json.dumps({"broadcast_address": "127.0.0.1", "hostname": "outside",
                       "tcp_port": 4150, "http_port": 4151, "version": "1.3.0"}).encode()
    sock.sendall(b"IDENTIFY\n" + struct.pack(">i", len(body)) + body)
    sock.sendall(b"REGISTER " + topic.encode() + b"\n")
    return sock


def test_the_installed_package_and_its_bundled_library():
    here = os.path.dirname(lookupd.__file__)
    assert "site-packages" in here and "LOOKUPD_LIB" not in os.environ
    assert lookupd.library_path() == os.path.join(here, "liblookupd.so")
    assert os.path.isfile(os.path.join(here, "py.typed"))


def test_wait_for_a_producer_registering_from_a_thread(nsqlookupd):
    assert nsqlookupd.tcp_address == "127.0.0.1:%d" % nsqlookupd.tcp_port
    conns = []
    t = threading.Thread(target=lambda: conns.append(register_as_nsqd(nsqlookupd, "orders")))
    t.start()
    answer = nsqlookupd.wait_for_producers("orders", timeout=10)
    t.join(10)
    [producer] = answer["producers"]
    assert (producer["tcp_port"], producer["http_port"]) == (4150, 4151)
    conns[0].close()


def test_timeout_when_nothing_registers(nsqlookupd):
    began = time.monotonic()
    with pytest.raises(TimeoutError) as e:
        nsqlookupd.wait_for_producers("orders", timeout=0.3)
    assert isinstance(e.value, lookupd.Timeout)
    assert 0.3 <= time.monotonic() - began < 10
    assert nsqlookupd.https_port is None


def test_factory(nsqlookupd_factory):
    a, b = nsqlookupd_factory(), nsqlookupd_factory(threads=1)
    assert a.tcp_port != b.tcp_port and a.running and b.running
EOF

step "pytest, outside the repository, with LOOKUPD_LIB unset"
venv/bin/python -m pytest -q -p no:cacheprovider test_outside.py

site=$(venv/bin/python -c 'import os, lookupd; print(os.path.dirname(lookupd.__file__))')
step "the bundled library was built by make lib: soname $SONAME"
soname=$(readelf -d "$site/liblookupd.so" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
[ "$soname" = "$SONAME" ] || fail "the package's liblookupd.so has soname '$soname', expected $SONAME (not built by make lib?)"
echo "soname $soname"

step "pytest starts with the library missing; only the fixture's test fails"
mv "$site/liblookupd.so" "$tmp/liblookupd.so.aside"
cat > test_missing.py <<'EOF'
def test_plain():
    pass

def test_fixture(nsqlookupd):
    pass
EOF
status=0
venv/bin/python -m pytest -q -p no:cacheprovider -rE test_missing.py > missing.out 2>&1 || status=$?
mv "$tmp/liblookupd.so.aside" "$site/liblookupd.so"
grep -q "1 passed, 1 error" missing.out && grep -q "liblookupd.so not found" missing.out \
  || { cat missing.out; fail "pytest with the library missing (exit $status)"; }

step "pip wheel: a platform wheel that carries the library"
venv/bin/python -m pip wheel -q --no-deps -w "$tmp/wheels" "$REPO/bindings/python"
wheels=("$tmp"/wheels/lookupd-"$VERSION"-*.whl)
[ "${#wheels[@]}" = 1 ] && [ -f "${wheels[0]}" ] || fail "expected one wheel, got: ${wheels[*]}"
wheel=${wheels[0]}
case $(basename "$wheel") in
  *-py3-none-any.whl) fail "pure wheel: $(basename "$wheel")" ;;
  lookupd-"$VERSION"-py3-none-linux_*.whl | lookupd-"$VERSION"-py3-none-macosx_*.whl) ;;
  *) fail "unexpected wheel tag: $(basename "$wheel")" ;;
esac
venv/bin/python - "$wheel" <<'EOF'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
assert "lookupd/liblookupd.so" in names, names
assert "lookupd/py.typed" in names, names
EOF
echo "$(basename "$wheel") carries lookupd/liblookupd.so and lookupd/py.typed"

step "the wheel in a second venv, no cargo on PATH"
nocargo=
IFS=: read -ra dirs <<< "$PATH"
for d in "${dirs[@]}"; do
  [ -n "$d" ] && [ ! -x "$d/cargo" ] && nocargo=${nocargo:+$nocargo:}$d
done
if env PATH="$nocargo" sh -c 'command -v cargo' >/dev/null 2>&1; then
  fail "cargo still on PATH"
fi
"$PYTHON" -m venv venv2
env PATH="$tmp/venv2/bin:$nocargo" venv2/bin/python -m pip install -q --no-index --no-deps "$wheel"
env PATH="$tmp/venv2/bin:$nocargo" venv2/bin/python -c '
import lookupd
l = lookupd.Lookupd(tcp_address="127.0.0.1:0", http_address="127.0.0.1:0", log_level="warn")
print("started", l.tcp_address, l.http_address, "from", lookupd.library_path())
l.stop()
assert not l.running and lookupd.library_path().endswith("site-packages/lookupd/liblookupd.so")'

step "bindings/python away from the crate (an sdist's content)"
mkdir copy
tar -C "$REPO/bindings/python" --exclude=build --exclude='*.egg-info' --exclude=.pytest_cache \
  --exclude=__pycache__ -cf - . | tar -C copy -xf -
if venv/bin/python -m pip wheel --no-deps -w "$tmp/copy-wheels" ./copy > copy.out 2>&1; then
  fail "a copy without the crate built"
fi
grep -q "cannot contain the crate" copy.out || { cat copy.out; fail "no clear error"; }
echo "fails as it should: $(grep -o 'the lookupd Rust crate is not at [^ ]*' copy.out | head -1)"
LOOKUPD_CRATE_DIR=$REPO venv/bin/python -m pip wheel -q --no-deps -w "$tmp/copy-wheels" ./copy
ls "$tmp"/copy-wheels/lookupd-"$VERSION"-py3-none-*.whl >/dev/null

step "python install test passed"
