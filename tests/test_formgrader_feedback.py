"""Formgrader's "Generate Feedback" (``NbGraderAPI.generate_feedback``, per student and for all) and
``nbgrader generate_feedback`` write the course's safe page: the one ``autograder.course.feedback``
writes, byte for byte, with the gradebook's points, and no hidden test, no test source, no expected
value and no quiz key letter. The same probes find the hidden tests in nbgrader's stock page."""
import html
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.course import feedback
from autograder.notebook import assignments, expected, quiz
from corpus import reproducibility
from support import (ASSIGNMENT, EXPECTED, QUIZ_KEY, ROOT, env, fill, nbgrader, release_notebook,
                     step_scores, submit)

pytestmark = pytest.mark.slow

KEY = quiz.load(QUIZ_KEY)
WRONG = {qid: (KEY[qid]["letters"][(KEY[qid]["letters"].index(KEY[qid]["answer"]) + 1)
                                   % len(KEY[qid]["letters"])]) for qid in KEY}
STUDENTS = {  # student -> (step answers, quiz answers)
    "x_mistakes": ({**reproducibility.REFERENCE, "step2": reproducibility.STEP2_SEED_7,
                    "step3": reproducibility.STEP3_RANGE_6}, {q: f'{q} = "{a}"' for q, a in WRONG.items()}),
    "x_blank": ({}, {}),
}
NOTEBOOKS = ("reproducibility", "quiz")

# Formgrader's code path: its NbGraderAPI, configured as formgrader configures it (the course's
# nbgrader_config.py from the working directory), the buttons' calls.
API_SCRIPT = """
import json, sys
from nbgrader.apps import NbGrader
from nbgrader.apps.api import NbGraderAPI
from nbgrader.auth import Authenticator
from nbgrader.coursedir import CourseDirectory
from traitlets.config import Config
app = NbGrader()
app.load_config_file()
config = app.config
if sys.argv[2] == "stock":
    from nbconvert.exporters import HTMLExporter
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
    from nbgrader.preprocessors import GetGrades
    stock = Config()
    stock.GenerateFeedback.exporter_class = HTMLExporter
    stock.GenerateFeedback.preprocessors = [GetGrades, CSSHTMLHeaderPreprocessor]
    config.merge(stock)
api = NbGraderAPI(CourseDirectory(config=config), Authenticator(config=config), config=config)
student = sys.argv[3] if len(sys.argv) > 3 else None
print(json.dumps(api.generate_feedback(sys.argv[1], student)))
"""


def api_generate(course: Path, *args: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", API_SCRIPT, ASSIGNMENT, *args], cwd=course, env=env(),
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def page(course: Path, student: str, notebook: str) -> str:
    return (course / "feedback" / student / ASSIGNMENT / f"{notebook}.html").read_text(encoding="utf-8")


def code_lines() -> set:
    """Every line of test code of the assignment's notebooks (visible and hidden), 12+ chars."""
    lines = set()
    for notebook in NOTEBOOKS:
        nb = nbformat.read(ROOT / "source" / ASSIGNMENT / f"{notebook}.ipynb", as_version=4)
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
                lines |= {line.strip() for line in cell.source.splitlines() if len(line.strip()) >= 12}
    return lines


def expected_values() -> list:
    """The stored outcomes' printed text and lists (as the grader compares them)."""
    secrets = []
    for outcome in expected.load(EXPECTED)["outcomes"].values():
        if outcome["stdout"].strip():
            secrets.append(outcome["stdout"].strip())
        for kind, value in outcome["names"].values():
            if kind == "list" and value:
                items = [item for _, item in value]
                secrets += [str(items), ", ".join(map(str, items))]
    return secrets


@pytest.fixture(scope="module")
def graded(course_template, tmp_path_factory):
    course = Path(shutil.copytree(course_template, tmp_path_factory.mktemp("formgrader") / "course"))
    for student, (steps, quiz_cells) in STUDENTS.items():
        submit(course, student, fill(release_notebook(course), steps))
        nbformat.write(fill(release_notebook(course, "quiz.ipynb"), quiz_cells),
                       course / "submitted" / student / ASSIGNMENT / "quiz.ipynb")
    nbgrader(course, "autograde", ASSIGNMENT, "--force")
    return course


def course_pages(course: Path, tmp_path: Path) -> dict:
    """{(student, notebook): page} as ``autograder.course.feedback`` writes them (in a copy)."""
    copy = Path(shutil.copytree(course, tmp_path / "reference"))
    shutil.rmtree(copy / "feedback", ignore_errors=True)
    feedback.generate(copy, ASSIGNMENT)
    return {(s, n): page(copy, s, n) for s in STUDENTS for n in NOTEBOOKS}


def assert_safe(text: str, student: str, notebook: str, scores: dict) -> None:
    plain = html.unescape(text)
    assert "BEGIN HIDDEN TESTS" not in plain
    leaked = [line for line in code_lines() if line in plain]
    assert not leaked, leaked[:3]
    leaked = [value for value in expected_values() if value in plain]
    assert not leaked, leaked[:3]
    if notebook == "quiz":
        for qid in KEY:
            assert f"{KEY[qid]['answer']} is correct" not in plain
    titles = assignments.titles(ROOT / "source", ASSIGNMENT)
    rows = dict(re.findall(r"<tr><td>(.*?)</td><td class=\"\w+\">(.*?)</td>", text))
    graded_here = {g: s for g, s in scores[student].items() if html.escape(feedback.label(g, titles)) in rows}
    assert graded_here, "the page lists none of the gradebook's items"
    for grade_id, score in graded_here.items():
        assert rows[html.escape(feedback.label(grade_id, titles))].startswith(f"{score:g} / ")
    if notebook == "quiz" and student == "x_mistakes":  # the one letter a row names is the student's
        found = dict(re.findall(r"<tr><td>(.*?)</td><td class=\"\w+\">.*?</td><td>(.*?)</td></tr>", text))
        for qid in KEY:
            message = re.sub(r"<[^>]+>", " ", found[html.escape(feedback.label(f"test_{qid}", titles))])
            assert re.findall(r"\b[A-Z]\b", message) == [WRONG[qid]], (qid, message)


@pytest.mark.parametrize("how", ["per-student button", "generate all", "command line"])
def test_generate_feedback_writes_the_course_page(graded, tmp_path, how):
    course = Path(shutil.copytree(graded, tmp_path / "course"))
    reference = course_pages(course, tmp_path)
    scores = step_scores(course)
    if how == "per-student button":
        for student in STUDENTS:
            result = api_generate(course, "course", student)
            assert result["success"], result
    elif how == "generate all":
        result = api_generate(course, "course")
        assert result["success"], result
    else:
        nbgrader(course, "generate_feedback", ASSIGNMENT, "--force")
    for student in STUDENTS:
        for notebook in NOTEBOOKS:
            text = page(course, student, notebook)
            assert text == reference[(student, notebook)], (student, notebook)
            assert_safe(text, student, notebook, scores)
        folder = course / "feedback" / student / ASSIGNMENT
        assert sorted(p.name for p in folder.iterdir()) == sorted(
            [f"{n}.html" for n in NOTEBOOKS] + list(feedback.EXCHANGE_FILES))


def test_on_the_hubs_course_the_button_withholds_the_quiz_until_it_is_released(graded, tmp_path):
    """As the grading service's pages do: formgrader's button must not hand out quiz scores the
    instructor has not released (a release_feedback after it would show them to every student)."""
    from autograder.hub import attempts
    root = tmp_path / "course_root"
    course = Path(shutil.copytree(graded, root / "course"))
    (root / "grading").mkdir()
    journal = attempts.Journal(root / "grading" / "queue.db")
    with open(course / "nbgrader_config.py", "a", encoding="utf-8") as config:
        config.write(f"\nc.CourseHub.course_root = {str(root)!r}\n")
    reference = course_pages(course, tmp_path)
    assert api_generate(course, "course", "x_mistakes")["success"]
    assert page(course, "x_mistakes", "quiz") == feedback.render_withheld(
        "x_mistakes", ASSIGNMENT, "quiz", "when your instructor releases it")
    steps = page(course, "x_mistakes", "reproducibility")
    assert steps != reference[("x_mistakes", "reproducibility")]  # no assignment total: it holds the quiz's
    journal.release_quiz(ASSIGNMENT)
    assert api_generate(course, "course", "x_mistakes")["success"]
    for notebook in NOTEBOOKS:
        assert page(course, "x_mistakes", notebook) == reference[("x_mistakes", notebook)], notebook
    journal.close()


def test_release_feedback_hands_out_the_button_s_pages(graded, tmp_path):
    course = Path(shutil.copytree(graded, tmp_path / "course"))
    assert api_generate(course, "course")["success"]
    (tmp_path / "exchange").mkdir()
    released = nbgrader(course, "release_feedback", ASSIGNMENT, f"--Exchange.root={tmp_path / 'exchange'}")
    assert released.stderr.count("Releasing feedback for student") == len(STUDENTS) * len(NOTEBOOKS)
    out = list((tmp_path / "exchange" / "reproducible-ml" / "feedback").glob("*.html"))
    assert len(out) == len(STUDENTS) * len(NOTEBOOKS)
    assert all("BEGIN HIDDEN TESTS" not in p.read_text() for p in out)


def test_the_probes_find_the_hidden_tests_in_nbgrader_s_stock_page(graded, tmp_path):
    """Control: formgrader's path with nbgrader's own exporter leaks what the probes look for."""
    course = Path(shutil.copytree(graded, tmp_path / "course"))
    assert api_generate(course, "stock", "x_mistakes")["success"]
    text = page(course, "x_mistakes", "quiz")
    assert "BEGIN HIDDEN TESTS" in text
    with pytest.raises(AssertionError):
        assert_safe(text, "x_mistakes", "quiz", step_scores(course))
