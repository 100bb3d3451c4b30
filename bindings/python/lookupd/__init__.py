"""Python binding of lookupd, an embeddable nsqlookupd, through its C ABI.

Start an nsqlookupd inside the current process, read its ports, and ask it
what its HTTP API would answer without going through HTTP::

    import lookupd

    with lookupd.Lookupd(tcp_address="127.0.0.1:0",
                         http_address="127.0.0.1:0") as l:
        print(l.tcp_port, l.http_port)   # nsqd registers on tcp_port
        print(l.topics())                # {'topics': [...]}, as GET /topics

The shared library (liblookupd.so) is loaded with ctypes from the path in
the environment variable LOOKUPD_LIB, else from the repository's
target/release, else target/debug. Every failure of the library is raised
as a LookupdError whose ``code`` is one of the module's result constants.
"""

from __future__ import annotations

import ctypes
import enum
import json
import os
import threading
from ctypes import POINTER, byref, c_char_p, c_int, c_uint16, c_void_p

__all__ = [
    "Lookupd", "LookupdError", "TopicNotFound", "Code", "version",
    "OK", "ERR_NULL", "ERR_UTF8", "ERR_CONFIG", "ERR_BIND", "ERR_START",
    "ERR_TOPIC_NOT_FOUND", "ERR_INTERNAL", "ERR_PANIC",
]


class Code(enum.IntEnum):
    """The C ABI's ``lookupd_result`` values (``LOOKUPD_`` prefix dropped)."""

    OK = 0
    ERR_NULL = 1
    ERR_UTF8 = 2
    ERR_CONFIG = 3
    ERR_BIND = 4
    ERR_START = 5
    ERR_TOPIC_NOT_FOUND = 6
    ERR_INTERNAL = 7
    ERR_PANIC = 99


OK = Code.OK
ERR_NULL = Code.ERR_NULL
ERR_UTF8 = Code.ERR_UTF8
ERR_CONFIG = Code.ERR_CONFIG
ERR_BIND = Code.ERR_BIND
ERR_START = Code.ERR_START
ERR_TOPIC_NOT_FOUND = Code.ERR_TOPIC_NOT_FOUND
ERR_INTERNAL = Code.ERR_INTERNAL
ERR_PANIC = Code.ERR_PANIC


class LookupdError(Exception):
    """A lookupd call failed.

    ``code`` is the result code (a :class:`Code` member, or a plain int if
    the library is newer than this binding); ``message`` is the library's
    description of the failure.
    """

    def __init__(self, code: int, message: str):
        try:
            code = Code(code)
        except ValueError:
            pass
        super().__init__(code, message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        name = self.code.name if isinstance(self.code, Code) else str(self.code)
        return "%s (%s)" % (self.message, name)


class TopicNotFound(LookupdError):
    """``lookup`` of a topic that is not registered (HTTP's 404)."""


def _find_library() -> str:
    env = os.environ.get("LOOKUPD_LIB")
    if env:
        return env
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir, os.pardir)
    tried = []
    for profile in ("release", "debug"):
        path = os.path.normpath(os.path.join(root, "target", profile, "liblookupd.so"))
        if os.path.exists(path):
            return path
        tried.append(path)
    raise OSError("liblookupd.so not found (tried %s); build it with "
                  "`cargo build --lib` or set LOOKUPD_LIB" % ", ".join(tried))


class _Opaque(ctypes.Structure):
    """``struct lookupd``; a distinct pointer type keeps other pointers out."""


_Handle = POINTER(_Opaque)

# Query results come back through c_void_p rather than c_char_p: ctypes
# would turn a c_char_p into bytes and drop the pointer, which then could
# never be given back to lookupd_string_free.
_SIGNATURES = {
    "lookupd_start": ([c_char_p, POINTER(_Handle)], c_int),
    "lookupd_tcp_port": ([_Handle, POINTER(c_uint16)], c_int),
    "lookupd_http_port": ([_Handle, POINTER(c_uint16)], c_int),
    "lookupd_query_lookup": ([_Handle, c_char_p, POINTER(c_void_p)], c_int),
    "lookupd_query_topics": ([_Handle, POINTER(c_void_p)], c_int),
    "lookupd_query_channels": ([_Handle, c_char_p, POINTER(c_void_p)], c_int),
    "lookupd_query_nodes": ([_Handle, POINTER(c_void_p)], c_int),
    "lookupd_string_free": ([c_void_p], None),
    "lookupd_stop": ([_Handle], c_int),
    # Both point at memory lookupd owns, so copying into bytes is right.
    "lookupd_last_error": ([], c_char_p),
    "lookupd_version": ([], c_char_p),
}


def _load(path: str) -> ctypes.CDLL:
    # CDLL (not PyDLL) releases the GIL during each call, so queries from
    # several Python threads really run at once.
    lib = ctypes.CDLL(path)
    for name, (argtypes, restype) in _SIGNATURES.items():
        f = getattr(lib, name)
        f.argtypes = argtypes
        f.restype = restype
    return lib


_lib = _load(_find_library())


def _error(code: int) -> LookupdError:
    # lookupd_last_error is thread-local, so this must run on the thread
    # that made the failing call, before it makes another.
    raw = _lib.lookupd_last_error()
    message = raw.decode("utf-8", "replace") if raw else "lookupd call failed"
    cls = TopicNotFound if code == ERR_TOPIC_NOT_FOUND else LookupdError
    return cls(code, message)


def _check(code: int) -> None:
    if code != OK:
        raise _error(code)


def _c_string(value: str | bytes, what: str) -> bytes:
    if isinstance(value, str):
        # surrogatepass lets a lone surrogate through as invalid UTF-8 so
        # that the library rejects it with ERR_UTF8, as it does such bytes.
        value = value.encode("utf-8", "surrogatepass")
    elif not isinstance(value, bytes):
        raise TypeError("%s must be str or bytes, not %s" % (what, type(value).__name__))
    if b"\0" in value:
        # A C string would end at the NUL and silently name something else.
        raise ValueError("%s contains a NUL character" % what)
    return value


def version() -> str:
    """The library's version, e.g. ``"0.1.0 (nsq 1.3.0)"``."""
    return _lib.lookupd_version().decode()


class Lookupd:
    """A running nsqlookupd inside this process.

    ``Lookupd(config=None, **options)`` starts one. ``config`` is a dict of
    options (or a JSON object as a str, passed to the library untouched);
    keyword options are merged over a dict. Keys are the config file's:
    ``tcp_address``, ``http_address``, ``broadcast_address``,
    ``inactive_producer_timeout``, ``tombstone_lifetime``, ``log_level``,
    ``log_prefix``, ``threads`` and lookupd's bounds. Port 0 picks a free
    port. A bad key or value raises LookupdError with code ERR_CONFIG; an
    address in use, ERR_BIND.

    Queries may be made from any number of threads at once. ``stop()`` waits
    for queries in flight, then stops; after it, every method raises
    LookupdError (code ERR_NULL). Use it as a context manager to stop on
    exit.
    """

    def __init__(self, config: dict | str | None = None, **options):
        if isinstance(config, str):
            if options:
                raise TypeError("keyword options cannot be merged into a JSON string config")
            text = config
        else:
            text = json.dumps({**(config or {}), **options})
        self._busy = 0
        self._cond = threading.Condition()
        # Serialises stop() calls, so that none returns before the
        # instance is really stopped.
        self._stop_lock = threading.Lock()
        handle = _Handle()
        _check(_lib.lookupd_start(_c_string(text, "config"), byref(handle)))
        self._handle = handle

    def _acquire(self):
        with self._cond:
            if not self._handle:
                raise LookupdError(ERR_NULL, "lookupd instance is stopped")
            self._busy += 1
            return self._handle

    def _release(self):
        with self._cond:
            self._busy -= 1
            if self._busy == 0:
                self._cond.notify_all()

    def _port(self, fn) -> int:
        h = self._acquire()
        try:
            port = c_uint16()
            _check(fn(h, byref(port)))
            return port.value
        finally:
            self._release()

    def _query(self, fn, *args) -> str:
        h = self._acquire()
        try:
            out = c_void_p()
            _check(fn(h, *args, byref(out)))
        finally:
            self._release()
        try:
            return ctypes.string_at(out.value).decode("utf-8")
        finally:
            _lib.lookupd_string_free(out)

    @property
    def running(self) -> bool:
        """Whether the instance has not been stopped yet."""
        return bool(getattr(self, "_handle", None))

    @property
    def tcp_port(self) -> int:
        """The bound TCP port, the one nsqd registers on."""
        return self._port(_lib.lookupd_tcp_port)

    @property
    def http_port(self) -> int:
        """The bound HTTP port."""
        return self._port(_lib.lookupd_http_port)

    def lookup_json(self, topic: str | bytes) -> str:
        """The body of ``GET /lookup?topic=<topic>``, byte for byte.

        Raises TopicNotFound if the topic is not registered.
        """
        return self._query(_lib.lookupd_query_lookup, _c_string(topic, "topic"))

    def topics_json(self) -> str:
        """The body of ``GET /topics``, byte for byte."""
        return self._query(_lib.lookupd_query_topics)

    def channels_json(self, topic: str | bytes) -> str:
        """The body of ``GET /channels?topic=<topic>``, byte for byte."""
        return self._query(_lib.lookupd_query_channels, _c_string(topic, "topic"))

    def nodes_json(self) -> str:
        """The body of ``GET /nodes``, byte for byte."""
        return self._query(_lib.lookupd_query_nodes)

    def lookup(self, topic: str | bytes) -> dict:
        """``GET /lookup?topic=<topic>`` parsed: ``{"channels", "producers"}``.

        Raises TopicNotFound if the topic is not registered.
        """
        return json.loads(self.lookup_json(topic))

    def topics(self) -> dict:
        """``GET /topics`` parsed: ``{"topics": [...]}``."""
        return json.loads(self.topics_json())

    def channels(self, topic: str | bytes) -> dict:
        """``GET /channels?topic=<topic>`` parsed: ``{"channels": [...]}``."""
        return json.loads(self.channels_json(topic))

    def nodes(self) -> dict:
        """``GET /nodes`` parsed: ``{"producers": [...]}``."""
        return json.loads(self.nodes_json())

    def stop(self) -> None:
        """Stops the instance and frees it; a second call does nothing.

        Waits for queries in flight on other threads; queries begun after
        stop() is called raise LookupdError.
        """
        with self._stop_lock:
            with self._cond:
                handle, self._handle = self._handle, None
                # lookupd_stop must be the handle's last use.
                self._cond.wait_for(lambda: self._busy == 0)
            if handle:
                _check(_lib.lookupd_stop(handle))

    def __enter__(self) -> Lookupd:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __del__(self):
        # A failed __init__ leaves no handle; at interpreter exit the
        # module's globals may already be gone, and there is no one left
        # to report an error to.
        if getattr(self, "_handle", None):
            try:
                self.stop()
            except Exception:
                pass
