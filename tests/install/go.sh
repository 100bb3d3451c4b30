#!/usr/bin/env bash
# Uses the Go binding the way another Go module does, from outside the
# repository:
#  1. a new module in a temporary directory requires the binding's module
#     (lookupd.example/bindings/go) through a `replace` directive pointing
#     at <repo>/bindings/go, and its _test.go uses lookupdtest.New, a fake
#     nsqd (V1 over TCP) registering from a goroutine once the wait is
#     blocked (Waiting), WaitForProducers (success, deadline, cleanup) and
#     StartConfig; go vet and go test run
#     there with the default link: target/release/liblookupd.a, statically
#     (the test binary must not need liblookupd.so);
#  2. when bindings/c has an install target: `make -C bindings/c install
#     PREFIX=<tmp>/prefix`, then the same tests with -tags lookupd_pkgconfig
#     (pkg-config finds <prefix>/lib/pkgconfig/lookupd.pc), which links the
#     shared library: the binary fails to start without a way to find it,
#     runs with LD_LIBRARY_PATH, and runs alone when built with an rpath.
# Nothing is downloaded (GOPROXY=off): the binding uses the standard
# library only. The release library is built (or found up to date) first,
# in <repo>/target, the one place the default link looks.
# Needs go (>= 1.19) with cgo and a C compiler, cargo, and for step 2 make
# and pkg-config. CARGO may name the cargo command (e.g. "nice -n 19 cargo").
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
CARGO=${CARGO:-cargo}
MODULE=lookupd.example/bindings/go

tmp=$(mktemp -d)
# The module cache marks what it holds read-only; make it removable.
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT

step() { printf '\n--> %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

# A Go environment of its own: no network, no workspace, a module cache in
# $tmp (nothing is fetched into it), and the usual build cache when there is
# one (it only speeds things up), else one in $tmp.
export GOPROXY=off GOFLAGS=-mod=mod GOWORK=off GOPATH="$tmp/gopath" CGO_ENABLED=1
unset GOMODCACHE
cache=$(go env GOCACHE 2>/dev/null || true)
if [ -z "$cache" ] || [ "$cache" = off ] || ! mkdir -p "$cache" 2>/dev/null || [ ! -w "$cache" ]; then
  cache="$tmp/gocache"
fi
export GOCACHE="$cache"

step "release library: make -C bindings/c lib PROFILE=release (target/release/liblookupd.a)"
CARGO_TARGET_DIR="$REPO/target" make -s -C "$REPO/bindings/c" lib PROFILE=release CARGO="$CARGO"
[ -f "$REPO/target/release/liblookupd.a" ] || fail "make lib did not write target/release/liblookupd.a"

step "a module outside the repository ($tmp/outside)"
mkdir "$tmp/outside"
cd "$tmp/outside"
go mod init example.test/outside
go mod edit -require="$MODULE@v0.0.0" -replace="$MODULE=$REPO/bindings/go"

cat > outside_test.go <<'EOF'
package outside

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	lookupd "lookupd.example/bindings/go"
	"lookupd.example/bindings/go/lookupdtest"
)

// registerWhenWaited is a fake nsqd: once a wait is blocked on l (its
// Waiting count), it connects, identifies and registers topic, then sends
// its connection (which holds the registration) or the error on the
// returned channel.
func registerWhenWaited(l *lookupd.Lookupd, topic string) <-chan any {
	out := make(chan any, 1)
	go func() {
		deadline := time.Now().Add(10 * time.Second)
		for {
			n, err := l.Waiting()
			if err != nil {
				out <- err
				return
			}
			if n == 1 {
				break
			}
			if time.Now().After(deadline) {
				out <- fmt.Errorf("no wait blocked within 10s")
				return
			}
			runtime.Gosched()
		}
		conn, err := register(l.TCPAddress(), topic)
		if err != nil {
			out <- err
			return
		}
		out <- conn
	}()
	return out
}

func register(addr, topic string) (net.Conn, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(conn)
	reply := func() (string, error) {
		var size [4]byte
		if _, err := io.ReadFull(r, size[:]); err != nil {
			return "", err
		}
		body := make([]byte, binary.BigEndian.Uint32(size[:]))
		_, err := io.ReadFull(r, body)
		return string(body), err
	}
	identity, _ := json.Marshal(map[string]any{
		"broadcast_address": "127.0.0.1", "hostname": "outside",
		"tcp_port": 4150, "http_port": 4151, "version": "1.3.0",
	})
	msg := binary.BigEndian.AppendUint32([]byte("  V1IDENTIFY\n"), uint32(len(identity)))
	msg = append(msg, identity...)
	msg = append(msg, "REGISTER "+topic+"\n"...)
	if _, err := conn.Write(msg); err != nil {
		conn.Close()
		return nil, err
	}
	if body, err := reply(); err != nil || !strings.Contains(body, `"version"`) {
		conn.Close()
		return nil, fmt.Errorf("IDENTIFY answered %q, %v", body, err)
	}
	if body, err := reply(); err != nil || body != "OK" {
		conn.Close()
		return nil, fmt.Errorf("REGISTER answered %q, %v", body, err)
	}
	return conn, nil
}

func TestWaitForProducers(t *testing.T) {
	t.Logf("lookupd %s", lookupd.Version())
	l := lookupdtest.New(t)
	if !strings.HasPrefix(l.TCPAddress(), "127.0.0.1:") || !strings.HasPrefix(l.HTTPAddress(), "127.0.0.1:") {
		t.Fatalf("addresses %s, %s", l.TCPAddress(), l.HTTPAddress())
	}
	// The nsqd registers once the wait is blocked: the wait waited.
	registered := registerWhenWaited(l, "orders")

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r, err := l.WaitForProducers(ctx, "orders", 1)
	switch v := (<-registered).(type) {
	case error:
		t.Fatalf("fake nsqd: %v", v)
	case net.Conn:
		defer v.Close()
	}
	if err != nil {
		t.Fatalf("WaitForProducers: %v", err)
	}
	if len(r.Producers) != 1 || r.Producers[0].Hostname != "outside" {
		t.Errorf("WaitForProducers = %+v", r)
	}
}

func TestStartConfig(t *testing.T) {
	l, err := lookupd.StartConfig(lookupd.Config{TCPAddress: "127.0.0.1:0", HTTPAddress: "127.0.0.1:0", LogLevel: "warn"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Stop()
	if l.TCPPort() == 0 || l.HTTPPort() == 0 || l.HTTPSPort() != 0 || l.HTTPSAddress() != "" {
		t.Errorf("ports %d %d %d, HTTPSAddress %q", l.TCPPort(), l.HTTPPort(), l.HTTPSPort(), l.HTTPSAddress())
	}
}

func TestWaitForProducersDeadline(t *testing.T) {
	l := lookupdtest.New(t)
	const deadline = 300 * time.Millisecond
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	_, err := l.WaitForProducers(ctx, "orders", 1)
	elapsed := time.Since(began)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ctx.Err()) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
	if elapsed < deadline || elapsed > 10*time.Second {
		t.Errorf("a %v deadline ended the wait after %v", deadline, elapsed)
	}
}

func TestCleanupStops(t *testing.T) {
	var addr string
	t.Run("instance", func(t *testing.T) {
		addr = lookupdtest.New(t).TCPAddress()
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		conn.Close()
	})
	if conn, err := net.DialTimeout("tcp", addr, 5*time.Second); err == nil {
		conn.Close()
		t.Errorf("%s still accepts connections after the subtest's cleanup", addr)
	}
}
EOF

go mod tidy
grep -q "^replace $MODULE => $REPO/bindings/go" go.mod || fail "go.mod lacks the replace directive: $(cat go.mod)"

# dynamic_lookupd <binary>: prints liblookupd's DT_NEEDED entry, if any.
dynamic_lookupd() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(liblookupd[^]]*\)\].*/\1/p'; }

step "go vet, go test: the default link (release static library)"
command -v readelf >/dev/null || fail "readelf (binutils) is not installed"
go vet ./...
go test -count=1 -v ./...
go test -c -o static.test .
if [ -n "$(dynamic_lookupd static.test)" ]; then
  fail "the default build needs $(dynamic_lookupd static.test) at run time; it should link liblookupd.a"
fi
./static.test -test.count=1 >/dev/null || fail "the statically linked test binary failed"

step "-tags lookupd_pkgconfig against an installed prefix"
command -v pkg-config >/dev/null || fail "pkg-config is not installed"
# The go command does not key its build cache on pkg-config's output
# (golang/go#24544): a package built against an earlier prefix would be
# reused with that prefix's -L flag, and this prefix is new on every run.
export GOCACHE="$tmp/gocache-pkgconfig"
make -s -C "$REPO/bindings/c" install PREFIX="$tmp/prefix" CARGO="$CARGO"
pc=$(find "$tmp/prefix" -name lookupd.pc -print -quit)
[ -n "$pc" ] || fail "make install wrote no lookupd.pc under $tmp/prefix"
export PKG_CONFIG_PATH="$(dirname "$pc")"
libdir=$(pkg-config --variable=libdir lookupd)
printf '    pkg-config: %s\n' "$(pkg-config --cflags --libs lookupd)"
ls -l "$libdir" | sed 's/^/    /'

go vet -tags lookupd_pkgconfig ./...
go test -tags lookupd_pkgconfig -c -o shared.test .
needed=$(dynamic_lookupd shared.test)
[ -n "$needed" ] || fail "-tags lookupd_pkgconfig linked no liblookupd.so (expected the shared library)"
printf '    the binary needs %s\n' "$needed"
# Without LD_LIBRARY_PATH or an rpath the loader cannot find it: the run-time
# requirement README.md documents.
if out=$(env -u LD_LIBRARY_PATH ./shared.test -test.count=1 2>&1); then
  fail "shared.test started without a way to find $needed"
fi
case $out in
  *"$needed"*) ;;
  *) fail "shared.test failed without the library, but not for it: $out" ;;
esac
LD_LIBRARY_PATH="$libdir" ./shared.test -test.count=1 -test.v || fail "shared.test failed with LD_LIBRARY_PATH=$libdir"

# Or build with an rpath, and the binary finds the library by itself.
env -u LD_LIBRARY_PATH CGO_LDFLAGS="-Wl,-rpath,$libdir" go test -count=1 -tags lookupd_pkgconfig ./... \
  || fail "go test -tags lookupd_pkgconfig with an rpath failed"

step "go install test passed"
