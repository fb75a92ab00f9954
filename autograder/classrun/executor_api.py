"""What every executor shares, in a module of its own so that :mod:`autograder.classrun.executors`
(the local workers, and the choice of executor) and :mod:`autograder.classrun.dask_executor` both
import it and neither imports the other's module at load time: the :class:`Task`, the
:class:`Executor` interface, the result of a task that did not run to its end (:func:`lost`) and
the default task timeout.
"""
import abc
from dataclasses import dataclass, field
from typing import Optional

from ..notebook.limits import GradingLimits
from .status import Status

TASK_TIMEOUT = GradingLimits.default("submission_seconds")  # the default; a course's: c.GradingLimits.submission_seconds


@dataclass(frozen=True)
class Task:
    """One submission to grade: its student id, the files intake accepted, the seeds to use."""
    student: str
    files: dict = field(repr=False)          # {relative path: bytes}
    seeds: Optional[list] = None             # None: the grader draws its own


def lost(task: Task, reason: str, detail: str) -> dict:
    """The result of a task that did not run to its end: failed, nothing recorded."""
    return {"student": task.student, **Status.failed(reason, detail).to_json(), "lost": True, "log": [],
            "seconds": None}


class Executor(abc.ABC):
    """Runs grading tasks. Use as a context manager: ``close`` runs on any exit (also Ctrl-C).

    ``start(snapshot)`` once, then ``submit(task)`` any number of times; ``results(timeout)``
    waits up to ``timeout`` seconds (None: until one finishes) and returns the ``(task, result)``
    pairs finished since the last call; ``in_flight()`` counts submitted tasks not yet returned.
    """

    description = "executor"   # shown to the instructor, e.g. "4 local worker(s)"

    @abc.abstractmethod
    def start(self, snapshot: dict) -> None:
        """Make the assignment snapshot (:func:`autograder.classrun.task.snapshot`) available to workers."""

    @abc.abstractmethod
    def submit(self, task: Task) -> None:
        """Queue ``task``; it runs when a worker is free."""

    @abc.abstractmethod
    def results(self, timeout: Optional[float] = None) -> list:
        """``[(task, result), ...]`` finished since the last call (may be empty after ``timeout``)."""

    @abc.abstractmethod
    def in_flight(self) -> int:
        """Tasks submitted whose result has not been returned by :meth:`results`."""

    @abc.abstractmethod
    def close(self) -> None:
        """Stop every worker and drop the tasks still queued or running; idempotent."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
