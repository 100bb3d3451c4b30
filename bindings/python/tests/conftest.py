"""Fixtures for the ctypes binding's tests.

The package is imported from the source tree (bindings/python), and the
library from LOOKUPD_LIB or the repository's target directory, as the
package itself finds it.
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import lookupd  # noqa: E402

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
