package lookupd_test

import (
	"errors"
	"fmt"
	"time"

	lookupd "lookupd.example/bindings/go"
)

func ExampleStart() {
	config := map[string]any{
		"tcp_address":        "127.0.0.1:0", // 0: any free port
		"http_address":       "127.0.0.1:0",
		"log_level":          "fatal",
		"tombstone_lifetime": 45 * time.Second, // sent as "45s"
	}
	l, err := lookupd.Start(config)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Stop()
	fmt.Println("listening:", l.TCPPort() != 0 && l.HTTPPort() != 0)

	// No nsqd has registered anything yet.
	topics, err := l.Topics()
	fmt.Println(topics, err)
	_, err = l.Lookup("orders")
	fmt.Println(errors.Is(err, lookupd.ErrTopicNotFound), err)

	// A bad configuration names the key at fault.
	config["tombstone_lifetime"] = "soon"
	_, err = lookupd.Start(config)
	var e *lookupd.Error
	if errors.As(err, &e) {
		fmt.Println(e.Code, e.Message)
	}
	// Output:
	// listening: true
	// [] <nil>
	// true lookupd: topic "orders" not found
	// LOOKUPD_ERR_CONFIG invalid option tombstone_lifetime: invalid duration "soon"
}
