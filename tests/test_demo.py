"""`make demo` (python -m autograder demo) on a temp copy of the course: each example student's story."""
import csv
import shutil

from autograder import demo
from support import step_scores

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


def test_demo_grades_the_example_class(course_template, tmp_path, capsys):
    course = shutil.copytree(course_template, tmp_path / "course")
    assert demo.main(course) == 0
    shown = capsys.readouterr().out
    assert all(student in shown for student in STORIES)
    scores = step_scores(course)
    assert sorted(scores) == sorted(STORIES)
    for student, kept in STORIES.items():
        earned = {n for n in (1, 2, 3, 4) if scores[student][f"test_step{n}"] > 0}
        assert earned == kept, student
    with open(course / "exports" / "grades.csv") as f:
        assert sorted(row["student_id"] for row in csv.DictReader(f)) == sorted(STORIES)
