"""``make demo``: release every assignment, autograde each one's example class, print the grades.

The demo is a course of its own, ``demo-course/`` (git-ignored): the course's configuration and
``source/`` are copied there and it is rebuilt from nothing on every run, so it can be run again
and again. It never reads or writes the live course (``submitted/``, ``autograded/``,
``feedback/``, ``exports/``, the gradebook, ``COURSE_DB_URL``'s database) at the repository root.

Every assignment of ``source/`` (:func:`autograder.notebook.assignments.names`) is released; each one with
an example class, ``examples/<assignment>/class.json`` (``{student: {grade_id: cell source}}``,
data, not code), is handed in and graded, its table printed. Each assignment's grades CSV, report,
log and dashboard go to ``demo-course/exports/<assignment>/``, its feedback pages to
``demo-course/feedback/<student>/<assignment>/``.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from . import dashboard, feedback
from ..notebook import assignments
from ..classrun import database, grade
from .submissions import hand_in

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = "examples"  # examples/<assignment>/class.json: that assignment's example class
CLASS_FILE = "class.json"
DEMO_DIR = "demo-course"
MARKER = ".autograder-demo"  # a folder without it is not rebuilt (it might be someone's course)


def nbgrader(*args: str, cwd: Path = ROOT) -> None:
    """Run a real nbgrader command in the course (the venv's bin/ first on PATH, for alembic)."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, env=env, check=True)


def release_all(root: Path = ROOT) -> list:
    """``nbgrader generate_assignment --force`` for every assignment of ``root/source``, into
    ``root/release``; returns their names (``python -m autograder release``)."""
    root = Path(root)
    names = assignments.names(root / "source")
    if not names:
        raise SystemExit(f"no assignment to release: no source/<assignment>/*{assignments.DECLARATION} "
                         f"under {root}")
    for assignment in names:
        nbgrader("generate_assignment", assignment, "--force", "--log-level=WARN", cwd=root)
    return names


def example_class(root: Path, assignment: str) -> dict:
    """``{student: {grade_id: cell source}}`` from ``root/examples/<assignment>/class.json``
    ({} when the assignment has none); keys starting with "_" are notes, not students."""
    path = Path(root) / EXAMPLES / assignment / CLASS_FILE
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    students = {k: v for k, v in data.items() if not k.startswith("_")}
    for student, answers in students.items():
        if type(answers) is not dict or not all(type(v) is str for v in answers.values()):
            raise SystemExit(f"{path}: {student!r} must map grade_ids to cell sources (text)")
    return students


def copy_example_class(course: Path, assignment: str, students: dict) -> list:
    """Hand in each example student's answers to ``assignment``, filled into its released notebooks."""
    for student, answers in students.items():
        hand_in(course, student, answers, assignment)
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
    names = release_all(course)
    status = 0
    for assignment in names:
        students = example_class(root, assignment)
        if not students:
            print(f"\n{assignment}: released; no example class ({EXAMPLES}/{assignment}/{CLASS_FILE}) to grade")
            continue
        copy_example_class(course, assignment, students)
        print(f"\n{assignment}: Autograding {len(students)} example submissions in {course} ...", flush=True)
        graded = grade.main([assignment, "--force", "--course", str(course)])
        pages = feedback.generate(course, assignment)
        page = dashboard.write(course, assignment)
        print(f"feedback: {len(pages)} page(s) under {course / 'feedback'}\ndashboard: {page}")
        status = status or graded
    return status


def cli(args) -> int:
    """``python -m autograder demo``."""
    return main()


def cli_release(args) -> int:
    """``python -m autograder release``: every assignment of the live course."""
    release_all()
    return 0
