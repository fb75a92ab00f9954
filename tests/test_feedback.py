"""Feedback HTML (``python -m autograder.course.feedback``): points and teaching messages, no secrets.

End to end with the real ``nbgrader autograde`` in a temp course: for each step and quiz question
the page shows the points from the gradebook and the message of each failed check; it shows no
test code (visible or hidden), no stored expected value and no correct quiz letter. For the quiz
this is proved the strong way: graded again under a key that differs on every question, the
feedback of wrong or blank answers is byte for byte the same.
"""
import html
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.notebook import assignments
from autograder.notebook import expected
from autograder.course import feedback
from corpus import reproducibility
from support import EXPECTED, QUIZ_KEY, ASSIGNMENT, ROOT, env, fill, nbgrader, release_notebook, step_scores, submit

pytestmark = pytest.mark.slow

TITLES = assignments.titles(ROOT / "source", ASSIGNMENT)  # what the pages call each item

REFERENCE = reproducibility.REFERENCE
DATA = expected.load(EXPECTED)


def stored_values(data: dict) -> tuple:
    """(every non-empty list the stored outcomes hold, as Python values; every printed text)."""
    lists, printed = [], []
    for outcome in data["outcomes"].values():
        for kind, value in outcome["names"].values():
            if kind == "list" and value:
                lists.append([item for _, item in value])
        if outcome["stdout"].strip():
            printed.append(outcome["stdout"].strip())
    return lists, printed


SCORES_42 = [item for _, item in DATA["outcomes"]["step3"]["names"]["accuracy_scores"][1]]
HAS_QUIZ = (ROOT / "source" / ASSIGNMENT / "quiz.ipynb").exists()

if HAS_QUIZ:
    from autograder.notebook import quiz
    KEY = quiz.load(QUIZ_KEY)
    QIDS = sorted(KEY)

    def wrong(qid, shift=1):
        letters = KEY[qid]["letters"]
        return letters[(letters.index(KEY[qid]["answer"]) + shift) % len(letters)]

    RIGHT = {qid: f'{qid} = "{KEY[qid]["answer"]}"' for qid in QIDS}
    WRONG = {qid: f'{qid} = "{wrong(qid)}"' for qid in QIDS}
    BLANK_AND_WRONG = {qid: (f'{qid} = "{wrong(qid)}"' if n % 2 else f'{qid} = ""')
                       for n, qid in enumerate(QIDS)}
else:
    RIGHT = WRONG = BLANK_AND_WRONG = None

STUDENTS = {  # student -> (step answers, quiz answers or None)
    "full_marks": (REFERENCE, RIGHT),
    "x_mistakes": ({**REFERENCE, "step2": reproducibility.STEP2_SEED_7,
                    "step3": reproducibility.STEP3_RANGE_6,
                    "step4": "print('my scores')"}, WRONG),
    "x_hard_coded": ({**REFERENCE, "step2": reproducibility.STEP2_NO_SEED,
                      "step3": f"accuracy_scores = {SCORES_42}",
                      "step4": f"print('{SCORES_42}')"}, BLANK_AND_WRONG),
    "x_blank": ({}, {}),
}


def hand_in(course, student, steps, quiz_cells):
    submit(course, student, fill(release_notebook(course), steps))
    if HAS_QUIZ and quiz_cells is not None:
        nbformat.write(fill(release_notebook(course, "quiz.ipynb"), quiz_cells),
                       course / "submitted" / student / ASSIGNMENT / "quiz.ipynb")


def pages(course, notebook):
    return {student: (course / "feedback" / student / ASSIGNMENT / f"{notebook}.html").read_text(encoding="utf-8")
            for student in STUDENTS
            if (course / "feedback" / student / ASSIGNMENT / f"{notebook}.html").exists()}


@pytest.fixture(scope="module")
def graded(course_template, tmp_path_factory):
    course = Path(shutil.copytree(course_template, tmp_path_factory.mktemp("feedback") / "course"))
    for student, (steps, quiz_cells) in STUDENTS.items():
        hand_in(course, student, steps, quiz_cells)
    nbgrader(course, "autograde", ASSIGNMENT, "--force")
    written = feedback.generate(course, ASSIGNMENT)
    result = {"course": course, "written": written, "steps": pages(course, "reproducibility"),
              "scores": step_scores(course)}
    if HAS_QUIZ:
        result["quiz"] = pages(course, "quiz")
        # Graded again under a key that differs from the real one on every question.
        other = {"questions": {qid: dict(KEY[qid], answer=wrong(qid, 2)) for qid in QIDS}}
        (course / "source" / ASSIGNMENT / QUIZ_KEY.name).write_text(json.dumps(other), encoding="utf-8")
        nbgrader(course, "autograde", ASSIGNMENT, "--force", "--student=x_*")
        feedback.generate(course, ASSIGNMENT, students={s for s in STUDENTS if s.startswith("x_")})
        result["quiz_other_key"] = pages(course, "quiz")
    return result


def rows(page: str) -> dict:
    """{item label: (points text, what the grader found)} from a feedback page."""
    found = {}
    for label, points, found_text in re.findall(
            r"<tr><td>(.*?)</td><td class=\"\w+\">(.*?)</td><td>(.*?)</td></tr>", page):
        found[html.unescape(label)] = (points, html.unescape(re.sub("<[^>]+>", " ", found_text)))
    return found


def test_command_writes_one_page_per_student_and_notebook(graded):
    names = {(p.parts[-3], p.name) for p in graded["written"]}
    expected_names = {(s, "reproducibility.html") for s in STUDENTS}
    if HAS_QUIZ:
        expected_names |= {(s, "quiz.html") for s in STUDENTS if STUDENTS[s][1] is not None}
    assert expected_names <= names


def test_points_per_step_match_the_gradebook(graded):
    for student, page in graded["steps"].items():
        table = rows(page)
        for grade_id, score in graded["scores"][student].items():
            if grade_id.startswith("test_step"):
                label = feedback.label(grade_id, TITLES)
                assert table[label][0].split(" / ")[0] == f"{score:g}", (student, label)


def test_failed_checks_show_their_teaching_message(graded):
    table = rows(graded["steps"]["x_mistakes"])
    assert "seeded with 7" in table["Step 2"][1]
    assert "holds 6 scores" in table["Step 3"][1]
    assert "print the value itself" in table["Step 4"][1]
    assert table["Step 1"][1] == "passed"
    blank = rows(graded["steps"]["x_blank"])
    assert all("not answered yet" in blank[f"Step {n}"][1] for n in range(1, 5))


def test_no_test_code_no_traceback(graded):
    for page in [*graded["steps"].values(), *graded.get("quiz", {}).values()]:
        for text in ("BEGIN HIDDEN TESTS", "Decided outside your kernel", "assert ", "Traceback",
                     "BEGIN SOLUTION"):
            assert text not in page, text


def test_no_stored_expected_value_in_a_failing_submission(graded):
    lists, printed = stored_values(DATA)
    assert SCORES_42 in lists and printed  # the secrets searched for are really there
    secrets = printed + [text for values in lists for text in (str(values), ", ".join(map(str, values)))]
    for student in ("x_mistakes", "x_hard_coded", "x_blank"):
        page = html.unescape(graded["steps"][student])
        for secret in secrets:
            assert secret not in page, (student, secret)


@pytest.mark.skipif(not HAS_QUIZ, reason="quiz.ipynb does not exist yet")
def test_quiz_points_and_messages(graded):
    full = rows(graded["quiz"]["full_marks"])
    assert all(full[feedback.label(f"test_{qid}", TITLES)][1] == "passed" for qid in QIDS)
    wrong_rows = rows(graded["quiz"]["x_mistakes"])
    for qid in QIDS:
        points, text = wrong_rows[feedback.label(f"test_{qid}", TITLES)]
        assert points.startswith("0 /") and "is not the right answer" in text
        # the only letter the row names is the student's own
        assert re.findall(r"\b[A-Z]\b", text) == [wrong(qid)], (qid, text)


@pytest.mark.skipif(not HAS_QUIZ, reason="quiz.ipynb does not exist yet")
def test_quiz_feedback_of_wrong_or_blank_answers_does_not_depend_on_the_key(graded):
    for student in ("x_mistakes", "x_hard_coded", "x_blank"):
        assert graded["quiz"][student] == graded["quiz_other_key"][student], student
        for qid in QIDS:
            assert f"{KEY[qid]['answer']} is correct" not in graded["quiz"][student]


def test_release_feedback_finds_what_it_needs(graded, tmp_path):
    """``nbgrader release_feedback`` reads timestamp.txt and submission_secret.txt beside the pages
    (it stopped with FileNotFoundError before): the secret of a submission made with ``nbgrader
    submit`` is copied, a submission made otherwise gets a random one and is reported."""
    course = graded["course"]
    secret = "ab" * 64
    (course / "autograded" / "full_marks" / ASSIGNMENT / "submission_secret.txt").write_text(secret)
    notes = {}
    feedback.generate(course, ASSIGNMENT, notes=notes)
    assert sorted(notes["unfetchable"]) == sorted(s for s in STUDENTS if s != "full_marks")
    assert notes["ungraded"] == []
    folder = course / "feedback" / "full_marks" / ASSIGNMENT
    assert (folder / "submission_secret.txt").read_text() == secret
    others = {(course / "feedback" / s / ASSIGNMENT / "submission_secret.txt").read_text()
              for s in STUDENTS if s != "full_marks"}
    assert len(others) == len(STUDENTS) - 1 and all(re.fullmatch("[0-9a-f]{128}", s) for s in others)
    (tmp_path / "exchange").mkdir()  # release_assignment makes it; this test starts at the feedback
    released = nbgrader(course, "release_feedback", ASSIGNMENT, f"--Exchange.root={tmp_path / 'exchange'}")
    assert released.stderr.count("Releasing feedback for student") == len(graded["written"])


def feedback_command(folder, *args):
    environ = env()
    environ.pop("COURSE_DB_URL", None)
    return subprocess.run([sys.executable, "-m", "autograder.course.feedback", *args], cwd=folder,
                          env=environ, capture_output=True, text=True)


def test_nothing_graded_is_an_error_that_says_to_grade_first(course, tmp_path):
    """A course with the assignment but no graded submission, then a folder with no gradebook:
    no page, exit 2, the command to run first; and no empty gradebook left behind."""
    proc = feedback_command(course, ASSIGNMENT)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "no feedback page written" in proc.stderr and "wrote" not in proc.stdout
    assert f"Grade first: python -m autograder grade {ASSIGNMENT}" in proc.stderr
    empty = tmp_path / "not_a_course"
    empty.mkdir()
    proc = feedback_command(empty, ASSIGNMENT)
    assert proc.returncode == 2
    assert f"no gradebook at {empty / 'gradebook.db'}" in proc.stderr
    assert f"Grade first: python -m autograder grade {ASSIGNMENT}" in proc.stderr
    assert list(empty.iterdir()) == []
    for out in (proc.stdout, proc.stderr):
        assert "Traceback" not in out


def test_a_mistyped_assignment_names_the_ones_there_are(course):
    proc = feedback_command(course, "reproducibilty")
    assert proc.returncode == 2
    assert f"has no assignment 'reproducibilty' (it has: {ASSIGNMENT})" in proc.stderr


def test_help_is_written_for_the_instructor():
    """What it does, where the pages go, how to hand them back; nothing about its insides."""
    proc = feedback_command(ROOT, "--help")
    assert proc.returncode == 0
    text = proc.stdout
    for needed in ("python -m autograder grade", "feedback/<student>/<assignment>/<notebook>.html",
                   "nbgrader release_feedback", "Hidden tests"):
        assert needed in text, needed
    for inside in ("evalue", "#917", "preprocessor", "``"):
        assert inside not in text, inside
