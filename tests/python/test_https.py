"""HTTPS: a certificate generated in the test (trustme), the binary serving
/lookup over TLS, and Python's ssl-backed client trusting only that CA."""

import json
import ssl
import urllib.request

import pytest
import trustme

from conftest import Daemon, FakeNsqd


@pytest.fixture
def https_lookupd(tmp_path):
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(cert_path))
    cert.private_key_pem.write_to_path(str(key_path))
    d = Daemon("-https-address=127.0.0.1:0", "-tls-cert=%s" % cert_path, "-tls-key=%s" % key_path)
    try:
        yield d, ca
    finally:
        d.stop()


def test_lookup_over_https(https_lookupd):
    d, ca = https_lookupd
    nsqd = FakeNsqd(d.tcp_port, 4150, 4151)
    assert nsqd.command("REGISTER orders billing") == b"OK"
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    url = "https://127.0.0.1:%d/lookup?topic=orders" % d.ports["HTTPS"]
    with urllib.request.urlopen(url, context=ctx) as r:
        assert r.headers["X-NSQ-Content-Type"] == "nsq; version=1.0"
        body = json.loads(r.read())
    assert body["channels"] == ["billing"]
    assert body["producers"][0]["tcp_port"] == 4150
    # The same answer as plain HTTP, which keeps working beside it.
    with urllib.request.urlopen(d.url + "/lookup?topic=orders") as r:
        assert json.loads(r.read()) == body
    nsqd.close()


def test_untrusted_clients_fail_the_handshake(https_lookupd):
    d, _ = https_lookupd
    url = "https://127.0.0.1:%d/ping" % d.ports["HTTPS"]
    with pytest.raises(urllib.error.URLError) as e:
        urllib.request.urlopen(url, context=ssl.create_default_context(), timeout=5)
    assert isinstance(e.value.reason, ssl.SSLCertVerificationError)
    # The server is unharmed.
    ctx = ssl.create_default_context()
    https_lookupd[1].configure_trust(ctx)
    assert urllib.request.urlopen(url, context=ctx).read() == b"OK"


def test_missing_key_is_a_clear_start_error(tmp_path):
    import subprocess
    from conftest import BIN
    out = subprocess.run([BIN, "-https-address=127.0.0.1:0", "-tls-cert=%s" % (tmp_path / "none.pem"),
                          "-tls-key=%s" % (tmp_path / "none.key"), "-tcp-address=127.0.0.1:0",
                          "-http-address=127.0.0.1:0"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 1
    assert "tls_cert" in out.stderr and "none.pem" in out.stderr
