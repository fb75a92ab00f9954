"""CPU seconds of one command's whole process tree, counted by a cgroup made for that command.

The command starts inside the cgroup (a ``sh`` wrapper writes its own pid to ``cgroup.procs``,
then ``exec``\\ s it), so every process it starts, sandboxed, double-forked or reparented to init,
is counted: cgroup v1's ``cpuacct.usage`` (nanoseconds), or v2's ``usage_usec`` of ``cpu.stat``.
A process still in the cgroup when the command exits is waited for (``linger`` seconds) before
the count is read, and named in the result if it outlives that. Where no cgroup can be made
(no cpuacct hierarchy, not root), it falls back to the whole machine's busy CPU during the
command and says so loudly (``Measured.method``).
"""
import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

V1 = Path("/sys/fs/cgroup/cpuacct")
V2 = Path("/sys/fs/cgroup")
V2_HYBRID = Path("/sys/fs/cgroup/unified")
PREFIX = "bench-peers-"
# $0 is the cgroup.procs file, the command follows: the shell joins the cgroup, then becomes the command
WRAPPER = 'echo $$ > "$0" && exec "$@"'
FALLBACK = ("NO CGROUP: CPU is the whole machine's busy time during the command (anything else "
            "running counts too)")


@dataclass
class Measured:
    seconds: float
    cpu_seconds: float
    returncode: int
    method: str
    stderr: str = ""
    lingering: list = field(default_factory=list)


def _own(hierarchy: str) -> str:
    """This process's cgroup path in ``hierarchy`` ("cpuacct" for v1, "" for v2)."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if hierarchy in controllers.split(",") or (not hierarchy and not controllers):
            return path
    return "/"


def place() -> tuple:
    """``(version, parent folder, reason)``: where command cgroups can be made, version 0 if nowhere."""
    if (V1 / "cpuacct.usage").exists():
        candidates = [(1, V1 / _own("cpuacct").lstrip("/")), (1, V1)]
    else:
        root = V2 if (V2 / "cgroup.controllers").exists() else V2_HYBRID
        candidates = [(2, root / _own("").lstrip("/")), (2, root)]
    reasons = []
    for version, parent in candidates:
        probe = parent / (PREFIX + "probe-" + secrets.token_hex(3))
        try:
            probe.mkdir()
            probe.rmdir()
            return version, parent, ""
        except OSError as exc:
            reasons.append(f"{parent}: {exc}")
    return 0, None, "; ".join(reasons) or "no cgroup hierarchy found"


def _usage(version: int, folder: Path) -> float:
    if version == 1:
        return int((folder / "cpuacct.usage").read_text()) / 1e9
    for line in (folder / "cpu.stat").read_text().splitlines():
        name, _, value = line.partition(" ")
        if name == "usage_usec":
            return int(value) / 1e6
    raise RuntimeError(f"{folder}/cpu.stat has no usage_usec")


def _members(folder: Path) -> list:
    return [int(pid) for pid in (folder / "cgroup.procs").read_text().split()]


def busy_cpu_seconds() -> float:
    """CPU seconds all cores have spent busy since boot (``/proc/stat``), for the fallback."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq = (int(x) for x in fields[:7])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def describe(version: int, parent: Optional[Path]) -> str:
    if version == 1:
        return f"cgroup v1 cpuacct.usage, one cgroup per command under {parent}"
    if version == 2:
        return (f"cgroup v2 cpu.stat usage_usec, one cgroup per command under {parent} (a process "
                "moved out of it, e.g. into a v2 submission budget the grader makes at the root, "
                "is not counted)")
    return FALLBACK


def run(cmd: list, cwd, env: dict, linger: float = 10.0, where: Optional[tuple] = None) -> Measured:
    """Run ``cmd`` in ``cwd`` inside a fresh cgroup; its wall and whole-tree CPU seconds."""
    version, parent, reason = where or place()
    if version == 0:
        print(f"WARNING: {FALLBACK} ({reason})", file=sys.stderr, flush=True)
        busy, started = busy_cpu_seconds(), time.perf_counter()
        proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        took = time.perf_counter() - started
        return Measured(took, busy_cpu_seconds() - busy, proc.returncode, FALLBACK, proc.stderr)
    folder = parent / (PREFIX + secrets.token_hex(6))
    folder.mkdir()
    try:
        started = time.perf_counter()
        proc = subprocess.run(["/bin/sh", "-c", WRAPPER, str(folder / "cgroup.procs"), *map(str, cmd)],
                              cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        took = time.perf_counter() - started
        deadline = time.monotonic() + linger
        while _members(folder) and time.monotonic() < deadline:
            time.sleep(0.05)
        lingering = _members(folder)
        cpu = _usage(version, folder)
    finally:
        _remove(folder)
    return Measured(took, cpu, proc.returncode, describe(version, parent), proc.stderr, lingering)


def _remove(folder: Path) -> None:
    """Remove the command's cgroup; one with a process left in it is left, moved processes first
    to the parent (never killed: they may not be ours to kill)."""
    members = _members(folder) if folder.exists() else []
    for pid in members:
        try:
            (folder.parent / "cgroup.procs").write_text(str(pid))
        except OSError:
            pass
    try:
        folder.rmdir()
    except OSError as exc:
        print(f"WARNING: could not remove {folder}: {exc}", file=sys.stderr)
