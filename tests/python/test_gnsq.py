"""gnsq's LookupdClient (PyPI) drives every HTTP endpoint of the binary."""

import pytest
from gnsq import LookupdClient
from gnsq.errors import NSQHttpError


@pytest.fixture
def client(lookupd):
    return LookupdClient.from_url(lookupd.url)


def test_ping_and_info(client):
    assert client.ping() == b"OK"
    assert client.info() == {"version": "1.3.0"}


def test_topics_and_channels_lifecycle(client):
    assert client.topics() == {"topics": []}
    assert client.create_topic("orders") == b""
    assert client.create_channel("orders", "billing") == b""
    assert client.create_channel("audit", "archive") == b""
    assert client.topics() == {"topics": ["audit", "orders"]}
    assert client.channels("orders") == {"channels": ["billing"]}
    assert client.lookup("orders") == {"channels": ["billing"], "producers": []}
    assert client.delete_channel("orders", "billing") == b""
    assert client.channels("orders") == {"channels": []}
    with pytest.raises(NSQHttpError, match="404"):
        client.delete_channel("orders", "billing")
    assert client.delete_topic("orders") == b""
    assert client.topics() == {"topics": ["audit"]}
    with pytest.raises(NSQHttpError, match="404"):
        client.lookup("orders")


def test_registered_producer_seen_through_lookup_and_nodes(client, nsqd_factory):
    n = nsqd_factory(4150, 4151, "orders billing", "audit")
    lookup = client.lookup("orders")
    assert lookup["channels"] == ["billing"]
    [p] = lookup["producers"]
    assert (p["broadcast_address"], p["tcp_port"], p["http_port"]) == ("127.0.0.1", 4150, 4151)
    assert p["version"] == "1.3.0"
    assert p["hostname"] == "fake-nsqd"
    assert p["remote_address"] == "127.0.0.1:%d" % n.sock.getsockname()[1]
    [node] = client.nodes()["producers"]
    assert node["topics"] == ["audit", "orders"]
    assert node["tombstones"] == [False, False]


def test_tombstone(client, nsqd_factory):
    nsqd_factory(4150, 4151, "orders")
    nsqd_factory(4160, 4161, "orders")
    assert client.tombstone_topic("orders", "127.0.0.1:4151") == b""
    ports = [p["tcp_port"] for p in client.lookup("orders")["producers"]]
    assert ports == [4160]
    tombstones = {n["tcp_port"]: n["tombstones"] for n in client.nodes()["producers"]}
    assert tombstones == {4150: [True], 4160: [False]}


def test_gnsq_consumer_queries_lookupd(lookupd, nsqd_factory, monkeypatch):
    import gnsq

    nsqd_factory(4150, 4151, "orders billing")
    consumer = gnsq.Consumer("orders", "billing", lookupd_http_addresses=[lookupd.url])
    dialed = []
    monkeypatch.setattr(consumer, "connect_to_nsqd", lambda addr, port: dialed.append((addr, port)))
    consumer.query_lookupd()
    assert dialed == [("127.0.0.1", 4150)]
