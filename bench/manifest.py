#!/usr/bin/env python3
"""Writes a run's manifest.json (see bench/README.md, "Result folders").

  manifest.py start FILE --script S --stamp S [--label L] --started ISO
      [--log-dir D] [--impl NAME=PATH]... [--skip NAME=REASON]...
      [--tool NAME=PATH]... [--tool-version NAME=PATH]...
      [--knob NAME=VALUE]... [--repo DIR]
  manifest.py finish FILE --ended ISO [--exit-status N] [--failures N]

`start` records what is known before the measurements: the git commit
and whether the tree is dirty, each implementation's binary (path, the
first line of `BIN -version`, sha256), tools (path, sha256; with
--tool-version also `-version`'s first line), the machine and every knob. `finish` adds the end time, the exit status, the failure
count and the files of the run folder. Only the standard library; the
file is replaced atomically.
"""
import argparse
import hashlib
import json
import os
import platform
import re
import subprocess
import sys

FORMAT = 1


def run(cmd, cwd=None):
    """Its stdout and stderr, or None if it could not run or failed."""
    try:
        p = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return p.stdout.decode("utf-8", "replace") if p.returncode == 0 else None


def sha256(path):
    try:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        return h.hexdigest()
    except OSError:
        return None


def version(path):
    """The first non-empty line `PATH -version` prints (stdout or stderr)."""
    try:
        p = subprocess.run([path, "-version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    for line in p.stdout.decode("utf-8", "replace").splitlines():
        if line.strip():
            return line.strip()
    return None


def git(repo):
    head = run(["git", "-C", repo, "rev-parse", "HEAD"])
    status = run(["git", "-C", repo, "status", "--porcelain"])
    lines = status.splitlines() if status is not None else None
    return {
        "head": head.strip() if head else None,
        "dirty": bool(lines) if lines is not None else None,
        # What made it dirty: `git status --porcelain`, its first 20 lines.
        "changes": len(lines) if lines is not None else None,
        "status": lines[:20] if lines is not None else None,
    }


def read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def machine():
    cpu = re.search(r"^model name\s*:\s*(.+)$", read("/proc/cpuinfo"), re.M)
    mem = re.search(r"^MemTotal:\s*(\d+)\s*kB", read("/proc/meminfo"), re.M)
    os_name = re.search(r'^PRETTY_NAME="?([^"\n]*)"?', read("/etc/os-release"), re.M)
    nproc = run(["nproc"])
    return {
        "nproc": int(nproc) if nproc and nproc.strip().isdigit() else os.cpu_count(),
        "kernel": platform.release() or None,
        "cpu_model": cpu.group(1).strip() if cpu else None,
        "mem_total_kib": int(mem.group(1)) if mem else None,
        "os": os_name.group(1) if os_name else None,
    }


def typed(value):
    """A knob's value: a number when it reads as one, else the string."""
    if re.fullmatch(r"-?\d+", value):
        return int(value)
    if re.fullmatch(r"-?\d+\.\d*|-?\.\d+", value):
        return float(value)
    return value


def pairs(items, what):
    out = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            sys.exit(f"manifest.py: {what} {item!r} is not NAME=VALUE")
        out[name] = value
    return out


def write(path, manifest):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2, ensure_ascii=False)
        f.write("\n")
    os.replace(tmp, path)


def start(a):
    repo = a.repo or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    impls = {}
    for name, path in pairs(a.impl, "--impl").items():
        impls[name] = {"path": os.path.abspath(path), "version": version(path), "sha256": sha256(path)}
    tools = {}
    for name, path in pairs(a.tool, "--tool").items():
        tools[name] = {"path": os.path.abspath(path) if path else None, "sha256": sha256(path) if path else None}
    for name, path in pairs(a.tool_version, "--tool-version").items():
        tools[name] = {"path": os.path.abspath(path), "version": version(path), "sha256": sha256(path)}
    manifest = {
        "format": FORMAT,
        "script": a.script,
        "stamp": a.stamp,
        "label": a.label or None,
        "migrated": False,
        "started_utc": a.started,
        "ended_utc": None,
        "exit_status": None,
        "failures": None,
        "git": git(repo),
        "impls": impls,
        "skipped": pairs(a.skip, "--skip"),
        "tools": tools,
        "machine": machine(),
        "knobs": {k: typed(v) for k, v in pairs(a.knob, "--knob").items()},
        "log_dir": a.log_dir,
        "files": None,
    }
    write(a.file, manifest)


def finish(a):
    with open(a.file, encoding="utf-8") as f:
        manifest = json.load(f)
    manifest["ended_utc"] = a.ended
    manifest["exit_status"] = a.exit_status
    manifest["failures"] = a.failures
    folder = os.path.dirname(os.path.abspath(a.file))
    manifest["files"] = sorted(
        n for n in os.listdir(folder)
        if n != os.path.basename(a.file) and not n.endswith(".tmp") and os.path.isfile(os.path.join(folder, n)))
    write(a.file, manifest)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("start")
    s.add_argument("file")
    s.add_argument("--script", required=True)
    s.add_argument("--stamp", required=True)
    s.add_argument("--label", default="")
    s.add_argument("--started", required=True)
    s.add_argument("--log-dir")
    s.add_argument("--repo")
    for opt in ("--impl", "--skip", "--tool", "--tool-version", "--knob"):
        s.add_argument(opt, action="append")
    f = sub.add_parser("finish")
    f.add_argument("file")
    f.add_argument("--ended", required=True)
    f.add_argument("--exit-status", type=int)
    f.add_argument("--failures", type=int)
    a = p.parse_args()
    start(a) if a.command == "start" else finish(a)


if __name__ == "__main__":
    main()
