"""One story after any sequence of runs: a failed submission is never a partial score.

A class of three: an honest student, one whose step notebook is not JSON (failed, nothing
recorded) and one whose quiz notebook is missing (failed, the step notebook's points recorded
and flagged). After a full run, a partial run (``--student`` someone else), a resumed run and a
forced partial regrade, the gradebook, ``exports/<assignment>/grades.csv``, ``nbgrader export``, the LMS CSV,
the grading report (the dashboard's source) and the dashboard, and the feedback pages must each
say the same of every student.
"""
import csv
import json
import shutil
import subprocess
import sys

import pytest
from nbgrader.api import Gradebook

from corpus import reproducibility
from support import ASSIGNMENT, env, hand_in, nbgrader

pytestmark = pytest.mark.slow

REFERENCE = reproducibility.REFERENCE
ROSTER = "student_id,name,lms_id,sis_user_id,sis_login_id,section\n" + "".join(
    f"{s},{s.title()},{n},,,A\n" for n, s in enumerate(("honest", "broken", "partial"), start=1))
# student -> (CSV status, points recorded)
STORY = {"honest": ("graded", True), "broken": ("failed: notebook not JSON", False),
         "partial": ("failed: notebook missing", True)}


def command(course, *args):
    proc = subprocess.run([sys.executable, "-m", *args], cwd=course, env=env(), capture_output=True, text=True)
    assert proc.returncode in (0, 1), proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def rows(path, key="student_id"):
    with open(path, newline="", encoding="utf-8") as fh:
        return {row[key]: row for row in csv.DictReader(fh)}


def check_story(course):
    """Every place says STORY, and the honest student's points are the same everywhere."""
    grades = rows(course / "exports" / ASSIGNMENT / "grades.csv")
    nbgrader(course, "export", "--to", "stock.csv")
    stock = rows(course / "stock.csv")
    command(course, "autograder", "lms", "export", ASSIGNMENT, "--lms-id", "7")
    lms = rows(course / "exports" / "lms_grades.csv", key="ID")
    report = json.loads((course / "exports" / ASSIGNMENT / "grading_report.json").read_text(encoding="utf-8"))["students"]
    command(course, "autograder", "dashboard", ASSIGNMENT)
    dashboard = (course / "exports" / ASSIGNMENT / "dashboard.html").read_text(encoding="utf-8")
    shutil.rmtree(course / "feedback", ignore_errors=True)
    command(course, "autograder.course.feedback", ASSIGNMENT)
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        book = {s.student.id: ([g.auto_score for nb in s.notebooks for g in nb.grades],
                               any(nb.flagged for nb in s.notebooks))
                for s in gb.assignment_submissions(ASSIGNMENT)}
    for n, (student, (status, recorded)) in enumerate(STORY.items(), start=1):
        for where, row in (("grades.csv", grades[student]), ("nbgrader export", stock[student])):
            assert row["status"] == status, (where, student, row)
            assert (row["score"] != "") == recorded, (where, student, row)
        assert report[student]["status"].replace("skipped", "graded") == status.split(":")[0], student
        assert report[student]["scores_recorded"] == recorded, student
        lms_cell = lms[str(n)][f"{ASSIGNMENT} (7)"]
        assert (lms_cell == "") == status.startswith("failed"), (student, lms_cell)
        scores, flagged = book[student]
        assert flagged == status.startswith("failed"), student
        assert any(score is not None for score in scores) == recorded, (student, scores)
        assert (course / "feedback" / student).is_dir() == recorded, student
        if status.startswith("failed"):
            assert status.split(": ")[1] in dashboard and student in dashboard
    assert grades["honest"]["score"] == stock["honest"]["score"]
    assert float(lms["1"][f"{ASSIGNMENT} (7)"]) == float(grades["honest"]["score"]) > 0


@pytest.fixture
def course(course_template, tmp_path):
    course = shutil.copytree(course_template, tmp_path / "course")
    hand_in(course, "honest", REFERENCE)
    hand_in(course, "broken", REFERENCE)
    (course / "submitted" / "broken" / ASSIGNMENT / "reproducibility.ipynb").write_text('{"cells": [ not JSON')
    hand_in(course, "partial", REFERENCE)
    (course / "submitted" / "partial" / ASSIGNMENT / "quiz.ipynb").unlink()
    (course / "lms").mkdir()
    (course / "lms" / "roster.csv").write_text(ROSTER)
    return course


def test_full_partial_resumed_and_forced_runs_tell_one_story(course):
    command(course, "autograder", "grade", ASSIGNMENT)
    check_story(course)
    command(course, "autograder", "grade", ASSIGNMENT, "--student", "honest")  # skipped: already graded
    check_story(course)
    command(course, "autograder", "grade", ASSIGNMENT)  # resumed: the failed ones again
    check_story(course)
    command(course, "autograder", "grade", ASSIGNMENT, "--student", "honest", "--force")
    check_story(course)
