"""What a new instructor meets in the first hour: messages to act on, nothing silent."""
import json
import subprocess
import sys

import pytest

from autograder.notebook import expected
from support import EXPECTED, ASSIGNMENT, env, hand_in


def grade(course, *args, **extra_env):
    return subprocess.run([sys.executable, "-m", "autograder", "grade", *args], cwd=course,
                          env=env(**extra_env), capture_output=True, text=True)


@pytest.mark.slow
def test_unsandboxed_grading_says_so_on_screen_in_the_log_and_in_the_report(course):
    hand_in(course, "ada", expected.load(EXPECTED)["reference"])
    run = grade(course, ASSIGNMENT, AUTOGRADER_SANDBOX="off")
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "GRADING RUNS UNSANDBOXED (AUTOGRADER_SANDBOX=off)" in run.stderr  # before the workers start
    assert "1 submission(s) of this run were graded UNSANDBOXED: ada" in run.stderr  # and at the end
    report = json.loads((course / "exports" / ASSIGNMENT / "grading_report.json").read_text(encoding="utf-8"))
    assert report["unsandboxed"] == ["ada"]
    assert "ada: graded UNSANDBOXED" in (course / "exports" / ASSIGNMENT / "grade.log").read_text(encoding="utf-8")


@pytest.mark.bwrap
@pytest.mark.slow
def test_a_sandboxed_run_says_nothing_of_the_kind(course):
    hand_in(course, "ada", expected.load(EXPECTED)["reference"])
    run = grade(course, ASSIGNMENT)
    assert run.returncode == 0 and "UNSANDBOXED" not in run.stderr + run.stdout
    report = json.loads((course / "exports" / ASSIGNMENT / "grading_report.json").read_text(encoding="utf-8"))
    assert report["unsandboxed"] == []


@pytest.mark.slow
def test_a_mistyped_assignment_gets_the_name_it_probably_meant(course):
    run = grade(course, "reproducibilty")
    assert run.returncode == 2
    assert "did you mean 'reproducibility'?" in run.stderr and "generate_assignment" not in run.stderr
    (course / "source" / "new_one").mkdir()
    run = grade(course, "new_one")
    assert run.returncode == 2 and "release it first: `nbgrader generate_assignment new_one`" in run.stderr


@pytest.mark.slow
def test_no_checksum_warning_for_hidden_tests_only_for_a_real_edit(course):
    """Every test cell's hidden tests were removed at release: that is no change to report.
    A student's edit of a test cell still is, and the cell is restored."""
    from support import fill, nbgrader, release_notebook, submit
    answers = expected.load(EXPECTED)["reference"]
    hand_in(course, "ada", answers)
    edited = fill(release_notebook(course), dict(answers, test_step1="pass  # edited"))
    hand_in(course, "ben", answers)
    submit(course, "ben", edited)
    run = nbgrader(course, "autograde", ASSIGNMENT)
    warnings = [line for line in run.stderr.splitlines() if "has changed" in line]
    assert warnings and all("ben" not in line or "test_step1" in line for line in warnings), warnings
    assert len(warnings) == 1 and "Attribute 'checksum' for cell test_step1" in warnings[0], warnings
    graded = (course / "autograded" / "ben" / ASSIGNMENT / "reproducibility.ipynb").read_text(encoding="utf-8")
    assert "# edited" not in graded


def test_the_grader_without_its_packages_says_how_to_get_them():
    """``python -m autograder`` from a Python without the course's packages (``-S``: no
    site-packages at all): one message naming the fix, no traceback."""
    from support import ROOT
    run = subprocess.run([sys.executable, "-S", "-m", "autograder", "grade", ASSIGNMENT], cwd=ROOT,
                         capture_output=True, text=True)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "is not installed in this Python" in run.stderr and "make venv" in run.stderr
