"""The course's assignments, as their declarations describe them: the one place the grader learns
which notebooks are graded, which test cells each holds and what to call them.

Every graded notebook ``source/<assignment>/<name>.ipynb`` has a declaration
``<name>.grading.json`` beside it, of one of two kinds (docs/assignments.md):

- steps: ``{"notebook", "task_seed", "secret_seeds", "steps": [...]}``: code cells re-run out of
  the kernel (:mod:`autograder.notebook.steps`);
- quiz: ``{"notebook", "questions": [{"id", "tests", "title"}, ...]}``: multiple-choice answer
  cells, parsed and never run (:mod:`autograder.notebook.quiz`).

and a derived file ``<name>.expected.json`` (``python -m autograder expected ASSIGNMENT``): the
reference outcomes of a steps notebook, the answer key of a quiz. Both stay grader-side
(``generate_assignment`` ignores them). Nothing in ``autograder/`` names an assignment, a
notebook, a cell or a point value: they come from here and from nbgrader's gradebook.
"""
import json
from dataclasses import dataclass
from pathlib import Path

DECLARATION = ".grading.json"
DERIVED = ".expected.json"


class DeclarationError(ValueError):
    """A declaration that cannot be used; the message names the file and the field."""

    def __init__(self, path, field: str, problem: str):
        self.path, self.field, self.problem = Path(path), field, problem
        super().__init__(f"{self.path}: {field}: {problem}")


@dataclass(frozen=True)
class Graded:
    """One graded notebook of an assignment, as declared."""

    assignment: str
    notebook: str  # the notebook's name without .ipynb
    path: Path     # its declaration
    data: dict     # the declaration's JSON

    @property
    def kind(self) -> str:
        return "quiz" if "questions" in self.data else "steps"

    @property
    def expected_path(self) -> Path:
        return self.path.with_name(self.notebook + DERIVED)

    @property
    def source_notebook(self) -> Path:
        return self.path.with_name(self.notebook + ".ipynb")

    @property
    def parts(self) -> list:
        """The declared steps or questions (each a dict with "id", "tests" and "title")."""
        return list(self.data["questions" if self.kind == "quiz" else "steps"])

    @property
    def tests(self) -> dict:
        """``{test cell grade_id: title}``, in declaration order."""
        return {test: part.get("title", part["id"]) for part in self.parts for test in part["tests"]}

    def column(self, grade_id: str) -> str:
        """The heading a test cell's points go under in a table: a step's id, or the quiz's
        notebook name (a quiz is one column)."""
        if self.kind == "quiz":
            return self.notebook
        return next(part["id"] for part in self.parts if grade_id in part["tests"])


def source_folder(config) -> Path:
    """The course's source/ folder as nbgrader's configuration ``config`` names it
    (``CourseDirectory.root`` and ``source_directory``)."""
    from nbgrader.coursedir import CourseDirectory
    coursedir = CourseDirectory(config=config)
    return Path(coursedir.root) / coursedir.source_directory


def names(source: Path) -> list:
    """The assignments under ``source`` (the course's source/ folder): folders holding at least
    one declaration."""
    source = Path(source)
    if not source.is_dir():
        return []
    return sorted(folder.name for folder in source.iterdir()
                  if folder.is_dir() and any(folder.glob("*" + DECLARATION)))


def declared(source: Path, assignment: str) -> list:
    """The graded notebooks of ``assignment`` (a :class:`Graded` each, by notebook name)."""
    found = []
    for path in sorted((Path(source) / assignment).glob("*" + DECLARATION)):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as error:
            raise DeclarationError(path, "(file)", f"not readable JSON: {error}") from None
        if type(data) is not dict:
            raise DeclarationError(path, "(file)", "must hold a JSON object")
        notebook = path.name[:-len(DECLARATION)]
        if data.get("notebook") != notebook + ".ipynb":
            raise DeclarationError(path, "notebook", f"must be {notebook + '.ipynb'!r}, the notebook "
                                                     "the file is named for")
        found.append(Graded(assignment, notebook, path, data))
    return found


def titles(source: Path, assignment: str) -> dict:
    """``{test cell grade_id: title}`` over every graded notebook of ``assignment``."""
    return {test: title for graded in declared(source, assignment) for test, title in graded.tests.items()}


def columns(source: Path, assignment: str) -> dict:
    """``{test cell grade_id: column heading}`` over every graded notebook of ``assignment``."""
    return {test: graded.column(test) for graded in declared(source, assignment) for test in graded.tests}


def derived(source: Path, kind: str, read) -> dict:
    """``{(assignment, notebook): read(graded)}`` for every graded notebook of ``kind`` in the
    course, read now (a grader reads its data before any student's kernel starts). A notebook
    whose data cannot be read maps to the error instead: :func:`found` raises it when that
    notebook is graded, so it costs that notebook only."""
    table = {}
    for assignment in names(source):
        try:
            declared_here = declared(source, assignment)
        except DeclarationError as error:
            table[assignment, None] = error
            continue
        for graded in declared_here:
            if graded.kind == kind:
                try:
                    table[assignment, graded.notebook] = read(graded)
                except (OSError, ValueError, KeyError) as error:
                    table[assignment, graded.notebook] = DeclarationError(
                        graded.expected_path, "(derived)", f"cannot be read ({error}): run "
                        f"`python -m autograder expected {assignment}`")
    return table


def found(table: dict, resources: dict):
    """The entry of :func:`derived`'s ``table`` for the notebook nbgrader's ``resources`` name
    (None if it is not declared); a recorded error is raised."""
    info = resources.get("nbgrader", {})
    for key in ((info.get("assignment"), info.get("notebook")), (info.get("assignment"), None)):
        if isinstance(table.get(key), Exception):
            raise table[key]
    return table.get((info.get("assignment"), info.get("notebook")))
