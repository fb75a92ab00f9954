"""One local grading worker (forked by :mod:`autograder.classrun.pool`): runs grading tasks, one at a time.

:func:`main` says it is ready, then for each task message on ``cmd_fd`` calls
:func:`autograder.classrun.task.grade` with the assignment snapshot and writes the result on
``result_fd``. Messages are length-prefixed JSON (:func:`autograder.classrun.pool.encode`) on private,
non-inheritable pipes, so nothing a student's kernel prints can reach the coordinator. The worker
needs no course folder: each task builds its own temporary course under ``TMPDIR``.
"""
import ctypes
import os
import shutil
import signal
import time
import traceback
from pathlib import Path

from autograder.classrun import pool


PR_SET_PDEATHSIG = 1


PARENT_EXIT_WAIT = 5.0  # seconds a worker told to stop waits to see the coordinator gone

_told_to_stop = False


def _stop(signum, frame):
    global _told_to_stop
    if _told_to_stop:
        return  # a second signal must not cut short the unwinding (and clean-up) the first began
    _told_to_stop = True
    raise SystemExit(128 + signum)  # unwinds the task: its sandbox budget and temp course go


def follow_the_coordinator() -> None:
    """Get SIGTERM when the coordinator dies (even by SIGKILL), and stop then."""
    signal.signal(signal.SIGTERM, _stop)
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass
    if coordinator_gone():
        raise SystemExit(1)


def coordinator_gone(wait: float = 0.0) -> bool:
    """True once this worker is no longer the coordinator's child, waiting up to ``wait`` s.
    (The SIGTERM arrives when the coordinator's thread that started us exits: while the rest of
    its threads are still dying, the kernel keeps us its child.)"""
    deadline = time.monotonic() + wait
    while True:
        gone = str(os.getppid()) != os.environ.get("AUTOGRADER_COORDINATOR", str(os.getppid()))
        if gone or time.monotonic() >= deadline:
            return gone
        time.sleep(0.05)


def clean_up() -> None:
    """Remove this worker's scratch folder; the pool's too when the coordinator is gone."""
    scratch = Path(os.environ.get("TMPDIR", ""))
    if scratch.name.startswith("w") and scratch.parent.name.startswith("ag-"):
        gone = coordinator_gone(PARENT_EXIT_WAIT if _told_to_stop else 0.0)
        shutil.rmtree(scratch.parent if gone else scratch, ignore_errors=True)


def main(snapshot: dict, cmd_fd: int, result_fd: int) -> int:
    try:
        follow_the_coordinator()
        return serve(snapshot, cmd_fd, result_fd)
    finally:
        clean_up()


def serve(snapshot: dict, cmd_fd: int, result_fd: int) -> int:
    started = time.perf_counter()
    try:
        from autograder.classrun import task  # imported by the coordinator already, as a rule
    except BaseException as exc:  # noqa: B902 - the coordinator must hear why, even on SystemExit
        pool.write_message(result_fd, {"fatal": "the grading process could not start: %s" % "".join(
            traceback.format_exception_only(type(exc), exc)).strip()})
        return 1
    pool.write_message(result_fd, {"ready": True, "startup_seconds": round(time.perf_counter() - started, 3)})
    while True:
        message = pool.read_message(cmd_fd)
        if message is None or message.get("do") == "quit":
            return 0
        job = message["task"]
        result = task.grade(snapshot, job["student"], job["files"], job.get("seeds"))
        pool.write_message(result_fd, {"result": result})
