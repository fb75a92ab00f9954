"""The grading service's journal: every submission it took from the exchange, in SQLite (WAL)
under ``<course_root>/grading/queue.db``, and the rules that pick what to grade next.

A submission moves through the states below; each change is one committed transaction, so a
service killed at any moment (SIGKILL included) resumes from the last committed state:

- ``received``: vetted and copied into the grader's staging; waiting for its turn;
- ``grading``: in the batch being graded (a restart grades it again: nothing was counted yet);
- ``graded``: the grade run recorded it (one attempt counted); its feedback is not released yet;
- ``released``: its feedback is in the exchange;
- ``superseded``: a newer submission of the same student and assignment was taken instead;
- ``deferred``: kept, not graded: attempts used up, or late while an on-time one counts;
- ``quarantined``: refused at the door (the reason says why); never graded;
- ``failed``: the grade run itself kept breaking on it (:data:`MAX_TRIES` runs).

Rules (:meth:`Journal.pick`): per student and assignment one attempt graded at a time, at most one
attempt per ``interval`` seconds and ``max_attempts`` in all; of the submissions waiting, only the newest (by
its timestamp) is graded and the rest are superseded; with a due date, an on-time submission is
preferred over a late one and a late one is deferred once an on-time one is graded or waiting. A
submission a grade run broke on is graded alone from then on, so that a submission that breaks
runs fails on its own and its batch-mates are graded.
"""
import sqlite3
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Optional

from ..notebook import assignments

MAX_TRIES = 3   # grade runs a submission may break before it is marked failed
ACTIVE = ("grading", "graded", "released")  # states that used (or are using) an attempt

SCHEMA = """
CREATE TABLE IF NOT EXISTS submissions (
    id INTEGER PRIMARY KEY,
    token TEXT UNIQUE NOT NULL,      -- its staging folder
    name TEXT NOT NULL,              -- the inbound entry's name, as shown
    student TEXT, assignment TEXT,
    timestamp TEXT,                  -- the submission's time (UTC ISO 8601) used for grading
    received REAL NOT NULL,          -- when the service took it in (epoch seconds)
    state TEXT NOT NULL,
    reason TEXT,
    started REAL,                    -- when its graded attempt started
    finished REAL,                   -- when its feedback was released (or it failed)
    tries INTEGER NOT NULL DEFAULT 0,
    status TEXT                      -- the grade run's status of it
);
CREATE INDEX IF NOT EXISTS by_state ON submissions(state);
CREATE INDEX IF NOT EXISTS by_student ON submissions(student, assignment);
CREATE TABLE IF NOT EXISTS events (
    at REAL NOT NULL, submission INTEGER, event TEXT NOT NULL, detail TEXT
);
CREATE TABLE IF NOT EXISTS quiz_release (
    assignment TEXT PRIMARY KEY,
    released REAL,                   -- when the instructor released its quiz scores (NULL: not)
    published REAL                   -- when the service re-released the pages with them
);
"""


@dataclass
class Row:
    id: int
    token: str
    name: str
    student: Optional[str]
    assignment: Optional[str]
    timestamp: Optional[str]
    received: float
    state: str
    reason: Optional[str]
    started: Optional[float]
    finished: Optional[float]
    tries: int
    status: Optional[str]

    @property
    def when(self) -> datetime:
        return datetime.fromisoformat(self.timestamp)


def utc(moment: datetime) -> datetime:
    """``moment`` as an aware UTC time (nbgrader's naive times are UTC)."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


class Journal:
    """The queue database; one per service (SQLite serialises its writers)."""

    def __init__(self, path: Path):
        self.db = sqlite3.connect(str(path), isolation_level=None, timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def _rows(self, sql: str, *args) -> list:
        return [Row(*r) for r in self.db.execute(f"SELECT {', '.join(Row.__dataclass_fields__)} "
                                                 f"FROM submissions {sql}", args)]

    def _event(self, submission, event: str, detail: str = None) -> None:
        self.db.execute("INSERT INTO events VALUES (?, ?, ?, ?)", (time.time(), submission, event, detail))

    # -- writing --------------------------------------------------------------------------------
    def known(self, token: str) -> bool:
        return self.db.execute("SELECT 1 FROM submissions WHERE token = ?", (token,)).fetchone() is not None

    def add(self, token: str, name: str, student, assignment, timestamp, state: str, reason: str = None) -> int:
        """Record a submission taken in (``received``) or refused (``quarantined``)."""
        with self.db:
            cur = self.db.execute(
                "INSERT INTO submissions (token, name, student, assignment, timestamp, received, state, reason)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (token, name, student, assignment, timestamp, time.time(),
                                                     state, reason))
            self._event(cur.lastrowid, state, reason)
            return cur.lastrowid

    def set_state(self, ids, state: str, reason: str = None, **columns) -> None:
        sets = ", ".join(["state = ?", "reason = ?"] + [f"{k} = ?" for k in columns])
        with self.db:
            for i in ids:
                self.db.execute(f"UPDATE submissions SET {sets} WHERE id = ?", (state, reason, *columns.values(), i))
                self._event(i, state, reason)

    def requeue(self, ids, broke: bool = True) -> list:
        """Put submissions of a batch that broke back in the queue; those past :data:`MAX_TRIES`
        become ``failed``. Returns the failed ones. ``broke=False``: the service stopped while
        they were graded (a restart), which counts no try against them."""
        failed = []
        with self.db:
            for i in ids:
                tries = self.db.execute("UPDATE submissions SET tries = tries + ? WHERE id = ? RETURNING tries",
                                        (int(broke), i)).fetchone()[0]
                state = "failed" if tries >= MAX_TRIES else "received"
                self.db.execute("UPDATE submissions SET state = ?, started = NULL WHERE id = ?", (state, i))
                self._event(i, state, f"grade run broke (try {tries})" if broke else "the service restarted")
                if state == "failed":
                    failed.append(i)
        return failed

    # -- reading --------------------------------------------------------------------------------
    def in_state(self, *states) -> list:
        marks = ", ".join("?" * len(states))
        return self._rows(f"WHERE state IN ({marks}) ORDER BY received, id", *states)

    def get(self, i: int) -> Row:
        return self._rows("WHERE id = ?", i)[0]

    def of(self, student: str, assignment: str) -> list:
        return self._rows("WHERE student = ? AND assignment = ? ORDER BY timestamp, id", student, assignment)

    def tokens_to_keep(self) -> set:
        """Tokens whose grader-side copy may still be read: waiting or being graded, failed (for
        the instructor to look into), and the newest deferred one of each student and assignment."""
        return {token for (token,) in self.db.execute(
            "SELECT token FROM submissions WHERE state IN ('received', 'grading', 'failed') UNION "
            "SELECT token FROM (SELECT token, MAX(timestamp) FROM submissions WHERE state = 'deferred' "
            "GROUP BY student, assignment)")}

    # -- the rules ------------------------------------------------------------------------------
    def pick(self, now: float, interval: float, max_attempts: int, duedates: dict, limit: int) -> tuple:
        """The assignment and rows of the next batch (``(None, [])`` when nothing may be graded
        now): per (student, assignment) the newest waiting submission whose attempt the rules
        allow, of the assignment waiting longest; the others waiting are superseded or deferred
        here. ``duedates``: {assignment: aware UTC datetime or None}."""
        waiting = self.in_state("received")
        groups = {}
        for row in waiting:
            groups.setdefault((row.student, row.assignment), []).append(row)
        ready = []
        for (student, assignment), rows in groups.items():
            chosen = self._decide(student, assignment, rows, now, interval, max_attempts, duedates.get(assignment))
            if chosen is not None:
                ready.append(chosen)
        if not ready:
            return None, []
        ready.sort(key=lambda r: (r.received, r.id))
        assignment = ready[0].assignment
        if ready[0].tries:  # a grade run broke with it: alone now, so what breaks runs costs only its student
            return assignment, ready[:1]
        return assignment, [r for r in ready if r.assignment == assignment and not r.tries][:limit]

    def _decide(self, student, assignment, rows, now, interval, max_attempts, due) -> Optional[Row]:
        history = [r for r in self.of(student, assignment) if r.state in ACTIVE]
        rows = sorted(rows, key=lambda r: (r.when, r.id))
        if due is not None:
            on_time = [r for r in rows if utc(r.when) <= due]
            counted = any(utc(r.when) <= due for r in history)
            late = [r for r in rows if utc(r.when) > due]
            if late and (on_time or counted):
                self.set_state([r.id for r in late], "deferred", "late: the on-time submission counts")
                rows = on_time
            if not rows:
                return None
        newest, older = rows[-1], rows[:-1]
        if older:
            self.set_state([r.id for r in older], "superseded", f"a newer submission (#{newest.id}) was graded instead")
        if any(r.state == "grading" for r in history):
            return None  # one grade run at a time per student: the newest waits for it
        if len(history) >= max_attempts:
            self.set_state([newest.id], "deferred", f"all {max_attempts} graded attempts used")
            return None
        last = max((r.started or 0 for r in history), default=None)
        if last is not None and now < last + interval:
            return None  # waits; a newer one arriving meanwhile supersedes it
        return newest

    # -- quiz release ---------------------------------------------------------------------------
    def release_quiz(self, assignment: str) -> None:
        with self.db:
            self.db.execute("INSERT INTO quiz_release (assignment, released) VALUES (?, ?) "
                            "ON CONFLICT(assignment) DO UPDATE SET released = excluded.released, published = NULL",
                            (assignment, time.time()))

    def quiz_state(self, assignment: str) -> tuple:
        """(released by the instructor at, pages re-released at), each None when not."""
        row = self.db.execute("SELECT released, published FROM quiz_release WHERE assignment = ?",
                              (assignment,)).fetchone()
        return tuple(row) if row else (None, None)

    def quiz_published(self, assignment: str) -> None:
        with self.db:
            self.db.execute("INSERT INTO quiz_release (assignment, published) VALUES (?, ?) "
                            "ON CONFLICT(assignment) DO UPDATE SET published = excluded.published",
                            (assignment, time.time()))


def quiz_visible(journal: Journal, assignment: str, deadline: Optional[str], log: Callable[[str], None]) -> bool:
    """Whether ``assignment``'s quiz scores may be shown: the instructor released them (the
    journal), or ``deadline`` (its ``c.CourseHub.quiz_release``, ISO 8601) has passed."""
    if journal.quiz_state(assignment)[0] is not None:
        return True
    if not deadline:
        return False
    try:
        moment = utc(datetime.fromisoformat(deadline))
    except ValueError:
        log(f"c.CourseHub.quiz_release[{assignment!r}] = {deadline!r} is not an ISO 8601 time: quiz withheld")
        return False
    return datetime.now(timezone.utc) >= moment


def withheld(journal: Journal, assignment: str, deadline: Optional[str], source: Path,
             log: Callable[[str], None]) -> dict:
    """{quiz notebook: when its scores are released} while they may not be shown, else {} (what
    :func:`autograder.course.feedback.generate` takes as ``withheld``)."""
    if quiz_visible(journal, assignment, deadline, log):
        return {}
    when = f"after {deadline}" if deadline else "when your instructor releases it"
    return {g.notebook: when for g in assignments.declared(source, assignment) if g.kind == "quiz"}
