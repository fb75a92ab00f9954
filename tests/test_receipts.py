"""Grading receipts and ``python -m autograder verify``, with the real class-grading command.

A small class is graded by ``python -m autograder grade`` in a throwaway course (which writes a
receipt per submission); ``verify`` then regrades every submission from its receipt. A copy of
the graded course, with one submitted byte changed and receipts that record another grader,
environment or points, must fail naming each difference.
"""
import hashlib
import json
import shutil
import subprocess
import sys

import pytest

from autograder.notebook import expected
from autograder.classrun import receipt
from autograder.course.submissions import hand_in
from support import ASSIGNMENT, ROOT, env, release_notebook

REFERENCE = expected.load()["reference"]
STUDENTS = {
    "ada": REFERENCE,
    "ben": dict(REFERENCE, step2="import random"),
    "cy": dict(REFERENCE, step3="accuracy_scores = [100, 83, 80, 88, 87]"),
    "dee": dict(REFERENCE, step4="import os, sys\nprint(os.getcwd(), sys.argv, dict(os.environ), "
                                 "open('/proc/1/cmdline', 'rb').read(), random.getstate()[1][:4])"),
}


def autograder(course, *args):
    return subprocess.run([sys.executable, "-m", "autograder", *args, "--course", str(course)],
                          cwd=course, env=env(), capture_output=True, text=True)


def receipts(course):
    return {s: receipt.read(course / "autograded" / s / ASSIGNMENT) for s in STUDENTS}


@pytest.fixture(scope="module")
def graded(course_template, tmp_path_factory):
    course = shutil.copytree(course_template, tmp_path_factory.mktemp("receipts") / "course")
    for student, answers in STUDENTS.items():
        hand_in(course, student, answers, ASSIGNMENT)
    run = autograder(course, "grade", ASSIGNMENT)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return course, receipts(course)


def test_a_receipt_records_what_the_points_rest_on(graded):
    course, found = graded
    lock = hashlib.sha256((ROOT / "requirements.lock").read_bytes()).hexdigest()
    for student, rec in found.items():
        submitted = course / "submitted" / student / ASSIGNMENT
        assert rec["submitted"] == {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
                                    for p in submitted.iterdir() if p.is_file()}
        assert rec["environment"]["requirements_lock"] == lock
        assert rec["grader"] == receipt.grader() and rec["commit"]
        assert rec["seeds"][0] == 42 and len(rec["seeds"]) == 2 and rec["seeds"][1] != 42
        assert rec["limits"]["reexecution"]["seconds"] > 0
        assert {"test_step1", "test_step4"} <= set(rec["cells"])
    assert found["ben"]["cells"]["test_step2"]["score"] == 0 and found["ada"]["cells"]["test_step2"]["score"] == 2
    assert len({rec["seeds"][1] for rec in found.values()}) == len(found), "fresh secret seeds per submission"


def test_verify_passes_on_a_graded_class(graded):
    course, _ = graded
    run = autograder(course, "verify", ASSIGNMENT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert all(f"{s}: verified" in run.stdout for s in STUDENTS)


def test_verify_names_what_differs(graded, tmp_path):
    course = shutil.copytree(graded[0], tmp_path / "course")
    notebook = course / "submitted" / "ada" / ASSIGNMENT / "reproducibility.ipynb"
    data = notebook.read_bytes()
    changed = data.replace(b"Scenario", b"Scenaria", 1)  # one byte of a markdown cell
    assert len(changed) == len(data) and sum(x != y for x, y in zip(data, changed)) == 1
    notebook.write_bytes(changed)
    edits = {"ben": lambda r: r["grader"].update(code="0" * 64),
             "cy": lambda r: (r["environment"].update(python="2.7.18"),
                              r["cells"]["test_step3"].update(score=3.0))}
    for student, edit in edits.items():
        folder = course / "autograded" / student / ASSIGNMENT
        rec = receipt.read(folder)
        edit(rec)
        receipt.write(folder, rec)
    run = autograder(course, "verify", ASSIGNMENT, "--student", "ada", "--student", "ben", "--student", "cy")
    assert run.returncode == 1, run.stdout + run.stderr
    blocks, student = {}, None
    for line in run.stdout.splitlines():
        if line.split(":")[0] in edits or line.startswith("ada:"):
            student = line.split(":")[0]
        if student:
            blocks[student] = blocks.get(student, "") + line + "\n"
    assert all(blocks[s].startswith(f"{s}: DIFFERS") for s in ("ada", "ben", "cy")), run.stdout
    assert "submitted file reproducibility.ipynb changed" in blocks["ada"]
    assert "points of" not in blocks["ada"]  # a markdown byte changes no point
    assert "grader code changed" in blocks["ben"] and "points of" not in blocks["ben"]
    assert "environment changed: python 2.7.18" in blocks["cy"]
    assert "points of test_step3 differ: receipt 3.0, regraded 0.0" in blocks["cy"]
    assert "0 of 3 verified" in run.stdout


def test_two_forced_regrades_give_the_same_points_under_different_seeds(graded, tmp_path):
    course = shutil.copytree(graded[0], tmp_path / "course")
    rounds = []
    for _ in range(2):
        run = autograder(course, "grade", ASSIGNMENT, "--force")
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        rounds.append(receipts(course))
    first, second = rounds
    for student in STUDENTS:
        assert first[student]["cells"] == second[student]["cells"] == graded[1][student]["cells"]
        assert first[student]["seeds"][1] != second[student]["seeds"][1]


def test_no_secret_in_the_grading_report_or_the_autograded_notebooks(graded):
    """dee's step 4 prints what it can reach; no secret seed (from the receipts), no reference
    solution and no course path may end up in the report, and no secret seed in any notebook."""
    course, found = graded
    report = (course / "exports" / "grading_report.json").read_text(encoding="utf-8")
    notebooks = [p.read_text(encoding="utf-8") for p in (course / "autograded").rglob("*.ipynb")]
    for rec in found.values():
        assert all(str(rec["seeds"][1]) not in text for text in [report, *notebooks])
    public = release_notebook(course).read_text(encoding="utf-8")
    for source in REFERENCE.values():
        assert source in public or json.dumps(source)[1:-1] not in report
    # what the submissions put there: every student's entry (the header names the course folder)
    assert str(course) not in json.dumps(json.loads(report)["students"])
