package lookupdtest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"lookupd.example/bindings/go/lookupdtest"
)

// A test gets an nsqlookupd of its own and points the code under test at
// it. This example is compiled but not run, since only go test can give a
// test its *testing.T; TestNew runs the same steps.
func ExampleNew() {
	var t *testing.T // in a test: func TestConsumer(t *testing.T) { ... }

	l := lookupdtest.New(t) // stopped when the test ends

	// Start nsqd with -lookupd-tcp-address=l.TCPAddress(), and give the
	// consumer under test l.HTTPAddress() (go-nsq: ConnectToNSQLookupd).
	fmt.Println("nsqd registers at", l.TCPAddress(), "- consumers ask", l.HTTPAddress())

	// Then wait until nsqd holds the topic, rather than sleeping.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := l.WaitForProducers(ctx, "orders", 1)
	if err != nil {
		t.Fatalf("nsqd did not register orders: %v", err)
	}
	fmt.Println(r.Producers[0].BroadcastAddress, r.Producers[0].TCPPort)
}
