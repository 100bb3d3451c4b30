package lookupdtest_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	lookupd "lookupd.example/bindings/go"
	"lookupd.example/bindings/go/lookupdtest"
)

func TestNew(t *testing.T) {
	var l *lookupd.Lookupd
	t.Run("in use", func(t *testing.T) {
		l = lookupdtest.New(t)
		for _, tc := range []struct {
			name, addr string
			port       uint16
		}{
			{"TCPAddress", l.TCPAddress(), l.TCPPort()},
			{"HTTPAddress", l.HTTPAddress(), l.HTTPPort()},
		} {
			if want := "127.0.0.1:" + strconv.Itoa(int(tc.port)); tc.port == 0 || tc.addr != want {
				t.Errorf("%s() = %q, want %q", tc.name, tc.addr, want)
			}
		}
		// nsqd's side answers at TCPAddress: an unknown command is an
		// error frame, not a closed connection.
		c, err := net.DialTimeout("tcp", l.TCPAddress(), 5*time.Second)
		if err != nil {
			t.Fatalf("dial %s: %v", l.TCPAddress(), err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, "  V1PING\n"); err != nil {
			t.Fatal(err)
		}
		reply := make([]byte, 6)
		if _, err := io.ReadFull(c, reply); err != nil || string(reply[4:]) != "OK" {
			t.Errorf("PING at TCPAddress: %q, %v", reply, err)
		}
		// Consumers' side answers at HTTPAddress.
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := client.Get("http://" + l.HTTPAddress() + "/ping")
		if err != nil {
			t.Fatalf("GET /ping: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(body) != "OK" {
			t.Errorf("GET /ping at HTTPAddress: %d %q", resp.StatusCode, body)
		}
		if topics, err := l.Topics(); err != nil || len(topics) != 0 {
			t.Errorf("Topics() = %q, %v", topics, err)
		}
	})
	if l == nil {
		t.Fatal("the subtest did not start an instance")
	}
	// The subtest's cleanup has stopped it.
	if _, err := l.Topics(); !errors.Is(err, lookupd.ErrStopped) {
		t.Errorf("Topics() after the subtest = %v, want ErrStopped", err)
	}
	for _, addr := range []string{l.TCPAddress(), l.HTTPAddress()} {
		if c, err := net.DialTimeout("tcp", addr, 5*time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after the subtest's cleanup", addr)
		}
	}
}

func TestNewInstancesAreSeparate(t *testing.T) {
	a, b := lookupdtest.New(t), lookupdtest.New(t)
	if a.TCPAddress() == b.TCPAddress() || a.HTTPAddress() == b.HTTPAddress() {
		t.Errorf("two instances share addresses: %s %s, %s %s",
			a.TCPAddress(), a.HTTPAddress(), b.TCPAddress(), b.HTTPAddress())
	}
}

// fatalTB records what New does with a failing start: testing.TB is
// embedded for the methods New must not call (calling one panics).
type fatalTB struct {
	testing.TB
	fatal    string
	cleanups int
}

func (f *fatalTB) Helper() {}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit() // what testing.T's Fatalf does
}

func (f *fatalTB) Cleanup(func()) { f.cleanups++ }

func TestNewWithConfigFailure(t *testing.T) {
	for key, value := range map[string]any{
		"log_level":   "loud",    // one of New's own keys, replaced
		"tcp_address": "nowhere", // likewise
		"bogus":       1,         // one New does not set
	} {
		tb := &fatalTB{}
		returned := make(chan *lookupd.Lookupd, 1)
		done := make(chan struct{})
		go func() {
			defer close(done)
			returned <- lookupdtest.NewWithConfig(tb, map[string]any{key: value})
		}()
		<-done
		if len(returned) != 0 {
			l := <-returned
			l.Stop()
			t.Errorf("%s=%v: NewWithConfig returned instead of failing the test", key, value)
		}
		if !strings.Contains(tb.fatal, key) {
			t.Errorf("%s=%v: Fatalf(%q) does not name the key", key, value, tb.fatal)
		}
		if tb.cleanups != 0 {
			t.Errorf("%s=%v: %d cleanups registered for an instance that did not start", key, value, tb.cleanups)
		}
	}
}

func TestNewWithConfigOptions(t *testing.T) {
	// Replacing a default: a failure would end the test here.
	l := lookupdtest.NewWithConfig(t, map[string]any{"log_level": "error", "threads": 1})
	if _, err := l.Lookup("orders"); !errors.Is(err, lookupd.ErrTopicNotFound) {
		t.Errorf("Lookup(orders) = %v, want ErrTopicNotFound", err)
	}
}
