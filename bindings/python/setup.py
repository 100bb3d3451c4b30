"""The build step of the lookupd Python package.

Everything about the package is declared in pyproject.toml; this file only
adds the compiled part. Building (``pip install <repo>/bindings/python``,
``pip wheel ...``) runs ``cargo build --release --lib`` on the lookupd crate
and copies its shared library, liblookupd.so, into the package, which loads
it with ctypes. The wheel is therefore tagged for the platform
(``py3-none-linux_x86_64``, say): any Python 3 can load the library, since
it does not link to libpython, but only on the platform it was built for.

Where the crate is: at ``../../Cargo.toml`` from this file, which is where
it is when pip builds this directory in place (pip >= 21.3 always does for
a local directory). An sdist of bindings/python alone cannot contain the
crate, so building a wheel from one stops with an error saying so, unless
the environment variable LOOKUPD_CRATE_DIR names a checkout of the
repository. Cargo's own settings apply: CARGO_TARGET_DIR (default: the
repository's target/, so a build the repository already made is reused)
and CARGO (the cargo program to run).
"""

import json
import os
import re
import shutil
import subprocess
import sys

from setuptools import Distribution, setup
from setuptools.command.bdist_wheel import bdist_wheel as _bdist_wheel
from setuptools.command.build_py import build_py as _build_py

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE = "lookupd"
# The suffixes a cdylib gets, by platform; the package loads the one its
# platform uses (see _LIB_NAME in lookupd/__init__.py).
SHARED_SUFFIXES = (".so", ".dylib")


class BuildError(Exception):
    """The Rust library could not be built; the message says why and what to do."""


def _read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def _package_field(cargo_toml, field):
    """A string field of the ``[package]`` table of a Cargo.toml (no TOML
    parser before Python 3.11, and these lines are simple)."""
    table = re.search(r"^\[package\]\s*$(.*?)(?=^\[|\Z)", cargo_toml, re.M | re.S)
    if not table:
        return None
    value = re.search(r'^%s\s*=\s*"([^"]*)"' % field, table.group(1), re.M)
    return value.group(1) if value else None


def _project_version():
    match = re.search(r'^version\s*=\s*"([^"]*)"', _read(os.path.join(HERE, "pyproject.toml")), re.M)
    return match.group(1) if match else None


def find_crate():
    """The lookupd crate's Cargo.toml, or BuildError explaining the layout."""
    given = os.environ.get("LOOKUPD_CRATE_DIR")
    root = os.path.abspath(given) if given else os.path.normpath(os.path.join(HERE, os.pardir, os.pardir))
    manifest = os.path.join(root, "Cargo.toml")
    if not os.path.isfile(manifest) or _package_field(_read(manifest), "name") != "lookupd":
        if given:
            raise BuildError("LOOKUPD_CRATE_DIR=%s does not hold the lookupd crate "
                             "(no Cargo.toml of package \"lookupd\" there)" % given)
        raise BuildError(
            "the lookupd Rust crate is not at %s. This package is built from a checkout "
            "of the lookupd repository: `pip install <repo>/bindings/python` (pip >= 21.3 "
            "builds it in place, next to the crate). An sdist of bindings/python alone "
            "cannot contain the crate; to build one anyway, set LOOKUPD_CRATE_DIR to the "
            "repository's root." % manifest)
    crate_version = _package_field(_read(manifest), "version")
    if crate_version != _project_version():
        raise BuildError("version mismatch: %s says %s, bindings/python/pyproject.toml says %s"
                         % (manifest, crate_version, _project_version()))
    return manifest


def build_library():
    """Runs ``cargo build --release --lib`` and returns the shared library's path."""
    manifest = find_crate()
    cargo = os.environ.get("CARGO", "cargo")
    if shutil.which(cargo) is None:
        raise BuildError("%r not found: building the lookupd package needs Rust's cargo "
                         "(https://rustup.rs), or install a prebuilt wheel" % cargo)
    cmd = [cargo, "build", "--release", "--lib", "--manifest-path", manifest,
           "--message-format=json-render-diagnostics"]
    print("lookupd: running %s" % " ".join(cmd), file=sys.stderr, flush=True)
    # Cargo's progress and compiler messages go to stderr, as they are; the
    # JSON on stdout names the files it produced, wherever the target
    # directory is (CARGO_TARGET_DIR, .cargo/config.toml...).
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, check=False)
    if proc.returncode != 0:
        raise BuildError("`%s` failed (exit status %d); its messages are above"
                         % (" ".join(cmd), proc.returncode))
    found = []
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        target = msg.get("target") or {}
        if (msg.get("reason") == "compiler-artifact" and target.get("name") == "lookupd"
                and "cdylib" in target.get("kind", ())):
            found += [f for f in msg.get("filenames", ()) if f.endswith(SHARED_SUFFIXES)]
    if len(found) != 1:
        raise BuildError("cargo reported no single shared library for lookupd (got %r)" % found)
    return found[0]


class build_py(_build_py):
    """Copies the Python sources, then builds the Rust library into the package."""

    def initialize_options(self):
        super().initialize_options()
        self._library_outputs = []

    def run(self):
        super().run()
        try:
            library = build_library()
        except BuildError as e:
            sys.exit("error: building lookupd's Rust library: %s" % e)
        if self.editable_mode:
            # An editable install runs the sources in place; the package
            # finds the library in the repository's target/release then.
            return
        dest = os.path.join(self.build_lib, PACKAGE, os.path.basename(library))
        self.mkpath(os.path.dirname(dest))
        shutil.copyfile(library, dest)
        os.chmod(dest, 0o755)
        self._library_outputs = [dest]

    def get_outputs(self, include_bytecode=1):
        return super().get_outputs(include_bytecode) + self._library_outputs


class BinaryDistribution(Distribution):
    """A distribution with compiled code: installed to platlib, wheel not pure."""

    def has_ext_modules(self):
        return True


class bdist_wheel(_bdist_wheel):
    """Tags the wheel ``py3-none-<platform>``: the library is loaded with
    ctypes, so it fits every Python 3 and ABI, but only this platform."""

    def get_tag(self):
        _, _, platform = super().get_tag()
        return "py3", "none", platform


setup(
    distclass=BinaryDistribution,
    cmdclass={"build_py": build_py, "bdist_wheel": bdist_wheel},
)
