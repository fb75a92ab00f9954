"""``python -m autograder grade``: a whole class graded in parallel, end to end with real commands.

One class (correct, wrong, non-JSON, missing-notebook and kernel-killing submissions) is graded
with 2 workers; a copy of it is graded by stock sequential ``nbgrader autograde``; the gradebooks
must agree, the failed submissions must be reported as failed with their reason (never a plain
0), and a regrade (``--force``) must leave the same gradebook.
"""
import csv
import json
import shutil
import subprocess
import sys

import pytest

from corpus import reproducibility
from support import (ASSIGNMENT, env, fill, nbgrader, release_notebook, run_every_notebook,
                     step_scores, submit)
from support import hand_in_main as hand_in

CLASS = reproducibility.EXAMPLE_CLASS
RIGHT = CLASS["ada"]


def grade(course, *args):
    return subprocess.run([sys.executable, "-m", "autograder", "grade", ASSIGNMENT, "--workers", "2", *args],
                          cwd=course, env=env(), capture_output=True, text=True, timeout=900)


def make_class(course):
    hand_in(course, "ada", RIGHT)
    hand_in(course, "ben_forgot_seed", CLASS["ben_forgot_seed"])
    hand_in(course, "kim_kills_kernel", dict(RIGHT, step2="import os\nos._exit(0)"))
    submit(course, "nina_not_json", '{"cells": [ this is not JSON')
    renamed = submit(course, "milo_renamed", fill(release_notebook(course), RIGHT))
    renamed.rename(renamed.with_name("reproducibility (1).ipynb"))


@pytest.mark.slow
def test_parallel_grading_matches_sequential_and_reports_failures(course, tmp_path):
    run_every_notebook(course)  # for the "kernel died" status
    make_class(course)
    stock = shutil.copytree(course, tmp_path / "stock")

    first = grade(course)
    assert first.returncode == 1, first.stdout + first.stderr  # some submissions failed

    # Every score in the gradebook is what stock sequential `nbgrader autograde` records.
    nbgrader(stock, "autograde", ASSIGNMENT, check=False)
    ours = step_scores(course)
    assert ours == step_scores(stock)
    assert sum(v for k, v in ours["ada"].items() if k.startswith("test_step")) == 8
    assert ours["ben_forgot_seed"]["test_step2"] == 0

    report = json.loads((course / "exports" / ASSIGNMENT / "grading_report.json").read_text())["students"]
    status = {s: (e["status"], e["reason"]) for s, e in report.items()}
    assert status == {
        "ada": ("graded", None),
        "ben_forgot_seed": ("graded", None),
        "kim_kills_kernel": ("failed", "kernel died"),
        "nina_not_json": ("failed", "notebook not JSON"),
        "milo_renamed": ("failed", "notebook missing"),
    }
    # per-cell scores and the failing checks' messages
    assert report["ada"]["cells"]["test_step3"] == {"score": 3.0, "max_score": 3.0, "messages": []}
    assert "random.seed(42) is missing" in " ".join(report["ben_forgot_seed"]["cells"]["test_step2"]["messages"])
    # the kernel died in step 2: where is said, and the recorded scores stay visible
    assert "step2" in report["kim_kills_kernel"]["detail"]
    assert report["kim_kills_kernel"]["scores_recorded"]
    assert report["kim_kills_kernel"]["cells"]["test_step3"]["score"] == 3.0
    assert "reproducibility (1).ipynb" in report["milo_renamed"]["detail"]
    for failed in ("nina_not_json", "milo_renamed"):
        assert report[failed]["score"] is None and not report[failed]["cells"]

    # CSV as `nbgrader export` + status: a failed grading is an empty score, never 0.0
    with open(course / "exports" / ASSIGNMENT / "grades.csv", newline="") as fh:
        rows = {row["student_id"]: row for row in csv.DictReader(fh)}
    assert set(rows) == set(report)
    assert rows["ada"]["score"] == "8.0" and rows["ada"]["status"] == "graded"
    for failed in ("nina_not_json", "milo_renamed"):
        assert rows[failed]["score"] == "" and rows[failed]["status"].startswith("failed: notebook")
    assert rows["kim_kills_kernel"]["status"] == "failed: kernel died"

    # the table says it too
    assert "FAILED: notebook not JSON" in first.stdout
    assert "2 graded, 0 skipped, 3 failed" in first.stdout

    # Regrading the class gives the identical gradebook and the same statuses.
    second = grade(course, "--force")
    assert second.returncode == 1, second.stdout + second.stderr
    assert step_scores(course) == ours
    again = json.loads((course / "exports" / ASSIGNMENT / "grading_report.json").read_text())["students"]
    assert {s: (e["status"], e["reason"], e["score"]) for s, e in again.items()} == \
           {s: (e["status"], e["reason"], e["score"]) for s, e in report.items()}


def test_a_class_that_grades_cleanly_exits_zero_and_a_rerun_skips(course):
    hand_in(course, "gus", CLASS["gus_comprehension"])
    first = grade(course, "--student", "gus")
    assert first.returncode == 0, first.stdout + first.stderr
    steps = {k: v for k, v in step_scores(course)["gus"].items() if k.startswith("test_step")}
    assert steps == {"test_step1": 1.0, "test_step2": 2.0, "test_step3": 3.0, "test_step4": 2.0}
    second = grade(course)  # without --force nbgrader leaves an autograded submission alone
    assert second.returncode == 0, second.stdout + second.stderr
    report = json.loads((course / "exports" / ASSIGNMENT / "grading_report.json").read_text())["students"]
    assert report["gus"]["status"] == "skipped"
    assert report["gus"]["cells"]["test_step3"]["score"] == 3.0
