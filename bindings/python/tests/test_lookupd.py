"""Tests of the ctypes binding: lifecycle, queries against a fake nsqd
registered over TCP (compared with gnsq's view over HTTP and with the raw
HTTP bodies), the HTTPS port, every error path, two instances, concurrent
queries, and the package's type information."""

import json
import os
import pickle
import re
import shutil
import socket
import ssl
import subprocess
import threading
import urllib.request

import pytest
from gnsq import LookupdClient

import lookupd
from conftest import CONFIG
from fake_nsqd import FakeNsqd

HEADER = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                      os.pardir, os.pardir, os.pardir, "include", "lookupd.h")


def http_body(l, path):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (l.http_port, path), timeout=5) as r:
        return r.read()


def test_queries_match_http_and_stop_closes_connections(start):
    l = start()
    assert l.tcp_port != 0 and l.http_port != 0 and l.tcp_port != l.http_port
    n = FakeNsqd(l.tcp_port, 4150, 4151)
    n.register("orders billing", "orders audit", "events")

    lookup = l.lookup("orders")
    assert lookup["channels"] == ["audit", "billing"]
    [p] = lookup["producers"]
    assert (p["broadcast_address"], p["tcp_port"], p["http_port"]) == ("127.0.0.1", 4150, 4151)
    assert l.topics() == {"topics": ["events", "orders"]}
    assert l.channels("orders") == {"channels": ["audit", "billing"]}
    [node] = l.nodes()["producers"]
    assert node["topics"] == ["events", "orders"]

    client = LookupdClient.from_url("http://127.0.0.1:%d" % l.http_port)
    assert l.lookup("orders") == client.lookup("orders")
    assert l.topics() == client.topics()
    assert l.channels("orders") == client.channels("orders")
    assert l.channels("missing") == client.channels("missing") == {"channels": []}
    assert l.nodes() == client.nodes()

    assert l.lookup_json("orders").encode() == http_body(l, "/lookup?topic=orders")
    assert l.topics_json().encode() == http_body(l, "/topics")
    assert l.channels_json("orders").encode() == http_body(l, "/channels?topic=orders")
    assert l.nodes_json().encode() == http_body(l, "/nodes")

    l.stop()
    assert not l.running
    assert n.sock.recv(1) == b""
    n.close()


def test_context_manager_stops():
    with lookupd.Lookupd(CONFIG) as l:
        assert l.running
        port = l.tcp_port
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    assert not l.running
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5)


def test_stop_twice_is_harmless_and_use_after_stop_raises(start):
    l = start()
    l.stop()
    l.stop()
    uses = [lambda: l.tcp_port, lambda: l.http_port, l.topics, l.nodes, l.topics_json,
            lambda: l.lookup("t"), lambda: l.channels("t"), lambda: l.channels_json("t"),
            lambda: l.tcp_address, lambda: l.http_address, lambda: l.https_port,
            lambda: l.https_address, lambda: l.waiting,
            lambda: l.wait_for_producers("t", timeout=0), lambda: l.wait_for_producers_json("t")]
    for use in uses:
        with pytest.raises(lookupd.Stopped) as e:
            use()
        assert isinstance(e.value, lookupd.LookupdError)
        assert e.value.code == lookupd.ERR_STOPPED
        assert "stopped" in str(e.value)


@pytest.mark.parametrize("config, named", [
    ("{", "<json>"),
    ("[1]", "<json>"),
    (dict(CONFIG, nope=1), "nope"),
    (dict(CONFIG, tombstone_lifetime="forever"), "tombstone_lifetime"),
    (dict(CONFIG, inactive_producer_timeout=[1]), "inactive_producer_timeout"),
    (dict(CONFIG, log_level="loud"), "log_level"),
    (dict(CONFIG, threads=0), "threads"),
    (dict(CONFIG, tcp_address="nowhere"), "tcp_address"),
])
def test_bad_config_is_err_config_naming_the_key(config, named):
    with pytest.raises(lookupd.LookupdError) as e:
        lookupd.Lookupd(config)
    assert type(e.value) is lookupd.LookupdError
    assert e.value.code == lookupd.ERR_CONFIG
    assert named in e.value.message


def test_keyword_options_merge_and_json_string_config():
    with lookupd.Lookupd(json.dumps(CONFIG)) as l:
        assert l.topics() == {"topics": []}
    with lookupd.Lookupd(dict(CONFIG, threads=9), threads=1) as l:
        assert l.tcp_port != 0
    with pytest.raises(TypeError):
        lookupd.Lookupd(json.dumps(CONFIG), threads=1)


@pytest.mark.parametrize("key", ["tcp_address", "http_address"])
def test_port_in_use_is_err_bind(start, key):
    first = start()
    port = first.tcp_port if key == "tcp_address" else first.http_port
    with pytest.raises(lookupd.LookupdError) as e:
        start(**{key: "127.0.0.1:%d" % port})
    assert e.value.code == lookupd.ERR_BIND
    assert str(port) in e.value.message
    assert first.topics() == {"topics": []}


def test_lookup_of_missing_topic_is_topic_not_found(start):
    l = start()
    for topic in ["missing", "*", "bad name", ""]:
        with pytest.raises(lookupd.TopicNotFound) as e:
            l.lookup(topic)
        assert isinstance(e.value, lookupd.LookupdError)
        assert e.value.code == lookupd.ERR_TOPIC_NOT_FOUND
        with pytest.raises(lookupd.TopicNotFound):
            l.lookup_json(topic)


def test_topic_that_is_not_utf8_is_err_utf8(start):
    l = start()
    for topic in ["\udcff", b"\xff", b"ok\xc3"]:
        for query in (l.lookup, l.channels):
            with pytest.raises(lookupd.LookupdError) as e:
                query(topic)
            assert type(e.value) is lookupd.LookupdError
            assert e.value.code == lookupd.ERR_UTF8
            assert "UTF-8" in e.value.message
    # A C string would end at the NUL and name another topic.
    with pytest.raises(ValueError, match="NUL"):
        l.lookup("orders\0x")
    with pytest.raises(TypeError):
        l.lookup(42)
    # Bytes that are UTF-8 are as good as str.
    n = FakeNsqd(l.tcp_port)
    n.register("orders")
    assert l.lookup(b"orders") == l.lookup("orders")
    assert len(l.lookup(b"orders")["producers"]) == 1
    n.close()


def test_two_instances_are_independent(start):
    a, b = start(), start()
    assert {a.tcp_port, a.http_port}.isdisjoint({b.tcp_port, b.http_port})
    n = FakeNsqd(a.tcp_port)
    n.register("only_a")
    assert a.topics() == {"topics": ["only_a"]}
    assert b.topics() == {"topics": []}
    with pytest.raises(lookupd.TopicNotFound):
        b.lookup("only_a")
    a.stop()
    m = FakeNsqd(b.tcp_port)
    m.register("only_b")
    assert b.lookup("only_b")["producers"][0]["tcp_port"] == 4150
    n.close()
    m.close()


def run_threads(count, target):
    errors = []

    def guarded(i):
        try:
            target(i)
        except BaseException as e:  # reported to the main thread below
            errors.append(e)

    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    return threads, errors


def test_concurrent_queries_while_nsqd_registers(start):
    l = start()
    names = ["topic%02d" % i for i in range(40)]
    done = threading.Event()
    queries = [0] * 8

    def query(i):
        seen = 0
        while not done.is_set() or queries[i] == 0:
            topics = l.topics()["topics"]
            # Registrations only add, and every answer is a snapshot.
            assert len(topics) >= seen and topics == sorted(topics)
            seen = len(topics)
            for t in topics:
                assert l.lookup(t)["producers"][0]["tcp_port"] == 4150
                assert l.channels(t) == {"channels": ["c"]}
            assert len(l.nodes()["producers"]) <= 1
            queries[i] += 1

    threads, errors = run_threads(8, query)
    n = FakeNsqd(l.tcp_port)
    for name in names:
        n.register(name + " c")
    done.set()
    for t in threads:
        t.join(30)
    assert not errors, errors
    assert all(queries)
    assert l.topics() == {"topics": names}
    n.close()


def test_stop_waits_for_queries_in_flight(start):
    l = start()
    n = FakeNsqd(l.tcp_port)
    n.register("orders billing")
    running = threading.Barrier(9)

    def query(i):
        running.wait()
        while True:
            try:
                assert l.lookup("orders")["channels"] == ["billing"]
                l.nodes_json()
            except lookupd.Stopped as e:
                assert e.code == lookupd.ERR_STOPPED
                return

    threads, errors = run_threads(8, query)
    running.wait()
    l.stop()
    for t in threads:
        t.join(30)
    assert not errors, errors
    n.close()


def header_functions():
    """{name: (return type, parameter count)} of every function in lookupd.h."""
    with open(HEADER) as f:
        text = f.read()
    found = {}
    for ret, name, params in re.findall(r"^([\w ]+?\*?)\s*\b(lookupd_\w+)\(([^)]*)\);", text, re.M):
        params = params.strip()
        found[name] = (ret.strip(), 0 if params in ("", "void") else params.count(",") + 1)
    return found


def test_every_function_called_has_argtypes_and_restype():
    exports = header_functions()
    assert "lookupd_start" in exports and len(exports) > 10, "the header's functions were found"
    # Every function of the header is either bound (and called) or listed
    # as unused: a new one is a decision to make here.
    assert set(lookupd._SIGNATURES).isdisjoint(lookupd._UNUSED)
    assert set(exports) == set(lookupd._SIGNATURES) | lookupd._UNUSED
    for name in lookupd._SIGNATURES:
        ret, nparams = exports[name]
        f = getattr(lookupd._lib, name)
        assert f.argtypes is not None and len(f.argtypes) == nparams, name
        expected = {"enum lookupd_result": lookupd.ctypes.c_int, "void": None,
                    "const char *": lookupd.ctypes.c_char_p}[ret]
        assert f.restype is expected, name


def test_every_bound_function_is_called():
    """No signature is dead code: the package's source uses each bound
    function (as an attribute of the library) somewhere."""
    with open(lookupd.__file__) as f:
        source = f.read()
    for name in lookupd._SIGNATURES:
        assert re.search(r"\.%s\b" % name, source), name


def test_exception_classes():
    assert issubclass(lookupd.Timeout, TimeoutError) and issubclass(lookupd.Timeout, lookupd.LookupdError)
    assert issubclass(lookupd.Stopped, lookupd.LookupdError)
    assert not issubclass(lookupd.Stopped, TimeoutError)
    e = lookupd.Timeout(lookupd.ERR_TIMEOUT, "no producers within 1 ms")
    # A TimeoutError, but not an operating system error number.
    assert e.errno is None and e.strerror is None
    assert e.code is lookupd.ERR_TIMEOUT and str(e) == "no producers within 1 ms (ERR_TIMEOUT)"
    for error in [e, lookupd.Stopped(lookupd.ERR_STOPPED, "stopped"), lookupd.LookupdError(42, "new")]:
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error) and (copy.code, copy.message) == (error.code, error.message)
    assert pickle.loads(pickle.dumps(e)).errno is None


def test_package_is_typed():
    package = os.path.dirname(lookupd.__file__)
    assert os.path.isfile(os.path.join(package, "py.typed"))
    with open(os.path.join(package, os.pardir, "pyproject.toml")) as f:
        assert re.search(r'^lookupd = \["py\.typed"\]', f.read(), re.M), "py.typed is not packaged"


def self_signed(tmp_path):
    """(certificate, key) files for localhost: trustme's, else openssl's;
    skips the test when neither is there."""
    try:
        import trustme
    except ImportError:
        trustme = None
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    if trustme is not None:
        issued = trustme.CA().issue_cert("localhost", "127.0.0.1")
        issued.cert_chain_pems[0].write_to_path(str(cert))
        issued.private_key_pem.write_to_path(str(key))
    elif shutil.which("openssl"):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=localhost",
                        "-days", "1", "-keyout", str(key), "-out", str(cert)],
                       check=True, capture_output=True)
    else:
        pytest.skip("HTTPS test needs a certificate: neither trustme (pip install trustme) "
                    "nor openssl is installed")
    return str(cert), str(key)


def test_https_port_and_address(start, tmp_path):
    cert, key = self_signed(tmp_path)
    l = start(https_address="127.0.0.1:0", tls_cert=cert, tls_key=key)
    assert l.https_port not in (None, 0)
    assert l.https_port != l.http_port and l.https_port != l.tcp_port
    assert l.https_address == "127.0.0.1:%d" % l.https_port
    # It is HTTPS there: a TLS client (not checking this self-signed
    # certificate) gets /ping's answer.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with urllib.request.urlopen("https://%s/ping" % l.https_address, timeout=5,
                                context=context) as r:
        assert r.read() == b"OK"


def test_no_https_port_without_https(start):
    l = start()
    assert l.https_port is None and l.https_address is None
    with lookupd.Lookupd(dict(CONFIG, https_address="")) as empty:
        assert empty.https_port is None and empty.https_address is None


def test_version():
    assert re.fullmatch(r"\d+\.\d+\.\d+\S* \(nsq \d+\.\d+\.\d+\)", lookupd.version())


def test_library_path(monkeypatch):
    monkeypatch.setenv("LOOKUPD_LIB", "/some/where/liblookupd.so")
    assert lookupd._find_library() == "/some/where/liblookupd.so"
    monkeypatch.delenv("LOOKUPD_LIB")
    try:
        path = lookupd._find_library()
    except OSError as e:
        assert "LOOKUPD_LIB" in str(e)
    else:
        # In the source tree: a copy in the package, else the repository's builds.
        bundled = os.path.join(os.path.dirname(lookupd.__file__), "liblookupd.so")
        assert path == bundled or re.search(r"/target/(release|debug)/liblookupd\.so$", path)
        assert os.path.exists(path)


def test_dropping_an_instance_stops_it():
    l = lookupd.Lookupd(CONFIG)
    port = l.tcp_port
    del l
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5)
