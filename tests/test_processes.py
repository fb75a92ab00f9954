"""autograder.notebook.processes.kill_tree: a dead process's whole tree killed, and never a stranger.

Real processes: a root that forks children and grandchildren (one in a session of its own, two
orphaned when their parent exits) and then exits itself. The pid-reuse case is shown by
construction: the kernel will not hand out a chosen pid on demand, so the test stands in for it
at the one place a number becomes a process (the helper's pidfd and stat of that number), giving
a descendant's number to a live stranger; the stranger must be neither stopped nor killed.
"""
import os
import select
import signal
import subprocess
import sys
import time

import pytest

from autograder.notebook import processes

TREE = r'''
import os, sys, time
out = sys.argv[1]

def record():
    with open(out, "a") as fh:
        fh.write("%d\n" % os.getpid())

def spawn(body):
    pid = os.fork()
    if pid == 0:
        try:
            body()
        finally:
            os._exit(0)
    return pid

def sleeper():
    record()
    time.sleep(600)

def own_session():          # a grandchild in a session of its own (as a kernel is)
    os.setsid()
    sleeper()

def stays():                # a child that lives on, with that grandchild
    spawn(own_session)
    sleeper()

def leaves():               # a child that forks two grandchildren and exits: they are orphans
    spawn(sleeper)
    spawn(sleeper)

spawn(stays)
spawn(leaves)
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    with open(out) as fh:
        if len(fh.read().split()) == 4:
            break
    time.sleep(0.01)
'''  # ... and the root exits


def running(pidfd: int) -> bool:
    return not select.select([pidfd], [], [], 0)[0]


def ended_within(pidfd: int, seconds: float) -> bool:
    return bool(select.select([pidfd], [], [], seconds)[0])


def state(pid: int) -> str:
    found = processes._stat(pid)
    return "gone" if found is None else found[0]


@pytest.fixture
def tree(tmp_path):
    """The root (exited, not reaped) and pidfds on its four sleeping descendants."""
    out = tmp_path / "pids"
    out.write_text("")
    root = subprocess.Popen([sys.executable, "-c", TREE, str(out)], start_new_session=True)
    root_fd = os.pidfd_open(root.pid)
    assert ended_within(root_fd, 60), "the tree did not start"
    os.close(root_fd)
    pids = [int(p) for p in out.read_text().split()]
    assert len(pids) == 4
    fds = {pid: os.pidfd_open(pid) for pid in pids}  # they sleep until killed: these are theirs
    assert all(running(fd) for fd in fds.values())
    yield root, fds
    for fd in fds.values():  # whatever a failing test left behind
        try:
            signal.pidfd_send_signal(fd, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.close(fd)
    if root.returncode is None:
        root.kill()
        root.wait()


def test_a_dead_root_s_whole_tree_is_killed_and_the_root_reaped(tree, monkeypatch):
    root, fds = tree
    assert processes.exit_status(root) == 0      # ended, and still not reaped:
    assert state(root.pid) == "Z"
    signals = []
    real_send = signal.pidfd_send_signal
    monkeypatch.setattr(signal, "pidfd_send_signal", lambda fd, sig: (signals.append(sig), real_send(fd, sig)))

    def by_number(*args):
        raise AssertionError(f"signalled by number: {args}")
    monkeypatch.setattr(os, "kill", by_number)
    monkeypatch.setattr(os, "killpg", by_number)

    assert processes.kill_tree(root) == 0
    assert root.returncode == 0  # reaped
    for pid, fd in fds.items():
        assert ended_within(fd, 10), f"descendant {pid} survived (state {state(pid)})"
    assert signals.count(signal.SIGKILL) >= len(fds)


def test_a_number_reused_by_a_stranger_is_never_signalled(tree, monkeypatch):
    root, fds = tree
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
    stranger_fd = os.pidfd_open(stranger.pid)
    try:
        parents = {processes._stat(pid)[1] for pid in fds}
        victim = next(pid for pid in sorted(fds) if pid not in parents and processes._stat(pid)[1] not in fds)
        # an orphan, no one's parent: its number now names the stranger, as after reuse
        real_open, real_stat = processes._open, processes._stat
        monkeypatch.setattr(processes, "_open", lambda pid: real_open(stranger.pid if pid == victim else pid))
        monkeypatch.setattr(processes, "_stat", lambda pid: real_stat(stranger.pid if pid == victim else pid))

        processes.kill_tree(root)

        assert running(stranger_fd) and state(stranger.pid) not in "TtZX", \
            f"the stranger was signalled (state {state(stranger.pid)})"
        for pid, fd in fds.items():
            if pid != victim:
                assert ended_within(fd, 10), f"descendant {pid} survived"
    finally:
        stranger.kill()
        stranger.wait()
        os.close(stranger_fd)


def test_a_reaped_child_is_not_signalled(monkeypatch):
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    sent = []
    monkeypatch.setattr(signal, "pidfd_send_signal", lambda *args: sent.append(args))
    monkeypatch.setattr(processes, "_open", lambda pid: sent.append(pid))
    assert processes.kill_tree(child) == 0
    assert sent == []


def test_a_pidfd_outlives_its_number():
    """The kernel's side of the construction: a pidfd of a reaped process signals nothing, so
    whatever now has its number is safe."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    pidfd = os.pidfd_open(child.pid)
    try:
        child.wait()
        with pytest.raises(ProcessLookupError):
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
    finally:
        os.close(pidfd)


def test_a_running_child_is_killed_and_its_status_read_without_reaping():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
    assert processes.exit_status(child) is None
    started = time.monotonic()
    assert processes.kill_tree(child) == -signal.SIGKILL
    assert time.monotonic() - started < 10
    done = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    pidfd = os.pidfd_open(done.pid)
    try:
        assert ended_within(pidfd, 30)
        assert processes.exit_status(done) == 3 and state(done.pid) == "Z"  # read, not reaped
        assert processes.kill_tree(done) == 3
    finally:
        os.close(pidfd)


def _sleeper() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def test_a_cgroup_s_listed_members_are_killed(tmp_path):
    """``kill_members`` reads a cgroup.procs file (here a plain file, as the kernel lists one) and
    kills each process listed."""
    member = _sleeper()
    procs = tmp_path / "cgroup.procs"
    procs.write_text(f"{member.pid}\n", encoding="ascii")
    try:
        assert processes.kill_members(procs) == [member.pid]
        assert member.wait(timeout=10) == -signal.SIGKILL
    finally:
        member.kill()
        member.wait()


def test_a_number_no_longer_listed_when_its_pidfd_is_open_is_not_signalled(tmp_path, monkeypatch):
    """The race: a member exits and its number goes to a stranger between the listing and the
    signal. The file is read again after the pidfds are opened; a number it no longer lists (the
    stranger is not in the cgroup) is never signalled, a number it still lists is."""
    stranger, member = _sleeper(), _sleeper()
    listings = iter([[stranger.pid, member.pid], [member.pid]])  # the stranger's number reused, then gone
    monkeypatch.setattr(processes, "_members", lambda procs: next(listings))
    try:
        processes.kill_members(tmp_path / "cgroup.procs")
        assert member.wait(timeout=10) == -signal.SIGKILL
        time.sleep(0.2)
        assert stranger.poll() is None, "a process no longer listed was killed"
    finally:
        for proc in (stranger, member):
            proc.kill()
            proc.wait()
