"""The course gradebook: read scores, replay a grading task's rows, mark failed submissions.

The coordinator of ``python -m autograder grade`` is the only writer. It replays what nbgrader's
``Autograde`` wrote in a task's temporary gradebook (:func:`autograder.classrun.task.submission_rows`)
with nbgrader's own Gradebook API, as a sequential ``nbgrader autograde`` would have written it
into the course gradebook: auto scores, late penalties, ``needs_manual_grade``, auto comments.
Manual scores and comments that graders entered stay, as with stock ``--force`` regrades.

A submission whose grading failed is marked in the gradebook itself (:func:`mark_failed`), so
formgrader and ``nbgrader export`` readers cannot take it for an ordinary 0: each of its notebooks
is flagged, each graded cell needs manual grading, and each answer cell's comment names the reason.
"""
import contextlib
import warnings
from datetime import datetime

from nbgrader.api import Gradebook, MissingEntry
from sqlalchemy.orm import Session

FAILED_COMMENT = "Autograding failed: {reason}. {detail}"


def cell_scores(db_url: str, assignment: str) -> dict:
    """{student: {grade_id: (score, max_score)}} for every submission of ``assignment``."""
    table = {}
    with Gradebook(db_url) as gb:
        for submission in gb.assignment_submissions(assignment):
            cells = table.setdefault(submission.student.id, {})
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    cells[grade.name] = (grade.score, grade.max_score)
    return dict(sorted(table.items()))


@contextlib.contextmanager
def no_sawarning():
    """SQLAlchemy's ``SAWarning`` (which nbgrader's gradebook code trips harmlessly) left unshown
    for the code in this block only."""
    from sqlalchemy.exc import SAWarning
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SAWarning)
        yield


def read_grades(db_url: str, course_id: str, assignment: str) -> tuple:
    """``assignment``'s gradebook in one read: ``({grade_id: notebook}, {student: {"score",
    "late_submission_penalty", "grades": {grade_id: {"auto_score", "manual_score", "extra_credit"}}}})``,
    ``score`` being nbgrader's total of the submission (manual scores and extra credit included)."""
    with no_sawarning(), Gradebook(db_url, course_id) as gb:
        cells = {cell.name: notebook.name for notebook in gb.find_assignment(assignment).notebooks
                 for cell in notebook.grade_cells + notebook.task_cells}
        table = {submission.student.id: {
            "score": submission.score,
            "late_submission_penalty": submission.late_submission_penalty,
            "grades": {grade.name: {"auto_score": grade.auto_score, "manual_score": grade.manual_score,
                                    "extra_credit": grade.extra_credit}
                       for notebook in submission.notebooks for grade in notebook.grades},
        } for submission in gb.assignment_submissions(assignment)}
    return cells, dict(sorted(table.items()))


def student_scores(gb: Gradebook, assignment: str, student: str):
    """{grade_id: (score, max_score)} of one submission, or None when there is none."""
    return scores_of(gb, assignment, [student]).get(student)


def scores_of(gb: Gradebook, assignment: str, students) -> dict:
    """``{student: {grade_id: (score, max_score)}}`` of the submissions of ``students`` there are,
    in one query: the scores nbgrader computes in SQL, as the database holds them now."""
    from nbgrader.api import Assignment, BaseCell, Grade, SubmittedAssignment, SubmittedNotebook
    found = {}
    students = list(students)
    for start in range(0, len(students), 500):  # bounded IN lists
        rows = gb.db.query(SubmittedAssignment.student_id, BaseCell.name, Grade.score, Grade.max_score) \
            .join(Assignment, Assignment.id == SubmittedAssignment.assignment_id) \
            .outerjoin(SubmittedNotebook, SubmittedNotebook.assignment_id == SubmittedAssignment.id) \
            .outerjoin(Grade, Grade.notebook_id == SubmittedNotebook.id) \
            .outerjoin(BaseCell, BaseCell.id == Grade.cell_id) \
            .filter(Assignment.name == assignment, SubmittedAssignment.student_id.in_(students[start:start + 500]))
        for student, name, score, max_score in rows:
            cells = found.setdefault(student, {})
            if name is not None:
                cells[name] = (score, max_score)
    return found


@contextlib.contextmanager
def one_transaction(gb: Gradebook, assignment: str = None, students=()):
    """Within this block, ``gb``'s session runs in one database transaction, written at the
    block's end by one flush and one commit (an error rolls it all back): the commits nbgrader's
    Gradebook API makes after each change do nothing here (:class:`_OneTransaction`). One flush
    (so one batched INSERT per table) and one disk sync (SQLite) for a batch of results, instead
    of a flush per object and a commit per result. Objects are not expired (nobody else writes
    meanwhile), so the assignment's cells load once per block; read computed columns (scores)
    with a query, as :func:`student_scores` does. Given ``assignment`` and ``students``, the
    block gets a :class:`Batch` sharing ``gb``'s session, which looks them up once."""
    from sqlalchemy.orm import scoped_session, sessionmaker
    connection = gb.engine.connect()
    outer = connection.begin()
    session = gb.db
    gb.db = scoped_session(sessionmaker(class_=_OneTransaction, autoflush=True, bind=connection, future=True,
                                        expire_on_commit=False, join_transaction_mode="rollback_only"))
    try:
        yield Batch(gb, assignment, students) if assignment is not None else gb
        gb.db().finish()
        outer.commit()
    except BaseException:
        outer.rollback()
        raise
    finally:
        gb.db.remove()
        gb.db = session
        connection.close()


class _OneTransaction(Session):
    """The session of :func:`one_transaction`: ``commit`` (which nbgrader's API calls after each
    change) leaves everything pending; ``finish`` flushes and commits once."""

    def commit(self) -> None:
        pass

    def finish(self) -> None:
        super().commit()


class Batch(Gradebook):
    """A Gradebook sharing ``gb``'s session whose lookups of ``assignment``, of ``students`` and
    of their submissions of it come from one query each, made up front, and from what the batch
    adds, instead of a query (and an autoflush) per call. nbgrader's own methods
    (``update_or_create_student``, ``add_submission`` ...) make and change the rows as ever."""

    def __init__(self, gb: Gradebook, assignment: str, students) -> None:
        from nbgrader.api import Student, SubmittedAssignment
        self.__dict__.update(gb.__dict__)  # the same engine, session, course and authenticator
        self._assignment = super().find_assignment(assignment)
        for notebook in self._assignment.notebooks:  # its cells loaded now, while nothing is pending
            cell_names(notebook)
        self._students, self._submissions = {}, {}
        self._looked_up = list(dict.fromkeys(students))
        for start in range(0, len(self._looked_up), 500):  # bounded IN lists
            chunk = self._looked_up[start:start + 500]
            self._students.update((s.id, s) for s in self.db.query(Student).filter(Student.id.in_(chunk)))
            self._submissions.update((s.student_id, s) for s in self.db.query(SubmittedAssignment).filter(
                SubmittedAssignment.assignment_id == self._assignment.id, SubmittedAssignment.student_id.in_(chunk)))
        self._looked_up = set(self._looked_up)

    def find_assignment(self, name: str):
        return self._assignment if name == self._assignment.name else super().find_assignment(name)

    def find_student(self, student_id: str):
        if student_id not in self._looked_up:
            return super().find_student(student_id)
        if student_id not in self._students:
            raise MissingEntry(f"No such student: {student_id}")
        return self._students[student_id]

    def add_student(self, student_id: str, **kwargs):
        student = self._students[student_id] = super().add_student(student_id, **kwargs)
        return student

    def find_submission(self, assignment: str, student: str):
        if assignment != self._assignment.name or student not in self._looked_up:
            return super().find_submission(assignment, student)
        if student not in self._submissions:
            raise MissingEntry(f"No such submission: {assignment} for {student}")
        return self._submissions[student]

    def add_submission(self, assignment: str, student: str, **kwargs):
        submission = super().add_submission(assignment, student, **kwargs)
        if assignment == self._assignment.name:
            self._submissions[student] = submission
        return submission


def replay(gb: Gradebook, assignment: str, student: str, rows) -> None:
    """Write a task's submission ``rows`` (None: nbgrader recorded none) into the gradebook's
    session (the caller commits)."""
    if rows is None:
        return
    timestamp = datetime.fromisoformat(rows["timestamp"]) if rows["timestamp"] else None
    submission = _submission(gb, assignment, student, **({"timestamp": timestamp} if timestamp else {}))
    with gb.db.no_autoflush:  # one flush at the end, not one per object read
        _replay(submission, rows)


def _replay(submission, rows) -> None:
    for notebook in submission.notebooks:
        data = rows["notebooks"].get(notebook.name)
        if data is None:
            continue
        names = cell_names(notebook.notebook)
        notebook.late_submission_penalty = data["late_submission_penalty"]
        for grade in notebook.grades:
            new = data["grades"].get(names[grade.cell_id])
            if new is not None:
                grade.auto_score = new["auto_score"]
                grade.needs_manual_grade = bool(new["needs_manual_grade"] or grade.manual_score is not None)
        for comment in notebook.comments:
            new = data["comments"].get(names[comment.cell_id])
            if new is not None:
                comment.auto_comment = new["auto_comment"]


def cell_names(notebook) -> dict:
    """``{cell id: grade_id}`` of a gradebook ``notebook``: the names of a submission's grades and
    comments before their first flush, when nbgrader's ``Grade.name`` (through ``Grade.cell``)
    cannot load yet."""
    return {cell.id: cell.name for cell in notebook.grade_cells + notebook.solution_cells + notebook.task_cells}


def mark_failed(gb: Gradebook, assignment: str, student: str, reason: str, detail: str,
                recorded: bool = False) -> None:
    """Flag ``student``'s submission (created if nbgrader recorded none) as failed, with the reason.
    Unless its scores were ``recorded`` (a failure that still graded every cell it could), no
    auto score is left: a failed submission claims no points, in ``nbgrader export`` either.
    Written into the gradebook's session (the caller commits)."""
    submission = _submission(gb, assignment, student)
    text = FAILED_COMMENT.format(reason=reason, detail=(detail or "")[:500]).strip()
    with gb.db.no_autoflush:
        _mark(submission, text, recorded)


def _mark(submission, text: str, recorded: bool) -> None:
    for notebook in submission.notebooks:
        notebook.flagged = True
        for grade in notebook.grades:
            grade.needs_manual_grade = True
            if not recorded:
                grade.auto_score = None
        for comment in notebook.comments:
            comment.auto_comment = text


def failed_reason(submission) -> str:
    """The reason :func:`mark_failed` recorded for a gradebook ``submission``, or None."""
    head = FAILED_COMMENT.split("{reason}")[0]
    for notebook in submission.notebooks:
        for comment in notebook.comments if notebook.flagged else ():
            if (comment.auto_comment or "").startswith(head):
                return comment.auto_comment[len(head):].split(". ", 1)[0]
    return None


def _submission(gb: Gradebook, assignment: str, student: str, **fields):
    """The submission's row, created (with its student) as ``nbgrader autograde`` does."""
    with warnings.catch_warnings():  # nbgrader's add_submission trips a harmless SQLAlchemy warning
        warnings.simplefilter("ignore")
        gb.update_or_create_student(student)
        return gb.update_or_create_submission(assignment, student, **fields)
