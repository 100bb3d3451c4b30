package lookupd_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	lookupd "lookupd.example/bindings/go"
)

// awaitWaiting returns once n WaitForProducers calls are blocked on l
// (l.Waiting()), yielding between looks, or an error after 10s. A wait
// counted there is inside lookupd, listening: a registration, a Stop or a
// cancel from then on reaches it. No test sleeps to let a goroutine get
// somewhere; they wait for this instead.
func awaitWaiting(l *lookupd.Lookupd, n int) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := l.Waiting()
		if err != nil || got == n {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d waits blocked after 10s, want %d", got, n)
		}
		runtime.Gosched()
	}
}

// mustAwaitWaiting is awaitWaiting failing the test, from its goroutine.
func mustAwaitWaiting(t *testing.T, l *lookupd.Lookupd, n int) {
	t.Helper()
	if err := awaitWaiting(l, n); err != nil {
		t.Fatal(err)
	}
}

// registerWhenWaited starts a fake nsqd that, once ready is closed (nil:
// at once) and then a wait is blocked on l, connects, identifies as
// hostname and registers topic: a wait for it must have waited. The
// returned function waits for it, reports its error, and closes its
// connection.
func registerWhenWaited(t *testing.T, l *lookupd.Lookupd, ready <-chan struct{}, hostname, topic string) (join func()) {
	t.Helper()
	type result struct {
		n   *nsqd
		err error
	}
	done := make(chan result, 1)
	go func() {
		if ready != nil {
			<-ready
		}
		if err := awaitWaiting(l, 1); err != nil {
			done <- result{nil, err}
			return
		}
		n, err := dialNsqd(l.TCPPort(), hostname)
		if err == nil {
			if err = n.register(topic); err != nil {
				n.conn.Close()
			}
		}
		done <- result{n, err}
	}()
	var once sync.Once
	join = func() {
		once.Do(func() {
			r := <-done
			if r.err != nil {
				t.Errorf("fake nsqd %s: %v", hostname, r.err)
				return
			}
			r.n.conn.Close()
		})
	}
	t.Cleanup(join)
	return join
}

// waitCtx is a context for a wait that is expected to succeed: long
// enough for a slow machine, short enough that a broken wait fails.
func waitCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestWaitForProducersRegisteredLater(t *testing.T) {
	l := start(t, nil)
	if n, err := l.Waiting(); n != 0 || err != nil {
		t.Fatalf("Waiting() before any wait = %d, %v", n, err)
	}
	// The nsqd registers only once the wait is blocked: it waited rather
	// than failing or answering early. (Its connection, which holds the
	// registration, is closed when the test ends.)
	registerWhenWaited(t, l, nil, "late-host", "orders")

	r, err := l.WaitForProducers(waitCtx(t), "orders", 1)
	if err != nil {
		t.Fatalf("WaitForProducers: %v", err)
	}
	if len(r.Producers) != 1 || r.Producers[0].Hostname != "late-host" || r.Producers[0].TCPPort != 4150 {
		t.Errorf("WaitForProducers = %+v", r)
	}
	if n, err := l.Waiting(); n != 0 || err != nil {
		t.Errorf("Waiting() after the wait = %d, %v", n, err)
	}
	// The answer is /lookup's, byte for byte.
	raw, err := l.WaitForProducersJSON(waitCtx(t), "orders", 1)
	if err != nil {
		t.Fatal(err)
	}
	if want := must[string](t, "LookupJSON")(l.LookupJSON("orders")); raw != want {
		t.Errorf("WaitForProducersJSON = %s, LookupJSON %s", raw, want)
	}
}

func TestWaitForProducersCountsProducers(t *testing.T) {
	l := start(t, nil)
	firstAnswered := make(chan struct{})
	registerWhenWaited(t, l, nil, "first", "orders")
	// The second registers once the wait for two is blocked.
	registerWhenWaited(t, l, firstAnswered, "second", "orders")

	// n 0: as soon as the topic exists, which is at the first REGISTER.
	if r, err := l.WaitForProducers(waitCtx(t), "orders", 0); err != nil || len(r.Producers) != 1 {
		t.Fatalf("WaitForProducers(0) = %+v, %v", r, err)
	}
	close(firstAnswered)
	r, err := l.WaitForProducers(waitCtx(t), "orders", 2)
	if err != nil {
		t.Fatalf("WaitForProducers(2): %v", err)
	}
	if len(r.Producers) != 2 {
		t.Errorf("WaitForProducers(2) = %+v", r)
	}
	// Already satisfied: returns at once, with no deadline at all.
	if r, err := l.WaitForProducers(context.Background(), "orders", 1); err != nil || len(r.Producers) != 2 {
		t.Errorf("WaitForProducers(1) when 2 are there = %+v, %v", r, err)
	}
}

// checkContextErr checks a wait ended by ctx, and nothing else, ended it.
func checkContextErr(t *testing.T, ctx context.Context, err, want error) {
	t.Helper()
	if !errors.Is(err, want) || !errors.Is(err, ctx.Err()) {
		t.Fatalf("err = %v (ctx.Err() %v), want %v", err, ctx.Err(), want)
	}
	if errors.Is(err, lookupd.ErrStopped) || errors.Is(err, lookupd.ErrTopicNotFound) {
		t.Errorf("context error %v matched a lookupd sentinel", err)
	}
	if !strings.Contains(err.Error(), "orders") {
		t.Errorf("error %q does not name the topic", err)
	}
}

// waitPastDeadline waits for n producers of topic under a short deadline
// that must end the wait, no sooner and not much later.
func waitPastDeadline(t *testing.T, l *lookupd.Lookupd, topic string, n int) {
	t.Helper()
	const deadline = 300 * time.Millisecond
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	_, err := l.WaitForProducers(ctx, topic, n)
	elapsed := time.Since(began)
	checkContextErr(t, ctx, err, context.DeadlineExceeded)
	if elapsed < deadline || elapsed > 10*time.Second {
		t.Errorf("deadline of %v ended the wait after %v", deadline, elapsed)
	}
}

func TestWaitForProducersDeadline(t *testing.T) {
	waitPastDeadline(t, start(t, nil), "orders", 1)
}

func TestWaitForProducersTooFewProducers(t *testing.T) {
	l := start(t, nil)
	mustNsqd(t, l, "only-host", "orders")
	waitPastDeadline(t, l, "orders", 2)
	// One producer was there all along, and still is.
	if r, err := l.WaitForProducers(waitCtx(t), "orders", 1); err != nil || len(r.Producers) != 1 {
		t.Errorf("WaitForProducers(1) = %+v, %v", r, err)
	}
}

func TestWaitForProducersCancel(t *testing.T) {
	l := start(t, nil)

	// Cancelled before the call: refused without waiting.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	began := time.Now()
	_, err := l.WaitForProducers(ctx, "orders", 1)
	checkContextErr(t, ctx, err, context.Canceled)
	if elapsed := time.Since(began); elapsed > 2*time.Second {
		t.Errorf("cancelled context answered after %v", elapsed)
	}

	// Cancelled during the wait (once it is blocked), well before its
	// deadline.
	ctx, cancel = context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var cancelledAt time.Time
	cancelled := make(chan error, 1)
	go func() {
		err := awaitWaiting(l, 1)
		cancelledAt = time.Now()
		cancel()
		cancelled <- err
	}()
	_, err = l.WaitForProducers(ctx, "orders", 1)
	returnedAt := time.Now()
	if err := <-cancelled; err != nil {
		t.Fatal(err)
	}
	checkContextErr(t, ctx, err, context.Canceled)
	if errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a cancel reported as a deadline: %v", err)
	}
	if d := returnedAt.Sub(cancelledAt); d > 5*time.Second {
		t.Errorf("the wait ended %v after its context was cancelled", d)
	}
	if n, err := l.Waiting(); n != 0 || err != nil {
		t.Errorf("Waiting() after a cancelled wait = %d, %v", n, err)
	}

	// The instance is unaffected by a cancelled wait.
	registerWhenWaited(t, l, nil, "after-cancel", "orders")
	if r, err := l.WaitForProducers(waitCtx(t), "orders", 1); err != nil || len(r.Producers) != 1 {
		t.Errorf("WaitForProducers after a cancel = %+v, %v", r, err)
	}
}

func TestWaitForProducersBadArguments(t *testing.T) {
	l := start(t, nil)
	for _, tc := range []struct {
		topic string
		n     int
		code  lookupd.Result
	}{
		{"bad*name", 1, lookupd.ResultInvalidArg},
		{"", 1, lookupd.ResultInvalidArg},
		{"orders", -1, lookupd.ResultInvalidArg},
		{"\xff", 1, lookupd.ResultUTF8},
	} {
		// No deadline: each must be refused, not waited on.
		_, err := l.WaitForProducers(context.Background(), tc.topic, tc.n)
		var e *lookupd.Error
		if !errors.As(err, &e) || e.Code != tc.code || e.Message == "" {
			t.Errorf("WaitForProducers(%q, %d) = %#v, want code %v", tc.topic, tc.n, err, tc.code)
		}
	}
	if _, err := l.WaitForProducers(context.Background(), "orders\x00evil", 1); !errors.Is(err, lookupd.ErrNUL) {
		t.Errorf("topic with a NUL = %v, want ErrNUL", err)
	}
}

// Stop ends waits in progress at once, whatever their deadline, and every
// later wait is refused.
func TestStopEndsWaits(t *testing.T) {
	l, err := lookupd.Start(config(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Stop()

	const waiters = 4
	errs := make(chan error, waiters)
	for i := 0; i < waiters; i++ {
		ctx := context.Background() // no deadline: only Stop can end it
		if i%2 == 1 {
			c, cancel := context.WithTimeout(ctx, time.Hour)
			defer cancel()
			ctx = c
		}
		go func(ctx context.Context) {
			_, err := l.WaitForProducers(ctx, "orders", 1)
			errs <- err
		}(ctx)
	}
	// All of them blocked inside lookupd.
	mustAwaitWaiting(t, l, waiters)

	began := time.Now()
	if err := l.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if elapsed := time.Since(began); elapsed > 5*time.Second {
		t.Errorf("Stop took %v with waits in progress", elapsed)
	}
	for i := 0; i < waiters; i++ {
		select {
		case err := <-errs:
			var e *lookupd.Error
			if !errors.Is(err, lookupd.ErrStopped) || !errors.As(err, &e) || e.Code != lookupd.ResultStopped {
				t.Errorf("wait ended by Stop: %#v, want ErrStopped", err)
			}
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("wait ended by Stop reported a context error: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("a wait had not returned 10s after Stop")
		}
	}
	if _, err := l.WaitForProducers(waitCtx(t), "orders", 1); !errors.Is(err, lookupd.ErrStopped) {
		t.Errorf("WaitForProducers after Stop = %v, want ErrStopped", err)
	}
}

// Stop racing waits as they begin: each either is refused, is ended by
// Stop, or (never here, nothing registers) succeeds; none hangs and none
// touches the freed handle (-race and the C side would see it).
func TestStopRacesWaitsBeginning(t *testing.T) {
	for round := 0; round < 20; round++ {
		l, err := lookupd.Start(config(nil))
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 50; i++ {
					_, err := l.WaitForProducers(context.Background(), "orders", 1)
					if !errors.Is(err, lookupd.ErrStopped) {
						t.Errorf("wait during Stop = %v, want ErrStopped", err)
						return
					}
				}
			}()
		}
		// Not synchronisation but the behaviour under test: the pause
		// varies (0-3 ms) how far the waits have got when Stop comes, so
		// that rounds stop them at different points as they begin.
		time.Sleep(time.Duration(round%4) * time.Millisecond)
		if err := l.Stop(); err != nil {
			t.Fatalf("Stop: %v", err)
		}
		wg.Wait()
	}
}

func TestConcurrentStops(t *testing.T) {
	l, err := lookupd.Start(config(nil))
	if err != nil {
		t.Fatal(err)
	}
	waitErr := make(chan error, 1)
	go func() {
		_, err := l.WaitForProducers(context.Background(), "orders", 1)
		waitErr <- err
	}()
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.Stop(); err != nil {
				t.Errorf("Stop: %v", err)
			}
			// Whichever Stop this was, the instance is gone once it returns.
			if c, err := net.DialTimeout("tcp", l.TCPAddress(), time.Second); err == nil {
				c.Close()
				t.Errorf("TCP port still accepting after Stop returned")
			}
		}()
	}
	wg.Wait()
	if err := <-waitErr; !errors.Is(err, lookupd.ErrStopped) {
		t.Errorf("wait = %v, want ErrStopped", err)
	}
}

// openFDs counts this process's open file descriptors.
func openFDs(t *testing.T) int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count file descriptors: %v", err)
	}
	return len(entries)
}

// settles polls until count() is at most limit, giving the last value.
func settles(limit int, count func() int) int {
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := count()
		if n <= limit || time.Now().After(deadline) {
			return n
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Fifty instances, each with a wait in play: on even rounds an nsqd
// registers and the wait succeeds, on odd ones Stop ends it. Afterwards
// no goroutine (context watchers included) and no file descriptor is left.
func TestStartStopLoopLeaksNothing(t *testing.T) {
	round := func(i int) error {
		l, err := lookupd.Start(config(nil))
		if err != nil {
			return err
		}
		defer l.Stop()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		waitErr := make(chan error, 1)
		go func() {
			_, err := l.WaitForProducers(ctx, "orders", 1)
			waitErr <- err
		}()
		if i%2 == 0 {
			n, err := dialNsqd(l.TCPPort(), fmt.Sprintf("round-%d", i))
			if err != nil {
				return err
			}
			defer n.conn.Close()
			if err := n.register("orders"); err != nil {
				return err
			}
			if err := <-waitErr; err != nil {
				return fmt.Errorf("wait with a producer: %v", err)
			}
			return l.Stop()
		}
		if err := awaitWaiting(l, 1); err != nil {
			return err
		}
		if err := l.Stop(); err != nil {
			return err
		}
		if err := <-waitErr; !errors.Is(err, lookupd.ErrStopped) {
			return fmt.Errorf("wait ended by Stop: %v", err)
		}
		return nil
	}
	// Once first, for what lives as long as the process: lookupd's
	// reactor thread and Go's network poller. A goroutine of that round
	// may not have exited yet: the limit is then one high, which a
	// goroutine leaked per round still passes many times over.
	if err := round(0); err != nil {
		t.Fatal(err)
	}
	goroutines := runtime.NumGoroutine()
	fds := openFDs(t)
	for i := 1; i <= 50; i++ {
		if err := round(i); err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
	}
	if n := settles(goroutines, runtime.NumGoroutine); n > goroutines {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines after 50 rounds, %d before:\n%s", n, goroutines, buf[:runtime.Stack(buf, true)])
	}
	if n := settles(fds, func() int { return openFDs(t) }); n > fds {
		t.Errorf("%d file descriptors open after 50 rounds, %d before", n, fds)
	}
}
