"""``make demo``: release the assignment, autograde the bundled example class, print the grades.

The demo owns the course's grading state: it starts from an empty ``submitted/``,
``autograded/`` and gradebook, so it can be run again and again.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from . import grade
from .submissions import hand_in

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = "reproducibility"
EXAMPLE_CLASS = ROOT / "examples" / "example_class.json"


def nbgrader(*args: str, cwd: Path = ROOT) -> None:
    """Run a real nbgrader command in the course (the venv's bin/ first on PATH, for alembic)."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, env=env, check=True)


def example_answers(spec: dict) -> dict:
    """Answers by grade_id; ``"quiz": "AB-..."`` expands to ``q01 = "A"``, ... ("-" = unanswered)."""
    answers = {k: v for k, v in spec.items() if k != "quiz"}
    for number, letter in enumerate(spec.get("quiz", ""), start=1):
        if letter != "-":
            answers[f"q{number:02d}"] = f'q{number:02d} = "{letter}"'
    return answers


def copy_example_class(course: Path) -> list:
    """Materialise the example class into ``course/submitted`` from the student version."""
    students = {k: v for k, v in json.loads(EXAMPLE_CLASS.read_text()).items() if not k.startswith("_")}
    shutil.rmtree(course / "submitted", ignore_errors=True)
    for student, spec in students.items():
        hand_in(course, student, example_answers(spec), ASSIGNMENT)
    return sorted(students)


def reset(course: Path) -> None:
    """Forget earlier demo runs (nbgrader refuses to change an assignment that has submissions)."""
    for folder in ("submitted", "autograded", "feedback"):
        shutil.rmtree(course / folder, ignore_errors=True)
    (course / "gradebook.db").unlink(missing_ok=True)


def main(course: Path = ROOT) -> int:
    reset(course)
    nbgrader("generate_assignment", ASSIGNMENT, "--force", "--log-level=WARN", cwd=course)
    students = copy_example_class(course)
    print(f"Autograding {len(students)} example submissions ...", flush=True)
    return grade.main([ASSIGNMENT, "--force", "--course", str(course)])
