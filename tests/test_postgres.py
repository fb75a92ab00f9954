"""The gradebook on a real PostgreSQL server (``COURSE_DB_URL``), started by the test session.

The same small class is graded twice with ``python -m autograder grade``: into the course's
SQLite gradebook, and with every command (``generate_assignment``, ``grade``, ``export``, stock
``autograde``) pointed at PostgreSQL by ``COURSE_DB_URL``. Both gradebooks must hold the same
rows, and ``nbgrader export`` must write the same CSV from each. :func:`autograder.classrun.database.prepare` must create the schema once,
even when several coordinators call it at the same moment.
"""
import csv
import json
import shutil
import subprocess
import sys

import pytest
from nbgrader.api import Gradebook
from services import postgres  # noqa: F401 - pytest fixture
from sqlalchemy import create_engine, text
from corpus import reproducibility
from support import ASSIGNMENT, env, hand_in, submit

from autograder.classrun import database

pytestmark = pytest.mark.postgres

COURSE_ID = "reproducible-ml"
CLASS = reproducibility.EXAMPLE_CLASS


def make_class(course):
    for student in ("ada", "ben_forgot_seed", "dev_hard_coded"):
        hand_in(course, student, CLASS[student])
    submit(course, "nina_not_json", '{"cells": [ this is not JSON')


def csv_rows(path) -> list:
    with open(path, newline="") as fh:
        return sorted(map(sorted, (row.items() for row in csv.DictReader(fh))))


def gradebook_rows(url: str) -> dict:
    """Everything grading and generate_assignment record that is not an id or a clock reading."""
    with Gradebook(database.normalize(url), COURSE_ID) as gb:
        assignment = gb.find_assignment(ASSIGNMENT)
        rows = {"notebooks": {nb.name: {
            "grade_cells": sorted((c.name, c.max_score, c.cell_type) for c in nb.grade_cells),
            "solution_cells": sorted(c.name for c in nb.solution_cells),
            "source_cells": sorted((c.name, c.cell_type, c.locked, c.checksum) for c in nb.source_cells),
        } for nb in assignment.notebooks},
            "students": sorted(s.id for s in gb.students), "submissions": {}}
        for submission in gb.assignment_submissions(ASSIGNMENT):
            rows["submissions"][submission.student_id] = {nb.name: {
                "grades": sorted((g.name, g.auto_score, g.manual_score, g.extra_credit, g.max_score,
                                  g.needs_manual_grade) for g in nb.grades),
                "comments": sorted((c.name, c.auto_comment, c.manual_comment) for c in nb.comments),
                "flagged": nb.flagged, "late_penalty": nb.late_submission_penalty,
            } for nb in submission.notebooks}
    return rows


def test_same_class_same_gradebook_on_postgres_as_on_sqlite(course, tmp_path, postgres):  # noqa: F811
    make_class(course)
    on_sqlite = shutil.copytree(course, tmp_path / "sqlite")
    on_postgres = shutil.copytree(course, tmp_path / "postgres")
    url = postgres.database()
    pg_env = env(COURSE_DB_URL=url)

    def run(folder, *cmd, environ, code=0):
        proc = subprocess.run([sys.executable, "-m", *cmd], cwd=folder, env=environ, capture_output=True,
                              text=True, timeout=900)
        assert proc.returncode == code, proc.stdout[-3000:] + proc.stderr[-3000:]

    grade = ("autograder", "grade", ASSIGNMENT, "--workers", "2")
    # SQLite, the course's gradebook.db: the grade command, then nbgrader's export.
    run(on_sqlite, *grade, environ=env(), code=1)  # 1: nina's notebook is not JSON
    run(on_sqlite, "nbgrader", "export", environ=env())
    # PostgreSQL: the same commands, and generate_assignment first, all through COURSE_DB_URL.
    run(on_postgres, "nbgrader", "generate_assignment", ASSIGNMENT, "--force", environ=pg_env)
    run(on_postgres, *grade, environ=pg_env, code=1)
    run(on_postgres, "nbgrader", "export", environ=pg_env)

    expected = gradebook_rows(f"sqlite:///{on_sqlite / 'gradebook.db'}")
    assert set(expected["submissions"]) == {"ada", "ben_forgot_seed", "dev_hard_coded", "nina_not_json"}
    assert set(expected["submissions"]["ada"]) == {"reproducibility", "quiz"}
    assert gradebook_rows(url) == expected
    # nbgrader's own export writes the same rows from each (its row order is the database's).
    assert csv_rows(on_postgres / "grades.csv") == csv_rows(on_sqlite / "grades.csv")
    # Nothing went to the course's SQLite file while COURSE_DB_URL was set.
    with Gradebook(f"sqlite:///{on_postgres / 'gradebook.db'}", COURSE_ID) as gb:
        assert gb.assignment_submissions(ASSIGNMENT) == []
    # The grade command's report reads the scores back from PostgreSQL.
    report = json.loads((on_postgres / "exports" / ASSIGNMENT / "grading_report.json").read_text())["students"]
    assert report["ada"]["status"] == "graded"
    assert {k: v["score"] for k, v in report["ada"]["cells"].items()} == {
        name: auto for nb in expected["submissions"]["ada"].values() for name, auto, *_ in nb["grades"]}
    # Stock `nbgrader autograde` on the PostgreSQL gradebook regrades a student to the same rows.
    run(on_postgres, "nbgrader", "autograde", ASSIGNMENT, "--student", "ada", "--force", environ=pg_env)
    assert gradebook_rows(url)["submissions"]["ada"] == expected["submissions"]["ada"]


def test_schema_is_created_once_even_by_coordinators_starting_together(postgres):  # noqa: F811
    url = postgres.database()
    code = f"from autograder.classrun.database import prepare; prepare({url!r}, {COURSE_ID!r})"
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env(), stderr=subprocess.PIPE, text=True)
             for _ in range(4)]
    for proc in procs:
        assert proc.wait(timeout=300) == 0, proc.stderr.read()
    engine = create_engine(database.normalize(url))
    try:
        with engine.connect() as connection:
            versions = connection.execute(text("SELECT version_num FROM alembic_version")).all()
            courses = connection.execute(text("SELECT id FROM course")).all()
    finally:
        engine.dispose()
    head = subprocess.run([sys.executable, "-c", "from nbgrader.api import get_alembic_version as v; print(v())"],
                          env=env(), capture_output=True, text=True, check=True).stdout.strip()
    assert versions == [(head,)]
    assert courses == [(COURSE_ID,)]
    # and nbgrader itself accepts the database as it is
    with Gradebook(database.normalize(url), COURSE_ID) as gb:
        assert gb.assignments == []


def test_postgres_urls_name_the_pinned_driver(monkeypatch):
    monkeypatch.setenv(database.ENV, "postgresql://u:pw@db:5432/course")
    assert database.from_environment() == "postgresql+psycopg://u:pw@db:5432/course"
    assert database.shown(database.from_environment()) == "postgresql+psycopg://u:***@db:5432/course"
    for kept in ("postgresql+psycopg2://db/c", "sqlite:////srv/gradebook.db"):
        assert database.normalize(kept) == kept
    monkeypatch.setenv(database.ENV, " ")
    assert database.from_environment() is None
