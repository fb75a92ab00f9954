"""The local worker pool's workers: forked from the coordinator, each in a session, folder and
standard streams of its own, holding no descriptor the coordinator was handed (a grading service's
lock), stopped and killed by their own pid."""
import os
import select
import signal
import subprocess

import pytest

from autograder.classrun import pool


def _ready(worker: pool.Worker) -> list:
    messages = []
    while not messages:
        assert select.select([worker.fd], [], [], 60)[0], "the worker did not say it was ready"
        messages = worker.read()
        assert messages is not None, worker.raw_stderr()
    return messages


def test_a_forked_worker_has_its_own_session_and_folder_and_no_handed_descriptor(tmp_path):
    lock = os.open(tmp_path / "lock", os.O_RDWR | os.O_CREAT)
    os.set_inheritable(lock, True)  # as a grading service hands its lock to the grade command
    worker = pool.Worker(1, tmp_path, {"assignment": "a"})
    try:
        assert _ready(worker)[0]["ready"] is True
        pid = worker.proc.pid
        assert os.getsid(pid) == pid
        assert os.readlink(f"/proc/{pid}/cwd") == str(worker.scratch)
        held = {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
        assert str(tmp_path / "lock") not in held
        assert os.readlink(f"/proc/{pid}/fd/2") == str(worker.stderr_path)
    finally:
        worker.stop(kill=False)
        os.close(lock)
    assert worker.proc.returncode == 0
    assert not worker.scratch.exists()


def test_a_killed_worker_is_told_and_waited_for_by_its_pid(tmp_path):
    worker = pool.Worker(1, tmp_path, {})
    try:
        _ready(worker)
        with pytest.raises(subprocess.TimeoutExpired):
            worker.proc.wait(timeout=0.2)  # still running
        assert worker.exit_text() == "stopped responding"
        os.kill(worker.proc.pid, signal.SIGKILL)
        assert select.select([worker.fd], [], [], 30)[0]
        assert worker.read() is None  # its end of the pipe closed
        assert worker.proc.wait(timeout=30) == -signal.SIGKILL
        assert worker.exit_text() == "was killed by signal SIGKILL"
    finally:
        worker.stop(kill=True)
    assert not worker.scratch.exists()


@pytest.mark.root
def test_pool_folders_go_to_a_memory_file_system_with_room_and_the_sweep_removes_only_its_own(tmp_path, monkeypatch):
    """``/dev/shm`` (here a tmpfs of our own) is used when it is a tmpfs with the room it must
    have, else TMPDIR; the sweep of a gone coordinator's folders there removes this uid's folders
    only, never another account's folder or a link (everybody may write in /dev/shm)."""
    import tempfile
    from pathlib import Path
    shm = tmp_path / "shm"
    shm.mkdir()
    monkeypatch.setattr(pool, "MEMORY_SCRATCH", str(shm))
    tmpdir = Path(tempfile.gettempdir())
    assert pool.scratch_places() == [tmpdir]  # a folder on the disk
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(shm)], check=True)
    try:
        monkeypatch.setattr(pool, "MEMORY_SCRATCH_FREE", 32 << 20)
        assert pool.scratch_places() == [shm, tmpdir]
        monkeypatch.setattr(pool, "MEMORY_SCRATCH_FREE", 128 << 20)
        assert pool.scratch_places() == [tmpdir]  # too little room

        gone = subprocess.Popen(["true"])
        gone.wait()  # a pid no process has now
        mine, theirs, link = (shm / f"ag-{gone.pid}-{name}" for name in ("mine", "theirs", "link"))
        for folder in (mine, theirs):
            (folder / "inner").mkdir(parents=True)
        os.chown(theirs, 65534, 65534)
        link.symlink_to(theirs)
        live = shm / f"ag-{os.getpid()}-live"
        live.mkdir()
        pool.sweep()
        assert not mine.exists()
        assert (theirs / "inner").is_dir() and link.is_symlink() and live.is_dir()
    finally:
        subprocess.run(["umount", "-l", str(shm)], check=True)
