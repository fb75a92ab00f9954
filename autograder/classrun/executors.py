"""Where grading tasks run: one interface, the local worker processes (default) and Dask.

A task is one call of :func:`autograder.classrun.task.grade` ``(snapshot, student, files, seeds)``: it needs
no course folder and returns plain data. The coordinator (:mod:`autograder.classrun.grade`) is the only
writer of the course; an executor only runs tasks and hands back their results:

- :class:`LocalExecutor`: worker processes on this machine (:mod:`autograder.classrun.pool`);
- ``autograder.classrun.dask_executor.DaskExecutor``: a Dask distributed scheduler
  (``python -m autograder grade ASSIGNMENT --scheduler tls://HOST:8786``).

Every result is a dict with at least ``student``, ``status`` and ``reason``. When a task cannot
finish (its deadline passed, its worker died, the executor was closed) the executor reports it
with :func:`lost` instead: a ``failed`` result with nothing graded.
"""
from typing import Optional

from . import pool
from .executor_api import TASK_TIMEOUT, Executor, Task, lost  # noqa: F401 - the interface, re-exported


class LocalExecutor(Executor):
    """Worker processes on this machine, each running tasks one at a time (:mod:`autograder.classrun.pool`).

    A task past ``task_timeout`` seconds is stopped with its worker (and everything that worker
    started) and reported lost as ``timed out``; a worker that dies costs only its task and is
    replaced. ``log`` receives lines for the run's log (a dead worker's raw stderr).
    """

    def __init__(self, workers: int, task_timeout: float = TASK_TIMEOUT, log=None):
        self.description = f"{workers} local worker(s)"
        self._pool = pool.Pool(workers, task_timeout=task_timeout, log=log)

    def start(self, snapshot: dict) -> None:
        from . import task
        task.prepare()  # before the workers are forked: computed once, not once per worker
        self._pool.start(snapshot)

    def submit(self, task: Task) -> None:
        self._pool.submit(task)

    def results(self, timeout: Optional[float] = None) -> list:
        return [(task, result if result is not None else lost(task, reason, detail))
                for task, result, reason, detail in self._pool.finished(timeout)]

    def in_flight(self) -> int:
        return self._pool.in_flight()

    def close(self) -> None:
        self._pool.close()


def make(args, log=None) -> Executor:
    """The executor the ``grade`` command line asks for: Dask with ``--scheduler``, else local."""
    if getattr(args, "scheduler", None):
        from . import dask_executor  # only with --scheduler: Dask is not needed otherwise
        return dask_executor.DaskExecutor(args.scheduler, task_timeout=args.timeout, certs=args.dask_certs,
                                          insecure_loopback=args.insecure_loopback)
    return LocalExecutor(args.workers, task_timeout=args.timeout, log=log)
