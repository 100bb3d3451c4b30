"""Tests of waiting for producers (wait_for_producers: registration from
another thread, timeouts, stop during a wait, Ctrl-C, the GIL, no leaks)
and of the tcp_address and http_address properties.

No test sleeps to let another thread get somewhere: a test that needs a
wait to be blocked before it goes on polls ``Lookupd.waiting`` until the
instance counts it (wait_until), and one that needs a thread's result
joins it."""

import math
import os
import signal
import socket
import threading
import time
import urllib.request

import pytest

import lookupd
from conftest import CONFIG
from fake_nsqd import FakeNsqd


def in_thread(target, *args):
    """Runs target(*args) on a thread; returns the thread and a list that
    receives its result or the exception it raised."""
    outcome = []

    def run():
        try:
            outcome.append(target(*args))
        except BaseException as e:  # handed to the test
            outcome.append(e)

    t = threading.Thread(target=run)
    t.start()
    return t, outcome


def wait_until(predicate, within=10.0):
    """Returns once predicate() holds, looking again every millisecond
    (a poll of a counter, not a guess at how long something takes)."""
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, "condition not met within %s s" % within
        time.sleep(0.001)


def waits_in_progress(l):
    """Calls in progress on ``l`` (the binding's own count): in these
    tests, only waits run."""
    with l._cond:
        return l._busy


def test_wait_returns_once_producers_register_from_another_thread(start):
    l = start()
    nsqds = []
    first_answered = threading.Event()

    def register():
        # Each nsqd registers once a wait is blocked (the instance counts
        # it): the waits wait, rather than find their answer already there.
        wait_until(lambda: l.waiting == 1)
        nsqds.append(FakeNsqd(l.tcp_port, 4150, 4151))
        nsqds[-1].register("orders billing")
        assert first_answered.wait(10)
        wait_until(lambda: l.waiting == 1)
        nsqds.append(FakeNsqd(l.tcp_port, 5150, 5151))
        nsqds[-1].register("orders")

    assert l.waiting == 0
    t, outcome = in_thread(register)
    first = l.wait_for_producers("orders", timeout=10)
    first_answered.set()
    assert len(first["producers"]) == 1
    both = l.wait_for_producers("orders", count=2, timeout=10)
    t.join(10)
    assert outcome == [None]
    assert l.waiting == 0
    assert sorted(p["tcp_port"] for p in both["producers"]) == [4150, 5150]
    assert both["channels"] == ["billing"]
    assert both == l.lookup("orders")
    assert l.wait_for_producers_json("orders", 2, 0) == l.lookup_json("orders")
    assert waits_in_progress(l) == 0 and l._busy == 0
    for n in nsqds:
        n.close()


def test_satisfied_wait_returns_at_once_and_count_zero_needs_the_topic_only(start):
    l = start()
    n = FakeNsqd(l.tcp_port)
    n.register("orders")
    began = time.monotonic()
    assert len(l.wait_for_producers("orders", timeout=0)["producers"]) == 1
    assert l.wait_for_producers("orders", count=0, timeout=0) == l.lookup("orders")
    assert time.monotonic() - began < 5
    with pytest.raises(lookupd.Timeout):
        l.wait_for_producers("orders", count=2, timeout=0)
    with pytest.raises(lookupd.Timeout):
        l.wait_for_producers("other", count=0, timeout=0)
    n.close()


@pytest.mark.parametrize("timeout", [0.5, 1])
def test_timeout_when_nothing_registers(start, timeout):
    l = start()
    began = time.monotonic()
    with pytest.raises(lookupd.Timeout) as e:
        l.wait_for_producers("orders", timeout=timeout)
    elapsed = time.monotonic() - began
    assert timeout <= elapsed < 10
    assert isinstance(e.value, lookupd.LookupdError) and isinstance(e.value, TimeoutError)
    assert e.value.code == lookupd.ERR_TIMEOUT
    assert "orders" in e.value.message
    assert waits_in_progress(l) == 0 and l._busy == 0
    assert l.running


def test_bad_arguments(start):
    l = start()
    for topic in ["bad name", "*", "", "x" * 65]:
        with pytest.raises(lookupd.LookupdError) as e:
            l.wait_for_producers(topic, timeout=5)
        assert e.value.code == lookupd.ERR_INVALID_ARG
    with pytest.raises(lookupd.LookupdError) as e:
        l.wait_for_producers(b"\xff", timeout=5)
    assert e.value.code == lookupd.ERR_UTF8
    for kwargs, error in [
        (dict(count=-1), ValueError), (dict(count=2**32), ValueError),
        (dict(count=1.5), TypeError), (dict(count=True), TypeError),
        (dict(timeout=-0.001), ValueError), (dict(timeout=math.nan), ValueError),
        (dict(timeout="1"), TypeError), (dict(timeout=False), TypeError),
    ]:
        with pytest.raises(error):
            l.wait_for_producers("orders", **kwargs)
    with pytest.raises(ValueError, match="NUL"):
        l.wait_for_producers("orders\0x")
    with pytest.raises(TypeError):
        l.wait_for_producers(42)
    assert waits_in_progress(l) == 0 and l._busy == 0


def test_timeouts_are_rounded_up_and_capped():
    ms = lookupd._timeout_ms
    assert ms(0) == 0 and ms(1) == 1000 and ms(0.0001) == 1 and ms(2.5) == 2500
    assert ms(None) == ms(math.inf) == ms(1e12) == ms(2**32) == 2**32 - 1


def test_timeout_beyond_the_c_range_waits_instead_of_wrapping(start):
    # 2**32 + 50 ms would wrap to 50 ms in a uint32: capped, it waits.
    l = start()
    t, outcome = in_thread(l.wait_for_producers, "orders", 1, (2**32 + 50) / 1000)
    wait_until(lambda: l.waiting == 1)
    # Not synchronisation but the behaviour under test: the wait is still
    # blocked well after a wrapped 50 ms timeout would have ended it.
    t.join(0.5)
    assert t.is_alive() and not outcome
    l.stop()
    t.join(10)
    [e] = outcome
    assert isinstance(e, lookupd.Stopped) and e.code == lookupd.ERR_STOPPED


def test_stop_ends_waits_in_progress_promptly(start):
    l = start()
    n = FakeNsqd(l.tcp_port)
    n.register("orders")
    waits = [in_thread(l.wait_for_producers, topic, count, 60)
             for topic, count in [("orders", 2), ("orders", 5), ("events", 1), ("events", 0)]]
    # All four blocked inside the library.
    wait_until(lambda: l.waiting == 4)
    assert waits_in_progress(l) == 4
    began = time.monotonic()
    l.stop()
    assert time.monotonic() - began < 5
    for t, outcome in waits:
        t.join(5)
        assert not t.is_alive()
        [e] = outcome
        assert type(e) is lookupd.Stopped, e
        assert e.code == lookupd.ERR_STOPPED
        assert "stopped" in e.message
    assert time.monotonic() - began < 5
    assert waits_in_progress(l) == 0 and l._busy == 0
    # Begun after stop: Stopped too, as every method.
    with pytest.raises(lookupd.Stopped) as e:
        l.wait_for_producers("orders", timeout=5)
    assert e.value.code == lookupd.ERR_STOPPED
    n.close()


@pytest.fixture
def sigint_raises_keyboard_interrupt():
    """Python's own SIGINT handler, for the test (restored after)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def wait_threads():
    return [t for t in threading.enumerate() if t.name == "lookupd-wait"]


@pytest.mark.parametrize("send", ["to the process", "to the main thread"])
def test_ctrl_c_interrupts_a_wait_on_the_main_thread(start, sigint_raises_keyboard_interrupt, send):
    assert threading.current_thread() is threading.main_thread()
    l = start()

    def interrupt():
        # Once the wait is blocked in the library: SIGINT to the process
        # (the kernel may hand it to any thread, lookupd's included, as a
        # terminal's Ctrl-C does) or to the main thread itself.
        wait_until(lambda: l.waiting == 1)
        if send == "to the process":
            os.kill(os.getpid(), signal.SIGINT)
        else:
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    t, outcome = in_thread(interrupt)
    began = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        l.wait_for_producers("orders", timeout=60)
    assert time.monotonic() - began < 10
    t.join(10)
    assert outcome == [None]
    # The wait in the library ended with it, and its thread was joined.
    assert l.waiting == 0 and waits_in_progress(l) == 0
    assert wait_threads() == []
    # The instance is untouched: it still answers, and waits.
    assert l.running and l.topics() == {"topics": []}
    n = FakeNsqd(l.tcp_port)
    n.register("orders")
    assert len(l.wait_for_producers("orders", timeout=10)["producers"]) == 1
    with pytest.raises(lookupd.Timeout):
        l.wait_for_producers("orders", count=2, timeout=0.1)
    assert wait_threads() == []
    n.close()


def test_stop_from_another_thread_ends_a_main_thread_wait(start):
    assert threading.current_thread() is threading.main_thread()
    l = start()
    t, outcome = in_thread(lambda: (wait_until(lambda: l.waiting == 1), l.stop()))
    with pytest.raises(lookupd.Stopped):
        l.wait_for_producers("orders", timeout=60)
    t.join(10)
    assert len(outcome) == 1 and not isinstance(outcome[0], BaseException)
    assert not l.running and wait_threads() == []


def test_gil_is_released_while_waiting(start):
    l = start()
    stamps = []
    done = threading.Event()

    def tick():
        while not done.is_set():
            stamps.append(time.monotonic())
            time.sleep(0.001)   # the ticks' pace: what the test counts

    ticker = threading.Thread(target=tick)
    ticker.start()
    try:
        wait_until(lambda: stamps)   # the ticker runs
        began = time.monotonic()
        with pytest.raises(lookupd.Timeout):
            l.wait_for_producers("orders", timeout=1.0)
    finally:
        done.set()
        ticker.join(10)
    # The wait cannot have returned before began + 1.0: any tick stamped
    # well inside that window ran while this thread was in the library.
    during = [s for s in stamps if began + 0.2 < s < began + 0.8]
    assert len(during) >= 10, len(during)


def connects(address):
    host, _, port = address.rpartition(":")
    socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()


def ping(http_address):
    with urllib.request.urlopen("http://%s/ping" % http_address, timeout=5) as r:
        return r.read()


def test_addresses_are_what_clients_connect_to(start):
    l = start()
    assert l.tcp_address == "127.0.0.1:%d" % l.tcp_port
    assert l.http_address == "127.0.0.1:%d" % l.http_port
    host, _, port = l.tcp_address.rpartition(":")
    n = FakeNsqd(int(port), host=host)
    n.register("orders")
    assert len(l.wait_for_producers("orders", timeout=10)["producers"]) == 1
    assert ping(l.http_address) == b"OK"
    l.stop()
    with pytest.raises(lookupd.Stopped):
        l.tcp_address
    n.close()


def ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


# Loopback only: tests never listen on other interfaces. How a wildcard
# listen address becomes a loopback client address is checked below,
# without binding it.
@pytest.mark.parametrize("listen, host", [
    ("127.0.0.1:0", "127.0.0.1"),
    ("localhost:0", None),
    pytest.param("[::1]:0", "[::1]", marks=pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6")),
])
def test_loopback_names_give_a_connectable_address(start, listen, host):
    l = start(tcp_address=listen, http_address=listen)
    tcp_host, _, tcp_port = l.tcp_address.rpartition(":")
    http_host, _, http_port = l.http_address.rpartition(":")
    assert (int(tcp_port), int(http_port)) == (l.tcp_port, l.http_port)
    assert tcp_host == http_host
    if host is None:
        assert tcp_host in ("127.0.0.1", "[::1]")
    else:
        assert tcp_host == host
    connects(l.tcp_address)
    assert ping(l.http_address) == b"OK"


def test_listen_and_client_hosts():
    assert lookupd._listen_host("127.0.0.1:4160") == "127.0.0.1"
    assert lookupd._listen_host(":4160") == ""
    assert lookupd._listen_host("[::]:0") == "::"
    assert lookupd._listen_host("::1:0") == "::1"
    assert lookupd._client_host("") == "127.0.0.1"
    assert lookupd._client_host("0.0.0.0") == "127.0.0.1"
    assert lookupd._client_host("::") == "::1"
    assert lookupd._client_host("0:0::0") == "::1"
    assert lookupd._client_host("10.1.2.3") == "10.1.2.3"
    assert lookupd._join("::1", 5) == "[::1]:5"
    assert lookupd._join("10.1.2.3", 5) == "10.1.2.3:5"


def fd_count():
    return len(os.listdir("/proc/self/fd"))


def thread_count():
    return len(os.listdir("/proc/self/task"))


def settled(count, limit, within=2.0):
    """count() once it is at most `limit`, or after `within` seconds: a
    joined thread may linger in /proc/self/task for a moment after its
    join returns, a leaked one stays (and so for descriptors)."""
    deadline = time.monotonic() + within
    while count() > limit and time.monotonic() < deadline:
        time.sleep(0.002)
    return count()


def one_round(i):
    """Starts an instance with a waiter in play, and stops it: a producer
    arrives, or stop() ends the wait, or stop() races the wait's start."""
    l = lookupd.Lookupd(CONFIG)
    t, outcome = in_thread(l.wait_for_producers, "orders", 1, 30)
    kind = i % 3
    if kind == 0:
        n = FakeNsqd(l.tcp_port)
        n.register("orders")
        t.join(10)
        n.close()
        l.stop()
        [answer] = outcome
        assert isinstance(answer, dict) and len(answer["producers"]) == 1, answer
    elif kind == 1:
        wait_until(lambda: l.waiting == 1)
        l.stop()
        t.join(10)
        [e] = outcome
        assert isinstance(e, lookupd.Stopped) and e.code == lookupd.ERR_STOPPED, e
    else:
        l.stop()
        t.join(10)
        [e] = outcome
        assert isinstance(e, lookupd.Stopped) and e.code == lookupd.ERR_STOPPED, e
    assert not t.is_alive()
    assert waits_in_progress(l) == 0 and l._busy == 0


def test_fifty_rounds_with_waiters_leak_no_threads_or_descriptors():
    # The first start creates async-io's one process-wide reactor thread
    # (and its descriptors). A thread round 0 joined may still be counted:
    # each limit then starts high and comes down to the lowest count seen,
    # while a thread or descriptor leaked per round passes it within two
    # rounds.
    one_round(0)
    threads, fds = thread_count(), fd_count()
    for i in range(50):
        one_round(i)
        now = settled(thread_count, threads)
        assert now <= threads, "round %d left a thread" % i
        threads = now
        now = settled(fd_count, fds)
        assert now <= fds, "round %d left a descriptor open" % i
        fds = now
