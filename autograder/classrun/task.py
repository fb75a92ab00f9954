"""The grading task: one submission graded anywhere, with no course folder.

:func:`snapshot` (in the coordinator) captures what ``nbgrader autograde`` needs of the course as
plain data: its ``nbgrader_config.py``, a small SQLite gradebook holding only the assignment's
rows (notebooks, grade/solution/source/task cells), the non-notebook files of the assignment's
``source/`` folder (nbgrader copies them into ``autograded/``), a hash of the grader and the
course's seed key (the secret seeds of a submission derive from it and the submitted files: the
snapshot is grader-side, like the gradebook).

:func:`grade` (in any worker process) builds a temporary course from it and the submitted files,
runs nbgrader's own ``Autograde`` converter with the course's configuration, inside one
sandbox budget for the submission, and returns plain data: the status and its reason, the
autograded files, the gradebook rows nbgrader wrote, the per-cell grades, the seeds used, the
receipt. Nothing is written outside the temporary course; the coordinator replays the result
into the course (:mod:`autograder.classrun.gradebook`).
"""
import hashlib
import json
import logging
import os
import tempfile
import time
import traceback
from pathlib import Path

from ..notebook import assignments
from ..notebook import expected, incidents, reexecution_seeds
from . import receipt, report
from .status import GRADING_ERROR, Status

PACKAGE = Path(__file__).resolve().parent
CONFIG = "nbgrader_config.py"
SUBMITTED = "@@STUDENT@@"  # placeholder for a student id in a path pattern


def grader_hash(extra: bytes = b"") -> str:
    """sha256 of the grader's code (:func:`receipt.code_hash`) and ``extra`` (the course's config,
    gradebook rows and source files, declarations and derived data included)."""
    return hashlib.sha256(receipt.code_hash().encode() + extra).hexdigest()


def files_hash(files: dict) -> str:
    """sha256 over the submitted files (path and content), independent of their order."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode("utf-8", "surrogateescape") + b"\0" + hashlib.sha256(files[name]).digest())
    return digest.hexdigest()


def course_app(root: Path, assignment: str, db_url: str = None, student: str = None):
    """nbgrader's ``AutogradeApp`` initialised on the course at ``root`` (as ``nbgrader autograde``
    run there would be), logging at INFO to nothing but the handlers a caller adds."""
    from nbgrader.apps.autogradeapp import AutogradeApp
    app = AutogradeApp()
    app.load_cwd_config = False  # the course's own config only, wherever this process runs
    app.raise_config_file_errors = True  # a config that fails to load must not mean stock grading
    app.log.setLevel(logging.ERROR)  # not "no nbgrader_config.py found": it is loaded from root
    app.initialize([assignment, "--force"], root=str(root))
    app.coursedir.assignment_id = assignment
    if db_url:
        app.coursedir.db_url = db_url
    if student:
        app.coursedir.student_id = student
    app.log.setLevel(logging.INFO)
    for handler in list(app.log.handlers):
        app.log.removeHandler(handler)
    app.log.propagate = False
    return app


def relative(app, step: str, student: str, assignment: str) -> str:
    """The course-relative path of ``step``'s folder (e.g. submitted) for ``student``."""
    coursedir = app.coursedir
    path = coursedir.format_path(getattr(coursedir, f"{step}_directory"), student, assignment)
    return os.path.relpath(path, coursedir.root)


def snapshot(course: Path, assignment: str, app=None, overrides: dict = None) -> dict:
    """What grading ``assignment`` needs of ``course``, as plain (picklable, JSON-able) data;
    ``overrides``: ``{GradingLimits trait: value}`` this run sets over the course's configuration."""
    from nbgrader.api import Gradebook
    course = Path(course).resolve()
    app = app or course_app(course, assignment)
    coursedir = app.coursedir
    with tempfile.TemporaryDirectory(prefix="autograder-snapshot-") as tmp:
        db = Path(tmp) / "gradebook.db"
        with Gradebook(coursedir.db_url, coursedir.course_id) as src:
            _stamp(db, src)
            with Gradebook(f"sqlite:///{db}", coursedir.course_id) as dst:
                found = src.find_assignment(assignment)  # MissingEntry: the caller says what to do
                dst.add_assignment(assignment, duedate=found.duedate)
                notebooks = []
                for nb in found.notebooks:
                    notebooks.append(nb.name)
                    dst.add_notebook(nb.name, assignment)
                    for cell in nb.grade_cells:
                        dst.add_grade_cell(cell.name, nb.name, assignment, max_score=cell.max_score,
                                           cell_type=cell.cell_type)
                    for cell in nb.solution_cells:
                        dst.add_solution_cell(cell.name, nb.name, assignment)
                    for cell in nb.source_cells:
                        dst.add_source_cell(cell.name, nb.name, assignment, cell_type=cell.cell_type,
                                            locked=cell.locked, source=cell.source, checksum=cell.checksum)
                    for cell in nb.task_cells:
                        dst.add_task_cell(cell.name, nb.name, assignment, max_score=cell.max_score,
                                          cell_type=cell.cell_type)
        gradebook = db.read_bytes()
    source_dir = Path(coursedir.format_path(coursedir.source_directory, ".", assignment))
    source = {}
    if source_dir.is_dir():
        from nbgrader.utils import find_all_files
        for name in find_all_files(str(source_dir), coursedir.ignore + ["*.ipynb"]):
            path = Path(name)
            if path.is_file() and not path.is_symlink():
                source[str(path.relative_to(source_dir))] = path.read_bytes()
    for graded in assignments.declared(Path(coursedir.root, coursedir.source_directory), assignment):
        for path in (graded.path, graded.expected_path):  # grader-side: generate_assignment ignores them
            source[path.name] = path.read_bytes()
    config = (course / CONFIG).read_text(encoding="utf-8") if (course / CONFIG).is_file() else ""
    if overrides:  # limits this run sets itself (grade --timeout, --intake), after the course's
        config += "\n# this grading run's own limits\n" + "".join(
            f"c.GradingLimits.{name} = {value!r}\n" for name, value in sorted(overrides.items()))
    extra = b"\0".join([config.encode(), gradebook_rows_text(gradebook)] + [
        k.encode() + hashlib.sha256(source[k]).digest() for k in sorted(source)])
    return {
        "assignment": assignment,
        "course_id": coursedir.course_id,
        "config": config,
        "gradebook": gradebook,
        "notebooks": sorted(notebooks),
        "source": source,
        "paths": {"submitted": relative(app, "submitted", SUBMITTED, assignment),
                  "autograded": relative(app, "autograded", SUBMITTED, assignment),
                  "source": relative(app, "source", ".", assignment)},
        "grader": grader_hash(extra),
        "seed_key": reexecution_seeds.course_key(course / reexecution_seeds.KEY_FILE).hex(),
        "commit": receipt.commit(course),
    }


def _stamp(db: Path, src) -> None:
    """Start the SQLite gradebook ``db`` with the alembic version of the gradebook ``src``: a new
    gradebook without one makes nbgrader run ``alembic heads`` in a subprocess (3 s of CPU)."""
    import sqlite3
    from sqlalchemy import exc, text
    try:
        version = src.db.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except exc.SQLAlchemyError:  # none recorded: nbgrader finds it itself
        src.db.rollback()
        return
    connection = sqlite3.connect(db)
    try:
        connection.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        connection.execute("INSERT INTO alembic_version (version_num) VALUES (?)", (version,))
        connection.commit()
    finally:
        connection.close()


def gradebook_rows_text(gradebook: bytes) -> bytes:
    """The assignment rows of a snapshot gradebook as text (its file bytes vary run to run)."""
    import sqlite3
    with tempfile.TemporaryDirectory(prefix="autograder-rows-") as tmp:
        path = Path(tmp) / "gradebook.db"
        path.write_bytes(gradebook)
        connection = sqlite3.connect(path)
        try:
            rows = []
            for table in ("grade_cells", "solution_cells", "source_cells", "task_cells", "notebook"):
                try:
                    data = connection.execute(f"SELECT * FROM {table}").fetchall()  # noqa: S608
                except sqlite3.Error:
                    continue
                rows.append([table, sorted(tuple(str(v) for v in row if not _looks_like_id(v))
                                           for row in data)])
        finally:
            connection.close()
    return json.dumps(rows).encode()


def _looks_like_id(value) -> bool:
    return isinstance(value, str) and len(value) == 32 and all(c in "0123456789abcdef" for c in value)


class Records(logging.Handler):
    """What nbgrader and the course's preprocessors log while one submission is graded, and the
    kernel incidents recorded on those records (:mod:`autograder.notebook.incidents`)."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.records = []
        self.incidents = []

    def emit(self, record):
        try:
            if incidents.of(record) is not None:
                self.incidents.append(dict(incidents.of(record)))
            self.records.append({"level": record.levelname, "message": record.getMessage()})
        except Exception:  # noqa: BLE001 - a bad log record must not stop grading
            pass


def grade(snapshot: dict, student: str, files: dict, seeds=None, limits: dict = None) -> dict:
    """Grade ``student``'s ``files`` ({path in the submission folder: bytes}) against ``snapshot``.

    ``seeds``: the re-execution seeds (None: chosen from the snapshot's seed key and ``files``,
    the same for the same files). ``limits``: ``{GradingLimits trait: value}`` to grade under
    instead of the snapshot's configuration (``verify``: a receipt's). Never raises: anything
    that goes wrong is this submission's ``failed`` status with its reason.
    """
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="t") as tmp:
        try:
            result = _grade(Path(tmp), snapshot, student, files, seeds, limits)
        except Exception as exc:  # noqa: BLE001 - the submission fails, not the worker
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()[-2000:]
            result = dict(Status.failed(GRADING_ERROR, detail).to_json(), log=[],
                          traceback=traceback.format_exc()[-4000:])
    result.update(student=student, seconds=round(time.perf_counter() - started, 3))
    return result


def prepare() -> None:
    """Compute here what each grading process would otherwise compute on its first submissions
    (the notebook format's validators, compiled; the fingerprints of the states ``random.seed(n)``
    leaves): the coordinator calls it before its workers are forked, and they share the result."""
    import nbformat
    from nbformat.validator import get_validator

    from ..notebook import check_kinds
    for relaxed in (False, True):  # nbformat reads strictly, nbconvert's exporter validates relaxed
        get_validator(nbformat.current_nbformat, relax_add_props=relaxed)
    check_kinds.seeded_states()


def _place(root: Path, pattern: str, student: str) -> Path:
    return root / pattern.replace(SUBMITTED, student)


def _grade(root: Path, snapshot: dict, student: str, files: dict, seeds, limits=None) -> dict:
    from nbgrader.api import Gradebook
    from nbgrader.converters import Autograde

    from ..notebook.limits import GradingLimits
    from ..notebook.sandbox import cgroup
    from . import nbgrader_caches

    nbgrader_caches.install()
    assignment = snapshot["assignment"]
    (root / CONFIG).write_text(snapshot["config"], encoding="utf-8")
    db = root / "gradebook.db"
    nbgrader_caches.throwaway(f"sqlite:///{db}")
    db.write_bytes(snapshot["gradebook"])
    source = _place(root, snapshot["paths"]["source"], student)
    for name, data in snapshot["source"].items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_bytes(data)
    submitted = _place(root, snapshot["paths"]["submitted"], student)
    submitted.mkdir(parents=True)
    for name, data in files.items():
        (submitted / name).parent.mkdir(parents=True, exist_ok=True)
        (submitted / name).write_bytes(data)

    app = course_app(root, assignment, db_url=f"sqlite:///{db}", student=student)
    for name, value in (limits or {}).items():
        if name not in GradingLimits.names():
            raise ValueError(f"unknown limit {name!r} (GradingLimits has {', '.join(GradingLimits.names())})")
        app.config.GradingLimits[name] = value
    in_force = GradingLimits(config=app.config)  # the course's, from the snapshot's config
    seeds = list(seeds) if seeds is not None else reexecution_seeds.draw(
        [expected.load(graded.expected_path) for graded in assignments.declared(source.parent, source.name)
         if graded.kind == "steps"], in_force.reexecution(),
        key=bytes.fromhex(snapshot["seed_key"]), submission=files_hash(files).encode())
    app.config.ReexecuteSteps.seeds = seeds
    records = Records()
    app.log.addHandler(records)
    error = None
    try:
        with cgroup.budget(student, in_force.submission_memory_mb, in_force.submission_processes):
            Autograde(coursedir=app.coursedir, parent=app).start()
    except Exception as exc:  # noqa: BLE001 - NbGraderException and anything else
        error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    finally:
        app.log.removeHandler(records)

    autograded = _place(root, snapshot["paths"]["autograded"], student)
    notebooks = snapshot["notebooks"]
    status = report.classify({"ok": error is None, "error": error, "incidents": records.incidents,
                              "submitted": str(submitted), "autograded": str(autograded)}, notebooks)
    out = {}
    if autograded.is_dir():
        for path in sorted(autograded.rglob("*")):
            if path.is_file() and not path.is_symlink():
                out[str(path.relative_to(autograded))] = path.read_bytes()
    messages = report.check_messages(autograded, notebooks) if status.scores_recorded else {}
    with Gradebook(f"sqlite:///{db}", snapshot["course_id"]) as gb:
        rows = submission_rows(gb, assignment, student)
    cells = {}
    for nb in (rows or {}).get("notebooks", {}).values():
        for name, grade in nb["grades"].items():
            score = grade["manual_score"] if grade["manual_score"] is not None else grade["auto_score"]
            cells[name] = {"score": score, "max_score": grade["max_score"],
                           "verdict": "failed" if messages.get(name) else "passed" if score else "none",
                           "messages": messages.get(name, [])}
    result = dict(status.to_json(), log=records.records, autograded=out, gradebook=rows, cells=cells,
                  seeds=seeds, error=error)
    result["receipt"] = _receipt(submitted, autograded, source, snapshot["commit"], result, status,
                                 receipt.limits(in_force))
    return result


def _receipt(submitted: Path, autograded: Path, source: Path, commit: str, result: dict, status: Status,
             limits_in_force: dict) -> dict:
    """The grading receipt (:mod:`autograder.classrun.receipt`) of one graded submission."""
    cells = {k: {"score": v["score"], "max_score": v["max_score"], "verdict": v["verdict"]}
             for k, v in result["cells"].items()}
    return receipt.build(submitted=submitted, autograded=autograded, source=source, commit=commit, seeds=result["seeds"],
                         cells=cells, status=status.receipt(), limits_in_force=limits_in_force)


def submission_rows(gb, assignment: str, student: str):
    """What the gradebook holds about one submission, as plain data (None: no submission); three
    queries (the submission and its notebooks, their grades, their comments)."""
    from nbgrader.api import Assignment, BaseCell, Comment, Grade, Notebook, SubmittedAssignment, SubmittedNotebook
    found = gb.db.query(SubmittedAssignment.id, SubmittedAssignment.timestamp) \
        .join(Assignment, Assignment.id == SubmittedAssignment.assignment_id) \
        .filter(Assignment.name == assignment, SubmittedAssignment.student_id == student).one_or_none()
    if found is None:
        return None
    submission, timestamp = found
    names, notebooks = {}, {}
    for notebook_id, name, penalty in gb.db.query(SubmittedNotebook.id, Notebook.name, SubmittedNotebook.late_submission_penalty) \
            .join(Notebook, Notebook.id == SubmittedNotebook.notebook_id) \
            .filter(SubmittedNotebook.assignment_id == submission):
        names[notebook_id] = name
        notebooks[name] = {"late_submission_penalty": penalty, "grades": {}, "comments": {}}
    for notebook_id, name, auto, manual, extra, max_score, needs in gb.db.query(
            Grade.notebook_id, BaseCell.name, Grade.auto_score, Grade.manual_score, Grade.extra_credit,
            Grade.max_score, Grade.needs_manual_grade).join(BaseCell, BaseCell.id == Grade.cell_id) \
            .filter(Grade.notebook_id.in_(list(names))):
        notebooks[names[notebook_id]]["grades"][name] = {
            "auto_score": auto, "manual_score": manual, "extra_credit": extra, "max_score": max_score,
            "needs_manual_grade": needs}
    for notebook_id, name, auto_comment in gb.db.query(Comment.notebook_id, BaseCell.name, Comment.auto_comment) \
            .join(BaseCell, BaseCell.id == Comment.cell_id).filter(Comment.notebook_id.in_(list(names))):
        notebooks[names[notebook_id]]["comments"][name] = {"auto_comment": auto_comment}
    return {"timestamp": timestamp.isoformat() if timestamp else None, "notebooks": notebooks}
