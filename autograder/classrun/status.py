"""A submission's grading status: one typed value, its constructors, and its JSON form.

Every status of ``python -m autograder grade`` is a :class:`Status` made here (:meth:`Status.graded`,
:meth:`~Status.skipped`, :meth:`~Status.failed`, :meth:`~Status.not_graded`); everything else
reads it. Its JSON form (:meth:`Status.to_json`) is the four keys ``status``, ``reason``,
``detail``, ``scores_recorded`` found in a grading task's result, a report entry
(``exports/grading_report.json``) and an autograded folder's state; a receipt holds the first
three (:meth:`Status.receipt`); the grades CSV's ``status`` cell is :meth:`Status.text`.

- ``graded``: nbgrader graded it; no reason.
- ``skipped``: already autograded for the same submission and grader (``--force`` regrades).
- ``failed`` with a reason (the ``REASON`` constants below, or ``intake: <rule>``): scores are
  shown only when ``scores_recorded`` (e.g. the kernel died at one step; the steps are judged
  outside the kernel, so their points stand).
- ``not graded``: the run stopped before this submission (interrupted, or an error of the run).
"""
import enum
from dataclasses import dataclass
from typing import Optional

from ..notebook.incidents import KERNEL_DIED, KERNEL_STOPPED, TIMED_OUT  # noqa: F401 - reasons too


class State(str, enum.Enum):
    GRADED = "graded"
    SKIPPED = "skipped"
    FAILED = "failed"
    NOT_GRADED = "not graded"

    def __str__(self) -> str:
        return self.value


GRADED, SKIPPED, FAILED, NOT_GRADED = State.GRADED, State.SKIPPED, State.FAILED, State.NOT_GRADED
TASK_STATES = (GRADED.value, SKIPPED.value, FAILED.value)  # what a grading task can return

# Reasons of a failed (or not graded) submission; see autograder/classrun/report.py for each.
NOTEBOOK_MISSING = "notebook missing"
NOTEBOOK_NOT_JSON = "notebook not JSON"
GRADING_ERROR = "grading error"
PROCESS_DIED = "grading process died"
INVALID_RESULT = "invalid result"
RECORDING_ERROR = "recording error"
INTERRUPTED = "interrupted"
RUN_STOPPED = "run stopped"
ALREADY_GRADED = "already autograded; --force regrades it"
NO_SUBMISSION = "no submission"  # a grades CSV's status for a student of the class who handed nothing in


def intake(rule: str) -> str:
    """The reason of a submission that intake refused for breaking ``rule``."""
    return f"intake: {rule}"


@dataclass(frozen=True)
class Status:
    """One submission's status; see the module docstring. Build it with the class methods."""
    state: State
    reason: Optional[str] = None
    detail: Optional[str] = None
    scores_recorded: bool = False

    def __post_init__(self):
        object.__setattr__(self, "state", State(self.state))
        if (self.reason is None) != (self.state in (GRADED, SKIPPED)):
            raise ValueError(f"a {self.state} status {'has no' if self.reason is None else 'takes no'} reason")
        if self.state is NOT_GRADED and self.scores_recorded:
            raise ValueError("a submission not graded has no scores recorded")
        if not isinstance(self.scores_recorded, bool):
            raise ValueError("scores_recorded is true or false")

    @classmethod
    def graded(cls) -> "Status":
        return cls(GRADED, None, None, True)

    @classmethod
    def skipped(cls, detail: str = ALREADY_GRADED) -> "Status":
        return cls(SKIPPED, None, detail, True)

    @classmethod
    def failed(cls, reason: str, detail: Optional[str] = None, recorded: bool = False) -> "Status":
        return cls(FAILED, reason, detail, recorded)

    @classmethod
    def not_graded(cls, reason: str, detail: Optional[str] = None) -> "Status":
        return cls(NOT_GRADED, reason, detail, False)

    @property
    def failing(self) -> bool:
        return self.state is FAILED

    def to_json(self) -> dict:
        """``{"status", "reason", "detail", "scores_recorded"}``."""
        return {"status": self.state.value, "reason": self.reason, "detail": self.detail,
                "scores_recorded": self.scores_recorded}

    @classmethod
    def from_json(cls, data: dict) -> "Status":
        """The status of a task result, report entry, folder state or receipt (other keys are
        ignored; a receipt's lacks ``scores_recorded``); ValueError/KeyError/TypeError if none."""
        return cls(State(data["status"]), data.get("reason"), data.get("detail"),
                   data.get("scores_recorded", False))

    def receipt(self) -> dict:
        """What a receipt records: ``{"status", "reason", "detail"}``."""
        return {"status": self.state.value, "reason": self.reason, "detail": self.detail}

    def text(self) -> str:
        """The grades CSV's ``status`` cell (``failed: <reason>``): the grade's status, so a
        submission an earlier run graded (``skipped`` by this one) reads ``graded``."""
        state = GRADED if self.state is SKIPPED else self.state
        return state.value if not self.reason else f"{state.value}: {self.reason}"
