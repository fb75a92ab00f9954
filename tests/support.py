"""Helpers for end-to-end tests: a throwaway course in a temp dir, driven by real nbgrader commands."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

from autograder.classrun.gradebook import cell_scores
from autograder.course import submissions
from autograder.course.submissions import fill  # noqa: F401 - re-exported for the tests

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = "reproducibility"
DECLARATION = ROOT / "source" / ASSIGNMENT / "reproducibility.grading.json"
EXPECTED = ROOT / "source" / ASSIGNMENT / "reproducibility.expected.json"  # derived: test_expected.py
QUIZ_KEY = ROOT / "source" / ASSIGNMENT / "quiz.expected.json"  # derived: test_quiz.py
BIN = Path(sys.executable).parent


def env(**extra) -> dict:
    """The environment for nbgrader commands: venv bin/ on PATH (alembic), Jupyter kept in the venv."""
    return dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
                JUPYTER_CONFIG_DIR=str(ROOT / ".venv" / "jupyter-test-config"), **extra)


def nbgrader(course: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``nbgrader ARGS`` in ``course``; output captured as text."""
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env(),
                          capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"nbgrader {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-5000:]}")
    return proc


def make_course(folder: Path) -> Path:
    """A course like the repo's (config + source/), with the assignment generated."""
    folder.mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", folder)
    shutil.copytree(ROOT / "source", folder / "source")
    nbgrader(folder, "generate_assignment", ASSIGNMENT, "--force")
    return folder


def run_every_notebook(course: Path) -> None:
    """Grade ``course`` with a kernel for every notebook: by default none starts for a notebook
    whose every grade cell is judged outside the kernel (both of this assignment's). For the
    suites that attack, flood or time the kernel."""
    with open(course / "nbgrader_config.py", "a", encoding="utf-8") as config:
        config.write('\nc.SandboxedExecute.run_every_notebook = True\n')


def submit(course: Path, student: str, nb, assignment: str = ASSIGNMENT,
           notebook: str = "reproducibility.ipynb") -> Path:
    """:func:`autograder.course.submissions.submit`, by default this suite's assignment's notebook."""
    return submissions.submit(course, student, nb, assignment, notebook)


def hand_in(course: Path, student: str, answers: dict, assignment: str = ASSIGNMENT) -> Path:
    """:func:`autograder.course.submissions.hand_in`, by default of this suite's assignment."""
    return submissions.hand_in(course, student, answers, assignment)


def release_notebook(course: Path, name: str = "reproducibility.ipynb") -> Path:
    return course / "release" / ASSIGNMENT / name


def step_scores(course: Path) -> dict:
    """{student: {grade_id: score}} from the course's gradebook."""
    table = cell_scores(f"sqlite:///{course / 'gradebook.db'}", ASSIGNMENT)
    return {student: {name: score for name, (score, _) in cells.items()} for student, cells in table.items()}


def execute_cells(cells, folder: Path, **config):
    """A notebook of ``cells`` run by the grader's sandboxed kernel (``SandboxedExecute(**config)``,
    15 s per cell unless ``timeout`` says otherwise) in ``folder``; its submission budget closed."""
    import nbformat
    from nbformat.v4 import new_code_cell

    from autograder.notebook.kernel import SandboxedExecute
    from autograder.notebook.sandbox import cgroup

    nb = nbformat.v4.new_notebook(cells=[new_code_cell(c) for c in cells])
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    preprocessor = SandboxedExecute(timeout=config.pop("timeout", 15), **config)
    try:
        nb, _ = preprocessor.preprocess(nb, {"metadata": {"path": str(folder)}})
    finally:
        cgroup.auto_budget_close()
    return nb


def hand_in_main(course: Path, student: str, answers: dict) -> None:
    """Submit the main notebook filled with ``answers`` and any other release notebook as released."""
    folder = submit(course, student, fill(release_notebook(course), answers)).parent
    for other in release_notebook(course).parent.glob("*.ipynb"):
        if other.name != release_notebook(course).name:
            shutil.copy(other, folder / other.name)
