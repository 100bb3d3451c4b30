"""Fixtures for driving the built `nsqlookupd` binary with real NSQ clients.

The binary is started on 127.0.0.1 port 0; its ports are read from its
"listening on" log lines. LOOKUPD_BIN names it (tests/run-all.sh sets it).
"""

import json
import os
import re
import socket
import struct
import subprocess
import threading
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("LOOKUPD_BIN", os.path.join(ROOT, "target", "debug", "nsqlookupd"))


class Daemon:
    def __init__(self, *args):
        self._expect = 3 if any(a.startswith("-https-address") for a in args) else 2
        self.proc = subprocess.Popen(
            [BIN, "-tcp-address=127.0.0.1:0", "-http-address=127.0.0.1:0",
             "-broadcast-address=127.0.0.1", *args],
            stderr=subprocess.PIPE, text=True)
        self.lines = []
        self.ports = {}
        self._ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        if not self._ready.wait(10):
            self.stop()
            raise RuntimeError("nsqlookupd did not start: %s" % self.lines)

    def _read(self):
        for line in self.proc.stderr:
            self.lines.append(line)
            m = re.search(r"(TCP|HTTPS|HTTP): listening on 127\.0\.0\.1:(\d+)", line)
            if m:
                self.ports[m.group(1)] = int(m.group(2))
                if len(self.ports) == self._expect:
                    self._ready.set()

    @property
    def tcp_port(self):
        return self.ports["TCP"]

    @property
    def http_port(self):
        return self.ports["HTTP"]

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.http_port

    def stop(self):
        self.proc.terminate()
        try:
            assert self.proc.wait(10) == 0
        finally:
            if self.proc.poll() is None:
                self.proc.kill()


class FakeNsqd:
    """An nsqd as nsqlookupd sees it: V1 over TCP."""

    def __init__(self, lookupd_tcp_port, tcp_port, http_port, address="127.0.0.1"):
        self.sock = socket.create_connection(("127.0.0.1", lookupd_tcp_port), timeout=5)
        self.sock.sendall(b"  V1")
        body = json.dumps({
            "broadcast_address": address, "hostname": "fake-nsqd",
            "tcp_port": tcp_port, "http_port": http_port, "version": "1.3.0",
        }).encode()
        self.sock.sendall(b"IDENTIFY\n" + struct.pack(">i", len(body)) + body)
        self.identify_reply = json.loads(self.read())

    def read(self):
        size = struct.unpack(">i", self._exact(4))[0]
        return self._exact(size)

    def _exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise EOFError("lookupd closed the connection")
            buf += chunk
        return buf

    def command(self, line):
        self.sock.sendall(line.encode() + b"\n")
        return self.read()

    def close(self):
        self.sock.close()


@pytest.fixture
def lookupd():
    d = Daemon()
    try:
        yield d
    finally:
        d.stop()


@pytest.fixture
def nsqd_factory(lookupd):
    made = []

    def make(tcp_port, http_port, *registrations):
        n = FakeNsqd(lookupd.tcp_port, tcp_port, http_port)
        for r in registrations:
            assert n.command("REGISTER " + r) == b"OK"
        made.append(n)
        return n

    yield make
    for n in made:
        n.close()


def wait_until(f, timeout=5.0):
    deadline = time.time() + timeout
    while not f():
        if time.time() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)
