"""Resumable, idempotent class runs: a coordinator killed mid-run (SIGKILL) and started again
grades only what is missing and ends with the gradebook of an uninterrupted run; Ctrl-C still
writes every report, listing the students not reached."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from autograder.classrun import pool
from corpus import reproducibility
from support import ASSIGNMENT, env, step_scores
from support import hand_in_main as hand_in

pytestmark = pytest.mark.slow

CLASS = reproducibility.EXAMPLE_CLASS

STUDENTS = ["ada", "ben_forgot_seed", "cleo_wrong_seed", "gus_comprehension"]


def command(*args):
    return [sys.executable, "-m", "autograder", "grade", ASSIGNMENT, "--workers", "1", *args]


def make_class(course):
    for student in STUDENTS:
        hand_in(course, student, CLASS[student])


def installed(course) -> list:
    return sorted(p.parent.parent.name for p in course.glob(f"autograded/*/{ASSIGNMENT}/.grading-key.json"))


def start_and_stop_after_first(course, sig):
    """Start a run; once one submission is installed, send ``sig`` to the coordinator only."""
    proc = subprocess.Popen(command(), cwd=course, env=env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 600
    while not installed(course) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be stopped"
    os.kill(proc.pid, sig)
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out, err


def pool_folders() -> set:
    return {folder for place in pool.scratch_places() for folder in place.glob("ag-*")}


def test_a_killed_run_resumes_to_the_uninterrupted_gradebook(course, tmp_path):
    make_class(course)
    reference = shutil.copytree(course, tmp_path / "reference")
    whole = subprocess.run(command(), cwd=reference, env=env(), capture_output=True, text=True, timeout=900)
    assert whole.returncode == 0, whole.stderr[-3000:]

    before = pool_folders()
    code, _, _ = start_and_stop_after_first(course, signal.SIGKILL)
    assert code == -signal.SIGKILL
    done = installed(course)
    assert 1 <= len(done) < len(STUDENTS), done
    deadline = time.monotonic() + 60  # the orphaned worker is told (SIGTERM) and cleans up
    while pool_folders() - before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert pool_folders() - before == set()

    again = subprocess.run(command(), cwd=course, env=env(), capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    report = json.loads((course / "exports" / ASSIGNMENT / "grading_report.json").read_text())["students"]
    skipped = sorted(s for s, e in report.items() if e["status"] == "skipped")
    regraded = sorted(s for s, e in report.items() if e["status"] == "graded")
    assert skipped == done and sorted(skipped + regraded) == STUDENTS  # only what was missing
    assert step_scores(course) == step_scores(reference)
    assert [p for p in course.glob("autograded/*/.*")] == []  # nothing half-written left


def test_ctrl_c_writes_every_report_and_lists_who_was_not_graded(course):
    make_class(course)
    code, out, err = start_and_stop_after_first(course, signal.SIGINT)
    assert code == 130, err[-3000:]
    report = json.loads((course / "exports" / ASSIGNMENT / "grading_report.json").read_text())["students"]
    assert set(report) == set(STUDENTS)
    statuses = {s: (e["status"], e["reason"]) for s, e in report.items()}
    assert ("not graded", "interrupted") in statuses.values(), statuses
    assert any(status == "graded" for status, _ in statuses.values()), statuses
    csv_text = (course / "exports" / ASSIGNMENT / "grades.csv").read_text()
    assert all(s in csv_text for s in STUDENTS) and "not graded: interrupted" in csv_text
    assert "interrupted" in err
    # the next run (no --force) grades exactly the students not reached
    again = subprocess.run(command(), cwd=course, env=env(), capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    after = json.loads((course / "exports" / ASSIGNMENT / "grading_report.json").read_text())["students"]
    assert {s for s, e in after.items() if e["status"] == "graded"} == \
           {s for s, (status, _) in statuses.items() if status != "graded"}
