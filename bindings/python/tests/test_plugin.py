"""Tests of the pytest plugin (the nsqlookupd and nsqlookupd_factory
fixtures) and of what importing the package costs: no library loaded, so
a missing library breaks only the tests that start an instance."""

import os
import re
import subprocess
import sys
import textwrap

import pytest

import lookupd
import lookupd.pytest_plugin
from fake_nsqd import FakeNsqd

SOURCE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(os.path.dirname(SOURCE))

# Instances handed to one test, checked by the next (tests run in file order).
handed = {}


def test_nsqlookupd_fixture_is_a_running_instance_on_loopback(nsqlookupd):
    assert nsqlookupd.running
    assert nsqlookupd.tcp_address == "127.0.0.1:%d" % nsqlookupd.tcp_port
    assert nsqlookupd.http_address == "127.0.0.1:%d" % nsqlookupd.http_port
    n = FakeNsqd(nsqlookupd.tcp_port)
    n.register("orders")
    assert len(nsqlookupd.wait_for_producers("orders", timeout=10)["producers"]) == 1
    n.close()
    handed["fixture"] = [nsqlookupd]


def test_factory_merges_options(nsqlookupd_factory, nsqlookupd):
    a = nsqlookupd_factory()
    b = nsqlookupd_factory({"threads": 1}, log_level="error")
    assert len({a.tcp_port, b.tcp_port, nsqlookupd.tcp_port}) == 3
    assert a.tcp_address.startswith("127.0.0.1:") and b.http_address.startswith("127.0.0.1:")
    with pytest.raises(lookupd.LookupdError) as e:
        nsqlookupd_factory(tombstone_lifetime="forever")
    assert e.value.code == lookupd.ERR_CONFIG
    handed["factory"] = [a, b, nsqlookupd]


def test_fixture_instances_were_stopped_after_their_tests():
    if set(handed) != {"fixture", "factory"}:
        pytest.skip("runs after the two tests above")
    for instances in handed.values():
        for instance in instances:
            assert not instance.running


def test_fixture_defaults():
    assert lookupd.pytest_plugin.DEFAULTS == {
        "tcp_address": "127.0.0.1:0", "http_address": "127.0.0.1:0", "log_level": "warn"}


def run_pytest(tmp_path, test_source, *args, **env):
    """Runs pytest in a subprocess on a test file, with the plugin loaded
    as its entry point would load it and the package from the source tree."""
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(test_source))
    environ = dict(os.environ, PYTHONPATH=SOURCE, **env)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:lookupd", "-p", "lookupd.pytest_plugin",
         "-p", "no:cacheprovider", "-q", *args, "test_inner.py"],
        cwd=str(tmp_path), env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        universal_newlines=True, timeout=120)


def test_fixture_logs_at_warn_unless_told(tmp_path):
    source = """
        def test_default(nsqlookupd):
            assert nsqlookupd.running

        def test_info(nsqlookupd_factory):
            assert nsqlookupd_factory(log_level="info").running
    """
    quiet = run_pytest(tmp_path, source, "-s", "-k", "default")
    assert quiet.returncode == 0, quiet.stdout + quiet.stderr
    assert "1 passed" in quiet.stdout
    assert "listening on" not in quiet.stderr + quiet.stdout
    loud = run_pytest(tmp_path, source, "-s", "-k", "info")
    assert loud.returncode == 0, loud.stdout + loud.stderr
    assert re.search(r"INFO: TCP: listening on 127\.0\.0\.1:\d+", loud.stderr + loud.stdout)


def test_pytest_starts_without_the_library(tmp_path):
    source = """
        def test_plain():
            assert True

        def test_needs_lookupd(nsqlookupd):
            pass
    """
    missing = "/nonexistent/liblookupd.so"
    r = run_pytest(tmp_path, source, "-rE", LOOKUPD_LIB=missing)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "1 passed, 1 error" in r.stdout
    assert "cannot load lookupd's library (LOOKUPD_LIB=%s)" % missing in r.stdout


def test_importing_loads_no_library():
    code = ("import lookupd, lookupd.pytest_plugin\n"
            "assert lookupd._loaded is None\n"
            "try:\n"
            "    lookupd.Lookupd()\n"
            "except OSError as e:\n"
            "    print(e)\n")
    r = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE,
                       universal_newlines=True, timeout=60,
                       env=dict(os.environ, PYTHONPATH=SOURCE, LOOKUPD_LIB="/nonexistent/x.so"))
    assert r.returncode == 0
    assert "LOOKUPD_LIB=/nonexistent/x.so" in r.stdout


def test_versions_agree():
    def version_in(path, section):
        with open(path) as f:
            text = f.read()
        body = re.search(r"^\[%s\]\s*$(.*?)(?=^\[|\Z)" % re.escape(section), text, re.M | re.S)
        return re.search(r'^version\s*=\s*"([^"]+)"', body.group(1), re.M).group(1)

    crate = version_in(os.path.join(REPO, "Cargo.toml"), "package")
    assert version_in(os.path.join(SOURCE, "pyproject.toml"), "project") == crate
    assert lookupd.version().split()[0] == crate
