"""`make demo` (python -m autograder demo) on a temp copy of the repository that is also a live course.

The demo builds and grades its own course, ``demo-course/``; the live course at the root (its
gradebook, named by ``COURSE_DB_URL`` too, submissions, autograded copies, feedback and exports)
is byte for byte the same afterwards, and no file appears or disappears there.
"""
import contextlib
import csv
import hashlib
import io
import shutil

import pytest

from autograder.course import demo
from support import ASSIGNMENT, ROOT, hand_in, nbgrader, step_scores

# example student -> the steps whose points they keep (what each submission is there to show)
STORIES = {
    "ada": {1, 2, 3, 4},
    "ben_forgot_seed": {1, 3, 4},
    "cleo_wrong_seed": {1, 3, 4},
    "dev_hard_coded": {1, 2},
    "eve_off_by_one": {1, 2, 4},
    "finn_blank": set(),
    "gus_comprehension": {1, 2, 3, 4},
}


def snapshot(root):
    """{path: sha256} of every file under ``root`` outside the demo's own folder."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))
            if p.is_file() and p.relative_to(root).parts[0] != demo.DEMO_DIR}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("repo")
    shutil.copy(ROOT / "nbgrader_config.py", root)
    for folder in ("source", "examples"):
        shutil.copytree(ROOT / folder, root / folder)
    # The live course: a gradebook with the assignment, a submission, an autograded copy, feedback.
    nbgrader(root, "generate_assignment", ASSIGNMENT, "--force")
    hand_in(root, "live_student", {"step1": "accuracy_scores = []"})
    shutil.copytree(root / "submitted", root / "autograded")
    (root / "feedback" / "live_student" / ASSIGNMENT).mkdir(parents=True)
    (root / "feedback" / "live_student" / ASSIGNMENT / "reproducibility.html").write_text("<p>live</p>")
    (root / "exports").mkdir()
    (root / "exports" / "grades.csv").write_text("student_id,score\nlive_student,1\n")
    before = snapshot(root)
    shown = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(shown):
        # the live course's gradebook named the way a real deployment names it
        mp.setenv("COURSE_DB_URL", f"sqlite:///{root / 'gradebook.db'}")
        mp.chdir(root)
        status = demo.main(root)
    return {"root": root, "before": before, "status": status, "course": root / demo.DEMO_DIR,
            "shown": shown.getvalue()}


@pytest.mark.slow
def test_demo_grades_the_example_class(run):
    assert run["status"] == 0
    course = run["course"]
    scores = step_scores(course)
    assert sorted(scores) == sorted(STORIES)
    for student, kept in STORIES.items():
        earned = {n for n in (1, 2, 3, 4) if scores[student][f"test_step{n}"] > 0}
        assert earned == kept, student
    with open(course / "exports" / ASSIGNMENT / "grades.csv") as f:
        rows = list(csv.DictReader(f))
    assert sorted(row["student_id"] for row in rows if row["status"] == "graded") == sorted(STORIES)
    others = [row for row in rows if row["student_id"] not in STORIES]  # the other assignment's class
    assert others and all(row["status"] == "no submission" and row["assignment"] == ASSIGNMENT for row in others)


@pytest.mark.slow
def test_demo_prints_the_grades_table(run):
    table = run["shown"].split(f"{ASSIGNMENT}: Autograding", 1)[1]
    header = next(line for line in table.splitlines() if line.startswith("student"))
    assert header.split()[-2:] == ["total", "status"]
    for student in STORIES:
        assert any(line.startswith(student + " ") for line in table.splitlines()), student
    assert "dashboard: " + str(run["course"] / "exports" / ASSIGNMENT / "dashboard.html") in table


@pytest.mark.slow
def test_live_course_is_byte_identical(run):
    assert snapshot(run["root"]) == run["before"]


@pytest.mark.slow
def test_demo_writes_feedback_and_dashboard(run):
    course = run["course"]
    for student in STORIES:
        folder = course / "feedback" / student / ASSIGNMENT
        assert (folder / "reproducibility.html").is_file(), student
        assert (folder / "timestamp.txt").is_file() and (folder / "submission_secret.txt").is_file()
    page = (course / "exports" / ASSIGNMENT / "dashboard.html").read_text()
    assert all(student in page for student in STORIES)


def test_demo_refuses_to_replace_a_folder_it_did_not_make(tmp_path):
    (tmp_path / demo.DEMO_DIR).mkdir()
    (tmp_path / demo.DEMO_DIR / "gradebook.db").write_bytes(b"someone's")
    with pytest.raises(SystemExit):
        demo.build(tmp_path)
    assert (tmp_path / demo.DEMO_DIR / "gradebook.db").read_bytes() == b"someone's"
