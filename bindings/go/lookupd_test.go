package lookupd_test

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	lookupd "lookupd.example/bindings/go"
)

// config is what every test starts from: loopback, free ports, and quiet,
// so tests never collide with each other or with a real nsqlookupd.
func config(extra map[string]any) map[string]any {
	c := map[string]any{
		"tcp_address":       "127.0.0.1:0",
		"http_address":      "127.0.0.1:0",
		"broadcast_address": "127.0.0.1",
		"log_level":         "fatal",
		"threads":           2,
	}
	for k, v := range extra {
		c[k] = v
	}
	return c
}

// start starts an instance that is stopped when the test ends, whatever
// the test did with it before.
func start(t *testing.T, extra map[string]any) *lookupd.Lookupd {
	t.Helper()
	l, err := lookupd.Start(config(extra))
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Stop(); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	if l.TCPPort() == 0 || l.HTTPPort() == 0 {
		t.Fatalf("ports not bound: tcp %d http %d", l.TCPPort(), l.HTTPPort())
	}
	return l
}

// startErr starts an instance expected to fail, stopping it if it did not.
func startErr(t *testing.T, extra map[string]any) error {
	t.Helper()
	l, err := lookupd.Start(config(extra))
	if err == nil {
		l.Stop()
		t.Fatalf("Start(%v) succeeded", extra)
	}
	return err
}

// nsqd is a fake nsqd speaking the V1 TCP protocol to lookupd.
type nsqd struct {
	conn net.Conn
	r    *bufio.Reader
}

// dialNsqd connects and identifies. Errors are returned, not reported,
// so that goroutines other than the test's can use it.
func dialNsqd(tcpPort uint16, hostname string) (*nsqd, error) {
	conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", tcpPort), 5*time.Second)
	if err != nil {
		return nil, err
	}
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	n := &nsqd{conn: conn, r: bufio.NewReader(conn)}
	body, _ := json.Marshal(map[string]any{
		"broadcast_address": "127.0.0.1",
		"hostname":          hostname,
		"tcp_port":          4150,
		"http_port":         4151,
		"version":           "1.3.0",
	})
	msg := []byte("  V1IDENTIFY\n")
	msg = binary.BigEndian.AppendUint32(msg, uint32(len(body)))
	msg = append(msg, body...)
	if _, err := conn.Write(msg); err != nil {
		conn.Close()
		return nil, err
	}
	reply, err := n.frame()
	if err != nil {
		conn.Close()
		return nil, err
	}
	var info map[string]any
	if err := json.Unmarshal([]byte(reply), &info); err != nil || info["version"] == nil {
		conn.Close()
		return nil, fmt.Errorf("IDENTIFY answered %q", reply)
	}
	return n, nil
}

// frame reads one reply: a 4-byte big-endian length and the payload.
func (n *nsqd) frame() (string, error) {
	var size [4]byte
	if _, err := io.ReadFull(n.r, size[:]); err != nil {
		return "", err
	}
	payload := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(n.r, payload); err != nil {
		return "", err
	}
	return string(payload), nil
}

// register sends "REGISTER <args>" and expects OK.
func (n *nsqd) register(args string) error {
	if _, err := n.conn.Write([]byte("REGISTER " + args + "\n")); err != nil {
		return err
	}
	reply, err := n.frame()
	if err != nil {
		return err
	}
	if reply != "OK" {
		return fmt.Errorf("REGISTER %s answered %q", args, reply)
	}
	return nil
}

// mustNsqd dials, identifies and registers, failing the test on error;
// the connection is closed when the test ends.
func mustNsqd(t *testing.T, l *lookupd.Lookupd, hostname string, regs ...string) *nsqd {
	t.Helper()
	n, err := dialNsqd(l.TCPPort(), hostname)
	if err != nil {
		t.Fatalf("fake nsqd: %v", err)
	}
	t.Cleanup(func() { n.conn.Close() })
	for _, r := range regs {
		if err := n.register(r); err != nil {
			t.Fatalf("fake nsqd: %v", err)
		}
	}
	return n
}

// A client without keep-alive, so no idle connection outlives a test.
var httpClient = &http.Client{
	Timeout:   10 * time.Second,
	Transport: &http.Transport{DisableKeepAlives: true},
}

func httpGet(t *testing.T, port uint16, path string) (int, string) {
	t.Helper()
	resp, err := httpClient.Get(fmt.Sprintf("http://127.0.0.1:%d%s", port, path))
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, string(body)
}

// httpJSON GETs path, expecting 200, decodes the body into into and
// returns the body as sent.
func httpJSON(t *testing.T, l *lookupd.Lookupd, path string, into any) string {
	t.Helper()
	status, body := httpGet(t, l.HTTPPort(), path)
	if status != http.StatusOK {
		t.Fatalf("GET %s: status %d, body %s", path, status, body)
	}
	if err := json.Unmarshal([]byte(body), into); err != nil {
		t.Fatalf("GET %s: decoding %s: %v", path, body, err)
	}
	return body
}

// must fails the test on err, and otherwise gives v.
func must[T any](t *testing.T, what string) func(v T, err error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
}

func TestQueriesMatchHTTP(t *testing.T) {
	l := start(t, nil)
	n := mustNsqd(t, l, "go-host", "orders billing", "audit")

	// /lookup: raw bytes, decoded struct, and the expected content.
	raw := must[string](t, "LookupJSON")(l.LookupJSON("orders"))
	lookup := must[lookupd.LookupResult](t, "Lookup")(l.Lookup("orders"))
	var httpLookup lookupd.LookupResult
	if body := httpJSON(t, l, "/lookup?topic=orders", &httpLookup); raw != body {
		t.Errorf("LookupJSON = %s, HTTP %s", raw, body)
	}
	want := lookupd.LookupResult{
		Channels: []string{"billing"},
		Producers: []lookupd.Producer{{
			RemoteAddress:    n.conn.LocalAddr().String(),
			Hostname:         "go-host",
			BroadcastAddress: "127.0.0.1",
			TCPPort:          4150,
			HTTPPort:         4151,
			Version:          "1.3.0",
		}},
	}
	if !reflect.DeepEqual(lookup, httpLookup) || !reflect.DeepEqual(lookup, want) {
		t.Errorf("Lookup = %+v, HTTP %+v, want %+v", lookup, httpLookup, want)
	}

	// /topics
	raw = must[string](t, "TopicsJSON")(l.TopicsJSON())
	topics := must[[]string](t, "Topics")(l.Topics())
	var httpTopics struct {
		Topics []string `json:"topics"`
	}
	if body := httpJSON(t, l, "/topics", &httpTopics); raw != body {
		t.Errorf("TopicsJSON = %s, HTTP %s", raw, body)
	}
	if !reflect.DeepEqual(topics, httpTopics.Topics) || !reflect.DeepEqual(topics, []string{"audit", "orders"}) {
		t.Errorf("Topics = %q, HTTP %q", topics, httpTopics.Topics)
	}

	// /channels, including a topic with none and one never registered.
	for topic, want := range map[string][]string{"orders": {"billing"}, "audit": {}, "nope": {}} {
		raw = must[string](t, "ChannelsJSON")(l.ChannelsJSON(topic))
		channels := must[[]string](t, "Channels")(l.Channels(topic))
		var httpChannels struct {
			Channels []string `json:"channels"`
		}
		if body := httpJSON(t, l, "/channels?topic="+topic, &httpChannels); raw != body {
			t.Errorf("ChannelsJSON(%q) = %s, HTTP %s", topic, raw, body)
		}
		if !reflect.DeepEqual(channels, httpChannels.Channels) || !reflect.DeepEqual(channels, want) {
			t.Errorf("Channels(%q) = %q, HTTP %q, want %q", topic, channels, httpChannels.Channels, want)
		}
	}

	// /nodes
	raw = must[string](t, "NodesJSON")(l.NodesJSON())
	nodes := must[[]lookupd.Node](t, "Nodes")(l.Nodes())
	var httpNodes struct {
		Producers []lookupd.Node `json:"producers"`
	}
	if body := httpJSON(t, l, "/nodes", &httpNodes); raw != body {
		t.Errorf("NodesJSON = %s, HTTP %s", raw, body)
	}
	wantNode := lookupd.Node{
		RemoteAddress:    n.conn.LocalAddr().String(),
		Hostname:         "go-host",
		BroadcastAddress: "127.0.0.1",
		TCPPort:          4150,
		HTTPPort:         4151,
		Version:          "1.3.0",
		Tombstones:       []bool{false, false},
		Topics:           []string{"audit", "orders"},
	}
	if !reflect.DeepEqual(nodes, httpNodes.Producers) || !reflect.DeepEqual(nodes, []lookupd.Node{wantNode}) {
		t.Errorf("Nodes = %+v, HTTP %+v, want [%+v]", nodes, httpNodes.Producers, wantNode)
	}

	if err := l.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	// Stopping closes every connection: the fake nsqd reads EOF.
	n.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if b, err := n.r.ReadByte(); err != io.EOF {
		t.Errorf("nsqd read after Stop: %q, %v; want EOF", b, err)
	}
}

func TestTopicNotFound(t *testing.T) {
	l := start(t, nil)
	mustNsqd(t, l, "go-host", "orders")
	for _, topic := range []string{"missing", "bad*name"} {
		_, err := l.Lookup(topic)
		if !errors.Is(err, lookupd.ErrTopicNotFound) {
			t.Fatalf("Lookup(%q) = %v, want ErrTopicNotFound", topic, err)
		}
		var e *lookupd.Error
		if !errors.As(err, &e) || e.Code != lookupd.ResultTopicNotFound || !strings.Contains(e.Message, topic) {
			t.Errorf("Lookup(%q) error = %#v", topic, err)
		}
		if _, err := l.LookupJSON(topic); !errors.Is(err, lookupd.ErrTopicNotFound) {
			t.Errorf("LookupJSON(%q) = %v", topic, err)
		}
	}
	if status, body := httpGet(t, l.HTTPPort(), "/lookup?topic=missing"); status != http.StatusNotFound {
		t.Errorf("HTTP says %d %s for the missing topic", status, body)
	}
	// Other failures must not pass for a missing topic.
	if _, err := l.Lookup("\xff"); errors.Is(err, lookupd.ErrTopicNotFound) {
		t.Errorf("invalid UTF-8 matched ErrTopicNotFound: %v", err)
	}
	if errors.Is(lookupd.ErrStopped, lookupd.ErrTopicNotFound) {
		t.Error("ErrStopped matched ErrTopicNotFound")
	}
}

func TestBadConfig(t *testing.T) {
	for _, tc := range []struct {
		config map[string]any
		key    string
	}{
		{map[string]any{"tombstone_lifetime": "soon"}, "tombstone_lifetime"},
		{map[string]any{"inactive_producer_timeout": true}, "inactive_producer_timeout"},
		{map[string]any{"bogus": 1}, "bogus"},
		{map[string]any{"threads": 0}, "threads"},
		{map[string]any{"log_level": "loud"}, "log_level"},
		{map[string]any{"tcp_address": "nowhere"}, "tcp_address"},
		{map[string]any{"tombstone_lifetime": 1.5}, "tombstone_lifetime"},
		// Refused by encoding/json before lookupd sees it.
		{map[string]any{"log_prefix": make(chan int)}, "chan"},
	} {
		err := startErr(t, tc.config)
		var e *lookupd.Error
		if !errors.As(err, &e) || e.Code != lookupd.ResultConfig {
			t.Errorf("Start(%v) = %#v, want an *Error with ResultConfig", tc.config, err)
			continue
		}
		if !strings.Contains(e.Message, tc.key) || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("Start(%v): message %q does not name %q", tc.config, e.Message, tc.key)
		}
		if errors.Is(err, lookupd.ErrTopicNotFound) {
			t.Errorf("config error matched ErrTopicNotFound")
		}
	}

	for _, tc := range []struct {
		json string
		code lookupd.Result
	}{
		{"{", lookupd.ResultConfig},
		{"[]", lookupd.ResultConfig},
		{`{"tcp_address":"127.0.0.1:0","http_address":"127.0.0.1:0","log_level":"fatal","log_prefix":"` + "\xff" + `"}`, lookupd.ResultUTF8},
	} {
		l, err := lookupd.StartJSON(tc.json)
		var e *lookupd.Error
		if !errors.As(err, &e) || e.Code != tc.code || e.Message == "" {
			l.Stop()
			t.Errorf("StartJSON(%q) = %#v, want code %v", tc.json, err, tc.code)
		}
	}

	l, err := lookupd.StartJSON(`{"tcp_address":"127.0.0.1:0","http_address":"127.0.0.1:0","log_level":"fatal"}` + "\x00garbage")
	if !errors.Is(err, lookupd.ErrNUL) {
		l.Stop()
		t.Errorf("StartJSON with a NUL = %v, want ErrNUL", err)
	}
}

func TestPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	for _, key := range []string{"tcp_address", "http_address"} {
		err := startErr(t, map[string]any{key: addr})
		var e *lookupd.Error
		if !errors.As(err, &e) || e.Code != lookupd.ResultBind {
			t.Errorf("%s in use: %#v, want an *Error with ResultBind", key, err)
		} else if !strings.Contains(e.Message, addr) {
			t.Errorf("%s in use: message %q does not name %s", key, e.Message, addr)
		}
	}
}

func TestStopTwiceAndUseAfterStop(t *testing.T) {
	l, err := lookupd.Start(config(nil))
	if err != nil {
		t.Fatal(err)
	}
	tcp, http := l.TCPPort(), l.HTTPPort()
	if err := l.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := l.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	calls := map[string]func() error{
		"Lookup":       func() error { _, err := l.Lookup("orders"); return err },
		"LookupJSON":   func() error { _, err := l.LookupJSON("orders"); return err },
		"Topics":       func() error { _, err := l.Topics(); return err },
		"TopicsJSON":   func() error { _, err := l.TopicsJSON(); return err },
		"Channels":     func() error { _, err := l.Channels("orders"); return err },
		"ChannelsJSON": func() error { _, err := l.ChannelsJSON("orders"); return err },
		"Nodes":        func() error { _, err := l.Nodes(); return err },
		"NodesJSON":    func() error { _, err := l.NodesJSON(); return err },
		"Waiting":      func() error { _, err := l.Waiting(); return err },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, lookupd.ErrStopped) {
			t.Errorf("%s after Stop = %v, want ErrStopped", name, err)
		}
	}
	if l.TCPPort() != tcp || l.HTTPPort() != http {
		t.Errorf("ports changed after Stop")
	}
	// The port is free again once Stop has returned.
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", tcp))
	if err != nil {
		t.Errorf("TCP port still bound after Stop: %v", err)
	} else {
		ln.Close()
	}

	var never *lookupd.Lookupd
	if err := never.Stop(); err != nil {
		t.Errorf("nil Stop = %v", err)
	}
}

func TestStringArguments(t *testing.T) {
	l := start(t, nil)
	mustNsqd(t, l, "go-host", "orders billing")
	// A NUL would make C see "orders": refuse instead of answering for it.
	if _, err := l.Lookup("orders\x00evil"); !errors.Is(err, lookupd.ErrNUL) {
		t.Errorf("Lookup with a NUL = %v, want ErrNUL", err)
	}
	if _, err := l.Channels("orders\x00"); !errors.Is(err, lookupd.ErrNUL) {
		t.Errorf("Channels with a NUL = %v, want ErrNUL", err)
	}
	for _, call := range []func() error{
		func() error { _, err := l.Lookup("\xff"); return err },
		func() error { _, err := l.Channels("\xff"); return err },
	} {
		var e *lookupd.Error
		if err := call(); !errors.As(err, &e) || e.Code != lookupd.ResultUTF8 {
			t.Errorf("invalid UTF-8 topic: %#v, want ResultUTF8", err)
		}
	}
	// The handle is still fine after refused arguments.
	if r, err := l.Lookup("orders"); err != nil || len(r.Producers) != 1 {
		t.Errorf("Lookup(orders) = %+v, %v", r, err)
	}
}

// A time.Duration must mean its duration, not as many milliseconds as it
// has nanoseconds: a producer that never pings drops out of /nodes after
// inactive_producer_timeout. So in the map form and in a Config.
func TestDurationConfig(t *testing.T) {
	for name, startIt := range map[string]func() (*lookupd.Lookupd, error){
		"map": func() (*lookupd.Lookupd, error) {
			return lookupd.Start(config(map[string]any{"inactive_producer_timeout": time.Second}))
		},
		"Config": func() (*lookupd.Lookupd, error) {
			return lookupd.StartConfig(lookupd.Config{
				TCPAddress: "127.0.0.1:0", HTTPAddress: "127.0.0.1:0", LogLevel: "fatal",
				InactiveProducerTimeout: time.Second,
			})
		},
	} {
		t.Run(name, func(t *testing.T) {
			l, err := startIt()
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Stop() })
			mustNsqd(t, l, "go-host", "orders")
			if nodes, err := l.Nodes(); err != nil || len(nodes) != 1 {
				t.Fatalf("Nodes right after REGISTER = %+v, %v", nodes, err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for {
				nodes, err := l.Nodes()
				if err != nil {
					t.Fatal(err)
				}
				if len(nodes) == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("producer still active long after a 1s timeout: %+v", nodes)
				}
				// A poll for an event lookupd's clock brings (nothing
				// announces a producer turning inactive), 20 times a second.
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}

func TestStartConfig(t *testing.T) {
	l, err := lookupd.StartConfig(lookupd.Config{
		TCPAddress:       "127.0.0.1:0",
		HTTPAddress:      "127.0.0.1:0",
		BroadcastAddress: "127.0.0.1",
		LogLevel:         "fatal",
		Threads:          2,
	})
	if err != nil {
		t.Fatalf("StartConfig: %v", err)
	}
	defer l.Stop()
	if l.TCPPort() == 0 || l.HTTPPort() == 0 || l.TCPAddress() != fmt.Sprintf("127.0.0.1:%d", l.TCPPort()) {
		t.Errorf("ports %d, %d; TCPAddress %s", l.TCPPort(), l.HTTPPort(), l.TCPAddress())
	}
	mustNsqd(t, l, "config-host", "orders")
	if r, err := l.Lookup("orders"); err != nil || len(r.Producers) != 1 {
		t.Errorf("Lookup(orders) = %+v, %v", r, err)
	}

	// What is sent: set fields only, under their option keys; durations
	// as duration text.
	for _, tc := range []struct {
		c    lookupd.Config
		want string
	}{
		{lookupd.Config{}, `{}`},
		{lookupd.Config{TCPAddress: "127.0.0.1:0", Threads: 2, TombstoneLifetime: 90 * time.Second, HTTPAuthReads: true},
			`{"http_auth_reads":true,"tcp_address":"127.0.0.1:0","threads":2,"tombstone_lifetime":"1m30s"}`},
	} {
		if got, err := json.Marshal(tc.c); err != nil || string(got) != tc.want {
			t.Errorf("json.Marshal(%+v) = %s, %v; want %s", tc.c, got, err, tc.want)
		}
	}

	// A bad value names its key, as in the map form.
	_, err = lookupd.StartConfig(lookupd.Config{TCPAddress: "127.0.0.1:0", HTTPAddress: "127.0.0.1:0", LogLevel: "loud"})
	var e *lookupd.Error
	if !errors.As(err, &e) || e.Code != lookupd.ResultConfig || !strings.Contains(e.Message, "log_level") {
		t.Errorf("StartConfig with LogLevel loud = %v, want ResultConfig naming log_level", err)
	}
}

// Every field of Config is an option lookupd knows (an unknown key would
// fail the start with ResultConfig): a Config with all of them set starts.
func TestConfigFieldsAreOptions(t *testing.T) {
	cert, key := selfSigned(t)
	c := lookupd.Config{
		TCPAddress:               "127.0.0.1:0",
		HTTPAddress:              "127.0.0.1:0",
		HTTPSAddress:             "127.0.0.1:0",
		TLSCert:                  cert,
		TLSKey:                   key,
		BroadcastAddress:         "127.0.0.1",
		InactiveProducerTimeout:  time.Minute,
		TombstoneLifetime:        time.Minute,
		ProducerHeartbeatTimeout: time.Minute,
		ProducerAddress:          "auto",
		LogLevel:                 "fatal",
		LogPrefix:                "[test] ",
		Threads:                  1,
		HTTPAuthToken:            "s3cret",
		HTTPAuthReads:            true,
		DataPath:                 t.TempDir(),
		RestartGrace:             time.Minute,
	}
	v := reflect.ValueOf(c)
	for i := 0; i < v.NumField(); i++ {
		if v.Field(i).IsZero() {
			t.Fatalf("set Config.%s in this test too", v.Type().Field(i).Name)
		}
	}
	l, err := lookupd.StartConfig(c)
	if err != nil {
		t.Fatalf("StartConfig with every field: %v", err)
	}
	defer l.Stop()
	// The token is required for every read but /ping.
	if status, _ := httpGet(t, l.HTTPPort(), "/topics"); status != http.StatusUnauthorized {
		t.Errorf("/topics without the token: %d, want 401", status)
	}
}

// selfSigned writes a certificate for 127.0.0.1 and localhost, and its
// key, into a temporary directory (made here with the standard library,
// so the test needs no openssl).
func selfSigned(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	template := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	for file, block := range map[string]*pem.Block{
		certFile: {Type: "CERTIFICATE", Bytes: der},
		keyFile:  {Type: "PRIVATE KEY", Bytes: pkcs8},
	} {
		if err := os.WriteFile(file, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return certFile, keyFile
}

func TestHTTPS(t *testing.T) {
	// Without https_address: no HTTPS, port 0 and no address.
	plain := start(t, nil)
	if plain.HTTPSPort() != 0 || plain.HTTPSAddress() != "" {
		t.Errorf("without HTTPS: HTTPSPort() = %d, HTTPSAddress() = %q", plain.HTTPSPort(), plain.HTTPSAddress())
	}

	cert, key := selfSigned(t)
	for name, startIt := range map[string]func() (*lookupd.Lookupd, error){
		"map": func() (*lookupd.Lookupd, error) {
			return lookupd.Start(config(map[string]any{"https_address": "127.0.0.1:0", "tls_cert": cert, "tls_key": key}))
		},
		"Config": func() (*lookupd.Lookupd, error) {
			return lookupd.StartConfig(lookupd.Config{
				TCPAddress: "127.0.0.1:0", HTTPAddress: "127.0.0.1:0", HTTPSAddress: "127.0.0.1:0",
				TLSCert: cert, TLSKey: key, LogLevel: "fatal",
			})
		},
	} {
		t.Run(name, func(t *testing.T) {
			l, err := startIt()
			if err != nil {
				t.Fatal(err)
			}
			defer l.Stop()
			port := l.HTTPSPort()
			if port == 0 || port == l.HTTPPort() || port == l.TCPPort() {
				t.Fatalf("HTTPSPort() = %d (HTTP %d, TCP %d)", port, l.HTTPPort(), l.TCPPort())
			}
			if want := fmt.Sprintf("127.0.0.1:%d", port); l.HTTPSAddress() != want {
				t.Errorf("HTTPSAddress() = %q, want %q", l.HTTPSAddress(), want)
			}
			// HTTPS answers there, with the certificate it was given.
			pool := x509.NewCertPool()
			pemBytes, err := os.ReadFile(cert)
			if err != nil || !pool.AppendCertsFromPEM(pemBytes) {
				t.Fatalf("reading %s: %v", cert, err)
			}
			client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
				DisableKeepAlives: true,
				TLSClientConfig:   &tls.Config{RootCAs: pool},
			}}
			resp, err := client.Get("https://" + l.HTTPSAddress() + "/ping")
			if err != nil {
				t.Fatalf("GET https://%s/ping: %v", l.HTTPSAddress(), err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || string(body) != "OK" {
				t.Errorf("GET /ping over HTTPS: %d %q", resp.StatusCode, body)
			}
			// The port stays readable after Stop, as the others.
			l.Stop()
			if l.HTTPSPort() != port {
				t.Errorf("HTTPSPort() after Stop = %d, want %d", l.HTTPSPort(), port)
			}
		})
	}
}

func TestInstancesAreIndependent(t *testing.T) {
	a := start(t, nil)
	b := start(t, nil)
	if a.TCPPort() == b.TCPPort() || a.HTTPPort() == b.HTTPPort() {
		t.Fatalf("instances share ports: %d/%d and %d/%d", a.TCPPort(), a.HTTPPort(), b.TCPPort(), b.HTTPPort())
	}
	mustNsqd(t, a, "a-host", "orders billing")
	mustNsqd(t, b, "b-host", "payments")

	if topics, err := a.Topics(); err != nil || !reflect.DeepEqual(topics, []string{"orders"}) {
		t.Errorf("a.Topics() = %q, %v", topics, err)
	}
	if topics, err := b.Topics(); err != nil || !reflect.DeepEqual(topics, []string{"payments"}) {
		t.Errorf("b.Topics() = %q, %v", topics, err)
	}
	if _, err := b.Lookup("orders"); !errors.Is(err, lookupd.ErrTopicNotFound) {
		t.Errorf("b.Lookup(orders) = %v, want ErrTopicNotFound", err)
	}

	if err := a.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Topics(); !errors.Is(err, lookupd.ErrStopped) {
		t.Errorf("a.Topics() after a.Stop() = %v", err)
	}
	// b keeps serving, through the binding and over HTTP.
	if r, err := b.Lookup("payments"); err != nil || len(r.Producers) != 1 || r.Producers[0].Hostname != "b-host" {
		t.Errorf("b.Lookup(payments) after a.Stop() = %+v, %v", r, err)
	}
	if status, body := httpGet(t, b.HTTPPort(), "/ping"); status != http.StatusOK || body != "OK" {
		t.Errorf("b /ping after a.Stop() = %d %q", status, body)
	}
}

// Eight goroutines query while a fake nsqd registers topics and failing
// Starts run alongside. Each error's message must be the one for its own
// call: lookupd_last_error is per OS thread, goroutines are not.
func TestConcurrentQueries(t *testing.T) {
	l := start(t, nil)
	mustNsqd(t, l, "go-host", "orders billing")
	writer := mustNsqd(t, l, "writer-host")

	const topics = 100
	done := make(chan error, 1)
	go func() {
		for i := 0; i < topics; i++ {
			if err := writer.register(fmt.Sprintf("t%03d ch", i)); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()

	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				r, err := l.Lookup("orders")
				if err != nil || !reflect.DeepEqual(r.Channels, []string{"billing"}) || len(r.Producers) != 1 {
					t.Errorf("Lookup(orders) = %+v, %v", r, err)
					return
				}
				if topics, err := l.Topics(); err != nil || len(topics) == 0 {
					t.Errorf("Topics() = %q, %v", topics, err)
					return
				}
				if nodes, err := l.Nodes(); err != nil || len(nodes) != 2 {
					t.Errorf("Nodes() = %+v, %v", nodes, err)
					return
				}
				if ch, err := l.Channels("orders"); err != nil || !reflect.DeepEqual(ch, []string{"billing"}) {
					t.Errorf("Channels(orders) = %q, %v", ch, err)
					return
				}
				missing := fmt.Sprintf("missing-%d-%d", g, i)
				var e *lookupd.Error
				if _, err := l.Lookup(missing); !errors.As(err, &e) || e.Code != lookupd.ResultTopicNotFound ||
					!strings.Contains(e.Message, `"`+missing+`"`) {
					t.Errorf("Lookup(%s) = %v", missing, err)
					return
				}
				if i%10 == 0 {
					key := fmt.Sprintf("bogus_%d_%d", g, i)
					err := startErrNoFatal(map[string]any{key: 1})
					if !errors.As(err, &e) || e.Code != lookupd.ResultConfig || !strings.Contains(e.Message, key) {
						t.Errorf("Start with %s = %v", key, err)
						return
					}
				}
			}
		}(g)
	}
	wg.Wait()
	if err := <-done; err != nil {
		t.Fatalf("writer: %v", err)
	}
	if got, err := l.Topics(); err != nil || len(got) != topics+1 {
		t.Errorf("Topics() after the writer = %d topics, %v", len(got), err)
	}
}

// startErrNoFatal is startErr for goroutines other than the test's.
func startErrNoFatal(extra map[string]any) error {
	l, err := lookupd.Start(config(extra))
	if err == nil {
		l.Stop()
		return errors.New("Start succeeded")
	}
	return err
}

// Stop waits for queries in flight and every later query sees ErrStopped,
// never a freed handle.
func TestStopDuringQueries(t *testing.T) {
	l, err := lookupd.Start(config(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Stop()
	mustNsqd(t, l, "go-host", "orders billing")

	var wg sync.WaitGroup
	started := make(chan struct{}, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				if i == 10 {
					started <- struct{}{}
				}
				_, err := l.Lookup("orders")
				if errors.Is(err, lookupd.ErrStopped) {
					return
				}
				if err != nil {
					t.Errorf("Lookup during Stop: %v", err)
					return
				}
			}
		}()
	}
	for g := 0; g < 8; g++ {
		<-started
	}
	if err := l.Stop(); err != nil {
		t.Errorf("Stop: %v", err)
	}
	wg.Wait()
}

func TestVersion(t *testing.T) {
	v := lookupd.Version()
	if !strings.Contains(v, "(nsq 1.3.0)") {
		t.Errorf("Version() = %q", v)
	}
}

func TestResultString(t *testing.T) {
	for r, want := range map[lookupd.Result]string{
		lookupd.ResultTopicNotFound: "LOOKUPD_ERR_TOPIC_NOT_FOUND",
		lookupd.ResultTimeout:       "LOOKUPD_ERR_TIMEOUT",
		lookupd.ResultStopped:       "LOOKUPD_ERR_STOPPED",
		lookupd.ResultInvalidArg:    "LOOKUPD_ERR_INVALID_ARG",
		lookupd.ResultCancelled:     "LOOKUPD_ERR_CANCELLED",
	} {
		if s := r.String(); s != want {
			t.Errorf("Result(%d).String() = %q, want %q", int(r), s, want)
		}
	}
	// The values are the header's, which never reuses one.
	if lookupd.ResultTimeout != 8 || lookupd.ResultStopped != 9 || lookupd.ResultInvalidArg != 10 || lookupd.ResultCancelled != 11 {
		t.Errorf("wait results = %d %d %d %d", lookupd.ResultTimeout, lookupd.ResultStopped, lookupd.ResultInvalidArg, lookupd.ResultCancelled)
	}
	if s := lookupd.Result(42).String(); s != "lookupd_result(42)" {
		t.Errorf("Result(42).String() = %q", s)
	}
}
