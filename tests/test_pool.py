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
