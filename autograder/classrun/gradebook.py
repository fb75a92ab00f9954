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

from nbgrader.api import Gradebook

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
def one_transaction(gb: Gradebook):
    """Within this block, ``gb``'s session runs in one database transaction: the commits
    nbgrader's Gradebook API makes after each change only flush, and the block's end commits
    everything at once (an error rolls it all back). One commit, so one disk sync (SQLite), for
    a batch of results instead of several per result. Objects are not expired at those inner
    commits (nobody else writes meanwhile), so the assignment's cells load once per block; read
    computed columns (scores) with a query, as :func:`student_scores` does."""
    from sqlalchemy.orm import scoped_session, sessionmaker
    connection = gb.engine.connect()
    outer = connection.begin()
    session = gb.db
    gb.db = scoped_session(sessionmaker(autoflush=True, bind=connection, future=True, expire_on_commit=False,
                                        join_transaction_mode="rollback_only"))
    try:
        yield gb
        gb.db.commit()
        outer.commit()
    except BaseException:
        outer.rollback()
        raise
    finally:
        gb.db.remove()
        gb.db = session
        connection.close()


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
        notebook.late_submission_penalty = data["late_submission_penalty"]
        for grade in notebook.grades:
            new = data["grades"].get(grade.name)
            if new is not None:
                grade.auto_score = new["auto_score"]
                grade.needs_manual_grade = bool(new["needs_manual_grade"] or grade.manual_score is not None)
        for comment in notebook.comments:
            new = data["comments"].get(comment.name)
            if new is not None:
                comment.auto_comment = new["auto_comment"]


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
