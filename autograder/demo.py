"""``make demo``: release the assignment, autograde the bundled example class, print the grades."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from .gradebook import cell_scores, format_table
from .submissions import fill, submit

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = "reproducibility"
EXAMPLE_CLASS = ROOT / "examples" / "example_class.json"


def nbgrader(*args: str, cwd: Path = ROOT) -> None:
    """Run a real nbgrader command in the course (the venv's bin/ first on PATH, for alembic)."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, env=env, check=True)


def copy_example_class(course: Path) -> list:
    """Materialise the example class into ``course/submitted`` from the student version."""
    students = {k: v for k, v in json.loads(EXAMPLE_CLASS.read_text()).items() if not k.startswith("_")}
    shutil.rmtree(course / "submitted", ignore_errors=True)
    release = course / "release" / ASSIGNMENT / "reproducibility.ipynb"
    for student, answers in students.items():
        submit(course, student, fill(release, answers))
    return sorted(students)


def main(course: Path = ROOT) -> int:
    nbgrader("generate_assignment", ASSIGNMENT, "--force", "--log-level=WARN", cwd=course)
    students = copy_example_class(course)
    print(f"Autograding {len(students)} example submissions ...", flush=True)
    nbgrader("autograde", ASSIGNMENT, "--force", "--log-level=ERROR", cwd=course)
    exports = course / "exports"
    exports.mkdir(exist_ok=True)
    nbgrader("export", "--to", str(exports / "grades.csv"), "--log-level=WARN", cwd=course)
    print(format_table(cell_scores(f"sqlite:///{course / 'gradebook.db'}", ASSIGNMENT)))
    print(f"grades CSV: {(exports / 'grades.csv').relative_to(course)}")
    return 0
