"""Fixtures for the ctypes binding's tests.

The package is imported from the source tree (bindings/python), and the
library from LOOKUPD_LIB or where the package itself finds it. The pytest
plugin's fixtures (nsqlookupd, nsqlookupd_factory) come from the source
tree too, imported here rather than through the installed entry point.
"""

import os
import sys

import pytest

SOURCE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, SOURCE)

import lookupd  # noqa: E402

if os.path.dirname(os.path.dirname(os.path.abspath(lookupd.__file__))) != SOURCE:
    # An installed copy's plugin was loaded by pytest before this file ran.
    raise ImportError("these tests must test %s/lookupd, but lookupd was already imported "
                      "from %s (installed, with its pytest plugin): run them with "
                      "`-p no:lookupd`" % (SOURCE, lookupd.__file__))

from lookupd.pytest_plugin import nsqlookupd, nsqlookupd_factory  # noqa: E402,F401

CONFIG = {
    "tcp_address": "127.0.0.1:0",
    "http_address": "127.0.0.1:0",
    "broadcast_address": "127.0.0.1",
    "log_level": "fatal",
    "threads": 2,
}


@pytest.fixture
def start():
    """Starts instances on 127.0.0.1 port 0; every one is stopped after."""
    made = []

    def make(**options):
        l = lookupd.Lookupd(CONFIG, **options)
        made.append(l)
        return l

    yield make
    for l in made:
        l.stop()
