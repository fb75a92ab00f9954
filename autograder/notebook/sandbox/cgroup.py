"""One cgroup budget per submission: memory (including memfd and tmpfs pages) and processes of
all its sandboxes together (:func:`budget`, :func:`auto_budget`), and the sweep of budgets whose
grader process is gone; see :mod:`autograder.notebook.sandbox`."""
import atexit
import contextlib
import logging
import os
import secrets
from pathlib import Path
from typing import Optional

from .. import processes
from ..limits import GradingLimits
from .modes import _warn_once_text

log = logging.getLogger("autograder.notebook.sandbox")

CGROUP_PREFIX = "autograder-budget-"
_active = None            # the Budget in force in this process, if any


def _read(path) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _start_time(pid: int) -> str:
    """The start time of process ``pid`` (with the pid, names one process for good)."""
    fields = _read("/proc/%d/stat" % pid).rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else ""


def _cgroup_places() -> tuple:
    """``(version, {controller: folder to create budgets in}, reason)``: v2 if its memory and
    pids controllers can be delegated, else v1's memory and pids hierarchies."""
    mounts, own = {}, {}
    for line in _read("/proc/self/mountinfo").splitlines():
        left, _, right = line.partition(" - ")
        fields, rest = left.split(), right.split()
        if len(fields) < 5 or len(rest) < 3:
            continue
        if rest[0] == "cgroup2":
            mounts.setdefault("cgroup2", (fields[4], fields[3]))
        elif rest[0] == "cgroup":
            for option in rest[2].split(","):
                if option in ("memory", "pids"):
                    mounts.setdefault(option, (fields[4], fields[3]))
    for line in _read("/proc/self/cgroup").splitlines():
        number, controllers, path = line.split(":", 2)
        for name in controllers.split(","):
            own[name or "cgroup2"] = path

    def folder(key):
        mount, root = mounts[key]
        path = own.get(key, "/")
        path = path[len(root):] if root != "/" and path.startswith(root) else path
        return Path(mount + path.rstrip("/"))

    if "cgroup2" in mounts:
        for parent in (folder("cgroup2"), Path(mounts["cgroup2"][0])):
            if {"memory", "pids"} <= set(_read(parent / "cgroup.controllers").split()):
                try:
                    (parent / "cgroup.subtree_control").write_text("+memory +pids")
                    return 2, {"cgroup2": parent}, ""
                except OSError:
                    continue
    found = {key: folder(key) for key in ("memory", "pids") if key in mounts}
    found = {key: path for key, path in found.items() if os.access(path, os.W_OK)}
    if found:
        missing = {"memory", "pids"} - set(found)
        return 1, found, ("no writable %s cgroup" % " or ".join(missing)) if missing else ""
    return 0, {}, "no cgroup (v2 with memory+pids delegated, or v1 memory/pids) can be created here"


class Budget:
    """One cgroup (v2) or one memory + one pids cgroup (v1) for a submission's sandboxes."""

    def __init__(self, name: str, memory_mb: int, processes: int):
        self.name, self.memory_mb, self.processes = name, memory_mb, processes
        self.version, parents, self.missing = _cgroup_places()
        label = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "_.") else "_"
                        for ch in name)[:40]
        own = "%s%d-%s-%s-%s" % (CGROUP_PREFIX, os.getpid(), _start_time(os.getpid()), label,
                                 secrets.token_hex(4))
        self.folders = {}
        for key, parent in parents.items():
            sweep(parent)
            try:
                (parent / own).mkdir()
            except OSError as exc:
                self.missing = "cannot create a %s cgroup: %s" % (key, exc)
                continue
            self.folders[key] = parent / own
        limits = {"memory": [("memory.limit_in_bytes", memory_mb << 20),
                             ("memory.memsw.limit_in_bytes", memory_mb << 20)],
                  "pids": [("pids.max", processes)],
                  "cgroup2": [("memory.max", memory_mb << 20), ("memory.swap.max", 0),
                              ("pids.max", processes)]}
        for key, folder in self.folders.items():
            for file, value in limits[key]:
                if (folder / file).exists():
                    (folder / file).write_text(str(value))

    @property
    def enforced(self) -> list:
        """What this budget limits: "memory", "pids"."""
        return ["memory", "pids"] if "cgroup2" in self.folders else sorted(self.folders)

    def join_files(self) -> list:
        return [str(folder / "cgroup.procs") for folder in self.folders.values()]

    def _value(self, key: str, file: str, field: Optional[str] = None) -> int:
        folder = self.folders.get("cgroup2", self.folders.get(key))
        text = _read(folder / file) if folder else ""
        if field is None:
            return int(text or 0)
        for line in text.splitlines():
            name, _, value = line.partition(" ")
            if name == field:
                return int(value)
        return 0

    def oom_kills(self) -> int:
        """Processes the kernel killed for going over the memory budget."""
        if self.version == 2:
            return self._value("memory", "memory.events", "oom_kill")
        return self._value("memory", "memory.oom_control", "oom_kill")

    def memory_refused(self) -> int:
        """Times an allocation hit the memory budget."""
        if self.version == 2:
            return self._value("memory", "memory.events", "max")
        return self._value("memory", "memory.failcnt")

    def pids_refused(self) -> int:
        """Times a fork or thread was refused for going over the process budget."""
        return self._value("pids", "pids.events", "max")

    def peak_memory_mb(self) -> float:
        """Most memory the submission's sandboxes held together (v1; v2 on Linux >= 5.19)."""
        file = "memory.peak" if self.version == 2 else "memory.max_usage_in_bytes"
        return self._value("memory", file) / (1 << 20)

    def pids(self) -> set:
        return {int(pid) for path in self.join_files() for pid in _read(path).split()}

    def close(self):
        """Kill every process in the budget, remove its cgroups."""
        for folder in self.folders.values():
            _kill_and_remove(folder)
        self.folders = {}


def _kill_and_remove(folder: Path) -> None:
    import time
    if (folder / "cgroup.kill").exists():
        try:
            (folder / "cgroup.kill").write_text("1")
        except OSError:
            pass
    for _ in range(500):  # a fork bomb is bounded by pids.max; each round kills all it sees
        pids = processes.kill_members(folder / "cgroup.procs")
        try:
            folder.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.01)
    log.error("could not remove cgroup %s: processes %s still in it", folder, pids)


def sweep(parent: Path) -> list:
    """Remove the budgets whose owner process is gone (a worker killed mid-submission)."""
    removed = []
    try:
        entries = list(parent.iterdir())
    except OSError:
        return removed
    for folder in entries:
        parts = folder.name[len(CGROUP_PREFIX):].split("-", 2)
        if not folder.name.startswith(CGROUP_PREFIX) or len(parts) < 3 or not parts[0].isdigit():
            continue
        if _start_time(int(parts[0])) != parts[1]:
            log.warning("removing the stale budget %s (its grader process is gone)", folder)
            _kill_and_remove(folder)
            removed.append(folder)
    return removed


@contextlib.contextmanager
def budget(name: str, memory_mb: Optional[int] = None, processes: Optional[int] = None):
    """While active, every sandbox :func:`command` starts in this process (the kernel and
    every re-execution) joins one cgroup limiting memory (including memfd and tmpfs pages) and
    processes of them all together; on exit, everything in it is killed and the cgroup removed.
    Stale budgets of dead grader processes are removed first. Yields the :class:`Budget`.
    ``memory_mb``, ``processes``: None means :class:`autograder.notebook.limits.GradingLimits`'s default
    (the callers pass the course's ``submission_memory_mb`` and ``submission_processes``)."""
    global _active
    if _auto is not None:  # a notebook's automatic budget, left open: its sandboxes are gone
        auto_budget_close()
    if _active is not None:
        raise RuntimeError("a budget is already active in this process: %s" % _active.name)
    current = Budget(name, memory_mb or GradingLimits.default("submission_memory_mb"),
                     processes or GradingLimits.default("submission_processes"))
    if set(current.enforced) != {"memory", "pids"}:
        _warn_once_text(BUDGET_MISSING % (", ".join(current.enforced) or "nothing",
                                          current.missing or "unknown"))
    _active = current
    try:
        yield current
    finally:
        _active = None
        current.close()


def active() -> Optional[Budget]:
    """The budget in force in this process, if any."""
    return _active


_auto = None  # the automatic budget's context (stock ``nbgrader autograde``)


def auto_budget(name: str, memory_mb: Optional[int] = None, processes: Optional[int] = None):
    """A budget for one notebook when the caller opened none (stock ``nbgrader autograde``):
    it closes the previous automatic one, and stays active until the next notebook or the end
    of the process, so it covers the notebook's kernel and its re-executions. A budget the
    caller opened (``python -m autograder grade``, one per submission) is left alone."""
    global _auto
    if _auto is not None:
        _auto.__exit__(None, None, None)
        _auto = None
    if _active is not None:
        return _active
    if not atexit_registered:
        atexit.register(auto_budget_close)
        atexit_registered.append(True)
    context = budget(name, memory_mb, processes)
    opened = context.__enter__()
    _auto = context
    return opened


atexit_registered = []


def auto_budget_close() -> None:
    global _auto
    if _auto is not None:
        _auto.__exit__(None, None, None)
        _auto = None


BUDGET_MISSING = ("SUBMISSION BUDGET ONLY PARTLY ENFORCED (enforced: %s; %s): the memory "
                  "(including memfd and tmpfs pages) or the processes of all a submission's "
                  "sandboxes together are not capped; only the per-process limits apply.")
