"""LMS in and out (``autograder/course/lms.py``), with real commands on a temp course.

In: a Canvas-style bulk download, generated here, goes through ``nbgrader zip_collect`` (the
course's ``CanvasCollector``) into ``submitted/`` under the roster's student ids. Out: after
``python -m autograder grade``, ``python -m autograder lms export`` writes the Canvas import CSV;
its format is checked literally, column by column, and every score is the grading report's
score of the same run; a failed or missing submission is an empty cell, never 0.
"""
import csv
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder.course import lms
from corpus import reproducibility
from support import ASSIGNMENT, env, fill, release_notebook

LMS_ASSIGNMENT_ID = "67890"
REFERENCE = reproducibility.REFERENCE
ROSTER = [  # student_id, name, lms_id, sis_user_id, sis_login_id, section
    ["ada", "Lovelace, Ada", "101", "S101", "ada@uni.example", "Section A"],
    ["ben", "Bennett, Ben", "102", "S102", "ben@uni.example", "Section A"],
    ["cleo", "Cleo, Cleo", "103", "", "", "Section B"],
    ["dora", "Dora, Dora", "104", "S104", "dora@uni.example", "Section B"],  # hands nothing in
]


def canvas_download(course: Path, path: Path) -> None:
    """A bulk download as Canvas names it: <name>_[LATE_]<user id>_<attachment id>_<file name>."""
    def notebook(name, answers):
        return nbformat.writes(fill(release_notebook(course, name), answers))

    files = {
        "lovelaceada_101_5001_reproducibility.ipynb": notebook("reproducibility.ipynb", REFERENCE),
        "lovelaceada_101_5002_quiz-1.ipynb": notebook("quiz.ipynb", {}),  # uploaded twice: "-1"
        "lovelaceada_101_5003_notes.txt": "not a notebook",
        "bennettben_LATE_102_5004_reproducibility.ipynb": notebook(
            "reproducibility.ipynb", {**REFERENCE, "step2": reproducibility.STEP2_SEED_7}),
        "bennettben_LATE_102_5005_quiz.ipynb": notebook("quiz.ipynb", {}),
        "cleocleo_103_5006_reproducibility.ipynb": "{ this is not a notebook",
        "cleocleo_103_5007_quiz.ipynb": notebook("quiz.ipynb", {}),
        "strangerx_999_5008_reproducibility.ipynb": notebook("reproducibility.ipynb", REFERENCE),
        "lovelaceada_101_5009_my_own_copy.ipynb": notebook("reproducibility.ipynb", {}),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)


def write_roster(folder: Path) -> None:
    (folder / "lms").mkdir(parents=True)
    with open(folder / "lms" / "roster.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([lms.ROSTER_FIELDS, *ROSTER])


def run(course, *cmd):
    environ = env()
    environ.pop("COURSE_DB_URL", None)
    return subprocess.run([sys.executable, *cmd], cwd=course, env=environ, capture_output=True, text=True)


@pytest.fixture(scope="module")
def exported(course_template, tmp_path_factory):
    course = Path(shutil.copytree(course_template, tmp_path_factory.mktemp("lms") / "course"))
    write_roster(course)
    canvas_download(course, course / "downloaded" / ASSIGNMENT / "archive" / "submissions.zip")
    collected = run(course, "-m", "nbgrader", "zip_collect", ASSIGNMENT)
    assert collected.returncode == 0, collected.stderr
    graded = run(course, "-m", "autograder", "grade", ASSIGNMENT, "--workers", "2")
    assert graded.returncode == 1, graded.stdout + graded.stderr  # cleo's file is not a notebook
    export = run(course, "-m", "autograder", "lms", "export", ASSIGNMENT, "--lms-id", LMS_ASSIGNMENT_ID)
    assert export.returncode == 0, export.stderr
    with open(course / "exports" / "lms_grades.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    report = json.loads((course / "exports" / ASSIGNMENT / "grading_report.json").read_text())
    return {"course": course, "collected": collected, "export": export, "rows": rows, "report": report}


@pytest.mark.slow
def test_zip_collect_files_the_download_under_roster_ids(exported):
    submitted = exported["course"] / "submitted"
    assert sorted(p.name for p in submitted.iterdir()) == ["ada", "ben", "cleo"]
    for student in ("ada", "ben", "cleo"):
        assert sorted(p.name for p in (submitted / student / ASSIGNMENT).iterdir()) == [
            "quiz.ipynb", "reproducibility.ipynb"], student
    ada = nbformat.read(submitted / "ada" / ASSIGNMENT / "reproducibility.ipynb", as_version=4)
    assert any(c.source == REFERENCE["step3"] for c in ada.cells)  # the graded file, not my_own_copy
    log = exported["collected"].stderr
    assert "Canvas user 999 is not in the roster" in log
    assert "my_own_copy.ipynb" in log  # strict: only released notebook names


@pytest.mark.slow
def test_csv_header_and_points_possible_row(exported):
    rows = exported["rows"]
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section",
                       f"{ASSIGNMENT} ({LMS_ASSIGNMENT_ID})"]
    assert rows[1][:5] == ["Points Possible", "", "", "", ""]
    max_scores = {e["max_score"] for e in exported["report"]["students"].values() if e["scores_recorded"]}
    assert len(rows[1]) == 6 and max_scores == {float(rows[1][5])}
    assert all(len(row) == 6 for row in rows)


@pytest.mark.slow
def test_one_row_per_roster_student_in_roster_order(exported):
    assert [row[:5] for row in exported["rows"][2:]] == [r[1:] for r in ROSTER]


@pytest.mark.slow
def test_scores_are_the_grading_reports_and_failures_are_empty(exported):
    students = exported["report"]["students"]
    assert students["ada"]["status"] == students["ben"]["status"] == "graded"
    assert students["cleo"]["status"] == "failed" and "dora" not in students
    cells = {roster[0]: row[5] for roster, row in zip(ROSTER, exported["rows"][2:])}
    for student in ("ada", "ben"):
        assert float(cells[student]) == students[student]["score"], student
    assert students["ada"]["score"] > students["ben"]["score"]  # ben's seed-7 step lost points
    assert cells["cleo"] == "" and cells["dora"] == ""
    shown = exported["export"].stdout
    assert "left empty for cleo: failed: notebook not JSON" in shown
    assert "left empty for dora: no graded submission" in shown


def test_roster_with_a_missing_column_is_refused(tmp_path):
    path = tmp_path / "roster.csv"
    path.write_text("student_id,name,lms_id\nada,Ada,101\n")
    with pytest.raises(ValueError, match="sis_user_id"):
        lms.read_roster(path)


def test_missing_roster_names_the_file_and_the_docs(course):
    """Both LMS commands: the roster they looked for, docs/lms.md, a non-zero exit, no traceback."""
    roster = course / "lms" / "roster.csv"
    export = run(course, "-m", "autograder", "lms", "export", ASSIGNMENT, "--lms-id", LMS_ASSIGNMENT_ID)
    canvas_download(course, course / "downloaded" / ASSIGNMENT / "archive" / "submissions.zip")
    collect = run(course, "-m", "nbgrader", "zip_collect", ASSIGNMENT)
    for proc in (export, collect):
        assert proc.returncode != 0, proc.stdout + proc.stderr
        shown = proc.stdout + proc.stderr
        assert f"no LMS roster at {roster}" in shown and "docs/lms.md" in shown
        assert "Traceback" not in shown and "Errno" not in shown
    assert not (course / "submitted").exists()


def test_nothing_graded_is_refused_not_exported_empty(course, tmp_path):
    """A gradebook with no graded submission, then no gradebook at all (none is created)."""
    write_roster(course)
    proc = run(course, "-m", "autograder", "lms", "export", ASSIGNMENT, "--lms-id", LMS_ASSIGNMENT_ID)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"Grade first: python -m autograder grade {ASSIGNMENT}" in proc.stderr
    assert not (course / "exports" / "lms_grades.csv").exists()
    write_roster(tmp_path / "elsewhere")
    proc = run(tmp_path / "elsewhere", "-m", "autograder", "lms", "export", ASSIGNMENT, "--lms-id", "1")
    assert proc.returncode == 2
    assert f"no gradebook at {tmp_path / 'elsewhere' / 'gradebook.db'}" in proc.stderr
    assert sorted(p.name for p in (tmp_path / "elsewhere").iterdir()) == ["lms"]
