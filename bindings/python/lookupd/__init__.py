"""Python binding of lookupd, an embeddable nsqlookupd, through its C ABI.

Start an nsqlookupd inside the current process, read its addresses, wait
for producers, and ask it what its HTTP API would answer without going
through HTTP::

    import lookupd

    with lookupd.Lookupd(tcp_address="127.0.0.1:0",
                         http_address="127.0.0.1:0") as l:
        print(l.tcp_address)             # what nsqd's -lookupd-tcp-address takes
        print(l.http_address)            # what consumers query
        print(l.wait_for_producers("orders", timeout=5))   # once nsqd registered

The shared library (liblookupd.so) is loaded with ctypes on first use, from
the path in the environment variable LOOKUPD_LIB if it is set, else the copy
installed inside this package, else (running from the repository's source
tree) the repository's target/release, then target/debug. Every failure of
the library is raised as a LookupdError whose ``code`` is one of the
module's result constants.
"""

from __future__ import annotations

import ctypes
import enum
import ipaddress
import json
import math
import numbers
import operator
import os
import socket
import sys
import threading
from ctypes import POINTER, byref, c_char_p, c_int, c_uint16, c_uint32, c_void_p

__all__ = [
    "Lookupd", "LookupdError", "TopicNotFound", "Timeout", "Code", "version",
    "library_path",
    "OK", "ERR_NULL", "ERR_UTF8", "ERR_CONFIG", "ERR_BIND", "ERR_START",
    "ERR_TOPIC_NOT_FOUND", "ERR_INTERNAL", "ERR_TIMEOUT", "ERR_STOPPED",
    "ERR_INVALID_ARG", "ERR_CANCELLED", "ERR_PANIC",
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
    ERR_TIMEOUT = 8
    ERR_STOPPED = 9
    ERR_INVALID_ARG = 10
    ERR_CANCELLED = 11
    ERR_PANIC = 99


OK = Code.OK
ERR_NULL = Code.ERR_NULL
ERR_UTF8 = Code.ERR_UTF8
ERR_CONFIG = Code.ERR_CONFIG
ERR_BIND = Code.ERR_BIND
ERR_START = Code.ERR_START
ERR_TOPIC_NOT_FOUND = Code.ERR_TOPIC_NOT_FOUND
ERR_INTERNAL = Code.ERR_INTERNAL
ERR_TIMEOUT = Code.ERR_TIMEOUT
ERR_STOPPED = Code.ERR_STOPPED
ERR_INVALID_ARG = Code.ERR_INVALID_ARG
ERR_CANCELLED = Code.ERR_CANCELLED
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


class Timeout(LookupdError):
    """``wait_for_producers`` ran out of time (code ERR_TIMEOUT)."""


# The exception class of a result code, where it has one of its own.
_ERROR_CLASSES = {ERR_TOPIC_NOT_FOUND: TopicNotFound, ERR_TIMEOUT: Timeout}

# ---------------------------------------------------------------------------
# Finding and loading the library

_LIB_NAME = "liblookupd.dylib" if sys.platform == "darwin" else "liblookupd.so"
_HERE = os.path.dirname(os.path.abspath(__file__))


def _candidates() -> list:
    """Where the library may be, best first (LOOKUPD_LIB aside)."""
    found = [os.path.join(_HERE, _LIB_NAME)]   # installed with the package
    # In the source tree (bindings/python/lookupd, an editable install or
    # sys.path pointing there), the repository's own builds.
    repo = os.path.normpath(os.path.join(_HERE, os.pardir, os.pardir, os.pardir))
    if (os.path.isfile(os.path.join(_HERE, os.pardir, "pyproject.toml"))
            and os.path.isfile(os.path.join(repo, "Cargo.toml"))):
        found += [os.path.join(repo, "target", profile, _LIB_NAME) for profile in ("release", "debug")]
    return found


def _find_library() -> str:
    env = os.environ.get("LOOKUPD_LIB")
    if env:
        return env
    tried = _candidates()
    for path in tried:
        if os.path.exists(path):
            return path
    raise OSError(
        "%s not found (tried %s). Install the package with pip, which builds it "
        "(`pip install <lookupd repo>/bindings/python`), build it with "
        "`cargo build --release --lib`, or set LOOKUPD_LIB to its path"
        % (_LIB_NAME, ", ".join(tried)))


class _Opaque(ctypes.Structure):
    """``struct lookupd``; a distinct pointer type keeps other pointers out."""


class _CancelOpaque(ctypes.Structure):
    """``struct lookupd_cancel``."""


_Handle = POINTER(_Opaque)
_Cancel = POINTER(_CancelOpaque)

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
    "lookupd_shutdown": ([_Handle], c_int),
    # Both point at memory lookupd owns, so copying into bytes is right.
    "lookupd_last_error": ([], c_char_p),
    "lookupd_version": ([], c_char_p),
    "lookupd_wait_lookup": ([_Handle, c_char_p, c_uint32, c_uint32, POINTER(c_void_p)], c_int),
    "lookupd_wait_lookup_cancellable": (
        [_Handle, c_char_p, c_uint32, c_uint32, _Cancel, POINTER(c_void_p)], c_int),
    "lookupd_cancel_new": ([POINTER(_Cancel)], c_int),
    "lookupd_cancel_fire": ([_Cancel], c_int),
    "lookupd_cancel_free": ([_Cancel], None),
}


def _load(path: str) -> ctypes.CDLL:
    # CDLL (not PyDLL) releases the GIL during each call, so queries from
    # several Python threads really run at once, and a wait blocks only the
    # thread that waits.
    try:
        lib = ctypes.CDLL(path)
    except OSError as e:
        how = "LOOKUPD_LIB=%s" % path if os.environ.get("LOOKUPD_LIB") else path
        raise OSError("cannot load lookupd's library (%s): %s" % (how, e)) from e
    for name, (argtypes, restype) in _SIGNATURES.items():
        f = getattr(lib, name)
        f.argtypes = argtypes
        f.restype = restype
    return lib


# Loaded on first use, not at import: importing the package (or its pytest
# plugin) must not fail, nor cost a dlopen, where nothing uses it.
_loaded = None
_loaded_path = None
_load_lock = threading.Lock()


def _library() -> ctypes.CDLL:
    global _loaded, _loaded_path
    lib = _loaded
    if lib is None:
        with _load_lock:
            if _loaded is None:
                path = _find_library()
                _loaded = _load(path)
                _loaded_path = path
            lib = _loaded
    return lib


def __getattr__(name: str):
    # ``lookupd._lib``, the loaded CDLL, as earlier versions exposed it.
    if name == "_lib":
        return _library()
    raise AttributeError("module %r has no attribute %r" % (__name__, name))


def library_path() -> str:
    """The path of the shared library in use (loading it if need be)."""
    _library()
    return _loaded_path


def _error(code: int) -> LookupdError:
    # lookupd_last_error is thread-local, so this must run on the thread
    # that made the failing call, before it makes another.
    raw = _library().lookupd_last_error()
    message = raw.decode("utf-8", "replace") if raw else "lookupd call failed"
    return _ERROR_CLASSES.get(code, LookupdError)(code, message)


def _check(code: int) -> None:
    if code != OK:
        raise _error(code)


def _take_string(out: c_void_p) -> str:
    """The text of a string lookupd returned, which is then freed."""
    try:
        return ctypes.string_at(out.value).decode("utf-8")
    finally:
        _library().lookupd_string_free(out)


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


_MAX_U32 = 2**32 - 1


def _count(count) -> int:
    if isinstance(count, bool):
        raise TypeError("count must be an int, not bool")
    count = operator.index(count)
    if not 0 <= count <= _MAX_U32:
        raise ValueError("count must be between 0 and %d, not %d" % (_MAX_U32, count))
    return count


def _timeout_ms(timeout) -> int:
    """Seconds (int or float; None for the longest) as the C wait's
    milliseconds: rounded up, so a wait never ends before ``timeout``, and
    capped at 2**32-1 ms (49.7 days), the most the C ABI takes."""
    if timeout is None:
        return _MAX_U32
    if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real):
        raise TypeError("timeout must be a number of seconds, not %s" % type(timeout).__name__)
    seconds = float(timeout)
    if math.isnan(seconds) or seconds < 0:
        raise ValueError("timeout must be a non-negative number of seconds, not %r" % timeout)
    if seconds * 1000 >= _MAX_U32:   # inf too
        return _MAX_U32
    return math.ceil(seconds * 1000)


def version() -> str:
    """The library's version, e.g. ``"0.1.0 (nsq 1.3.0)"``."""
    return _library().lookupd_version().decode()


# ---------------------------------------------------------------------------
# Addresses a local client can connect to


def _listen_host(address: str) -> str:
    """The host part of a listen address as lookupd reads it (Go's way):
    ``host:port``, ``[v6]:port``, or ``:port`` for every interface."""
    host = address.rpartition(":")[0]
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host


def _client_host(listen_host: str) -> str:
    """The host a local client connects to, to reach a listener on
    ``listen_host``: the address itself, except that every-interface
    addresses become loopback (``""`` and ``0.0.0.0`` give 127.0.0.1, ``::``
    gives ::1) and a name is resolved as lookupd resolved it (first answer
    of getaddrinfo)."""
    if listen_host in ("", "0.0.0.0"):
        return "127.0.0.1"
    name, _, zone = listen_host.partition("%")
    try:
        ip = ipaddress.ip_address(name)
    except ValueError:
        try:
            resolved = socket.getaddrinfo(listen_host, None, 0, socket.SOCK_STREAM)[0][4][0]
        except (OSError, IndexError):
            return listen_host
        return _client_host(resolved) if resolved != listen_host else resolved
    if ip.is_unspecified:
        return "127.0.0.1" if ip.version == 4 else "::1"
    return listen_host if zone else str(ip)


def _join(host: str, port: int) -> str:
    return "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)


# ---------------------------------------------------------------------------
# An instance


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

    Queries and waits may be made from any number of threads at once.
    ``stop()`` ends the waits in progress, waits for queries in flight, then
    stops; after it, every method raises LookupdError (code ERR_NULL). Use
    it as a context manager to stop on exit.
    """

    def __init__(self, config: dict | str | None = None, **options):
        if isinstance(config, str):
            if options:
                raise TypeError("keyword options cannot be merged into a JSON string config")
            text = config
        else:
            text = json.dumps({**(config or {}), **options})
        lib = _library()
        # The C ABI gives the bound ports only; the hosts are the
        # configuration's. Worked out first, so that nothing can fail once
        # the instance runs (JSON that does not parse here fails to start).
        try:
            given = json.loads(text)
        except ValueError:
            given = None
        if not isinstance(given, dict):
            given = {}
        self._tcp_host = _client_host(_listen_host(str(given.get("tcp_address", "0.0.0.0:4160"))))
        self._http_host = _client_host(_listen_host(str(given.get("http_address", "0.0.0.0:4161"))))
        self._busy = 0
        self._cond = threading.Condition()
        # Serialises stop() calls, so that none returns before the
        # instance is really stopped.
        self._stop_lock = threading.Lock()
        handle = _Handle()
        _check(lib.lookupd_start(_c_string(text, "config"), byref(handle)))
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
        return _take_string(out)

    @property
    def running(self) -> bool:
        """Whether the instance has not been stopped yet."""
        return bool(getattr(self, "_handle", None))

    @property
    def tcp_port(self) -> int:
        """The bound TCP port, the one nsqd registers on."""
        return self._port(_library().lookupd_tcp_port)

    @property
    def http_port(self) -> int:
        """The bound HTTP port."""
        return self._port(_library().lookupd_http_port)

    @property
    def tcp_address(self) -> str:
        """``host:port`` of the TCP listener, as a local nsqd connects to it
        (its ``-lookupd-tcp-address``), e.g. ``"127.0.0.1:43121"``.

        The host is the configured one, except that an every-interface
        address (``0.0.0.0``, ``:port``, the default) gives ``127.0.0.1``,
        ``[::]`` gives ``[::1]``, and a name gives the address it resolved
        to. IPv6 hosts are in brackets.
        """
        return _join(self._tcp_host, self.tcp_port)

    @property
    def http_address(self) -> str:
        """``host:port`` of the HTTP listener, for consumers and nsqadmin
        (``"http://" + l.http_address``); the host as for ``tcp_address``."""
        return _join(self._http_host, self.http_port)

    def lookup_json(self, topic: str | bytes) -> str:
        """The body of ``GET /lookup?topic=<topic>``, byte for byte.

        Raises TopicNotFound if the topic is not registered.
        """
        return self._query(_library().lookupd_query_lookup, _c_string(topic, "topic"))

    def topics_json(self) -> str:
        """The body of ``GET /topics``, byte for byte."""
        return self._query(_library().lookupd_query_topics)

    def channels_json(self, topic: str | bytes) -> str:
        """The body of ``GET /channels?topic=<topic>``, byte for byte."""
        return self._query(_library().lookupd_query_channels, _c_string(topic, "topic"))

    def nodes_json(self) -> str:
        """The body of ``GET /nodes``, byte for byte."""
        return self._query(_library().lookupd_query_nodes)

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

    def wait_for_producers_json(self, topic: str | bytes, count: int = 1,
                                timeout: float | None = 10.0) -> str:
        """``wait_for_producers``, returning the ``/lookup`` body byte for byte."""
        topic_c = _c_string(topic, "topic")
        count = _count(count)
        timeout_ms = _timeout_ms(timeout)
        # stop() ends the wait through lookupd_shutdown.
        h = self._acquire()
        try:
            out = c_void_p()
            code = _library().lookupd_wait_lookup(h, topic_c, count, timeout_ms, byref(out))
            error = _error(code) if code != OK else None
        finally:
            self._release()
        if error is None:
            return _take_string(out)
        if code == ERR_STOPPED:
            raise LookupdError(ERR_STOPPED, "lookupd instance stopped while waiting for "
                               "producers of topic %r" % (topic,))
        raise error

    def wait_for_producers(self, topic: str | bytes, count: int = 1,
                           timeout: float | None = 10.0) -> dict:
        """Waits until ``/lookup?topic=<topic>`` lists at least ``count``
        producers, and returns that answer parsed (``{"channels",
        "producers"}``). ``count=0`` returns as soon as the topic exists.

        ``timeout`` is in seconds (int or float; ``None`` for the longest
        the library allows, 2**32-1 ms, about 49.7 days, which also caps
        longer ones). When it passes first, raises ``Timeout`` (a
        LookupdError, code ERR_TIMEOUT). The wait is woken by registrations,
        not by polling, and releases the GIL.

        ``stop()`` on another thread ends the wait at once with LookupdError
        code ERR_STOPPED; a wait begun after stop() raises ERR_NULL, as
        every method does. A topic that is not a valid name raises
        LookupdError ERR_INVALID_ARG (nothing could ever register it);
        a negative ``count`` or ``timeout``, ValueError.
        """
        return json.loads(self.wait_for_producers_json(topic, count, timeout))

    def stop(self) -> None:
        """Stops the instance and frees it; a second call does nothing.

        Ends waits in progress on other threads (they raise LookupdError
        ERR_STOPPED) and waits for queries in flight; anything begun after
        stop() is called raises LookupdError ERR_NULL.
        """
        with self._stop_lock:
            with self._cond:
                handle, self._handle = self._handle, None
            if handle:
                # Ends every wait on the handle, in progress or about to
                # begin, with ERR_STOPPED, while queries keep answering:
                # safe with calls in progress, unlike lookupd_stop.
                _library().lookupd_shutdown(handle)
            with self._cond:
                # lookupd_stop must be the handle's last use.
                self._cond.wait_for(lambda: self._busy == 0)
            if handle:
                _check(_library().lookupd_stop(handle))

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
