// Package lookupd embeds lookupd, a Rust reimplementation of NSQ's
// nsqlookupd, in a Go process through its C ABI (include/lookupd.h).
//
// An instance serves nsqd's TCP protocol and the HTTP API on its own
// threads, exactly as the nsqlookupd binary does; this package starts it,
// reads its bound ports, asks it the questions HTTP clients ask (lookup,
// topics, channels, nodes) without going through HTTP, and stops it.
//
// The package links target/debug/liblookupd.a statically, so the Rust
// library must be built first (`cargo build` at the repository root).
//
// Failures reported by lookupd are *Error values carrying the C result
// code and lookupd's own message; errors.Is(err, ErrTopicNotFound) tells
// an unknown topic apart. ErrStopped and ErrNUL come from this package
// itself, for calls it refuses before reaching C.
package lookupd

/*
#cgo CFLAGS: -I${SRCDIR}/../../include
#cgo LDFLAGS: ${SRCDIR}/../../target/debug/liblookupd.a -ldl -lpthread -lm
#include <stdlib.h>
#include "lookupd.h"
*/
import "C"

import (
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
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

// Is lets errors.Is(err, ErrTopicNotFound) work without callers having to
// unwrap an *Error and compare codes themselves.
func (e *Error) Is(target error) bool {
	return target == ErrTopicNotFound && e.Code == ResultTopicNotFound
}

var (
	// ErrTopicNotFound matches (with errors.Is) the *Error of a lookup for
	// a topic that is not registered: HTTP's 404 TOPIC_NOT_FOUND.
	ErrTopicNotFound = errors.New("lookupd: topic not found")

	// ErrStopped is returned by every query on an instance after Stop: the
	// C handle is freed by then, and using it would be a use-after-free.
	ErrStopped = errors.New("lookupd: instance is stopped")

	// ErrNUL is wrapped by the error for a string argument containing a
	// NUL byte: a C string would silently end there and lookupd would
	// answer for a different string than the one asked about.
	ErrNUL = errors.New("lookupd: string contains a NUL byte")
)

// Lookupd is a running instance. Its methods may be called from any number
// of goroutines at once, Stop included.
type Lookupd struct {
	// mu is held for reading by every call that uses h and for writing by
	// Stop, because lookupd_stop frees the handle and must be its last use.
	mu sync.RWMutex
	h  *C.lookupd

	// The ports never change once bound, so they are read once at Start
	// and stay readable after Stop.
	tcpPort, httpPort uint16
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
// documents (tcp_address, http_address, broadcast_address,
// inactive_producer_timeout, tombstone_lifetime, log_level, log_prefix,
// threads, ...); nil means every default, which binds 0.0.0.0:4160 and
// 0.0.0.0:4161. Port 0 picks a free port (see TCPPort and HTTPPort).
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
	encoded := make(map[string]any, len(config))
	for k, v := range config {
		if d, ok := v.(time.Duration); ok {
			v = d.String()
		}
		encoded[k] = v
	}
	body, err := json.Marshal(encoded)
	if err != nil {
		return nil, &Error{Code: ResultConfig, Message: "config cannot be encoded as JSON: " + err.Error()}
	}
	return StartJSON(string(body))
}

// StartJSON is Start with the configuration already encoded as a JSON
// object, passed to lookupd_start unchanged; "{}" means the defaults.
func StartJSON(config string) (*Lookupd, error) {
	c, err := cString("config", config)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(c))
	return start(c)
}

func start(config *C.char) (*Lookupd, error) {
	var h *C.lookupd
	if err := call(func() C.enum_lookupd_result { return C.lookupd_start(config, &h) }); err != nil {
		return nil, err
	}
	var tcp, http C.uint16_t
	err := call(func() C.enum_lookupd_result { return C.lookupd_tcp_port(h, &tcp) })
	if err == nil {
		err = call(func() C.enum_lookupd_result { return C.lookupd_http_port(h, &http) })
	}
	if err != nil {
		// Nobody else has the handle yet, so nothing can race this stop.
		C.lookupd_stop(h)
		return nil, err
	}
	return &Lookupd{h: h, tcpPort: uint16(tcp), httpPort: uint16(http)}, nil
}

// TCPPort is the bound port nsqd connects to.
func (l *Lookupd) TCPPort() uint16 { return l.tcpPort }

// HTTPPort is the bound port of the HTTP API.
func (l *Lookupd) HTTPPort() uint16 { return l.httpPort }

// Stop stops accepting, closes every connection (registered nsqd see EOF),
// joins lookupd's threads and frees the instance. It waits for queries in
// flight to return. Stopping again, or stopping a nil *Lookupd, does
// nothing and returns nil.
func (l *Lookupd) Stop() error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.h
	if h == nil {
		return nil
	}
	// lookupd_stop consumes the handle even when it reports a failure, so
	// it is forgotten first: a retry must not free it twice.
	l.h = nil
	return call(func() C.enum_lookupd_result { return C.lookupd_stop(h) })
}

// query runs one lookupd_query_* function, freeing the string it returns
// once copied into Go memory.
func (l *Lookupd) query(fn func(h *C.lookupd, out **C.char) C.enum_lookupd_result) (string, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.h == nil {
		return "", ErrStopped
	}
	var out *C.char
	if err := call(func() C.enum_lookupd_result { return fn(l.h, &out) }); err != nil {
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

// Version is the library's version, e.g. "0.1.0 (nsq 1.3.0)".
func Version() string {
	return C.GoString(C.lookupd_version())
}
