"""Fixtures for driving the built `nsqlookupd` binary with real NSQ clients.

The binary is started on 127.0.0.1 port 0; its ports are read from its
"listening on" log lines. LOOKUPD_BIN names it (tests/run-all.sh sets it).
"""

import os
import re
import subprocess
import sys
import threading
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# One fake nsqd serves both Python suites: the binding's tests own it.
sys.path.append(os.path.join(ROOT, "bindings", "python", "tests"))
from fake_nsqd import FakeNsqd  # noqa: E402

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
        n.register(*registrations)
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
