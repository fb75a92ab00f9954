"""The graded quiz (quiz.ipynb): answer key, answer reading, and the ``GradeQuiz`` preprocessor.

Each test question has an answer cell ``qNN`` (the student assigns a letter as a string) and a
test cell ``test_qNN``. ``GradeQuiz`` reads the answer cells' *source* from the notebook being
graded, parses it with :mod:`ast` (never runs it), and sets each ``test_qNN`` cell's outputs to
the verdict, whatever the kernel printed there. The key lives only here, grader-side, in
``quiz_key.json``; no verdict message names a correct letter.

The key is data derived from the instructor notebook: ``python -m autograder.notebook.quiz`` re-derives
``quiz_key.json`` from the solution cells and question headings of
``source/reproducibility/quiz.ipynb``; ``--check`` exits 1 if the stored key differs.
"""
import argparse
import ast
import json
import re
import sys
from pathlib import Path

from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Unicode

from .preprocessors import answer_sources, grade_cells_matching, show_verdict
from .steps import Verdict

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "source" / "reproducibility" / "quiz.ipynb"
STORE = Path(__file__).with_name("quiz_key.json")

ANSWER_ID = re.compile(r"^q(\d{2})$")
TEST_ID = re.compile(r"^test_(q\d{2})$")
HEADING = re.compile(r"^### Question (\d+) — \*(easy|medium|hard)\*$", re.M)
OPTION = re.compile(r"^- \*\*([A-Z])\.\*\* ", re.M)


# ---------------------------------------------------------------- reading an answer cell

def read_answer(source, name: str) -> tuple:
    """``(status, letter)`` for the answer cell ``source`` of question ``name`` (e.g. ``"q01"``).

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


def judge(name: str, source, entry: dict) -> Verdict:
    """The verdict on question ``name`` given its answer cell ``source`` and its key ``entry``.

    Messages never name the correct letter: only the student's own answer and the valid letters.
    """
    number = int(name[1:])
    letters = entry["letters"]
    valid = ", ".join(letters)
    status, letter = read_answer(source, name)
    if status == "missing":
        return Verdict(False, f"Question {number}: the answer cell {name} is missing from the notebook.")
    if status == "blank":
        return Verdict(False, f"Question {number} was not answered: assign one of the letters "
                              f"{valid} to {name}, as a string. It scores 0.")
    if status == "syntax":
        return Verdict(False, f"Question {number}: the answer cell has a syntax error on line "
                              f"{letter}, so no answer could be read. It scores 0.")
    if status == "not_string":
        return Verdict(False, f"Question {number}: {name} must be one of the letters {valid} "
                              "written in quotes, as a plain string. It scores 0.")
    if letter not in set(letters):
        shown = letter if len(letter) <= 20 else letter[:20] + "..."
        return Verdict(False, f"Question {number}: {shown!r} is not one of the offered letters "
                              f"{valid}. It scores 0.")
    if letter == entry["answer"]:
        return Verdict(True, f"Question {number}: {letter} is correct.")
    return Verdict(False, f"Question {number}: {letter} is not the right answer.")


# ---------------------------------------------------------------- the preprocessor

_KEYS = {}  # key_file -> key, read once per process (see GradeQuiz.__init__)


class GradeQuiz(NbGraderPreprocessor):
    """Grade the quiz's ``test_qNN`` cells from the ``qNN`` answer cells, outside the kernel.

    The answer cells are parsed, not executed, so nothing the student's code did in the kernel
    (printing, redefining names, editing files) can change a verdict.
    """

    key_file = Unicode(str(STORE), help="The answer key (JSON, see autograder/notebook/quiz.py).").tag(config=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # nbgrader builds the preprocessors for a notebook before its kernel starts: read the key
        # now, once per process, so no student's kernel can edit it before it is used.
        if self.key_file not in _KEYS:
            _KEYS[self.key_file] = load(self.key_file)
        self.key = _KEYS[self.key_file]

    def preprocess(self, nb, resources):
        targets = grade_cells_matching(nb, TEST_ID)
        if not targets:
            return nb, resources
        answers = answer_sources(nb)
        for cell, name in targets:
            if name not in self.key:
                verdict = Verdict(False, f"{name} is not in the answer key; ask your instructor.")
                self.log.error("%s is not in the quiz key %s", name, self.key_file)
            else:
                verdict = judge(name, answers.get(name), self.key[name])
            show_verdict(cell, verdict, ename="QuizAnswer")
        return nb, resources


# ---------------------------------------------------------------- the key: derived and stored

def derive(source: Path = SOURCE) -> dict:
    """The key from the instructor notebook: answer letter (from the solution cell), level and
    offered letters (from the question's markdown cell) per ``qNN``."""
    cells = json.loads(Path(source).read_text(encoding="utf-8"))["cells"]
    key, question = {}, None
    for cell in cells:
        text = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            heading = HEADING.search(text)
            question = None
            if heading:
                question = {"number": int(heading.group(1)), "level": heading.group(2),
                            "letters": "".join(OPTION.findall(text))}
            continue
        meta = cell.get("metadata", {}).get("nbgrader", {})
        match = ANSWER_ID.match(meta.get("grade_id", ""))
        if not (meta.get("solution") and match):
            continue
        name = match.group(0)
        if question is None or question["number"] != int(match.group(1)):
            raise ValueError(f"{name}: the cell before it is not the heading of question {int(match.group(1))}")
        status, letter = read_answer(text, name)
        if status != "letter" or letter not in set(question["letters"]):
            raise ValueError(f"{name}: the solution cell does not assign one of {question['letters']}")
        key[name] = {"answer": letter, "level": question["level"], "letters": question["letters"]}
    return key


def load(path=STORE) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))["questions"]


def dumps(key: dict) -> str:
    return json.dumps({"_about": "Quiz answer key, grader-side only. Derived from "
                                 "source/reproducibility/quiz.ipynb by python -m autograder.notebook.quiz.",
                       "questions": key}, indent=2, sort_keys=True) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.notebook.quiz", description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    text = dumps(derive())
    if args.check:
        same = STORE.exists() and STORE.read_text(encoding="utf-8") == text
        print("quiz_key.json is up to date" if same else "quiz_key.json differs from the source notebook")
        return 0 if same else 1
    STORE.write_text(text, encoding="utf-8")
    print(f"wrote {STORE.relative_to(ROOT)}: {len(json.loads(text)['questions'])} questions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
