package lookupd_test

import (
	"context"
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

func ExampleLookupd_WaitForProducers() {
	l, err := lookupd.Start(map[string]any{
		"tcp_address":  "127.0.0.1:0",
		"http_address": "127.0.0.1:0",
		"log_level":    "fatal",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Stop()

	// An nsqd registers "orders" once the wait below is blocked (a fake
	// one: see dialNsqd in lookupd_test.go; a real one is started with
	// -lookupd-tcp-address=l.TCPAddress()). l.Waiting() counts blocked
	// waits, so a test needs no sleep to know the wait is in place.
	var n *nsqd
	registered := make(chan error, 1)
	go func() {
		err := awaitWaiting(l, 1)
		if err == nil {
			if n, err = dialNsqd(l.TCPPort(), "nsqd-1"); err == nil {
				err = n.register("orders")
			}
		}
		registered <- err
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := l.WaitForProducers(ctx, "orders", 1)
	regErr := <-registered
	if n != nil {
		defer n.conn.Close()
	}
	if err != nil {
		fmt.Println(err, regErr)
		return
	}
	fmt.Println(regErr, len(r.Producers), r.Producers[0].Hostname)

	// Waiting for a second producer that never comes ends at the deadline.
	ctx, cancel = context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = l.WaitForProducers(ctx, "orders", 2)
	fmt.Println(errors.Is(err, context.DeadlineExceeded), err)
	// Output:
	// <nil> 1 nsqd-1
	// true lookupd: wait for topic "orders": context deadline exceeded
}
