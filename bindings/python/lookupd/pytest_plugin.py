"""pytest fixtures for tests that need an nsqlookupd.

Installing the package registers this module with pytest (entry point
group ``pytest11``, name ``lookupd``; ``-p no:lookupd`` turns it off):

``nsqlookupd``
    A fresh running :class:`lookupd.Lookupd` for the test, on 127.0.0.1
    with ports chosen by the system (TCP and HTTP), log level ``warn``,
    stopped after the test.

``nsqlookupd_factory``
    ``nsqlookupd_factory(config=None, **options)`` starts an instance with
    options merged over those defaults (``log_level="info"``,
    ``inactive_producer_timeout="1s"``...); every instance it started is
    stopped after the test.

Loading the plugin costs an import of the package's Python code and nothing
else: the shared library is loaded by the first fixture that starts an
instance, so a missing or broken library fails only the tests that use
one, with the error saying why, and pytest still starts.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest

import lookupd

#: What every instance the fixtures start is given, before your options.
DEFAULTS: dict[str, Any] = {
    "tcp_address": "127.0.0.1:0",
    "http_address": "127.0.0.1:0",
    "log_level": "warn",
}


@pytest.fixture
def nsqlookupd_factory() -> Iterator[Callable[..., lookupd.Lookupd]]:
    """Starts lookupd instances: ``nsqlookupd_factory(config=None, **options)``
    returns a running ``lookupd.Lookupd`` with ``config`` (a dict) and the
    keyword options merged over 127.0.0.1 port 0 for TCP and HTTP and log
    level warn. All of them are stopped after the test."""
    started: list[lookupd.Lookupd] = []

    def start(config: dict[str, Any] | None = None, **options: Any) -> lookupd.Lookupd:
        instance = lookupd.Lookupd({**DEFAULTS, **(config or {}), **options})
        started.append(instance)
        return instance

    yield start
    failure = None
    for instance in reversed(started):
        try:
            instance.stop()
        except Exception as e:  # stop the others, then report it
            failure = failure or e
    if failure is not None:
        raise failure


@pytest.fixture
def nsqlookupd(nsqlookupd_factory: Callable[..., lookupd.Lookupd]) -> lookupd.Lookupd:
    """A running ``lookupd.Lookupd`` on 127.0.0.1, TCP and HTTP ports chosen
    by the system (``tcp_address``, ``http_address``), log level warn;
    stopped after the test."""
    return nsqlookupd_factory()
