"""Killing a child process and everything it started, then reaping it, without a pid-reuse race.

A pid is only a number: once its process is reaped, the kernel may give it to any new process,
so ``os.kill(pid)`` or ``os.killpg(pid)`` on a remembered number can hit a stranger. Here every
signal goes through a pidfd (:func:`os.pidfd_open`, :func:`signal.pidfd_send_signal`), which
names one process for good, and a pidfd is used only for a process proved to be in the tree
*after* the pidfd was opened:

- the root is the caller's own child, not yet reaped (:func:`kill_tree` refuses a reaped one):
  even dead, an unreaped child keeps its pid, so the pidfd opened on that number is the child's;
- while the root is unreaped its pid cannot be reused, so no other session or process group can
  have that number as its id: a process whose session or process group id is the root's pid is
  the root's descendant, even when its parent has died (orphans keep their session);
- a process whose parent is a member still alive (the member's pidfd not readable) is a member:
  this finds descendants that started sessions of their own (kernels do).

For each candidate the pidfd is opened first, then ``/proc/PID/stat`` is read, then the pidfd
is asked whether the process is still alive: if it is, the stat described the very process the
pidfd holds (a live process owns its pid), whatever happened to the number before. Each member
is stopped (SIGSTOP) as it is found, so it forks no more; when a scan of ``/proc`` finds no new
member, every member is killed (SIGKILL) and the root is reaped. Linux only (pidfds: 5.3+).
"""
import os
import select
import signal
import subprocess
from pathlib import Path
import time
from typing import Optional

STOP_WAIT = 0.2      # seconds to wait for a member to show it has stopped before its children are listed
MAX_ROUNDS = 1000    # scans of /proc; a fork bomb is bounded by its process limit, each round stops what it sees


def _stat(pid: int) -> Optional[tuple]:
    """``(state, ppid, pgid, sid)`` of the process ``pid`` now, or None when there is none."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    fields = data[data.rindex(b")") + 2:].split()  # the name (in parentheses) may hold anything
    return fields[0].decode("ascii", "replace"), int(fields[1]), int(fields[2]), int(fields[3])


def _open(pid: int) -> int:
    """A pidfd on the process that has the number ``pid`` now."""
    return os.pidfd_open(pid)


def _running(pidfd: int) -> bool:
    """Whether the process of ``pidfd`` has not exited (a pidfd turns readable when it does)."""
    return not select.select([pidfd], [], [], 0)[0]


def _signal(pidfd: int, signum: int) -> None:
    try:
        signal.pidfd_send_signal(pidfd, signum)
    except (ProcessLookupError, PermissionError):  # gone (or not ours to signal): nothing to do
        pass


class _Tree:
    """The members found so far: ``{pid: pidfd}``, each pidfd proved to be a descendant's."""

    def __init__(self, root: int):
        self.root = root
        self.members = {root: _open(root)}
        self.never = _ancestors()  # a safety net: whatever goes wrong, never the caller's own line


    def close(self) -> None:
        for pidfd in self.members.values():
            os.close(pidfd)
        self.members = {}

    def belongs(self, found: tuple) -> bool:
        """Whether the process whose stat is ``found`` is the root's descendant (see the module
        docstring); a parent named only counts while that member is alive."""
        _, ppid, pgid, sid = found
        if self.root in (ppid, pgid, sid):  # the root's number is the root's while it is unreaped
            return True
        parent = self.members.get(ppid)
        return parent is not None and _running(parent)

    def adopt(self, pid: int) -> bool:
        """Open a pidfd on ``pid`` and keep it if it is proved a member; stop it then."""
        try:
            pidfd = _open(pid)
        except OSError:  # gone already
            return False
        found = _stat(pid)
        if found is None or not _running(pidfd) or not self.belongs(found):
            os.close(pidfd)  # the number now names a stranger, or the process ended: not signalled
            return False
        self.members[pid] = pidfd
        _signal(pidfd, signal.SIGSTOP)
        return True

    def scan(self) -> bool:
        """Adopt every process in ``/proc`` that belongs; True when one was new."""
        new = False
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            pid = int(name)
            if pid in self.members or pid in self.never:
                continue
            found = _stat(pid)
            if found is not None and self.belongs(found) and self.adopt(pid):
                new = True
        return new

    def wait_stopped(self) -> None:
        """Give each member up to :data:`STOP_WAIT` s to stop (or end), so its list of children is final."""
        deadline = time.monotonic() + STOP_WAIT
        for pid, pidfd in self.members.items():
            while _running(pidfd) and time.monotonic() < deadline:
                found = _stat(pid)
                if found is None or found[0] in "TtZX":
                    break
                time.sleep(0.001)


def _ancestors() -> set:
    """This process, its parent, its parent's parent, ... up to pid 1 (and pid 1)."""
    found, pid = {1}, os.getpid()
    while pid > 1 and pid not in found:
        found.add(pid)
        stat = _stat(pid)
        pid = stat[1] if stat else 1
    return found


def kill_tree(proc: subprocess.Popen) -> Optional[int]:
    """SIGKILL the caller's child ``proc`` and every descendant of it, then reap ``proc``; its
    return code. A ``proc`` already reaped is not signalled (its pid may name a stranger now)."""
    if proc.returncode is not None:
        return proc.returncode
    tree = _Tree(proc.pid)
    try:
        _signal(tree.members[proc.pid], signal.SIGSTOP)
        for _ in range(MAX_ROUNDS):
            tree.wait_stopped()
            if not tree.scan():
                break
        for pidfd in tree.members.values():
            _signal(pidfd, signal.SIGKILL)
    finally:
        tree.close()
    return proc.wait()


def exit_status(proc: subprocess.Popen) -> Optional[int]:
    """``proc``'s return code if it has ended (negative: killed by that signal), None while it
    runs, without reaping it (so :func:`kill_tree` can still find what it started)."""
    if proc.returncode is not None:
        return proc.returncode
    try:
        info = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return proc.poll()
    if info is None:
        return None
    return -info.si_status if info.si_code in (os.CLD_KILLED, os.CLD_DUMPED) else info.si_status


def kill_members(procs: Path) -> list:
    """SIGKILL every process a cgroup's ``cgroup.procs`` file (``procs``) lists, without a pid-reuse
    race: a pidfd is opened on each listed number first, then the file is read again, and only a
    process still listed (so the one the pidfd holds, a member) is signalled. Returns the pids
    listed at first."""
    listed = _members(procs)
    pidfds = {}
    for pid in listed:
        try:
            pidfds[pid] = _open(pid)
        except ProcessLookupError:
            pass
    try:
        still = set(_members(procs))
        for pid, pidfd in pidfds.items():
            if pid in still:
                _signal(pidfd, signal.SIGKILL)
    finally:
        for pidfd in pidfds.values():
            os.close(pidfd)
    return listed


def _members(procs: Path) -> list:
    try:
        return [int(pid) for pid in Path(procs).read_text(encoding="ascii").split()]
    except OSError:  # the cgroup is gone
        return []
