"""A multiple-choice quiz: answer reading, the verdict, the ``GradeQuiz`` preprocessor, the key.

A quiz notebook declares its questions in ``<notebook>.grading.json`` (:mod:`autograder.notebook.assignments`):
``{"notebook", "questions": [{"id", "tests", "title"}, ...]}``.
Each question has an answer cell (grade_id: the question's id; the student assigns a letter, as a
string, to a variable of that name) and test cells. ``GradeQuiz`` reads the answer cells'
*source* from the notebook being graded, parses it with :mod:`ast` (never runs it), and sets each
test cell's outputs to the verdict, whatever the kernel printed there. No verdict message names
a correct letter.

The key is derived from the instructor notebook (the solution cell's letter; the offered letters
and the level from the question's markdown cell: a heading ``### Question N — *easy*`` and
options ``- **A.** ...``) into ``<notebook>.expected.json`` by ``python -m autograder expected``.
"""
import ast
import json
import re
from pathlib import Path

from nbgrader.preprocessors import NbGraderPreprocessor

from . import assignments
from .cells import answer_sources, show_verdict
from .steps import Verdict

HEADING = re.compile(r"^### Question (\d+) — \*(easy|medium|hard)\*$", re.M)
OPTION = re.compile(r"^- \*\*([A-Z])\.\*\* ", re.M)


def declared(data: dict) -> list:
    """The questions of a quiz declaration, checked: a ValueError names the field that is wrong."""
    questions = data.get("questions") if type(data) is dict else None
    if type(questions) is not list or not questions:
        raise ValueError("questions: must be a non-empty list")
    seen = set()
    for n, question in enumerate(questions):
        if type(question) is not dict or type(question.get("id")) is not str or not question["id"].isidentifier():
            raise ValueError(f"questions[{n}].id: must be a Python name (the answer cell assigns it)")
        if question["id"] in seen:
            raise ValueError(f"questions[{n}].id: {question['id']!r} declared twice")
        tests = question.get("tests")
        if type(tests) is not list or not tests or not all(type(t) is str and t for t in tests):
            raise ValueError(f"questions[{n}].tests: must be a non-empty list of grade ids")
        if type(question.get("title", "")) is not str:
            raise ValueError(f"questions[{n}].title: must be text")
        seen.add(question["id"])
    return questions


# ---------------------------------------------------------------- reading an answer cell

def read_answer(source, name: str) -> tuple:
    """``(status, letter)`` for the answer cell ``source`` of the question whose answer variable
    is ``name``.

    status is ``"missing"`` (no cell), ``"blank"`` (nothing assigned, or an empty string),
    ``"syntax"`` (the cell does not parse; letter is the line number), ``"not_string"`` (the value
    assigned is not a string literal) or ``"letter"`` (letter: the string, stripped and upper
    case). The last top-level assignment to ``name`` counts, as it would when the cell runs.
    """
    if source is None:
        return "missing", None
    try:
        tree = ast.parse(source)
    except SyntaxError as error:
        return "syntax", error.lineno
    value = None
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == name for t in node.targets):
            value = node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) \
                and node.target.id == name and node.value is not None:
            value = node.value
    if value is None:
        return "blank", None
    if not (isinstance(value, ast.Constant) and isinstance(value.value, str)):
        return "not_string", None
    letter = value.value.strip().upper()
    return ("letter", letter) if letter else ("blank", None)


def judge(name: str, source, entry: dict, title: str) -> Verdict:
    """The verdict on question ``name`` (its ``title`` in messages) given its answer cell
    ``source`` and its key ``entry``. Messages never name the correct letter: only the student's
    own answer and the valid letters."""
    letters = entry["letters"]
    valid = ", ".join(letters)
    status, letter = read_answer(source, name)
    if status == "missing":
        return Verdict(False, f"{title}: the answer cell {name} is missing from the notebook.")
    if status == "blank":
        return Verdict(False, f"{title} was not answered: assign one of the letters "
                              f"{valid} to {name}, as a string. It scores 0.")
    if status == "syntax":
        return Verdict(False, f"{title}: the answer cell has a syntax error on line "
                              f"{letter}, so no answer could be read. It scores 0.")
    if status == "not_string":
        return Verdict(False, f"{title}: {name} must be one of the letters {valid} "
                              "written in quotes, as a plain string. It scores 0.")
    if letter not in set(letters):
        shown = letter if len(letter) <= 20 else letter[:20] + "..."
        return Verdict(False, f"{title}: {shown!r} is not one of the offered letters "
                              f"{valid}. It scores 0.")
    if letter == entry["answer"]:
        return Verdict(True, f"{title}: {letter} is correct.")
    return Verdict(False, f"{title}: {letter} is not the right answer.")


# ---------------------------------------------------------------- the preprocessor

_KEYS = {}  # expected file -> (declaration, key), read once per process (see GradeQuiz.__init__)


class GradeQuiz(NbGraderPreprocessor):
    """Grade a declared quiz's test cells from its answer cells, outside the kernel.

    The answer cells are parsed, not executed, so nothing the student's code did in the kernel
    (printing, redefining names, editing files) can change a verdict. The keys of every quiz in
    the course (``CourseDirectory.source_directory``) are read when nbgrader builds the
    preprocessor, before the notebook's kernel starts.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.quizzes = assignments.derived(assignments.source_folder(self.config), "quiz", _key)

    def preprocess(self, nb, resources):
        found = assignments.found(self.quizzes, resources)
        if found is None:
            return nb, resources
        questions, key = found
        by_test = {test: question for question in questions for test in question["tests"]}
        answers = answer_sources(nb)
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            question = by_test.get(meta.get("grade_id")) if meta.get("grade") else None
            if question is None:
                continue
            name, title = question["id"], question.get("title", question["id"])
            if name not in key:
                verdict = Verdict(False, f"{title} is not in the answer key; ask your instructor.")
                self.log.error("%s is not in the quiz key of %s", name, resources["nbgrader"]["notebook"])
            else:
                verdict = judge(name, answers.get(name), key[name], title)
            show_verdict(cell, verdict, ename="QuizAnswer")
        return nb, resources


# ---------------------------------------------------------------- the key: derived and stored

def derive(source: Path, data: dict) -> dict:
    """The key from the instructor notebook ``source``: for each declared question, the answer
    letter (from its solution cell), the level and the offered letters (from the question's
    markdown cell, the last one before the answer cell)."""
    ids = {question["id"] for question in declared(data)}
    cells = json.loads(Path(source).read_text(encoding="utf-8"))["cells"]
    key, question = {}, None
    for cell in cells:
        text = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            heading = HEADING.search(text)
            if heading:
                question = {"level": heading.group(2), "letters": "".join(OPTION.findall(text))}
            continue
        meta = cell.get("metadata", {}).get("nbgrader", {})
        name = meta.get("grade_id")
        if not (meta.get("solution") and name in ids):
            continue
        if question is None:
            raise ValueError(f"{name}: no question heading comes before its answer cell")
        status, letter = read_answer(text, name)
        if status != "letter" or letter not in set(question["letters"]):
            raise ValueError(f"{name}: the solution cell does not assign one of {question['letters']}")
        key[name] = {"answer": letter, "level": question["level"], "letters": question["letters"]}
        question = None
    missing = sorted(ids - set(key))
    if missing:
        raise ValueError(f"no solution cell for the declared questions {missing}")
    return key


def load(path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))["questions"]


def _key(graded) -> tuple:
    """``(questions, key)`` of a declared quiz, once per process."""
    path = str(graded.expected_path)
    if path not in _KEYS:
        _KEYS[path] = (declared(graded.data), load(path))
    return _KEYS[path]
