"""The build step of the lookupd Python package.

Everything about the package is declared in pyproject.toml; this file only
adds the compiled part. Building (``pip install <repo>/bindings/python``,
``pip wheel ...``) builds the C library the one way the repository builds
it, ``make -C <repo>/bindings/c lib PROFILE=release`` (a ``cargo rustc``
of the crate's ``capi`` feature with the C crate types and the soname; the
Makefile is where that command is written), and copies its shared library,
liblookupd.so, into the package, which loads it with ctypes. The wheel is therefore tagged for the platform
(``py3-none-linux_x86_64``, say): any Python 3 can load the library, since
it does not link to libpython, but only on the platform it was built for.

Where the crate is: at ``../../Cargo.toml`` from this file, which is where
it is when pip builds this directory in place (pip >= 21.3 always does for
a local directory). An sdist of bindings/python alone cannot contain the
crate, so building a wheel from one stops with an error saying so, unless
the environment variable LOOKUPD_CRATE_DIR names a checkout of the
repository. Cargo's own settings apply, through the Makefile:
CARGO_TARGET_DIR (default: the repository's target/, so a build the
repository already made is reused) and CARGO (the cargo command to run,
e.g. "nice -n 19 cargo"); MAKE names the make program (default: make).
"""

import os
import re
import shlex
import shutil
import subprocess
import sys

from setuptools import Distribution, setup
from setuptools.command.bdist_wheel import bdist_wheel as _bdist_wheel
from setuptools.command.build_py import build_py as _build_py

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE = "lookupd"
# The shared library's name on this platform (as _LIB_NAME in
# lookupd/__init__.py, which loads it).
LIB_NAME = "liblookupd.dylib" if sys.platform == "darwin" else "liblookupd.so"


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


def _run(cmd, **kwargs):
    print("lookupd: running %s" % " ".join(shlex.quote(c) for c in cmd), file=sys.stderr, flush=True)
    proc = subprocess.run(cmd, check=False, **kwargs)
    if proc.returncode != 0:
        raise BuildError("`%s` failed (exit status %d); its messages are above"
                         % (" ".join(cmd), proc.returncode))
    return proc


def build_library():
    """Runs ``make -C <crate>/bindings/c lib PROFILE=release`` and returns
    the shared library's path (in the directory the Makefile's
    ``print-lib-dir`` names, wherever cargo's target directory is)."""
    manifest = find_crate()
    bindings_c = os.path.join(os.path.dirname(manifest), "bindings", "c")
    if not os.path.isfile(os.path.join(bindings_c, "Makefile")):
        raise BuildError("%s/Makefile, which builds the C library, is missing" % bindings_c)
    make = os.environ.get("MAKE", "make")
    if shutil.which(make) is None:
        raise BuildError("%r not found: building the lookupd package runs make "
                         "(and cargo), or install a prebuilt wheel" % make)
    cargo = os.environ.get("CARGO", "cargo")
    program = (shlex.split(cargo) or ["cargo"])[0]
    if shutil.which(program) is None:
        raise BuildError("%r not found: building the lookupd package needs Rust's cargo "
                         "(https://rustup.rs), or install a prebuilt wheel" % program)
    args = ["-C", bindings_c, "PROFILE=release", "CARGO=" + cargo]
    _run([make, "--no-print-directory", "lib"] + args)
    libdir = _run([make, "-s", "--no-print-directory", "print-lib-dir"] + args,
                  stdout=subprocess.PIPE).stdout.decode().strip()
    library = os.path.join(libdir, LIB_NAME)
    if not os.path.isfile(library):
        raise BuildError("`make lib` wrote no %s in %s" % (LIB_NAME, libdir or "(no directory)"))
    return library


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
            # finds the library in the repository's target/release then
            # (or through LOOKUPD_LIB, with CARGO_TARGET_DIR elsewhere).
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
