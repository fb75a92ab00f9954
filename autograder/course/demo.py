"""``make demo``: release the assignment, autograde the bundled example class, print the grades.

The demo is a course of its own, ``demo-course/`` (git-ignored): the course's configuration and
``source/`` are copied there and it is rebuilt from nothing on every run, so it can be run again
and again. It never reads or writes the live course (``submitted/``, ``autograded/``,
``feedback/``, ``exports/``, the gradebook, ``COURSE_DB_URL``'s database) at the repository root.
It ends with the feedback pages and the class dashboard (``demo-course/exports/dashboard.html``).
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from . import dashboard, feedback
from ..classrun import database, grade
from .submissions import hand_in

ROOT = Path(__file__).resolve().parents[2]
ASSIGNMENT = "reproducibility"
DEMO_DIR = "demo-course"
MARKER = ".autograder-demo"  # a folder without it is not rebuilt (it might be someone's course)


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


def copy_example_class(course: Path, example_class: Path) -> list:
    """Materialise the example class into ``course/submitted`` from the student version."""
    students = {k: v for k, v in json.loads(example_class.read_text()).items() if not k.startswith("_")}
    for student, spec in students.items():
        hand_in(course, student, example_answers(spec), ASSIGNMENT)
    return sorted(students)


def build(root: Path) -> Path:
    """A fresh demo course in ``root/demo-course``: the live configuration and ``source/``."""
    course = root / DEMO_DIR
    if course.exists():
        if not (course / MARKER).exists():
            raise SystemExit(f"{course} exists and was not made by the demo; move it away first")
        shutil.rmtree(course)
    course.mkdir()
    (course / MARKER).write_text("made by `python -m autograder demo`; rebuilt on every run\n")
    shutil.copy(root / "nbgrader_config.py", course)
    shutil.copytree(root / "source", course / "source")
    return course


def main(root: Path = ROOT) -> int:
    root = Path(root)
    os.environ.pop(database.ENV, None)  # the demo's gradebook is its own SQLite file
    course = build(root)
    nbgrader("generate_assignment", ASSIGNMENT, "--force", "--log-level=WARN", cwd=course)
    students = copy_example_class(course, root / "examples" / "example_class.json")
    print(f"Autograding {len(students)} example submissions in {course} ...", flush=True)
    status = grade.main([ASSIGNMENT, "--force", "--course", str(course)])
    pages = feedback.generate(course, ASSIGNMENT)
    page = dashboard.write(course, ASSIGNMENT)
    print(f"feedback: {len(pages)} page(s) under {course / 'feedback'}\ndashboard: {page}")
    return status
