"""pynsq's Reader finds, through the binary, a producer registered over TCP."""

import asyncio
import socket
import threading

import nsq

from conftest import wait_until


def test_reader_query_finds_registered_producer(lookupd, nsqd_factory):
    nsqd_factory(4150, 4151, "orders billing")
    nsqd_factory(4160, 4161, "other")

    async def run():
        r = nsq.Reader(topic="orders", channel="billing", message_handler=lambda m: True,
                       lookupd_http_addresses=[lookupd.url], lookupd_poll_interval=60)
        found = []
        r.connect_to_nsqd = lambda host, port: found.append((host, port))
        await r.query_lookupd()
        r.close()
        # The Reader also queries once on its own at start-up.
        return set(found)

    assert asyncio.run(run()) == {("127.0.0.1", 4150)}


def test_reader_dials_the_producer_it_found(lookupd, nsqd_factory):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(10)
    port = listener.getsockname()[1]
    nsqd_factory(port, port + 1, "orders billing")
    got = {}

    def accept():
        try:
            conn, _ = listener.accept()
            conn.settimeout(5)
            got["magic"] = conn.recv(4)
            conn.close()
        except OSError:
            pass

    threading.Thread(target=accept, daemon=True).start()

    async def run():
        r = nsq.Reader(topic="orders", channel="billing", message_handler=lambda m: True,
                       lookupd_http_addresses=[lookupd.url], lookupd_poll_interval=60)
        for _ in range(100):
            await asyncio.sleep(0.05)
            if "magic" in got:
                break
        r.close()

    asyncio.run(run())
    listener.close()
    assert got.get("magic") == b"  V2"


def test_disconnected_producer_disappears(lookupd, nsqd_factory):
    n = nsqd_factory(4150, 4151, "orders")

    async def producers():
        r = nsq.Reader(topic="orders", channel="c", message_handler=lambda m: True,
                       lookupd_http_addresses=[lookupd.url], lookupd_poll_interval=60)
        found = []
        r.connect_to_nsqd = lambda host, port: found.append(port)
        await r.query_lookupd()
        r.close()
        return set(found)

    assert asyncio.run(producers()) == {4150}
    n.close()
    wait_until(lambda: asyncio.run(producers()) == set())
