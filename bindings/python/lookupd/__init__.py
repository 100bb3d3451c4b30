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
module's result constants; ``Timeout`` is also a ``TimeoutError``, and
``Stopped`` is raised by anything done with a stopped instance.
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
from typing import Any, Callable, Optional, Tuple

__all__ = [
    "Lookupd", "LookupdError", "TopicNotFound", "Timeout", "Stopped", "Code", "version",
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

    code: Code | int
    message: str

    def __init__(self, code: int, message: str) -> None:
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


class Timeout(LookupdError, TimeoutError):
    """``wait_for_producers`` ran out of time (code ERR_TIMEOUT).

    Also a ``TimeoutError``, so ``except TimeoutError`` catches it as it
    catches other libraries' timeouts. Like theirs (asyncio's, sockets'),
    it is not an operating system error: ``errno`` and ``strerror`` are
    None.
    """

    def __init__(self, code: int, message: str) -> None:
        super().__init__(code, message)
        # OSError's __init__, reached through super(), took (code, message)
        # for (errno, strerror); ERR_TIMEOUT is no errno value.
        self.errno = None
        self.strerror = None


class Stopped(LookupdError):
    """The instance is stopped (code ERR_STOPPED): ``stop()`` ended the
    wait, or the call began after ``stop()``."""


# The exception class of a result code, where it has one of its own.
_ERROR_CLASSES = {ERR_TOPIC_NOT_FOUND: TopicNotFound, ERR_TIMEOUT: Timeout, ERR_STOPPED: Stopped}

# ---------------------------------------------------------------------------
# Finding and loading the library

_LIB_NAME = "liblookupd.dylib" if sys.platform == "darwin" else "liblookupd.so"
_HERE = os.path.dirname(os.path.abspath(__file__))


def _candidates() -> list[str]:
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
        "`make -C <lookupd repo>/bindings/c lib PROFILE=release`, or set LOOKUPD_LIB "
        "to its path"
        % (_LIB_NAME, ", ".join(tried)))


class _Opaque(ctypes.Structure):
    """``struct lookupd``; a distinct pointer type keeps other pointers out."""


class _CancelOpaque(ctypes.Structure):
    """``struct lookupd_cancel``."""


_Handle = POINTER(_Opaque)
_Cancel = POINTER(_CancelOpaque)

# The functions this binding calls, and only those (lookupd.h declares
# more: see _UNUSED). Query results come back through c_void_p rather than
# c_char_p: ctypes would turn a c_char_p into bytes and drop the pointer,
# which then could never be given back to lookupd_string_free.
_SIGNATURES = {
    "lookupd_start": ([c_char_p, POINTER(_Handle)], c_int),
    "lookupd_tcp_port": ([_Handle, POINTER(c_uint16)], c_int),
    "lookupd_http_port": ([_Handle, POINTER(c_uint16)], c_int),
    "lookupd_https_port": ([_Handle, POINTER(c_uint16)], c_int),
    "lookupd_waiting": ([_Handle, POINTER(c_uint32)], c_int),
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
    # Every wait; the token (NULL off the main thread) is how Ctrl-C ends
    # one (see Lookupd._wait).
    "lookupd_wait_lookup_cancellable": (
        [_Handle, c_char_p, c_uint32, c_uint32, _Cancel, POINTER(c_void_p)], c_int),
    "lookupd_cancel_new": ([POINTER(_Cancel)], c_int),
    "lookupd_cancel_fire": ([_Cancel], c_int),
    "lookupd_cancel_free": ([_Cancel], None),
}

# What lookupd.h declares and this binding does not call: a wait with a
# NULL token is lookupd_wait_lookup.
_UNUSED = frozenset({"lookupd_wait_lookup"})


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


def __getattr__(name: str) -> Any:
    # ``lookupd._lib``, the loaded CDLL, as earlier versions exposed it.
    if name == "_lib":
        return _library()
    raise AttributeError("module %r has no attribute %r" % (__name__, name))


def library_path() -> str:
    """The path of the shared library in use (loading it if need be)."""
    _library()
    assert _loaded_path is not None
    return _loaded_path


def _error(code: int) -> LookupdError:
    # lookupd_last_error is thread-local, so this must run on the thread
    # that made the failing call, before it makes another.
    raw = _library().lookupd_last_error()
    message = raw.decode("utf-8", "replace") if raw else "lookupd call failed"
    cls: type[LookupdError] = LookupdError
    if code in _ERROR_CLASSES:
        cls = _ERROR_CLASSES[Code(code)]
    return cls(code, message)


def _check(code: int) -> None:
    if code != OK:
        raise _error(code)


def _take_string(out: c_void_p) -> str:
    """The text of a string lookupd returned, which is then freed."""
    try:
        return ctypes.string_at(out).decode("utf-8")
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


def _count(count: int) -> int:
    if isinstance(count, bool):
        raise TypeError("count must be an int, not bool")
    count = operator.index(count)
    if not 0 <= count <= _MAX_U32:
        raise ValueError("count must be between 0 and %d, not %d" % (_MAX_U32, count))
    return count


def _timeout_ms(timeout: float | None) -> int:
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


def _parse(body: str) -> dict[str, Any]:
    """An answer's JSON body (always an object) as a dict."""
    parsed: dict[str, Any] = json.loads(body)
    return parsed


def version() -> str:
    """The library's version, e.g. ``"0.1.0 (nsq 1.3.0)"``."""
    raw: bytes = _library().lookupd_version()
    return raw.decode()


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
            resolved = str(socket.getaddrinfo(listen_host, None, 0, socket.SOCK_STREAM)[0][4][0])
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


# How long the main thread blocks at a time while a helper thread waits in
# the library: the longest a Ctrl-C can go unnoticed where the signal is
# delivered to another thread (the kernel may pick any thread of the
# process for a SIGINT, and Python runs its handler on the main thread
# only). It paces that check alone: the wait itself is woken by
# registrations.
_INTERRUPT_SLICE = 0.1

# The outcome of one wait in the library, as its thread read it: the
# result code, the string written on success, and the error raised for a
# failure (read at once on the failing thread, where lookupd_last_error
# describes it).
_Outcome = Tuple[int, c_void_p, Optional[LookupdError]]


class Lookupd:
    """A running nsqlookupd inside this process.

    ``Lookupd(config=None, **options)`` starts one. ``config`` is a dict of
    options (or a JSON object as a str, passed to the library untouched);
    keyword options are merged over a dict. Keys are the config file's:
    ``tcp_address``, ``http_address``, ``https_address`` (with ``tls_cert``
    and ``tls_key``), ``broadcast_address``, ``inactive_producer_timeout``,
    ``tombstone_lifetime``, ``log_level``, ``log_prefix``, ``threads`` and
    lookupd's bounds. Port 0 picks a free port. A bad key or value raises
    LookupdError with code ERR_CONFIG; an address in use, ERR_BIND.

    Queries and waits may be made from any number of threads at once.
    ``stop()`` ends the waits in progress, waits for queries in flight, then
    stops; after it, every method raises ``Stopped``. Use it as a context
    manager to stop on exit.
    """

    def __init__(self, config: dict[str, Any] | str | None = None, **options: Any) -> None:
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
        https = given.get("https_address")
        self._https_host = _client_host(_listen_host(str(https))) if https else None
        self._busy = 0
        self._cond = threading.Condition()
        # Serialises stop() calls, so that none returns before the
        # instance is really stopped.
        self._stop_lock = threading.Lock()
        handle = _Handle()
        _check(lib.lookupd_start(_c_string(text, "config"), byref(handle)))
        # The C handle; NULL-like (None) once stop() has begun.
        self._handle: Any = handle

    def _acquire(self) -> Any:
        with self._cond:
            if not self._handle:
                raise Stopped(ERR_STOPPED, "lookupd instance is stopped")
            self._busy += 1
            return self._handle

    def _release(self) -> None:
        with self._cond:
            self._busy -= 1
            if self._busy == 0:
                self._cond.notify_all()

    def _port(self, fn: Callable[..., int]) -> int:
        h = self._acquire()
        try:
            port = c_uint16()
            _check(fn(h, byref(port)))
            return port.value
        finally:
            self._release()

    def _query(self, fn: Callable[..., int], *args: Any) -> str:
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
    def https_port(self) -> int | None:
        """The bound HTTPS port, or None when the instance serves no HTTPS
        (no ``https_address`` in its configuration)."""
        return self._port(_library().lookupd_https_port) or None

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

    @property
    def https_address(self) -> str | None:
        """``host:port`` of the HTTPS listener (``"https://" +
        l.https_address``), the host as for ``tcp_address``; None when the
        instance serves no HTTPS."""
        port = self.https_port
        if port is None or self._https_host is None:
            return None
        return _join(self._https_host, port)

    @property
    def waiting(self) -> int:
        """How many ``wait_for_producers`` calls are blocked on the
        instance now (begun, not satisfied at their first look, not ended):
        a test or a host learns from it that its waiting threads are in
        place, without sleeping."""
        h = self._acquire()
        try:
            count = c_uint32()
            _check(_library().lookupd_waiting(h, byref(count)))
            return count.value
        finally:
            self._release()

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

    def lookup(self, topic: str | bytes) -> dict[str, Any]:
        """``GET /lookup?topic=<topic>`` parsed: ``{"channels", "producers"}``.

        Raises TopicNotFound if the topic is not registered.
        """
        return _parse(self.lookup_json(topic))

    def topics(self) -> dict[str, Any]:
        """``GET /topics`` parsed: ``{"topics": [...]}``."""
        return _parse(self.topics_json())

    def channels(self, topic: str | bytes) -> dict[str, Any]:
        """``GET /channels?topic=<topic>`` parsed: ``{"channels": [...]}``."""
        return _parse(self.channels_json(topic))

    def nodes(self) -> dict[str, Any]:
        """``GET /nodes`` parsed: ``{"producers": [...]}``."""
        return _parse(self.nodes_json())

    def _wait_in_library(self, topic: bytes, count: int, timeout_ms: int,
                         token: Any = None) -> _Outcome:
        """One lookupd_wait_lookup_cancellable call on the calling thread,
        holding the handle (stop() waits for it, and ends the wait)."""
        h = self._acquire()
        try:
            out = c_void_p()
            code = _library().lookupd_wait_lookup_cancellable(h, topic, count, timeout_ms, token,
                                                              byref(out))
            return code, out, (_error(code) if code != OK else None)
        finally:
            self._release()

    def _wait(self, topic: bytes, count: int, timeout_ms: int) -> _Outcome:
        """Waits in the library, interruptibly by Ctrl-C on the main thread.

        Python handles signals on the main thread alone, between bytecodes,
        so a main thread blocked in a C call would not see Ctrl-C until the
        call returned. There the call runs on a helper thread with a cancel
        token, while this thread waits for it in short slices (each of
        which a signal interrupts). On KeyboardInterrupt, or any exception
        a signal handler raises, the token is fired, the helper's end
        awaited (prompt: its wait is cancelled), and the exception raised
        again. Any other thread cannot receive Ctrl-C, and waits in the
        library itself, with no token.

        The helper owns what it uses, the token and its hold on the handle,
        and this thread only reads them under ``lock``: an exception can
        come at any bytecode, Thread.start() included, after which this
        thread cannot tell whether the helper will run at all. Marked
        abandoned, a helper that had not begun never waits, and one that
        had is fired and awaited; either way nothing is freed under it.
        """
        if threading.current_thread() is not threading.main_thread():
            return self._wait_in_library(topic, count, timeout_ms)
        lib = _library()
        lock = threading.Lock()
        # Under lock: began (the helper runs and will set `returned`),
        # abandoned (set by this thread: the helper must not wait, or stop
        # waiting), token (while the helper's wait may use it), outcome.
        state: dict[str, Any] = {"began": False, "abandoned": False, "token": None}
        outcome: list[_Outcome] = []
        failure: list[BaseException] = []
        returned = threading.Event()   # set by the helper as it ends

        def helper_run() -> None:
            with lock:
                if state["abandoned"]:
                    return
                state["began"] = True
            try:
                token = _Cancel()
                _check(lib.lookupd_cancel_new(byref(token)))
                try:
                    with lock:
                        if state["abandoned"]:
                            return
                        state["token"] = token
                    result = self._wait_in_library(topic, count, timeout_ms, token)
                finally:
                    with lock:
                        state["token"] = None
                        lib.lookupd_cancel_free(token)
                with lock:
                    outcome.append(result)
            except BaseException as e:  # handed to the waiting thread
                failure.append(e)
            finally:
                returned.set()

        # An Event, not Thread.join, tells this thread the helper ended:
        # before Python 3.13, a join that KeyboardInterrupt interrupts may
        # leave the Thread marked as ended while it still runs.
        helper = threading.Thread(target=helper_run, name="lookupd-wait", daemon=True)
        try:
            helper.start()
            while not returned.wait(_INTERRUPT_SLICE):
                pass
            helper.join()
        except BaseException:
            with lock:
                state["abandoned"] = True
                if state["token"] is not None:
                    lib.lookupd_cancel_fire(state["token"])
                began = state["began"]
            if began:
                _wait_through_interrupts(returned)
            # Answered just before the token fired: nobody takes the string.
            if outcome and outcome[0][0] == OK:
                lib.lookupd_string_free(outcome[0][1])
            raise
        if failure:
            raise failure[0]
        return outcome[0]

    def wait_for_producers_json(self, topic: str | bytes, count: int = 1,
                                timeout: float | None = 10.0) -> str:
        """``wait_for_producers``, returning the ``/lookup`` body byte for byte."""
        topic_c = _c_string(topic, "topic")
        count = _count(count)
        timeout_ms = _timeout_ms(timeout)
        # stop() ends the wait through lookupd_shutdown.
        code, out, error = self._wait(topic_c, count, timeout_ms)
        if error is None:
            return _take_string(out)
        if code == ERR_STOPPED:
            raise Stopped(ERR_STOPPED, "lookupd instance stopped while waiting for "
                          "producers of topic %r" % (topic,))
        raise error

    def wait_for_producers(self, topic: str | bytes, count: int = 1,
                           timeout: float | None = 10.0) -> dict[str, Any]:
        """Waits until ``/lookup?topic=<topic>`` lists at least ``count``
        producers, and returns that answer parsed (``{"channels",
        "producers"}``). ``count=0`` returns as soon as the topic exists.

        ``timeout`` is in seconds (int or float; ``None`` for the longest
        the library allows, 2**32-1 ms, about 49.7 days, which also caps
        longer ones). When it passes first, raises ``Timeout`` (a
        LookupdError, code ERR_TIMEOUT, and a TimeoutError). The wait is
        woken by registrations, not by polling, and releases the GIL.
        On the main thread, Ctrl-C interrupts it (KeyboardInterrupt),
        leaving the instance as it was.

        ``stop()`` on another thread ends the wait at once with
        ``Stopped``, as it does a wait begun after it. A topic that is not
        a valid name raises LookupdError ERR_INVALID_ARG (nothing could
        ever register it); a negative ``count`` or ``timeout``, ValueError.
        """
        return _parse(self.wait_for_producers_json(topic, count, timeout))

    def stop(self) -> None:
        """Stops the instance and frees it; a second call does nothing.

        Ends waits in progress on other threads (they raise ``Stopped``)
        and waits for queries in flight; anything begun after stop() is
        called raises ``Stopped``.
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

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __del__(self) -> None:
        # A failed __init__ leaves no handle; at interpreter exit the
        # module's globals may already be gone, and there is no one left
        # to report an error to. Nothing is in progress on an instance
        # being collected (a call holds a reference), so stop() returns at
        # once, and no thread is joined here.
        if getattr(self, "_handle", None):
            try:
                self.stop()
            except Exception:
                pass


def _wait_through_interrupts(event: threading.Event) -> None:
    """Waits for ``event``, which a fired helper is about to set, even if
    more Ctrl-Cs come, so that the interrupted call returns with no wait
    of its own left on the instance. The exception being handled is raised
    once this returns; later ones are dropped."""
    while True:
        try:
            if event.wait():
                return
        except BaseException:
            pass
