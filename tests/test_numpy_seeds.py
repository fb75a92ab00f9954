"""The numpy_seeds assignment graded end to end by the real commands: every answer variant of
tests/corpus/numpy_seeds.py (right answers written other ways, each named mistake) gets exactly
its points per step, and each failed step's message names its mistake; the quiz is graded from
its own derived key."""
import json
import shutil
import subprocess
import sys

import pytest

from autograder.classrun.gradebook import cell_scores
from autograder.classrun.report import failed_checks
from autograder.course.submissions import fill, hand_in
from corpus import numpy_seeds as corpus
from support import env, nbgrader

import nbformat

ASSIGNMENT = corpus.ASSIGNMENT
CLASS = [{"name": "reference", "cells": {}, "points": dict(corpus.FULL), "mistake": {}}] + corpus.VARIANTS
QUIZ_KEY = json.loads((corpus.ROOT / "source" / ASSIGNMENT / "quiz.expected.json").read_text())["questions"]
pytestmark = pytest.mark.slow  # grades a class of 31 (about 30 s)




@pytest.fixture(scope="module")
def graded(course_template, tmp_path_factory):
    course = shutil.copytree(course_template, tmp_path_factory.mktemp("numpy") / "course")
    nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
    key_answers = {qid: f'{qid} = "{entry["answer"]}"' for qid, entry in QUIZ_KEY.items()}
    for entry in CLASS:
        hand_in(course, entry["name"], dict(corpus.answers(entry), **(key_answers if entry["name"] == "reference" else {})),
                assignment=ASSIGNMENT)
    run = subprocess.run([sys.executable, "-m", "autograder", "grade", ASSIGNMENT], cwd=course, env=env(),
                         capture_output=True, text=True)
    messages = {}
    for entry in CLASS:
        nb = nbformat.read(course / "autograded" / entry["name"] / ASSIGNMENT / "numpy_seeds.ipynb", as_version=4)
        messages[entry["name"]] = {cell.metadata.nbgrader["grade_id"]: " ".join(failed_checks(cell))
                                   for cell in nb.cells if cell.metadata.get("nbgrader", {}).get("grade")}
    return {"run": run, "scores": cell_scores(f"sqlite:///{course / 'gradebook.db'}", ASSIGNMENT), "messages": messages}


def test_the_corpus_is_large_and_names_each_mistake():
    assert len(corpus.VARIANTS) >= 15
    assert sum(1 for entry in corpus.VARIANTS if entry["mistake"]) >= 15


def test_the_class_run_grades_everyone(graded):
    run = graded["run"]
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert f"{len(CLASS)} graded, 0 skipped, 0 failed" in run.stdout


@pytest.mark.parametrize("entry", CLASS, ids=[entry["name"] for entry in CLASS])
def test_each_variant_gets_its_points_and_its_mistake_named(graded, entry):
    scores = graded["scores"][entry["name"]]
    assert {test: scores[test][0] for test in corpus.FULL} == entry["points"]
    for test, phrase in entry["mistake"].items():
        assert phrase.lower() in graded["messages"][entry["name"]][test].lower(), graded["messages"][entry["name"]][test]


def test_the_quiz_is_graded_from_its_own_key(graded):
    quiz_tests = [test for test in graded["scores"]["reference"] if test not in corpus.FULL]
    assert len(quiz_tests) == len(QUIZ_KEY) == 5
    assert all(graded["scores"]["reference"][test][0] == graded["scores"]["reference"][test][1] for test in quiz_tests)
    assert all(graded["scores"]["seed-7"][test][0] == 0 for test in quiz_tests)  # left blank


def test_the_exchange_carries_it_both_ways(course_template, tmp_path):
    """Released, fetched, answered, submitted, collected, graded and its feedback fetched, all
    through nbgrader's exchange, for numpy_seeds as for the first assignment (tests/test_exchange.py)."""
    course = shutil.copytree(course_template, tmp_path / "course")
    exchange, home = tmp_path / "exchange", tmp_path / "ana"
    (home / "work").mkdir(parents=True)
    instructor = env(NBGRADER_EXCHANGE=str(exchange))
    instructor.pop("COURSE_DB_URL", None)
    student = {k: v for k, v in instructor.items() if k not in ("NBGRADER_EXCHANGE", "JUPYTER_CONFIG_PATH")}
    student.update(HOME=str(home), USER="ana", LOGNAME="ana", JUPYTER_CONFIG_DIR=str(home / ".jupyter"),
                   JUPYTER_DATA_DIR=str(home / ".local/share/jupyter"))

    def run(cwd, environ, *args):
        proc = subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=environ, capture_output=True, text=True)
        assert proc.returncode == 0, f"{args} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
        return proc

    as_student = ("--course=reproducible-ml", f"--Exchange.root={exchange}")
    run(course, instructor, "nbgrader", "generate_assignment", ASSIGNMENT, "--force")
    run(course, instructor, "nbgrader", "release_assignment", ASSIGNMENT)
    run(home / "work", student, "nbgrader", "fetch_assignment", ASSIGNMENT, *as_student)
    fetched = home / "work" / ASSIGNMENT / "numpy_seeds.ipynb"
    nbformat.write(fill(fetched, dict(corpus.REFERENCE, step2="scores = rng.integers(80, 100, size=5)")), fetched)
    run(home / "work", student, "nbgrader", "submit", ASSIGNMENT, "--student=ana", *as_student)
    run(course, instructor, "nbgrader", "collect", ASSIGNMENT)
    run(course, instructor, "autograder", "grade", ASSIGNMENT)
    run(course, instructor, "autograder", "feedback", ASSIGNMENT)
    run(course, instructor, "nbgrader", "release_feedback", ASSIGNMENT)
    run(home / "work", student, "nbgrader", "fetch_feedback", ASSIGNMENT, "--student=ana", *as_student)
    pages = list((home / "work" / ASSIGNMENT / "feedback").glob("*/numpy_seeds.html"))
    assert len(pages) == 1
    page = pages[0].read_text(encoding="utf-8")
    assert "exclusive" in page and "Step 2" in page  # the named mistake reached the student
    assert "BEGIN HIDDEN TESTS" not in page and "BEGIN SOLUTION" not in page
    scores = cell_scores(f"sqlite:///{course / 'gradebook.db'}", ASSIGNMENT)["ana"]
    assert {test: scores[test][0] for test in corpus.FULL} == dict(corpus.FULL, test_step2=0)
