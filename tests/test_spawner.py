"""What a student's server leaves in memory that outlives its cgroup (files and folders in /dev/shm,
System V shared memory, semaphores, message queues) is removed when the server stops, and only
that student's: a hub's machine would otherwise fill up a cgroup's worth per server start."""
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.hub.spawner import release_shared_memory

pytestmark = pytest.mark.root

LEAVE = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
os.setgid(int(sys.argv[1])); os.setuid(int(sys.argv[1]))
IPC_PRIVATE, IPC_CREAT = 0, 0o1000
ids = [libc.shmget(IPC_PRIVATE, 1 << 20, IPC_CREAT | 0o600), libc.semget(IPC_PRIVATE, 1, IPC_CREAT | 0o600),
       libc.msgget(IPC_PRIVATE, IPC_CREAT | 0o600)]
assert min(ids) >= 0, ctypes.get_errno()
print(" ".join(map(str, ids)))
"""


def _ids(table: str, uid: int) -> set:
    header, *rows = Path("/proc/sysvipc", table).read_text().splitlines()
    names = header.split()
    return {int(found[names[1]]) for found in (dict(zip(names, row.split())) for row in rows)
            if int(found["uid"]) == uid}


def test_a_stopped_servers_shared_memory_is_released_and_nobody_elses(tmp_path):
    uid, other = (4_100_000 + secrets.randbelow(100_000) for _ in range(2))
    shared = tmp_path / "shm"
    shared.mkdir(mode=0o1777)
    ids = []
    try:
        mine = [shared / "big", shared / "folder", shared / "link"]
        mine[0].write_bytes(b"x" * 4096)
        (mine[1] / "deep").mkdir(parents=True)
        (mine[1] / "deep" / "f").write_text("x")
        deepest = os.open(mine[1], os.O_RDONLY)  # thousands of folders deep: no recursion removes it
        for _ in range(3000):
            os.mkdir("d", dir_fd=deepest)
            below = os.open("d", os.O_RDONLY, dir_fd=deepest)
            os.close(deepest)
            deepest = below
        os.close(deepest)
        kept = tmp_path / "kept"
        kept.write_text("not theirs")
        mine[2].symlink_to(kept)
        theirs = shared / "theirs"
        theirs.write_text("another student's")
        for path in mine + [mine[1] / "deep", mine[1] / "deep" / "f"]:
            os.lchown(path, uid, uid)
        os.chown(theirs, other, other)
        ids += [subprocess.run([sys.executable, "-c", LEAVE, str(n)], capture_output=True, text=True, check=True)
                .stdout.split() for n in (uid, other)]
        assert _ids("shm", uid) and _ids("sem", uid) and _ids("msg", uid)
        removed = release_shared_memory(uid, shared)
        assert sorted(os.listdir(shared)) == ["theirs"]
        assert kept.read_text() == "not theirs"  # the link went, not what it pointed at
        assert not (_ids("shm", uid) or _ids("sem", uid) or _ids("msg", uid))
        assert len(removed) == 3 + 3
        for table, ident in zip(("shm", "sem", "msg"), ids[1]):  # the other account's stay
            assert int(ident) in _ids(table, other), table
    finally:
        subprocess.run(["rm", "-rf", "--", str(shared)], check=True)  # whatever is left, however deep
        for found in ids:
            for option, ident in zip(("-m", "-s", "-q"), found):
                subprocess.run(["ipcrm", option, ident], capture_output=True)
