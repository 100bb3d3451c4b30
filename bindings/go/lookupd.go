// Package lookupd embeds lookupd, a Rust reimplementation of NSQ's
// nsqlookupd, in a Go process through its C ABI (include/lookupd.h).
//
// An instance serves nsqd's TCP protocol and the HTTP API (and HTTPS,
// when configured) on its own threads, exactly as the nsqlookupd binary
// does; this package starts it (from a Config or a map of options), reads
// its bound ports, asks it the questions HTTP clients ask (lookup, topics,
// channels, nodes) without going through HTTP, and stops it.
//
// WaitForProducers blocks until a topic has producers, woken by registry
// changes rather than by polling, and ends early when its context does or
// when the instance stops.
//
// By default the package links the optimised static library of this
// repository, target/release/liblookupd.a, so the C library must be
// built first (`make -C bindings/c lib PROFILE=release` at the repository
// root).
// With the build tag lookupd_pkgconfig it links an installed lookupd found
// through pkg-config instead (see link_pkgconfig.go and README.md).
//
// Failures reported by lookupd are *Error values carrying the C result
// code and lookupd's own message; errors.Is(err, ErrTopicNotFound) tells
// an unknown topic apart. ErrStopped and ErrNUL come from this package
// itself, for calls it refuses before reaching C.
//
// Package lookupdtest starts an instance for a test and stops it when the
// test ends, as net/http/httptest does for HTTP servers.
package lookupd

// The cgo flags that say where the header and the library come from are in
// link_release.go (the default) and link_pkgconfig.go.

/*
#include <stdlib.h>
#include "lookupd.h"
*/
import "C"

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// Result is a lookupd_result, the code every C function returns.
type Result int

// The lookupd_result values, taken from the header so they cannot drift.
const (
	ResultOK            Result = C.LOOKUPD_OK
	ResultNull          Result = C.LOOKUPD_ERR_NULL
	ResultUTF8          Result = C.LOOKUPD_ERR_UTF8
	ResultConfig        Result = C.LOOKUPD_ERR_CONFIG
	ResultBind          Result = C.LOOKUPD_ERR_BIND
	ResultStart         Result = C.LOOKUPD_ERR_START
	ResultTopicNotFound Result = C.LOOKUPD_ERR_TOPIC_NOT_FOUND
	ResultInternal      Result = C.LOOKUPD_ERR_INTERNAL
	ResultTimeout       Result = C.LOOKUPD_ERR_TIMEOUT
	ResultStopped       Result = C.LOOKUPD_ERR_STOPPED
	ResultInvalidArg    Result = C.LOOKUPD_ERR_INVALID_ARG
	ResultCancelled     Result = C.LOOKUPD_ERR_CANCELLED
	ResultPanic         Result = C.LOOKUPD_ERR_PANIC
)

// String gives the C name, which is what people grep the header for.
func (r Result) String() string {
	switch r {
	case ResultOK:
		return "LOOKUPD_OK"
	case ResultNull:
		return "LOOKUPD_ERR_NULL"
	case ResultUTF8:
		return "LOOKUPD_ERR_UTF8"
	case ResultConfig:
		return "LOOKUPD_ERR_CONFIG"
	case ResultBind:
		return "LOOKUPD_ERR_BIND"
	case ResultStart:
		return "LOOKUPD_ERR_START"
	case ResultTopicNotFound:
		return "LOOKUPD_ERR_TOPIC_NOT_FOUND"
	case ResultInternal:
		return "LOOKUPD_ERR_INTERNAL"
	case ResultTimeout:
		return "LOOKUPD_ERR_TIMEOUT"
	case ResultStopped:
		return "LOOKUPD_ERR_STOPPED"
	case ResultInvalidArg:
		return "LOOKUPD_ERR_INVALID_ARG"
	case ResultCancelled:
		return "LOOKUPD_ERR_CANCELLED"
	case ResultPanic:
		return "LOOKUPD_ERR_PANIC"
	}
	return fmt.Sprintf("lookupd_result(%d)", int(r))
}

// Error is a failure lookupd reported: its result code and the message
// lookupd_last_error gave for that very call.
type Error struct {
	Code    Result
	Message string
}

func (e *Error) Error() string {
	if e.Message == "" {
		return "lookupd: " + e.Code.String()
	}
	return "lookupd: " + e.Message
}

// Is lets errors.Is(err, ErrTopicNotFound) and errors.Is(err, ErrStopped)
// work without callers having to unwrap an *Error and compare codes
// themselves.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrTopicNotFound:
		return e.Code == ResultTopicNotFound
	case ErrStopped:
		return e.Code == ResultStopped
	}
	return false
}

var (
	// ErrTopicNotFound matches (with errors.Is) the *Error of a lookup for
	// a topic that is not registered: HTTP's 404 TOPIC_NOT_FOUND.
	ErrTopicNotFound = errors.New("lookupd: topic not found")

	// ErrStopped is returned by every call on an instance once Stop has
	// begun: the C handle is freed by then, and using it would be a
	// use-after-free. It also matches (with errors.Is) the *Error, with
	// Code ResultStopped, of a WaitForProducers that Stop ended.
	ErrStopped = errors.New("lookupd: instance is stopped")

	// ErrNUL is wrapped by the error for a string argument containing a
	// NUL byte: a C string would silently end there and lookupd would
	// answer for a different string than the one asked about.
	ErrNUL = errors.New("lookupd: string contains a NUL byte")
)

// Lookupd is a running instance. Its methods may be called from any number
// of goroutines at once, Stop included.
type Lookupd struct {
	// mu guards h, calls and stopped. It is only ever held briefly: never
	// across a call into lookupd, which may block (a wait).
	mu sync.Mutex
	// h is the C handle, nil once Stop has begun: from then on no call
	// may begin (lookupd_stop must be the handle's last use).
	h *C.lookupd
	// calls counts the calls in progress on h (begun with enter, ended
	// with leave); Stop waits on idle until it is 0 before lookupd_stop.
	calls int
	idle  sync.Cond
	// stopped is made by the first Stop and closed when the handle is
	// freed; a Stop called meanwhile waits for it.
	stopped chan struct{}

	// The ports never change once bound, so they are read once at Start
	// and stay readable after Stop (httpsPort is 0 without HTTPS). The
	// hosts are what a client dials to reach the listen addresses (see
	// TCPAddress).
	tcpPort, httpPort, httpsPort uint16
	tcpHost, httpHost, httpsHost string
}

// call runs fn, which calls one lookupd C function, and turns a failure
// into an *Error. lookupd_last_error is thread-local and goroutines move
// between OS threads, so the goroutine is pinned to one thread from the
// call until the message is copied; otherwise it could read another
// call's message, or a string freed by another call's failure.
func call(fn func() C.enum_lookupd_result) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	rc := Result(fn())
	if rc == ResultOK {
		return nil
	}
	var msg string
	if p := C.lookupd_last_error(); p != nil {
		msg = C.GoString(p)
	}
	return &Error{Code: rc, Message: msg}
}

// cString copies s for C, refusing rather than truncating at a NUL byte.
// The caller frees the result with C.free.
func cString(what, s string) (*C.char, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return nil, fmt.Errorf("%w (%s %q)", ErrNUL, what, s)
	}
	return C.CString(s), nil
}

// Start starts an instance. config holds the keys include/lookupd.h
// documents (tcp_address, http_address, https_address, broadcast_address,
// inactive_producer_timeout, tombstone_lifetime, log_level, log_prefix,
// threads, ...); nil means every default, which binds 0.0.0.0:4160 and
// 0.0.0.0:4161. Port 0 picks a free port (see TCPPort and HTTPPort).
// StartConfig takes the common options as a typed Config.
//
// A time.Duration value is passed as Go duration text ("45s"): encoded as
// a JSON number it would be read as milliseconds, as nsqlookupd's config
// file reads integers, and mean something a million times longer.
//
// An unknown key or bad value is an *Error with Code ResultConfig naming
// the key; an address in use is ResultBind. The caller must Stop the
// instance.
func Start(config map[string]any) (*Lookupd, error) {
	if config == nil {
		return start(nil)
	}
	body, err := json.Marshal(encodeOptions(config))
	if err != nil {
		return nil, &Error{Code: ResultConfig, Message: "config cannot be encoded as JSON: " + err.Error()}
	}
	return StartJSON(string(body))
}

// Config is the typed form of the options a Go host usually sets, for
// StartConfig. Each field is sent under its option key (the json tag),
// and a field left at its zero value is not sent at all, so the option
// keeps lookupd's default: an empty Config is every default (0.0.0.0:4160
// and 0.0.0.0:4161). Durations are sent as Go duration text ("45s").
//
// An option whose zero value means something of its own (log_prefix "",
// producer_heartbeat_timeout 0 for "never"), and every option Config has
// no field for (the connection and size bounds, http_allow, ...), is set
// through Start's map instead.
type Config struct {
	// TCPAddress is the <addr>:<port> nsqd connects to (port 0: any free
	// port); HTTPAddress is the HTTP API's, HTTPSAddress the HTTPS one's
	// (empty: no HTTPS), which needs TLSCert and TLSKey, PEM file paths.
	TCPAddress   string `json:"tcp_address,omitempty"`
	HTTPAddress  string `json:"http_address,omitempty"`
	HTTPSAddress string `json:"https_address,omitempty"`
	TLSCert      string `json:"tls_cert,omitempty"`
	TLSKey       string `json:"tls_key,omitempty"`
	// BroadcastAddress is the address this lookupd reports for itself
	// (default: the host name).
	BroadcastAddress string `json:"broadcast_address,omitempty"`
	// InactiveProducerTimeout: a producer not heard from this long is no
	// longer listed (default 300s); TombstoneLifetime: how long a
	// tombstoned producer stays hidden (default 45s).
	InactiveProducerTimeout time.Duration `json:"inactive_producer_timeout,omitempty"`
	TombstoneLifetime       time.Duration `json:"tombstone_lifetime,omitempty"`
	// ProducerHeartbeatTimeout closes an identified nsqd connection silent
	// this long (default 45s; "never" needs the map form's 0).
	ProducerHeartbeatTimeout time.Duration `json:"producer_heartbeat_timeout,omitempty"`
	// ProducerAddress is the address answers give for a producer:
	// "broadcast" (the default), "remote" or "auto".
	ProducerAddress string `json:"producer_address,omitempty"`
	// LogLevel is debug, info (the default), warn, error or fatal;
	// LogPrefix replaces "[nsqlookupd] ".
	LogLevel  string `json:"log_level,omitempty"`
	LogPrefix string `json:"log_prefix,omitempty"`
	// Threads serving connections (default: from the CPU count).
	Threads int `json:"threads,omitempty"`
	// HTTPAuthToken is the bearer token mutating HTTP endpoints require
	// (and every endpoint but /ping with HTTPAuthReads).
	HTTPAuthToken string `json:"http_auth_token,omitempty"`
	HTTPAuthReads bool   `json:"http_auth_reads,omitempty"`
	// DataPath is a directory for the registry's snapshot (empty: none);
	// RestartGrace how long restored producers are answered before their
	// nsqd identifies again (default 45s).
	DataPath     string        `json:"data_path,omitempty"`
	RestartGrace time.Duration `json:"restart_grace,omitempty"`
}

var durationType = reflect.TypeOf(time.Duration(0))

// options is c as the map Start takes: every field not at its zero value,
// under its json tag's key.
func (c Config) options() map[string]any {
	out := map[string]any{}
	v := reflect.ValueOf(c)
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := v.Field(i)
		key, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if key == "" || key == "-" || f.IsZero() {
			continue
		}
		if f.Type() == durationType {
			out[key] = time.Duration(f.Int())
		} else {
			out[key] = f.Interface()
		}
	}
	return out
}

// MarshalJSON encodes c as lookupd_start takes it (what StartConfig
// sends): the fields not at their zero value, under their option keys,
// durations as Go duration text.
func (c Config) MarshalJSON() ([]byte, error) {
	return json.Marshal(encodeOptions(c.options()))
}

// StartConfig is Start with a typed configuration (see Config).
func StartConfig(c Config) (*Lookupd, error) {
	return Start(c.options())
}

// encodeOptions gives the map to encode for lookupd: time.Duration values
// as Go duration text.
func encodeOptions(config map[string]any) map[string]any {
	encoded := make(map[string]any, len(config))
	for k, v := range config {
		if d, ok := v.(time.Duration); ok {
			v = d.String()
		}
		encoded[k] = v
	}
	return encoded
}

// StartJSON is Start with the configuration already encoded as a JSON
// object, passed to lookupd_start unchanged; "{}" means the defaults.
func StartJSON(config string) (*Lookupd, error) {
	c, err := cString("config", config)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(c))
	l, err := start(c)
	if err != nil {
		return nil, err
	}
	// lookupd accepted the JSON, so it is an object; only the listen
	// addresses are read back, to know which host reaches them.
	var keys map[string]any
	_ = json.Unmarshal([]byte(config), &keys)
	l.tcpHost = dialHost(keys["tcp_address"])
	l.httpHost = dialHost(keys["http_address"])
	l.httpsHost = dialHost(keys["https_address"])
	return l, nil
}

// dialHost is the host a client on this machine dials to reach a
// listener bound to address (a config value; not a string, or absent,
// means the default, which is on all interfaces): the loopback address
// for an unspecified host, the configured host otherwise.
func dialHost(address any) string {
	s, _ := address.(string)
	host, _, err := net.SplitHostPort(s)
	if err != nil || host == "" {
		return "127.0.0.1"
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		if ip.To4() != nil {
			return "127.0.0.1"
		}
		return "::1"
	}
	return host
}

func start(config *C.char) (*Lookupd, error) {
	var h *C.lookupd
	if err := call(func() C.enum_lookupd_result { return C.lookupd_start(config, &h) }); err != nil {
		return nil, err
	}
	var tcp, http, https C.uint16_t
	err := call(func() C.enum_lookupd_result { return C.lookupd_tcp_port(h, &tcp) })
	if err == nil {
		err = call(func() C.enum_lookupd_result { return C.lookupd_http_port(h, &http) })
	}
	if err == nil {
		err = call(func() C.enum_lookupd_result { return C.lookupd_https_port(h, &https) })
	}
	if err != nil {
		// Nobody else has the handle yet, so nothing can race this stop.
		C.lookupd_stop(h)
		return nil, err
	}
	l := &Lookupd{
		h:         h,
		tcpPort:   uint16(tcp),
		httpPort:  uint16(http),
		httpsPort: uint16(https),
		tcpHost:   "127.0.0.1",
		httpHost:  "127.0.0.1",
		httpsHost: "127.0.0.1",
	}
	l.idle.L = &l.mu
	return l, nil
}

// TCPPort is the bound port nsqd connects to.
func (l *Lookupd) TCPPort() uint16 { return l.tcpPort }

// HTTPPort is the bound port of the HTTP API.
func (l *Lookupd) HTTPPort() uint16 { return l.httpPort }

// HTTPSPort is the bound port of the HTTPS API, 0 when the instance serves
// no HTTPS (no https_address in its configuration).
func (l *Lookupd) HTTPSPort() uint16 { return l.httpsPort }

// TCPAddress is the host:port at which nsqd reaches the instance, what to
// give nsqd's -lookupd-tcp-address: "127.0.0.1:PORT" when it listens on
// loopback or on every interface (the host it was given otherwise).
func (l *Lookupd) TCPAddress() string {
	return net.JoinHostPort(l.tcpHost, strconv.Itoa(int(l.tcpPort)))
}

// HTTPAddress is the host:port of the HTTP API, what consumers are given
// as their lookupd address (go-nsq's ConnectToNSQLookupd, nsqadmin's
// -lookupd-http-address), chosen as TCPAddress chooses its host.
func (l *Lookupd) HTTPAddress() string {
	return net.JoinHostPort(l.httpHost, strconv.Itoa(int(l.httpPort)))
}

// HTTPSAddress is the host:port of the HTTPS API ("https://" +
// HTTPSAddress()), chosen as TCPAddress chooses its host; "" when the
// instance serves no HTTPS.
func (l *Lookupd) HTTPSAddress() string {
	if l.httpsPort == 0 {
		return ""
	}
	return net.JoinHostPort(l.httpsHost, strconv.Itoa(int(l.httpsPort)))
}

// Waiting is how many WaitForProducers calls are blocked on the instance
// now: begun, not satisfied at their first look, and not ended. A test
// (or a host about to stop) learns from it that its goroutines' waits are
// in place, rather than sleeping and hoping. After Stop it is ErrStopped.
func (l *Lookupd) Waiting() (int, error) {
	h, err := l.enter()
	if err != nil {
		return 0, err
	}
	defer l.leave()
	var n C.uint32_t
	if err := call(func() C.enum_lookupd_result { return C.lookupd_waiting(h, &n) }); err != nil {
		return 0, err
	}
	return int(n), nil
}

// Stop stops accepting, closes every connection (registered nsqd see EOF),
// joins lookupd's threads and frees the instance.
//
// Calls begun before Stop finish first: queries run to their end, and
// every WaitForProducers in progress is ended at once with an error
// matching ErrStopped (Stop never waits for a wait's deadline). Calls
// begun after it return ErrStopped. Stopping again, or stopping a nil
// *Lookupd, returns nil once the first Stop has finished.
func (l *Lookupd) Stop() error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	if l.stopped != nil {
		stopped := l.stopped
		l.mu.Unlock()
		<-stopped
		return nil
	}
	stopped := make(chan struct{})
	l.stopped = stopped
	defer close(stopped)
	// From here enter refuses every call. lookupd_stop consumes the handle
	// even when it reports a failure, so it is forgotten first: a retry
	// must not free it twice.
	h := l.h
	l.h = nil
	l.mu.Unlock()
	// Ends every wait on h, in progress or about to begin, with
	// ResultStopped, while queries keep answering: safe with calls in
	// progress, unlike lookupd_stop.
	C.lookupd_shutdown(h)
	l.mu.Lock()
	for l.calls > 0 {
		l.idle.Wait()
	}
	l.mu.Unlock()
	// No call is in progress and none can begin: this is the last use.
	return call(func() C.enum_lookupd_result { return C.lookupd_stop(h) })
}

// enter begins a call on the handle, which stays valid until the matching
// leave: Stop waits for it. Once Stop has begun, enter refuses with
// ErrStopped.
func (l *Lookupd) enter() (*C.lookupd, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.h == nil {
		return nil, ErrStopped
	}
	l.calls++
	return l.h, nil
}

// leave ends a call begun with enter.
func (l *Lookupd) leave() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls--
	if l.calls == 0 {
		l.idle.Broadcast()
	}
}

// query runs one lookupd_query_* function, freeing the string it returns
// once copied into Go memory.
func (l *Lookupd) query(fn func(h *C.lookupd, out **C.char) C.enum_lookupd_result) (string, error) {
	h, err := l.enter()
	if err != nil {
		return "", err
	}
	defer l.leave()
	var out *C.char
	if err := call(func() C.enum_lookupd_result { return fn(h, &out) }); err != nil {
		return "", err
	}
	defer C.lookupd_string_free(out)
	return C.GoString(out), nil
}

// queryTopic is query for the functions that take a topic.
func (l *Lookupd) queryTopic(topic string, fn func(h *C.lookupd, topic *C.char, out **C.char) C.enum_lookupd_result) (string, error) {
	t, err := cString("topic", topic)
	if err != nil {
		return "", err
	}
	defer C.free(unsafe.Pointer(t))
	return l.query(func(h *C.lookupd, out **C.char) C.enum_lookupd_result { return fn(h, t, out) })
}

// LookupJSON is the body of GET /lookup?topic=<topic>, byte for byte. An
// unregistered (or invalid) topic is an error matching ErrTopicNotFound.
func (l *Lookupd) LookupJSON(topic string) (string, error) {
	return l.queryTopic(topic, func(h *C.lookupd, t *C.char, out **C.char) C.enum_lookupd_result {
		return C.lookupd_query_lookup(h, t, out)
	})
}

// TopicsJSON is the body of GET /topics, byte for byte.
func (l *Lookupd) TopicsJSON() (string, error) {
	return l.query(func(h *C.lookupd, out **C.char) C.enum_lookupd_result {
		return C.lookupd_query_topics(h, out)
	})
}

// ChannelsJSON is the body of GET /channels?topic=<topic>, byte for byte;
// an unknown topic has no channels rather than being an error, as in HTTP.
func (l *Lookupd) ChannelsJSON(topic string) (string, error) {
	return l.queryTopic(topic, func(h *C.lookupd, t *C.char, out **C.char) C.enum_lookupd_result {
		return C.lookupd_query_channels(h, t, out)
	})
}

// NodesJSON is the body of GET /nodes, byte for byte.
func (l *Lookupd) NodesJSON() (string, error) {
	return l.query(func(h *C.lookupd, out **C.char) C.enum_lookupd_result {
		return C.lookupd_query_nodes(h, out)
	})
}

// Producer is an nsqd that holds a topic, as /lookup lists it.
type Producer struct {
	RemoteAddress    string `json:"remote_address"`
	Hostname         string `json:"hostname"`
	BroadcastAddress string `json:"broadcast_address"`
	TCPPort          int    `json:"tcp_port"`
	HTTPPort         int    `json:"http_port"`
	Version          string `json:"version"`
	TopologyZone     string `json:"topology_zone"`
	TopologyRegion   string `json:"topology_region"`
}

// LookupResult is the answer of /lookup: the topic's channels and the
// producers that hold it.
type LookupResult struct {
	Channels  []string   `json:"channels"`
	Producers []Producer `json:"producers"`
}

// Node is an active nsqd as /nodes lists it. Tombstones[i] tells whether
// its registration of Topics[i] is tombstoned.
type Node struct {
	RemoteAddress    string   `json:"remote_address"`
	Hostname         string   `json:"hostname"`
	BroadcastAddress string   `json:"broadcast_address"`
	TCPPort          int      `json:"tcp_port"`
	HTTPPort         int      `json:"http_port"`
	Version          string   `json:"version"`
	TopologyZone     string   `json:"topology_zone"`
	TopologyRegion   string   `json:"topology_region"`
	Tombstones       []bool   `json:"tombstones"`
	Topics           []string `json:"topics"`
}

func decode(what, body string, v any) error {
	if err := json.Unmarshal([]byte(body), v); err != nil {
		return fmt.Errorf("lookupd: decoding the %s answer: %w", what, err)
	}
	return nil
}

// Lookup is LookupJSON decoded.
func (l *Lookupd) Lookup(topic string) (LookupResult, error) {
	var r LookupResult
	body, err := l.LookupJSON(topic)
	if err == nil {
		err = decode("lookup", body, &r)
	}
	return r, err
}

// Topics is TopicsJSON decoded: every topic, sorted.
func (l *Lookupd) Topics() ([]string, error) {
	var r struct {
		Topics []string `json:"topics"`
	}
	body, err := l.TopicsJSON()
	if err == nil {
		err = decode("topics", body, &r)
	}
	return r.Topics, err
}

// Channels is ChannelsJSON decoded: the topic's channels, sorted.
func (l *Lookupd) Channels(topic string) ([]string, error) {
	var r struct {
		Channels []string `json:"channels"`
	}
	body, err := l.ChannelsJSON(topic)
	if err == nil {
		err = decode("channels", body, &r)
	}
	return r.Channels, err
}

// Nodes is NodesJSON decoded.
func (l *Lookupd) Nodes() ([]Node, error) {
	var r struct {
		Producers []Node `json:"producers"`
	}
	body, err := l.NodesJSON()
	if err == nil {
		err = decode("nodes", body, &r)
	}
	return r.Producers, err
}

// maxWaitMillis is the longest wait lookupd_wait_lookup_cancellable takes
// at once (its timeout is a uint32 of milliseconds, about 49.7 days).
const maxWaitMillis = math.MaxUint32

// waitMillis is the timeout of the next lookupd wait for ctx: the time to
// its deadline, rounded up so that lookupd's timeout never ends the wait
// before the context's, or the maximum (a wait without a deadline, or
// with one further off, waits again when it ends). It is never 0: a wait
// of 0 ms looks once and times out, and retrying it until the context's
// timer fires would spin.
func waitMillis(ctx context.Context) uint32 {
	deadline, ok := ctx.Deadline()
	if !ok {
		return maxWaitMillis
	}
	d := time.Until(deadline)
	if d <= 0 {
		// Past the deadline but the context is not done yet: its timer
		// is about to fire, and the watcher then ends this wait through
		// its token, with the context's own error.
		return maxWaitMillis
	}
	ms := (d + time.Millisecond - 1) / time.Millisecond
	if ms > maxWaitMillis {
		return maxWaitMillis
	}
	return uint32(ms)
}

// WaitForProducers returns what Lookup(topic) returns as soon as the topic
// lists at least n producers (as /lookup counts them: active and not
// tombstoned); with n 0, as soon as the topic exists. It is woken by
// registry changes, not by polling.
//
// It ends early when ctx ends, with an error wrapping ctx.Err()
// (errors.Is(err, context.DeadlineExceeded) for a deadline,
// errors.Is(err, context.Canceled) for a cancel), and when Stop is called,
// with an *Error matching ErrStopped. A topic that is not a valid name
// could never be registered: it is an *Error with Code ResultInvalidArg
// at once, as is n < 0 or n > math.MaxUint32.
func (l *Lookupd) WaitForProducers(ctx context.Context, topic string, n int) (LookupResult, error) {
	var r LookupResult
	body, err := l.WaitForProducersJSON(ctx, topic, n)
	if err == nil {
		err = decode("lookup", body, &r)
	}
	return r, err
}

// WaitForProducersJSON is WaitForProducers giving the /lookup body byte
// for byte, as LookupJSON does.
func (l *Lookupd) WaitForProducersJSON(ctx context.Context, topic string, n int) (string, error) {
	if n < 0 || uint64(n) > math.MaxUint32 {
		return "", &Error{Code: ResultInvalidArg, Message: fmt.Sprintf("wait for topic %q: %d is not a number of producers", topic, n)}
	}
	t, err := cString("topic", topic)
	if err != nil {
		return "", err
	}
	defer C.free(unsafe.Pointer(t))
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("lookupd: wait for topic %q: %w", topic, err)
	}

	// The context ends the wait through a cancel token (Stop ends it
	// through lookupd_shutdown). Deferred calls run last first: the
	// watcher that fires the token is joined before the token is freed.
	var token *C.lookupd_cancel
	if err := call(func() C.enum_lookupd_result { return C.lookupd_cancel_new(&token) }); err != nil {
		return "", err
	}
	defer C.lookupd_cancel_free(token)
	h, err := l.enter()
	if err != nil {
		return "", err
	}
	defer l.leave()
	if done := ctx.Done(); done != nil {
		quit := make(chan struct{})
		exited := make(chan struct{})
		go func() {
			defer close(exited)
			select {
			case <-done:
				// A token stays fired: this ends the wait now, or as
				// soon as it is inside lookupd.
				C.lookupd_cancel_fire(token)
			case <-quit:
			}
		}()
		defer func() {
			close(quit)
			<-exited
		}()
	}

	for {
		var out *C.char
		err := call(func() C.enum_lookupd_result {
			return C.lookupd_wait_lookup_cancellable(h, t, C.uint32_t(n), C.uint32_t(waitMillis(ctx)), token, &out)
		})
		if err == nil {
			defer C.lookupd_string_free(out)
			return C.GoString(out), nil
		}
		var e *Error
		if !errors.As(err, &e) {
			return "", err
		}
		switch e.Code {
		case ResultCancelled:
			// Only the context's watcher fires the token.
			return "", fmt.Errorf("lookupd: wait for topic %q: %w", topic, ctx.Err())
		case ResultStopped:
			return "", &Error{Code: ResultStopped, Message: fmt.Sprintf("wait for topic %q: the instance stopped", topic)}
		case ResultTimeout:
			if ctxErr := ctx.Err(); ctxErr != nil {
				return "", fmt.Errorf("lookupd: wait for topic %q: %w", topic, ctxErr)
			}
			// The longest wait ended, or the deadline passed a moment
			// before the context's timer fired: wait again.
			continue
		}
		return "", err
	}
}

// Version is the library's version, e.g. "0.1.0 (nsq 1.3.0)".
func Version() string {
	return C.GoString(C.lookupd_version())
}
