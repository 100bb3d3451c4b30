// Package lookupdtest gives a test an nsqlookupd of its own, as
// net/http/httptest gives it an HTTP server: New starts a lookupd
// instance on free loopback ports and stops it when the test ends.
//
//	func TestConsumer(t *testing.T) {
//		l := lookupdtest.New(t)
//		// nsqd -lookupd-tcp-address=<l.TCPAddress()>,
//		// consumer.ConnectToNSQLookupd(l.HTTPAddress()), ...
//		r, err := l.WaitForProducers(ctx, "orders", 1)
//		...
//	}
package lookupdtest

import (
	"testing"

	lookupd "lookupd.example/bindings/go"
)

// New starts an instance listening on 127.0.0.1 with ports the kernel
// picks (TCP for nsqd, HTTP for consumers; see TCPAddress and
// HTTPAddress), logging warnings and errors only. A failure to start ends
// the test with tb.Fatalf, so call it from the test's own goroutine.
// The instance is stopped by tb.Cleanup when the test (or subtest) and
// its subtests have finished.
func New(tb testing.TB) *lookupd.Lookupd {
	tb.Helper()
	return NewWithConfig(tb, nil)
}

// NewWithConfig is New with config's keys (those lookupd.Start takes)
// added to New's, or replacing them: for instance
// {"inactive_producer_timeout": time.Second} or {"log_level": "debug"}.
func NewWithConfig(tb testing.TB, config map[string]any) *lookupd.Lookupd {
	tb.Helper()
	c := map[string]any{
		"tcp_address":  "127.0.0.1:0",
		"http_address": "127.0.0.1:0",
		"log_level":    "warn",
	}
	for k, v := range config {
		c[k] = v
	}
	l, err := lookupd.Start(c)
	if err != nil {
		tb.Fatalf("lookupdtest: starting lookupd: %v", err)
		return nil // reached only by a testing.TB whose Fatalf returns
	}
	tb.Cleanup(func() {
		if err := l.Stop(); err != nil {
			tb.Errorf("lookupdtest: stopping lookupd: %v", err)
		}
	})
	return l
}
