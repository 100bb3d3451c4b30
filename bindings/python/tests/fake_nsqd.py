"""A fake nsqd for the binding's tests: what lookupd sees of an nsqd, the
V1 protocol over a TCP socket, replies framed by their length."""

import json
import socket
import struct


class FakeNsqd:
    """Connects to lookupd's TCP port and IDENTIFYs; ``register`` then
    registers topics (``"topic"``) or channels (``"topic channel"``)."""

    def __init__(self, lookupd_tcp_port, tcp_port=4150, http_port=4151, host="127.0.0.1"):
        self.sock = socket.create_connection((host, lookupd_tcp_port), timeout=5)
        self.sock.sendall(b"  V1")
        body = json.dumps({
            "broadcast_address": "127.0.0.1", "hostname": "fake-nsqd",
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
        """Sends one command line and returns lookupd's reply."""
        self.sock.sendall(line.encode() + b"\n")
        return self.read()

    def register(self, *registrations):
        for r in registrations:
            self.sock.sendall(b"REGISTER " + r.encode() + b"\n")
            assert self.read() == b"OK"

    def close(self):
        self.sock.close()
