"""The quiz (quiz.ipynb): graded out of the kernel by ``GradeQuiz``, facts checked by running code.

* end to end, with the real ``nbgrader autograde`` / ``generate_feedback`` commands in a temp course:
  right, wrong, lower-case, blank and invalid answers; step and quiz scores independent; the
  feedback of unanswered or wrong questions does not depend on the key (so it cannot reveal it);
* every computable fact a question or a practice explanation relies on is re-derived by running
  the code (in fresh processes where the hash seed or OS entropy matters);
* the key matches the instructor notebook, and nothing a student receives contains it.
"""
import importlib.util
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest

from traitlets.config import Config

from autograder.notebook import assignments
from autograder.notebook import expected, quiz
from autograder.course import submissions
from autograder.notebook.expected import reference_solutions
from support import EXPECTED, QUIZ_KEY, ASSIGNMENT, env, nbgrader, step_scores

ROOT = Path(__file__).resolve().parents[1]
QUIZ_SOURCE = ROOT / "source" / ASSIGNMENT / "quiz.ipynb"
REPO_RELEASE = ROOT / "release" / ASSIGNMENT
KEY = quiz.load(QUIZ_KEY)
QIDS = [f"q{n:02d}" for n in range(1, 11)]
STEPS = ("step1", "step2", "step3", "step4")


def wrong(qid: str, shift: int = 1) -> str:
    """A letter that is not the key's for ``qid`` (shift 1 and 2 give two different ones)."""
    letters = KEY[qid]["letters"]
    return letters[(letters.index(KEY[qid]["answer"]) + shift) % len(letters)]


def python(code: str, hashseed=None, check=True) -> str:
    """stdout of ``code`` in a fresh interpreter, PYTHONHASHSEED as given (else random, as in a
    terminal). Not ``-I``: isolated mode ignores PYTHONHASHSEED too."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    if hashseed is not None:
        env["PYTHONHASHSEED"] = str(hashseed)
    proc = subprocess.run([sys.executable, "-s", "-c", code], env=env, capture_output=True,
                          text=True, timeout=60, cwd=tempfile.gettempdir())
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


# ------------------------------------------------------------------ the questions as students see them

def questions(path: Path = QUIZ_SOURCE) -> dict:
    """{qid: {"level", "code", "options": {letter: text}}} parsed from the quiz's markdown."""
    found = {}
    for cell in nbformat.read(path, as_version=4).cells:
        heading = quiz.HEADING.search(cell.source) if cell.cell_type == "markdown" else None
        if heading:
            code = re.search(r"```python\n(.*?)\n```", cell.source, re.S)
            found[f"q{int(heading.group(1)):02d}"] = {
                "level": heading.group(2), "code": code.group(1) if code else None,
                "options": dict(re.findall(r"^- \*\*([A-D])\.\*\* (.*)$", cell.source, re.M))}
    return found


QUESTIONS = questions()


def keyed_option(qid: str) -> str:
    return QUESTIONS[qid]["options"][KEY[qid]["answer"]]


def code_span(text: str):
    match = re.fullmatch(r"`([^`]*)`", text)
    return match.group(1) if match else None


# ------------------------------------------------------------------ end to end: autograde + feedback

def hand_in(course: Path, student: str, steps: dict, quiz_cells: dict) -> None:
    """Submit both notebooks: the step notebook with ``steps`` and the quiz with ``quiz_cells``."""
    submissions.hand_in(course, student, {**steps, **quiz_cells}, ASSIGNMENT)


RIGHT = {qid: f'{qid} = "{KEY[qid]["answer"]}"' for qid in QIDS}
# lower case, spaces inside the quotes, single quotes, an annotated assignment
LOWER = {qid: (f"{qid} = '  {KEY[qid]['answer'].lower()} '" if n % 2 else
               f'{qid}: str = " {KEY[qid]["answer"].lower()}"') for n, qid in enumerate(QIDS)}
# ... and q05 would kill a kernel: the quiz never runs in one (every grade cell is parsed).
LOWER["q05"] += "\nimport os; os._exit(1)"
WRONG = {qid: f'{qid} = "{wrong(qid)}"' for qid in QIDS}
INVALID = {  # q01 is left as released (the raise NotImplementedError stub)
    "q02": 'q02 = ""',
    "q03": 'q03 = "E"',
    "q04": 'q04 = "AB"',
    "q05": "q05 = 5",
    "q06": f"q06 = {KEY['q06']['answer']}",          # the right letter, but without quotes
    "q07": 'q07 = "',                               # does not parse
    "q08": "",
    "q09": f'answer = "{KEY["q09"]["answer"]}"',    # the right letter, in the wrong variable
    "q10": f'q10 = "{wrong("q10")}".lower() if False else "Z"',
}
# Right letters in the kernel's eyes are not enough: this student's code redefines the answers at
# run time and prints "passed" messages, but the answer cells themselves assign wrong letters.
CHEAT = dict(WRONG, q01=WRONG["q01"] + "\nq01 = globals().get('q01_right', 'A')",
             q02=WRONG["q02"] + f"\nexec('q02 = \"{KEY['q02']['answer']}\"')",
             q03=WRONG["q03"] + "\nprint('Question 3: correct.')")
INVALID_MESSAGES = {"q01": "not answered", "q02": "not answered", "q03": "'E' is not one of the offered letters A, B, C, D",
                    "q04": "'AB' is not one of the offered letters A, B, C, D", "q05": "in quotes",
                    "q06": "in quotes", "q07": "syntax error on line 1", "q08": "not answered",
                    "q09": "not answered", "q10": "in quotes"}

def tamper(key_file: Path) -> dict:
    """A step-1 cell (the step notebook runs in a kernel; the quiz, graded just before it, does
    not) that rewrites the key file to match the wrong answers (if it exists)."""
    forged = {"questions": {qid: dict(KEY[qid], answer=wrong(qid)) for qid in QIDS}}
    return {"step1": "import pathlib\n_key = pathlib.Path(%r)\nif _key.exists(): _key.write_text(%r)"
                     % (str(key_file), json.dumps(forged))}


STUDENTS = {  # student -> (step answers, quiz answer cells)
    "all_right": ("reference", RIGHT),
    "lower_case": ("blank", LOWER),
    "x_wrong": ("reference", WRONG),
    "x_invalid": ("blank", INVALID),
    "cheat": ("reference", CHEAT),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory, course_template):
    """One course, every student autograded in one run, feedback generated; then the x_*
    students (quiz answers all wrong, unanswered or invalid) are graded again, in one run, under
    a different key, while x_tamper's kernel rewrites that key file."""
    course = shutil.copytree(course_template, tmp_path_factory.mktemp("quiz") / "course")
    key_file = course / "source" / ASSIGNMENT / "quiz.expected.json"  # the course's key
    reference = reference_solutions(EXPECTED.with_name('reproducibility.ipynb'))
    students = dict(STUDENTS, x_tamper=(tamper(key_file), WRONG))
    answers = {"reference": {s: reference[s] for s in STEPS}, "blank": {}}
    for student, (steps, cells) in students.items():
        hand_in(course, student, answers[steps] if isinstance(steps, str) else steps, cells)
    nbgrader(course, "autograde", ASSIGNMENT, "--force")
    nbgrader(course, "generate_feedback", ASSIGNMENT, "--force")
    scores = step_scores(course)
    first = {student: (course / "feedback" / student / ASSIGNMENT / "quiz.html").read_text(encoding="utf-8")
             for student in ("x_wrong", "x_invalid")}
    # A key that differs from the real one on every question and from every wrong answer given.
    other_key = {"questions": {qid: dict(KEY[qid], answer=wrong(qid, 2)) for qid in QIDS}}
    key_file.write_text(json.dumps(other_key), encoding="utf-8")
    # one run for both (x_*): each nbgrader process costs seconds
    nbgrader(course, "autograde", ASSIGNMENT, "--force", "--student=x_*")
    nbgrader(course, "generate_feedback", ASSIGNMENT, "--force", "--student=x_*")
    second = {student: (course / "feedback" / student / ASSIGNMENT / "quiz.html").read_text(encoding="utf-8")
              for student in first}
    regraded, key_after_sandboxed = step_scores(course), key_file.read_bytes()
    # Once more without the sandbox, so that x_tamper's kernel really reaches the key file: the
    # grader must have read the key before that kernel ran (x_wrong is graded after it).
    unsandboxed = subprocess.run(
        [sys.executable, "-m", "nbgrader", "autograde", ASSIGNMENT, "--force", "--student=x_[tw]*"], cwd=course, env=env(AUTOGRADER_SANDBOX="off"),
        capture_output=True, text=True)
    assert unsandboxed.returncode == 0, unsandboxed.stderr[-3000:]
    return {"course": course, "scores": scores, "feedback": first, "feedback_other_key": second,
            "regraded": regraded, "other_key": json.dumps(other_key).encode(),
            "key_after_sandboxed": key_after_sandboxed, "key_after_unsandboxed": key_file.read_bytes(),
            "unsandboxed": step_scores(course), "unsandboxed_stderr": unsandboxed.stderr}


def quiz_total(cells: dict) -> float:
    return sum(score for name, score in cells.items() if name.startswith("test_q"))


def step_part(cells: dict) -> dict:
    return {name: score for name, score in cells.items() if name.startswith("test_step")}


def autograded_outputs(course: Path, student: str) -> dict:
    nb = nbformat.read(course / "autograded" / student / ASSIGNMENT / "quiz.ipynb", as_version=4)
    return {cell.metadata.nbgrader["grade_id"]: cell.outputs for cell in nb.cells
            if cell.metadata.get("nbgrader", {}).get("grade")}


def test_all_right_gives_full_quiz_marks(graded):
    cells = graded["scores"]["all_right"]
    assert {qid: cells[f"test_{qid}"] for qid in QIDS} == {qid: 1 for qid in QIDS}


def test_lower_case_and_spaces_count_and_the_quiz_never_runs_in_a_kernel(graded):
    """Every grade cell of the quiz is parsed, so no kernel is started for it: no code cell has an
    execution count or output but the verdicts (q05's ``os._exit`` never ran)."""
    assert quiz_total(graded["scores"]["lower_case"]) == 10
    quiz_nb = nbformat.read(graded["course"] / "autograded" / "lower_case" / ASSIGNMENT / "quiz.ipynb", 4)
    code = [c for c in quiz_nb.cells if c.cell_type == "code"]
    assert not any(c.execution_count for c in code)
    assert not any(c.outputs for c in code if not c.metadata.get("nbgrader", {}).get("grade"))


def test_all_wrong_gives_zero(graded):
    assert quiz_total(graded["scores"]["x_wrong"]) == 0


def test_invalid_and_blank_answers_score_zero_with_a_message(graded):
    assert quiz_total(graded["scores"]["x_invalid"]) == 0
    outputs = autograded_outputs(graded["course"], "x_invalid")
    for qid, words in INVALID_MESSAGES.items():
        (out,) = outputs[f"test_{qid}"]
        assert out.output_type == "error" and words in out.evalue, (qid, out)


def test_kernel_tricks_do_not_change_the_quiz_grade(graded):
    assert quiz_total(graded["scores"]["cheat"]) == 0


@pytest.mark.bwrap
def test_the_sandboxed_kernel_cannot_reach_the_key_file(graded):
    """x_tamper's kernel tried to rewrite the key file during the second (sandboxed) run."""
    assert graded["key_after_sandboxed"] == graded["other_key"]
    assert quiz_total(graded["regraded"]["x_tamper"]) == quiz_total(graded["regraded"]["x_wrong"]) == 0


@pytest.mark.bwrap
def test_a_key_rewritten_from_the_kernel_is_not_used(graded):
    """Unsandboxed, x_tamper's step-notebook kernel does rewrite the key file so that its (and
    x_wrong's, graded after it) answers would be right; the grades stay 0 because the grader read
    the key before any kernel ran."""
    assert "GRADING RUNS UNSANDBOXED" in graded["unsandboxed_stderr"]
    forged = json.loads(graded["key_after_unsandboxed"])["questions"]
    assert all(forged[qid]["answer"] == wrong(qid) for qid in QIDS), "the tamper did not reach the key"
    assert quiz_total(graded["unsandboxed"]["x_tamper"]) == quiz_total(graded["unsandboxed"]["x_wrong"]) == 0


def test_the_key_is_read_once_before_any_kernel_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(quiz, "_KEYS", {})
    folder = shutil.copytree(QUIZ_KEY.parent, tmp_path / "source" / ASSIGNMENT)
    config = Config({"CourseDirectory": {"root": str(tmp_path)}})
    first = quiz.GradeQuiz(config=config)  # nbgrader builds it before the kernel starts
    (folder / QUIZ_KEY.name).write_text(json.dumps({"questions": {qid: dict(KEY[qid], answer=wrong(qid)) for qid in QIDS}}),
                                        encoding="utf-8")
    assert first.quizzes[ASSIGNMENT, "quiz"][1] == quiz.GradeQuiz(config=config).quizzes[ASSIGNMENT, "quiz"][1] == KEY


def test_step_and_quiz_scores_are_independent(graded):
    scores = graded["scores"]
    full_steps = step_part(scores["all_right"])
    assert full_steps and all(step_part(scores[s]) == full_steps for s in ("x_wrong", "cheat"))
    assert sum(full_steps.values()) == 8
    # the steps were blank for lower_case and invalid: 0 there, whatever the quiz answers
    assert all(sum(step_part(scores[s]).values()) == 0 for s in ("lower_case", "x_invalid"))
    assert quiz_total(scores["all_right"]) == quiz_total(scores["lower_case"]) == 10


def test_feedback_of_wrong_or_blank_answers_does_not_depend_on_the_key(graded):
    """Graded again under a key that differs on every question, the feedback HTML of students
    who got every question wrong or left it blank is byte for byte the same: it carries no
    information about the correct letters."""
    assert all(quiz_total(graded["regraded"][s]) == 0 for s in graded["feedback"])
    for student, html in graded["feedback"].items():
        assert html == graded["feedback_other_key"][student], student
        for qid in QIDS:
            assert f"{KEY[qid]['answer']} is correct" not in html
            assert not re.search(rf"{qid}\s*=\s*(&quot;|&#34;|[\"']){KEY[qid]['answer']}", html)
    assert "is not the right answer" in graded["feedback"]["x_wrong"]


# ------------------------------------------------------------------ GradeQuiz on its own (fast)

@pytest.mark.parametrize("source, status, letter", [
    (None, "missing", None),
    ("# YOUR CODE HERE\nraise NotImplementedError()", "blank", None),
    ("", "blank", None),
    ('q01 = ""', "blank", None),
    ('q01 = "   "', "blank", None),
    ('q01 = " c "', "letter", "C"),
    ("q01 = 'b'", "letter", "B"),
    ('q01: str = "d"', "letter", "D"),
    ('q01 = "A"\nq01 = "B"', "letter", "B"),
    ('### BEGIN SOLUTION\nq01 = "A"\n### END SOLUTION', "letter", "A"),
    ('q01 = "E"', "letter", "E"),
    ("q01 = A", "not_string", None),
    ('q01 = "A" + ""', "not_string", None),
    ('q01 = f"A"', "not_string", None),
    ('q01 = "A', "syntax", 1),
    ('q02 = "A"', "blank", None),
    ('if True:\n    q01 = "A"', "blank", None),
])
def test_read_answer(source, status, letter):
    assert quiz.read_answer(source, "q01") == (status, letter)


def test_no_verdict_on_a_wrong_or_blank_answer_depends_on_the_key():
    """Exhaustive over keys: for every non-correct answer the message is the same whichever
    letter is right, and never contains a correct letter except as the student's own answer."""
    answers = [None, "", 'q01 = ""', 'q01 = "e"', "q01 = 3", 'q01 = "', 'q01 = "abcd"'] + \
              [f'q01 = "{x}"' for x in "ABCD"]
    for source in answers:
        verdicts = {key: quiz.judge("q01", source, {"answer": key, "letters": "ABCD"}, "Question 1") for key in "ABCD"}
        not_correct = {key: v.message for key, v in verdicts.items() if not v.passed}
        assert len(set(not_correct.values())) <= 1, (source, not_correct)


def test_invalid_letter_message_names_the_valid_letters():
    verdict = quiz.judge("q03", 'q03 = "x"', {"answer": "A", "letters": "ABCD"}, "Question 3")
    assert not verdict.passed and "A, B, C, D" in verdict.message


# ------------------------------------------------------------------ the key and the notebook

def test_key_matches_the_source_notebook():
    graded = next(g for g in assignments.declared(QUIZ_KEY.parents[1], ASSIGNMENT) if g.kind == "quiz")
    assert expected.dumps(expected.derive(graded)) == QUIZ_KEY.read_text(encoding="utf-8"), \
        "run: python -m autograder expected"


def test_ten_questions_with_levels_and_four_options():
    assert sorted(KEY) == QIDS == sorted(QUESTIONS)
    levels = [KEY[qid]["level"] for qid in QIDS]
    assert levels.count("easy") >= 3 and levels.count("medium") >= 4 and levels.count("hard") >= 3
    for qid in QIDS:
        assert QUESTIONS[qid]["level"] == KEY[qid]["level"]
        assert sorted(QUESTIONS[qid]["options"]) == list("ABCD") == list(KEY[qid]["letters"])
    assert sum(QUESTIONS[qid]["code"] is not None and "print" in QUESTIONS[qid]["code"] for qid in QIDS) >= 2


def test_cells_have_the_nbgrader_layout():
    cells = nbformat.read(QUIZ_SOURCE, as_version=4).cells
    by_id = {c.metadata["nbgrader"]["grade_id"]: c for c in cells if "nbgrader" in c.metadata}
    assert sorted(by_id) == sorted(QIDS + [f"test_{qid}" for qid in QIDS])
    for qid in QIDS:
        answer, test = by_id[qid], by_id[f"test_{qid}"]
        assert answer.metadata.nbgrader == {"grade": False, "solution": True, "locked": False,
                                            "grade_id": qid, "schema_version": 3}
        assert answer.source.splitlines() == ["### BEGIN SOLUTION", f'{qid} = "{KEY[qid]["answer"]}"',
                                              "### END SOLUTION"]
        assert test.metadata.nbgrader == {"grade": True, "solution": False, "locked": True, "points": 1,
                                          "grade_id": f"test_{qid}", "schema_version": 3}
        assert cells.index(test) == cells.index(answer) + 1
        hidden = test.source.split("### BEGIN HIDDEN TESTS")[1]
        assert all(line.startswith("#") for line in hidden.splitlines() if line.strip()), \
            "the hidden region is only a comment: the answer is checked outside the kernel"
    assert all(c.get("outputs", []) == [] and c.get("execution_count") is None
               for c in cells if c.cell_type == "code")


def test_practice_and_test_questions_differ():
    practice = load_practice(ROOT / "source" / ASSIGNMENT / "practice.py")
    for q in practice.QUESTIONS.values():
        for test_q in QUESTIONS.values():
            assert set(q["options"].values()) != set(test_q["options"].values())


# ------------------------------------------------------------------ what students receive

def release_texts(folder: Path) -> dict:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(folder.iterdir()) if p.is_file()}


def test_release_is_generated_and_in_sync(course_template):
    generated = release_texts(course_template / "release" / ASSIGNMENT)
    committed = release_texts(REPO_RELEASE)
    for name in ("quiz.ipynb", "practice.py"):
        assert committed.get(name) == generated[name], \
            f"release/{ASSIGNMENT}/{name} is stale: run nbgrader generate_assignment {ASSIGNMENT} --force"


def test_release_holds_no_quiz_answer():
    from nbgrader.utils import compute_checksum
    texts = release_texts(REPO_RELEASE)
    assert "expected.json" not in texts and not (REPO_RELEASE / "autograder").exists()
    order = "".join(KEY[qid]["answer"] for qid in QIDS)
    for name, text in texts.items():
        assert order not in text and order.lower() not in text, name
        for qid in QIDS:  # no `q01 = "C"`, `"q01": "C"`, `q01: C` ...
            pattern = rf"{qid}\W{{1,8}}{KEY[qid]['answer']}(?![A-Za-z])"
            assert not re.search(pattern, text), (name, qid)
    nb = nbformat.read(REPO_RELEASE / "quiz.ipynb", as_version=4)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        assert "BEGIN HIDDEN TESTS" not in cell.source and "BEGIN SOLUTION" not in cell.source
        if meta.get("solution"):
            assert cell.source == "# YOUR CODE HERE\nraise NotImplementedError()"
        if "checksum" in meta:  # a checksum of what the student sees, not of the solution
            assert meta["checksum"] == compute_checksum(cell)


def test_visible_checks_only_check_the_form(monkeypatch):
    """The visible test cells (one line each, calling the released checks.py) run the same for
    every letter: each of A-D passes them, whatever the key; lower case passes; anything else
    fails naming the valid letters."""
    monkeypatch.syspath_prepend(str(REPO_RELEASE))  # where a student's kernel finds checks.py
    monkeypatch.delitem(sys.modules, "checks", raising=False)
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # keep release/ free of __pycache__
    nb = nbformat.read(REPO_RELEASE / "quiz.ipynb", as_version=4)
    tests = {c.metadata.nbgrader["grade_id"]: c.source for c in nb.cells
             if c.metadata.get("nbgrader", {}).get("grade")}
    for qid in QIDS:
        code = tests[f"test_{qid}"]
        for letter in ["A", "B", "C", "D", " b "]:
            exec(code, {qid: letter})
        for bad in ["E", "", 3]:
            with pytest.raises(AssertionError) as error:
                exec(code, {qid: bad})
            assert "A, B, C, D" in str(error.value) or "quotes" in str(error.value) or "empty" in str(error.value)
        with pytest.raises(AssertionError, match="not answered yet"):
            exec(code, {})


# ------------------------------------------------------------------ the practice round

def load_practice(path: Path):
    sys.dont_write_bytecode, before = True, sys.dont_write_bytecode  # keep source/ free of __pycache__
    try:
        spec = importlib.util.spec_from_file_location("practice_under_test", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = before
    return module


@pytest.fixture(scope="module")
def practice():
    return load_practice(REPO_RELEASE / "practice.py")


def test_practice_feedback(practice):
    assert len(practice.QUESTIONS) == 5
    for number, q in practice.QUESTIONS.items():
        right = practice.feedback(number, q["answer"].lower() + " ")
        assert right.correct is True and "Step 1:" in right.markdown and "Quick check:" in right.markdown
        for letter in set("ABCD") - {q["answer"]}:
            miss = practice.feedback(number, letter)
            assert miss.correct is False and q["mistakes"][letter] in miss.markdown
            assert "Quick check" not in miss.markdown  # a wrong letter gets the mistake, not the answer
        assert "A, B, C or D" in practice.feedback(number, "").markdown
        assert "A, B, C or D" in practice.feedback(number, "E").markdown
        assert q["options"][q["answer"]] not in q["hint"]


def test_practice_cells_show_feedback_in_plain_python(practice, capsys):
    practice.check(1, "")
    practice.hint(2)
    practice.solution(3)
    out = capsys.readouterr().out
    assert "Hint for question 2" in out and "Solution to question 3" in out


def test_notebook_practice_questions_match_the_module(practice):
    text = "\n".join(c.source for c in nbformat.read(QUIZ_SOURCE, as_version=4).cells)
    for number, q in practice.QUESTIONS.items():
        assert f"### Practice {number} — *{q['level']}*" in text
        for letter, option in q["options"].items():
            assert f"- **{letter}.** {option}" in text
        assert f'practice.check({number}, "")' in text and f"practice.hint({number})" in text


def test_practice_3_prints_2(practice):
    q = practice.QUESTIONS[3]
    assert python(q["code"]) == "2" and q["options"][q["answer"]].startswith("2,")


def test_practice_5_rerun_without_seed_gives_other_scores(practice):
    cell1, cell2 = practice.QUESTIONS[5]["code"].split("# cell 2")
    first, again = python(cell1 + cell2 + cell2).splitlines()
    assert first != again and len(eval(again)) == 5  # noqa: S307 - our own printed list
    assert python(cell1 + cell2 + cell1 + cell2).splitlines()[0] == first


# ------------------------------------------------------------------ facts behind the test questions

def test_printed_output_questions_key_the_printed_text():
    """q04, q05: the snippet's output is exactly the keyed option, and no other option."""
    checked = 0
    for qid in QIDS:
        spans = {letter: code_span(text) for letter, text in QUESTIONS[qid]["options"].items()}
        if QUESTIONS[qid]["code"] and spans[KEY[qid]["answer"]] is not None:
            out = python(QUESTIONS[qid]["code"])
            assert [letter for letter, span in spans.items() if span == out] == [KEY[qid]["answer"]], qid
            checked += 1
    assert checked >= 2


def test_q05_distractor_is_the_sequence_without_reseeding():
    code = QUESTIONS["q05"]["code"].replace("    random.seed(42)\n", "").replace("scores = []", "random.seed(42)\nscores = []")
    assert python(code) == code_span(QUESTIONS["q05"]["options"]["B"])


def test_q02_only_an_exact_pin_admits_one_version():
    from packaging.requirements import Requirement
    versions = ["1.26.4", "2.0.0", "2.4.0", "2.4.5", "2.4.6", "2.5.0", "3.0.0"]
    admitted = {letter: list(Requirement(code_span(text)).specifier.filter(versions))
                for letter, text in QUESTIONS["q02"]["options"].items()}
    assert [letter for letter, ok in admitted.items() if len(ok) == 1] == [KEY["q02"]["answer"]]
    assert admitted[KEY["q02"]["answer"]] == ["2.4.6"]


def test_q03_random_seed_does_not_seed_numpy():
    code = "import random\nrandom.seed(42)\nimport numpy as np\nprint(np.random.random(), np.random.default_rng().random())"
    first, second = python(code).split(), python(code).split()
    assert first[0] != second[0] and first[1] != second[1]
    assert "Only Python's `random`" in keyed_option("q03")


def test_q06_same_seed_different_library_algorithm_gives_different_numbers():
    """The key's claim: the same seed feeds different computations in different setups (here the
    legacy and the new NumPy generators, as after a library change)."""
    import numpy as np
    np.random.seed(42)
    legacy = np.random.randint(80, 101, size=5).tolist()
    assert legacy != np.random.default_rng(42).integers(80, 101, size=5).tolist()
    assert "environments differ" in keyed_option("q06")


def test_q07_set_order_changes_between_processes():
    code = QUESTIONS["q07"]["code"]
    written = ["apple", "banana", "cherry", "date"]
    orders = {python(code, hashseed=h) for h in range(12)}
    assert len(orders) >= 2
    assert any(eval(order) not in (written, sorted(written)) for order in orders)  # noqa: S307
    assert python(code, hashseed=5) == python(code, hashseed=5)  # pinned before start: stable
    assert python("print(hash('apple'))", hashseed=5) != python("print(hash('apple'))", hashseed=6)
    assert len({python(code) for _ in range(8)}) >= 2  # hash seed left random, as in a terminal
    assert "string hashes are randomised" in keyed_option("q07")


def test_q08_unseeded_default_rng_ignores_the_legacy_seed():
    code = QUESTIONS["q08"]["code"]
    first, second = python(code), python(code)
    assert first != second and first.isdigit() and second.isdigit()
    assert keyed_option("q08").startswith("Two different numbers")


@pytest.mark.parametrize("letter, loop, stable, words", [
    ("A", "for name in sorted(set(file_names)):", True, "sorted(set(file_names))"),
    ("B", "random.seed(42)\nfor name in set(file_names):", False, "random.seed(42)"),
    ("C", "for name in set(file_names):", False, "PYTHONHASHSEED"),  # os.environ set at the top
    ("D", "for name in list(set(file_names)):", False, "list(set(file_names))"),
])
def test_q09_which_fix_makes_the_order_stable(letter, loop, stable, words):
    prelude = 'import os\nos.environ["PYTHONHASHSEED"] = "0"\n' if letter == "C" else ""
    code = (prelude + "import random\nfile_names = ['a.csv', 'b.csv', 'c.csv', 'd.csv', 'e.csv']\n"
            "order = []\n" + loop + "\n    order.append(name)\nprint(order)")
    orders = {python(code, hashseed=h) for h in range(12)}
    assert (len(orders) == 1) is stable
    assert (letter == KEY["q09"]["answer"]) is stable
    assert words in QUESTIONS["q09"]["options"][letter]


def test_q10_one_seed_can_flip_a_comparison():
    """The key's claim: a 0.006 gap at one seed says little; over several seeds the spread of a
    seeded model is of that size. Simulated: the same 'model' scored on seeded random splits."""
    import random
    import statistics

    def accuracy(seed, skill):
        rng = random.Random(seed)
        return sum(rng.random() < skill for _ in range(500)) / 500

    v1 = [accuracy(seed, 0.91) for seed in range(10)]
    v2 = [accuracy(seed + 1000, 0.91) for seed in range(10)]  # the same skill: no real change
    assert statistics.stdev(v1) > 0.006 and any(b - a >= 0.006 for a, b in zip(v1, v2))
    assert "mean and spread" in keyed_option("q10")


def test_build_helpers_are_consistent():
    assert all(wrong(qid) != KEY[qid]["answer"] != wrong(qid, 2) != wrong(qid) for qid in QIDS)
    assert set(itertools.chain.from_iterable(KEY[q]["letters"] for q in QIDS)) == set("ABCD")
